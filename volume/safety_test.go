package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The user owns the volume and can change anything between the update's look and its act. These tests
// change the project while an update runs (the pause hook, in this process) or between a killed update
// and the next start (a subprocess killed by the crash hook), and check that nothing of the user's is
// lost and that no link is followed into another project.

// other is a second project on the volume: what a link out of the project reaches.
const other = "gh_other_repo"

func (f fixture) other() string { return filepath.Join(f.root, other) }

// withPause makes the update call do at its pause point point (and nowhere else), until the test ends.
// The returned func says whether the update got there.
func withPause(t *testing.T, point string, do func()) (reached func() bool) {
	t.Helper()
	got := false
	testHooks.pause = func(p string) {
		if p == point && !got {
			got = true
			do()
		}
	}
	t.Cleanup(func() { testHooks.pause = nil })
	return func() bool { return got }
}

// saveByRename writes content to path as Jupyter saves a file: a new file beside it, renamed over it.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".~"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// swapForLink renames the folder at full to full+".real" and puts a symbolic link to target in its
// place, owned by uid (-1: the test's).
func swapForLink(t *testing.T, full, target string, uid int) {
	t.Helper()
	if err := os.Rename(full, full+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Lchown(full, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
}

// newUserFixture is newFixture as the init container finds it: in a folder uid 1000 can enter, the
// volume owned by uid 1000 (the image's home stays root's), with a second project, other, built from
// theirs (nil: none).
func newUserFixture(t *testing.T, base, user, commit, theirs spec) fixture {
	t.Helper()
	f := newFixture(t, sharedTempDir(t), base, user, commit)
	if theirs != nil {
		build(t, f.other(), theirs)
	}
	chownTree(t, f.root, 1000, 1000)
	return f
}

// killedAfterTheJournal runs the update of fixtures made by mk as the notebook user, killed at each
// crash point in turn, until one kill leaves the journal written and the project not changed yet; it
// returns that volume.
func killedAfterTheJournal(t *testing.T, mk func(t *testing.T) fixture) fixture {
	t.Helper()
	for n := 0; n < 200; n++ {
		f := mk(t)
		before := snapshot(t, f.project())
		killed, out := runChild(t, "update", f, newCommit, notebookUser, fmt.Sprintf("%s=%d", TestCrashEnv, n))
		if !killed {
			t.Fatalf("no kill left the journal written with the project unchanged:\n%s", out)
		}
		if _, err := os.Lstat(filepath.Join(WorkPath(f.root, project), journalName)); err == nil && cmp.Equal(before, snapshot(t, f.project())) {
			return f
		}
	}
	t.Fatal("no kill left the journal written with the project unchanged in 200 crash points")
	return fixture{}
}

// checkCleanBut is checkClean for a volume that also holds the folders extra at its root.
func (f fixture) checkCleanBut(t *testing.T, extra ...string) {
	t.Helper()
	var got []string
	for _, d := range []string{"", UpdatesDir} {
		des, err := os.ReadDir(filepath.Join(f.root, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			got = append(got, filepath.Join(d, de.Name()))
		}
	}
	want := append([]string{UpdatesDir, filepath.Join(UpdatesDir, lockName), SeedsDir, project}, extra...)
	if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
		t.Errorf("the volume root (-want +got):\n%s", diff)
	}
}

var cmpSorted = cmp.Transformer("sorted", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// theirs is the other project: the same repository, launched as a second project, with a file of its
// own in each folder.
var theirs = spec{
	"data": D(), "data/a.csv": F("a,1\n"), "data/b.csv": F("b,2\n"), "data/theirs.csv": F("theirs\n"),
	"scripts": D(), "scripts/tool.py": F("print(1)\n"), "scripts/helper.py": F("print(2)\n"), "scripts/theirs.py": F("theirs\n"),
}

func TestAnEditSavedBetweenPlanAndApplyIsNeverLost(t *testing.T) {
	// The commit changes README.md, removes Makefile and the folder docs.
	commit := seed.with(spec{"README.md": F("v2\n")}).without("Makefile", "docs", "docs/guide.md", "docs/img", "docs/img/logo.png")
	cases := []struct {
		name string
		save func(t *testing.T, p string)
	}{
		{"a file the commit replaces, saved by a rename", func(t *testing.T, p string) {
			saveByRename(t, filepath.Join(p, "README.md"), "my edit\n")
		}},
		{"a file the commit removes, saved by a rename", func(t *testing.T, p string) {
			saveByRename(t, filepath.Join(p, "Makefile"), "all: mine\n")
		}},
		{"a file the commit removes, written in place", func(t *testing.T, p string) {
			fh, err := os.OpenFile(filepath.Join(p, "Makefile"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.WriteString("\techo mine\n")
			fh.Close()
		}},
		{"a file in a folder the commit removes, saved by a rename", func(t *testing.T, p string) {
			saveByRename(t, filepath.Join(p, "docs/img/logo.png"), "my logo")
		}},
		{"a new file in a folder the commit removes", func(t *testing.T, p string) {
			if err := os.WriteFile(filepath.Join(p, "docs/img/mine.png"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, point := range []string{"planned", "prepared"} {
		for _, c := range cases {
			t.Run(c.name+", "+point, func(t *testing.T) {
				f := newFixture(t, t.TempDir(), seed, seed, commit)
				manifest, err := os.ReadFile(ManifestPath(f.root, project))
				if err != nil {
					t.Fatal(err)
				}
				var saved spec
				reached := withPause(t, point, func() {
					c.save(t, f.project())
					saved = snapshot(t, f.project())
				})
				_, log, err := f.update(t)
				if !reached() {
					t.Fatalf("the update never reached %q: %v", point, err)
				}
				t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
				if diff := cmp.Diff(saved, snapshot(t, f.project())); diff != "" {
					t.Errorf("the project is not as the user left it: the saved edit was lost or moved (-want +got):\n%s", diff)
				}
				if !errors.Is(err, ErrNotPlanned) || !strings.Contains(err.Error(), "The update was rolled back") {
					t.Errorf("Update: %v; want the update rolled back because an entry changed (ErrNotPlanned)\nlog:\n%s", err, strings.Join(log, "\n"))
				}
				if got, _ := os.ReadFile(ManifestPath(f.root, project)); string(got) != string(manifest) {
					t.Error("the manifest changed")
				}
				f.checkClean(t)
			})
		}
	}
}

func TestAFolderSwappedForALinkDuringAnUpdateIsNeverFollowed(t *testing.T) {
	// The commit changes data/a.csv and removes data/b.csv; the other project has both.
	commit := seed.with(spec{"data/a.csv": F("a,2\n")}).without("data/b.csv")
	for _, point := range []string{"planned", "prepared"} {
		t.Run(point, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), seed, seed, commit)
			build(t, f.other(), theirs)
			otherBefore := snapshot(t, f.other())
			var swapped spec
			reached := withPause(t, point, func() {
				swapForLink(t, filepath.Join(f.project(), "data"), "../"+other+"/data", -1)
				swapped = snapshot(t, f.project())
			})
			_, log, err := f.update(t)
			if !reached() {
				t.Fatalf("the update never reached %q: %v", point, err)
			}
			t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
			if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
				t.Errorf("the update changed project %s through the link (-want +got):\n%s", other, diff)
			}
			if diff := cmp.Diff(swapped, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project is not as the user left it (-want +got):\n%s", diff)
			}
			if err == nil || !strings.Contains(err.Error(), "data is a symbolic link") {
				t.Errorf("Update: %v; want an error that says data is a symbolic link\nlog:\n%s", err, strings.Join(log, "\n"))
			}
			f.checkCleanBut(t, other)
		})
	}
}

func TestRecoverNeverFollowsALinkInAParentFolder(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000")
	// Killed with the journal written; then the user replaces data by a link to the other project's
	// data; then a start recovers.
	commit := seed.with(spec{"data/a.csv": F("a,2\n")}).without("data/b.csv")
	f := killedAfterTheJournal(t, func(t *testing.T) fixture { return newUserFixture(t, seed, seed, commit, theirs) })
	swapForLink(t, filepath.Join(f.project(), "data"), "../"+other+"/data", 1000)
	swapped, otherBefore := snapshot(t, f.project()), snapshot(t, f.other())
	_, code, out := runChildCode(t, "recover", f, "", notebookUser)
	t.Logf("recover:\n%s", out)
	if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
		t.Errorf("recover changed project %s through the link (-want +got):\n%s", other, diff)
	}
	if diff := cmp.Diff(swapped, snapshot(t, f.project())); diff != "" {
		t.Errorf("the project is not as the user left it (-want +got):\n%s", diff)
	}
	if code != 0 || !strings.Contains(out, "data is a symbolic link") || !strings.Contains(out, "rolled back") {
		t.Errorf("recover: exit %d; want 0, the update rolled back with a warning that data is a symbolic link:\n%s", code, out)
	}
	f.checkCleanBut(t, other)
}

func TestAStartAfterAKillNeverRollsForwardThroughALinkToAnotherProject(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000")
	// The user added scripts/mine.py, so the folder scripts stays; the commit removes the rest of it.
	// Killed with the journal written; then the user replaces scripts by a link to the other project's.
	user := seed.with(spec{"scripts/mine.py": F("mine\n")})
	commit := seed.without("scripts", "scripts/tool.py", "scripts/helper.py")
	for _, start := range []string{"recover", "update"} {
		t.Run(start, func(t *testing.T) {
			f := killedAfterTheJournal(t, func(t *testing.T) fixture { return newUserFixture(t, seed, user, commit, theirs) })
			swapForLink(t, filepath.Join(f.project(), "scripts"), "../"+other+"/scripts", 1000)
			otherBefore := snapshot(t, f.other())
			real := snapshot(t, filepath.Join(f.project(), "scripts.real"))
			_, code, out := runChildCode(t, start, f, newCommit, notebookUser)
			t.Logf("%s:\n%s", start, out)
			if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
				t.Errorf("%s changed project %s through the link (-want +got):\n%s", start, other, diff)
			}
			if diff := cmp.Diff(real, snapshot(t, filepath.Join(f.project(), "scripts.real"))); diff != "" {
				t.Errorf("%s changed the user's real folder (-want +got):\n%s", start, diff)
			}
			if got, err := os.Readlink(filepath.Join(f.project(), "scripts")); err != nil || got != "../"+other+"/scripts" {
				t.Errorf("the user's link: %q, %v", got, err)
			}
			if code != 0 || !strings.Contains(out, "scripts is a symbolic link") {
				t.Errorf("%s: exit %d; want 0 with a warning that scripts is a symbolic link:\n%s", start, code, out)
			}
		})
	}
}

func TestANamedPipeAtTheLockNeverBlocksAStart(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000")
	for _, start := range []string{"recover", "update", "record"} {
		t.Run(start, func(t *testing.T) {
			f := newUserFixture(t, seed, seed, seed.with(spec{"README.md": F("v2\n")}), nil)
			lock := filepath.Join(f.root, UpdatesDir, lockName)
			os.Remove(lock)
			if err := syscall.Mkfifo(lock, 0o644); err != nil {
				t.Fatal(err)
			}
			chownTree(t, f.root, 1000, 1000)
			_, code, out, hung := runChildWithin(t, 20*time.Second, start, f, newCommit, notebookUser)
			t.Logf("%s:\n%s", start, out)
			if hung {
				t.Fatalf("%s hung on a named pipe at %s/%s (killed after 20 s):\n%s", start, UpdatesDir, lockName, out)
			}
			if code != 0 || !strings.Contains(out, "named pipe") {
				t.Errorf("%s: exit %d; want 0 and a warning that names the named pipe:\n%s", start, code, out)
			}
		})
	}
}

func TestAFolderOfTheImageThatCannotBeListedLeavesTheProjectsAsItIs(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000 against an image home of root's")
	// The image's docs is root's and private: the notebook user cannot list it. The user never
	// changed docs; the update must not take it for a change of the commit's and remove it.
	commit := seed.with(spec{"README.md": F("v2\n"), "docs": DM(0o700)})
	f := newUserFixture(t, seed, seed, commit, nil)
	_, code, out := runChildCode(t, "update", f, newCommit, notebookUser)
	t.Logf("update:\n%s", out)
	if code != 0 || !strings.Contains(out, "the image's home: cannot list folder docs") {
		t.Errorf("update: exit %d; want 0 and a warning that docs of the image cannot be listed", code)
	}
	if diff := cmp.Diff(seed.with(spec{"README.md": F("v2\n")}), snapshot(t, f.project())); diff != "" {
		t.Errorf("the project (-want +got):\n%s", diff)
	}
}
