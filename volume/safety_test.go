package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	tmp := filepath.Join(filepath.Dir(path), ".~saving")
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

// ---- more of the user's changes while an update runs ----

// contents counts the files (by content) and links (by target) under base, wherever they are: what a
// roll back must never lose, even when it cannot put everything back at its name.
func contents(t *testing.T, base string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range snapshot(t, base) {
		switch n.Type {
		case TypeFile:
			out["file "+n.Content]++
		case TypeSymlink:
			out["link "+n.Target]++
		}
	}
	return out
}

// checkNothingLost checks that every file and link of before is still under base.
func checkNothingLost(t *testing.T, before map[string]int, base string) {
	t.Helper()
	after := contents(t, base)
	for c, n := range before {
		if after[c] < n {
			t.Errorf("lost: %q (%d before, %d after)", c, n, after[c])
		}
	}
}

// within runs f, failing the test if it has not returned after d (a hang fails instead of wedging).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v: it hangs", d)
	}
}

// deep has a file at each depth of a/b/c/d; deepCommit changes each and removes a/b/c/d/g4.txt. The
// plan's steps go deepest first: f4 aside (0), f4 placed (1), g4 aside (2), f3 aside (3), ...
var (
	deep = seed.with(spec{
		"a": D(), "a/f1.txt": F("f1 v1\n"),
		"a/b": D(), "a/b/f2.txt": F("f2 v1\n"),
		"a/b/c": D(), "a/b/c/f3.txt": F("f3 v1\n"),
		"a/b/c/d": D(), "a/b/c/d/f4.txt": F("f4 v1\n"), "a/b/c/d/g4.txt": F("g4 v1\n"),
	})
	deepCommit = deep.with(spec{
		"a/f1.txt": F("f1 v2\n"), "a/b/f2.txt": F("f2 v2\n"), "a/b/c/f3.txt": F("f3 v2\n"), "a/b/c/d/f4.txt": F("f4 v2\n"),
	}).without("a/b/c/d/g4.txt")
	theirsDeep = spec{
		"a": D(), "a/f1.txt": F("their f1\n"), "a/b": D(), "a/b/f2.txt": F("their f2\n"),
		"a/b/c": D(), "a/b/c/f3.txt": F("their f3\n"), "a/b/c/d": D(), "a/b/c/d/f4.txt": F("their f4\n"), "a/b/c/d/g4.txt": F("their g4\n"),
	}
	depths = []string{"a", "a/b", "a/b/c", "a/b/c/d"}
)

func TestAParentSwappedForALinkAtAnyDepthDuringAnUpdateIsNeverFollowed(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		for k, folder := range depths {
			// Before any step; and once steps below the folder are done, right before the next one
			// there (f3's for a, a/b and a/b/c; f4's placing for a/b/c/d).
			mid := "step 3"
			if k == 3 {
				mid = "step 1"
			}
			for _, point := range []string{"prepared", mid} {
				t.Run(fmt.Sprintf("depth %d (%s), at %s", k+1, folder, point), func(t *testing.T) {
					f := newFixture(t, t.TempDir(), deep, deep, deepCommit)
					build(t, f.other(), theirsDeep)
					otherBefore, mine := snapshot(t, f.other()), contents(t, f.project())
					var swapped spec
					reached := withPause(t, point, func() {
						swapForLink(t, filepath.Join(f.project(), folder), filepath.Join(f.other(), folder), -1)
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
					if !errors.Is(err, ErrNotPlanned) || !strings.Contains(err.Error(), folder+" is a symbolic link (not followed)") || !strings.Contains(err.Error(), "rolled back") {
						t.Errorf("Update: %v; want it rolled back because %s is a symbolic link", err, folder)
					}
					if point == "prepared" {
						if diff := cmp.Diff(swapped, snapshot(t, f.project())); diff != "" {
							t.Errorf("the project is not as the user left it (-want +got):\n%s", diff)
						}
					} else {
						// Steps were done in the folder now behind the link: what they moved aside
						// cannot go back there; it is kept at the project's top.
						checkNothingLost(t, mine, f.project())
						if got := snapshot(t, f.project())["f4.restored-"+short+".txt"]; got != F("f4 v1\n") {
							t.Errorf("the f4.txt moved aside before the swap: %+v at f4.restored-%s.txt, want its content there", got, short)
						}
					}
					if target, err := os.Readlink(filepath.Join(f.project(), folder)); err != nil || target != filepath.Join(f.other(), folder) {
						t.Errorf("the user's link: %q, %v", target, err)
					}
					f.checkCleanBut(t, other)
				})
			}
		}
	})
}

// killedWhen runs the update of fixtures made by mk as the notebook user, killed at each crash point
// in turn, until one kill leaves the volume in a state ok accepts; it returns that volume.
func killedWhen(t *testing.T, mk func(t *testing.T) fixture, ok func(f fixture) bool) fixture {
	t.Helper()
	for n := 0; n < 200; n++ {
		f := mk(t)
		killed, out := runChild(t, "update", f, newCommit, notebookUser, fmt.Sprintf("%s=%d", TestCrashEnv, n))
		if !killed {
			t.Fatalf("no kill left the state wanted:\n%s", out)
		}
		if ok(f) {
			return f
		}
	}
	t.Fatal("no kill left the state wanted in 200 crash points")
	return fixture{}
}

func TestAParentSwappedForALinkAtAnyDepthAfterAKillIsNeverFollowed(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000")
	mk := func(t *testing.T) fixture { return newUserFixture(t, deep, deep, deepCommit, theirsDeep) }
	journalled := func(f fixture) bool {
		_, err := os.Lstat(filepath.Join(WorkPath(f.root, project), journalName))
		return err == nil && snapshot(t, f.project())["a/b/c/d/f4.txt"] == F("f4 v1\n")
	}
	asideDone := func(f fixture) bool {
		// f4.txt's old version moved aside, the new one not placed yet.
		_, err := os.Lstat(filepath.Join(f.project(), "a/b/c/d/f4.txt"))
		return errors.Is(err, os.ErrNotExist)
	}
	for k, folder := range depths {
		for _, when := range []struct {
			name string
			ok   func(fixture) bool
		}{{"with the journal written", journalled}, {"with f4.txt moved aside", asideDone}} {
			t.Run(fmt.Sprintf("depth %d (%s), killed %s", k+1, folder, when.name), func(t *testing.T) {
				f := killedWhen(t, mk, when.ok)
				mine := contents(t, f.project())
				if when.name == "with f4.txt moved aside" {
					mine["file f4 v1\n"]++ // in the work folder
				}
				swapForLink(t, filepath.Join(f.project(), folder), filepath.Join(f.other(), folder), 1000)
				swapped, otherBefore := snapshot(t, f.project()), snapshot(t, f.other())
				_, code, out := runChildCode(t, "recover", f, "", notebookUser)
				t.Logf("recover:\n%s", out)
				if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
					t.Errorf("recover changed project %s through the link (-want +got):\n%s", other, diff)
				}
				if code != 0 || !strings.Contains(out, folder+" is a symbolic link (not followed)") || !strings.Contains(out, "rolled back") {
					t.Errorf("recover: exit %d; want 0, rolled back with a warning that %s is a symbolic link", code, folder)
				}
				if when.name == "with the journal written" {
					if diff := cmp.Diff(swapped, snapshot(t, f.project())); diff != "" {
						t.Errorf("the project is not as the user left it (-want +got):\n%s", diff)
					}
				}
				checkNothingLost(t, mine, f.project())
				f.checkCleanBut(t, other)
			})
		}
	}
}

func TestAnEntryOfAnotherTypeInThePlannedOnesPlaceIsKept(t *testing.T) {
	// The commit replaces README.md and removes docs. Each change is made before any step, and right
	// after the step's first look at the entry (before it is moved aside).
	commit := seed.with(spec{"README.md": F("v2\n")}).without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png")
	cases := []struct {
		name, entry string
		change      func(t *testing.T, p string)
	}{
		{"a file the commit replaces, made a folder", "README.md", func(t *testing.T, p string) {
			os.Remove(filepath.Join(p, "README.md"))
			build(t, filepath.Join(p, "README.md"), spec{"notes.txt": F("mine\n")})
		}},
		{"a file the commit replaces, made a folder and a file again (the same content)", "README.md", func(t *testing.T, p string) {
			os.Remove(filepath.Join(p, "README.md"))
			os.Mkdir(filepath.Join(p, "README.md"), 0o755)
			os.Remove(filepath.Join(p, "README.md"))
			os.WriteFile(filepath.Join(p, "README.md"), []byte("# project\n"), 0o644)
		}},
		{"a file the commit replaces, made a link", "README.md", func(t *testing.T, p string) {
			os.Remove(filepath.Join(p, "README.md"))
			os.Symlink("analysis.ipynb", filepath.Join(p, "README.md"))
		}},
		{"a folder the commit removes, made a file", "docs", func(t *testing.T, p string) {
			os.RemoveAll(filepath.Join(p, "docs"))
			os.WriteFile(filepath.Join(p, "docs"), []byte("mine\n"), 0o644)
		}},
		{"a folder in a folder the commit removes, made a file", "docs", func(t *testing.T, p string) {
			os.RemoveAll(filepath.Join(p, "docs/img"))
			os.WriteFile(filepath.Join(p, "docs/img"), []byte("mine\n"), 0o644)
		}},
	}
	for _, c := range cases {
		for _, point := range []string{"prepared", "looked " + c.entry} {
			t.Run(c.name+", at "+point, func(t *testing.T) {
				f := newFixture(t, t.TempDir(), seed, seed, commit)
				// Rolled back, the project is as before the update with the user's change.
				scratch := filepath.Join(t.TempDir(), "scratch")
				build(t, scratch, seed)
				c.change(t, scratch)
				want := snapshot(t, scratch)
				reached := withPause(t, point, func() { c.change(t, f.project()) })
				_, log, err := f.update(t)
				if !reached() {
					t.Fatalf("the update never reached %q: %v", point, err)
				}
				t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
				if diff := cmp.Diff(want, snapshot(t, f.project())); diff != "" {
					t.Errorf("the project is not as the user left it (-want +got):\n%s", diff)
				}
				if !errors.Is(err, ErrNotPlanned) || !strings.Contains(err.Error(), "rolled back") {
					t.Errorf("Update: %v; want it rolled back (ErrNotPlanned)", err)
				}
				f.checkClean(t)
			})
		}
	}
}

func TestHardLinksAreNeverWrittenThrough(t *testing.T) {
	// The commit replaces README.md and removes Makefile; the user gave each a second name.
	commit := seed.with(spec{"README.md": F("v2\n")}).without("Makefile")
	link := func(t *testing.T, f fixture) {
		for from, to := range map[string]string{"Makefile": "mine.mk", "README.md": "mine.md"} {
			if err := os.Link(filepath.Join(f.project(), from), filepath.Join(f.project(), to)); err != nil {
				t.Fatal(err)
			}
		}
	}
	edit := func(t *testing.T, f fixture) {
		fh, err := os.OpenFile(filepath.Join(f.project(), "mine.mk"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteString("\techo mine\n")
		fh.Close()
	}
	t.Run("unchanged, the update replaces and removes one name; the other keeps the content", func(t *testing.T) {
		f := newFixture(t, t.TempDir(), seed, seed, commit)
		link(t, f)
		if _, log, err := f.update(t); err != nil {
			t.Fatalf("Update: %v\n%s", err, strings.Join(log, "\n"))
		}
		want := commit.with(spec{"mine.mk": F("all:\n"), "mine.md": F("# project\n")})
		if diff := cmp.Diff(want, snapshot(t, f.project())); diff != "" {
			t.Errorf("the project (-want +got):\n%s", diff)
		}
	})
	for _, point := range []string{"prepared", "moved Makefile"} {
		t.Run("edited through the other name, at "+point+": kept under both names", func(t *testing.T) {
			f := newFixture(t, t.TempDir(), seed, seed, commit)
			link(t, f)
			reached := withPause(t, point, func() { edit(t, f) })
			_, log, err := f.update(t)
			if !reached() {
				t.Fatalf("the update never reached %q: %v", point, err)
			}
			t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
			if !errors.Is(err, ErrNotPlanned) || !strings.Contains(err.Error(), "Makefile was changed") {
				t.Errorf("Update: %v; want it rolled back because Makefile was changed", err)
			}
			want := seed.with(spec{"Makefile": F("all:\n\techo mine\n"), "mine.mk": F("all:\n\techo mine\n"), "mine.md": F("# project\n")})
			if diff := cmp.Diff(want, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project (-want +got):\n%s", diff)
			}
			a, _ := os.Lstat(filepath.Join(f.project(), "Makefile"))
			b, _ := os.Lstat(filepath.Join(f.project(), "mine.mk"))
			if a == nil || b == nil || !os.SameFile(a, b) {
				t.Error("Makefile and mine.mk are no longer one file")
			}
			f.checkClean(t)
		})
	}
}

func TestNamedPipesAreNeverOpened(t *testing.T) {
	// The commit replaces README.md, removes docs, and has a named pipe (never copied); the user has a
	// named pipe of their own (never touched).
	user := seed.with(spec{"pipe": P()})
	commit := seed.with(spec{"README.md": F("v2\n"), "pipe-of-the-image": P()}).without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png")
	updated := commit.with(spec{"pipe": P()}).without("pipe-of-the-image")
	cases := []struct {
		name, point string
		change      func(t *testing.T, p string)
		want        spec // nil: rolled back, the project as the user left it
	}{
		{"a named pipe of the user's is left alone", "", nil, updated},
		{"a named pipe put in the place of a file the commit replaces", "looked README.md", func(t *testing.T, p string) {
			os.Remove(filepath.Join(p, "README.md"))
			syscall.Mkfifo(filepath.Join(p, "README.md"), 0o644)
		}, nil},
		{"a named pipe made in a folder the commit removes", "looked docs", func(t *testing.T, p string) {
			syscall.Mkfifo(filepath.Join(p, "docs/img/pipe"), 0o644)
		}, nil},
		{"a named pipe made in a new folder where the commit removed one", "moved docs", func(t *testing.T, p string) {
			// The old docs is in the work folder; the user makes a new one: it is the user's.
			os.Mkdir(filepath.Join(p, "docs"), 0o755)
			syscall.Mkfifo(filepath.Join(p, "docs/pipe"), 0o644)
		}, updated.with(spec{"docs": D(), "docs/pipe": P()})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), seed, user, commit)
			want := c.want
			if c.change != nil {
				if want == nil {
					scratch := filepath.Join(t.TempDir(), "scratch")
					build(t, scratch, user)
					c.change(t, scratch)
					want = snapshot(t, scratch)
				}
				withPause(t, c.point, func() { c.change(t, f.project()) })
			}
			var err error
			var log []string
			within(t, 20*time.Second, func() { _, log, err = f.update(t) })
			t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
			if diff := cmp.Diff(want, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project (-want +got):\n%s", diff)
			}
			if c.want == nil {
				if !errors.Is(err, ErrNotPlanned) {
					t.Errorf("Update: %v; want it rolled back (ErrNotPlanned)", err)
				}
				return
			}
			if err != nil {
				t.Errorf("Update: %v", err)
			}
			if !slices.Contains(log, "warning: pipe is a named pipe; it counts as your own and is left as it is") ||
				!slices.Contains(log, "warning: the image's home: pipe-of-the-image is a named pipe; it counts as your own and is left as it is (not copied)") {
				t.Errorf("the log does not name the named pipes:\n%s", strings.Join(log, "\n"))
			}
		})
	}
}

func TestNamesOf255BytesAndWithLineBreaksArePutBackExactly(t *testing.T) {
	const label = ".restored-" + short
	notUTF8 := "\xff\xfe" + strings.Repeat("é", 124) + "x.txt" // 255 bytes
	for _, c := range []struct{ name, gone, beside string }{
		{
			strings.Repeat("n", 251) + ".txt", strings.Repeat("g", 255),
			strings.Repeat("n", 255-len(label)-len(".txt")) + label + ".txt",
		},
		{"line\nbreak.txt", "gone\nwith a line break", "line\nbreak" + label + ".txt"},
		{notUTF8, "\xfe" + strings.Repeat("é", 127), "\xff\xfe" + strings.Repeat("é", 116) + label + ".txt"}, // cut between characters
	} {
		base := seed.with(spec{c.name: F("v1\n"), c.gone: F("gone\n")})
		commit := base.with(spec{c.name: F("v2\n")}).without(c.gone)
		t.Run(fmt.Sprintf("%q", c.name), func(t *testing.T) {
			t.Run("updated", func(t *testing.T) {
				f := newFixture(t, t.TempDir(), base, base, commit)
				if _, log, err := f.update(t); err != nil {
					t.Fatalf("Update: %v\n%s", err, strings.Join(log, "\n"))
				}
				if diff := cmp.Diff(commit, snapshot(t, f.project())); diff != "" {
					t.Errorf("the project (-want +got):\n%s", diff)
				}
			})
			t.Run("saved while it was moved aside: put back", func(t *testing.T) {
				f := newFixture(t, t.TempDir(), base, base, commit)
				withPause(t, "looked "+c.name, func() { saveByRename(t, filepath.Join(f.project(), c.name), "mine\n") })
				_, _, err := f.update(t)
				if !errors.Is(err, ErrNotPlanned) {
					t.Errorf("Update: %v; want it rolled back (ErrNotPlanned)", err)
				}
				if diff := cmp.Diff(base.with(spec{c.name: F("mine\n")}), snapshot(t, f.project())); diff != "" {
					t.Errorf("the project (-want +got):\n%s", diff)
				}
			})
			t.Run("saved twice while it was moved aside: the first save beside the second", func(t *testing.T) {
				f := newFixture(t, t.TempDir(), base, base, commit)
				withPause(t, "looked "+c.name, func() { saveByRename(t, filepath.Join(f.project(), c.name), "mine 1\n") })
				testHooks.pause = func(p string) {
					switch p {
					case "looked " + c.name:
						saveByRename(t, filepath.Join(f.project(), c.name), "mine 1\n")
					case "moved " + c.name:
						saveByRename(t, filepath.Join(f.project(), c.name), "mine 2\n")
					}
				}
				_, log, err := f.update(t)
				t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
				if !errors.Is(err, ErrNotPlanned) {
					t.Errorf("Update: %v; want it rolled back (ErrNotPlanned)", err)
				}
				got := snapshot(t, f.project())
				var beside string
				for p, n := range got {
					if n == F("mine 1\n") {
						beside = p
					}
				}
				if beside != c.beside || len(beside) > 255 {
					t.Errorf("the first save is at %q, want %q (at most 255 bytes)", beside, c.beside)
				}
				delete(got, beside)
				if diff := cmp.Diff(base.with(spec{c.name: F("mine 2\n")}), got); diff != "" {
					t.Errorf("the project (-want +got):\n%s", diff)
				}
				if !strings.Contains(strings.Join(log, "\n"), "could not go back to its name, which was taken meanwhile: it is "+show(beside)) {
					t.Errorf("no warning says where the first save is")
				}
			})
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

// lastStep is the number of the last step of the update of fixtures made by mk.
func lastStep(t *testing.T, mk func(t *testing.T) fixture) int {
	t.Helper()
	f := mk(t)
	last := -1
	testHooks.pause = func(p string) {
		var n int
		if _, err := fmt.Sscanf(p, "step %d", &n); err == nil && n > last {
			last = n
		}
	}
	defer func() { testHooks.pause = nil }()
	if _, _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	return last
}

func TestARollBackKeepsWhatTheUserChangedInWhatTheUpdatePlaced(t *testing.T) {
	// The commit replaces README.md and adds new.py and lib/x.py; the update's last step fails (the
	// test hook) after the user changed what the update had put in place.
	commit := seed.with(spec{"README.md": F("v2\n"), "new.py": F("new\n"), "lib": D(), "lib/x.py": F("x\n")})
	mk := func(t *testing.T) fixture { return newFixture(t, t.TempDir(), seed, seed, commit) }
	last := lastStep(t, mk)
	cases := []struct {
		name   string
		change func(t *testing.T, p string)
		want   spec
	}{
		{"a placed file saved again (a new file in its place): the save stays, the old version beside it",
			func(t *testing.T, p string) { saveByRename(t, filepath.Join(p, "README.md"), "mine\n") },
			seed.with(spec{"README.md": F("mine\n"), "README.restored-" + short + ".md": F("# project\n")})},
		{"a placed file written in place: it stays, as the user's",
			func(t *testing.T, p string) {
				fh, _ := os.OpenFile(filepath.Join(p, "new.py"), os.O_WRONLY|os.O_APPEND, 0)
				fh.WriteString("mine\n")
				fh.Close()
			},
			seed.with(spec{"new.py": F("new\nmine\n")})},
		{"a file saved into a placed folder: the folder stays, as the user's",
			func(t *testing.T, p string) { os.WriteFile(filepath.Join(p, "lib/mine.py"), []byte("mine\n"), 0o644) },
			seed.with(spec{"lib": DM(0o755), "lib/x.py": F("x\n"), "lib/mine.py": F("mine\n")})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := mk(t)
			reached := withPause(t, fmt.Sprintf("step %d", last), func() { c.change(t, f.project()) })
			loadTestHooks()
			testHooks.failStep = last
			_, log, err := f.update(t)
			testHooks.failStep = -1
			if !reached() {
				t.Fatalf("the update never reached step %d: %v", last, err)
			}
			t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
			if !errors.Is(err, errTestFail) || !strings.Contains(err.Error(), "rolled back: project "+project+" is as it was, but for what the warnings name") {
				t.Errorf("Update: %v; want the injected failure, rolled back but for the user's change", err)
			}
			if diff := cmp.Diff(c.want, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project (-want +got):\n%s", diff)
			}
			f.checkClean(t)
		})
	}
}

// toVersion1 rewrites the journal of the interrupted update on f's volume as version 1 wrote it:
// no marks, no sources.
func toVersion1(t *testing.T, f fixture) {
	t.Helper()
	p := filepath.Join(WorkPath(f.root, project), journalName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	j["version"] = 1
	for _, s := range j["steps"].([]any) {
		delete(s.(map[string]any), "want")
		delete(s.(map[string]any), "src")
	}
	if data, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAJournalOfVersion1IsRolledBackNeverFinished(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000")
	mk := func(t *testing.T) fixture { return newUserFixture(t, deep, deep, deepCommit, theirsDeep) }
	journal := func(f fixture) bool {
		_, err := os.Lstat(filepath.Join(WorkPath(f.root, project), journalName))
		return err == nil
	}
	before := snapshot(t, mk(t).project())
	for _, c := range []struct {
		name string
		ok   func(f fixture) bool
	}{
		{"killed with the journal written", func(f fixture) bool {
			return journal(f) && snapshot(t, f.project())["a/b/c/d/f4.txt"] == F("f4 v1\n")
		}},
		{"killed with f4.txt replaced", func(f fixture) bool {
			return journal(f) && snapshot(t, f.project())["a/b/c/d/f4.txt"] == F("f4 v2\n")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := killedWhen(t, mk, c.ok)
			toVersion1(t, f)
			_, code, out := runChildCode(t, "recover", f, "", notebookUser)
			t.Logf("recover:\n%s", out)
			if code != 0 || !strings.Contains(out, "journalled by an earlier version of binder-projects, which did not record what it planned to move: it is rolled back, not finished") {
				t.Errorf("recover: exit %d; want 0, rolled back with a warning that says why", code)
			}
			if diff := cmp.Diff(before, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project is not as before the update (-want +got):\n%s", diff)
			}
			f.checkCleanBut(t, other)
		})
		t.Run(c.name+", then a folder swapped for a link", func(t *testing.T) {
			f := killedWhen(t, mk, c.ok)
			toVersion1(t, f)
			mine := contents(t, f.project())
			if c.name == "killed with f4.txt replaced" {
				mine["file f4 v1\n"]++ // in the work folder
				mine["file f4 v2\n"]--
			}
			swapForLink(t, filepath.Join(f.project(), "a/b"), filepath.Join(f.other(), "a/b"), 1000)
			otherBefore := snapshot(t, f.other())
			_, code, out := runChildCode(t, "recover", f, "", notebookUser)
			t.Logf("recover:\n%s", out)
			if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
				t.Errorf("recover changed project %s through the link (-want +got):\n%s", other, diff)
			}
			if code != 0 || !strings.Contains(out, "it is rolled back, not finished") {
				t.Errorf("recover: exit %d; want 0, rolled back", code)
			}
			checkNothingLost(t, mine, f.project())
			f.checkCleanBut(t, other)
		})
	}
	t.Run("killed with the new manifest in place: finished", func(t *testing.T) {
		f := killedWhen(t, mk, func(f fixture) bool {
			_, err := os.Lstat(filepath.Join(WorkPath(f.root, project), manifestName))
			return journal(f) && errors.Is(err, os.ErrNotExist)
		})
		toVersion1(t, f)
		_, code, out := runChildCode(t, "recover", f, "", notebookUser)
		if code != 0 || !strings.Contains(out, "which was complete") {
			t.Errorf("recover: exit %d; want 0, finished:\n%s", code, out)
		}
		if diff := cmp.Diff(deepCommit, snapshot(t, f.project()), cmp.Comparer(func(a, b node) bool { return a.Type == b.Type && a.Content == b.Content && a.Target == b.Target })); diff != "" {
			t.Errorf("the project is not as after the update (-want +got):\n%s", diff)
		}
		f.checkCleanBut(t, other)
	})
}

func TestAModeChangeNeverReachesAFileSavedMeanwhile(t *testing.T) {
	// The commit makes scripts/tool.py executable and changes README.md; the user saves tool.py (a new
	// file, mode 0600) before the mode step.
	commit := seed.with(spec{"README.md": F("v2\n"), "scripts/tool.py": FM(0o755, "print(1)\n")})
	for _, point := range []string{"prepared", "step 2"} {
		t.Run(point, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), seed, seed, commit)
			reached := withPause(t, point, func() {
				p := filepath.Join(f.project(), "scripts/tool.py")
				saveByRename(t, p, "print('mine')\n")
				os.Chmod(p, 0o600)
			})
			_, log, err := f.update(t)
			if !reached() {
				t.Fatalf("the update never reached %q: %v", point, err)
			}
			t.Logf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
			if !errors.Is(err, ErrNotPlanned) || !strings.Contains(err.Error(), "scripts/tool.py was replaced") {
				t.Errorf("Update: %v; want it rolled back because scripts/tool.py was replaced", err)
			}
			if diff := cmp.Diff(seed.with(spec{"scripts/tool.py": FM(0o600, "print('mine')\n")}), snapshot(t, f.project())); diff != "" {
				t.Errorf("the project (-want +got):\n%s", diff)
			}
			f.checkClean(t)
		})
	}
}
