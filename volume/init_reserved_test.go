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
		// env is added to the start's environment (the trash's cases: trash days, restores, purges).
		env []string
	}
	trashed, other := deletedAgo(1), deletedAgo(3) // the queued deletion's id; another trash entry's
	trashEnv := []string{trashDays(30), clockEnv(), deleteIDs(idText(trashed))}
	trashedDel := func(t *testing.T, fx *initFixture) {
		t.Helper()
		if _, err := os.Stat(fx.trashPath(trashed, "gh_del")); err != nil {
			t.Errorf("the queued project is not in the trash: %v", err)
		}
	}
	setAsideTrash := func(kind string) string {
		return contract.TrashFolder + " at the volume root was " + kind + ", which binder-projects cannot use (the name is reserved for it); it is set aside as " + SetAsidePrefix + "binder-projects-trash.1"
	}
	// The queued project's manifest, and where it goes with it.
	const delManifestText = "the manifest of gh_del\n"
	delManifest := func(t *testing.T, fx *initFixture) {
		t.Helper()
		writeTestFile(t, ManifestPath(fx.root, "gh_del"), delManifestText)
		if err := os.Lchown(ManifestPath(fx.root, "gh_del"), userUID, userGID); err != nil {
			t.Fatal(err)
		}
	}
	delManifestTrashed := func(t *testing.T, fx *initFixture) {
		t.Helper()
		trashedDel(t, fx)
		assertAbsent(t, ManifestPath(fx.root, "gh_del"))
		assertManifestFile(t, fx.trashManifestPath(trashed, "gh_del"), delManifestText)
	}
	restoredWithout := func(t *testing.T, fx *initFixture) {
		t.Helper()
		if got := readTestFile(t, fx.path("gh_r", "my-work.txt")); got != "old work\n" {
			t.Errorf("the restored project holds %q", got)
		}
		assertAbsent(t, ManifestPath(fx.root, "gh_r"), fx.trashManifestPath(other, "gh_r"))
	}
	report := func(t *testing.T, fx *initFixture) contract.Report {
		t.Helper()
		r, err := contract.DecodeReport(readTestFile(t, fx.report))
		if err != nil {
			t.Fatal(err)
		}
		return r
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
		{name: contract.TrashFolder + " is a symbolic link to another project: set aside, never followed; the queued project goes into a trash of its own", plant: func(t *testing.T, fx *initFixture) {
			makeTestLink(t, "gh_other", fx.path(contract.TrashFolder))
		}, warning: setAsideTrash("a symbolic link, not a folder"), update: contract.UpdateUpdated, env: trashEnv,
			check: func(t *testing.T, fx *initFixture) {
				trashedDel(t, fx)
				if got, err := os.Readlink(fx.path(SetAsidePrefix + "binder-projects-trash.1")); err != nil || got != "gh_other" {
					t.Errorf("the link set aside: %q, %v", got, err)
				}
			}},
		{name: contract.TrashFolder + " is a symbolic link to a folder outside the volume", plant: func(t *testing.T, fx *initFixture) {
			makeTestLink(t, fx.outside, fx.path(contract.TrashFolder))
		}, warning: setAsideTrash("a symbolic link, not a folder"), update: contract.UpdateUpdated, env: trashEnv, check: trashedDel},
		{name: contract.TrashFolder + " is a named pipe", plant: func(t *testing.T, fx *initFixture) {
			mkfifo(t, fx.path(contract.TrashFolder))
		}, warning: setAsideTrash("a named pipe, not a folder"), update: contract.UpdateUpdated, env: trashEnv, check: trashedDel},
		{name: contract.TrashFolder + " is a file with data", plant: func(t *testing.T, fx *initFixture) {
			writeTestFile(t, fx.path(contract.TrashFolder), "the user's notes\n")
		}, warning: setAsideTrash("a file, not a folder"), update: contract.UpdateUpdated, env: trashEnv,
			check: func(t *testing.T, fx *initFixture) {
				trashedDel(t, fx)
				if got := readTestFile(t, fx.path(SetAsidePrefix+"binder-projects-trash.1")); got != "the user's notes\n" {
					t.Errorf("the file set aside holds %q", got)
				}
			}},
		{name: contract.TrashFolder + " is a folder of root's, holding an entry: set aside whole, and a trash of the user's made", plant: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(contract.TrashFolder), &[2]int{0, 0}, treeDir(".", 0o755), treeDir(idText(other), 0o755),
				treeDir(idText(other)+"/gh_old", 0o755), treeFile(idText(other)+"/gh_old/f", 0o644, "root's\n"))
		}, warning: setAsideTrash("a folder owned by uid 0, not by this user (uid 1000)"), update: contract.UpdateUpdated, env: trashEnv,
			check: func(t *testing.T, fx *initFixture) {
				trashedDel(t, fx)
				if got := readTestFile(t, fx.path(SetAsidePrefix+"binder-projects-trash.1", idText(other), "gh_old", "f")); got != "root's\n" {
					t.Errorf("the folder set aside holds %q", got)
				}
			}},
		{name: "the queued deletion's id folder in the trash is a symbolic link to another project: set aside, never followed", plant: func(t *testing.T, fx *initFixture) {
			mkdirUser(t, fx.path(contract.TrashFolder))
			makeTestLink(t, "../gh_other", fx.path(contract.TrashFolder, idText(trashed)))
		}, warning: contract.TrashFolder + "/" + idText(trashed) + " was a symbolic link, not a folder, which binder-projects cannot use (the name is reserved for it); it is set aside as " +
			contract.TrashFolder + "/" + SetAsidePrefix + idText(trashed) + ".1", update: contract.UpdateUpdated, env: trashEnv, check: trashedDel},
		{name: "the queued deletion's trash entry is a symbolic link to another project: only the link is removed", plant: func(t *testing.T, fx *initFixture) {
			mkdirUser(t, fx.path(contract.TrashFolder, idText(trashed)))
			makeTestLink(t, "../../gh_other", fx.trashPath(trashed, "gh_del"))
		}, warning: contract.TrashFolder + "/" + idText(trashed) + "/gh_del was a symbolic link, not a folder; it was removed (not what it points to)", update: contract.UpdateUpdated, env: trashEnv,
			check: func(t *testing.T, fx *initFixture) {
				trashedDel(t, fx)
				if got := readTestFile(t, filepath.Join(fx.trashPath(trashed, "gh_del"), "my-work.txt")); got != "to delete\n" {
					t.Errorf("the trash entry holds %q, not the queued project", got)
				}
			}},
		{name: "the queued project's manifest name in the trash is a symbolic link to another project's file: removed, never followed; the manifest goes in", plant: func(t *testing.T, fx *initFixture) {
			delManifest(t, fx)
			mkdirUser(t, fx.path(contract.TrashFolder, idText(trashed)))
			makeTestLink(t, "../../gh_other/notes.txt", fx.trashManifestPath(trashed, "gh_del"))
		}, warning: trashSeed(trashed, "gh_del") + " was a symbolic link, not a file; it was removed (not what it points to)", update: contract.UpdateUpdated, env: trashEnv,
			check: delManifestTrashed},
		{name: "the queued project's manifest name in the trash is a named pipe: removed, never opened; the manifest goes in", plant: func(t *testing.T, fx *initFixture) {
			delManifest(t, fx)
			mkdirUser(t, fx.path(contract.TrashFolder, idText(trashed)))
			mkfifo(t, fx.trashManifestPath(trashed, "gh_del"))
		}, warning: trashSeed(trashed, "gh_del") + " was a named pipe, not a file; it was removed", update: contract.UpdateUpdated, env: trashEnv,
			check: delManifestTrashed},
		{name: "the queued project's manifest name in the trash is a folder: set aside; the manifest goes in", plant: func(t *testing.T, fx *initFixture) {
			delManifest(t, fx)
			buildTree(t, fx.trashManifestPath(trashed, "gh_del"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("x", 0o644, "the user's\n"))
			mkdirUser(t, fx.path(contract.TrashFolder, idText(trashed)))
		}, warning: trashSeed(trashed, "gh_del") + " was a folder, not a file; it was renamed to " + trashAside(trashed, "gh_del"), update: contract.UpdateUpdated, env: trashEnv,
			check: func(t *testing.T, fx *initFixture) {
				delManifestTrashed(t, fx)
				if got := readTestFile(t, fx.path(trashAside(trashed, "gh_del"), "x")); got != "the user's\n" {
					t.Errorf("the folder set aside holds %q", got)
				}
			}},
		{name: "the queued project's manifest name in the trash is a file of root's: set aside; the manifest goes in", plant: func(t *testing.T, fx *initFixture) {
			delManifest(t, fx)
			mkdirUser(t, fx.path(contract.TrashFolder, idText(trashed)))
			writeTestFile(t, fx.trashManifestPath(trashed, "gh_del"), "root's\n")
		}, warning: trashSeed(trashed, "gh_del") + " was a file owned by uid 0, not by this user (uid 1000), which binder-projects cannot use (the name is reserved for it); it is set aside as " + trashAside(trashed, "gh_del"),
			update: contract.UpdateUpdated, env: trashEnv,
			check: func(t *testing.T, fx *initFixture) {
				delManifestTrashed(t, fx)
				if got := readTestFile(t, fx.path(trashAside(trashed, "gh_del"))); got != "root's\n" {
					t.Errorf("the file set aside holds %q", got)
				}
			}},
		{name: "a trash entry to restore whose manifest is a symbolic link to another project's file: removed, never followed; the project comes back without it", plant: func(t *testing.T, fx *initFixture) {
			trashedProject(t, fx, other, "gh_r", "old work\n")
			makeTestLink(t, "../../gh_other/notes.txt", fx.trashManifestPath(other, "gh_r"))
		}, warning: trashSeed(other, "gh_r") + " was a symbolic link, not a file; it was removed (not what it points to)",
			update: contract.UpdateUpdated, env: append([]string{restoreEnv(entryName(other, "gh_r"))}, trashEnv...), check: restoredWithout},
		{name: "a trash entry to restore whose manifest is a named pipe: removed, never opened; the project comes back without it", plant: func(t *testing.T, fx *initFixture) {
			trashedProject(t, fx, other, "gh_r", "old work\n")
			mkfifo(t, fx.trashManifestPath(other, "gh_r"))
		}, warning: trashSeed(other, "gh_r") + " was a named pipe, not a file; it was removed",
			update: contract.UpdateUpdated, env: append([]string{restoreEnv(entryName(other, "gh_r"))}, trashEnv...), check: restoredWithout},
		{name: "a trash entry to restore whose manifest is a file of root's: set aside, never taken; the project comes back without it", plant: func(t *testing.T, fx *initFixture) {
			trashedProject(t, fx, other, "gh_r", "old work\n")
			writeTestFile(t, fx.trashManifestPath(other, "gh_r"), "root's\n")
		}, warning: trashSeed(other, "gh_r") + " was a file owned by uid 0, not by this user (uid 1000), which binder-projects cannot use (the name is reserved for it); it is set aside as " + trashAside(other, "gh_r"),
			update: contract.UpdateUpdated, env: append([]string{restoreEnv(entryName(other, "gh_r"))}, trashEnv...),
			check: func(t *testing.T, fx *initFixture) {
				restoredWithout(t, fx)
				if got := readTestFile(t, fx.path(trashAside(other, "gh_r"))); got != "root's\n" {
					t.Errorf("the file set aside holds %q", got)
				}
			}},
		{name: "a trash entry to delete for good whose manifest is a folder of root's: the entry goes, the folder is set aside", plant: func(t *testing.T, fx *initFixture) {
			trashedProject(t, fx, other, "gh_x", "old work\n")
			buildTree(t, fx.trashManifestPath(other, "gh_x"), &[2]int{0, 0}, treeDir(".", 0o755), treeFile("x", 0o644, "root's\n"))
		}, warning: trashSeed(other, "gh_x") + " was a folder, not a file; it was renamed to " + trashAside(other, "gh_x"),
			update: contract.UpdateUpdated, env: append([]string{purgeEnv(entryName(other, "gh_x"))}, trashEnv...),
			check: func(t *testing.T, fx *initFixture) {
				assertAbsent(t, fx.trashPath(other, "gh_x"))
				if got := report(t, fx).Purged; len(got) != 1 || got[0] != 1 {
					t.Errorf("purged %v, want [1]", got)
				}
				if got := readTestFile(t, fx.path(trashAside(other, "gh_x"), "x")); got != "root's\n" {
					t.Errorf("the folder set aside holds %q", got)
				}
			}},
		{name: "a trash entry to restore that is a symbolic link to another project is left alone, never followed", plant: func(t *testing.T, fx *initFixture) {
			mkdirUser(t, fx.path(contract.TrashFolder, idText(other)))
			makeTestLink(t, "../../gh_other", fx.trashPath(other, "gh_lnk"))
		}, warning: "could not restore project gh_lnk (trash entry " + entryName(other, "gh_lnk") + ", deleted on " + dateOf(other) + "): " +
			contract.TrashFolder + "/" + entryName(other, "gh_lnk") + " is a symbolic link, not a project folder; it is left alone (never followed)",
			update: contract.UpdateUpdated, env: append([]string{restoreEnv(entryName(other, "gh_lnk"))}, trashEnv...),
			check: func(t *testing.T, fx *initFixture) {
				assertAbsent(t, fx.path("gh_lnk"))
				if got, err := os.Readlink(fx.trashPath(other, "gh_lnk")); err != nil || got != "../../gh_other" {
					t.Errorf("the link in the trash: %q, %v", got, err)
				}
			}},
		{name: "a trash entry to delete for good that is a symbolic link to a folder outside the volume loses only the link", plant: func(t *testing.T, fx *initFixture) {
			mkdirUser(t, fx.path(contract.TrashFolder, idText(other)))
			makeTestLink(t, fx.outside, fx.trashPath(other, "gh_lnk"))
		}, update: contract.UpdateUpdated, env: append([]string{purgeEnv(entryName(other, "gh_lnk"))}, trashEnv...),
			check: func(t *testing.T, fx *initFixture) {
				assertAbsent(t, fx.trashPath(other, "gh_lnk"))
				if got := report(t, fx).Purged; len(got) != 1 || got[0] != 1 {
					t.Errorf("purged %v, want [1]", got)
				}
			}},
		{name: "an id folder to restore from that is a symbolic link to another project is never followed", plant: func(t *testing.T, fx *initFixture) {
			mkdirUser(t, fx.path(contract.TrashFolder))
			userProject(t, fx, filepath.Join("gh_other", "gh_x"), "another project's folder\n")
			makeTestLink(t, "../gh_other", fx.path(contract.TrashFolder, idText(other)))
		}, warning: "could not restore project gh_x (trash entry " + entryName(other, "gh_x") + ", deleted on " + dateOf(other) + "): " +
			contract.TrashFolder + "/" + idText(other) + " is not a folder (it was not followed)",
			update: contract.UpdateUpdated, env: append([]string{restoreEnv(entryName(other, "gh_x"))}, trashEnv...),
			check: func(t *testing.T, fx *initFixture) { assertAbsent(t, fx.path("gh_x")) }},
		{name: "an id folder to delete for good from that is a symbolic link to another project is never followed: nothing is deleted", plant: func(t *testing.T, fx *initFixture) {
			mkdirUser(t, fx.path(contract.TrashFolder))
			userProject(t, fx, filepath.Join("gh_other", "gh_x"), "another project's folder\n")
			makeTestLink(t, "../gh_other", fx.path(contract.TrashFolder, idText(other)))
		}, update: contract.UpdateUpdated, env: append([]string{purgeEnv(entryName(other, "gh_x"))}, trashEnv...),
			check: func(t *testing.T, fx *initFixture) {
				if got := report(t, fx).Purged; len(got) != 1 {
					t.Errorf("purged %v, want [1]: the entry is not in the trash", got)
				}
			}},
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
			res := start.run(t, fx.env(p, "gh_del", append([]string{commitEnv(commitB), updateEnv, deleteIDs("7"), podEnv("jupyter-a")}, tc.env...)...), true)
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

// trashSeed names the manifest name of the trash entry id/dir in messages; trashAside where what was
// there is set aside.
func trashSeed(id int64, dir string) string {
	return contract.TrashFolder + "/" + idText(id) + "/" + seedPrefix + dir
}

func trashAside(id int64, dir string) string {
	return contract.TrashFolder + "/" + idText(id) + "/" + setAsideName(seedPrefix+dir, 1)
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

// mkdirUser makes the folder p (and its parents under it), owned by the notebook user.
func mkdirUser(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	for q := p; filepath.Base(q) != "projects"; q = filepath.Dir(q) {
		if err := os.Lchown(q, userUID, userGID); err != nil {
			t.Fatal(err)
		}
	}
}
