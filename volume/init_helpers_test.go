//go:build linux

package volume

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The init command is run for real: the test binary itself, started again as a child process (the
// init function below turns it into `binder-projects init`), as the notebook user (uid 1000, gid 100,
// as in a z2jh pod), in a process group of its own (so that a test can kill it with SIGKILL), against
// real folder trees. init.sh (version 1, testdata/init-sh-v1.sh) runs beside it under dash and
// busybox, as during a rolling upgrade.

// initChildEnv makes the test binary run the init command instead of the tests.
const initChildEnv = "BINDER_PROJECTS_INIT_TEST_CHILD"

func init() {
	if os.Getenv(initChildEnv) == "1" {
		os.Exit(RunInit(os.LookupEnv, os.Stderr))
	}
}

const (
	initProject = "gh_binder-examples_requirements"
	// The notebook user of a z2jh deployment.
	userUID, userGID = 1000, 100
)

var notebook = &syscall.Credential{Uid: userUID, Gid: userGID}

// childBinary is the test binary, linked into a folder uid 1000 can enter (go test's own is 0700).
func childBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(sharedTempDir(t), "binder-projects-init.test")
	if err := os.Link(exe, bin); err != nil {
		data, rerr := os.ReadFile(exe)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// initResult is what one start did.
type initResult struct {
	code   int // exit status; -1 if killed
	killed bool
	out    string
}

// starter runs starts of the Go init (or of init.sh) with exactly the environment given.
type starter struct {
	name string
	// argv runs a start; env is added after PATH and a UTF-8 locale.
	argv []string
	path string
	env  []string
}

const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// goInit is the Go init command.
func goInit(t *testing.T) starter {
	return starter{name: "go", argv: []string{childBinary(t)}, path: systemPath, env: []string{initChildEnv + "=1"}}
}

// scriptInit is init.sh (version 1) under shell ("dash" or "busybox"), with the tools of that shell
// (busybox's applets first in PATH for busybox), and with helper as its BINDER_PROJECTS_HELPER ("":
// none).
func scriptInit(t *testing.T, shell, helper string) starter {
	t.Helper()
	script := filepath.Join(sharedTempDir(t), "init-sh-v1.sh")
	data, err := os.ReadFile("testdata/init-sh-v1.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := starter{name: "script/" + shell, path: systemPath}
	switch shell {
	case "dash":
		s.argv = []string{"/bin/dash", script}
	case "busybox":
		applets := sharedTempDir(t)
		if out, err := exec.Command("/bin/busybox", "--install", "-s", applets).CombinedOutput(); err != nil {
			t.Fatalf("busybox --install -s: %v\n%s", err, out)
		}
		s.argv = []string{"/bin/busybox", "sh", script}
		s.path = applets + ":" + systemPath
	default:
		t.Fatalf("no shell %q", shell)
	}
	if helper != "" {
		s.env = append(s.env, "BINDER_PROJECTS_HELPER="+helper)
	}
	return s
}

// withoutFlock is s with a PATH in which flock is not found (init.sh then works without locks), for
// init.sh only.
func (s starter) withoutFlock(t *testing.T) starter {
	t.Helper()
	dir := sharedTempDir(t)
	for _, d := range filepath.SplitList(s.path) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			link := filepath.Join(dir, e.Name())
			if e.Name() == "flock" {
				continue
			}
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.Symlink(filepath.Join(d, e.Name()), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.path = dir
	s.name += " without flock"
	return s
}

// brokenFlock is the Go init on a volume where flock(2) fails (TestNoFlockEnv).
func (s starter) brokenFlock() starter {
	s.env = append(append([]string{}, s.env...), TestNoFlockEnv+"=1")
	s.name += " where flock fails"
	return s
}

// command prepares a start with env, as the notebook user if asUser, in its own process group.
func (s starter) command(env []string, asUser bool) *exec.Cmd {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = append(append([]string{"PATH=" + s.path, "LANG=C.UTF-8"}, s.env...), env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if asUser {
		cmd.SysProcAttr.Credential = notebook
	}
	return cmd
}

// run runs a start to its end (at most two minutes: no start may block).
func (s starter) run(t *testing.T, env []string, asUser bool) initResult {
	t.Helper()
	cmd := s.command(env, asUser)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return resultOf(t, err, out.String())
	case <-time.After(2 * time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%s: the start did not end within two minutes (blocked?); output:\n%s", s.name, out.String())
		return initResult{}
	}
}

func resultOf(t *testing.T, err error, out string) initResult {
	t.Helper()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return initResult{out: out}
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return initResult{code: -1, killed: ws.Signal() == syscall.SIGKILL, out: out}
		}
		return initResult{code: exitErr.ExitCode(), out: out}
	}
	t.Fatalf("running a start: %v", err)
	return initResult{}
}

// syncBuffer is a bytes.Buffer that a running command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startInBackground starts cmd with its output collected; done receives what Wait returns.
func startInBackground(t *testing.T, cmd *exec.Cmd) (*syncBuffer, <-chan error) {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return out, done
}

// waitForOutput waits until a start begun by startInBackground has written want.
func waitForOutput(t *testing.T, out *syncBuffer, done <-chan error, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), want); {
		select {
		case err := <-done:
			t.Fatalf("the start ended (%v) without saying %q; output:\n%s", err, want, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start does not say %q; output:\n%s", want, out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitForEnd waits until a start begun by startInBackground ends, and returns what it did.
func waitForEnd(t *testing.T, out *syncBuffer, done <-chan error) initResult {
	t.Helper()
	select {
	case err := <-done:
		res := resultOf(t, err, out.String())
		t.Logf("output:\n%s", res.out)
		return res
	case <-time.After(30 * time.Second):
		t.Fatalf("the start still runs after 30 s; output:\n%s", out.String())
	}
	return initResult{}
}

// ---- folder trees with owners and times ----

// treeNode is one entry of a folder tree to build.
type treeNode struct {
	path    string
	mode    fs.FileMode
	content string
	link    string
}

func treeDir(path string, mode fs.FileMode) treeNode {
	return treeNode{path: path, mode: fs.ModeDir | mode}
}
func treeFile(path string, mode fs.FileMode, content string) treeNode {
	return treeNode{path: path, mode: mode, content: content}
}
func treeLink(path, target string) treeNode {
	return treeNode{path: path, mode: fs.ModeSymlink, link: target}
}

// buildTree creates nodes under base, then gives every entry a distinct old time and, if owner is not
// nil, that owner (uid, gid), like a repo2docker home.
func buildTree(t *testing.T, base string, owner *[2]int, nodes ...treeNode) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(base, n.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case n.mode&fs.ModeDir != 0:
			err = os.MkdirAll(p, 0o755)
		case n.mode&fs.ModeSymlink != 0:
			err = os.Symlink(n.link, p)
		default:
			err = os.WriteFile(p, []byte(n.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		p := filepath.Join(base, n.path)
		if owner != nil {
			if err := os.Lchown(p, owner[0], owner[1]); err != nil {
				t.Fatal(err)
			}
		}
		if n.mode&fs.ModeSymlink != 0 {
			continue
		}
		if err := os.Chmod(p, n.mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			t.Fatal(err)
		}
		mtime := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC).Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// treeEntry is what a snapshot records of one entry.
type treeEntry struct {
	Type     string
	Mode     fs.FileMode // permission and special bits; 0 for links
	UID, GID uint32
	MTime    time.Time // with nanoseconds
	Size     int64
	SHA256   string
	Link     string
	Ino      uint64 // only to tell hard links apart (hardLinks); never compared itself
}

// snapshotTree records every entry under base ("." is base itself), never following a link. A missing
// base gives nil.
func snapshotTree(t *testing.T, base string) map[string]treeEntry {
	t.Helper()
	if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	snap := map[string]treeEntry{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		e := treeEntry{UID: st.Uid, GID: st.Gid, Ino: st.Ino}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type, e.MTime = "symlink", info.ModTime()
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir():
			e.Type, e.Mode, e.MTime = "dir", modeOf(info), info.ModTime()
		case info.Mode().IsRegular():
			e.Type, e.Mode, e.MTime, e.Size = "file", modeOf(info), info.ModTime(), info.Size()
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			e.SHA256 = hex.EncodeToString(sum[:])
		default:
			e.Type, e.Mode = "other", info.Mode()
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		snap[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", base, err)
	}
	return snap
}

// onlyTop is the part of snap under the given top-level names.
func onlyTop(snap map[string]treeEntry, names ...string) map[string]treeEntry {
	out := map[string]treeEntry{}
	for k, v := range snap {
		top := strings.SplitN(k, "/", 2)[0]
		for _, n := range names {
			if top == n {
				out[k] = v
			}
		}
	}
	return out
}

// subTree is the part of snap under the folder rel, with keys relative to it.
func subTree(snap map[string]treeEntry, rel string) map[string]treeEntry {
	out := map[string]treeEntry{}
	prefix := rel + "/"
	for k, v := range snap {
		switch {
		case k == rel:
			out["."] = v
		case strings.HasPrefix(k, prefix):
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

// reservedLeftovers lists the entries at the root with the reserved prefixes of leftovers.
func reservedLeftovers(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	for _, prefix := range leftoverPrefixes {
		m, err := filepath.Glob(filepath.Join(root, prefix+"*"))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, m...)
	}
	return found
}

// ---- the fixture: an image home, a user's volume, a folder outside the volume ----

type initFixture struct {
	base    string // holds the three below
	source  string // the image's home (EnvSource)
	root    string // the user's volume (EnvRoot)
	outside string // a folder outside the volume that links point to
	report  string // the report file (EnvReport), outside base, as kubelet's termination log
}

// repo2dockerHome is a repo2docker home: dotfiles, nested folders, an executable, a private file,
// links (relative, absolute, to a folder, dangling), a file postBuild made, awkward names, a hard
// link, a setgid folder.
func repo2dockerHome() []treeNode {
	return []treeNode{
		treeDir(".", 0o755),
		treeFile(".bashrc", 0o644, "# repo2docker\nexport PS1='$ '\n"),
		treeDir(".config", 0o755),
		treeDir(".config/app", 0o700),
		treeFile(".config/app/settings.json", 0o600, `{"theme": "dark"}`),
		treeFile("README.md", 0o644, "# requirements\n"),
		treeDir("binder", 0o755),
		treeFile("binder/postBuild", 0o755, "#!/bin/sh\necho built > built.txt\n"),
		treeFile("binder/requirements.txt", 0o644, "numpy\n"),
		treeFile("built.txt", 0o644, "built\n"),
		treeDir("bin", 0o755),
		treeFile("bin/run.sh", 0o755, "#!/bin/sh\necho run\n"),
		treeFile("secret.txt", 0o600, "only mine\n"),
		treeDir("data", 0o755),
		treeDir("data/sub", 0o750),
		treeDir("data/sub/deep", 0o755),
		treeFile("data/sub/deep/table.csv", 0o644, "a,b\n1,2\n"),
		treeDir("shared", fs.ModeSetgid|0o775),
		treeFile("shared/notes.txt", 0o664, "group notes\n"),
		treeDir("readonly", 0o555),
		treeFile("readonly/fixed.txt", 0o444, "fixed\n"),
		treeDir("empty", 0o755),
		treeFile("notes with spaces.ipynb", 0o644, "{}"),
		treeFile("-dash-first", 0o644, "x"),
		treeFile("weird\nname.txt", 0o644, "a line break in the name\n"),
		treeLink("link-to-readme", "README.md"),
		treeLink("link-to-data", "data/sub"),
		treeLink("absolute-link", "/etc/hostname"),
		treeLink("dangling-link", "does-not-exist"),
	}
}

// migratedUserFiles are a migrated JupyterHub user's old home files at the volume root; no start may
// touch them.
var migratedUserFiles = []string{"notes.ipynb", ".bashrc", "old-work", ".binder-projects-notes.txt"}

func newInitFixture(t *testing.T) *initFixture {
	t.Helper()
	base := sharedTempDir(t)
	fx := &initFixture{
		base:    base,
		source:  filepath.Join(base, "home", "jovyan"),
		root:    filepath.Join(base, "projects"),
		outside: filepath.Join(base, "outside"),
		report:  filepath.Join(sharedTempDir(t), "termination-log"),
	}
	fx.resetReport(t)
	buildTree(t, fx.source, &[2]int{userUID, userGID}, repo2dockerHome()...)
	// A hard link in the home: two names, one file.
	if err := os.Link(filepath.Join(fx.source, "bin/run.sh"), filepath.Join(fx.source, "bin/run")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(fx.source), 0o755); err != nil {
		t.Fatal(err)
	}
	fx.seedRoot(t)
	buildTree(t, fx.outside, nil,
		treeDir("precious", 0o755),
		treeFile("precious/thesis.tex", 0o644, "\\begin{document}\n"))
	return fx
}

// seedRoot creates the volume root, owned by the user (as fsGroup does), with the user's old files.
func (fx *initFixture) seedRoot(t *testing.T) {
	t.Helper()
	buildTree(t, fx.root, &[2]int{userUID, userGID},
		treeDir(".", 0o775),
		treeFile("notes.ipynb", 0o644, `{"cells": []}`),
		treeFile(".bashrc", 0o644, "alias ll='ls -l'\n"),
		treeDir("old-work", 0o755),
		treeFile("old-work/analysis.py", 0o644, "print(42)\n"),
		treeFile(".binder-projects-notes.txt", 0o644, "a user's file that only looks like ours\n"))
}

// env is the environment of a start of project with the deletion queue del, reporting to fx.report,
// plus extra (NAME=value).
func (fx *initFixture) env(project, del string, extra ...string) []string {
	return append([]string{
		contract.EnvRoot + "=" + fx.root,
		contract.EnvSource + "=" + fx.source,
		contract.EnvProject + "=" + project,
		contract.EnvDelete + "=" + del,
		contract.EnvReport + "=" + fx.report,
	}, extra...)
}

// resetReport empties the report file, writable by everyone, as kubelet makes the termination log.
func (fx *initFixture) resetReport(t *testing.T) {
	t.Helper()
	makeReportFile(t, fx.report)
}

func makeReportFile(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func makeTestLink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func (fx *initFixture) path(parts ...string) string {
	return filepath.Join(append([]string{fx.root}, parts...)...)
}

// linesNamingInputPaths start the only messages that may print the volume root or the image's home.
var linesNamingInputPaths = []string{
	"binder-projects: error: a file named ",
	"binder-projects: error: a named pipe named ",
	"binder-projects: error: a symbolic link named ",
	"binder-projects: warning: the image has no home folder at ",
}

// checkLog asserts the output is made of prefixed lines, holds the wanted pieces, and prints no input
// other than folder names (the root and the home only in linesNamingInputPaths).
func (fx *initFixture) checkLog(t *testing.T, res initResult, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(res.out, "\n"), "\n")
	for _, line := range lines {
		if line != "" && !strings.HasPrefix(line, "binder-projects: ") {
			t.Errorf("log line without the binder-projects: prefix: %q\nfull output:\n%s", line, res.out)
		}
	}
	for _, w := range want {
		if !strings.Contains(res.out, w) {
			t.Errorf("output lacks %q; output:\n%s", w, res.out)
		}
	}
	for _, secret := range []string{fx.root, fx.source} {
		for _, line := range lines {
			allowed := false
			for _, prefix := range linesNamingInputPaths {
				allowed = allowed || strings.HasPrefix(line, prefix)
			}
			if strings.Contains(line, secret) && !allowed {
				t.Errorf("output prints the input path %s: %q; output:\n%s", secret, line, res.out)
			}
		}
	}
}

// ---- the report ----

// reportWant is what a start's report must say.
type reportWant struct {
	deleted, kept []int
	project       string
	warnings      []string // one piece of each warning, in order
	manyWarnings  bool     // more warnings than fit: the last counts the ones left out
	err           string   // a piece of the error; "" for none
	update        string   // the update's state; "" for none
}

func seededReport(deleted ...int) reportWant {
	return reportWant{deleted: deleted, project: contract.ProjectSeeded}
}

// checkReport asserts the report raw is a valid report that says what want says, and what the log
// says: the same warnings, in order, and the same error.
func checkReport(t *testing.T, res initResult, raw string, want reportWant) contract.Report {
	t.Helper()
	if raw == "" {
		t.Fatalf("no report was written; output:\n%s", res.out)
	}
	if len(raw) > 3000 {
		t.Errorf("the report has %d bytes, more than 3000 (contract's reportLimit):\n%s", len(raw), raw)
	}
	got, err := contract.DecodeReport(raw)
	if err != nil {
		t.Fatalf("DecodeReport: %v; report:\n%s", err, raw)
	}
	if !got.Present {
		t.Fatalf("no report in %q", raw)
	}
	if diff := cmp.Diff(want.deleted, got.Deleted, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("report deleted (-want +got):\n%s\nreport: %s", diff, raw)
	}
	if diff := cmp.Diff(want.kept, got.Kept, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("report kept (-want +got):\n%s\nreport: %s", diff, raw)
	}
	gotUpdate := ""
	if got.Update != nil {
		gotUpdate = got.Update.State
	}
	if gotUpdate != want.update {
		t.Errorf("report update %q, want %q; report: %s", gotUpdate, want.update, raw)
	}
	if got.Project != want.project {
		t.Errorf("report project %s, want %s; report: %s", got.Project, want.project, raw)
	}
	if (want.err == "") != (got.Error == "") || !strings.Contains(got.Error, want.err) {
		t.Errorf("report error %q, want one with %q", got.Error, want.err)
	}
	var logWarnings []string
	logError := ""
	for _, line := range strings.Split(res.out, "\n") {
		if w, ok := strings.CutPrefix(line, "binder-projects: warning: "); ok && !strings.HasPrefix(w, "could not write the report file") {
			logWarnings = append(logWarnings, w)
		}
		if e, ok := strings.CutPrefix(line, "binder-projects: error: "); ok {
			logError = e
		}
	}
	if got.Error != logError {
		t.Errorf("report error %q, but the log says %q", got.Error, logError)
	}
	warnings := got.Warnings
	if want.manyWarnings {
		if len(warnings) == 0 {
			t.Fatalf("no warnings in the report: %s", raw)
		}
		var more int
		if _, err := fmt.Sscanf(warnings[len(warnings)-1], "%d more warnings are only in the log", &more); err != nil {
			t.Fatalf("the report's last warning does not count the ones left out: %q", warnings[len(warnings)-1])
		}
		warnings = warnings[:len(warnings)-1]
		if more == 0 || len(warnings)+more != len(logWarnings) {
			t.Fatalf("the report has %d warnings and %d more, the log %d", len(warnings), more, len(logWarnings))
		}
		logWarnings = logWarnings[:len(warnings)]
	} else if len(warnings) != len(want.warnings) {
		t.Errorf("report has %d warnings, want %d: %q", len(warnings), len(want.warnings), warnings)
	} else {
		for i, w := range want.warnings {
			if !strings.Contains(warnings[i], w) {
				t.Errorf("report warning %d is %q, want one with %q", i+1, warnings[i], w)
			}
		}
	}
	if diff := cmp.Diff(logWarnings, warnings, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the report's warnings are not the log's (-log +report):\n%s", diff)
	}
	return got
}

// ---- assertions ----

// diffTrees compares two snapshots without inode numbers.
func diffTrees(want, got map[string]treeEntry) string {
	return cmp.Diff(want, got, cmpopts.IgnoreFields(treeEntry{}, "Ino"))
}

// hardLinks groups the files of snap that are one file (by inode), as sorted lists of names.
func hardLinks(snap map[string]treeEntry) [][]string {
	byIno := map[uint64][]string{}
	for p, e := range snap {
		if e.Type == "file" {
			byIno[e.Ino] = append(byIno[e.Ino], p)
		}
	}
	var groups [][]string
	for _, names := range byIno {
		if len(names) > 1 {
			slices.Sort(names)
			groups = append(groups, names)
		}
	}
	slices.SortFunc(groups, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return groups
}

// assertCopyOfHome asserts the project folder is a complete copy of the home, as cp -a makes it:
// types, contents, modes, owners, times to the nanosecond (links' too), hard links.
func assertCopyOfHome(t *testing.T, fx *initFixture, project string) {
	t.Helper()
	home, got := snapshotTree(t, fx.source), snapshotTree(t, fx.path(project))
	if diff := diffTrees(home, got); diff != "" {
		t.Errorf("project %s is not a copy of the home (-home +project):\n%s", project, diff)
	}
	if diff := cmp.Diff(hardLinks(home), hardLinks(got)); diff != "" {
		t.Errorf("project %s does not keep the home's hard links (-home +project):\n%s", project, diff)
	}
}

// assertCopyOfHomeBySeconds is assertCopyOfHome for a copy busybox's cp -a may have made: times in
// whole seconds, links without their times.
func assertCopyOfHomeBySeconds(t *testing.T, fx *initFixture, project string) {
	t.Helper()
	coarse := func(snap map[string]treeEntry) map[string]treeEntry {
		for k, e := range snap {
			e.MTime = e.MTime.Truncate(time.Second)
			if e.Type == "symlink" {
				e.MTime = time.Time{}
			}
			snap[k] = e
		}
		return snap
	}
	if diff := diffTrees(coarse(snapshotTree(t, fx.source)), coarse(snapshotTree(t, fx.path(project)))); diff != "" {
		t.Errorf("project %s is not a copy of the home (-home +project):\n%s", project, diff)
	}
}

// assertUnchanged asserts the whole fixture (home, volume, outside folder) is as it was.
func assertUnchanged(t *testing.T, fx *initFixture, before map[string]treeEntry) {
	t.Helper()
	if diff := diffTrees(before, snapshotTree(t, fx.base)); diff != "" {
		t.Errorf("the start changed files (-before +after):\n%s", diff)
	}
}

// assertSubtreeUnchanged asserts the volume's entry name and everything below it are as they were.
func assertSubtreeUnchanged(t *testing.T, fx *initFixture, before map[string]treeEntry, name string) {
	t.Helper()
	rel := filepath.Join("projects", name)
	if diff := diffTrees(subTree(before, rel), subTree(snapshotTree(t, fx.base), rel)); diff != "" {
		t.Errorf("%s changed (-before +after):\n%s", name, diff)
	}
}

// assertOutsideUnchanged asserts the folder outside the volume is as it was.
func assertOutsideUnchanged(t *testing.T, fx *initFixture, before map[string]treeEntry) {
	t.Helper()
	if diff := diffTrees(onlyTop(before, "outside"), onlyTop(snapshotTree(t, fx.base), "outside")); diff != "" {
		t.Errorf("the folder outside the volume changed (-before +after):\n%s", diff)
	}
}

func assertEmptyProject(t *testing.T, fx *initFixture, project string) {
	t.Helper()
	entries, err := os.ReadDir(fx.path(project))
	if err != nil {
		t.Fatalf("project %s: %v", project, err)
	}
	if len(entries) != 0 {
		t.Errorf("project %s is not empty: %d entries", project, len(entries))
	}
}

func assertAbsent(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists (err %v)", p, err)
		}
	}
}

func assertPresent(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s is gone: %v", p, err)
		}
	}
}

func setMtime(t *testing.T, p string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// checkCommon asserts what holds after every start: the user's old files at the root are untouched,
// the home is untouched, and no reserved leftover is there.
func (fx *initFixture) checkCommon(t *testing.T, before map[string]treeEntry) {
	t.Helper()
	after := snapshotTree(t, fx.base)
	rootBefore, rootAfter := subTree(before, "projects"), subTree(after, "projects")
	if diff := diffTrees(onlyTop(rootBefore, migratedUserFiles...), onlyTop(rootAfter, migratedUserFiles...)); diff != "" {
		t.Errorf("the user's files at the volume root changed (-before +after):\n%s", diff)
	}
	if rel, err := filepath.Rel(fx.base, fx.source); err == nil && !strings.HasPrefix(rel, "..") {
		if diff := diffTrees(subTree(before, rel), subTree(after, rel)); diff != "" {
			t.Errorf("the image's home changed (-before +after):\n%s", diff)
		}
	}
	if left := reservedLeftovers(t, fx.root); len(left) > 0 {
		t.Errorf("work or deleted folders left: %v", left)
	}
}

// checkManifest asserts the manifest of project records exactly the image's home at commit.
func (fx *initFixture) checkManifest(t *testing.T, project, commit string) {
	t.Helper()
	got, err := ReadManifest(fx.root, project)
	if err != nil {
		t.Fatalf("the manifest of %s: %v", project, err)
	}
	if got == nil {
		t.Fatalf("project %s has no manifest", project)
	}
	tree, err := ScanTree(fx.source, true, true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tree.Manifest(project, commit)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the manifest of %s is not the image's home (-want +got):\n%s", project, diff)
	}
}

// holdLock takes flock(2) on p (a file or a folder), as a running start holds a lock, until the
// returned function (or the test's end) releases it.
func holdLock(t *testing.T, p string) (release func()) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("locking %s: %v", p, err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return func() { _ = f.Close() }
}

// workFolder builds a work folder at the volume root as a start leaves it mid-copy: the lock file (if
// withLock) and a partial copy under the folder's own name, with the time mtime.
func workFolder(t *testing.T, fx *initFixture, name string, withLock bool, mtime time.Time) {
	t.Helper()
	nodes := []treeNode{treeDir(".", 0o700), treeDir(name, 0o755), treeFile(name+"/half.txt", 0o644, "half")}
	if withLock {
		nodes = append(nodes, treeFile(".lock", 0o644, ""))
	}
	buildTree(t, fx.path(name), nil, nodes...)
	setMtime(t, fx.path(name), mtime)
}

// userProject builds the project folder name as the user left it.
func userProject(t *testing.T, fx *initFixture, name, work string) {
	t.Helper()
	buildTree(t, fx.path(name), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("my-work.txt", 0o644, work))
}

// undeletableProject builds a project folder owned by root, with a read-only folder of root's in it:
// the user can rename it (the volume root is theirs) but cannot remove a single file.
func undeletableProject(t *testing.T, fx *initFixture, name string) {
	t.Helper()
	buildTree(t, fx.path(name), &[2]int{0, 0}, treeDir(".", 0o755), treeFile("f", 0o644, "x"),
		treeDir("locked", 0o555), treeFile("locked/g", 0o444, "y"))
}

// addFiles adds n small files in 50 folders under dir, owned by owner if not nil.
func addFiles(t *testing.T, dir string, n int, owner *[2]int) {
	t.Helper()
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("dir%02d", i%50))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%05d.txt", i)), []byte(fmt.Sprintf("file %d of %s\n", i, dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if owner != nil {
		chownTree(t, dir, owner[0], owner[1])
	}
}

// tombstone is what the tombstone of name holds, and whether there is one.
func tombstone(t *testing.T, fx *initFixture, name string) (string, bool) {
	t.Helper()
	data, err := os.ReadFile(fx.path(DoneDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data), true
}

// assertTombstones asserts the tombstone folder holds exactly want (name: id), and nothing else.
func assertTombstones(t *testing.T, fx *initFixture, want map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(fx.path(DoneDir))
	if errors.Is(err, fs.ErrNotExist) && len(want) == 0 {
		return
	}
	if err != nil {
		t.Errorf("the tombstones: %v", err)
		return
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name()] = "(not a file)"
		if e.Type().IsRegular() {
			got[e.Name()] = readTestFile(t, fx.path(DoneDir, e.Name()))
		}
	}
	wantLines := map[string]string{}
	for k, v := range want {
		wantLines[k] = v + "\n"
	}
	if diff := cmp.Diff(wantLines, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the tombstones (-want +got):\n%s", diff)
	}
}

func deleteIDs(ids string) string { return contract.EnvDeleteIDs + "=" + ids }
func podEnv(pod string) string    { return contract.EnvPod + "=" + pod }
func commitEnv(c string) string   { return contract.EnvCommit + "=" + c }

const updateEnv = contract.EnvUpdate + "=1"

// scriptReport reads what init.sh (version 1) reports: its project= line and whether it has one.
func scriptReport(raw string) (project string, deleted string) {
	for _, line := range strings.Split(raw, "\n") {
		if v, ok := strings.CutPrefix(line, "project="); ok {
			project = v
		}
		if v, ok := strings.CutPrefix(line, "deleted="); ok {
			deleted = v
		}
	}
	return project, deleted
}

// buildCommand builds cmd/binder-projects (CGO_ENABLED=0, as in the image) into a folder uid 1000 can
// enter: init.sh's helper.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(sharedTempDir(t), "binder-projects")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/binder-projects")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/binder-projects: %v\n%s", err, out)
	}
	return bin
}

// copyTestFile copies the file src to dst (for fixtures).
func copyTestFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o666); err != nil {
		t.Fatal(err)
	}
}

// growHome adds n files of 4 KiB in 50 folders and one 8 MiB file to the home (batch names the new
// folder), owned by the notebook user.
func growHome(t *testing.T, home string, n, batch int) {
	t.Helper()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 256)
	for i := 0; i < n; i++ {
		d := filepath.Join(home, fmt.Sprintf("big%d", batch), fmt.Sprintf("dir%02d", i%50))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%05d.txt", i)), payload, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, fmt.Sprintf("big%d", batch), "large.bin"), bytes.Repeat(payload, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	chownTree(t, home, userUID, userGID)
}

// killScriptMidCopy grows fx's home, starts s (init.sh) with env, waits until the copy in its work
// folder holds something, kills its whole process group, waits until every process of it is gone (as
// kubelet does before it runs the container again), and makes sure the kill landed mid-copy: the
// copy holds less than the home, and no project folder exists. A kill that came too late grows the
// home and tries again, from a clean volume.
func killScriptMidCopy(t *testing.T, s starter, fx *initFixture, env []string) {
	t.Helper()
	files := 2000
	for attempt := 1; attempt <= 4; attempt++ {
		growHome(t, fx.source, files, attempt)
		files *= 2
		if killMidCopy(t, s, fx, env) {
			return
		}
		if err := os.RemoveAll(fx.root); err != nil {
			t.Fatal(err)
		}
		fx.seedRoot(t)
	}
	t.Fatalf("in 4 attempts the copy was never caught halfway")
}

func killMidCopy(t *testing.T, s starter, fx *initFixture, env []string) bool {
	t.Helper()
	total := len(snapshotTree(t, fx.source))
	cmd := s.command(env, true)
	out, done := startInBackground(t, cmd)
	copyDir := ""
	for deadline := time.Now().Add(30 * time.Second); copyDir == "" && time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		select {
		case err := <-done:
			t.Logf("the start ended before it was killed (%v):\n%s", err, out.String())
			return false
		default:
		}
		tmps, _ := filepath.Glob(fx.path(".binder-projects-tmp*.*"))
		for _, tmp := range tmps {
			c := filepath.Join(tmp, filepath.Base(tmp))
			if f, err := os.Open(c); err == nil {
				names, _ := f.Readdirnames(1)
				f.Close()
				if len(names) > 0 {
					copyDir = c
				}
			}
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	waitGroupGone(t, cmd.Process.Pid)
	if copyDir == "" {
		t.Fatalf("no copy appeared within 30 s:\n%s", out.String())
	}
	if _, err := os.Lstat(fx.path(initProject)); err == nil {
		t.Logf("the project folder exists after the kill: the copy had finished")
		return false
	}
	if copied := len(snapshotTree(t, copyDir)); copied >= total {
		t.Logf("the copy is complete (%d of %d entries)", copied, total)
		return false
	}
	return true
}

// waitGroupGone waits until no process of the process group pgid is left but zombies (which hold no
// open file, and so no lock).
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		left := ""
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range stats {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
			if len(fields) >= 3 && fields[2] == fmt.Sprint(pgid) && fields[0] != "Z" {
				left = p
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s of the killed group %d is still there after 30 s", left, pgid)
		}
	}
}

// assertNoLeftovers asserts no work folder or folder being deleted is at the volume root.
func assertNoLeftovers(t *testing.T, fx *initFixture) {
	t.Helper()
	if left := reservedLeftovers(t, fx.root); len(left) > 0 {
		t.Errorf("left at the volume root: %v", left)
	}
}

// runCommand runs a tool of the test's own (mkfs, mount) and returns what it said.
func runCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
