//go:build linux

package volume

import (
	"fmt"
	"os"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
)

// The init command killed with SIGKILL at every one of its crash points (TestCrashEnv: the start
// kills itself there), as an OOM kill, an eviction or a node loss would: right after the kill, the
// project is as it was or as it should be, never half-made under its own name; the next start (the
// init container run again, same pod) ends complete, with nothing left behind.

// sweep runs prepare and a start killed at crash point 0, 1, 2, ... until a start is not killed, and
// calls check after each kill; it returns how many crash points there were.
func sweep(t *testing.T, start starter, prepare func() (*initFixture, []string), check func(t *testing.T, fx *initFixture, env []string, n int)) int {
	t.Helper()
	for n := 0; ; n++ {
		fx, env := prepare()
		res := start.run(t, append(append([]string{}, env...), fmt.Sprintf("%s=%d", TestCrashEnv, n)), true)
		if !res.killed {
			if res.code != 0 {
				t.Fatalf("the start not killed (past the last of %d crash points) failed: exit %d\n%s", n, res.code, res.out)
			}
			return n
		}
		check(t, fx, env, n)
		if t.Failed() {
			t.Fatalf("killed at crash point %d:\n%s", n, res.out)
		}
	}
}

func TestASeedKilledAtAnyPointLeavesNoProjectOrAWholeOne(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	prepare := func() (*initFixture, []string) {
		fx := newInitFixture(t)
		return fx, fx.env(initProject, "", commitEnv(commitA), podEnv("jupyter-user-a"))
	}
	states := map[string]int{}
	n := sweep(t, start, prepare, func(t *testing.T, fx *initFixture, env []string, n int) {
		_, err := os.Lstat(fx.path(initProject))
		placed := err == nil
		if placed {
			assertCopyOfHome(t, fx, initProject)
			states["placed"]++
		} else {
			states["absent"]++
		}
		res := rerun(t, start, fx, env)
		want := seededReport()
		if placed {
			want.project = contract.ProjectExisted
		}
		checkReport(t, res, readTestFile(t, fx.report), want)
		assertCopyOfHome(t, fx, initProject)
		fx.checkManifest(t, initProject, commitA)
		assertNoLeftovers(t, fx)
		assertAbsent(t, fx.path(UpdatesDir, initProject))
	})
	t.Logf("%d crash points; right after the kill: %v", n, states)
	if n < 15 || states["placed"] == 0 || states["absent"] == 0 {
		t.Errorf("%d crash points, states %v: the kills did not land both before and after the rename", n, states)
	}
}

func TestADeletionKilledAtAnyPointLeavesTheFolderOrNothingOfIt(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	const id = "1700000000000000001"
	var before map[string]treeEntry
	prepare := func() (*initFixture, []string) {
		fx := newInitFixture(t)
		// gh_p: seeded and recorded, then grown by the user, with read-only folders; an update of it
		// was interrupted (its work folder is there). gh_q: the launched project, existing.
		if res := start.run(t, fx.env("gh_p", "", commitEnv(commitA)), true); res.code != 0 {
			t.Fatalf("seeding gh_p: exit %d\n%s", res.code, res.out)
		}
		addFiles(t, fx.path("gh_p", "results"), 200, &[2]int{userUID, userGID})
		buildTree(t, fx.path("gh_p", "frozen"), &[2]int{userUID, userGID}, treeDir(".", 0o555), treeDir("a", 0o500), treeFile("a/x", 0o400, "x"))
		if err := os.MkdirAll(fx.path(UpdatesDir, "gh_p", "staging"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTree(t, fx.path(UpdatesDir), userUID, userGID)
		userProject(t, fx, "gh_q", "q\n")
		before = snapshotTree(t, fx.path("gh_p"))
		return fx, fx.env("gh_q", "gh_p", deleteIDs(id), podEnv("jupyter-user-a"))
	}
	states := map[string]int{}
	n := sweep(t, start, prepare, func(t *testing.T, fx *initFixture, env []string, n int) {
		if _, err := os.Lstat(fx.path("gh_p")); err == nil {
			if diff := diffTrees(before, snapshotTree(t, fx.path("gh_p"))); diff != "" {
				t.Errorf("gh_p is there, but not as it was (-before +after):\n%s", diff)
			}
			states["whole"]++
		} else {
			states["gone"]++
		}
		res := rerun(t, start, fx, env)
		checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted})
		assertAbsent(t, fx.path("gh_p"), ManifestPath(fx.root, "gh_p"), WorkPath(fx.root, "gh_p"))
		assertTombstones(t, fx, map[string]string{"gh_p": id})
		assertNoLeftovers(t, fx)
	})
	t.Logf("%d crash points; right after the kill: %v", n, states)
	if n < 8 || states["whole"] == 0 || states["gone"] == 0 {
		t.Errorf("%d crash points, states %v: the kills did not land both before and after the rename", n, states)
	}
}

func TestAProjectDeletedAndSeededAnewKilledAtAnyPointEndsAFreshCopy(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	const id = "1700000000000000002"
	prepare := func() (*initFixture, []string) {
		fx := newInitFixture(t)
		if res := start.run(t, fx.env(initProject, "", commitEnv(commitA)), true); res.code != 0 {
			t.Fatalf("seeding: exit %d\n%s", res.code, res.out)
		}
		writeTestFile(t, fx.path(initProject, "README.md"), "the user's old work, deleted\n")
		return fx, fx.env(initProject, initProject, deleteIDs(id), commitEnv(commitB), podEnv("jupyter-user-a"))
	}
	n := sweep(t, start, prepare, func(t *testing.T, fx *initFixture, env []string, n int) {
		rerun(t, start, fx, env)
		assertCopyOfHome(t, fx, initProject)
		fx.checkManifest(t, initProject, commitB)
		assertTombstones(t, fx, map[string]string{initProject: id})
		assertNoLeftovers(t, fx)
	})
	t.Logf("%d crash points", n)
}
