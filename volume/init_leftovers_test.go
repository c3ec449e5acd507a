//go:build linux

package volume

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
)

// killedAt runs a start with the crash hook at point n: the start kills itself with SIGKILL there. It
// fails the test if the start was not killed.
func killedAt(t *testing.T, s starter, env []string, n int) initResult {
	t.Helper()
	res := s.run(t, append(append([]string{}, env...), fmt.Sprintf("%s=%d", TestCrashEnv, n)), true)
	if !res.killed {
		t.Fatalf("the start was not killed at crash point %d (exit %d):\n%s", n, res.code, res.out)
	}
	return res
}

// TestInitLeavesLiveWorkFoldersAlone: a work folder whose lock is held belongs to a start that is still
// running; no other start removes it, however old, until that lock is free. Folders that cannot be
// told live or dead are left alone for 24 hours, and removed after.
func TestInitLeavesLiveWorkFoldersAlone(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	fx := newInitFixture(t)
	now, old := time.Now(), time.Now().Add(-25*time.Hour)
	live := []string{".binder-projects-tmp.LiveNw", ".binder-projects-tmp.LiveOd"}
	workFolder(t, fx, live[0], true, now)
	workFolder(t, fx, live[1], true, old) // a lock held is a live start, however old the folder
	release := []func(){holdLock(t, fx.path(live[0], ".lock")), holdLock(t, fx.path(live[1], ".lock"))}
	young := []string{".binder-projects-tmp.NoLock", ".binder-projects-new.Young1", ".binder-projects-tmp-unlocked.Young1", ".binder-projects-trash.Young1"}
	aged := []string{".binder-projects-tmp.OldNoLk", ".binder-projects-new.Old123", ".binder-projects-tmp-unlocked.Old123", ".binder-projects-trash.Old123"}
	for i := range young {
		workFolder(t, fx, young[i], strings.HasPrefix(young[i], ".binder-projects-new."), now)
		workFolder(t, fx, aged[i], strings.HasPrefix(aged[i], ".binder-projects-new."), old)
	}
	workFolder(t, fx, ".binder-projects-tmp.Dead12", true, now)
	// A lock file that is a named pipe or a link: never opened to block, never followed; the folder
	// cannot be told, so it waits for its day.
	workFolder(t, fx, ".binder-projects-tmp.PipeLk", false, now)
	mkfifo(t, fx.path(".binder-projects-tmp.PipeLk", ".lock"))
	workFolder(t, fx, ".binder-projects-tmp.LinkLk", false, now)
	makeTestLink(t, fx.path(live[0], ".lock"), fx.path(".binder-projects-tmp.LinkLk", ".lock"))
	setMtime(t, fx.path(".binder-projects-tmp.PipeLk"), now)
	setMtime(t, fx.path(".binder-projects-tmp.LinkLk"), now)
	chownTree(t, fx.root, userUID, userGID)
	before := snapshotTree(t, fx.base)

	res := start.run(t, fx.env(initProject, ""), true)
	t.Logf("output:\n%s", res.out)
	if res.code != 0 {
		t.Fatalf("exit status %d", res.code)
	}
	fx.checkLog(t, res,
		"binder-projects: leaving .binder-projects-tmp.LiveNw: a start that is still running holds its lock",
		"binder-projects: leaving .binder-projects-tmp.LiveOd: a start that is still running holds its lock",
		"binder-projects: leaving .binder-projects-tmp.NoLock: it may belong to a start that is still running; it is removed once it is 24 hours old",
		"binder-projects: leaving .binder-projects-tmp.PipeLk: it may belong to a start that is still running",
		"binder-projects: leaving .binder-projects-tmp.LinkLk: it may belong to a start that is still running",
		"binder-projects: removed .binder-projects-tmp.Dead12, left by an earlier interrupted run",
		"binder-projects: removed .binder-projects-trash.Old123, left by an earlier interrupted run")
	checkReport(t, res, readTestFile(t, fx.report), seededReport())
	assertCopyOfHome(t, fx, initProject)
	for _, name := range append(append([]string{".binder-projects-tmp.PipeLk", ".binder-projects-tmp.LinkLk"}, live...), young...) {
		assertSubtreeUnchanged(t, fx, before, name)
	}
	for _, name := range append([]string{".binder-projects-tmp.Dead12"}, aged...) {
		assertAbsent(t, fx.path(name))
	}

	// The starts that held the locks end: their folders are dead now, and the next start removes them.
	for _, r := range release {
		r()
	}
	fx.resetReport(t)
	res = start.run(t, fx.env(initProject, ""), true)
	t.Logf("output:\n%s", res.out)
	fx.checkLog(t, res, "binder-projects: removed .binder-projects-tmp.LiveNw, left by an earlier interrupted run",
		"binder-projects: removed .binder-projects-tmp.LiveOd, left by an earlier interrupted run")
	checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
	assertAbsent(t, fx.path(live[0]), fx.path(live[1]))
	for _, name := range young {
		assertPresent(t, fx.path(name))
	}
	// A day later, the rest goes too.
	for _, name := range append([]string{".binder-projects-tmp.PipeLk", ".binder-projects-tmp.LinkLk"}, young...) {
		setMtime(t, fx.path(name), old)
	}
	if res = start.run(t, fx.env(initProject, ""), true); res.code != 0 {
		t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
	}
	fx.checkCommon(t, before)
}

// TestInitWhereFlockFails: on a volume where flock(2) fails, a start works in an unlocked work folder
// (named with its pod: the pod rule), and takes no work folder for dead until it is 24 hours old, or
// carries its own pod's name; beside it, a start where flock works tells the dead locked folders and
// leaves the unlocked one for its day.
func TestInitWhereFlockFails(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	withFlock := goInit(t)
	noFlock := withFlock.brokenFlock()
	t.Run("a start where flock fails seeds the project completely through an unlocked work folder named with its pod", func(t *testing.T) {
		fx := newInitFixture(t)
		res := killedAt(t, noFlock, fx.env(initProject, "", podEnv("jupyter-a")), 5)
		t.Logf("killed:\n%s", res.out)
		left := reservedLeftovers(t, fx.root)
		if len(left) != 1 || !regexp.MustCompile(`/\.binder-projects-tmp-unlocked\.jupyter-a\.[A-Za-z0-9]{6}$`).MatchString(left[0]) {
			t.Fatalf("the killed start left %v, want one unlocked work folder with its pod's name and six letters", left)
		}
		fx.checkLog(t, res, "binder-projects: flock does not work on this volume")
		res = noFlock.run(t, fx.env(initProject, "", podEnv("jupyter-a")), true)
		t.Logf("output:\n%s", res.out)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		fx.checkLog(t, res, "binder-projects: removed "+filepath.Base(left[0])+", left by an earlier start of this pod, which has ended",
			"project "+initProject+" is ready")
		checkReport(t, res, readTestFile(t, fx.report), seededReport())
		assertCopyOfHome(t, fx, initProject)
		if left := reservedLeftovers(t, fx.root); len(left) > 0 {
			t.Errorf("leftovers: %v", left)
		}
	})
	t.Run("where flock fails, no work folder is taken for dead until it is 24 hours old; where it works, an unlocked one neither", func(t *testing.T) {
		fx := newInitFixture(t)
		now, old := time.Now(), time.Now().Add(-25*time.Hour)
		workFolder(t, fx, ".binder-projects-tmp-unlocked.Young1", false, now) // a start without flock, running or killed
		workFolder(t, fx, ".binder-projects-tmp-unlocked.Old123", false, old)
		workFolder(t, fx, ".binder-projects-tmp.LiveNw", true, now) // a start with flock, running
		holdLock(t, fx.path(".binder-projects-tmp.LiveNw", ".lock"))
		workFolder(t, fx, ".binder-projects-tmp.Dead12", true, now) // a start with flock, killed: cannot be told without flock
		workFolder(t, fx, ".binder-projects-tmp.Dead99", true, old)
		chownTree(t, fx.root, userUID, userGID)
		before := snapshotTree(t, fx.base)
		res := noFlock.run(t, fx.env(initProject, ""), true)
		t.Logf("output:\n%s", res.out)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		fx.checkLog(t, res, "leaving .binder-projects-tmp-unlocked.Young1: it may belong to a start that is still running",
			"leaving .binder-projects-tmp.LiveNw: it may belong to a start that is still running",
			"leaving .binder-projects-tmp.Dead12: it may belong to a start that is still running",
			"removed .binder-projects-tmp-unlocked.Old123, left by an earlier interrupted run",
			"removed .binder-projects-tmp.Dead99, left by an earlier interrupted run")
		checkReport(t, res, readTestFile(t, fx.report), seededReport())
		assertCopyOfHome(t, fx, initProject)
		for _, name := range []string{".binder-projects-tmp-unlocked.Young1", ".binder-projects-tmp.LiveNw", ".binder-projects-tmp.Dead12"} {
			assertSubtreeUnchanged(t, fx, before, name)
		}
		assertAbsent(t, fx.path(".binder-projects-tmp-unlocked.Old123"), fx.path(".binder-projects-tmp.Dead99"))

		res = withFlock.run(t, fx.env(initProject, ""), true)
		t.Logf("output:\n%s", res.out)
		fx.checkLog(t, res, "leaving .binder-projects-tmp-unlocked.Young1: it may belong to a start that is still running",
			"leaving .binder-projects-tmp.LiveNw: a start that is still running holds its lock",
			"removed .binder-projects-tmp.Dead12, left by an earlier interrupted run")
		assertSubtreeUnchanged(t, fx, before, ".binder-projects-tmp-unlocked.Young1")
		assertAbsent(t, fx.path(".binder-projects-tmp.Dead12"))
	})
}

// TestInitPodRule: a start killed where flock does not work leaves its unlocked work folder, which
// carries its pod's name. The next start of the same pod (Go or init.sh) removes it at once; a start
// of another pod leaves it alone until it is 24 hours old. Only an exact pod part counts; a bad pod
// name is ignored with a warning and removes nothing.
func TestInitPodRule(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	noFlock := start.brokenFlock()
	script := scriptInit(t, "dash", "").withoutFlock(t)
	const podA, podB = "jupyter-user-a--server-1", "jupyter-user-b"
	for _, killer := range []starter{noFlock, script} {
		t.Run("a killed start's work folder ("+killer.name+") is removed at once by the next Go start of its pod, and left by another pod's for a day", func(t *testing.T) {
			fx := newInitFixture(t)
			var work string
			if killer.name == noFlock.name {
				killedAt(t, killer, fx.env(initProject, "", podEnv(podA)), 5)
			} else {
				killScriptMidCopy(t, killer, fx, fx.env(initProject, "", podEnv(podA)))
			}
			left := reservedLeftovers(t, fx.root)
			if len(left) != 1 || !regexp.MustCompile(`^\.binder-projects-tmp-unlocked\.`+regexp.QuoteMeta(podA)+`\.[A-Za-z0-9]{6}$`).MatchString(filepath.Base(left[0])) {
				t.Fatalf("after the kill: %v, want one work folder with the pod's name", left)
			}
			work = left[0]
			name := filepath.Base(work)
			other := unlockedPrefix + "jupyter-user-c.Ab12Cd"
			workFolder(t, fx, other, false, time.Now())
			chownTree(t, fx.root, userUID, userGID)
			before := snapshotTree(t, fx.base)
			run := func(pod string) initResult {
				t.Helper()
				fx.resetReport(t)
				res := start.run(t, fx.env(initProject, "", podEnv(pod)), true)
				t.Logf("start of pod %s:\n%s", pod, res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				return res
			}
			res := run(podB)
			fx.checkLog(t, res, "binder-projects: leaving "+name+": it may belong to a start that is still running",
				"binder-projects: leaving "+other+": it may belong to a start that is still running", "project "+initProject+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			assertCopyOfHome(t, fx, initProject)
			assertSubtreeUnchanged(t, fx, before, name)
			assertSubtreeUnchanged(t, fx, before, other)

			res = run(podA)
			fx.checkLog(t, res, "binder-projects: removed "+name+", left by an earlier start of this pod, which has ended",
				"binder-projects: leaving "+other+": it may belong to a start that is still running")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
			assertAbsent(t, work)
			assertSubtreeUnchanged(t, fx, before, other)

			setMtime(t, fx.path(other), time.Now().Add(-25*time.Hour))
			res = run(podB)
			fx.checkLog(t, res, "binder-projects: removed "+other+", left by an earlier interrupted run")
			fx.checkCommon(t, before)
		})
	}
	t.Run("the Go start's unlocked work folder, left killed, is removed at once by init.sh's next start of the pod", func(t *testing.T) {
		fx := newInitFixture(t)
		killedAt(t, noFlock, fx.env(initProject, "", podEnv(podA)), 5)
		left := reservedLeftovers(t, fx.root)
		if len(left) != 1 {
			t.Fatalf("after the kill: %v", left)
		}
		res := script.run(t, fx.env(initProject, "", podEnv(podA)), true)
		t.Logf("output:\n%s", res.out)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		fx.checkLog(t, res, "binder-projects: removed "+filepath.Base(left[0])+", left by an earlier start of this pod, which has ended")
		assertCopyOfHome(t, fx, initProject)
		if left := reservedLeftovers(t, fx.root); len(left) > 0 {
			t.Errorf("leftovers: %v", left)
		}
	})
	for _, s := range []starter{start, noFlock} {
		t.Run(s.name+": only a folder whose pod part is exactly this pod's name is removed at once", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			const pod = "jupyter-a"
			mine := []string{unlockedPrefix + pod + ".Ab12Cd", unlockedPrefix + pod + ".12345_7", newPrefix + pod + ".Ab12Cd"}
			others := []string{
				unlockedPrefix + "jupyter-a.x.Ab12Cd", // pod jupyter-a.x
				unlockedPrefix + "x.jupyter-a.Ab12Cd", // pod x.jupyter-a
				unlockedPrefix + "jupyter.Ab12Cd",     // pod jupyter
				unlockedPrefix + "jupyter-ab.Ab12Cd",  // pod jupyter-ab
				unlockedPrefix + "jupyter-a",          // no pod: suffix jupyter-a
				unlockedPrefix + "Ab12Cd",             // no pod
				unlockedPrefix + "12345.7",            // an older version's name without mktemp: pod 12345
				".binder-projects-tmp." + pod + ".Ab12Cd",
				".binder-projects-new." + pod + "x.Ab12Cd",
				".binder-projects-trash." + pod + ".Ab12Cd",
			}
			for _, name := range append(append([]string{}, mine...), others...) {
				workFolder(t, fx, name, false, time.Now())
			}
			makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(unlockedPrefix+pod+".Zz99Yy"))
			chownTree(t, fx.root, userUID, userGID)
			before := snapshotTree(t, fx.base)
			res := s.run(t, fx.env(initProject, "", podEnv(pod)), true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			var want []string
			for _, name := range mine {
				want = append(want, "binder-projects: removed "+name+", left by an earlier start of this pod, which has ended")
			}
			for _, name := range others {
				want = append(want, "binder-projects: leaving "+name+": it may belong to a start that is still running")
			}
			want = append(want, "binder-projects: removed "+unlockedPrefix+pod+".Zz99Yy, which is a symbolic link, not a folder")
			fx.checkLog(t, res, want...)
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			for _, name := range mine {
				assertAbsent(t, fx.path(name))
			}
			for _, name := range others {
				assertSubtreeUnchanged(t, fx, before, name)
			}
			assertOutsideUnchanged(t, fx, before)
			assertCopyOfHome(t, fx, initProject)
		})
	}
	bad := []struct{ name, pod string }{
		{"capitals", "Jupyter-A"},
		{"a leading dot", ".jupyter-a"},
		{"a slash", "jupyter/a"},
		{"an underscore", "jupyter_a"},
		{"a space", "jupyter a"},
		{"a line break", "jupyter-a\nwarning=x"},
		{"a pattern", "jupyter-*"},
		{"254 characters", strings.Repeat("a", 254)},
	}
	for _, tc := range bad {
		t.Run("a pod name with "+tc.name+" is ignored with a warning, and no folder is removed by it", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			name := unlockedPrefix + "jupyter-a.Ab12Cd"
			workFolder(t, fx, name, false, time.Now())
			before := snapshotTree(t, fx.base)
			res := start.run(t, fx.env(initProject, "", podEnv(tc.pod)), true)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectSeeded,
				warnings: []string{"BINDER_PROJECTS_POD is ignored: it is not a pod's name"}})
			assertSubtreeUnchanged(t, fx, before, name)
			assertCopyOfHome(t, fx, initProject)
		})
	}
	t.Run("a pod name too long to fit in a folder name is not used, without a warning; an empty one neither", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("a", 201)
		fx := newInitFixture(t)
		name := unlockedPrefix + long + ".Ab12Cd"
		workFolder(t, fx, name, false, time.Now())
		before := snapshotTree(t, fx.base)
		for _, pod := range []string{long, ""} {
			fx.resetReport(t)
			res := noFlock.run(t, fx.env("gh_"+fmt.Sprint(len(pod)), "", podEnv(pod)), true)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			assertSubtreeUnchanged(t, fx, before, name)
		}
	})
}
