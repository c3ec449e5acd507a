package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// ---- the built binary, run as a process ----

// builtBinary is the binary the running test built (TestTheBuiltBinaryInstallsItself).
var builtBinary string

// buildBinary builds this command (CGO_ENABLED=0, like the image) into a folder the notebook user can
// enter, removed with the test.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(sharedDir(t), "binder-projects")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func binary(t *testing.T) string {
	t.Helper()
	if builtBinary == "" {
		t.Fatal("run from TestTheBuiltBinaryInstallsItself, which builds the binary")
	}
	return builtBinary
}

// TestTheBuiltBinaryInstallsItself runs the built binary's install-helper, as the notebook user (uid
// 1000), as the helper's init container does in --helper-mode=init-container.
func TestTheBuiltBinaryInstallsItself(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the binary as uid 1000 (CI runs as root)")
	}
	builtBinary = buildBinary(t)
	t.Cleanup(func() { builtBinary = "" })
	testInstallHelper(t)
}

// execResult is what one run of the binary did.
type execResult struct {
	Code           int // -1: killed
	Stdout, Stderr string
}

// runBinary runs the binary with args, as the notebook user (uid 1000) if asUser, with extra env.
func runBinary(t *testing.T, asUser bool, env []string, args ...string) execResult {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = "/"
	if asUser {
		if os.Geteuid() != 0 {
			t.Skip("needs root to run the binary as uid 1000 (CI runs as root)")
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := execResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.Code = exitErr.ExitCode()
	default:
		t.Fatal(err)
	}
	return r
}

// ---- trees ----

// entry is a file (Content), a folder (Dir) or a link (Link) with its mode (files and folders).
type entry struct {
	Dir     bool
	Link    string
	Mode    fs.FileMode
	Content string
}

type tree map[string]entry

func file(c string) entry                 { return entry{Mode: 0o644, Content: c} }
func fileM(m fs.FileMode, c string) entry { return entry{Mode: m, Content: c} }
func dir() entry                          { return entry{Dir: true, Mode: 0o755} }
func dirM(m fs.FileMode) entry            { return entry{Dir: true, Mode: m} }
func link(to string) entry                { return entry{Link: to} }

func (tr tree) with(more tree) tree {
	out := tree{}
	for k, v := range tr {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// buildTree makes tr under base, owned by uid:gid (-1: the test's own).
func buildTree(t *testing.T, base string, tr tree, uid, gid int) {
	t.Helper()
	var paths []string
	for p := range tr {
		paths = append(paths, p)
	}
	slices.Sort(paths) // a folder before what it holds
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		e, full := tr[p], filepath.Join(base, p)
		var err error
		switch {
		case e.Dir:
			err = os.Mkdir(full, 0o755)
		case e.Link != "":
			err = os.Symlink(e.Link, full)
		default:
			err = os.WriteFile(full, []byte(e.Content), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := len(paths) - 1; i >= -1; i-- {
		full, e := base, entry{Dir: true, Mode: 0o755}
		if i >= 0 {
			full, e = filepath.Join(base, paths[i]), tr[paths[i]]
		}
		if uid >= 0 {
			if err := os.Lchown(full, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		if e.Link == "" {
			if err := os.Chmod(full, e.Mode); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readTree snapshots the tree under base, never following a link; it checks every entry is owned by
// uid (if >= 0).
func readTree(t *testing.T, base string, uid int) tree {
	t.Helper()
	tr := tree{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == base {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st := info.Sys().(*syscall.Stat_t); uid >= 0 && st.Uid != uint32(uid) {
			t.Errorf("%s is owned by uid %d, not %d", rel, st.Uid, uid)
		}
		mode := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			to, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tr[rel] = link(to)
		case info.IsDir():
			tr[rel] = dirM(mode)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tr[rel] = fileM(mode, string(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// sharedDir is a temporary folder uid 1000 can enter.
func sharedDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "binder-projects-update-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err == nil && de.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(d); err != nil {
			t.Error(err)
		}
	})
	return d
}

// ---- the scenario ----

func testInstallHelper(t *testing.T) {
	dir := sharedDir(t)
	to := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(to, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, 0o777); err != nil { // as kubelet makes an emptyDir
		t.Fatal(err)
	}
	r := runBinary(t, true, nil, "install-helper", "--to", to)
	if r.Code != 0 {
		t.Fatalf("install-helper: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	installed := filepath.Join(to, "binder-projects")
	want, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(installed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("the installed helper (%d bytes) is not the binary (%d bytes)", len(got), len(want))
	}
	if info, err := os.Stat(installed); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("the installed helper: %v, mode %v; want 0755", err, info.Mode())
	}
	if entries, _ := os.ReadDir(to); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only the binary (no temporary file left)", len(entries))
	}
	// Installed again (a restarted init container): the same file, atomically replaced.
	if r := runBinary(t, true, nil, "install-helper", "--to", to); r.Code != 0 {
		t.Fatalf("install-helper again: exit %d\n%s", r.Code, r.Stderr)
	}
	cmd := exec.Command(installed, "help")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "binder-projects init") {
		t.Fatalf("the installed helper does not run: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"--to", "relative"}, 2},
		{[]string{"--to", filepath.Join(dir, "missing")}, 1},
	} {
		r := runBinary(t, true, nil, append([]string{"install-helper"}, tc.args...)...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, "install-helper") && !strings.Contains(r.Stderr, "cannot install the helper") {
			t.Errorf("install-helper %q: exit %d, stderr %q; want exit %d and a message", tc.args, r.Code, r.Stderr, tc.code)
		}
	}
}

func TestTheUpdateCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // stdout
		err  string // the first line of stderr
	}{
		{"update without flags names every missing flag", []string{"update"}, 2, "failed project=invalid changed=no\n", "binder-projects update: missing --commit, --project, --root, --source"},
		{"recover needs no commit", []string{"recover", "--root", "/"}, 2, "failed project=invalid changed=no\n", "binder-projects recover: missing --project"},
		{"an unknown flag is refused", []string{"seeded", "--frob"}, 2, "failed project=invalid changed=no\n", "binder-projects seeded: flag provided but not defined: -frob"},
		{"an argument is refused", []string{"recover", "--root", "/", "--project", "p", "extra"}, 2, "failed project=p changed=no\n", `binder-projects recover: unexpected argument "extra"`},
		{"a relative root is refused", []string{"recover", "--root", "projects", "--project", "p"}, 2, "failed project=p changed=no\n", "binder-projects: error: bad input: the volume root must be an absolute path"},
		{"a bad project name is refused", []string{"seeded", "--root", "/", "--project", ".hidden", "--commit", "abc"}, 2, "failed project=.hidden changed=no\n", "binder-projects: error: bad input: the project name must be 1 to 255 of A-Z a-z 0-9 . _ - and not start with a dot"},
		{"-h prints the usage", []string{"update", "-h"}, 0, updateUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCommand(t, "", tt.args...)
			first, _, _ := strings.Cut(r.Stderr, "\n")
			if r.Code != tt.code || r.Stdout != tt.out || first != tt.err {
				t.Errorf("binder-projects %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr starting %q", strings.Join(tt.args, " "), r.Code, r.Stdout, r.Stderr, tt.code, tt.out, tt.err)
			}
		})
	}
	if !strings.Contains(usage, "binder-projects seeded|update|recover") {
		t.Errorf("the usage does not list the update commands:\n%s", usage)
	}
}
