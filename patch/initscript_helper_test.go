package patch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/volume"
)

// The init script with the helper: our real binary (cmd/binder-projects, built once for this test,
// CGO_ENABLED=0 as in the image), run by the script under dash, bash and busybox, as the notebook user.

// buildHelper builds the binder-projects command into a folder the notebook user can enter.
func buildHelper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(sharedTempDir(t, "helper-"), "binder-projects")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/binder-projects")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/binder-projects: %v\n%s", err, out)
	}
	return bin
}

const (
	commitA = "aaaaaaa1111"
	commitB = "bbbbbbb2222"
)

func helperEnv(helper, commit string) []string {
	return []string{EnvHelper + "=" + helper, EnvCommit + "=" + commit}
}

var updateRequest = EnvUpdate + "=1"

// changeHome makes the image's home that of a newer commit: README.md and bin/run.sh changed, a file
// added in an existing folder.
func changeHome(t *testing.T, fx *initFixture) {
	t.Helper()
	writeTestFile(t, filepath.Join(fx.source, "README.md"), "# requirements, version 2\n")
	writeTestFile(t, filepath.Join(fx.source, "bin", "run.sh"), "#!/bin/sh\necho run, version 2\n")
	writeTestFile(t, filepath.Join(fx.source, "data", "new.csv"), "c,d\n3,4\n")
	chownTree(t, fx.source, notebookUID, notebookGID)
}

func readManifest(t *testing.T, fx *initFixture, project string) *volume.Manifest {
	t.Helper()
	m, err := volume.ReadManifest(fx.root, project)
	if err != nil {
		t.Fatalf("the manifest of %s: %v", project, err)
	}
	return m
}

func TestInitScriptWithTheHelper(t *testing.T) {
	requireRootFor(t, "to run the script and the helper as uid 1000")
	helper := buildHelper(t)
	for _, sh := range initShells(t) {
		t.Run(sh.name, func(t *testing.T) {
			t.Run("a new project's seed is recorded, and an update to a new commit keeps the user's edits", func(t *testing.T) {
				fx := newInitFixture(t)
				before := snapshotTree(t, fx.base)
				res := sh.run(t, append(fx.env(initProject, ""), helperEnv(helper, commitA)...), true)
				if res.code != 0 {
					t.Fatalf("seed: exit %d\n%s", res.code, res.out)
				}
				fx.checkCommon(t, before)
				fx.checkLog(t, res, "binder-projects: recorded what project "+initProject+" was seeded with at commit "+commitA)
				checkReport(t, res, readTestFile(t, fx.report), seededReport())
				assertCopyOfHome(t, fx, initProject)
				m := readManifest(t, fx, initProject)
				if m.Commit != commitA || len(m.Entries) == 0 {
					t.Fatalf("manifest commit %q with %d entries, want commit %s and the home's entries", m.Commit, len(m.Entries), commitA)
				}

				// The user edits README.md; the new commit changes it and bin/run.sh and adds data/new.csv.
				writeTestFile(t, fx.path(initProject, "README.md"), "my own notes\n")
				chownTree(t, fx.path(initProject), notebookUID, notebookGID)
				changeHome(t, fx)
				fx.resetReport(t)
				before = snapshotTree(t, fx.base)
				res = sh.run(t, append(fx.env(initProject, ""), append(helperEnv(helper, commitB), updateRequest)...), true)
				if res.code != 0 {
					t.Fatalf("update: exit %d\n%s", res.code, res.out)
				}
				fx.checkCommon(t, before)
				fx.checkLog(t, res, "binder-projects: kept your README.md; the commit's version is README.bbbbbbb.md")
				raw := readTestFile(t, fx.report)
				checkReport(t, res, raw, reportWant{project: ReportProjectExisted, update: ReportUpdateUpdated})
				got, _ := ParseInitReport(raw)
				want := &UpdateReport{State: ReportUpdateUpdated, Commit: commitB, From: commitA, Counted: true, Replaced: 1, Added: 1, Kept: 1, Beside: 1}
				if diff := cmp.Diff(want, got.Update); diff != "" {
					t.Errorf("the update's report (-want +got):\n%s\nreport:\n%s", diff, raw)
				}
				for p, content := range map[string]string{
					"README.md":               "my own notes\n",
					"README.bbbbbbb.md":       "# requirements, version 2\n",
					"bin/run.sh":              "#!/bin/sh\necho run, version 2\n",
					"data/new.csv":            "c,d\n3,4\n",
					"binder/postBuild":        "#!/bin/sh\necho built > built.txt\n",
					"notes with spaces.ipynb": "{}",
				} {
					if got := readTestFile(t, fx.path(initProject, p)); got != content {
						t.Errorf("after the update, %s holds %q, want %q", p, got, content)
					}
				}
				if m := readManifest(t, fx, initProject); m.Commit != commitB {
					t.Errorf("after the update the manifest records commit %q, want %s", m.Commit, commitB)
				}
				assertAbsent(t, fx.path(volume.UpdatesDir, initProject))

				// The same update again changes nothing.
				fx.resetReport(t)
				afterUpdate := snapshotTree(t, fx.path(initProject))
				res = sh.run(t, append(fx.env(initProject, ""), append(helperEnv(helper, commitB), updateRequest)...), true)
				if res.code != 0 {
					t.Fatalf("second update: exit %d\n%s", res.code, res.out)
				}
				raw = readTestFile(t, fx.report)
				checkReport(t, res, raw, reportWant{project: ReportProjectExisted, update: ReportUpdateUpdated})
				got, _ = ParseInitReport(raw)
				if diff := cmp.Diff(&UpdateReport{State: ReportUpdateUpdated, Commit: commitB, From: commitB, Counted: true}, got.Update); diff != "" {
					t.Errorf("the second update's report (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(afterUpdate, snapshotTree(t, fx.path(initProject))); diff != "" {
					t.Errorf("the second update changed the project (-before +after):\n%s", diff)
				}
			})

			t.Run("an update asked for on a new project is not needed", func(t *testing.T) {
				fx := newInitFixture(t)
				res := sh.run(t, append(fx.env(initProject, ""), append(helperEnv(helper, commitA), updateRequest)...), true)
				if res.code != 0 {
					t.Fatalf("exit %d\n%s", res.code, res.out)
				}
				want := seededReport()
				want.update = ReportUpdateNotNeeded
				checkReport(t, res, readTestFile(t, fx.report), want)
				if m := readManifest(t, fx, initProject); m.Commit != commitA {
					t.Errorf("manifest commit %q, want %s", m.Commit, commitA)
				}
			})

			t.Run("without the helper, nothing is recorded and an update request is a warning", func(t *testing.T) {
				fx := newInitFixture(t)
				notExecutable := filepath.Join(fx.base, "not-executable")
				writeTestFile(t, notExecutable, "#!/bin/sh\nexit 0\n")
				for _, env := range [][]string{
					{EnvCommit + "=" + commitA},
					{EnvHelper + "=" + notExecutable, EnvCommit + "=" + commitA},
					{EnvHelper + "=binder-projects", EnvCommit + "=" + commitA},
				} {
					fx.resetReport(t)
					_ = os.RemoveAll(fx.path(initProject))
					res := sh.run(t, append(fx.env(initProject, ""), env...), true)
					if res.code != 0 {
						t.Fatalf("%v: exit %d\n%s", env, res.code, res.out)
					}
					checkReport(t, res, readTestFile(t, fx.report), seededReport())
					assertCopyOfHome(t, fx, initProject)
					assertAbsent(t, fx.path(volume.SeedsDir), fx.path(volume.UpdatesDir))

					changeHome(t, fx)
					fx.resetReport(t)
					before := snapshotTree(t, fx.base)
					res = sh.run(t, append(fx.env(initProject, ""), append(env, updateRequest)...), true)
					if res.code != 0 {
						t.Fatalf("%v, update: exit %d\n%s", env, res.code, res.out)
					}
					fx.checkCommon(t, before)
					checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectExisted, update: ReportUpdateUnavailable,
						warnings: []string{"updates need the helper (binder-projects), which this start does not have"}})
					if diff := cmp.Diff(subTree(before, "projects/"+initProject), snapshotTree(t, fx.path(initProject))); diff != "" {
						t.Errorf("%v: the project changed (-before +after):\n%s", env, diff)
					}
					assertAbsent(t, fx.path(volume.SeedsDir), fx.path(volume.UpdatesDir))
					// The home's original again, for the next round's seed.
					newInitHome(t, fx)
				}
			})

			t.Run("a failing update (a read-only folder) is a warning and the server starts on the unchanged project", func(t *testing.T) {
				fx := newInitFixture(t)
				res := sh.run(t, append(fx.env(initProject, ""), helperEnv(helper, commitA)...), true)
				if res.code != 0 {
					t.Fatalf("seed: exit %d\n%s", res.code, res.out)
				}
				changeHome(t, fx)
				if err := os.Chmod(fx.path(initProject, "data"), 0o555); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = os.Chmod(fx.path(initProject, "data"), 0o755) })
				fx.resetReport(t)
				before := snapshotTree(t, fx.base)
				res = sh.run(t, append(fx.env(initProject, ""), append(helperEnv(helper, commitB), updateRequest)...), true)
				if res.code != 0 {
					t.Fatalf("exit %d, want 0 (a failed update must not block the start)\n%s", res.code, res.out)
				}
				fx.checkCommon(t, before)
				checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectExisted, update: ReportUpdateFailed,
					warnings: []string{"could not update project " + initProject + " to commit " + commitB + " ("}})
				if diff := cmp.Diff(subTree(before, "projects/"+initProject), snapshotTree(t, fx.path(initProject))); diff != "" {
					t.Errorf("the failed update changed the project (-before +after):\n%s", diff)
				}
				if m := readManifest(t, fx, initProject); m.Commit != commitA {
					t.Errorf("after a failed update the manifest records %q, want still %s", m.Commit, commitA)
				}
			})

			t.Run("an interrupted update is recovered before the start; one that cannot be fails the start", func(t *testing.T) {
				fx := newInitFixture(t)
				res := sh.run(t, append(fx.env(initProject, ""), helperEnv(helper, commitA)...), true)
				if res.code != 0 {
					t.Fatalf("seed: exit %d\n%s", res.code, res.out)
				}
				// Killed before its journal was written: cleaned, and the start goes on.
				work := fx.path(volume.UpdatesDir, initProject)
				if err := os.MkdirAll(filepath.Join(work, "staging"), 0o755); err != nil {
					t.Fatal(err)
				}
				chownTree(t, fx.path(volume.UpdatesDir), notebookUID, notebookGID)
				fx.resetReport(t)
				res = sh.run(t, append(fx.env(initProject, ""), helperEnv(helper, commitA)...), true)
				if res.code != 0 {
					t.Fatalf("exit %d\n%s", res.code, res.out)
				}
				fx.checkLog(t, res, "binder-projects: project "+initProject+": state=cleaned")
				checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectExisted})
				assertAbsent(t, work)

				// A journal that cannot be read: the start fails, and the project is left as it is.
				if err := os.MkdirAll(work, 0o755); err != nil {
					t.Fatal(err)
				}
				writeTestFile(t, filepath.Join(work, "journal"), "{not json")
				chownTree(t, fx.path(volume.UpdatesDir), notebookUID, notebookGID)
				fx.resetReport(t)
				before := snapshotTree(t, fx.base)
				res = sh.run(t, append(fx.env(initProject, "gh_other_queued"), helperEnv(helper, commitA)...), true)
				if res.code != 1 {
					t.Fatalf("exit %d, want 1\n%s", res.code, res.out)
				}
				checkReport(t, res, readTestFile(t, fx.report), reportWant{noQueue: true, project: ReportProjectFailed,
					err: "an interrupted update of project " + initProject + " could not be finished or rolled back (cannot read the journal"})
				if diff := cmp.Diff(subTree(before, "projects/"+initProject), snapshotTree(t, fx.path(initProject))); diff != "" {
					t.Errorf("the project changed (-before +after):\n%s", diff)
				}
				assertPresent(t, filepath.Join(work, "journal"))
			})

			t.Run("deleting a queued project removes its record and its update's work folder", func(t *testing.T) {
				fx := newInitFixture(t)
				const other = "gh_owner_other"
				res := sh.run(t, append(fx.env(other, ""), helperEnv(helper, commitA)...), true)
				if res.code != 0 {
					t.Fatalf("seed: exit %d\n%s", res.code, res.out)
				}
				assertPresent(t, volume.ManifestPath(fx.root, other))
				if err := os.MkdirAll(filepath.Join(volume.WorkPath(fx.root, other), "staging"), 0o755); err != nil {
					t.Fatal(err)
				}
				chownTree(t, fx.path(volume.UpdatesDir), notebookUID, notebookGID)
				fx.resetReport(t)
				res = sh.run(t, append(fx.env(initProject, other), helperEnv(helper, commitA)...), true)
				if res.code != 0 {
					t.Fatalf("exit %d\n%s", res.code, res.out)
				}
				checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
				assertAbsent(t, fx.path(other), volume.ManifestPath(fx.root, other), volume.WorkPath(fx.root, other))
				assertPresent(t, volume.ManifestPath(fx.root, initProject))
			})

			t.Run("a seed without a valid commit records nothing and removes a stale record", func(t *testing.T) {
				fx := newInitFixture(t)
				if err := os.MkdirAll(fx.path(volume.SeedsDir), 0o755); err != nil {
					t.Fatal(err)
				}
				writeTestFile(t, volume.ManifestPath(fx.root, initProject), "a stale manifest of a project deleted long ago")
				chownTree(t, fx.path(volume.SeedsDir), notebookUID, notebookGID)
				res := sh.run(t, append(fx.env(initProject, ""), helperEnv(helper, "-bad")...), true)
				if res.code != 0 {
					t.Fatalf("exit %d\n%s", res.code, res.out)
				}
				fx.checkLog(t, res, "BINDER_PROJECTS_COMMIT is not a valid commit", "no valid commit was given")
				checkReport(t, res, readTestFile(t, fx.report), seededReport())
				assertAbsent(t, volume.ManifestPath(fx.root, initProject))
			})
		})
	}
}

// newInitHome puts the fixture's image home back to repo2dockerHome.
func newInitHome(t *testing.T, fx *initFixture) {
	t.Helper()
	if err := os.RemoveAll(fx.source); err != nil {
		t.Fatal(err)
	}
	buildTree(t, fx.source, &[2]int{notebookUID, notebookGID}, repo2dockerHome()...)
}

// TestParseInitReportUpdate: the update line is read strictly.
func TestParseInitReportUpdate(t *testing.T) {
	const line = "updated project=gh_a_b commit=bbbbbbb from=aaaaaaa replaced=1 added=2 removed=3 kept=4 beside=5 stayed-deleted=6 modes=7 recovered=none"
	good := map[string]*UpdateReport{
		line: {State: ReportUpdateUpdated, Commit: "bbbbbbb", From: "aaaaaaa", Counted: true, Replaced: 1, Added: 2, Removed: 3, Kept: 4, Beside: 5, StayedDeleted: 6, Modes: 7},
		strings.Replace(strings.Replace(line, "from=aaaaaaa", "from=none", 1), "recovered=none", "recovered=finished", 1): {
			State: ReportUpdateUpdated, Commit: "bbbbbbb", Counted: true, Replaced: 1, Added: 2, Removed: 3, Kept: 4, Beside: 5, StayedDeleted: 6, Modes: 7, Recovered: "finished"},
		"updated project=gh_a_b commit=bbbbbbb": {State: ReportUpdateUpdated, Commit: "bbbbbbb"},
		"not-needed":                            {State: ReportUpdateNotNeeded},
		"unavailable":                           {State: ReportUpdateUnavailable},
		"failed":                                {State: ReportUpdateFailed},
		"unfinished":                            {State: ReportUpdateUnfinished},
	}
	for value, want := range good {
		r, err := ParseInitReport("project=existed\nupdate=" + value + "\n")
		if err != nil {
			t.Errorf("update=%s: %v", value, err)
			continue
		}
		if diff := cmp.Diff(want, r.Update); diff != "" {
			t.Errorf("update=%s (-want +got):\n%s", value, diff)
		}
	}
	if r, _ := ParseInitReport("project=existed\n"); r.Update != nil {
		t.Errorf("a report without an update line has Update %+v", r.Update)
	}
	bad := []string{
		"",
		"done",
		"failed reason=x",
		"updated",
		"updated project=gh_a_b",
		"updated commit=bbbbbbb",
		"updated project=.x commit=bbbbbbb",
		"updated project=gh_a_b commit=-b",
		strings.Replace(line, "replaced=1", "replaced=-1", 1),
		strings.Replace(line, "replaced=1", "replaced=+1", 1),
		strings.Replace(line, "replaced=1 ", "", 1),
		strings.Replace(line, "modes=7", "modes=7 modes=7", 1),
		strings.Replace(line, "from=aaaaaaa", "from=", 1),
		strings.Replace(line, "recovered=none", "recovered=maybe", 1),
		line + " extra=1",
		line + " word",
	}
	for _, value := range bad {
		if r, err := ParseInitReport("project=existed\nupdate=" + value + "\n"); err == nil {
			t.Errorf("update=%q parsed as %+v; want an error", value, r.Update)
		}
	}
	if _, err := ParseInitReport("project=existed\nupdate=failed\nupdate=failed\n"); err == nil {
		t.Error("two update lines parsed; want an error")
	}
}
