//go:build linux

package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
)

// TestInitReservedNamesOfAnyKind: the user owns the volume, and any of the names binder-projects keeps
// there (.binder-projects-seeds, -updates, -done, the update lock, a manifest, an update's work folder,
// a work or deleted folder) may be a symbolic link, a named pipe, a file or a folder of another owner.
// None is ever followed, none blocks a start, each is removed (what holds no data) or set aside (what
// does) or refused with a warning that names what it is, and none locks the user out: the project is
// ready, and updated where that can still be done.
func TestInitReservedNamesOfAnyKind(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000 and make folders of root's")
	start := goInit(t)
	const p = initProject
	type hostile struct {
		name  string
		plant func(t *testing.T, fx *initFixture)
		// warning is a piece of a warning the start must give ("" none required); update the update's
		// state.
		warning string
		update  string
		check   func(t *testing.T, fx *initFixture)
	}
	cases := []hostile{
		{name: SeedsDir + " is a symbolic link to another project", plant: func(t *testing.T, fx *initFixture) {
			os.RemoveAll(fx.path(SeedsDir))
			makeTestLink(t, "gh_other", fx.path(SeedsDir))
		}, warning: SeedsDir + " was a symbolic link, not a folder; it was removed (not what it points to)", update: contract.UpdateUpdated},
		{name: SeedsDir + " is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			os.RemoveAll(fx.path(SeedsDir))
			mkfifo(t, fx.path(SeedsDir))
		}, warning: SeedsDir + " was a named pipe, not a folder; it was removed", update: contract.UpdateUpdated},
		{name: SeedsDir + " is a file with data", plant: func(t *testing.T, fx *initFixture) {
			os.RemoveAll(fx.path(SeedsDir))
			writeTestFile(t, fx.path(SeedsDir), "the user's notes\n")
		}, warning: SeedsDir + " was a file, not a folder; it was renamed to " + SetAsidePrefix + "binder-projects-seeds.", update: contract.UpdateUpdated,
			check: func(t *testing.T, fx *initFixture) {
				m, _ := filepath.Glob(fx.path(SetAsidePrefix + "binder-projects-seeds.*"))
				if len(m) != 1 || readTestFile(t, m[0]) != "the user's notes\n" {
					t.Errorf("the file set aside: %v", m)
				}
			}},
		{name: SeedsDir + " is a folder of root's that the user may not write", plant: func(t *testing.T, fx *initFixture) {
			chownTree(t, fx.path(SeedsDir), 0, 0)
		}, warning: SeedsDir + " is not writable by this user", update: contract.UpdateFailed},
		{name: UpdatesDir + " is a symbolic link to another project", plant: func(t *testing.T, fx *initFixture) {
			os.RemoveAll(fx.path(UpdatesDir))
			makeTestLink(t, "gh_other", fx.path(UpdatesDir))
		}, warning: UpdatesDir + " was a symbolic link, not a folder; it was removed (not what it points to)", update: contract.UpdateUpdated},
		{name: UpdatesDir + " is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			os.RemoveAll(fx.path(UpdatesDir))
			mkfifo(t, fx.path(UpdatesDir))
		}, warning: UpdatesDir + " was a named pipe, not a folder; it was removed", update: contract.UpdateUpdated},
		{name: UpdatesDir + " is a folder of root's without the lock, which the user may not write", plant: func(t *testing.T, fx *initFixture) {
			os.RemoveAll(fx.path(UpdatesDir))
			buildTree(t, fx.path(UpdatesDir), &[2]int{0, 0}, treeDir(".", 0o755))
		}, warning: UpdatesDir + " is not writable by this user", update: contract.UpdateFailed},
		{name: "the update lock is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			os.Remove(fx.path(UpdatesDir, ".lock"))
			mkfifo(t, fx.path(UpdatesDir, ".lock"))
		}, warning: UpdatesDir + "/.lock was a named pipe, not a file; it was removed", update: contract.UpdateUpdated},
		{name: "the update lock is a symbolic link to another project's file", plant: func(t *testing.T, fx *initFixture) {
			os.Remove(fx.path(UpdatesDir, ".lock"))
			makeTestLink(t, "../gh_other/notes.txt", fx.path(UpdatesDir, ".lock"))
		}, warning: UpdatesDir + "/.lock was a symbolic link, not a file; it was removed (not what it points to)", update: contract.UpdateUpdated},
		{name: "the update lock is a folder", plant: func(t *testing.T, fx *initFixture) {
			os.Remove(fx.path(UpdatesDir, ".lock"))
			buildTree(t, fx.path(UpdatesDir, ".lock"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
		}, warning: UpdatesDir + "/.lock was a folder, not a file; it was renamed to " + UpdatesDir + "/" + SetAsidePrefix + "lock.", update: contract.UpdateUpdated},
		{name: "the project's manifest is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			os.Remove(ManifestPath(fx.root, p))
			mkfifo(t, ManifestPath(fx.root, p))
		}, warning: SeedsDir + "/" + p + " was a named pipe, not a file; it was removed", update: contract.UpdateUpdated},
		{name: "the project's manifest is a symbolic link to another project's file", plant: func(t *testing.T, fx *initFixture) {
			os.Remove(ManifestPath(fx.root, p))
			makeTestLink(t, "../gh_other/notes.txt", ManifestPath(fx.root, p))
		}, warning: SeedsDir + "/" + p + " was a symbolic link, not a file; it was removed (not what it points to)", update: contract.UpdateUpdated},
		{name: "the project's manifest is a folder", plant: func(t *testing.T, fx *initFixture) {
			os.Remove(ManifestPath(fx.root, p))
			buildTree(t, ManifestPath(fx.root, p), &[2]int{userUID, userGID}, treeDir(".", 0o755))
		}, warning: SeedsDir + "/" + p + " was a folder, not a file; it was renamed to", update: contract.UpdateUpdated},
		{name: "the project's update work folder is a symbolic link to another project", plant: func(t *testing.T, fx *initFixture) {
			makeTestLink(t, "../gh_other", fx.path(UpdatesDir, p))
		}, update: contract.UpdateUpdated},
		{name: "the project's update work folder is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			mkfifo(t, fx.path(UpdatesDir, p))
		}, update: contract.UpdateUpdated},
		{name: DoneDir + " is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			mkfifo(t, fx.path(DoneDir))
		}, warning: DoneDir + " was a named pipe, not a folder; it was removed", update: contract.UpdateUpdated},
		{name: "the queued project's deleted name is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			mkfifo(t, fx.path(deletedPrefix+"gh_del"))
		}, update: contract.UpdateUpdated},
		{name: "a dead work folder of root's that the user may not remove", plant: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(tmpPrefix+"Root12"), &[2]int{0, 0}, treeDir(".", 0o755), treeFile(".lock", 0o644, ""), treeFile("x", 0o644, "x"))
		}, warning: "could not remove " + tmpPrefix + "Root12, left by an earlier interrupted run; the next start tries again", update: contract.UpdateUpdated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			buildTree(t, fx.path("gh_other"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("notes.txt", 0o644, "another project's file\n"))
			userProject(t, fx, "gh_del", "to delete\n")
			if res := start.run(t, fx.env(p, "", commitEnv(commitA)), true); res.code != 0 {
				t.Fatalf("seed: exit %d\n%s", res.code, res.out)
			}
			if err := os.MkdirAll(fx.path(UpdatesDir), 0o755); err != nil {
				t.Fatal(err)
			}
			chownTree(t, fx.root, userUID, userGID)
			tc.plant(t, fx)
			writeTestFile(t, fx.path(p, "README.md"), "my own notes\n")
			changeHome(t, fx)
			before := snapshotTree(t, fx.base)
			fx.resetReport(t)
			res := start.run(t, fx.env(p, "gh_del", commitEnv(commitB), updateEnv, deleteIDs("7"), podEnv("jupyter-a")), true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d, want 0: a reserved name must never lock the user out", res.code)
			}
			fx.checkLog(t, res)
			got := checkReport(t, res, readTestFile(t, fx.report), reportWantOf(t, res, tc.update))
			if tc.warning != "" && !strings.Contains(strings.Join(got.Warnings, "\n"), tc.warning) {
				t.Errorf("no warning says %q: %q", tc.warning, got.Warnings)
			}
			assertSubtreeUnchanged(t, fx, before, "gh_other")
			assertOutsideUnchanged(t, fx, before)
			assertAbsent(t, fx.path("gh_del"))
			assertNoLeftoversBut(t, fx, tmpPrefix+"Root12")
			if got := readTestFile(t, fx.path(p, "README.md")); got != "my own notes\n" {
				t.Errorf("the user's README.md holds %q", got)
			}
			if tc.update == contract.UpdateUpdated {
				// With the manifest, the commit's bin/run.sh replaces the one the user never changed;
				// without it (set aside), every file counts as the user's: the commit's is beside it.
				fx.checkManifest(t, p, commitB)
				got := readTestFile(t, fx.path(p, "bin", "run.sh"))
				if beside, err := os.ReadFile(fx.path(p, "bin", "run.bbbbbbb.sh")); err == nil {
					got = string(beside)
				}
				if !strings.Contains(got, "version 2") {
					t.Errorf("the update did not bring bin/run.sh: %q", got)
				}
			}
			if tc.check != nil {
				tc.check(t, fx)
			}
			// And the next start is as good.
			fx.resetReport(t)
			if res := start.run(t, fx.env(p, "", commitEnv(commitB), podEnv("jupyter-a")), true); res.code != 0 {
				t.Fatalf("the next start: exit %d\n%s", res.code, res.out)
			}
		})
	}
}

// reportWantOf is what a start's report must say when its warnings are checked apart: the warnings
// the log gave, the project existing, the queued project deleted, the update's state.
func reportWantOf(t *testing.T, res initResult, update string) reportWant {
	t.Helper()
	var warnings []string
	for _, line := range strings.Split(res.out, "\n") {
		if w, ok := strings.CutPrefix(line, "binder-projects: warning: "); ok {
			warnings = append(warnings, contract.OneLine(w))
		}
	}
	return reportWant{deleted: []int{1}, project: contract.ProjectExisted, update: update, warnings: warnings}
}

// assertNoLeftoversBut asserts no leftover is at the volume root but the one named.
func assertNoLeftoversBut(t *testing.T, fx *initFixture, but string) {
	t.Helper()
	for _, l := range reservedLeftovers(t, fx.root) {
		if filepath.Base(l) != but {
			t.Errorf("left at the volume root: %s", l)
		}
	}
}
