package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/volume"
)

// ---- the built binary, run as a process ----

// builtBinary is the binary the running test built (TestTheUpdateCommands).
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
		t.Fatal("run from TestTheUpdateCommands, which builds the binary")
	}
	return builtBinary
}

// TestTheUpdateCommands runs the built binary, as the notebook user (uid 1000), on real trees.
func TestTheUpdateCommands(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the binary as uid 1000 (CI runs as root)")
	}
	builtBinary = buildBinary(t)
	t.Cleanup(func() { builtBinary = "" })
	t.Run("the binary updates a project as the notebook user", testUpdatesAProject)
	t.Run("the binary refuses an update through a read-only folder and changes nothing", testRefusesAReadOnlyFolder)
	t.Run("the binary fails on a full volume and changes nothing", testFullVolume)
	t.Run("the binary recovers a killed update", testRecoversAKilledUpdate)
	t.Run("install-helper copies the binary, which then runs, as the notebook user", testInstallHelper)
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

const (
	cmdProject = "gh_binder-examples_requirements"
	seedCommit = "0123456789abcdef"
	newCommit  = "fedcba9876543210"
)

var repoV1 = tree{
	"README.md":         file("# v1\n"),
	"index.ipynb":       file("{v1}\n"),
	"requirements.txt":  fileM(0o444, "numpy\n"),
	"data":              dir(),
	"data/points.csv":   file("x,y\n"),
	"data/old.csv":      file("old\n"),
	"bin":               dir(),
	"bin/run":           fileM(0o755, "#!/bin/sh\n"),
	"latest":            link("data/points.csv"),
	".bashrc":           file("# v1\n"),
	"lines\nin name.md": file("v1\n"),
}

// volumeFixture is a volume (owned by uid 1000) with a project seeded from repoV1 by the notebook user
// and recorded by the binary, and the next commit's image home (owned by root, not writable by the
// user: a read-only image home).
type volumeFixture struct {
	root, homeV1, homeV2 string
}

func newVolume(t *testing.T, v2 tree) volumeFixture {
	t.Helper()
	base := sharedDir(t)
	f := volumeFixture{root: filepath.Join(base, "projects"), homeV1: filepath.Join(base, "image-v1", "home", "jovyan"), homeV2: filepath.Join(base, "image-v2", "home", "jovyan")}
	buildTree(t, f.root, tree{}, 1000, 1000)
	buildTree(t, f.homeV1, repoV1, 0, 0)
	buildTree(t, f.homeV2, v2, 0, 0)
	// The seed, as the init script makes it (cp -a as the user: the user owns the copy).
	buildTree(t, filepath.Join(f.root, cmdProject), repoV1, 1000, 1000)
	r := runBinary(t, true, nil, "seeded", "--root", f.root, "--project", cmdProject, "--commit", seedCommit)
	want := execResult{
		Stdout: "seeded project=" + cmdProject + " commit=" + seedCommit + " files=8 dirs=2 links=1 bytes=42\n",
		Stderr: "binder-projects: recorded what project " + cmdProject + " was seeded with at commit " + seedCommit + ": 8 files, 2 folders, 1 links, 42 bytes\n",
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Fatalf("binder-projects seeded (-want +got):\n%s", diff)
	}
	return f
}

func (f volumeFixture) project() string { return filepath.Join(f.root, cmdProject) }

// change applies the user's changes as the user would (owned by uid 1000).
func (f volumeFixture) change(t *testing.T, files tree, remove ...string) {
	t.Helper()
	for _, p := range remove {
		if err := os.RemoveAll(filepath.Join(f.project(), p)); err != nil {
			t.Fatal(err)
		}
	}
	for p, e := range files {
		full := filepath.Join(f.project(), p)
		os.Remove(full)
		buildTree(t, filepath.Dir(full), tree{}, 1000, 1000)
		if err := os.WriteFile(full, []byte(e.Content), e.Mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, e.Mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(full, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
}

func (f volumeFixture) update(t *testing.T, env ...string) execResult {
	t.Helper()
	return runBinary(t, true, env, "update", "--root", f.root, "--project", cmdProject, "--source", f.homeV2, "--commit", newCommit)
}

// checkLog checks that every stderr line is ours and names no absolute path of the test.
func (f volumeFixture) checkLog(t *testing.T, stderr string) {
	t.Helper()
	if stderr == "" {
		return
	}
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if !strings.HasPrefix(l, "binder-projects: ") {
			t.Errorf("a log line without the prefix: %q", l)
		}
	}
	if strings.Contains(stderr, filepath.Dir(f.root)) {
		t.Errorf("the log names an absolute path:\n%s", stderr)
	}
}

var repoV2 = repoV1.with(tree{
	"README.md":         file("# v2\n"),
	"index.ipynb":       file("{v2}\n"),
	"requirements.txt":  fileM(0o444, "numpy\npandas\n"),
	"data/new.csv":      file("new\n"),
	"lines\nin name.md": file("v2\n"),
	"bin/run":           fileM(0o755, "#!/bin/sh\necho v2\n"),
})

func init() { delete(repoV2, "data/old.csv") }

func testUpdatesAProject(t *testing.T) {
	f := newVolume(t, repoV2)
	// The user edited the notebook and a file with a line break in its name, deleted the README, made
	// the script private and unreadable, and added results.
	f.change(t, tree{"index.ipynb": file("{mine}\n"), "lines\nin name.md": file("mine\n"), "bin/run": fileM(0o000, "#!/bin/sh\n"), "results.csv": file("1\n")}, "README.md")

	r := f.update(t)
	if r.Code != 0 {
		t.Fatalf("binder-projects update: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	wantLine := "updated project=" + cmdProject + " commit=" + newCommit + " from=" + seedCommit + " replaced=1 added=1 removed=1 kept=3 beside=3 stayed-deleted=1 modes=0 recovered=none\n"
	if diff := cmp.Diff(wantLine, r.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	f.checkLog(t, r.Stderr)
	for _, l := range []string{
		"binder-projects: kept your index.ipynb; the commit's version is index.fedcba9.ipynb",
		`binder-projects: kept your "lines\nin name.md"; the commit's version is "lines\nin name.fedcba9.md"`,
		"binder-projects: kept your bin/run; the commit's version is bin/run.fedcba9",
		"binder-projects: left README.md deleted (you deleted it; the commit changed it)",
	} {
		if !strings.Contains(r.Stderr, l+"\n") {
			t.Errorf("the log lacks %q:\n%s", l, r.Stderr)
		}
	}
	want := repoV1.with(tree{
		"index.ipynb": file("{mine}\n"), "index.fedcba9.ipynb": file("{v2}\n"),
		"lines\nin name.md": file("mine\n"), "lines\nin name.fedcba9.md": file("v2\n"),
		"bin/run": fileM(0o000, "#!/bin/sh\n"), "bin/run.fedcba9": fileM(0o755, "#!/bin/sh\necho v2\n"),
		"requirements.txt": fileM(0o444, "numpy\npandas\n"), // read-only, never changed by the user: replaced
		"data/new.csv":     file("new\n"),
		"results.csv":      file("1\n"),
	})
	delete(want, "README.md")
	delete(want, "data/old.csv")
	if diff := cmp.Diff(want, readTree(t, f.project(), 1000)); diff != "" {
		t.Errorf("the project (-want +got):\n%s", diff)
	}
	if m, err := volume.ReadManifest(f.root, cmdProject); err != nil || m.Commit != newCommit {
		t.Errorf("the manifest: %v, %v; want one at commit %s", m, err, newCommit)
	}
	if _, err := os.Lstat(volume.WorkPath(f.root, cmdProject)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the work folder is left: %v", err)
	}

	// Asked again, nothing is left to do.
	r = f.update(t)
	want2 := "updated project=" + cmdProject + " commit=" + newCommit + " from=" + newCommit + " replaced=0 added=0 removed=0 kept=0 beside=0 stayed-deleted=0 modes=0 recovered=none\n"
	if r.Code != 0 || r.Stdout != want2 {
		t.Errorf("the second update: exit %d, stdout %q, want %q\n%s", r.Code, r.Stdout, want2, r.Stderr)
	}
	if diff := cmp.Diff(want, readTree(t, f.project(), 1000)); diff != "" {
		t.Errorf("the second update changed the project (-want +got):\n%s", diff)
	}
}

func testRefusesAReadOnlyFolder(t *testing.T) {
	f := newVolume(t, repoV2)
	if err := os.Chmod(filepath.Join(f.project(), "data"), 0o555); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, f.project(), 1000)
	manifest, err := os.ReadFile(volume.ManifestPath(f.root, cmdProject))
	if err != nil {
		t.Fatal(err)
	}
	r := f.update(t)
	want := execResult{
		Code:   1,
		Stdout: "failed project=" + cmdProject + " changed=no\n",
		Stderr: "binder-projects: error: cannot update project " + cmdProject + ": folder data is not writable by this user (uid 1000, mode 0555), so data/new.csv cannot be changed; make it writable (chmod u+w) from a terminal, then start again. Nothing was changed\n",
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("binder-projects update (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, readTree(t, f.project(), 1000)); diff != "" {
		t.Errorf("the refused update changed the project (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(volume.ManifestPath(f.root, cmdProject)); !bytes.Equal(got, manifest) {
		t.Error("the refused update changed the manifest")
	}
}

func testFullVolume(t *testing.T) {
	small := sharedDir(t)
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=512k,mode=0755"); err != nil {
		t.Fatalf("cannot mount a tmpfs (this runs as root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(small, 0); err != nil {
			t.Errorf("unmount the small volume: %v", err)
		}
	})
	f := volumeFixture{root: filepath.Join(small, "projects"), homeV2: filepath.Join(sharedDir(t), "home")}
	buildTree(t, f.root, tree{}, 1000, 1000)
	buildTree(t, f.project(), repoV1, 1000, 1000)
	if r := runBinary(t, true, nil, "seeded", "--root", f.root, "--project", cmdProject, "--commit", seedCommit); r.Code != 0 {
		t.Fatalf("binder-projects seeded: %+v", r)
	}
	big := strings.Repeat("x", 1<<20)
	buildTree(t, f.homeV2, repoV2.with(tree{"data/big.bin": file(big)}), 0, 0)
	before := readTree(t, f.project(), 1000)

	r := f.update(t)
	if r.Code != 1 || r.Stdout != "failed project="+cmdProject+" changed=no\n" {
		t.Errorf("binder-projects update on a full volume: exit %d, stdout %q\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, s := range []string{"binder-projects: error: cannot update project " + cmdProject + ": the volume is full (", "no space left on device. Free some space", "Nothing was changed."} {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("the message lacks %q:\n%s", s, r.Stderr)
		}
	}
	f.checkLog(t, r.Stderr)
	if diff := cmp.Diff(before, readTree(t, f.project(), 1000)); diff != "" {
		t.Errorf("the failed update changed the project (-want +got):\n%s", diff)
	}
	if _, err := os.Lstat(volume.WorkPath(f.root, cmdProject)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the staged files are left: %v", err)
	}
}

func testRecoversAKilledUpdate(t *testing.T) {
	changed := tree{"index.ipynb": file("{mine}\n")}
	ref := newVolume(t, repoV2)
	ref.change(t, changed)
	before := readTree(t, ref.project(), 1000)
	if r := ref.update(t); r.Code != 0 {
		t.Fatalf("the update never killed: %+v", r)
	}
	after := readTree(t, ref.project(), 1000)

	states := map[string]int{}
	for n := 0; ; n++ {
		f := newVolume(t, repoV2)
		f.change(t, changed)
		r := f.update(t, fmt.Sprintf("%s=%d", volume.TestCrashEnv, n))
		if r.Code == 0 {
			if diff := cmp.Diff(after, readTree(t, f.project(), 1000)); diff != "" {
				t.Errorf("past the last crash point (%d): the project (-want +got):\n%s", n, diff)
			}
			break
		}
		if r.Code != -1 {
			t.Fatalf("killed at %d: exit %d, want killed\n%s", n, r.Code, r.Stderr)
		}
		r = runBinary(t, true, nil, "recover", "--root", f.root, "--project", cmdProject)
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "recovered project="+cmdProject+" state=") {
			t.Fatalf("killed at %d, then binder-projects recover: exit %d, stdout %q\n%s", n, r.Code, r.Stdout, r.Stderr)
		}
		f.checkLog(t, r.Stderr)
		state := strings.TrimSpace(strings.TrimPrefix(r.Stdout, "recovered project="+cmdProject+" state="))
		states[state]++
		want := before
		switch state {
		case "finished":
			want = after
		case "none", "cleaned":
		default:
			t.Errorf("killed at %d: recovered %s", n, state)
		}
		if diff := cmp.Diff(want, readTree(t, f.project(), 1000)); diff != "" {
			t.Errorf("killed at %d, recovered %s: the project (-want +got):\n%s", n, state, diff)
		}
		if r = f.update(t); r.Code != 0 {
			t.Fatalf("killed at %d, recovered, updated again: %+v", n, r)
		}
		if diff := cmp.Diff(after, readTree(t, f.project(), 1000)); diff != "" {
			t.Errorf("killed at %d, then updated again: the project differs from an update never killed (-want +got):\n%s", n, diff)
		}
	}
	t.Logf("recovered states: %v", states)
	for _, s := range []string{"none", "cleaned", "finished"} {
		if states[s] == 0 {
			t.Errorf("no kill left the state %s: %v", s, states)
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
	cmd := exec.Command(installed, "update", "-h")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "binder-projects update") {
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
