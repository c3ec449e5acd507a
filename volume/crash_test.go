package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// childEnv makes the test binary run one command of this package instead of the tests (TestMain): the
// value is "update", "record" or "recover", with its inputs in childRoot, childSource and childCommit.
const (
	childEnv    = "BINDER_PROJECTS_UPDATE_TEST_CHILD"
	childRoot   = "BINDER_PROJECTS_UPDATE_TEST_ROOT"
	childSource = "BINDER_PROJECTS_UPDATE_TEST_SOURCE"
	childCommit = "BINDER_PROJECTS_UPDATE_TEST_COMMIT"
	// childProject names the project, if not project.
	childProject = "BINDER_PROJECTS_UPDATE_TEST_PROJECT"
)

func TestMain(m *testing.M) {
	if cmd := os.Getenv(childEnv); cmd != "" {
		os.Exit(child(cmd))
	}
	code := m.Run()
	if userBinary.dir != "" {
		os.RemoveAll(userBinary.dir)
	}
	os.Exit(code)
}

// userBinary is a copy of the test binary that uid 1000 may run (go test builds it in a private
// folder), made the first time a child runs as the notebook user.
var userBinary struct {
	once      sync.Once
	dir, path string
	err       error
}

func binaryFor(t *testing.T, cred *syscall.Credential) string {
	t.Helper()
	if cred == nil {
		return os.Args[0]
	}
	userBinary.once.Do(func() {
		b := &userBinary
		if b.dir, b.err = os.MkdirTemp("", "binder-projects-volume-test-"); b.err != nil {
			return
		}
		if b.err = os.Chmod(b.dir, 0o755); b.err != nil {
			return
		}
		var data []byte
		if data, b.err = os.ReadFile(os.Args[0]); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "volume.test")
		b.err = os.WriteFile(b.path, data, 0o755)
	})
	if userBinary.err != nil {
		t.Fatalf("cannot copy the test binary for uid %d: %v", cred.Uid, userBinary.err)
	}
	return userBinary.path
}

// child runs one command in this process, as a test's subprocess: exit 0 on success, 1 on an error.
func child(cmd string) int {
	log := func(l string) { fmt.Fprintln(os.Stderr, "binder-projects: "+l) }
	root, source, commit := os.Getenv(childRoot), os.Getenv(childSource), os.Getenv(childCommit)
	project := project
	if p := os.Getenv(childProject); p != "" {
		project = p
	}
	var err error
	switch cmd {
	case "update":
		_, err = Update(Options{Root: root, Project: project, Source: source, Commit: commit, Log: log})
	case "record":
		_, err = Record(root, project, commit, log)
	case "recover":
		_, _, err = Recover(root, project, log)
	default:
		err = fmt.Errorf("unknown child command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "binder-projects: error:", err)
		return 1
	}
	return 0
}

// runChild runs cmd in a subprocess of the test binary, with extra environment; it says whether the
// process was killed (by the crash hook's SIGKILL).
func runChild(t *testing.T, cmd string, f fixture, commit string, cred *syscall.Credential, env ...string) (killed bool, out string) {
	t.Helper()
	killed, code, out := runChildCode(t, cmd, f, commit, cred, env...)
	if !killed && code != 0 {
		t.Fatalf("binder-projects %s failed (exit status %d):\n%s", cmd, code, out)
	}
	return killed, out
}

// runChildCode is runChild that also returns the exit status of a process that was not killed. A
// process still running after childDeadline fails the test (a hang must fail, not wedge the suite).
func runChildCode(t *testing.T, cmd string, f fixture, commit string, cred *syscall.Credential, env ...string) (killed bool, code int, out string) {
	t.Helper()
	killed, code, out, hung := runChildWithin(t, childDeadline, cmd, f, commit, cred, env...)
	if hung {
		t.Fatalf("binder-projects %s hung: still running after %v, killed:\n%s", cmd, childDeadline, out)
	}
	return killed, code, out
}

// childDeadline is how long a test lets one command run.
const childDeadline = 2 * time.Minute

// runChildWithin is runChildCode with a deadline of its own; hung says the process was still running
// at the deadline (it was killed then).
func runChildWithin(t *testing.T, limit time.Duration, cmd string, f fixture, commit string, cred *syscall.Credential, env ...string) (killed bool, code int, out string, hung bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c := exec.CommandContext(ctx, binaryFor(t, cred), "-test.run=^$")
	c.Env = append(os.Environ(), childEnv+"="+cmd, childRoot+"="+f.root, childSource+"="+f.source, childCommit+"="+commit)
	c.Env = append(c.Env, env...)
	if cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, &buf
	err := c.Run()
	if ctx.Err() != nil {
		return false, 0, buf.String(), true
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return false, 0, buf.String(), false
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, 0, buf.String(), false
		}
		return false, exitErr.ExitCode(), buf.String(), false
	default:
		t.Fatal(err)
	}
	return false, 0, "", false
}

// killCase is an update with one of each kind of action.
var killCase = struct{ user, commit spec }{
	user: seed.with(spec{"analysis.ipynb": F("mine\n"), "mine.txt": F("mine\n"), "scripts/tool.py": F("mine\n")}).
		without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png"),
	commit: seed.with(spec{
		"README.md": F("v2\n"), "analysis.ipynb": F("v2\n"), "new.py": F("new\n"), "lib": DM(0o555), "lib/x.py": F("x\n"),
		"docs/new.md": F("new\n"), "data": DM(0o700), "Makefile": D(), "Makefile/rules.mk": F("rules\n"), "run.sh": FM(0o700, "#!/bin/sh\necho run\n"),
		"scripts": F("a file now\n"),
	}).without("data/a.csv", "empty", "scripts/tool.py", "scripts/helper.py"),
}

// states are the two trees (and manifests) a killed update may end in once recovered.
type states struct {
	before, after                 spec
	beforeManifest, afterManifest string
}

func killStates(t *testing.T) states {
	t.Helper()
	f := newFixture(t, t.TempDir(), seed, killCase.user, killCase.commit)
	var s states
	s.before = snapshot(t, f.project())
	m, err := os.ReadFile(ManifestPath(f.root, project))
	if err != nil {
		t.Fatal(err)
	}
	s.beforeManifest = string(m)
	if _, _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	s.after = snapshot(t, f.project())
	m, err = os.ReadFile(ManifestPath(f.root, project))
	if err != nil {
		t.Fatal(err)
	}
	s.afterManifest = string(m)
	if cmp.Equal(s.before, s.after) {
		t.Fatal("the update changes nothing")
	}
	return s
}

// checkBeforeOrAfter checks that the project and its manifest are exactly as before the update, or
// exactly as after it, and the volume root clean; it says which.
func (s states) check(t *testing.T, f fixture, what string) string {
	t.Helper()
	got := snapshot(t, f.project())
	m, err := os.ReadFile(ManifestPath(f.root, project))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	switch {
	case cmp.Equal(s.before, got):
		if string(m) != s.beforeManifest {
			t.Errorf("%s: the project is as before the update, but the manifest is not", what)
		}
		return "before"
	case cmp.Equal(s.after, got):
		if string(m) != s.afterManifest {
			t.Errorf("%s: the project is as after the update, but the manifest is not", what)
		}
		return "after"
	}
	t.Errorf("%s: the project is neither as before nor as after the update; against before (-want +got):\n%s\nagainst after (-want +got):\n%s", what, cmp.Diff(s.before, got), cmp.Diff(s.after, got))
	return ""
}

func TestAnUpdateKilledAtAnyPointEndsCompleteOrRolledBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the update about 70 times")
	}
	s := killStates(t)
	seen := map[string]int{}
	for n := 0; ; n++ {
		f := newFixture(t, t.TempDir(), seed, killCase.user, killCase.commit)
		killed, out := runChild(t, "update", f, newCommit, nil, fmt.Sprintf("%s=%d", TestCrashEnv, n))
		if !killed {
			if n < 20 {
				t.Fatalf("only %d crash points:\n%s", n, out)
			}
			s.check(t, f, "the update that was not killed")
			t.Logf("%d crash points; after recovery: %v", n, seen)
			break
		}
		// What a plain start does: recover.
		if killed, out := runChild(t, "recover", f, "", nil); killed {
			t.Fatalf("the recovery was killed:\n%s", out)
		}
		seen[s.check(t, f, fmt.Sprintf("killed at point %d, then recovered", n))]++
		f.checkClean(t)
		// And the update asked again completes.
		if killed, out = runChild(t, "update", f, newCommit, nil); killed {
			t.Fatal(out)
		}
		if got := s.check(t, f, fmt.Sprintf("killed at point %d, then updated again", n)); got != "after" {
			t.Errorf("killed at point %d: the update asked again did not complete", n)
		}
	}
	if seen["before"] == 0 || seen["after"] == 0 {
		t.Errorf("the kills never left one of the states: %v", seen)
	}
}

func TestARollBackKilledAtAnyPointEndsRolledBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the update many times")
	}
	s := killStates(t)
	// Fail the eighth step: seven are done and must be undone.
	const fail = 7
	for n := 0; ; n++ {
		f := newFixture(t, t.TempDir(), seed, killCase.user, killCase.commit)
		killed, code, out := runChildCode(t, "update", f, newCommit, nil, fmt.Sprintf("%s=%d", TestCrashEnv, n), fmt.Sprintf("%s=%d", TestFailStepEnv, fail))
		if !killed {
			if code != 1 {
				t.Errorf("the failed update exited with %d, want 1", code)
			}
			if !strings.Contains(out, "The update was rolled back") {
				t.Fatalf("the update with step %d failing did not roll back:\n%s", fail, out)
			}
			if got := s.check(t, f, "the rolled back update"); got != "before" {
				t.Errorf("the rolled back update left the project %s", got)
			}
			break
		}
		if killed, out := runChild(t, "recover", f, "", nil); killed {
			t.Fatalf("the recovery was killed:\n%s", out)
		}
		s.check(t, f, fmt.Sprintf("killed at point %d, then recovered", n))
		f.checkClean(t)
	}
}

func TestARecordKilledAtAnyPointLeavesNoManifestOrAWholeOne(t *testing.T) {
	for n := 0; ; n++ {
		dir := t.TempDir()
		f := fixture{root: filepath.Join(dir, "volume"), source: filepath.Join(dir, "unused")}
		build(t, f.project(), seed)
		killed, out := runChild(t, "record", f, oldCommit, nil, fmt.Sprintf("%s=%d", TestCrashEnv, n))
		m, err := ReadManifest(f.root, project)
		if err != nil {
			t.Fatalf("killed at point %d: the manifest cannot be read: %v", n, err)
		}
		if m != nil {
			f.checkManifest(t, oldCommit, f.project())
		}
		if !killed {
			if m == nil {
				t.Fatalf("the record that was not killed wrote no manifest:\n%s", out)
			}
			if n < 2 {
				t.Fatalf("only %d crash points", n)
			}
			break
		}
		// A record after a killed one succeeds.
		if killed, out := runChild(t, "record", f, oldCommit, nil); killed {
			t.Fatal(out)
		}
		f.checkManifest(t, oldCommit, f.project())
	}
}
