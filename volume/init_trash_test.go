//go:build linux

package volume

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The trash tests run the init command for real (as uid 1000, over real trees), with a clock of their
// own (TestNowEnv), so that trash entries can be of any age.

var trashClock = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func clockEnv() string       { return TestNowEnv + "=" + strconv.FormatInt(trashClock.UnixNano(), 10) }
func trashDays(n int) string { return contract.EnvTrashDays + "=" + strconv.Itoa(n) }
func budgetEnv(ms int) string {
	return contract.EnvUsageBudget + "=" + strconv.Itoa(ms)
}
func restoreEnv(entries ...string) string {
	return contract.EnvRestore + "=" + strings.Join(entries, " ")
}
func purgeEnv(entries ...string) string { return contract.EnvPurge + "=" + strings.Join(entries, " ") }

// deletedAgo is the id of a deletion that many days before the tests' clock.
func deletedAgo(days float64) int64 {
	return trashClock.Add(-time.Duration(days * 24 * float64(time.Hour))).UnixNano()
}

func idText(id int64) string { return strconv.FormatInt(id, 10) }

func entryName(id int64, dir string) string {
	return contract.TrashEntryName(id, contract.ProjectDir(dir))
}

func (fx *initFixture) trashPath(id int64, dir string) string {
	return fx.path(contract.TrashFolder, idText(id), dir)
}

// readOnlyProject builds the project folder at p as a user leaves one they made read-only: the folder
// itself, a folder in it and a file, all without write permission.
func readOnlyProject(t *testing.T, p, work string) {
	t.Helper()
	buildTree(t, p, &[2]int{userUID, userGID}, treeDir(".", 0o555), treeFile("my-work.txt", 0o444, work),
		treeDir("frozen", 0o500), treeFile("frozen/x", 0o400, "x"))
}

// trashedProject builds a project of the user's in the trash, as entry id/dir.
func trashedProject(t *testing.T, fx *initFixture, id int64, dir, work string) {
	t.Helper()
	userProject(t, fx, filepath.Join(contract.TrashFolder, idText(id), dir), work)
	chownTree(t, fx.path(contract.TrashFolder), userUID, userGID)
}

// rel is p relative to the fixture's base, as snapshots name it.
func (fx *initFixture) rel(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.Rel(fx.base, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// assertMoved asserts that what was at from (in before) is now at to, whole: every entry, with its
// type, mode, owner, time and content.
func assertMoved(t *testing.T, fx *initFixture, before map[string]treeEntry, from, to string) {
	t.Helper()
	want := subTree(before, fx.rel(t, from))
	if len(want) == 0 {
		t.Fatalf("nothing was at %s", from)
	}
	if diff := diffTrees(want, subTree(snapshotTree(t, fx.base), fx.rel(t, to))); diff != "" {
		t.Errorf("%s is not what was at %s (-before +after):\n%s", fx.rel(t, to), fx.rel(t, from), diff)
	}
}

// du is what du -s -B1 says of p: the disk it takes, allocated blocks, links not followed.
func du(t *testing.T, p string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-s", "-B1", p).Output()
	if err != nil {
		t.Fatalf("du -s -B1 %s: %v", p, err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du -s -B1 %s said %q", p, out)
	}
	return n
}

// checkSizes asserts every size the report gives is du's, and that the trash it lists is the trash
// on the volume, completely.
func checkSizes(t *testing.T, fx *initFixture, rep contract.Report) {
	t.Helper()
	if rep.Usage == nil {
		t.Fatalf("the report has no usage")
	}
	for _, m := range rep.Usage.Projects {
		want := du(t, fx.path(string(m.Dir)))
		t.Logf("project %s: reported %d bytes, du -s -B1 says %d", m.Dir, m.Bytes, want)
		if m.Bytes != want {
			t.Errorf("project %s: reported %d bytes, du -s -B1 says %d", m.Dir, m.Bytes, want)
		}
	}
	for _, e := range rep.Trash {
		if e.Bytes == -1 {
			continue
		}
		if want := du(t, fx.trashPath(e.ID, string(e.Dir))); e.Bytes != want {
			t.Errorf("trash entry %s: reported %d bytes, du -s -B1 says %d", entryName(e.ID, string(e.Dir)), e.Bytes, want)
		}
	}
	if !rep.TrashComplete {
		t.Errorf("the report's trash is not complete")
	}
	if diff := cmp.Diff(trashOnVolume(t, fx), trashNames(rep), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the report's trash is not the volume's (-volume +report):\n%s", diff)
	}
}

// assertNames asserts the folder p holds exactly the entries named.
func assertNames(t *testing.T, p string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s holds (-want +got):\n%s", p, diff)
	}
}

// trashOnVolume lists the trash's entries as the test sees them, oldest first.
func trashOnVolume(t *testing.T, fx *initFixture) []string {
	t.Helper()
	ids, _ := os.ReadDir(fx.path(contract.TrashFolder))
	var out []string
	for _, idEntry := range ids {
		id, ok := parseTrashID(idEntry.Name())
		if !ok || !idEntry.IsDir() {
			continue
		}
		dirs, _ := os.ReadDir(fx.path(contract.TrashFolder, idEntry.Name()))
		for _, d := range dirs {
			if d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				out = append(out, entryName(id, d.Name()))
			}
		}
	}
	sortTrashNames(out)
	return out
}

// sortTrashNames sorts trash entry names oldest first (by id as a number, then folder).
func sortTrashNames(names []string) {
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			a, _, _ := contract.ParseTrashEntryName(names[i])
			b, _, _ := contract.ParseTrashEntryName(names[j])
			if b < a || b == a && names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
}

func trashNames(rep contract.Report) []string {
	var out []string
	for _, e := range rep.Trash {
		out = append(out, entryName(e.ID, string(e.Dir)))
	}
	return out
}

// TestInitTrashRules: with EnvTrashDays, a queued deletion moves the project folder into the trash
// (TrashFolder/<id>/<dir>) whole, named by its deletion; EnvRestore puts an entry back (beside a
// project of its name, as contract.RestoredName), EnvPurge deletes one for good, and entries older
// than the trash days go for good at each start. Nothing else is ever moved or deleted, a bad input
// is a warning and loses nothing, and the report says exactly what the trash holds, with sizes equal
// to du's. Every case fails on the code before the trash (it had none, and reported no usage).
func TestInitTrashRules(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000 and make folders of root's")
	start := goInit(t)
	id := deletedAgo(2)
	type trashCase struct {
		name     string
		plant    func(t *testing.T, fx *initFixture)
		del, ids string
		env      []string
		project  string
		want     reportWant
		restored []contract.Restored
		purged   []int
		trash    []string
		check    func(t *testing.T, fx *initFixture, before map[string]treeEntry)
	}
	cases := []trashCase{
		{name: "without trash days a queued project is deleted at once, as before, and no trash is made",
			plant: func(t *testing.T, fx *initFixture) { userProject(t, fx, "gh_p", "work\n") },
			del:   "gh_p", ids: idText(id),
			want: seededReport(1),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_p"), fx.path(contract.TrashFolder))
				assertTombstones(t, fx, map[string]string{"gh_p": idText(id)})
			}},
		{name: "with trash days a queued project, read-only, moves into the trash whole, named by its deletion, and its tombstone is written",
			plant: func(t *testing.T, fx *initFixture) { readOnlyProject(t, fx.path("gh_p"), "work\n") },
			del:   "gh_p", ids: idText(id), env: []string{trashDays(30)},
			want: seededReport(1), trash: []string{entryName(id, "gh_p")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertMoved(t, fx, before, fx.path("gh_p"), fx.trashPath(id, "gh_p"))
				assertAbsent(t, fx.path("gh_p"))
				assertTombstones(t, fx, map[string]string{"gh_p": idText(id)})
			}},
		{name: "a deletion without an id goes into the trash under the start's own time, without a tombstone",
			plant: func(t *testing.T, fx *initFixture) { userProject(t, fx, "gh_p", "work\n") },
			del:   "gh_p", env: []string{trashDays(30)},
			want: seededReport(1), trash: []string{entryName(trashClock.UnixNano(), "gh_p")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertMoved(t, fx, before, fx.path("gh_p"), fx.trashPath(trashClock.UnixNano(), "gh_p"))
				assertTombstones(t, fx, nil)
			}},
		{name: "a queued folder of another user, which this user may not move, stays where it was, queued, with a warning",
			plant: func(t *testing.T, fx *initFixture) { undeletableProject(t, fx, "gh_root") },
			del:   "gh_root", ids: idText(id), env: []string{trashDays(30)},
			want: reportWant{kept: []int{1}, project: contract.ProjectSeeded, warnings: []string{"could not move project gh_root into the trash"}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_root")
				assertTombstones(t, fx, nil)
			}},
		{name: "a deletion carried out already (its start was stopped before the tombstone) never moves the folder seeded anew since",
			plant: func(t *testing.T, fx *initFixture) {
				trashedProject(t, fx, id, "gh_p", "deleted work\n")
				userProject(t, fx, "gh_p", "new work\n")
			},
			del: "gh_p", ids: idText(id), env: []string{trashDays(30)},
			want: seededReport(1), trash: []string{entryName(id, "gh_p")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_p")
				assertSubtreeUnchanged(t, fx, before, filepath.Join(contract.TrashFolder, idText(id)))
				assertTombstones(t, fx, map[string]string{"gh_p": idText(id)})
			}},
		{name: "a project deleted and restored at one start is back where it was, whole",
			plant: func(t *testing.T, fx *initFixture) { readOnlyProject(t, fx.path("gh_p"), "work\n") },
			del:   "gh_p", ids: idText(id), env: []string{trashDays(30), restoreEnv(entryName(id, "gh_p"))},
			want: seededReport(1), restored: []contract.Restored{{At: 1, As: "gh_p"}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_p")
			}},
		{name: "entries older than the trash days are deleted for good; younger ones, and one of exactly that age, stay",
			plant: func(t *testing.T, fx *initFixture) {
				trashedProject(t, fx, deletedAgo(31), "gh_a", "a\n")
				trashedProject(t, fx, deletedAgo(30), "gh_c", "c\n")
				trashedProject(t, fx, deletedAgo(29.9), "gh_b", "b\n")
			},
			env:  []string{trashDays(30)},
			want: seededReport(), trash: []string{entryName(deletedAgo(30), "gh_c"), entryName(deletedAgo(29.9), "gh_b")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path(contract.TrashFolder, idText(deletedAgo(31))))
				assertSubtreeUnchanged(t, fx, before, filepath.Join(contract.TrashFolder, idText(deletedAgo(30))))
				assertSubtreeUnchanged(t, fx, before, filepath.Join(contract.TrashFolder, idText(deletedAgo(29.9))))
			}},
		{name: "without trash days nothing in the trash expires (the trash turned off, or a webhook of an earlier version)",
			plant: func(t *testing.T, fx *initFixture) {
				trashedProject(t, fx, deletedAgo(400), "gh_a", "a\n")
			},
			want: seededReport(), trash: []string{entryName(deletedAgo(400), "gh_a")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, contract.TrashFolder)
			}},
		{name: "a restored project, read-only, goes back under its own name, whole",
			plant: func(t *testing.T, fx *initFixture) {
				readOnlyProject(t, fx.trashPath(id, "gh_r"), "old work\n")
				chownTree(t, fx.path(contract.TrashFolder), userUID, userGID)
			},
			env:  []string{trashDays(30), restoreEnv(entryName(id, "gh_r"))},
			want: seededReport(), restored: []contract.Restored{{At: 1, As: "gh_r"}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertMoved(t, fx, before, fx.trashPath(id, "gh_r"), fx.path("gh_r"))
				// Only the restore's record is left, for a start handed the same restore after a kill.
				assertNames(t, fx.path(contract.TrashFolder, idText(id)), restoredPrefix+"gh_r")
			}},
		{name: "a restored project whose name is taken goes beside it, and the project of that name stays as it is",
			plant: func(t *testing.T, fx *initFixture) {
				trashedProject(t, fx, id, "gh_r", "old work\n")
				userProject(t, fx, "gh_r", "new work\n")
			},
			env:  []string{restoreEnv(entryName(id, "gh_r"))},
			want: seededReport(), restored: []contract.Restored{{At: 1, As: contract.RestoredName("gh_r", id)}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertMoved(t, fx, before, fx.trashPath(id, "gh_r"), fx.path(string(contract.RestoredName("gh_r", id))))
				assertSubtreeUnchanged(t, fx, before, "gh_r")
			}},
		{name: "a restore where both names are taken stays in the trash, with a warning that says what to do",
			plant: func(t *testing.T, fx *initFixture) {
				trashedProject(t, fx, id, "gh_r", "old work\n")
				userProject(t, fx, "gh_r", "new work\n")
				userProject(t, fx, string(contract.RestoredName("gh_r", id)), "other work\n")
			},
			env:   []string{restoreEnv(entryName(id, "gh_r"))},
			want:  reportWant{project: contract.ProjectSeeded, warnings: []string{"could not restore project gh_r (trash entry " + entryName(id, "gh_r") + ", deleted on "}},
			trash: []string{entryName(id, "gh_r")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, contract.TrashFolder)
				assertSubtreeUnchanged(t, fx, before, "gh_r")
			}},
		{name: "a restore of an entry that is not in the trash is a warning",
			env:  []string{restoreEnv(entryName(id, "gh_x"))},
			want: reportWant{project: contract.ProjectSeeded, warnings: []string{"could not restore project gh_x (trash entry " + entryName(id, "gh_x") + ", deleted on 2026-12-04 12:00 UTC): it is not in the trash"}}},
		{name: "the launched project restored from the trash starts as it was, not seeded anew",
			plant:   func(t *testing.T, fx *initFixture) { trashedProject(t, fx, id, initProject, "my work\n") },
			env:     []string{restoreEnv(entryName(id, initProject))},
			project: initProject,
			want:    reportWant{project: contract.ProjectExisted}, restored: []contract.Restored{{At: 1, As: initProject}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertMoved(t, fx, before, fx.trashPath(id, initProject), fx.path(initProject))
			}},
		{name: "purged entries are deleted for good, read-only ones too; one not in the trash counts as purged; one also to be restored is restored, not deleted",
			plant: func(t *testing.T, fx *initFixture) {
				readOnlyProject(t, fx.trashPath(deletedAgo(3), "gh_a"), "a\n")
				trashedProject(t, fx, id, "gh_b", "b\n")
			},
			env:      []string{purgeEnv(entryName(deletedAgo(3), "gh_a"), entryName(5, "gh_none"), entryName(id, "gh_b")), restoreEnv(entryName(id, "gh_b"))},
			want:     reportWant{project: contract.ProjectSeeded, warnings: []string{"trash entry " + entryName(id, "gh_b") + " is to be both restored and deleted for good: it is not deleted"}},
			restored: []contract.Restored{{At: 1, As: "gh_b"}}, purged: []int{1, 2},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertNames(t, fx.path(contract.TrashFolder), idText(id))
				assertNames(t, fx.path(contract.TrashFolder, idText(id)), restoredPrefix+"gh_b")
				assertMoved(t, fx, before, fx.trashPath(id, "gh_b"), fx.path("gh_b"))
			}},
		{name: "trash days that are not valid keep the queued deletions queued and expire nothing, with a warning",
			plant: func(t *testing.T, fx *initFixture) {
				userProject(t, fx, "gh_p", "work\n")
				trashedProject(t, fx, deletedAgo(400), "gh_a", "a\n")
			},
			del: "gh_p", ids: idText(id), env: []string{contract.EnvTrashDays + "=3651"},
			want:  reportWant{kept: []int{1}, project: contract.ProjectSeeded, warnings: []string{"BINDER_PROJECTS_TRASH_DAYS is not a number of days from 0 to 3650: the queued projects are not deleted at this start (they stay queued), and nothing in the trash expires"}},
			trash: []string{entryName(deletedAgo(400), "gh_a")},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_p")
				assertSubtreeUnchanged(t, fx, before, contract.TrashFolder)
			}},
		{name: "trash entries that are not valid, or repeated, are ignored with warnings; the valid ones are done",
			plant: func(t *testing.T, fx *initFixture) { trashedProject(t, fx, id, "gh_r", "r\n") },
			env:   []string{restoreEnv("gh_r", "0/gh_r", entryName(id, "gh_r"), entryName(id, "gh_r")), purgeEnv("../../etc/passwd", "1/..")},
			want: reportWant{project: contract.ProjectSeeded, warnings: []string{
				"BINDER_PROJECTS_RESTORE holds entries that are not trash entries (<id>/<folder>) at positions 1 2 of 4: they are ignored",
				"BINDER_PROJECTS_RESTORE names a trash entry again at positions 4 of 4: it is restored once, at its first position",
				"BINDER_PROJECTS_PURGE holds entries that are not trash entries (<id>/<folder>) at positions 1 2 of 2: they are ignored"}},
			restored: []contract.Restored{{At: 3, As: "gh_r"}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertMoved(t, fx, before, fx.trashPath(id, "gh_r"), fx.path("gh_r"))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			if tc.plant != nil {
				tc.plant(t, fx)
			}
			project := tc.project
			if project == "" {
				project = "gh_launched"
			}
			env := append(fx.env(project, tc.del, tc.env...), clockEnv())
			if tc.ids != "" {
				env = append(env, deleteIDs(tc.ids))
			}
			before := snapshotTree(t, fx.base)
			res := start.run(t, env, true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d, want 0", res.code)
			}
			fx.checkLog(t, res)
			rep := checkReport(t, res, readTestFile(t, fx.report), tc.want)
			if diff := cmp.Diff(tc.restored, rep.Restored, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("restored (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.purged, rep.Purged, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("purged (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.trash, trashNames(rep), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("the trash after the start (-want +got):\n%s", diff)
			}
			checkSizes(t, fx, rep)
			fx.checkCommon(t, before)
			assertOutsideUnchanged(t, fx, before)
			if tc.check != nil {
				tc.check(t, fx, before)
			}
		})
	}
}

// frozenProject builds a project as a user leaves one after weeks of work: many files, folders and
// files without write permission, the project folder itself read-only.
func frozenProject(t *testing.T, p string) {
	t.Helper()
	addFiles(t, filepath.Join(p, "results"), 200, &[2]int{userUID, userGID})
	buildTree(t, p, &[2]int{userUID, userGID}, treeDir(".", 0o555), treeFile("notes.txt", 0o444, "notes\n"),
		treeDir("frozen", 0o555), treeDir("frozen/a", 0o500), treeFile("frozen/a/x", 0o400, "x"))
}

// whereIs says where the folder that was at one of places (in before) is now, whole: the index of the
// one place that holds it, or -1 (and a test error) if none or more than one does.
func whereIs(t *testing.T, fx *initFixture, before map[string]treeEntry, was string, places ...string) int {
	t.Helper()
	want := subTree(before, fx.rel(t, was))
	after := snapshotTree(t, fx.base)
	found := -1
	for i, p := range places {
		got := subTree(after, fx.rel(t, p))
		if len(got) == 0 {
			continue
		}
		if diff := diffTrees(want, got); diff != "" {
			t.Errorf("%s holds part of the folder, or another (-was +now):\n%s", fx.rel(t, p), diff)
			return -1
		}
		if found >= 0 {
			t.Errorf("the folder is both at %s and at %s", places[found], p)
			return -1
		}
		found = i
	}
	if found < 0 {
		t.Errorf("the folder is at none of %v: lost", places)
	}
	return found
}

// rerun is the start after a kill: the same inputs, as kubelet runs the init container again; it
// must end ready.
func rerun(t *testing.T, start starter, fx *initFixture, env []string) initResult {
	t.Helper()
	fx.resetReport(t)
	res := start.run(t, env, true)
	if res.code != 0 {
		t.Fatalf("the next start: exit %d\n%s", res.code, res.out)
	}
	return res
}

// bothSides asserts that the kills of a sweep of n crash points landed on both sides of its move:
// states counts where the folder was right after each kill.
func bothSides(t *testing.T, n int, states map[string]int, before, after string) {
	t.Helper()
	t.Logf("%d crash points; right after the kill: %v", n, states)
	if states[before] == 0 || states[after] == 0 {
		t.Errorf("the kills did not land both %s and %s: %v", before, after, states)
	}
}

// TestATrashMoveKilledAtAnyPointLeavesTheFolderWhereItWasOrInTheTrash: a start killed with SIGKILL at
// every crash point of a deletion into the trash leaves the project folder (read-only, recorded, with
// many files) either where it was or in the trash, whole, never both, never half-moved or lost; its
// manifest is in one place, never in the trash before the folder; the next start ends with it in the
// trash, with its manifest or (killed between the two moves) without one, never another, its
// tombstone written and nothing left behind.
func TestATrashMoveKilledAtAnyPointLeavesTheFolderWhereItWasOrInTheTrash(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	id := deletedAgo(1)
	var before map[string]treeEntry
	var manifest string
	prepare := func() (*initFixture, []string) {
		fx := newInitFixture(t)
		if res := start.run(t, fx.env("gh_p", "", commitEnv(commitA)), true); res.code != 0 {
			t.Fatalf("seeding gh_p: exit %d\n%s", res.code, res.out)
		}
		manifest = readTestFile(t, ManifestPath(fx.root, "gh_p"))
		frozenProject(t, fx.path("gh_p"))
		userProject(t, fx, "gh_q", "q\n")
		before = snapshotTree(t, fx.base)
		return fx, fx.env("gh_q", "gh_p", deleteIDs(idText(id)), trashDays(30), clockEnv(), podEnv("jupyter-user-a"))
	}
	states, manifests := map[string]int{}, map[string]int{}
	n := sweep(t, start, prepare, func(t *testing.T, fx *initFixture, env []string, n int) {
		where := []string{"lost", "where it was", "in the trash"}[1+whereIs(t, fx, before, fx.path("gh_p"), fx.path("gh_p"), fx.trashPath(id, "gh_p"))]
		states[where]++
		switch inSeeds, inTrash := manifestAt(fx, ManifestPath(fx.root, "gh_p"), manifest), manifestAt(fx, fx.trashManifestPath(id, "gh_p"), manifest); {
		case inSeeds == inTrash:
			t.Errorf("right after the kill the manifest is in the trash: %v, and at the volume root: %v; want one", inTrash, inSeeds)
		case inTrash && where != "in the trash":
			t.Errorf("right after the kill the manifest is in the trash, the folder %s", where)
		}
		res := rerun(t, start, fx, env)
		rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: contract.ProjectExisted})
		if diff := cmp.Diff([]string{entryName(id, "gh_p")}, trashNames(rep)); diff != "" {
			t.Errorf("the report's trash (-want +got):\n%s", diff)
		}
		assertMoved(t, fx, before, fx.path("gh_p"), fx.trashPath(id, "gh_p"))
		assertAbsent(t, fx.path("gh_p"), ManifestPath(fx.root, "gh_p"))
		if manifestAt(fx, fx.trashManifestPath(id, "gh_p"), manifest) {
			manifests["with its manifest"]++
		} else {
			assertAbsent(t, fx.trashManifestPath(id, "gh_p"))
			manifests["without a manifest"]++
		}
		assertTombstones(t, fx, map[string]string{"gh_p": idText(id)})
		assertNoLeftovers(t, fx)
	})
	bothSides(t, n, states, "where it was", "in the trash")
	t.Logf("in the trash after the next start: %v", manifests)
	if manifests["with its manifest"] == 0 {
		t.Errorf("no start ended with the manifest in the trash: %v", manifests)
	}
}

// manifestAt says whether the file at p holds the manifest want.
func manifestAt(fx *initFixture, p, want string) bool {
	got, err := readRegular(p)
	return err == nil && got == want
}

// TestARestoreKilledAtAnyPointLeavesTheFolderInTheTrashOrRestored: a start killed at every crash point
// of a restore (to its own name, and beside a project of its name) leaves the folder whole, either in
// the trash or where it is restored to, and its manifest in the trash or beside it, never a manifest
// of another project beside it (a stale one at its name is dropped first); the next start (same
// inputs, as kubelet runs the init container again) reports where it went, even when the killed one
// had moved it already, and brings its manifest.
func TestARestoreKilledAtAnyPointLeavesTheFolderInTheTrashOrRestored(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	id := deletedAgo(1)
	for _, taken := range []bool{false, true} {
		as := "gh_r"
		if taken {
			as = string(contract.RestoredName("gh_r", id))
		}
		t.Run("restored as "+as, func(t *testing.T) {
			var before map[string]treeEntry
			const entryManifest, otherManifest = "the manifest of the entry\n", "the manifest of the other gh_r\n"
			prepare := func() (*initFixture, []string) {
				fx := newInitFixture(t)
				frozenProject(t, fx.trashPath(id, "gh_r"))
				writeTestFile(t, fx.trashManifestPath(id, "gh_r"), entryManifest)
				chownTree(t, fx.path(contract.TrashFolder), userUID, userGID)
				if taken {
					userProject(t, fx, "gh_r", "new work\n")
				}
				// The project of that name's, or (not taken) a stale one of an earlier gh_r.
				writeManifestFile(t, fx, "gh_r", staleManifest)
				writeTestFile(t, ManifestPath(fx.root, "gh_r"), otherManifest)
				userProject(t, fx, "gh_q", "q\n")
				before = snapshotTree(t, fx.base)
				return fx, fx.env("gh_q", "", restoreEnv(entryName(id, "gh_r")), trashDays(30), clockEnv(), podEnv("jupyter-user-a"))
			}
			states := map[string]int{}
			n := sweep(t, start, prepare, func(t *testing.T, fx *initFixture, env []string, n int) {
				where := []string{"lost", "in the trash", "restored"}[1+whereIs(t, fx, before, fx.trashPath(id, "gh_r"), fx.trashPath(id, "gh_r"), fx.path(as))]
				states[where]++
				inSeeds, inTrash := manifestAt(fx, ManifestPath(fx.root, as), entryManifest), manifestAt(fx, fx.trashManifestPath(id, "gh_r"), entryManifest)
				if inSeeds == inTrash || inSeeds && where != "restored" {
					t.Errorf("right after the kill the folder is %s, its manifest in the trash: %v, beside it: %v", where, inTrash, inSeeds)
				}
				if where == "restored" && !inSeeds {
					assertAbsent(t, ManifestPath(fx.root, as)) // never the stale one
				}
				res := rerun(t, start, fx, env)
				rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
				if diff := cmp.Diff([]contract.Restored{{At: 1, As: contract.ProjectDir(as)}}, rep.Restored); diff != "" {
					t.Errorf("restored (-want +got):\n%s", diff)
				}
				assertMoved(t, fx, before, fx.trashPath(id, "gh_r"), fx.path(as))
				assertManifestFile(t, ManifestPath(fx.root, as), entryManifest)
				assertAbsent(t, fx.trashManifestPath(id, "gh_r"))
				if taken {
					assertSubtreeUnchanged(t, fx, before, "gh_r")
					assertSubtreeUnchanged(t, fx, before, filepath.Join(SeedsDir, "gh_r"))
				}
				if len(rep.Trash) != 0 || len(trashOnVolume(t, fx)) != 0 {
					t.Errorf("the trash still holds %v", trashOnVolume(t, fx))
				}
				assertNoLeftovers(t, fx)
			})
			bothSides(t, n, states, "in the trash", "restored")
		})
	}
}

// TestAPurgeKilledAtAnyPointLeavesTheEntryWholeOrGone: a start killed at every crash point of a
// deletion for good from the trash leaves the entry whole in the trash, with its manifest, or out of
// it (what is left of it under its reserved name is no entry); the next start reports it deleted and
// leaves nothing of it, its manifest neither; the other entry keeps its own.
func TestAPurgeKilledAtAnyPointLeavesTheEntryWholeOrGone(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	id := deletedAgo(1)
	var before map[string]treeEntry
	prepare := func() (*initFixture, []string) {
		fx := newInitFixture(t)
		frozenProject(t, fx.trashPath(id, "gh_x"))
		trashedProject(t, fx, id, "gh_y", "y\n")
		for _, dir := range []string{"gh_x", "gh_y"} {
			writeTestFile(t, fx.trashManifestPath(id, dir), "the manifest of "+dir+"\n")
		}
		chownTree(t, fx.path(contract.TrashFolder), userUID, userGID)
		userProject(t, fx, "gh_q", "q\n")
		before = snapshotTree(t, fx.base)
		return fx, fx.env("gh_q", "", purgeEnv(entryName(id, "gh_x")), trashDays(30), clockEnv(), podEnv("jupyter-user-a"))
	}
	states := map[string]int{}
	n := sweep(t, start, prepare, func(t *testing.T, fx *initFixture, env []string, n int) {
		if _, err := os.Lstat(fx.trashPath(id, "gh_x")); err == nil {
			assertMoved(t, fx, before, fx.trashPath(id, "gh_x"), fx.trashPath(id, "gh_x"))
			assertManifestFile(t, fx.trashManifestPath(id, "gh_x"), "the manifest of gh_x\n")
			states["whole"]++
		} else {
			states["gone"]++
		}
		res := rerun(t, start, fx, env)
		rep := checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectExisted})
		if diff := cmp.Diff([]int{1}, rep.Purged); diff != "" {
			t.Errorf("purged (-want +got):\n%s", diff)
		}
		assertNames(t, fx.path(contract.TrashFolder, idText(id)), seedPrefix+"gh_y", "gh_y")
		assertSubtreeUnchanged(t, fx, before, filepath.Join(contract.TrashFolder, idText(id), "gh_y"))
		assertSubtreeUnchanged(t, fx, before, filepath.Join(contract.TrashFolder, idText(id), seedPrefix+"gh_y"))
	})
	bothSides(t, n, states, "whole", "gone")
}

// TestInitFullVolumeWithTrash: on a full ext4 volume (loop-mounted from a file), the trash never locks
// a user out: a seed that finds no space deletes the oldest trash entry for good (a warning says which)
// and the newer ones stay; a queued project still goes into the trash (room is made the same way);
// and with an empty trash it is deleted for good, as without the trash: a full volume is still
// cleaned. Each fails on the code before (which had no trash: the seed failed for want of space).
func TestInitFullVolumeWithTrash(t *testing.T) {
	requireRoot(t, "to make and loop-mount an ext4 file system")
	old, newer := deletedAgo(10), deletedAgo(5)
	bigProject := func(t *testing.T, p string) {
		payload := strings.Repeat("0123456789abcdef", 1<<16)
		nodes := []treeNode{treeDir(".", 0o755)}
		for i := range 6 {
			nodes = append(nodes, treeFile("data/part"+strconv.Itoa(i)+".bin", 0o644, payload))
		}
		buildTree(t, p, &[2]int{userUID, userGID}, nodes...)
		chownTree(t, p, userUID, userGID)
	}
	for _, tc := range []struct {
		name    string
		trashed []int64
		del     string
		warn    []string
		trash   []string
	}{
		{name: "a full volume with trashed projects still seeds a new project: the oldest trash entry goes first",
			trashed: []int64{old, newer},
			warn:    []string{"project gh_t, in the trash since " + dateOf(old) + " (trash entry " + entryName(old, "gh_t") + "), was deleted for good to make room for project " + initProject},
			trash:   []string{entryName(newer, "gh_t")}},
		{name: "a queued project still goes into the trash of a full volume: the oldest entry makes room",
			trashed: []int64{old}, del: "gh_big",
			warn:  []string{"was deleted for good to make room in the trash for project gh_big"},
			trash: []string{entryName(deletedAgo(1), "gh_big")}},
		{name: "a queued project on a full volume with an empty trash is deleted for good, as without the trash",
			del:  "gh_big",
			warn: []string{"and the trash holds nothing to delete for good to make room: project gh_big is deleted for good, not kept in the trash"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newInitFixture(t)
			fx.rootOnExt4(t, 32<<20)
			for _, id := range tc.trashed {
				bigProject(t, fx.trashPath(id, "gh_t"))
			}
			if len(tc.trashed) > 0 {
				chownTree(t, fx.path(contract.TrashFolder), userUID, userGID)
			}
			if tc.del != "" {
				bigProject(t, fx.path(tc.del))
			}
			fillVolume(t, fx.root)
			before := snapshotTree(t, fx.base)
			env := fx.env(initProject, tc.del, commitEnv(commitA), trashDays(30), clockEnv())
			if tc.del != "" {
				env = append(env, deleteIDs(idText(deletedAgo(1))))
			}
			res := goInit(t).run(t, env, true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d, want 0", res.code)
			}
			want := seededReport()
			if tc.del != "" {
				want = seededReport(1)
			}
			want.warnings = tc.warn
			rep := checkReport(t, res, readTestFile(t, fx.report), want)
			if diff := cmp.Diff(tc.trash, trashNames(rep), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("the trash after the start (-want +got):\n%s", diff)
			}
			checkSizes(t, fx, rep)
			fx.checkCommon(t, before)
			assertCopyOfHome(t, fx, initProject)
			fx.checkManifest(t, initProject, commitA)
			if len(tc.trashed) == 2 {
				assertSubtreeUnchanged(t, fx, before, filepath.Join(contract.TrashFolder, idText(newer)))
			}
			if tc.del != "" {
				assertAbsent(t, fx.path(tc.del))
				if len(tc.trash) > 0 {
					assertMoved(t, fx, before, fx.path(tc.del), fx.trashPath(deletedAgo(1), tc.del))
				}
			}
		})
	}
}

// TestStartsAtOnceTrashOneDeletionOnce: starts handed the same deletion at the same time (the pods of
// a user's named servers) move the folder into the trash once, whole, with its manifest; each reports
// it deleted, none moves anything else (none removes the manifest as the record of a project gone),
// and the trash holds one entry.
func TestStartsAtOnceTrashOneDeletionOnce(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	for round := range 3 {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			fx := newInitFixture(t)
			if res := start.run(t, fx.env("gh_p", "", commitEnv(commitA)), true); res.code != 0 {
				t.Fatalf("seeding gh_p: exit %d\n%s", res.code, res.out)
			}
			manifest := readTestFile(t, ManifestPath(fx.root, "gh_p"))
			frozenProject(t, fx.path("gh_p"))
			id := deletedAgo(1)
			before := snapshotTree(t, fx.base)
			type started struct {
				out    *syncBuffer
				done   <-chan error
				report string
			}
			var starts []started
			for i := range 4 {
				report := filepath.Join(sharedTempDir(t), "termination-log")
				makeReportFile(t, report)
				env := append(fx.env(fmt.Sprintf("gh_launch_%d", i), "gh_p", trashDays(30), clockEnv(), deleteIDs(idText(id)), podEnv(fmt.Sprintf("jupyter-user-%d", i))),
					contract.EnvReport+"="+report)
				out, done := startInBackground(t, start.command(env, true))
				starts = append(starts, started{out, done, report})
			}
			for _, s := range starts {
				res := waitForEnd(t, s.out, s.done)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				checkReport(t, res, readTestFile(t, s.report), seededReport(1))
			}
			assertMoved(t, fx, before, fx.path("gh_p"), fx.trashPath(id, "gh_p"))
			assertManifestFile(t, fx.trashManifestPath(id, "gh_p"), manifest)
			assertAbsent(t, ManifestPath(fx.root, "gh_p"))
			if diff := cmp.Diff([]string{entryName(id, "gh_p")}, trashOnVolume(t, fx)); diff != "" {
				t.Errorf("the trash (-want +got):\n%s", diff)
			}
			assertTombstones(t, fx, map[string]string{"gh_p": idText(id)})
			assertNoLeftovers(t, fx)
		})
	}
}

// TestWorkHandedAgainToALaterStartIsReportedDoneAgain: what a start did of the work handed to it may
// be cut from its report (contract.Report.Encode), and the controller then keeps it queued, so a
// later start is handed it again. That start reports it done again and does nothing more: a deletion
// by its tombstone (even with the project launched anew since), a restore by its record (to its own
// name, and beside the project that took its name), a purge because the entry is gone. Only a restore
// whose record is gone (24 hours on) can no longer be told from one never done: a warning, and no
// report; which is why Encode cuts restores last, and the webhook hands no more than always fit.
func TestWorkHandedAgainToALaterStartIsReportedDoneAgain(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000")
	start := goInit(t)
	deletion, restore, taken, purge := deletedAgo(0.5), deletedAgo(1), deletedAgo(2), deletedAgo(3)
	fx := newInitFixture(t)
	userProject(t, fx, "gh_d", "deleted work\n")
	trashedProject(t, fx, restore, "gh_r", "restored work\n")
	trashedProject(t, fx, taken, "gh_t", "restored beside\n")
	userProject(t, fx, "gh_t", "the project that took its name\n")
	trashedProject(t, fx, purge, "gh_p", "purged work\n")
	restoredAs := contract.RestoredName("gh_t", taken)
	run := func(t *testing.T, now time.Time, want reportWant, restored []contract.Restored) contract.Report {
		t.Helper()
		fx.resetReport(t)
		res := start.run(t, append(fx.env("gh_q", "gh_d", deleteIDs(idText(deletion)), trashDays(30), podEnv("jupyter-user-a"),
			restoreEnv(entryName(restore, "gh_r"), entryName(taken, "gh_t")),
			purgeEnv(entryName(purge, "gh_p"), entryName(5, "gh_never_there"))),
			TestNowEnv+"="+strconv.FormatInt(now.UnixNano(), 10)), true)
		t.Logf("output:\n%s", res.out)
		if res.code != 0 {
			t.Fatalf("exit status %d, want 0", res.code)
		}
		rep := checkReport(t, res, readTestFile(t, fx.report), want)
		if diff := cmp.Diff(restored, rep.Restored, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{1, 2}, rep.Purged); diff != "" {
			t.Errorf("purged (-want +got):\n%s", diff)
		}
		return rep
	}
	restored := []contract.Restored{{At: 1, As: "gh_r"}, {At: 2, As: restoredAs}}
	before := snapshotTree(t, fx.base)
	run(t, trashClock, reportWant{deleted: []int{1}, project: contract.ProjectSeeded}, restored)
	assertMoved(t, fx, before, fx.path("gh_d"), fx.trashPath(deletion, "gh_d"))
	assertMoved(t, fx, before, fx.trashPath(restore, "gh_r"), fx.path("gh_r"))
	assertMoved(t, fx, before, fx.trashPath(taken, "gh_t"), fx.path(string(restoredAs)))
	assertAbsent(t, fx.trashPath(purge, "gh_p"))

	t.Run("a later start handed the same work reports it done again, and changes nothing", func(t *testing.T) {
		userProject(t, fx, "gh_d", "the deleted project launched anew\n")
		before := snapshotTree(t, fx.base)
		run(t, trashClock.Add(time.Hour), reportWant{deleted: []int{1}, project: contract.ProjectExisted}, restored)
		assertSubtreeUnchanged(t, fx, before, "")
	})
	t.Run("once a restore's record is gone, a restore handed again is a warning and not reported", func(t *testing.T) {
		// The record is removed by a start a day after it was written (by the file's time); the start
		// reads it first, so it takes a start to remove it and one more to see it gone.
		dayOn := time.Now().Add(25 * time.Hour)
		run(t, dayOn, reportWant{deleted: []int{1}, project: contract.ProjectExisted}, restored)
		notThere := func(e string) string { return "could not restore project " + e }
		run(t, dayOn, reportWant{deleted: []int{1}, project: contract.ProjectExisted,
			warnings: []string{notThere("gh_r"), notThere("gh_t")}}, nil)
	})
}
