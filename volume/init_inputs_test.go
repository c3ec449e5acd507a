//go:build linux

package volume

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
)

// TestInitRefusesBadInputs: a missing or hostile input fails the start with exit status 2 and a clear
// message on one line, and changes nothing at all (not even the leftovers of earlier starts are
// cleaned).
func TestInitRefusesBadInputs(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	type badCase struct {
		name string
		env  func(fx *initFixture) []string
		log  string
	}
	hostile := func(fx *initFixture) map[string]string {
		return map[string]string{
			"..":                     "..",
			".":                      ".",
			"a hidden name":          ".hidden",
			"a path":                 "a/b",
			"a parent path":          "../x",
			"an absolute path":       fx.outside,
			"a command substitution": "$(touch${IFS}/tmp/pwned)",
			"a glob":                 "*",
			"a tilde":                "~root",
			"a non-ASCII letter":     "projekt-ä",
			"a carriage return":      "gh\ra",
			"a name of 256 bytes":    strings.Repeat("a", 256),
		}
	}
	names := []string{"..", ".", "a hidden name", "a path", "a parent path", "an absolute path", "a command substitution", "a glob", "a tilde", "a non-ASCII letter", "a carriage return", "a name of 256 bytes"}
	var cases []badCase
	for _, n := range append(names, "a space inside", "a line break inside", "a tab inside") {
		cases = append(cases, badCase{
			name: "a project name that is " + n + " is refused",
			env: func(fx *initFixture) []string {
				v := map[string]string{"a space inside": "gh a", "a line break inside": "gh\na", "a tab inside": "gh\ta"}[n]
				if v == "" {
					v = hostile(fx)[n]
				}
				return fx.env(v, "gh_old")
			},
			log: "binder-projects: error: BINDER_PROJECTS_PROJECT is not a valid project folder name",
		})
	}
	for _, n := range names {
		cases = append(cases, badCase{
			name: "a deletion queue holding " + n + " beside a valid name is refused, and the valid one is kept",
			env:  func(fx *initFixture) []string { return fx.env(initProject, "gh_old "+hostile(fx)[n]) },
			log:  "binder-projects: error: BINDER_PROJECTS_DELETE holds invalid project folder names (at positions 2 of 2;",
		})
	}
	cases = append(cases,
		badCase{
			name: "an empty project name is refused",
			env:  func(fx *initFixture) []string { return fx.env("", "") },
			log:  "binder-projects: error: BINDER_PROJECTS_PROJECT is not set",
		},
		badCase{
			name: "a missing volume root is refused",
			env: func(fx *initFixture) []string {
				return []string{contract.EnvSource + "=" + fx.source, contract.EnvProject + "=" + initProject, contract.EnvReport + "=" + fx.report}
			},
			log: "binder-projects: error: BINDER_PROJECTS_ROOT is not set",
		},
		badCase{
			name: "a relative volume root is refused",
			env:  func(fx *initFixture) []string { return append(fx.env(initProject, ""), contract.EnvRoot+"=projects") },
			log:  "binder-projects: error: BINDER_PROJECTS_ROOT must be an absolute path",
		},
		badCase{
			name: "a volume root that is not a folder is refused",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), contract.EnvRoot+"="+filepath.Join(fx.base, "not-mounted"))
			},
			log: "binder-projects: error: BINDER_PROJECTS_ROOT is not a folder",
		},
		badCase{
			name: "a missing home is refused",
			env: func(fx *initFixture) []string {
				return []string{contract.EnvRoot + "=" + fx.root, contract.EnvProject + "=" + initProject, contract.EnvReport + "=" + fx.report}
			},
			log: "binder-projects: error: BINDER_PROJECTS_SOURCE is not set",
		},
		badCase{
			name: "a relative home is refused",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), contract.EnvSource+"=home/jovyan")
			},
			log: "binder-projects: error: BINDER_PROJECTS_SOURCE must be an absolute path",
		},
		badCase{
			name: "a relative report path is refused, and no report is written",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), contract.EnvReport+"=termination-log")
			},
			log: "binder-projects: error: BINDER_PROJECTS_REPORT must be an absolute path",
		},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			// What a start would change if it ran at all: a queued project, a leftover of a killed start.
			buildTree(t, fx.path("gh_old"), nil, treeDir(".", 0o755), treeFile("keep.txt", 0o644, "keep"))
			buildTree(t, fx.path(".binder-projects-tmp.OldOne"), nil, treeDir(".", 0o700))
			chownTree(t, fx.root, userUID, userGID)
			before := snapshotTree(t, fx.base)
			res := start.run(t, tc.env(fx), true)
			if res.code != 2 {
				t.Fatalf("exit status %d, want 2; output:\n%s", res.code, res.out)
			}
			if !strings.Contains(res.out, tc.log) || !strings.HasSuffix(res.out, "; nothing was changed\n") {
				t.Errorf("output lacks %q, or does not end by saying nothing was changed; output:\n%s", tc.log, res.out)
			}
			if n := strings.Count(res.out, "\n"); n != 1 {
				t.Errorf("want one line of output, got %d; output:\n%s", n, res.out)
			}
			assertUnchanged(t, fx, before)
			assertAbsent(t, "/tmp/pwned")
			report := readTestFile(t, fx.report)
			if strings.Contains(tc.log, contract.EnvReport) {
				if report != "" {
					t.Errorf("a report was written, to a path that is not absolute: %q", report)
				}
				return
			}
			checkReport(t, res, report, reportWant{project: contract.ProjectFailed, err: strings.TrimPrefix(tc.log, "binder-projects: error: ")})
		})
	}
}

// TestInitIgnoresBadOptionalInputs: bad deletion ids, a bad pod name, commit or update request are
// never refusals: they are ignored, with a warning (or a log line), and the start goes on.
func TestInitIgnoresBadOptionalInputs(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	cases := []struct {
		name   string
		extra  []string
		warn   string // "" none
		logged string
		report reportWant
	}{
		{name: "a commit that is not one is not used, and said so in the log", extra: []string{commitEnv("-bad")},
			logged: "BINDER_PROJECTS_COMMIT is not a valid commit", report: seededReport()},
		{name: "an update request other than 0 or 1 is ignored with a warning", extra: []string{contract.EnvUpdate + "=yes"},
			warn: "BINDER_PROJECTS_UPDATE is ignored: it must be 1 (update) or 0 (do not)", report: reportWant{project: contract.ProjectSeeded}},
		{name: "an update request of 0 is none", extra: []string{contract.EnvUpdate + "=0"}, report: seededReport()},
		{name: "a pod name with capitals is ignored with a warning", extra: []string{podEnv("Jupyter-A")},
			warn: "BINDER_PROJECTS_POD is ignored: it is not a pod's name", report: seededReport()},
		{name: "the helper's variable of init.sh is no longer needed: it is ignored", extra: []string{"BINDER_PROJECTS_HELPER=/nonexistent"},
			report: seededReport()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			res := start.run(t, fx.env(initProject, "", tc.extra...), true)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			want := tc.report
			if tc.warn != "" {
				want.warnings = []string{tc.warn}
			}
			fx.checkLog(t, res, tc.logged)
			checkReport(t, res, readTestFile(t, fx.report), want)
			assertCopyOfHome(t, fx, initProject)
			if strings.Contains(res.out, "/nonexistent") {
				t.Errorf("the log names an input:\n%s", res.out)
			}
		})
	}
}

// TestInitReportCannotBeWritten: a report that cannot be written is a warning in the log, and changes
// neither what the start does nor its exit status.
func TestInitReportCannotBeWritten(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	t.Run("a report to a folder that does not exist is a warning; the project is seeded", func(t *testing.T) {
		fx := newInitFixture(t)
		env := fx.env(initProject, "")
		env = append(env, contract.EnvReport+"="+filepath.Join(fx.base, "no-such-folder", "report"))
		res := start.run(t, env, true)
		if res.code != 0 {
			t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
		}
		fx.checkLog(t, res, "binder-projects: warning: could not write the report file", "project "+initProject+" is ready")
		assertCopyOfHome(t, fx, initProject)
		assertAbsent(t, filepath.Join(fx.base, "no-such-folder"))
	})
	t.Run("a report path that is a symbolic link, or on the volume, is never written: a warning; the project is seeded", func(t *testing.T) {
		fx := newInitFixture(t)
		target := fx.path("notes.txt") // the user's file at the volume root
		writeTestFile(t, target, "my notes\n")
		link := filepath.Join(fx.base, "report-link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		for _, report := range []string{link, fx.path("report")} {
			res := start.run(t, append(fx.env(initProject, ""), contract.EnvReport+"="+report), true)
			if res.code != 0 {
				t.Fatalf("report %s: exit status %d; output:\n%s", report, res.code, res.out)
			}
			fx.checkLog(t, res, "binder-projects: warning: could not write the report file")
		}
		if got := readTestFile(t, target); got != "my notes\n" {
			t.Errorf("the user's file behind the link became %q", got)
		}
		assertAbsent(t, fx.path("report"))
		assertCopyOfHome(t, fx, initProject)
	})
	t.Run("a report the user may not write is a warning; a failed start still fails with its own status", func(t *testing.T) {
		fx := newInitFixture(t)
		writeTestFile(t, fx.path(initProject), "in the way\n")
		if err := os.Chmod(fx.report, 0o644); err != nil { // root's
			t.Fatal(err)
		}
		res := start.run(t, fx.env(initProject, ""), true)
		if res.code != 1 {
			t.Fatalf("exit status %d, want 1; output:\n%s", res.code, res.out)
		}
		fx.checkLog(t, res, "binder-projects: error: a file named "+initProject+" is in the way", "binder-projects: warning: could not write the report file")
		if got := readTestFile(t, fx.report); got != "" {
			t.Errorf("the report was written: %q", got)
		}
	})
}

// TestInitFullVolume seeds a home larger than the volume: the start fails with a message that says how
// full the volume is, and leaves neither a work folder nor a project folder behind.
func TestInitFullVolume(t *testing.T) {
	requireRoot(t, "to mount a small tmpfs as the volume")
	fx := newInitFixture(t)
	if err := os.RemoveAll(fx.root); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(fx.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", fx.root, "tmpfs", 0, "size=256k"); err != nil {
		t.Fatalf("mounting a 256k tmpfs at %s: %v", fx.root, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(fx.root, 0); err != nil {
			t.Errorf("unmounting %s: %v", fx.root, err)
		}
	})
	fx.seedRoot(t)
	big := bytes.Repeat([]byte("x"), 200<<10)
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(fx.source, fmt.Sprintf("data%d.bin", i)), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshotTree(t, fx.base)
	res := goInit(t).run(t, fx.env(initProject, "", commitEnv("aaaaaaa1111")), true)
	t.Logf("output:\n%s", res.out)
	if res.code != 1 {
		t.Fatalf("exit status %d, want 1", res.code)
	}
	fx.checkLog(t, res, "binder-projects: error: could not copy the image's home folder into project "+initProject+": the volume is full: ",
		" KiB of 256 KiB used (", "no space left on device", ". Free some space (delete files or projects you no longer need) or ask the operator for a larger volume")
	checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectFailed, err: "the volume is full: "})
	fx.checkCommon(t, before)
	assertAbsent(t, fx.path(initProject))
	after := snapshotTree(t, fx.base)
	for _, snap := range []map[string]treeEntry{before, after} {
		delete(snap, "projects") // the root's own time changes: a folder was made and removed
		delete(snap, "projects/"+SeedsDir)
		delete(snap, "projects/"+UpdatesDir)
		delete(snap, "projects/"+UpdatesDir+"/.lock")
	}
	if diff := diffTrees(before, after); diff != "" {
		t.Errorf("the start changed files (-before +after):\n%s", diff)
	}
}

// TestInitReadInitEnv pins how the environment is read, without running a start.
func TestInitReadInitEnv(t *testing.T) {
	root := t.TempDir()
	env := map[string]string{
		contract.EnvRoot: root, contract.EnvSource: "/home/jovyan", contract.EnvProject: "gh_a", contract.EnvReport: "/dev/termination-log",
		contract.EnvDelete: " gh_b\tgh_c\n", contract.EnvDeleteIDs: "0000000000000000007 9223372036854775807", contract.EnvPod: "jupyter-a",
		contract.EnvCommit: "abc1234", contract.EnvUpdate: "1",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := ReadInitEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := InitInput{Root: root, Source: "/home/jovyan", Project: "gh_a", ReportPath: "/dev/termination-log",
		Delete: []Deletion{{Name: "gh_b", ID: 7, IDText: "0000000000000000007"}, {Name: "gh_c", ID: 1<<63 - 1, IDText: "9223372036854775807"}},
		Pod:    "jupyter-a", Commit: "abc1234", Update: true, UsageBudget: contract.DefaultUsageBudget * time.Millisecond}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(InitInput{})); diff != "" {
		t.Errorf("ReadInitEnv (-want +got):\n%s", diff)
	}
	env[contract.EnvPod] = strings.Repeat("a", 201)
	got, err = ReadInitEnv(lookup)
	if err != nil || got.Pod != "" || len(got.notices) != 1 || got.notices[0].warning {
		t.Errorf("a pod name of 201 bytes: pod %q, notices %+v, err %v; want no pod and one log line", got.Pod, got.notices, err)
	}
}
