//go:build linux

package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	commitA = "aaaaaaa1111"
	commitB = "bbbbbbb2222"
)

// changeHome makes the image's home that of a newer commit: README.md and bin/run.sh (and so its hard
// link bin/run) changed, a file added in an existing folder.
func changeHome(t *testing.T, fx *initFixture) {
	t.Helper()
	writeTestFile(t, filepath.Join(fx.source, "README.md"), "# requirements, version 2\n")
	writeTestFile(t, filepath.Join(fx.source, "bin", "run.sh"), "#!/bin/sh\necho run, version 2\n")
	writeTestFile(t, filepath.Join(fx.source, "data", "new.csv"), "c,d\n3,4\n")
	chownTree(t, fx.source, userUID, userGID)
}

// TestInitUpdates: the init command records what a new project was seeded with, finishes or rolls
// back an interrupted update before anything else, and updates an existing project when asked, in
// process (no helper): a failure that leaves the project as it was is a warning, one that cannot be
// rolled back fails the start.
func TestInitUpdates(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	run := func(t *testing.T, fx *initFixture, project, del string, extra ...string) initResult {
		t.Helper()
		fx.resetReport(t)
		res := start.run(t, fx.env(project, del, extra...), true)
		t.Logf("start of %s:\n%s", project, res.out)
		return res
	}
	t.Run("a new project's seed is recorded, and an update to a new commit keeps the user's edits", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		before := snapshotTree(t, fx.base)
		res := run(t, fx, initProject, "", commitEnv(commitA))
		if res.code != 0 {
			t.Fatalf("seed: exit %d", res.code)
		}
		fx.checkCommon(t, before)
		fx.checkLog(t, res, "binder-projects: recorded what project "+initProject+" was seeded with at commit "+commitA)
		checkReport(t, res, readTestFile(t, fx.report), seededReport())
		fx.checkManifest(t, initProject, commitA)

		writeTestFile(t, fx.path(initProject, "README.md"), "my own notes\n")
		changeHome(t, fx)
		before = snapshotTree(t, fx.base)
		res = run(t, fx, initProject, "", commitEnv(commitB), updateEnv)
		if res.code != 0 {
			t.Fatalf("update: exit %d", res.code)
		}
		fx.checkCommon(t, before)
		fx.checkLog(t, res, "binder-projects: updating project "+initProject+" to commit "+commitB, "binder-projects: kept your README.md; the commit's version is README.bbbbbbb.md")
		got := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted, update: contract.UpdateUpdated})
		want := &contract.UpdateReport{State: contract.UpdateUpdated, Commit: commitB, From: commitA, Counted: true, Replaced: 2, Added: 1, Kept: 1, Beside: 1}
		if diff := cmp.Diff(want, got.Update); diff != "" {
			t.Errorf("the update's report (-want +got):\n%s", diff)
		}
		for p, content := range map[string]string{
			"README.md":         "my own notes\n",
			"README.bbbbbbb.md": "# requirements, version 2\n",
			"bin/run.sh":        "#!/bin/sh\necho run, version 2\n",
			"data/new.csv":      "c,d\n3,4\n",
			"binder/postBuild":  "#!/bin/sh\necho built > built.txt\n",
		} {
			if got := readTestFile(t, fx.path(initProject, p)); got != content {
				t.Errorf("after the update, %s holds %q, want %q", p, got, content)
			}
		}
		fx.checkManifest(t, initProject, commitB)
		assertAbsent(t, fx.path(UpdatesDir, initProject))

		// The same update again changes nothing.
		after := snapshotTree(t, fx.path(initProject))
		res = run(t, fx, initProject, "", commitEnv(commitB), updateEnv)
		got = checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted, update: contract.UpdateUpdated})
		if diff := cmp.Diff(&contract.UpdateReport{State: contract.UpdateUpdated, Commit: commitB, From: commitB, Counted: true}, got.Update); diff != "" {
			t.Errorf("the second update's report (-want +got):\n%s", diff)
		}
		if diff := diffTrees(after, snapshotTree(t, fx.path(initProject))); diff != "" {
			t.Errorf("the second update changed the project (-before +after):\n%s", diff)
		}
	})
	t.Run("an update asked for on a new project is not needed", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		res := run(t, fx, initProject, "", commitEnv(commitA), updateEnv)
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		want := seededReport()
		want.update = contract.UpdateNotNeeded
		checkReport(t, res, readTestFile(t, fx.report), want)
		fx.checkManifest(t, initProject, commitA)
	})
	t.Run("without a valid commit, nothing is recorded, and an update asked for is unavailable, with a warning", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		res := run(t, fx, initProject, "", commitEnv("-bad"))
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		checkReport(t, res, readTestFile(t, fx.report), seededReport())
		assertAbsent(t, fx.path(SeedsDir), fx.path(UpdatesDir))
		changeHome(t, fx)
		before := snapshotTree(t, fx.base)
		res = run(t, fx, initProject, "", updateEnv)
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		fx.checkCommon(t, before)
		checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted, update: contract.UpdateUnavailable,
			warnings: []string{"an update of project " + initProject + " was asked for, but the launch names no valid commit; project " + initProject + " starts unchanged"}})
		assertUnchanged(t, fx, before)
	})
	t.Run("a failing update (a read-only folder) is a warning, and the server starts on the unchanged project", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		if res := run(t, fx, initProject, "", commitEnv(commitA)); res.code != 0 {
			t.Fatalf("seed: exit %d", res.code)
		}
		changeHome(t, fx)
		if err := os.Chmod(fx.path(initProject, "data"), 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(fx.path(initProject, "data"), 0o755) })
		before := snapshotTree(t, fx.base)
		res := run(t, fx, initProject, "", commitEnv(commitB), updateEnv)
		if res.code != 0 {
			t.Fatalf("exit %d, want 0 (a failed update must not block the start)", res.code)
		}
		fx.checkCommon(t, before)
		checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted, update: contract.UpdateFailed,
			warnings: []string{"could not update project " + initProject + " to commit " + commitB + " ("}})
		if diff := diffTrees(subTree(before, "projects/"+initProject), snapshotTree(t, fx.path(initProject))); diff != "" {
			t.Errorf("the failed update changed the project (-before +after):\n%s", diff)
		}
		if m, err := ReadManifest(fx.root, initProject); err != nil || m.Commit != commitA {
			t.Errorf("after a failed update the manifest records %v (%v), want still %s", m, err, commitA)
		}
	})
	t.Run("an interrupted update is recovered before the start; one that cannot be fails the start, before any deletion", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		if res := run(t, fx, initProject, "", commitEnv(commitA)); res.code != 0 {
			t.Fatalf("seed: exit %d", res.code)
		}
		work := fx.path(UpdatesDir, initProject)
		if err := os.MkdirAll(filepath.Join(work, "staging"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTree(t, fx.path(UpdatesDir), userUID, userGID)
		res := run(t, fx, initProject, "", commitEnv(commitA))
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		fx.checkLog(t, res, "binder-projects: project "+initProject+": the interrupted update was cleaned up")
		checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
		assertAbsent(t, work)

		if err := os.MkdirAll(work, 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(work, "journal"), "{not json")
		chownTree(t, fx.path(UpdatesDir), userUID, userGID)
		userProject(t, fx, "gh_other_queued", "x")
		before := snapshotTree(t, fx.base)
		res = run(t, fx, initProject, "gh_other_queued", commitEnv(commitA))
		if res.code != 1 {
			t.Fatalf("exit %d, want 1", res.code)
		}
		checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectFailed,
			err: "an interrupted update of project " + initProject + " could not be finished or rolled back (cannot read the journal"})
		assertUnchanged(t, fx, before)
	})
	t.Run("an update killed at any point is finished or rolled back by the next start, before anything else", func(t *testing.T) {
		t.Parallel()
		fresh := func() *initFixture {
			fx := newInitFixture(t)
			if res := run(t, fx, initProject, "", commitEnv(commitA)); res.code != 0 {
				t.Fatalf("seed: exit %d", res.code)
			}
			writeTestFile(t, fx.path(initProject, "README.md"), "my own notes\n")
			changeHome(t, fx)
			return fx
		}
		ref := fresh()
		beforeUpdate := snapshotTree(t, ref.path(initProject))
		if res := run(t, ref, initProject, "", commitEnv(commitB), updateEnv); res.code != 0 {
			t.Fatalf("update: exit %d", res.code)
		}
		afterUpdate := snapshotTree(t, ref.path(initProject))
		seen := map[string]int{}
		for n := 0; ; n += 3 {
			fx := fresh()
			res := start.run(t, fx.env(initProject, "", commitEnv(commitB), updateEnv, fmt.Sprintf("%s=%d", TestCrashEnv, n)), true)
			if !res.killed {
				if n < 10 {
					t.Fatalf("only %d crash points:\n%s", n, res.out)
				}
				break
			}
			res = run(t, fx, initProject, "", commitEnv(commitB))
			if res.code != 0 {
				t.Fatalf("killed at %d, then started: exit %d", n, res.code)
			}
			// Compared without times: each fixture's edit is made at its own time.
			got := snapshotTree(t, fx.path(initProject))
			noTimes := cmpopts.IgnoreFields(treeEntry{}, "Ino", "MTime")
			switch {
			case cmp.Equal(beforeUpdate, got, noTimes):
				seen["before"]++
			case cmp.Equal(afterUpdate, got, noTimes):
				seen["after"]++
			default:
				t.Errorf("killed at %d: the project is neither as before the update nor as after it (-after +got):\n%s", n, cmp.Diff(afterUpdate, got, noTimes))
			}
			assertAbsent(t, fx.path(UpdatesDir, initProject))
		}
		if seen["before"] == 0 || seen["after"] == 0 {
			t.Errorf("the kills never left one of the states: %v", seen)
		}
		t.Logf("after recovery: %v", seen)
	})
	t.Run("deleting a queued project removes its record and its update's work folder", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		const other = "gh_owner_other"
		if res := run(t, fx, other, "", commitEnv(commitA)); res.code != 0 {
			t.Fatalf("seed: exit %d", res.code)
		}
		assertPresent(t, ManifestPath(fx.root, other))
		if err := os.MkdirAll(filepath.Join(WorkPath(fx.root, other), "staging"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTree(t, fx.path(UpdatesDir), userUID, userGID)
		res := run(t, fx, initProject, other, commitEnv(commitA))
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
		assertAbsent(t, fx.path(other), ManifestPath(fx.root, other), WorkPath(fx.root, other))
		fx.checkManifest(t, initProject, commitA)
	})
	t.Run("a seed without a valid commit records nothing and removes a stale record, and an update's orphaned work folder", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		if err := os.MkdirAll(fx.path(SeedsDir), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, ManifestPath(fx.root, initProject), "a stale manifest of a project deleted long ago")
		chownTree(t, fx.root, userUID, userGID)
		res := run(t, fx, initProject, "", commitEnv("-bad"))
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		fx.checkLog(t, res, "BINDER_PROJECTS_COMMIT is not a valid commit", "no valid commit was given")
		checkReport(t, res, readTestFile(t, fx.report), seededReport())
		assertAbsent(t, ManifestPath(fx.root, initProject))
	})
}

// TestInitRecordsTheImagesFilesNotTheUsers: the manifest is hashed from the private copy before it is
// renamed into view. A start killed right after the rename, before it put the manifest in place,
// leaves it in its work folder; the user edits a file meanwhile (another server of theirs sees the
// project); the next start puts that manifest in place: it records the image's file, so the next
// update sees the edit as the user's and keeps it.
func TestInitRecordsTheImagesFilesNotTheUsers(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	fx := newInitFixture(t)
	// Find the crash point right after the rename: the first at which the project exists.
	n := 0
	pod := podEnv("jupyter-a")
	for ; ; n++ {
		if n > 100 {
			t.Fatal("no crash point leaves the project in place")
		}
		killedAt(t, start, fx.env(initProject, "", commitEnv(commitA), pod), n)
		if _, err := os.Lstat(fx.path(initProject)); err == nil {
			break
		}
	}
	t.Logf("killed right after the rename at crash point %d", n)
	assertCopyOfHome(t, fx, initProject)
	assertAbsent(t, ManifestPath(fx.root, initProject))
	writeTestFile(t, fx.path(initProject, "README.md"), "the user's edit, right after the rename\n")

	res := start.run(t, fx.env(initProject, "", commitEnv(commitA), pod), true)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.out)
	}
	fx.checkLog(t, res, "binder-projects: recorded what project "+initProject+" was seeded with (the start that seeded it was stopped before it could)")
	fx.checkManifest(t, initProject, commitA)
	if left := reservedLeftovers(t, fx.root); len(left) > 0 {
		t.Errorf("leftovers: %v", left)
	}

	changeHome(t, fx)
	res = start.run(t, fx.env(initProject, "", commitEnv(commitB), updateEnv), true)
	if res.code != 0 {
		t.Fatalf("update: exit %d:\n%s", res.code, res.out)
	}
	if got := readTestFile(t, fx.path(initProject, "README.md")); got != "the user's edit, right after the rename\n" {
		t.Errorf("the update replaced the user's edit: README.md holds %q", got)
	}
	if got := readTestFile(t, fx.path(initProject, "README.bbbbbbb.md")); got != "# requirements, version 2\n" {
		t.Errorf("the commit's README is not beside the user's: %q", got)
	}
}

// TestInitNeverFollowsALinkToDeleteARecord: init.sh (version 1) removed a deleted project's manifest
// with rm -f .binder-projects-seeds/<name>, which follows a link in place of .binder-projects-seeds and
// deletes another project's file of that name. The Go init never follows it: the link is removed
// (not what it points to), and the other project keeps its file.
func TestInitNeverFollowsALinkToDeleteARecord(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	setup := func(t *testing.T) *initFixture {
		fx := newInitFixture(t)
		buildTree(t, fx.path("gh_keep"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("gh_old", 0o644, "a file of project gh_keep\n"))
		userProject(t, fx, "gh_old", "to delete\n")
		makeTestLink(t, "gh_keep", fx.path(SeedsDir))
		if err := os.Lchown(fx.path(SeedsDir), userUID, userGID); err != nil {
			t.Fatal(err)
		}
		return fx
	}
	t.Run("init.sh (version 1) follows the link and deletes the other project's file", func(t *testing.T) {
		fx := setup(t)
		res := scriptInit(t, "dash", "").run(t, fx.env(initProject, "gh_old"), true)
		if res.code != 0 {
			t.Fatalf("exit %d:\n%s", res.code, res.out)
		}
		assertAbsent(t, fx.path("gh_old"), fx.path("gh_keep", "gh_old"))
	})
	t.Run("the Go init removes the link, never the other project's file", func(t *testing.T) {
		fx := setup(t)
		before := snapshotTree(t, fx.base)
		res := goInit(t).run(t, fx.env(initProject, "gh_old", commitEnv(commitA)), true)
		if res.code != 0 {
			t.Fatalf("exit %d:\n%s", res.code, res.out)
		}
		checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectSeeded,
			warnings: []string{SeedsDir + " was a symbolic link, not a folder; it was removed (not what it points to)"}})
		assertAbsent(t, fx.path("gh_old"))
		assertSubtreeUnchanged(t, fx, before, "gh_keep")
		fx.checkManifest(t, initProject, commitA)
		if info, err := os.Lstat(fx.path(SeedsDir)); err != nil || !info.IsDir() {
			t.Errorf("%s is not a folder of ours now: %v", SeedsDir, err)
		}
	})
}

// TestInitReadsAVolumeTheScriptWrote: a volume init.sh (version 1, with the helper) wrote, read by the
// Go init during a rolling upgrade: the project init.sh seeded and recorded is updated from its
// manifest, the deletion it carried out (its tombstone) is not done again, its killed work folder and
// its interrupted deletion are removed.
func TestInitReadsAVolumeTheScriptWrote(t *testing.T) {
	requireRoot(t, "to run init.sh and the init command as uid 1000")
	helper := buildCommand(t)
	for _, shell := range []string{"dash", "busybox"} {
		t.Run("init.sh under "+shell, func(t *testing.T) {
			script := scriptInit(t, shell, helper)
			fx := newInitFixture(t)
			userProject(t, fx, "gh_p", "old work\n")
			res := script.run(t, fx.env(initProject, "gh_p", commitEnv(commitA), deleteIDs("5")), true)
			if res.code != 0 {
				t.Fatalf("init.sh: exit %d:\n%s", res.code, res.out)
			}
			if shell == "dash" {
				assertCopyOfHome(t, fx, initProject)
			} else {
				assertCopyOfHomeBySeconds(t, fx, initProject)
			}
			assertTombstones(t, fx, map[string]string{"gh_p": "5"})
			// init.sh killed in the middle of a deletion and of a copy: what it left.
			buildTree(t, fx.path(".binder-projects-deleted.gh_half"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("left", 0o644, "x"))
			workFolder(t, fx, ".binder-projects-tmp.Sh1234", true, time.Now())
			chownTree(t, fx.path(".binder-projects-tmp.Sh1234"), userUID, userGID)
			// The user's edit, and a newer image; the Go init, handed the old deletion again.
			writeTestFile(t, fx.path(initProject, "README.md"), "my own notes\n")
			userProject(t, fx, "gh_p", "a new project gh_p, seeded since\n")
			changeHome(t, fx)
			before := snapshotTree(t, fx.base)

			res = goInit(t).run(t, fx.env(initProject, "gh_p", commitEnv(commitB), deleteIDs("5"), updateEnv), true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit %d", res.code)
			}
			fx.checkLog(t, res, "binder-projects: removed .binder-projects-deleted.gh_half, left by the interrupted deletion of a project",
				"binder-projects: removed .binder-projects-tmp.Sh1234, left by an earlier interrupted run",
				"binder-projects: project gh_p was deleted already (by another start)")
			got := checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted, update: contract.UpdateUpdated})
			if got.Update.From != commitA || got.Update.Beside != 1 || got.Update.Replaced != 2 {
				t.Errorf("the update from init.sh's manifest: %+v, want from %s, 1 beside, 2 replaced", got.Update, commitA)
			}
			assertSubtreeUnchanged(t, fx, before, "gh_p")
			fx.checkCommon(t, before)
			if got := readTestFile(t, fx.path(initProject, "README.md")); got != "my own notes\n" {
				t.Errorf("README.md holds %q", got)
			}
			fx.checkManifest(t, initProject, commitB)
		})
	}
}
