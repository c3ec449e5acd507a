//go:build linux

package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
)

// A project's manifest travels with it through the trash (trashmanifest.go): these tests run the init
// command for real over real trees, seed a project from the image of one commit, delete it into the
// trash, restore it and update it to a newer commit, and compare it with a project never deleted.

// trashManifestPath is where the manifest of the trash entry id/dir is kept.
func (fx *initFixture) trashManifestPath(id int64, dir string) string {
	return fx.trashPath(id, seedPrefix+dir)
}

// startOK runs a start of project with the deletion queue del and extra, which must end ready.
func startOK(t *testing.T, start starter, fx *initFixture, project, del string, extra ...string) initResult {
	t.Helper()
	fx.resetReport(t)
	res := start.run(t, fx.env(project, del, extra...), true)
	t.Logf("start of %s (deleting %q):\n%s", project, del, res.out)
	if res.code != 0 {
		t.Fatalf("start of %s: exit %d", project, res.code)
	}
	fx.checkLog(t, res)
	return res
}

// seededAndEdited seeds project gh_p from the image's home at commitA, and changes README.md in it,
// as the user does: bin/run.sh stays the image's, README.md is the user's.
func seededAndEdited(t *testing.T, start starter, fx *initFixture) {
	t.Helper()
	startOK(t, start, fx, "gh_p", "", commitEnv(commitA))
	fx.checkManifest(t, "gh_p", commitA)
	writeTestFile(t, fx.path("gh_p", "README.md"), "my own notes\n")
}

// updatedToB updates project to commitB (the image's home changed first) and returns the update's
// report.
func updatedToB(t *testing.T, start starter, fx *initFixture, project string) *contract.UpdateReport {
	t.Helper()
	changeHome(t, fx)
	res := startOK(t, start, fx, project, "", commitEnv(commitB), updateEnv, trashDays(30), clockEnv())
	rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted, update: contract.UpdateUpdated})
	fx.checkManifest(t, project, commitB)
	return rep.Update
}

// contentOf is what a project folder holds, by path: types, modes, contents, link targets (not times,
// owners or inodes, which differ between two volumes).
func contentOf(t *testing.T, p string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	for k, e := range snapshotTree(t, p) {
		out[k] = treeEntry{Type: e.Type, Mode: e.Mode, Size: e.Size, SHA256: e.SHA256, Link: e.Link}
	}
	return out
}

// neverDeleted is project gh_p seeded, edited and updated to commitB on a volume of its own, never
// deleted: what it holds after the update, and the update's report.
func neverDeleted(t *testing.T, start starter) (map[string]treeEntry, *contract.UpdateReport) {
	t.Helper()
	fx := newInitFixture(t)
	seededAndEdited(t, start, fx)
	rep := updatedToB(t, start, fx, "gh_p")
	want := map[string]string{
		"README.md":         "my own notes\n",
		"README.bbbbbbb.md": "# requirements, version 2\n",
		"bin/run.sh":        "#!/bin/sh\necho run, version 2\n",
		"data/new.csv":      "c,d\n3,4\n",
	}
	for p, content := range want {
		if got := readTestFile(t, fx.path("gh_p", p)); got != content {
			t.Fatalf("the project never deleted: after the update %s holds %q, want %q", p, got, content)
		}
	}
	return contentOf(t, fx.path("gh_p")), rep
}

// assertLikeNeverDeleted asserts project (restored, then updated) holds what the project never
// deleted holds, and that its update did what that one's did.
func assertLikeNeverDeleted(t *testing.T, fx *initFixture, project string, want map[string]treeEntry, wantRep, gotRep *contract.UpdateReport) {
	t.Helper()
	if diff := cmp.Diff(want, contentOf(t, fx.path(project))); diff != "" {
		t.Errorf("project %s, deleted and restored, then updated, is not what a project never deleted becomes (-never deleted +restored):\n%s", project, diff)
	}
	if diff := cmp.Diff(wantRep, gotRep); diff != "" {
		t.Errorf("the update of project %s, deleted and restored, is not that of a project never deleted (-never deleted +restored):\n%s", project, diff)
	}
	if got := readTestFile(t, fx.path(project, "bin", "run.sh")); got != "#!/bin/sh\necho run, version 2\n" {
		t.Errorf("bin/run.sh, which the user never changed, holds %q: not the new commit's", got)
	}
	assertAbsent(t, fx.path(project, "bin", "run.bbbbbbb.sh"))
	if got := readTestFile(t, fx.path(project, "README.md")); got != "my own notes\n" {
		t.Errorf("README.md, the user's, holds %q", got)
	}
}

// TestInitTrashKeepsWhatAProjectWasSeededWith: a project's manifest goes into the trash with it and
// comes back with it, so that a project deleted and restored is updated exactly as one never deleted:
// the files the user never changed become the new commit's, the user's stay. Under its own name, and
// beside a project of its name under another. The first two cases fail on the code before, which
// removed the manifest at the deletion: the restored project's update kept every file as the user's.
func TestInitTrashKeepsWhatAProjectWasSeededWith(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	id := deletedAgo(1)
	trashEnv := []string{deleteIDs(idText(id)), trashDays(30), clockEnv()}
	// trashed seeds and edits gh_p, then deletes it into the trash; it returns its manifest, as it
	// was at the volume root.
	trashed := func(t *testing.T, fx *initFixture) string {
		t.Helper()
		seededAndEdited(t, start, fx)
		manifest := readTestFile(t, ManifestPath(fx.root, "gh_p"))
		res := startOK(t, start, fx, "gh_q", "gh_p", trashEnv...)
		rep := checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
		if diff := cmp.Diff([]string{entryName(id, "gh_p")}, trashNames(rep)); diff != "" {
			t.Errorf("the report's trash (-want +got):\n%s", diff)
		}
		checkSizes(t, fx, rep) // the manifest beside the entry is no entry, and not in its size
		assertAbsent(t, ManifestPath(fx.root, "gh_p"))
		assertManifestFile(t, fx.trashManifestPath(id, "gh_p"), manifest)
		return manifest
	}
	restore := func(t *testing.T, fx *initFixture, as string) {
		t.Helper()
		res := startOK(t, start, fx, "gh_q", "", restoreEnv(entryName(id, "gh_p")), trashDays(30), clockEnv())
		rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
		if diff := cmp.Diff([]contract.Restored{{At: 1, As: contract.ProjectDir(as)}}, rep.Restored); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
		// Only the restore's record is left in the id folder.
		assertNames(t, fx.path(contract.TrashFolder, idText(id)), restoredPrefix+"gh_p")
	}

	t.Run("restored under its own name, it is updated as a project never deleted", func(t *testing.T) {
		t.Parallel()
		want, wantRep := neverDeleted(t, start)
		fx := newInitFixture(t)
		manifest := trashed(t, fx)
		restore(t, fx, "gh_p")
		assertManifestFile(t, ManifestPath(fx.root, "gh_p"), manifest)
		assertLikeNeverDeleted(t, fx, "gh_p", want, wantRep, updatedToB(t, start, fx, "gh_p"))
	})

	t.Run("restored beside a project of its name, it is updated as a project never deleted, under its new name; the other keeps its own manifest", func(t *testing.T) {
		t.Parallel()
		want, wantRep := neverDeleted(t, start)
		fx := newInitFixture(t)
		manifest := trashed(t, fx)
		startOK(t, start, fx, "gh_p", "", commitEnv(commitA)) // seeded anew
		writeTestFile(t, fx.path("gh_p", "new.txt"), "the new project's work\n")
		before := snapshotTree(t, fx.base)
		as := string(contract.RestoredName("gh_p", id))
		restore(t, fx, as)
		assertManifestFile(t, ManifestPath(fx.root, as), manifest)
		assertSubtreeUnchanged(t, fx, before, filepath.Join(SeedsDir, "gh_p"))
		assertSubtreeUnchanged(t, fx, before, "gh_p")
		assertLikeNeverDeleted(t, fx, as, want, wantRep, updatedToB(t, start, fx, as))
	})

	t.Run("without trash days the manifest is removed with the project, as before", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		seededAndEdited(t, start, fx)
		res := startOK(t, start, fx, "gh_q", "gh_p", deleteIDs(idText(id)), clockEnv())
		checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
		assertAbsent(t, fx.path("gh_p"), ManifestPath(fx.root, "gh_p"), fx.path(contract.TrashFolder))
	})

	t.Run("a project of a name too long for its manifest's name in the trash goes without it, as without the trash, and comes back without it", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		long := "gh_" + strings.Repeat("x", 250-len("gh_"))
		startOK(t, start, fx, long, "", commitEnv(commitA))
		fx.checkManifest(t, long, commitA)
		res := startOK(t, start, fx, "gh_q", long, append([]string{}, trashEnv...)...)
		checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
		assertAbsent(t, ManifestPath(fx.root, long))
		assertNames(t, fx.path(contract.TrashFolder, idText(id)), long)
		res = startOK(t, start, fx, "gh_q", "", restoreEnv(entryName(id, long)), trashDays(30), clockEnv())
		checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
		assertPresent(t, fx.path(long))
		assertAbsent(t, ManifestPath(fx.root, long))
	})

	t.Run("deleted for good from the trash, its manifest goes with it", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		trashed(t, fx)
		res := startOK(t, start, fx, "gh_q", "", purgeEnv(entryName(id, "gh_p")), trashDays(30), clockEnv())
		rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
		if diff := cmp.Diff([]int{1}, rep.Purged); diff != "" {
			t.Errorf("purged (-want +got):\n%s", diff)
		}
		assertAbsent(t, fx.path(contract.TrashFolder, idText(id)), ManifestPath(fx.root, "gh_p"))
	})

	t.Run("expired from the trash, its manifest goes with it", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		trashed(t, fx)
		res := startOK(t, start, fx, "gh_q", "", trashDays(1), TestNowEnv+"="+idText(trashClock.Add(24*time.Hour).UnixNano()))
		rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
		if len(rep.Trash) != 0 {
			t.Errorf("the trash still holds %v", trashNames(rep))
		}
		assertAbsent(t, fx.path(contract.TrashFolder, idText(id)), ManifestPath(fx.root, "gh_p"))
	})

	t.Run("a stale manifest at the name a project is restored to is never taken for its own", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		manifest := trashed(t, fx)
		writeManifestFile(t, fx, "gh_p", staleManifest)
		restore(t, fx, "gh_p")
		assertManifestFile(t, ManifestPath(fx.root, "gh_p"), manifest)
	})

	t.Run("a project trashed without its manifest (by an earlier version) comes back without one: a stale one at its name is dropped", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		startOK(t, start, fx, "gh_q", "")
		trashedProject(t, fx, id, "gh_p", "old work\n")
		writeManifestFile(t, fx, "gh_p", staleManifest)
		restore(t, fx, "gh_p")
		assertAbsent(t, ManifestPath(fx.root, "gh_p"))
	})

	t.Run("a manifest left in the trash without its project goes once no restore can want it", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		gone, restoredNow, restoredLong := deletedAgo(3), deletedAgo(4), deletedAgo(5)
		for _, id := range []int64{gone, restoredNow, restoredLong} {
			mkdirUser(t, fx.path(contract.TrashFolder, idText(id)))
			writeTestFile(t, fx.trashManifestPath(id, "gh_x"), "{}\n")
		}
		writeTestFile(t, fx.trashPath(restoredNow, restoredPrefix+"gh_x"), "{}\n")
		setMtime(t, fx.trashPath(restoredNow, restoredPrefix+"gh_x"), trashClock.Add(-time.Hour))
		writeTestFile(t, fx.trashPath(restoredLong, restoredPrefix+"gh_x"), "{}\n")
		setMtime(t, fx.trashPath(restoredLong, restoredPrefix+"gh_x"), trashClock.Add(-25*time.Hour))
		chownTree(t, fx.path(contract.TrashFolder), userUID, userGID)
		res := startOK(t, start, fx, "gh_q", "", trashDays(30), clockEnv())
		checkReport(t, res, readTestFile(t, fx.report), seededReport())
		assertAbsent(t, fx.path(contract.TrashFolder, idText(gone)), fx.path(contract.TrashFolder, idText(restoredLong)))
		assertNames(t, fx.path(contract.TrashFolder, idText(restoredNow)), restoredPrefix+"gh_x", seedPrefix+"gh_x")
	})
}

// assertManifestFile asserts the file at p holds the manifest want (as its bytes).
func assertManifestFile(t *testing.T, p, want string) {
	t.Helper()
	got, err := readRegular(p)
	if err != nil || got != want {
		t.Errorf("%s is not the manifest the project had (%v):\n%s", p, err, got)
	}
}

// readRegular reads the file at p, if it is a regular file (never a named pipe, which would block,
// nor through a link).
func readRegular(p string) (string, error) {
	info, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%s is a %v, not a file", p, info.Mode().Type())
	}
	data, err := os.ReadFile(p)
	return string(data), err
}

// writeManifestFile writes m as the manifest of project, as the user's file.
func writeManifestFile(t *testing.T, fx *initFixture, project string, m *Manifest) {
	t.Helper()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mkdirUser(t, fx.path(SeedsDir))
	writeTestFile(t, ManifestPath(fx.root, project), string(data))
	if err := os.Lchown(ManifestPath(fx.root, project), userUID, userGID); err != nil {
		t.Fatal(err)
	}
}

// staleManifest is the manifest of an earlier project gh_p, deleted: a start stopped before it removed
// it left it.
var staleManifest = &Manifest{Project: "gh_p", Commit: "ccccccc3333", Entries: []Entry{{Path: "bin", Type: TypeDir, Mode: 0o755}}}
