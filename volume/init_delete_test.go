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
)

// TestInitWaitsForADeletionInProgress: a start deleting a project holds a lock on the folder itself.
// Another start with the same folder queued waits for it, then finds it gone; a folder renamed for
// deletion whose lock is held is left to the start deleting it. A start that finds the queued name
// absent while it is being deleted (renamed, locked) waits too: if that deletion fails, and puts back
// what is left, the start tries again (and records no tombstone for a folder that is still there).
func TestInitWaitsForADeletionInProgress(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	t.Run("a queued name being deleted under its reserved name is waited for; what a failed deletion puts back is deleted", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		gone := fx.path(".binder-projects-deleted.gh_old")
		buildTree(t, gone, &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("left", 0o644, "x"))
		setMtime(t, gone, time.Now())
		release := holdLock(t, gone)

		out, done := startInBackground(t, start.command(fx.env(initProject, "gh_old", deleteIDs("7")), true))
		waitForOutput(t, out, done, "binder-projects: project gh_old is being deleted by another start; waiting for it")
		assertTombstones(t, fx, nil)
		// The other start fails to delete it, and puts back what is left.
		if err := os.Rename(gone, fx.path("gh_old")); err != nil {
			t.Fatal(err)
		}
		release()
		res := waitForEnd(t, out, done)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		fx.checkLog(t, res, "binder-projects: deleted project gh_old\n", "project "+initProject+" is ready")
		checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
		assertAbsent(t, fx.path("gh_old"), gone)
		assertTombstones(t, fx, map[string]string{"gh_old": "7"})
	})
	t.Run("a folder another start is deleting is waited for, and then counts as deleted", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		buildTree(t, fx.path("gh_old"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("f", 0o644, "x"))
		buildTree(t, fx.path(".binder-projects-deleted.gh_older"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("f", 0o644, "x"))
		setMtime(t, fx.path(".binder-projects-deleted.gh_older"), time.Now())
		releaseOld := holdLock(t, fx.path("gh_old"))
		releaseOlder := holdLock(t, fx.path(".binder-projects-deleted.gh_older"))

		out, done := startInBackground(t, start.command(fx.env(initProject, "gh_old"), true))
		waitForOutput(t, out, done, "binder-projects: project gh_old is being deleted by another start; waiting for it")
		time.Sleep(200 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("the start did not wait (%v); output:\n%s", err, out.String())
		default:
		}
		assertPresent(t, fx.path("gh_old"), fx.path(".binder-projects-deleted.gh_older"))

		// The other start deletes the folder, and ends.
		if err := os.Rename(fx.path("gh_old"), fx.path(".binder-projects-deleted.gh_old")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(fx.path(".binder-projects-deleted.gh_old")); err != nil {
			t.Fatal(err)
		}
		releaseOld()
		res := waitForEnd(t, out, done)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		fx.checkLog(t, res, "binder-projects: leaving .binder-projects-deleted.gh_older: a start that is still running is deleting it",
			"binder-projects: project gh_old queued for deletion does not exist; nothing to delete", "project "+initProject+" is ready")
		checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
		assertPresent(t, fx.path(".binder-projects-deleted.gh_older"))
		assertCopyOfHome(t, fx, initProject)

		// Once that deletion's start is gone, the next start removes what it left.
		releaseOlder()
		res = start.run(t, fx.env(initProject, ""), true)
		fx.checkLog(t, res, "binder-projects: removed .binder-projects-deleted.gh_older, left by the interrupted deletion of a project")
		assertAbsent(t, fx.path(".binder-projects-deleted.gh_older"))
	})
}

// TestInitTombstones: a start records, on the volume, the id of each deletion it carried out. A start
// handed a deletion that was carried out already (by another start, which then seeded the project
// anew) leaves the new folder alone and reports the deletion done; a later deletion of that name
// deletes it; tombstones never go back to an older deletion.
func TestInitTombstones(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	const p, q, n, later = "gh_p", "gh_q", "1700000000000000000", "1700000000000000001"
	start := goInit(t)
	for _, s := range []starter{start, start.brokenFlock()} {
		t.Run(s.name+": a deletion carried out already never deletes the new folder; a later one does", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			userProject(t, fx, p, "old work\n")
			first := snapshotTree(t, fx.base)
			run := func(project, del, ids string, wantLog ...string) initResult {
				t.Helper()
				fx.resetReport(t)
				res := s.run(t, fx.env(project, del, deleteIDs(ids)), true)
				t.Logf("start of %s, deleting %s (id %s):\n%s", project, del, ids, res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				fx.checkLog(t, res, wantLog...)
				return res
			}
			skipped := "binder-projects: project " + p + " was deleted already (by another start); anything named " + p + " now is newer and stays"

			res := run(p, p, n, "binder-projects: deleted project "+p+"\n", "project "+p+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertCopyOfHome(t, fx, p)
			assertTombstones(t, fx, map[string]string{p: n})
			writeTestFile(t, fx.path(p, "new-work.txt"), "the user's new work\n")
			before := snapshotTree(t, fx.base)

			res = run(q, p, n, skipped, "project "+q+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertSubtreeUnchanged(t, fx, before, p)
			res = run(p, p, n, skipped, "binder-projects: project "+p+" exists; copying nothing")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted})
			assertSubtreeUnchanged(t, fx, before, p)
			assertTombstones(t, fx, map[string]string{p: n})

			res = run(q, p, later, "binder-projects: deleted project "+p+"\n")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted})
			assertAbsent(t, fx.path(p))
			assertTombstones(t, fx, map[string]string{p: later})

			run(p, "", "")
			before = snapshotTree(t, fx.base)
			res = run(q, p, n, skipped)
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted})
			assertSubtreeUnchanged(t, fx, before, p)
			assertTombstones(t, fx, map[string]string{p: later})

			res = run("gh_r", "gh_r", n, "binder-projects: project gh_r queued for deletion does not exist; nothing to delete", "project gh_r is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertTombstones(t, fx, map[string]string{p: later, "gh_r": n})
			before = snapshotTree(t, fx.base)
			run(q, "gh_r", n, "project gh_r was deleted already")
			assertSubtreeUnchanged(t, fx, before, "gh_r")

			makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path("gh_link"))
			run(q, "gh_link", n, "deleted project gh_link (it was a symbolic link; only the link was removed)")
			assertTombstones(t, fx, map[string]string{p: later, "gh_r": n, "gh_link": n})
			fx.checkCommon(t, first)
			assertCopyOfHome(t, fx, q)
		})
	}
	t.Run("a folder that cannot be deleted gets no tombstone: it stays queued, and the next start tries again", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		undeletableProject(t, fx, p)
		before := snapshotTree(t, fx.base)
		res := start.run(t, fx.env(initProject, p, deleteIDs(n)), true)
		t.Logf("output:\n%s", res.out)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		checkReport(t, res, readTestFile(t, fx.report), reportWant{kept: []int{1}, project: contract.ProjectSeeded, warnings: []string{"could not delete project " + p}})
		assertSubtreeUnchanged(t, fx, before, p)
		assertTombstones(t, fx, nil)
		chownTree(t, fx.path(p), userUID, userGID)
		fx.resetReport(t)
		res = start.run(t, fx.env(initProject, p, deleteIDs(n)), true)
		t.Logf("output:\n%s", res.out)
		checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted})
		assertAbsent(t, fx.path(p))
		assertTombstones(t, fx, map[string]string{p: n})
	})
	t.Run("a tombstone that cannot be written is a warning: the deletion and the launch go on", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		userProject(t, fx, p, "old work\n")
		buildTree(t, fx.path(DoneDir), &[2]int{0, 0}, treeDir(".", 0o755)) // root's: the user may not write it
		res := start.run(t, fx.env(initProject, p, deleteIDs(n)), true)
		t.Logf("output:\n%s", res.out)
		if res.code != 0 {
			t.Fatalf("exit status %d", res.code)
		}
		fx.checkLog(t, res, "binder-projects: deleted project "+p+"\n", "permission denied")
		checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectSeeded,
			warnings: []string{"could not record in " + DoneDir + " that project " + p + " was deleted"}})
		assertAbsent(t, fx.path(p))
		assertTombstones(t, fx, nil)
		assertCopyOfHome(t, fx, initProject)
	})
}

// TestInitOddTombstones: what is in the place of a tombstone, or of their folder, that no start wrote
// never stops a deletion, is never followed out of the volume, and never blocks.
func TestInitOddTombstones(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	const n = "1700000000000000000"
	start := goInit(t)
	cases := []struct {
		name     string
		setup    func(t *testing.T, fx *initFixture)
		warnings []string
		folder   bool // the tombstone is a folder, left alone
	}{
		{name: "a tombstone that is not a number counts as none, and is replaced", setup: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(DoneDir), nil, treeDir(".", 0o755), treeFile("gh_p", 0o644, "99999999999999999999999\n"))
		}},
		{name: "a tombstone that is a folder counts as none, and is left alone", folder: true, setup: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(DoneDir), nil, treeDir(".", 0o755), treeDir("gh_p", 0o755), treeFile("gh_p/x", 0o644, "x"))
		}, warnings: []string{"could not record in " + DoneDir + " that project gh_p was deleted"}},
		{name: "a tombstone that is a symbolic link to a file outside (with a larger id) is never read through, and is replaced", setup: func(t *testing.T, fx *initFixture) {
			writeTestFile(t, filepath.Join(fx.outside, "id"), "9000000000000000000\n")
			buildTree(t, fx.path(DoneDir), nil, treeDir(".", 0o755), treeLink("gh_p", filepath.Join(fx.outside, "id")))
		}},
		{name: "a tombstone that is a named pipe is never opened to be read, and is replaced", setup: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(DoneDir), nil, treeDir(".", 0o755))
			mkfifo(t, fx.path(DoneDir, "gh_p"))
		}},
		{name: "a file in the place of the tombstone folder is set aside, and the folder made", setup: func(t *testing.T, fx *initFixture) {
			writeTestFile(t, fx.path(DoneDir), "not a folder\n")
		}, warnings: []string{DoneDir + " was a file, not a folder; it was renamed to " + SetAsidePrefix + "binder-projects-done."}},
		{name: "a symbolic link in the place of the tombstone folder is removed, never followed", setup: func(t *testing.T, fx *initFixture) {
			makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(DoneDir))
		}, warnings: []string{DoneDir + " was a symbolic link, not a folder; it was removed (not what it points to)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			userProject(t, fx, "gh_p", "old work\n")
			tc.setup(t, fx)
			chownTree(t, fx.root, userUID, userGID)
			before := snapshotTree(t, fx.base)
			res := start.run(t, fx.env(initProject, "gh_p", deleteIDs(n)), true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			fx.checkLog(t, res, "binder-projects: deleted project gh_p\n")
			assertAbsent(t, fx.path("gh_p"))
			fx.checkCommon(t, before)
			assertCopyOfHome(t, fx, initProject)
			assertOutsideUnchanged(t, fx, before)
			if info, err := os.Lstat(fx.path(DoneDir)); err != nil || !info.IsDir() {
				t.Fatalf("%s is not a folder: %v", DoneDir, err)
			}
			want := seededReport(1)
			want.warnings = tc.warnings
			checkReport(t, res, readTestFile(t, fx.report), want)
			if tc.folder {
				assertSubtreeUnchanged(t, fx, before, filepath.Join(DoneDir, "gh_p"))
			} else if got, _ := tombstone(t, fx, "gh_p"); got != n+"\n" {
				t.Errorf("the tombstone holds %q, want %q", got, n+"\n")
			}
		})
	}
}

// TestInitDeleteIDs: the deletions' ids are checked; bad ones (a wrong count, a malformed id) are
// warned about and all ignored, never refused; without ids (an older webhook), or with id 0,
// tombstones are neither read nor written, and a queued folder is deleted as always.
func TestInitDeleteIDs(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	const max = "9223372036854775807" // 2^63-1
	start := goInit(t)
	cases := []struct {
		name   string
		ids    *string // nil: unset
		warn   bool
		want   map[string]string
		keep1  bool
		logged string
	}{
		{name: "without ids (an older webhook), tombstones are neither read nor written", want: map[string]string{"gh_old_1": "5"}},
		{name: "with id 0, tombstones are neither read nor written", ids: ptr("0 0"), want: map[string]string{"gh_old_1": "5"}},
		{name: "ids in the order of the names, separated by any blanks, are used", ids: ptr(" 5\t\n7 "), keep1: true, want: map[string]string{"gh_old_1": "5", "gh_old_2": "7"},
			logged: "project gh_old_1 was deleted already"},
		{name: "a newer id deletes, and 19 digits up to 2^63-1 are an id (leading zeros too, kept as given)", ids: ptr(max + " 0000000000000000007"),
			want: map[string]string{"gh_old_1": max, "gh_old_2": "0000000000000000007"}},
		{name: "too few ids are ignored", ids: ptr("5"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "too many ids are ignored", ids: ptr("5 7 9"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "an empty value for two names is ignored", ids: ptr(""), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "a non-number is ignored with all the others", ids: ptr("5 seven"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "a negative id is ignored with all the others", ids: ptr("5 -7"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "a signed id is ignored with all the others", ids: ptr("5 +7"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "a fraction is ignored with all the others", ids: ptr("5 7.5"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "20 digits are ignored with all the others", ids: ptr("5 00000000000000000007"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "2^63 is ignored with all the others", ids: ptr("5 9223372036854775808"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "19 nines are ignored with all the others", ids: ptr("5 9999999999999999999"), warn: true, want: map[string]string{"gh_old_1": "5"}},
		{name: "a pattern is ignored, never expanded", ids: ptr("5 *"), warn: true, want: map[string]string{"gh_old_1": "5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			userProject(t, fx, "gh_old_1", "one\n")
			userProject(t, fx, "gh_old_2", "two\n")
			buildTree(t, fx.path(DoneDir), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("gh_old_1", 0o644, "5\n"))
			before := snapshotTree(t, fx.base)
			env := fx.env(initProject, "gh_old_1 gh_old_2")
			if tc.ids != nil {
				env = append(env, deleteIDs(*tc.ids))
			}
			res := start.run(t, env, true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			want := seededReport(1, 2)
			if tc.warn {
				want.warnings = []string{"BINDER_PROJECTS_DELETE_IDS is ignored ("}
			}
			checkReport(t, res, readTestFile(t, fx.report), want)
			fx.checkLog(t, res, tc.logged)
			fx.checkCommon(t, before)
			if tc.keep1 {
				assertSubtreeUnchanged(t, fx, before, "gh_old_1")
			} else {
				assertAbsent(t, fx.path("gh_old_1"))
			}
			assertAbsent(t, fx.path("gh_old_2"))
			assertTombstones(t, fx, tc.want)
			assertCopyOfHome(t, fx, initProject)
		})
	}
}

func ptr(s string) *string { return &s }

// TestInitConcurrentDeletionOfALaunchedProject is the race that tombstones close. The user deleted
// project P, then starts two servers together: one launches P, the other Q, and both are handed P's
// deletion with the same id. Their starts run at any offset, from together to one after the other
// ended, Go's or init.sh's (a rolling upgrade). P always ends as a complete fresh copy of the home: the
// start of Q never deletes the P that the start of P seeded.
func TestInitConcurrentDeletionOfALaunchedProject(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	goStart := goInit(t)
	script := scriptInit(t, "dash", "")
	pairs := [][2]starter{{goStart, goStart}, {goStart.brokenFlock(), goStart.brokenFlock()}, {script, goStart}, {goStart, script}}
	const reps = 6
	for _, pair := range pairs {
		t.Run("P by "+pair[0].name+", Q by "+pair[1].name+": the start of Q never deletes the P that the start of P seeded anew", func(t *testing.T) {
			home := filepath.Join(sharedTempDir(t), "jovyan")
			buildTree(t, home, &[2]int{userUID, userGID}, repo2dockerHome()...)
			addFiles(t, filepath.Join(home, "many"), 300, &[2]int{userUID, userGID})
			fx := newInitFixture(t)
			fx.source = home
			addFiles(t, fx.path("gh_p"), 100, &[2]int{userUID, userGID})
			began := time.Now()
			if res := pair[0].run(t, fx.env("gh_p", "gh_p", deleteIDs("1")), true); res.code != 0 {
				t.Fatalf("a start alone: exit %d\n%s", res.code, res.out)
			}
			alone := time.Since(began)
			skipped := 0
			for rep := range reps {
				fx := newInitFixture(t)
				fx.source = home
				addFiles(t, fx.path("gh_p"), 100, &[2]int{userUID, userGID})
				writeTestFile(t, fx.path("gh_p", "old-work.txt"), "deleted by the user\n")
				before := snapshotTree(t, fx.base)
				id := fmt.Sprint(time.Now().UnixNano())
				reports := sharedTempDir(t)
				names := []string{"gh_p", "gh_q"}
				outs := make([]*syncBuffer, 2)
				dones := make([]<-chan error, 2)
				cmds := make([]func(), 2)
				for i, project := range names {
					report := filepath.Join(reports, project)
					makeReportFile(t, report)
					env := fx.env(project, "gh_p", deleteIDs(id))
					env = append(env, contract.EnvReport+"="+report)
					cmd := pair[i].command(env, true)
					cmds[i] = func() { outs[i], dones[i] = startInBackground(t, cmd) }
				}
				offset := alone * time.Duration(rep) * 3 / (2 * (reps - 1))
				cmds[0]()
				var res0 initResult
				if rep == reps-1 {
					res0 = waitForEnd(t, outs[0], dones[0])
				} else {
					time.Sleep(offset)
				}
				cmds[1]()
				if rep < reps-1 {
					res0 = waitForEnd(t, outs[0], dones[0])
				}
				results := []initResult{res0, waitForEnd(t, outs[1], dones[1])}
				for i, project := range names {
					res := results[i]
					if res.code != 0 {
						t.Errorf("round %d, start of %s: exit %d", rep, project, res.code)
						continue
					}
					raw := readTestFile(t, filepath.Join(reports, project))
					if strings.HasPrefix(pair[i].name, "go") {
						fx.checkLog(t, res)
						checkReport(t, res, raw, seededReport(1))
					} else if got, deleted := scriptReport(raw); got != "seeded" || deleted != "1" {
						t.Errorf("round %d, start of %s by init.sh: project=%s deleted=%s, want seeded and 1", rep, project, got, deleted)
					}
					if strings.Contains(res.out, "project gh_p was deleted already (by another start)") {
						skipped++
					}
				}
				if _, err := os.Lstat(fx.path("gh_p")); err != nil {
					t.Errorf("round %d (offset %v): project gh_p is lost: %v", rep, offset, err)
				} else {
					assertCopyOfHome(t, fx, "gh_p")
				}
				assertCopyOfHome(t, fx, "gh_q")
				assertTombstones(t, fx, map[string]string{"gh_p": id})
				fx.checkCommon(t, before)
			}
			if skipped == 0 {
				t.Errorf("no start found the deletion carried out already: the race never happened")
			}
		})
	}
}
