package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// reservedName is a reserved name on the volume, by the folder it is in.
type reservedName struct {
	label     string
	dir, name string // dir is "" (the volume root), UpdatesDir or SeedsDir
	file      bool   // binder-projects keeps a file there (else a folder)
}

var reservedNames = []reservedName{
	{"the manifests' folder", "", SeedsDir, false},
	{"the updates' folder", "", UpdatesDir, false},
	{"the lock", UpdatesDir, lockName, true},
	{"the work folder", UpdatesDir, project, false},
	{"the manifest", SeedsDir, project, true},
}

// squatter is what a user (or another uid) put at a reserved name.
type squatter struct {
	label string
	// make puts it at full on the volume f; says in words what it is, for the messages.
	make func(t *testing.T, f fixture, full string, file bool)
	says string
}

var squatters = []squatter{
	{"a link into another project", func(t *testing.T, f fixture, full string, file bool) {
		target := filepath.Join(f.other(), "data")
		if file {
			target = filepath.Join(f.other(), "data/a.csv")
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
		os.Lchown(full, 1000, 1000)
	}, "symbolic link"},
	{"a named pipe", func(t *testing.T, f fixture, full string, file bool) {
		if err := syscall.Mkfifo(full, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Lchown(full, 1000, 1000)
	}, "named pipe"},
	{"a file (of root's where binder-projects keeps a file)", func(t *testing.T, f fixture, full string, file bool) {
		if err := os.WriteFile(full, []byte("not binder-projects'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if !file {
			os.Lchown(full, 1000, 1000)
		}
	}, ""}, // "a file, not a folder", or "a file owned by uid 0"
	{"a folder of root's", func(t *testing.T, f fixture, full string, file bool) {
		if err := os.Mkdir(full, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(full, "x"), []byte("root's\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}, ""}, // "a folder owned by uid 0", or "a folder, not a file"
}

// kindAt says what is at full, never following it: its type, and a file's content or a link's target.
func kindAt(full string) string {
	info, err := os.Lstat(full)
	if err != nil {
		return "nothing"
	}
	switch m := info.Mode(); {
	case m&os.ModeSymlink != 0:
		target, _ := os.Readlink(full)
		return "link to " + target
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m.IsDir():
		return fmt.Sprintf("folder of uid %d", info.Sys().(*syscall.Stat_t).Uid)
	}
	data, _ := os.ReadFile(full)
	return fmt.Sprintf("file of uid %d: %q", info.Sys().(*syscall.Stat_t).Uid, data)
}

func TestReservedNamesAreNeverFollowedNorTrusted(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000 and to make entries of root's")
	commit := seed.with(spec{"README.md": F("v2\n")})
	for _, rn := range reservedNames {
		for _, sq := range squatters {
			for _, cmd := range []string{"recover", "update", "record"} {
				t.Run(fmt.Sprintf("%s is %s, %s", rn.label, sq.label, cmd), func(t *testing.T) {
					f := newUserFixture(t, seed, seed, commit, theirs)
					full := filepath.Join(f.root, rn.dir, rn.name)
					if err := os.RemoveAll(full); err != nil {
						t.Fatal(err)
					}
					sq.make(t, f, full, rn.file)
					was := kindAt(full)
					otherBefore, projectBefore := snapshot(t, f.other()), snapshot(t, f.project())

					_, code, out, hung := runChildWithin(t, 20*time.Second, cmd, f, newCommit, notebookUser)
					t.Logf("%s: exit %d\n%s", cmd, code, out)
					if hung {
						t.Fatalf("%s hung (killed after 20 s)", cmd)
					}
					if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
						t.Errorf("%s changed the other project (-want +got):\n%s", cmd, diff)
					}
					// Never destroyed: still there, or set aside beside it.
					aside := filepath.Join(f.root, rn.dir, setAsideName(rn.name, 1))
					if got := kindAt(full); got != was && kindAt(aside) != was {
						t.Errorf("what was at %s (%s) is gone: now %s there, %s at %s", rn.name, was, got, kindAt(aside), filepath.Base(aside))
					}
					for _, bad := range []string{"could not be finished", "cannot finish", "could not finish"} {
						if strings.Contains(out, bad) {
							t.Errorf("the message speaks of an interrupted update, where none ran: %q", bad)
						}
					}
					says := sq.says
					switch {
					case says != "":
					case strings.HasPrefix(sq.label, "a file") && rn.file:
						says = "a file owned by uid 0, not by this user (uid 1000)"
					case strings.HasPrefix(sq.label, "a file"):
						says = "a file, not a folder"
					case rn.file:
						says = "a folder, not a file"
					default:
						says = "a folder owned by uid 0, not by this user (uid 1000)"
					}
					// Where the command looks at the name, it says what is there.
					looks := !(cmd == "recover" && rn.dir == SeedsDir) && !(cmd == "recover" && rn.name == SeedsDir)
					if looks && !strings.Contains(out, says) {
						t.Errorf("the message does not say that %s is %s", rn.name, says)
					}
					refused := rn.name == SeedsDir && cmd != "recover"
					switch {
					case refused:
						if code == 0 || !strings.Contains(out, "the name is reserved for binder-projects: rename or remove it, then start again") {
							t.Errorf("%s: exit %d; want it refused with the fix", cmd, code)
						}
						if diff := cmp.Diff(projectBefore, snapshot(t, f.project())); diff != "" {
							t.Errorf("the refused %s changed the project (-want +got):\n%s", cmd, diff)
						}
					case code != 0:
						t.Errorf("%s: exit %d; want 0 (set aside, and the start goes on)", cmd, code)
					case cmd == "update":
						got := snapshot(t, f.project())
						if got["README.md"] != F("v2\n") && got["README."+short+".md"] != F("v2\n") {
							t.Errorf("the update did not bring the commit's README.md")
						}
					}
					// And every project still starts.
					for _, p := range []string{project, other} {
						_, code, out, hung := runChildWithin(t, 20*time.Second, "recover", f, "", notebookUser, childProject+"="+p)
						if hung || code != 0 {
							t.Errorf("then recover of %s: exit %d, hung %v:\n%s", p, code, hung, out)
						}
					}
				})
			}
		}
	}
}

func TestAWorkFolderOfAnotherUserWithAJournalIsRefusedForItsProjectOnly(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000 and to make a folder of root's")
	// An update run as root (a misconfigured start) was killed: its work folder is root's.
	commit := seed.with(spec{"README.md": F("v2\n")})
	f := killedAfterTheJournal(t, func(t *testing.T) fixture { return newUserFixture(t, seed, seed, commit, theirs) })
	chownTree(t, WorkPath(f.root, project), 0, 0)
	before := snapshot(t, f.root)
	for _, cmd := range []string{"recover", "update"} {
		_, code, out, hung := runChildWithin(t, 20*time.Second, cmd, f, newCommit, notebookUser)
		t.Logf("%s: exit %d\n%s", cmd, code, out)
		if hung || code == 0 || !strings.Contains(out, "is a folder owned by uid 0, not by this user (uid 1000), and holds the journal of an update") ||
			!strings.Contains(out, "may be part-way through an update that this user can neither finish nor roll back") {
			t.Errorf("%s: exit %d; want it refused, saying whose the work folder is", cmd, code)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, f.root)); diff != "" {
		t.Errorf("the refusals changed the volume (-want +got):\n%s", diff)
	}
	_, code, out, hung := runChildWithin(t, 20*time.Second, "recover", f, "", notebookUser, childProject+"="+other)
	if hung || code != 0 {
		t.Errorf("recover of another project: exit %d, hung %v; want 0 (it is not concerned):\n%s", code, hung, out)
	}
	// Root finishes it, as the message says; then the user's start goes on.
	if _, code, out := runChildCode(t, "recover", f, "", nil); code != 0 {
		t.Fatalf("recover as root: exit %d\n%s", code, out)
	}
	if _, code, out := runChildCode(t, "recover", f, "", notebookUser); code != 0 {
		t.Errorf("recover after root's: exit %d\n%s", code, out)
	}
}

func TestAProjectFolderMadeALinkAfterAKillKeepsTheWorkFolder(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000")
	commit := seed.with(spec{"README.md": F("v2\n")}).without("Makefile")
	f := killedWhen(t, func(t *testing.T) fixture { return newUserFixture(t, seed, seed, commit, theirs) }, func(f fixture) bool {
		_, err := os.Lstat(filepath.Join(f.project(), "Makefile"))
		return os.IsNotExist(err) // moved aside: the work folder holds the user's file
	})
	if err := os.Rename(f.project(), f.project()+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, f.project()); err != nil {
		t.Fatal(err)
	}
	otherBefore, work := snapshot(t, f.other()), snapshot(t, WorkPath(f.root, project))
	_, code, out := runChildCode(t, "recover", f, "", notebookUser)
	t.Logf("recover: exit %d\n%s", code, out)
	if code == 0 || !strings.Contains(out, "the folder of project "+project+" is a symbolic link (not followed), and the work folder") {
		t.Errorf("recover: exit %d; want it refused, saying the project folder is a link", code)
	}
	if diff := cmp.Diff(otherBefore, snapshot(t, f.other())); diff != "" {
		t.Errorf("recover changed the other project (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(work, snapshot(t, WorkPath(f.root, project))); diff != "" {
		t.Errorf("recover changed the work folder, which holds the user's Makefile (-want +got):\n%s", diff)
	}
	// The folder back in place, the next start rolls the update forward.
	os.Remove(f.project())
	os.Rename(f.project()+".real", f.project())
	if _, code, out := runChildCode(t, "recover", f, "", notebookUser); code != 0 || !strings.Contains(out, "finishing the interrupted update") {
		t.Errorf("recover with the folder back: exit %d\n%s", code, out)
	}
	if diff := cmp.Diff(commit, snapshot(t, f.project())); diff != "" {
		t.Errorf("the project (-want +got):\n%s", diff)
	}
}

func TestAFolderOfUpdatesOfAnotherUserHoldingAnInterruptedUpdateIsNeverSetAside(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000 and to make a folder of root's")
	// An update run as root (a misconfigured start) was killed: the whole updates folder is root's.
	// Setting it aside would hide the interrupted update.
	commit := seed.with(spec{"README.md": F("v2\n")})
	f := killedAfterTheJournal(t, func(t *testing.T) fixture { return newUserFixture(t, seed, seed, commit, theirs) })
	chownTree(t, filepath.Join(f.root, UpdatesDir), 0, 0)
	before := snapshot(t, f.root)
	for _, run := range []struct {
		cmd, project string
		code         int
		says         string
	}{
		{"recover", project, 1, "project " + project + " may be part-way through an update"},
		{"update", project, 1, "project " + project + " may be part-way through an update"},
		{"recover", other, 0, "warning: " + UpdatesDir + " at the volume root is a folder owned by uid 0, not by this user (uid 1000), and holds the journal of an interrupted update (or a work folder this user cannot read) of project " + project},
		{"record", other, 1, "updates on this volume are off until the operator finishes them as uid 0"},
	} {
		_, code, out, hung := runChildWithin(t, 20*time.Second, run.cmd, f, newCommit, notebookUser, childProject+"="+run.project)
		t.Logf("%s of %s: exit %d\n%s", run.cmd, run.project, code, out)
		if hung || code != run.code || !strings.Contains(out, run.says) {
			t.Errorf("%s of %s: exit %d; want %d and %q", run.cmd, run.project, code, run.code, run.says)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, f.root)); diff != "" {
		t.Errorf("the volume changed (-want +got):\n%s", diff)
	}
	// Root finishes it; the folder, root's still, holds no journal: the user's start sets it aside.
	if _, code, out := runChildCode(t, "recover", f, "", nil); code != 0 {
		t.Fatalf("recover as root: exit %d\n%s", code, out)
	}
	_, code, out := runChildCode(t, "update", f, newCommit, notebookUser)
	if code != 0 || !strings.Contains(out, "it is set aside as "+setAsideName(UpdatesDir, 1)) {
		t.Errorf("update after root's recovery: exit %d; want 0, the folder set aside:\n%s", code, out)
	}
	if got := snapshot(t, f.project())["README.md"]; got != F("v2\n") {
		t.Errorf("README.md: %+v, want the commit's", got)
	}
}

func TestAStartGoesOnWhenWhatIsAtTheUpdatesFolderCannotBeSetAside(t *testing.T) {
	requireRoot(t, "to run the engine as uid 1000 and to make the volume root root's")
	// A named pipe at .binder-projects-updates, in a volume root this user may not write (an
	// operator's mistake): nothing of binder-projects' can be in it, so the start is not failed.
	f := newUserFixture(t, seed, seed, seed, nil)
	updates := filepath.Join(f.root, UpdatesDir)
	if err := os.RemoveAll(updates); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(updates, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Lchown(updates, 1000, 1000)
	if err := os.Chown(f.root, 0, 0); err != nil {
		t.Fatal(err)
	}
	_, code, out, hung := runChildWithin(t, 20*time.Second, "recover", f, "", notebookUser)
	t.Logf("recover: exit %d\n%s", code, out)
	if hung || code != 0 || !strings.Contains(out, "warning: "+UpdatesDir+" at the volume root is a named pipe, not a folder, which binder-projects cannot use (the name is reserved for it), and it cannot be set aside: permission denied") {
		t.Errorf("recover: exit %d; want 0 and a warning that names the named pipe", code)
	}
	_, code, out, hung = runChildWithin(t, 20*time.Second, "update", f, newCommit, notebookUser)
	if hung || code != 1 || !strings.Contains(out, "is a named pipe, not a folder") {
		t.Errorf("update: exit %d; want 1 (refused) and the cause:\n%s", code, out)
	}
}
