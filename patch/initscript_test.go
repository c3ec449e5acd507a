package patch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The init script is run for real, by dash, bash and busybox sh (with busybox's cp, mv, rm, ... first in
// PATH, as in a busybox image), against real folder trees. Every case runs under every shell.

const (
	initProject = "gh_binder-examples_requirements"
	// The notebook user of a z2jh deployment.
	notebookUID, notebookGID = 1000, 100
)

// ---- shells ----

type initShell struct {
	name string
	argv []string // the shell, e.g. /bin/busybox sh
	path string   // PATH the script runs with
}

const initSystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// initShells returns the three shells, failing (never skipping: CI installs them) if one is missing.
func initShells(t *testing.T) []initShell {
	t.Helper()
	for _, bin := range []string{"/bin/dash", "/bin/bash", "/bin/busybox"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing: the init script is tested under dash, bash and busybox; run `make deps` (hack/install-deps.sh) (%v)", bin, err)
		}
	}
	// A folder of busybox applet links, readable by the unprivileged user too (an unreadable PATH entry
	// would silently fall back to GNU tools).
	applets := sharedTempDir(t, "busybox-applets-")
	if out, err := exec.Command("/bin/busybox", "--install", "-s", applets).CombinedOutput(); err != nil {
		t.Fatalf("busybox --install -s: %v\n%s", err, out)
	}
	bb := initShell{name: "busybox", argv: []string{"/bin/busybox", "sh"}, path: applets + ":" + initSystemPath}
	// Prove that the busybox run really uses busybox's tools (Debian's busybox sh runs its own applets
	// first anyway; the PATH makes it so for a busybox built without that too).
	cmd := exec.Command("/bin/busybox", "sh", "-c", `for c in cp mv rm mkdir mktemp find chmod; do "$c" --help 2>&1 | head -n 1; done`)
	cmd.Env = []string{"PATH=" + bb.path}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("asking busybox's tools for help: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "BusyBox ") {
			t.Fatalf("with PATH=%s a tool is not busybox's: %q\n%s", bb.path, line, out)
		}
	}
	return []initShell{
		{name: "dash", argv: []string{"/bin/dash"}, path: initSystemPath},
		{name: "bash", argv: []string{"/bin/bash"}, path: initSystemPath},
		bb,
	}
}

// sharedTempDir is a temporary folder that the unprivileged user can enter (t.TempDir's parents are 0700).
func sharedTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "binder-projects-"+pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// initResult is what one run of the script did.
type initResult struct {
	code int // exit status; -1 if killed by a signal
	out  string
}

// command prepares the script under this shell with exactly env (plus PATH and a UTF-8 locale), as the
// unprivileged notebook user if asUser, in its own process group (so a test can kill the whole run).
func (sh initShell) command(t *testing.T, env []string, asUser bool) *exec.Cmd {
	t.Helper()
	argv := append(append([]string{}, sh.argv...), "-c", InitScript, InitScriptName)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + sh.path, "LANG=C.UTF-8"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if asUser {
		requireRootFor(t, "to run the script as uid 1000")
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: notebookUID, Gid: notebookGID}
	}
	return cmd
}

func (sh initShell) run(t *testing.T, env []string, asUser bool) initResult {
	t.Helper()
	cmd := sh.command(t, env, asUser)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return initResult{code: 0, out: out.String()}
	case errors.As(err, &exitErr):
		return initResult{code: exitErr.ExitCode(), out: out.String()}
	default:
		t.Fatalf("running the init script under %s: %v", sh.name, err)
		return initResult{}
	}
}

func requireRootFor(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root %s (CI runs as root)", why)
	}
}

// ---- folder trees ----

// treeNode is one entry of a folder tree to build: a folder, a file or a symbolic link.
type treeNode struct {
	path    string
	mode    fs.FileMode // for folders and files
	content string      // for files
	link    string      // for symbolic links: the target text
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

// buildTree creates nodes under base, then gives every entry a distinct old mtime and, if owner is not nil,
// that owner (uid, gid), like a repo2docker home.
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
	// Modes and times last (a read-only folder must be filled first; a new child changes a folder's mtime).
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
		if err := os.Chmod(p, n.mode.Perm()); err != nil {
			t.Fatal(err)
		}
		mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// treeEntry is what a snapshot records of one file, folder or symbolic link.
type treeEntry struct {
	Type     string
	Mode     fs.FileMode // permission and special bits; 0 for symbolic links
	UID, GID uint32
	MTime    time.Time // whole seconds (busybox cp keeps no more); zero for symbolic links (it keeps none)
	Size     int64
	SHA256   string
	Link     string
}

// snapshotTree records every entry under base (keys are relative, "." is base itself), never following a
// symbolic link. A missing base gives nil.
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
		e := treeEntry{UID: st.Uid, GID: st.Gid}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir():
			e.Type, e.Mode, e.MTime = "dir", info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), info.ModTime().Truncate(time.Second)
		case info.Mode().IsRegular():
			e.Type, e.Mode, e.MTime, e.Size = "file", info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), info.ModTime().Truncate(time.Second), info.Size()
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

// onlyTop returns the entries of snap under the given top-level names.
func onlyTop(snap map[string]treeEntry, names ...string) map[string]treeEntry {
	out := map[string]treeEntry{}
	for k, v := range snap {
		top := strings.SplitN(k, string(filepath.Separator), 2)[0]
		for _, n := range names {
			if top == n {
				out[k] = v
			}
		}
	}
	return out
}

// reservedPrefixes are the beginnings of the names the script reserves at the volume root.
var reservedPrefixes = []string{
	".binder-projects-new.", ".binder-projects-tmp.", ".binder-projects-tmp-unlocked.",
	".binder-projects-deleted.", ".binder-projects-trash.",
}

// reservedLeftovers lists the entries at the root with the script's reserved names.
func reservedLeftovers(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	for _, prefix := range reservedPrefixes {
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
	base    string // holds the three below, and the injection marker
	source  string // the image's home (BINDER_PROJECTS_SOURCE)
	root    string // the user's volume (BINDER_PROJECTS_ROOT)
	outside string // a folder outside the volume that symbolic links point to
	marker  string // a file that only an injected command would create
	report  string // the report file (BINDER_PROJECTS_REPORT), outside base, as kubelet's termination log
}

// repo2dockerHome is a repo2docker home: dotfiles, nested folders, an executable, a private file, symbolic
// links (relative, absolute, to a folder, dangling), a file postBuild created, awkward names.
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
		treeDir("empty", 0o755),
		treeFile("notes with spaces.ipynb", 0o644, "{}"),
		treeFile("-dash-first", 0o644, "x"),
		treeLink("link-to-readme", "README.md"),
		treeLink("link-to-data", "data/sub"),
		treeLink("absolute-link", "/etc/hostname"),
		treeLink("dangling-link", "does-not-exist"),
	}
}

// migratedUserFiles are a migrated JupyterHub user's old home files at the volume root; no run may touch them.
var migratedUserFiles = []string{"notes.ipynb", ".bashrc", "old-work", ".binder-projects-notes.txt"}

func newInitFixture(t *testing.T) *initFixture {
	t.Helper()
	base := sharedTempDir(t, "init-")
	fx := &initFixture{
		base:    base,
		source:  filepath.Join(base, "home", "jovyan"),
		root:    filepath.Join(base, "projects"),
		outside: filepath.Join(base, "outside"),
		marker:  filepath.Join(base, "pwned"),
		report:  filepath.Join(sharedTempDir(t, "report-"), "termination-log"),
	}
	fx.resetReport(t)
	buildTree(t, fx.source, &[2]int{notebookUID, notebookGID}, repo2dockerHome()...)
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
	buildTree(t, fx.root, &[2]int{notebookUID, notebookGID},
		treeDir(".", 0o775),
		treeFile("notes.ipynb", 0o644, `{"cells": []}`),
		treeFile(".bashrc", 0o644, "alias ll='ls -l'\n"),
		treeDir("old-work", 0o755),
		treeFile("old-work/analysis.py", 0o644, "print(42)\n"),
		treeFile(".binder-projects-notes.txt", 0o644, "a user's file that only looks like ours\n"))
}

func (fx *initFixture) env(project, del string) []string {
	return fx.envReporting(project, del, fx.report)
}

// envReporting is env with the report written to report.
func (fx *initFixture) envReporting(project, del, report string) []string {
	return []string{
		EnvProjectsRoot + "=" + fx.root,
		EnvSource + "=" + fx.source,
		EnvProject + "=" + project,
		EnvDelete + "=" + del,
		EnvReport + "=" + report,
	}
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

func (fx *initFixture) path(parts ...string) string {
	return filepath.Join(append([]string{fx.root}, parts...)...)
}

// linesNamingInputPaths start the only messages that may print the volume root or the image's home:
// the user must find the file in the way, the operator must find the home folder setting.
var linesNamingInputPaths = []string{
	"binder-projects: error: a file named ",
	"binder-projects: error: a symbolic link named ",
	"binder-projects: warning: the image has no home folder at ",
}

// checkLog asserts the output is made of readable, prefixed lines, holds the wanted lines, and prints no
// input other than folder names (the root and the home only in linesNamingInputPaths).
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

// reportWant is what a run's report must say.
type reportWant struct {
	noQueue       bool // the run stopped before the deletion queue: no deleted= and kept= lines
	deleted, kept []int
	project       string
	warnings      []string // one piece of each warning, in order
	manyWarnings  bool     // more warnings than fit: the report ends with how many are only in the log
	err           string   // a piece of error=; "" for none
	update        string   // the update= line's state; "" for no such line
}

func seededReport(deleted ...int) reportWant {
	return reportWant{deleted: deleted, project: ReportProjectSeeded}
}

// reportKeys are the keys a report may hold.
var reportKeys = map[string]bool{"deleted": true, "kept": true, "project": true, "update": true, "warning": true, "error": true}

// checkReport asserts the report raw is well formed, says what want says, and says what the log says:
// the same warnings and the same error.
func checkReport(t *testing.T, res initResult, raw string, want reportWant) {
	t.Helper()
	if raw == "" {
		t.Fatalf("no report was written; output:\n%s", res.out)
	}
	if len(raw) > 3600 {
		t.Errorf("the report has %d bytes, not well below kubelet's 4096:\n%s", len(raw), raw)
	}
	if !strings.HasSuffix(raw, "\n") {
		t.Errorf("the report does not end with a line break: %q", raw)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(raw, "\n"), "\n") {
		key, value, ok := strings.Cut(line, "=")
		if !ok || !reportKeys[key] {
			t.Errorf("report line %q is not key=value with a known key; report:\n%s", line, raw)
		}
		if len(value) > 1000 {
			t.Errorf("report value of %d bytes (more than 1000): %q", len(value), line)
		}
		count[key]++
	}
	for key, n := range map[string]int{"deleted": 1, "kept": 1, "project": 1} {
		if key != "project" && want.noQueue {
			n = 0
		}
		if count[key] != n {
			t.Errorf("report has %d %s= lines, want %d; report:\n%s", count[key], key, n, raw)
		}
	}
	if count["error"] > 1 {
		t.Errorf("report has %d error= lines; report:\n%s", count["error"], raw)
	}
	if count["update"] > 1 {
		t.Errorf("report has %d update= lines; report:\n%s", count["update"], raw)
	}
	got, err := ParseInitReport(raw)
	if err != nil {
		t.Fatalf("ParseInitReport: %v; report:\n%s", err, raw)
	}
	if !got.Present {
		t.Errorf("ParseInitReport finds no report in:\n%s", raw)
	}
	if diff := cmp.Diff(want.deleted, got.Deleted, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("report deleted= (-want +got):\n%s\nreport:\n%s", diff, raw)
	}
	if diff := cmp.Diff(want.kept, got.Kept, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("report kept= (-want +got):\n%s\nreport:\n%s", diff, raw)
	}
	gotUpdate := ""
	if got.Update != nil {
		gotUpdate = got.Update.State
	}
	if gotUpdate != want.update {
		t.Errorf("report update=%q, want %q; report:\n%s", gotUpdate, want.update, raw)
	}
	if got.Project != want.project {
		t.Errorf("report project=%s, want %s; report:\n%s", got.Project, want.project, raw)
	}
	if want.err == "" && got.Error != "" || !strings.Contains(got.Error, want.err) {
		t.Errorf("report error=%q, want one with %q", got.Error, want.err)
	}
	// The log says the same.
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
		t.Errorf("report error=%q, but the log says %q", got.Error, logError)
	}
	warnings := got.Warnings
	if want.manyWarnings {
		if len(warnings) == 0 {
			t.Fatalf("no warnings in the report:\n%s", raw)
		}
		var more int
		if _, err := fmt.Sscanf(warnings[len(warnings)-1], "%d more warnings are only in the log", &more); err != nil {
			t.Fatalf("the report's last warning does not count the ones left out: %q", warnings[len(warnings)-1])
		}
		warnings = warnings[:len(warnings)-1]
		if len(warnings)+more != len(logWarnings) {
			t.Errorf("the report has %d warnings and %d more, the log %d", len(warnings), more, len(logWarnings))
		}
		if more == 0 || len(warnings) > len(logWarnings) {
			t.Fatalf("report warnings %q, log warnings %q", warnings, logWarnings)
		}
		logWarnings = logWarnings[:len(warnings)]
	} else {
		if len(warnings) != len(want.warnings) {
			t.Errorf("report has %d warnings, want %d: %q", len(warnings), len(want.warnings), warnings)
		} else {
			for i, w := range want.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("report warning %d is %q, want one with %q", i+1, warnings[i], w)
				}
			}
		}
	}
	if diff := cmp.Diff(logWarnings, warnings, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the report's warnings are not the log's (-log +report):\n%s", diff)
	}
}

// ---- the cases ----

// initCase is one scenario: a volume prepared by setup, one run of the script, then checks.
type initCase struct {
	name     string
	project  string // default initProject
	del      string
	asUser   bool // run as uid 1000 instead of root
	setup    func(t *testing.T, fx *initFixture, sh initShell)
	wantCode int
	wantLog  []string
	report   reportWant
	// check runs after the common checks; before is the snapshot of the whole fixture before the run.
	check func(t *testing.T, fx *initFixture, before map[string]treeEntry)
}

// assertCopyOfHome asserts the project folder is a complete copy of the home, owners included.
func assertCopyOfHome(t *testing.T, fx *initFixture, project string) {
	t.Helper()
	if diff := cmp.Diff(snapshotTree(t, fx.source), snapshotTree(t, fx.path(project))); diff != "" {
		t.Errorf("project %s is not a copy of the home (-home +project):\n%s", project, diff)
	}
}

// assertUnchanged asserts the whole fixture (home, volume, outside folder) is as it was.
func assertUnchanged(t *testing.T, fx *initFixture, before map[string]treeEntry) {
	t.Helper()
	if diff := cmp.Diff(before, snapshotTree(t, fx.base)); diff != "" {
		t.Errorf("the run changed files (-before +after):\n%s", diff)
	}
}

// assertSubtreeUnchanged asserts the volume's entry name and everything below it are as they were.
func assertSubtreeUnchanged(t *testing.T, fx *initFixture, before map[string]treeEntry, name string) {
	t.Helper()
	rel := filepath.Join("projects", name)
	if diff := cmp.Diff(subTree(before, rel), subTree(snapshotTree(t, fx.base), rel)); diff != "" {
		t.Errorf("%s changed (-before +after):\n%s", name, diff)
	}
}

// assertEmptyProject asserts the project folder is an empty folder.
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

// setMtime gives p (not followed if a link) the modification time mtime.
func setMtime(t *testing.T, p string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// undeletableProject builds a project folder owned by root, with a read-only folder of root's inside:
// the notebook user can rename it (the volume root is the user's) but cannot remove a single file.
func undeletableProject(t *testing.T, fx *initFixture, name string) {
	t.Helper()
	buildTree(t, fx.path(name), &[2]int{0, 0}, treeDir(".", 0o755), treeFile("f", 0o644, "x"),
		treeDir("locked", 0o555), treeFile("locked/g", 0o444, "y"))
}

func TestInitScript(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner (1000:100)")
	inTheWay := func(what string) []string {
		return []string{"binder-projects: error: " + what + " is in the way of the project folder in "}
	}
	// namesRootInError asserts the error names the volume root, where the user must look.
	namesRootInError := func(t *testing.T, fx *initFixture) {
		t.Helper()
		got, err := ParseInitReport(readTestFile(t, fx.report))
		if err != nil {
			t.Fatal(err)
		}
		if want := "in the way of the project folder in " + fx.root + "; rename or remove it"; !strings.Contains(got.Error, want) {
			t.Errorf("error %q lacks %q", got.Error, want)
		}
	}
	cases := []initCase{
		{
			name:    "a first start copies the whole home: dotfiles, nested folders, symlinks, modes, times and owners",
			wantLog: []string{"binder-projects: copying the image's home folder into new project " + initProject, "binder-projects: project " + initProject + " is ready"},
			report:  seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
				got := snapshotTree(t, fx.path(initProject))
				for p, want := range map[string]treeEntry{
					"bin/run.sh":     {Mode: 0o755, UID: notebookUID, GID: notebookGID},
					"secret.txt":     {Mode: 0o600, UID: notebookUID, GID: notebookGID},
					".config/app":    {Mode: 0o700, UID: notebookUID, GID: notebookGID},
					"link-to-readme": {Link: "README.md", UID: notebookUID, GID: notebookGID},
					"link-to-data":   {Link: "data/sub", UID: notebookUID, GID: notebookGID},
					"absolute-link":  {Link: "/etc/hostname", UID: notebookUID, GID: notebookGID},
					"dangling-link":  {Link: "does-not-exist", UID: notebookUID, GID: notebookGID},
				} {
					g := got[p]
					if g.Mode != want.Mode || g.Link != want.Link || g.UID != want.UID || g.GID != want.GID {
						t.Errorf("%s: got mode %v link %q owner %d:%d, want mode %v link %q owner %d:%d", p, g.Mode, g.Link, g.UID, g.GID, want.Mode, want.Link, want.UID, want.GID)
					}
				}
			},
		},
		{
			name:   "a first start as the unprivileged user copies a root-owned home and owns the copy",
			asUser: true,
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				// A home owned by root but readable by all, as an image built without chown.
				if err := os.Chmod(filepath.Join(fx.source, "secret.txt"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(fx.source, ".config/app/settings.json"), 0o644); err != nil {
					t.Fatal(err)
				}
				for _, d := range []string{".config/app", "data/sub"} {
					if err := os.Chmod(filepath.Join(fx.source, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				chownTree(t, fx.source, 0, 0)
			},
			wantLog: []string{"project " + initProject + " is ready"},
			report:  seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				want := snapshotTree(t, fx.source)
				for k, e := range want {
					e.UID, e.GID = notebookUID, notebookGID
					want[k] = e
				}
				if diff := cmp.Diff(want, snapshotTree(t, fx.path(initProject))); diff != "" {
					t.Errorf("project is not a copy of the home owned by the user (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "a second start copies nothing: what the user changed, added and deleted stays so",
			setup: func(t *testing.T, fx *initFixture, sh initShell) {
				if res := sh.run(t, fx.env(initProject, ""), false); res.code != 0 {
					t.Fatalf("first start: exit %d\n%s", res.code, res.out)
				}
				writeTestFile(t, fx.path(initProject, "README.md"), "# my own notes\n")
				writeTestFile(t, fx.path(initProject, "results.csv"), "x\n")
				for _, p := range []string{".bashrc", "bin", "link-to-readme"} {
					if err := os.RemoveAll(fx.path(initProject, p)); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantLog: []string{"binder-projects: project " + initProject + " exists; copying nothing"},
			report:  reportWant{project: ReportProjectExisted},
			check:   assertUnchanged,
		},
		{
			name: "a project folder that is a symbolic link to a folder is left alone and nothing is copied",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(initProject))
			},
			wantLog: []string{"project " + initProject + " exists (as a symbolic link); copying nothing"},
			report:  reportWant{project: ReportProjectExisted},
			check:   assertUnchanged,
		},
		{
			name: "a project folder that is a dangling symbolic link fails the start, says what is in the way and where, and nothing changes",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				makeTestLink(t, filepath.Join(fx.outside, "nowhere"), fx.path(initProject))
			},
			wantCode: 1,
			wantLog:  inTheWay("a symbolic link named " + initProject + ", which does not lead to a folder,"),
			report:   reportWant{project: ReportProjectFailed, err: "a symbolic link named " + initProject + ", which does not lead to a folder, is in the way"},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertUnchanged(t, fx, before)
				assertAbsent(t, filepath.Join(fx.outside, "nowhere"))
				namesRootInError(t, fx)
			},
		},
		{
			name: "a project folder that is a symbolic link to a file fails the start, says what is in the way, and nothing changes",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				makeTestLink(t, filepath.Join(fx.outside, "precious", "thesis.tex"), fx.path(initProject))
			},
			wantCode: 1,
			wantLog:  inTheWay("a symbolic link named " + initProject + ", which does not lead to a folder,"),
			report:   reportWant{project: ReportProjectFailed, err: "which does not lead to a folder, is in the way"},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertUnchanged(t, fx, before)
				namesRootInError(t, fx)
			},
		},
		{
			name: "a project folder that is a file fails the start, says what is in the way and where, and nothing changes",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				writeTestFile(t, fx.path(initProject), "not a folder\n")
			},
			wantCode: 1,
			wantLog:  inTheWay("a file named " + initProject),
			report:   reportWant{project: ReportProjectFailed, err: "a file named " + initProject + " is in the way of the project folder in "},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertUnchanged(t, fx, before)
				namesRootInError(t, fx)
			},
		},
		{
			name: "queued projects are deleted, and other projects and the user's files at the root stay",
			del:  "gh_old_one  gh_old_two\ngh_old_three\n",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				for _, p := range []string{"gh_old_one", "gh_old_two", "gh_old_three", "gh_kept"} {
					buildTree(t, fx.path(p), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o755), treeFile(".hidden", 0o600, "h"),
						treeDir("sub/deeper", 0o755), treeFile("sub/deeper/f.txt", 0o644, p), treeLink("up", "../.."))
				}
			},
			wantLog: []string{"binder-projects: deleted project gh_old_one", "binder-projects: deleted project gh_old_two", "binder-projects: deleted project gh_old_three", "project " + initProject + " is ready"},
			report:  seededReport(1, 2, 3),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_old_one"), fx.path("gh_old_two"), fx.path("gh_old_three"))
				assertSubtreeUnchanged(t, fx, before, "gh_kept")
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a queued project that is a symbolic link to a folder outside the volume loses the link, never the folder",
			del:  "gh_escape",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path("gh_escape"))
			},
			wantLog: []string{"binder-projects: deleted project gh_escape (it was a symbolic link; only the link was removed)"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_escape"))
				if diff := cmp.Diff(onlyTop(before, "outside"), onlyTop(snapshotTree(t, fx.base), "outside")); diff != "" {
					t.Errorf("the folder outside the volume changed (-before +after):\n%s", diff)
				}
			},
		},
		{
			name:    "a queued project that does not exist counts as deleted",
			del:     "gh_never_was",
			wantLog: []string{"binder-projects: project gh_never_was queued for deletion does not exist; nothing to delete", "project " + initProject + " is ready"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_never_was"))
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a queued name that is a file is left alone, and counts as deleted: there is no project folder",
			del:  "gh_a_file",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				writeTestFile(t, fx.path("gh_a_file"), "mine\n")
			},
			wantLog: []string{"not deleting gh_a_file: it is not a folder; left alone"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_a_file")
			},
		},
		{
			name:   "the unprivileged user deletes a queued project with read-only folders inside",
			asUser: true,
			del:    "gh_read_only",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				buildTree(t, fx.path("gh_read_only"), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o755),
					treeDir("locked", 0o555), treeFile("locked/f", 0o444, "x"),
					treeDir("locked/closed", 0o500), treeFile("locked/closed/g", 0o400, "y"))
			},
			wantLog: []string{"binder-projects: deleted project gh_read_only"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_read_only"))
			},
		},
		{
			name:   "the unprivileged user deletes a queued project that is read-only throughout (chmod -R a-w)",
			asUser: true,
			del:    "gh_frozen",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				buildTree(t, fx.path("gh_frozen"), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o555),
					treeFile("notes.txt", 0o444, "n"), treeDir("a", 0o555), treeDir("a/b", 0o555), treeFile("a/b/c.txt", 0o444, "c"),
					treeDir("private", 0o500), treeFile("private/key", 0o400, "k"))
			},
			wantLog: []string{"binder-projects: deleted project gh_frozen", "project " + initProject + " is ready"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_frozen"))
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name:   "a volume the user cannot write fails the start with a message saying so, and changes nothing",
			asUser: true,
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				if err := os.Lchown(fx.root, 0, 0); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(fx.root, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 1,
			wantLog: []string{"Permission denied", "binder-projects: error: could not create a temporary folder on the volume for project " + initProject +
				"; is the volume full or not writable by this user (uid 1000)?"},
			report: reportWant{project: ReportProjectFailed, err: "could not create a temporary folder on the volume for project " + initProject},
			check:  assertUnchanged,
		},
		{
			name:   "a queued project the user may not delete stays (whole) with a warning, the others are deleted, and the project is seeded anyway",
			asUser: true,
			del:    "gh_gone gh_roots gh_mine",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				undeletableProject(t, fx, "gh_roots")
				buildTree(t, fx.path("gh_mine"), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o755), treeFile("f", 0o644, "x"))
			},
			wantLog: []string{"Permission denied",
				"binder-projects: warning: could not delete project gh_roots: this user (uid 1000) may not remove some of its files (see the log); what is left stays in gh_roots",
				"binder-projects: deleted project gh_mine", "project " + initProject + " is ready"},
			report: reportWant{deleted: []int{1, 3}, kept: []int{2}, project: ReportProjectSeeded, warnings: []string{"could not delete project gh_roots"}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_roots")
				assertAbsent(t, fx.path("gh_mine"))
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name:   "many queued projects the user may not delete: all are kept, and the report stays small and says how many warnings it left out",
			asUser: true,
			del:    manyNames("gh_roots_", 30),
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				for _, name := range strings.Fields(manyNames("gh_roots_", 30)) {
					undeletableProject(t, fx, name)
				}
			},
			wantLog: []string{"could not delete project gh_roots_30", "project " + initProject + " is ready"},
			report:  reportWant{kept: seq(1, 30), project: ReportProjectSeeded, manyWarnings: true},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				for _, name := range strings.Fields(manyNames("gh_roots_", 30)) {
					assertSubtreeUnchanged(t, fx, before, name)
				}
			},
		},
		{
			name: "leftovers of killed runs (dead locks, an interrupted deletion, anything older than a day) are removed, and nothing else",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				// Work folders and trash of older versions (no lock), last changed in 2021 (buildTree's times).
				buildTree(t, fx.path(".binder-projects-tmp.Ab12Cd"), nil, treeDir(".", 0o700),
					treeDir(".binder-projects-tmp.Ab12Cd", 0o755), treeFile(".binder-projects-tmp.Ab12Cd/half.txt", 0o644, "half"))
				buildTree(t, fx.path(".binder-projects-trash.Zz99Yy"), nil, treeDir(".", 0o700),
					treeDir("gh_deleted/locked", 0o555), treeFile("gh_deleted/locked/f", 0o444, "x"))
				buildTree(t, fx.path(".binder-projects-new.Old123"), nil, treeDir(".", 0o700), treeFile(".lock", 0o644, ""))
				buildTree(t, fx.path(".binder-projects-tmp-unlocked.Old123"), nil, treeDir(".", 0o700),
					treeDir(".binder-projects-tmp-unlocked.Old123", 0o755), treeFile(".binder-projects-tmp-unlocked.Old123/half.txt", 0o644, "half"))
				// A killed run's work folder, just now: its lock is free.
				buildTree(t, fx.path(".binder-projects-tmp.Dead12"), nil, treeDir(".", 0o700), treeFile(".lock", 0o644, ""),
					treeDir(".binder-projects-tmp.Dead12", 0o755), treeFile(".binder-projects-tmp.Dead12/half.txt", 0o644, "half"))
				setMtime(t, fx.path(".binder-projects-tmp.Dead12"), time.Now())
				// An interrupted deletion, just now, with read-only folders.
				buildTree(t, fx.path(".binder-projects-deleted.gh_gone"), nil, treeDir(".", 0o555),
					treeDir("locked", 0o555), treeFile("locked/f", 0o444, "x"))
				setMtime(t, fx.path(".binder-projects-deleted.gh_gone"), time.Now())
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(".binder-projects-tmp.evil"))
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(".binder-projects-deleted.evil"))
			},
			wantLog: []string{
				"binder-projects: removed .binder-projects-tmp.Ab12Cd, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-trash.Zz99Yy, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-new.Old123, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-tmp-unlocked.Old123, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-tmp.Dead12, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-deleted.gh_gone, left by the interrupted deletion of a project",
				"binder-projects: removed .binder-projects-tmp.evil, which is not a folder",
				"binder-projects: removed .binder-projects-deleted.evil, which is not a folder",
			},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				if diff := cmp.Diff(onlyTop(before, "outside"), onlyTop(snapshotTree(t, fx.base), "outside")); diff != "" {
					t.Errorf("the folder outside the volume changed (-before +after):\n%s", diff)
				}
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a project queued for deletion and launched is deleted, then copied fresh",
			del:  initProject,
			setup: func(t *testing.T, fx *initFixture, sh initShell) {
				if res := sh.run(t, fx.env(initProject, ""), false); res.code != 0 {
					t.Fatalf("first start: exit %d\n%s", res.code, res.out)
				}
				writeTestFile(t, fx.path(initProject, "README.md"), "# changed\n")
				writeTestFile(t, fx.path(initProject, "extra.txt"), "extra\n")
			},
			wantLog: []string{"binder-projects: deleted project " + initProject, "copying the image's home folder into new project " + initProject, "project " + initProject + " is ready"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name:    "a project named like an option is copied and deleted as a folder",
			project: "-rf",
			del:     "-r",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				buildTree(t, fx.path("-r"), nil, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
			},
			wantLog: []string{"deleted project -r", "project -rf is ready"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("-r"))
				assertCopyOfHome(t, fx, "-rf")
			},
		},
		{
			name:    "a project name of 255 bytes is copied, and one of 255 bytes is deleted (its reserved name cut to fit)",
			project: strings.Repeat("p", 255),
			del:     strings.Repeat("d", 255),
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				buildTree(t, fx.path(strings.Repeat("d", 255)), nil, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
			},
			wantLog: []string{"deleted project " + strings.Repeat("d", 255), "project " + strings.Repeat("p", 255) + " is ready"},
			report:  seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path(strings.Repeat("d", 255)))
				assertCopyOfHome(t, fx, strings.Repeat("p", 255))
			},
		},
		{
			name: "an image without a home folder gets an empty project and a warning that names the home and the setting to check",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				fx.source = filepath.Join(fx.base, "home", "nobody")
			},
			wantLog: []string{"binder-projects: warning: the image has no home folder at ", "so project " + initProject + " starts empty",
				"--home-mount-path", "binder-projects: project " + initProject + " is ready (empty)"},
			report: reportWant{project: ReportProjectSeededEmpty, warnings: []string{"the image has no home folder at "}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertEmptyProject(t, fx, initProject)
				got, err := ParseInitReport(readTestFile(t, fx.report))
				if err != nil {
					t.Fatal(err)
				}
				if want := "the image has no home folder at " + fx.source + ", so"; len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], want) {
					t.Errorf("warnings %q, want one with %q", got.Warnings, want)
				}
			},
		},
		{
			name:   "an image whose home is a file gets an empty project and a warning, also as the unprivileged user",
			asUser: true,
			del:    "gh_old",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				fx.source = filepath.Join(fx.base, "home", "a-file")
				writeTestFile(t, fx.source, "not a folder\n")
				buildTree(t, fx.path("gh_old"), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
			},
			wantLog: []string{"binder-projects: warning: the image has no home folder at ", "deleted project gh_old", "project " + initProject + " is ready (empty)"},
			report:  reportWant{deleted: []int{1}, project: ReportProjectSeededEmpty, warnings: []string{"so project " + initProject + " starts empty"}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertEmptyProject(t, fx, initProject)
				if st, err := os.Stat(fx.path(initProject)); err != nil || st.Sys().(*syscall.Stat_t).Uid != notebookUID {
					t.Errorf("the empty project is not the user's: %v", err)
				}
			},
		},
		{
			name: "an image without a home folder relaunches an existing project without a warning",
			setup: func(t *testing.T, fx *initFixture, sh initShell) {
				if res := sh.run(t, fx.env(initProject, ""), false); res.code != 0 {
					t.Fatalf("first start: exit %d\n%s", res.code, res.out)
				}
				fx.source = filepath.Join(fx.base, "home", "nobody")
			},
			wantLog: []string{"binder-projects: project " + initProject + " exists; copying nothing"},
			report:  reportWant{project: ReportProjectExisted},
			check:   assertUnchanged,
		},
		{
			name: "a home path with a line break and over 1000 bytes gives a one-line warning, cut to 1000 bytes",
			setup: func(t *testing.T, fx *initFixture, _ initShell) {
				fx.source = "/nonexistent-home\nwarning=injected\n" + strings.Repeat("/long-folder-name", 80)
			},
			wantLog: []string{"binder-projects: warning: the image has no home folder at /nonexistent-home warning=injected /long-folder-name"},
			report:  reportWant{project: ReportProjectSeededEmpty, warnings: []string{"the image has no home folder at /nonexistent-home warning=injected /long-folder-name"}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertEmptyProject(t, fx, initProject)
				got, err := ParseInitReport(readTestFile(t, fx.report))
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Warnings) != 1 || len(got.Warnings[0]) > 1000 || !strings.HasSuffix(got.Warnings[0], " ...") {
					t.Errorf("want one warning cut to 1000 bytes, ending in \" ...\"; got %q", got.Warnings)
				}
			},
		},
	}
	for _, sh := range initShells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				fx := newInitFixture(t)
				if tc.asUser {
					chownTree(t, fx.root, notebookUID, notebookGID)
				}
				if tc.setup != nil {
					tc.setup(t, fx, sh)
				}
				project := tc.project
				if project == "" {
					project = initProject
				}
				fx.resetReport(t)
				before := snapshotTree(t, fx.base)
				res := sh.run(t, fx.env(project, tc.del), tc.asUser)
				t.Logf("output:\n%s", res.out)
				if res.code != tc.wantCode {
					t.Fatalf("exit status %d, want %d; output:\n%s", res.code, tc.wantCode, res.out)
				}
				fx.checkLog(t, res, tc.wantLog...)
				fx.checkCommon(t, before)
				checkReport(t, res, readTestFile(t, fx.report), tc.report)
				if tc.check != nil {
					tc.check(t, fx, before)
				}
			})
		}
	}
}

// manyNames returns n project names prefix01, prefix02, ... separated by spaces.
func manyNames(prefix string, n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return strings.Join(names, " ")
}

// seq returns from, from+1, ..., to.
func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// checkCommon asserts what holds after every run: the user's old files at the root are untouched, the
// home is untouched, no reserved folder is left, no injected command ran.
func (fx *initFixture) checkCommon(t *testing.T, before map[string]treeEntry) {
	t.Helper()
	after := snapshotTree(t, fx.base)
	rootBefore, rootAfter := subTree(before, "projects"), subTree(after, "projects")
	if diff := cmp.Diff(onlyTop(rootBefore, migratedUserFiles...), onlyTop(rootAfter, migratedUserFiles...)); diff != "" {
		t.Errorf("the user's files at the volume root changed (-before +after):\n%s", diff)
	}
	if rel, err := filepath.Rel(fx.base, fx.source); err == nil && !strings.HasPrefix(rel, "..") {
		if diff := cmp.Diff(subTree(before, rel), subTree(after, rel)); diff != "" {
			t.Errorf("the image's home changed (-before +after):\n%s", diff)
		}
	}
	if left := reservedLeftovers(t, fx.root); len(left) > 0 {
		t.Errorf("temporary or trash folders left: %v", left)
	}
	assertAbsent(t, fx.marker)
}

// subTree returns the part of snap under the folder rel, with keys relative to it.
func subTree(snap map[string]treeEntry, rel string) map[string]treeEntry {
	out := map[string]treeEntry{}
	prefix := rel + string(filepath.Separator)
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

// chownTree gives every entry under base the owner uid:gid, never following a symbolic link.
func chownTree(t *testing.T, base string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(base, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestInitScriptRefusesBadInputs: a missing or hostile input fails the run with exit status 2 and a
// clear message, and changes nothing at all (not even the leftovers of earlier runs are cleaned), and no
// name is ever run as a command.
func TestInitScriptRefusesBadInputs(t *testing.T) {
	type badCase struct {
		name    string
		env     func(fx *initFixture) []string
		wantLog string
	}
	var cases []badCase
	hostile := func(fx *initFixture) map[string]string {
		return map[string]string{
			"..":                     "..",
			".":                      ".",
			"a hidden name":          ".hidden",
			"a path":                 "a/b",
			"a parent path":          "../x",
			"an absolute path":       fx.outside,
			"a command substitution": "$(touch " + fx.marker + ")",
			"backticks":              "`touch " + fx.marker + "`",
			"a semicolon":            "x;touch " + fx.marker,
			"a pipe":                 "x|touch " + fx.marker,
			"a glob":                 "*",
			"a tilde":                "~root",
			"a non-ASCII letter":     "projekt-ä",
			"a name of 256 bytes":    strings.Repeat("a", 256),
		}
	}
	names := []string{"..", ".", "a hidden name", "a path", "a parent path", "an absolute path", "a command substitution", "backticks", "a semicolon", "a pipe", "a glob", "a tilde", "a non-ASCII letter", "a name of 256 bytes"}
	for _, n := range append(names, "a space inside", "a line break inside", "a tab inside") {
		n := n
		cases = append(cases, badCase{
			name: "a project name that is " + n + " is refused",
			env: func(fx *initFixture) []string {
				v := map[string]string{"a space inside": "gh a", "a line break inside": "gh\na", "a tab inside": "gh\ta"}[n]
				if v == "" {
					v = hostile(fx)[n]
				}
				return fx.env(v, "gh_old")
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_PROJECT is not a valid project folder name",
		})
	}
	for _, n := range names {
		n := n
		cases = append(cases, badCase{
			name: "a deletion queue holding " + n + " beside a valid name is refused, and the valid one is kept",
			env: func(fx *initFixture) []string {
				return fx.env(initProject, "gh_old "+hostile(fx)[n])
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_DELETE holds invalid project folder names (at positions 2",
		})
	}
	cases = append(cases,
		badCase{
			name:    "an empty project name is refused",
			env:     func(fx *initFixture) []string { return fx.env("", "") },
			wantLog: "binder-projects: error: BINDER_PROJECTS_PROJECT is not set",
		},
		badCase{
			name: "a missing volume root is refused",
			env: func(fx *initFixture) []string {
				return []string{EnvSource + "=" + fx.source, EnvProject + "=" + initProject, EnvReport + "=" + fx.report}
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_ROOT is not set",
		},
		badCase{
			name: "a relative volume root is refused",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), EnvProjectsRoot+"=projects")
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_ROOT must be an absolute path",
		},
		badCase{
			name: "a volume root that is not a folder is refused",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), EnvProjectsRoot+"="+filepath.Join(fx.base, "not-mounted"))
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_ROOT is not a folder",
		},
		badCase{
			name: "a missing home is refused",
			env: func(fx *initFixture) []string {
				return []string{EnvProjectsRoot + "=" + fx.root, EnvProject + "=" + initProject, EnvReport + "=" + fx.report}
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_SOURCE is not set",
		},
		badCase{
			name: "a relative home is refused",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), EnvSource+"=home/jovyan")
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_SOURCE must be an absolute path",
		},
		badCase{
			name: "a relative report path is refused, and no report is written",
			env: func(fx *initFixture) []string {
				return append(fx.env(initProject, ""), EnvReport+"=termination-log")
			},
			wantLog: "binder-projects: error: BINDER_PROJECTS_REPORT must be an absolute path",
		},
	)

	for _, sh := range initShells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				fx := newInitFixture(t)
				// Things a run would change if it ran at all: a queued project, a leftover of a killed run.
				buildTree(t, fx.path("gh_old"), nil, treeDir(".", 0o755), treeFile("keep.txt", 0o644, "keep"))
				buildTree(t, fx.path(".binder-projects-tmp.OldOne"), nil, treeDir(".", 0o700))
				before := snapshotTree(t, fx.base)
				res := sh.run(t, tc.env(fx), false)
				if res.code != 2 {
					t.Fatalf("exit status %d, want 2; output:\n%s", res.code, res.out)
				}
				if !strings.Contains(res.out, tc.wantLog) {
					t.Errorf("output lacks %q; output:\n%s", tc.wantLog, res.out)
				}
				if !strings.Contains(res.out, "nothing was changed") {
					t.Errorf("output does not say that nothing was changed; output:\n%s", res.out)
				}
				if n := strings.Count(strings.TrimRight(res.out, "\n"), "\n"); n != 0 {
					t.Errorf("want one line of output, got %d; output:\n%s", n+1, res.out)
				}
				assertUnchanged(t, fx, before)
				assertAbsent(t, fx.marker)
				// The report says the same, and nothing about deletions (none were looked at).
				report := readTestFile(t, fx.report)
				if strings.Contains(tc.wantLog, "BINDER_PROJECTS_REPORT") {
					if report != "" {
						t.Errorf("a report was written, to a path that is not absolute: %q", report)
					}
					return
				}
				checkReport(t, res, report, reportWant{noQueue: true, project: ReportProjectFailed,
					err: strings.TrimPrefix(tc.wantLog, "binder-projects: error: ")})
			})
		}
	}
}

// TestInitScriptKilledCopyIsRedoneCompletely kills the copy in the middle (SIGKILL to the whole process
// group, as when a node dies or the OOM killer strikes), proves it did die in the middle (a temporary
// folder holds part of the home, and no project folder exists), then runs again: the project is complete
// and no temporary folder is left.
func TestInitScriptKilledCopyIsRedoneCompletely(t *testing.T) {
	requireRootFor(t, "to give the home the notebook user's owner")
	home := newLargeHome(t)
	for _, sh := range initShells(t) {
		t.Run(sh.name+"/a copy killed halfway is thrown away and redone in full by the next start", func(t *testing.T) {
			fx := newInitFixture(t)
			home.killMidCopy(t, sh, fx, fx.env(initProject, ""))
			before := snapshotTree(t, fx.base)
			fx.resetReport(t)
			res := sh.run(t, fx.env(initProject, ""), false)
			if res.code != 0 {
				t.Fatalf("second start: exit %d\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "left by an earlier interrupted run", "project "+initProject+" is ready")
			fx.checkCommon(t, before)
			assertCopyOfHome(t, fx, initProject)
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
		})
	}
}

// largeHome is one large home for all the shells (the script only reads it), grown when a kill came
// too late. Its tests do not run in parallel.
type largeHome struct {
	dir          string
	files, grown int
}

func newLargeHome(t *testing.T) *largeHome {
	t.Helper()
	home := filepath.Join(sharedTempDir(t, "large-home-"), "jovyan")
	buildTree(t, home, &[2]int{notebookUID, notebookGID}, repo2dockerHome()...)
	return &largeHome{dir: home, files: 2000}
}

// killMidCopy makes the home fx's source, and kills a start with env in the middle of its copy (see the
// function killMidCopy). A run that finished (or never showed its temporary folder) before the kill does
// not count: it grows the home and tries again, from a clean volume, a bounded number of times. It
// returns the killed start's work folder.
func (h *largeHome) killMidCopy(t *testing.T, sh initShell, fx *initFixture, env []string) string {
	t.Helper()
	fx.source = h.dir
	const attempts = 4
	for attempt := 1; attempt <= attempts; attempt++ {
		for h.grown < attempt {
			h.grown++
			growHome(t, h.dir, h.files, h.grown)
		}
		work, copied, total, ok := killMidCopy(t, sh, fx, env)
		if ok {
			t.Logf("attempt %d: killed after %d of %d entries were copied", attempt, copied, total)
			return work
		}
		t.Logf("attempt %d: the copy was not caught halfway; growing the home", attempt)
		// Start over from a clean volume.
		if err := os.RemoveAll(fx.root); err != nil {
			t.Fatal(err)
		}
		fx.seedRoot(t)
		h.files *= 2
	}
	t.Fatalf("in %d attempts (a home of up to %d entries) the copy was never caught halfway", attempts, len(snapshotTree(t, fx.source)))
	return ""
}

// growHome adds n small files in 50 folders and one 8 MiB file to the home (batch names the new folder).
func growHome(t *testing.T, home string, n, batch int) {
	t.Helper()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
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
	chownTree(t, home, notebookUID, notebookGID)
}

// killMidCopy starts the script with env (launching initProject), waits until its temporary copy, in
// a work folder of either kind, holds something, kills the whole process group, waits until every
// process of it is gone (as kubelet does before it runs the container again), and reports whether the
// kill landed mid-copy: the temporary folder holds fewer entries than the home, and no project folder
// exists. work is the killed start's work folder.
func killMidCopy(t *testing.T, sh initShell, fx *initFixture, env []string) (work string, copied, total int, ok bool) {
	t.Helper()
	total = len(snapshotTree(t, fx.source))
	cmd := sh.command(t, env, false)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var tmpCopy string
	deadline := time.Now().Add(30 * time.Second)
poll:
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Logf("the run ended before it was killed (%v):\n%s", err, out.String())
			return "", 0, total, false
		default:
		}
		tmps, _ := filepath.Glob(fx.path(".binder-projects-tmp*.*")) // .binder-projects-tmp. and .binder-projects-tmp-unlocked.
		for _, tmp := range tmps {
			c := filepath.Join(tmp, filepath.Base(tmp))
			if f, err := os.Open(c); err == nil {
				names, _ := f.Readdirnames(1)
				f.Close()
				if len(names) > 0 {
					work, tmpCopy = tmp, c
					break poll
				}
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the process group: %v", err)
	}
	err := <-done
	waitGroupGone(t, cmd.Process.Pid)
	if tmpCopy == "" {
		t.Fatalf("no temporary copy appeared within 30s; run: %v\n%s", err, out.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Logf("the run was not killed by SIGKILL (%v); output:\n%s", err, out.String())
		return "", 0, total, false
	}
	if _, err := os.Lstat(fx.path(initProject)); err == nil {
		t.Logf("the project folder exists after the kill: the copy had finished")
		return "", 0, total, false
	}
	copied = len(snapshotTree(t, tmpCopy))
	if copied >= total {
		t.Logf("the temporary copy is complete (%d of %d entries)", copied, total)
		return "", copied, total, false
	}
	return work, copied, total, true
}

// waitGroupGone waits until no process of the process group pgid is left but zombies (which hold no
// open file, and so no lock): the shell is reaped once killed, but its child (cp) may take a moment
// longer to die, holding the work folder's lock until it has.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		left := ""
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range stats {
			data, err := os.ReadFile(p)
			if err != nil {
				continue // gone meanwhile
			}
			// pid (comm) state ppid pgrp ...; comm may hold anything, so read after its last ')'.
			fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
			if len(fields) >= 3 && fields[2] == fmt.Sprint(pgid) && fields[0] != "Z" {
				left = p
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s of the killed group %d is still there after 30s", left, pgid)
		}
	}
}

// TestInitScriptFullVolume seeds a home larger than the volume: the run fails with a message that says
// how full the volume is, and leaves neither a temporary folder nor a project folder behind.
func TestInitScriptFullVolume(t *testing.T) {
	requireRootFor(t, "to mount a small tmpfs as the volume")
	for _, sh := range initShells(t) {
		t.Run(sh.name+"/a copy that fills the volume fails, says how full it is, and leaves nothing behind", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			if err := os.RemoveAll(fx.root); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(fx.root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mount("tmpfs", fx.root, "tmpfs", 0, "size=256k"); err != nil {
				t.Fatalf("mounting a 256k tmpfs at %s: %v", fx.root, err)
			}
			t.Cleanup(func() {
				if err := syscall.Unmount(fx.root, 0); err != nil {
					t.Errorf("unmounting %s: %v", fx.root, err)
				}
			})
			fx.seedRoot(t)
			big := bytes.Repeat([]byte("x"), 200<<10)
			for i := 0; i < 3; i++ {
				if err := os.WriteFile(filepath.Join(fx.source, fmt.Sprintf("data%d.bin", i)), big, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshotTree(t, fx.base)
			res := sh.run(t, fx.env(initProject, ""), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 1 {
				t.Fatalf("exit status %d, want 1; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "binder-projects: error: could not copy the image's home folder into project "+initProject+": the volume is full: ",
				" KiB of 256 KiB used (", "No space left on device")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectFailed, err: "the volume is full: "})
			fx.checkCommon(t, before)
			assertAbsent(t, fx.path(initProject))
			after := snapshotTree(t, fx.base)
			delete(before, "projects")
			delete(after, "projects") // the root's own mtime changes: a folder was created and removed
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("the run changed files (-before +after):\n%s", diff)
			}
		})
	}
}

// TestInitScriptCommand pins what the mutation relies on: the command line, and that the script reads
// its inputs from the environment.
func TestInitScriptCommand(t *testing.T) {
	got := InitCommand()
	want := []string{"/bin/sh", "-c", InitScript, "binder-projects-init"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("InitCommand() (-want +got):\n%s", diff)
	}
	if !strings.Contains(InitScript, "set -eu") {
		t.Errorf("the script does not start with set -eu")
	}
	var envs []string
	for _, e := range []string{EnvProjectsRoot, EnvProject, EnvSource, EnvDelete, EnvReport, EnvDeleteIDs, EnvPod} {
		if !strings.Contains(InitScript, "${"+e+"-}") {
			envs = append(envs, e)
		}
	}
	sort.Strings(envs)
	if len(envs) > 0 {
		t.Errorf("the script does not read %v", envs)
	}
}

// ---- runs at the same time, and leftovers ----

// holdLock takes flock(2) on the file p, as a running start holds the lock of its work folder, until
// the returned function (or the test's end) releases it.
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
// withLock) and a partial copy under the folder's own name. Its time is mtime.
func workFolder(t *testing.T, fx *initFixture, name string, withLock bool, mtime time.Time) {
	t.Helper()
	nodes := []treeNode{treeDir(".", 0o700), treeDir(name, 0o755), treeFile(name+"/half.txt", 0o644, "half")}
	if withLock {
		nodes = append(nodes, treeFile(".lock", 0o644, ""))
	}
	buildTree(t, fx.path(name), nil, nodes...)
	setMtime(t, fx.path(name), mtime)
}

// TestInitScriptLeavesLiveWorkFoldersAlone: a work folder whose lock is held belongs to a start that is
// still running; no other start removes it, however old, until that lock is free. Folders that cannot
// be told live or dead are left alone for 24 hours, and removed after.
func TestInitScriptLeavesLiveWorkFoldersAlone(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	for _, sh := range initShells(t) {
		t.Run(sh.name+"/a work folder whose lock is held stays until its start ends; one that cannot be told stays for a day", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			now, old := time.Now(), time.Now().Add(-25*time.Hour)
			live := []string{".binder-projects-tmp.LiveNw", ".binder-projects-tmp.LiveOd"}
			workFolder(t, fx, live[0], true, now)
			workFolder(t, fx, live[1], true, old) // a lock held is a live start, however old the folder
			release := []func(){holdLock(t, fx.path(live[0], ".lock")), holdLock(t, fx.path(live[1], ".lock"))}
			young := []string{".binder-projects-tmp.NoLock", ".binder-projects-new.Young1", ".binder-projects-tmp-unlocked.Young1", ".binder-projects-trash.Young1"}
			aged := []string{".binder-projects-tmp.OldNoLk", ".binder-projects-new.Old123", ".binder-projects-tmp-unlocked.Old123", ".binder-projects-trash.Old123"}
			for i := range young {
				workFolder(t, fx, young[i], strings.HasPrefix(young[i], ".binder-projects-new."), now)
				workFolder(t, fx, aged[i], strings.HasPrefix(aged[i], ".binder-projects-new."), old)
			}
			workFolder(t, fx, ".binder-projects-tmp.Dead12", true, now)
			before := snapshotTree(t, fx.base)

			res := sh.run(t, fx.env(initProject, ""), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res,
				"binder-projects: leaving .binder-projects-tmp.LiveNw: a start that is still running holds its lock",
				"binder-projects: leaving .binder-projects-tmp.LiveOd: a start that is still running holds its lock",
				"binder-projects: leaving .binder-projects-tmp.NoLock: it may belong to a start that is still running; it is removed once it is 24 hours old",
				"binder-projects: removed .binder-projects-tmp.Dead12, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-trash.Old123, left by an earlier interrupted run")
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			assertCopyOfHome(t, fx, initProject)
			for _, name := range append(append([]string{}, live...), young...) {
				assertSubtreeUnchanged(t, fx, before, name)
			}
			for _, name := range append([]string{".binder-projects-tmp.Dead12"}, aged...) {
				assertAbsent(t, fx.path(name))
			}

			// The starts that held the locks end: their folders are dead now, and the next start removes them.
			for _, r := range release {
				r()
			}
			fx.resetReport(t)
			res = sh.run(t, fx.env(initProject, ""), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "binder-projects: removed .binder-projects-tmp.LiveNw, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-tmp.LiveOd, left by an earlier interrupted run")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectExisted})
			assertAbsent(t, fx.path(live[0]), fx.path(live[1]))
			for _, name := range young {
				assertPresent(t, fx.path(name))
			}
			// A day later, the rest goes too.
			for _, name := range young {
				setMtime(t, fx.path(name), old)
			}
			res = sh.run(t, fx.env(initProject, ""), false)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			fx.checkCommon(t, before)
		})
	}
}

// toolsWithout returns a folder of links to every program in the system PATH except the missing ones,
// for a PATH under which they are not found.
func toolsWithout(t *testing.T, missing ...string) string {
	t.Helper()
	dir := sharedTempDir(t, "tools-without-"+strings.Join(missing, "-")+"-")
	for _, d := range filepath.SplitList(initSystemPath) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			link := filepath.Join(dir, e.Name())
			if slices.Contains(missing, e.Name()) {
				continue
			}
			if _, err := os.Lstat(link); err == nil {
				continue // an earlier PATH entry wins
			}
			if err := os.Symlink(filepath.Join(d, e.Name()), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// withoutFlock returns the shells with a PATH that has every tool but flock, and proves that it is so.
func withoutFlock(t *testing.T, shells []initShell) []initShell {
	t.Helper()
	noFlock := toolsWithout(t, "flock")
	var out []initShell
	for _, sh := range shells {
		sh.path = strings.Replace(sh.path, initSystemPath, noFlock, 1)
		cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-c", "command -v flock || exit 3; exit 0")...)
		cmd.Env = []string{"PATH=" + sh.path}
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("%s still finds flock with PATH=%s: %s", sh.name, sh.path, out)
		}
		cmd = exec.Command(sh.argv[0], append(sh.argv[1:], "-c", "command -v mv && command -v mktemp && command -v find")...)
		cmd.Env = []string{"PATH=" + sh.path}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s lacks other tools with PATH=%s: %v\n%s", sh.name, sh.path, err, out)
		}
		out = append(out, sh)
	}
	return out
}

// TestInitScriptWithoutFlock: in an image without flock, a start works in an unlocked work folder (a
// name that no start with flock takes for a dead locked one), and a leftover work folder of any kind
// is removed only once it is 24 hours old, whichever start looks at it.
func TestInitScriptWithoutFlock(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	home := filepath.Join(sharedTempDir(t, "no-flock-home-"), "jovyan")
	buildTree(t, home, &[2]int{notebookUID, notebookGID}, repo2dockerHome()...)
	addFiles(t, filepath.Join(home, "many"), 2000, &[2]int{notebookUID, notebookGID})
	withFlock := initShells(t)
	for i, sh := range withoutFlock(t, withFlock) {
		t.Run(sh.name+"/a start without flock uses an unlocked work folder and seeds the project completely", func(t *testing.T) {
			fx := newInitFixture(t)
			fx.source = home
			cmd := sh.command(t, fx.env(initProject, ""), false)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			seen := map[string]bool{}
			var err error
		watch:
			for {
				select {
				case err = <-done:
					break watch
				default:
				}
				for _, prefix := range reservedPrefixes {
					if m, _ := filepath.Glob(fx.path(prefix + "*")); len(m) > 0 {
						seen[prefix] = true
					}
				}
				time.Sleep(50 * time.Microsecond)
			}
			res := initResult{out: out.String()}
			if err != nil {
				t.Fatalf("exit: %v; output:\n%s", err, res.out)
			}
			if want := map[string]bool{".binder-projects-tmp-unlocked.": true}; !cmp.Equal(want, seen) {
				t.Errorf("reserved names seen during the run: %v, want only the unlocked work folder", seen)
			}
			fx.checkLog(t, res, "binder-projects: flock is not in this image: this start's work folder is not locked", "project "+initProject+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			assertCopyOfHome(t, fx, initProject)
			if left := reservedLeftovers(t, fx.root); len(left) > 0 {
				t.Errorf("leftovers: %v", left)
			}
		})
		t.Run(sh.name+"/without flock, no work folder is taken for dead until it is 24 hours old; with flock, an unlocked one neither", func(t *testing.T) {
			fx := newInitFixture(t)
			now, old := time.Now(), time.Now().Add(-25*time.Hour)
			workFolder(t, fx, ".binder-projects-tmp-unlocked.Young1", false, now) // a start without flock, running or killed
			workFolder(t, fx, ".binder-projects-tmp-unlocked.Old123", false, old)
			workFolder(t, fx, ".binder-projects-tmp.LiveNw", true, now) // a start with flock, running
			holdLock(t, fx.path(".binder-projects-tmp.LiveNw", ".lock"))
			workFolder(t, fx, ".binder-projects-tmp.Dead12", true, now) // a start with flock, killed: cannot be told without flock
			workFolder(t, fx, ".binder-projects-tmp.Dead99", true, old)
			before := snapshotTree(t, fx.base)
			res := sh.run(t, fx.env(initProject, ""), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "leaving .binder-projects-tmp-unlocked.Young1: it may belong to a start that is still running",
				"leaving .binder-projects-tmp.LiveNw: it may belong to a start that is still running",
				"leaving .binder-projects-tmp.Dead12: it may belong to a start that is still running",
				"removed .binder-projects-tmp-unlocked.Old123, left by an earlier interrupted run",
				"removed .binder-projects-tmp.Dead99, left by an earlier interrupted run")
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			assertCopyOfHome(t, fx, initProject)
			for _, name := range []string{".binder-projects-tmp-unlocked.Young1", ".binder-projects-tmp.LiveNw", ".binder-projects-tmp.Dead12"} {
				assertSubtreeUnchanged(t, fx, before, name)
			}
			assertAbsent(t, fx.path(".binder-projects-tmp-unlocked.Old123"), fx.path(".binder-projects-tmp.Dead99"))

			// A start with flock tells the dead locked folder, and leaves the unlocked one for its day.
			res = withFlock[i].run(t, fx.env(initProject, ""), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "leaving .binder-projects-tmp-unlocked.Young1: it may belong to a start that is still running",
				"leaving .binder-projects-tmp.LiveNw: a start that is still running holds its lock",
				"removed .binder-projects-tmp.Dead12, left by an earlier interrupted run")
			assertSubtreeUnchanged(t, fx, before, ".binder-projects-tmp-unlocked.Young1")
			assertAbsent(t, fx.path(".binder-projects-tmp.Dead12"))
			setMtime(t, fx.path(".binder-projects-tmp-unlocked.Young1"), old)
			res = sh.run(t, fx.env(initProject, ""), false)
			fx.checkLog(t, res, "removed .binder-projects-tmp-unlocked.Young1, left by an earlier interrupted run")
			assertAbsent(t, fx.path(".binder-projects-tmp-unlocked.Young1"))
		})
	}
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

// TestInitScriptConcurrentStarts starts many runs on one volume at once, some of the same project,
// some of others, some with deletions queued (the same ones, as the registry hands every start the
// whole queue; half of them with the deletions' ids, as a new webhook, half without, as an old one),
// with a home large enough that their copies overlap, again and again, with and without flock. Every run succeeds, every project is a complete copy made by exactly one run, every queued
// project is gone, and nothing reserved is left.
func TestInitScriptConcurrentStarts(t *testing.T) {
	requireRootFor(t, "to give the home the notebook user's owner")
	owner := &[2]int{notebookUID, notebookGID}
	home := filepath.Join(sharedTempDir(t, "busy-home-"), "jovyan")
	buildTree(t, home, owner, repo2dockerHome()...)
	addFiles(t, filepath.Join(home, "many"), 2000, owner)
	type start struct{ project, del string }
	starts := []start{
		{"gh_a", ""},
		{"gh_a", "gh_old_1 gh_old_2"},
		{"gh_b", "gh_old_1 gh_old_2"},
		{"gh_a", ""},
		{"gh_b", "gh_old_2"},
		{"gh_c", "gh_old_1 gh_old_2 gh_never_was"},
		{"gh_d", "gh_old_1 gh_old_2"},
		{"gh_c", ""},
	}
	withFlock := initShells(t)
	noFlock := withoutFlock(t, withFlock)
	type round struct {
		sh   initShell
		name string
	}
	var rounds []round
	for i := range withFlock {
		for n := 1; n <= 2; n++ {
			rounds = append(rounds, round{withFlock[i], fmt.Sprintf("%s/round %d", withFlock[i].name, n)})
		}
		rounds = append(rounds, round{noFlock[i], withFlock[i].name + "/round 3, without flock"})
	}
	for _, r := range rounds {
		sh := r.sh
		t.Run(r.name+": every start succeeds, and every project is complete", func(t *testing.T) {
			fx := newInitFixture(t)
			fx.source = home
			for _, old := range []string{"gh_old_1", "gh_old_2"} {
				addFiles(t, fx.path(old), 400, owner)
			}
			before := snapshotTree(t, fx.base)
			reports := sharedTempDir(t, "reports-")
			cmds := make([]*exec.Cmd, len(starts))
			outs := make([]bytes.Buffer, len(starts))
			for i, s := range starts {
				report := filepath.Join(reports, fmt.Sprint(i))
				makeReportFile(t, report)
				// Every start its own pod's name: two live pods never share one (without flock, a start
				// removes the unlocked work folders of its own pod at once).
				env := append(fx.envReporting(s.project, s.del, report), podEnv(fmt.Sprintf("jupyter-user-%d", i)))
				if i%2 == 1 {
					var ids []string
					for _, name := range strings.Fields(s.del) {
						ids = append(ids, map[string]string{"gh_old_1": "1700000000000000001", "gh_old_2": "1700000000000000002", "gh_never_was": "3"}[name])
					}
					env = append(env, deleteIDs(strings.Join(ids, " ")))
				}
				cmds[i] = sh.command(t, env, false)
				cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
			}
			for _, cmd := range cmds {
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
			}
			seeded := map[string]int{}
			raced := 0 // starts whose copy was overtaken by another's: proof that copies overlapped
			for i, cmd := range cmds {
				err := cmd.Wait()
				res := initResult{out: outs[i].String()}
				if err != nil {
					t.Errorf("start %d (%s, deleting %q): %v; output:\n%s", i, starts[i].project, starts[i].del, err, res.out)
					continue
				}
				fx.checkLog(t, res)
				if strings.Contains(res.out, "appeared while copying") {
					raced++
				}
				project := ReportProjectExisted
				raw := readTestFile(t, filepath.Join(reports, fmt.Sprint(i)))
				if got, err := ParseInitReport(raw); err == nil && got.Project == ReportProjectSeeded {
					project = ReportProjectSeeded
					seeded[starts[i].project]++
				}
				checkReport(t, res, raw, reportWant{deleted: seq(1, len(strings.Fields(starts[i].del))), project: project})
			}
			for _, p := range []string{"gh_a", "gh_b", "gh_c", "gh_d"} {
				assertCopyOfHome(t, fx, p)
				if seeded[p] != 1 {
					t.Errorf("project %s was reported seeded by %d starts, want 1", p, seeded[p])
				}
			}
			assertAbsent(t, fx.path("gh_old_1"), fx.path("gh_old_2"))
			if left := reservedLeftovers(t, fx.root); len(left) > 0 {
				t.Errorf("left after all starts ended: %v", left)
			}
			if raced == 0 {
				t.Errorf("no start's copy was overtaken by another's: the copies did not overlap (a larger home is needed)")
			}
			t.Logf("%d starts found their project made by another start while they copied", raced)
			res := sh.run(t, fx.env("gh_a", ""), false)
			if res.code != 0 {
				t.Fatalf("one more start: exit %d\n%s", res.code, res.out)
			}
			fx.checkCommon(t, before)
			if t.Failed() {
				for i := range outs {
					t.Logf("start %d (%s, deleting %q):\n%s", i, starts[i].project, starts[i].del, outs[i].String())
				}
			}
		})
	}
}

// ---- a full volume, on a real file system ----

// mountExt4 makes a fresh ext4 file system of size bytes in a file and loop-mounts it at dir (a real
// file system, where mkdir fails when no block is free, unlike tmpfs). The test's end unmounts it.
func mountExt4(t *testing.T, dir string, size int64) {
	t.Helper()
	mkfs := ""
	for _, p := range []string{"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"} {
		if _, err := os.Stat(p); err == nil {
			mkfs = p
			break
		}
	}
	if mkfs == "" {
		t.Fatalf("mkfs.ext4 is missing: install e2fsprogs (apt-get install e2fsprogs)")
	}
	img := filepath.Join(sharedTempDir(t, "ext4-"), "volume.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", mkfs, err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop %s %s: %v\n%s", img, dir, err, out)
	}
	t.Cleanup(func() {
		// mount -o loop sets the loop device to detach itself on unmount.
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// fillVolume fills the file system at root (with a user's folder of data) until not even a folder can
// be made at its root, and proves it.
func fillVolume(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "filler")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "data.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range [][]byte{make([]byte, 1<<20), make([]byte, 4<<10)} {
		for {
			if _, err := f.Write(chunk); err != nil {
				break
			}
		}
	}
	_ = f.Close()
	syscall.Sync()
	// The blocks ext4 keeps for its own metadata go to folders.
	for i := 0; ; i++ {
		err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("d%05d", i)), 0o755)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil || i > 100000 {
			t.Fatalf("filling the volume: %v (%d folders)", err, i)
		}
	}
	syscall.Sync()
	probe := filepath.Join(root, ".probe")
	if err := os.Mkdir(probe, 0o755); !errors.Is(err, syscall.ENOSPC) {
		_ = os.Remove(probe)
		t.Fatalf("the volume is not full: mkdir at its root gave %v, want ENOSPC", err)
	}
}

// freeBytes is the space the file system at p has for anyone.
func freeBytes(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bfree) * st.Bsize
}

// TestInitScriptFullVolumeDeletesWithoutSpace fills a real (ext4) volume until no folder can be made:
// a queued project is still deleted (renamed, needing no space, then removed), which frees the space
// the launched project's copy needs. With nothing to delete, the start fails and says how full the
// volume is.
func TestInitScriptFullVolumeDeletesWithoutSpace(t *testing.T) {
	requireRootFor(t, "to make and loop-mount an ext4 file system")
	const big = 12 << 20
	for _, sh := range initShells(t) {
		for _, queued := range []bool{true, false} {
			name := "on a full volume, a queued project is deleted, freeing space, and the launched project is copied completely"
			if !queued {
				name = "on a full volume with nothing to delete, the start fails and says how full the volume is"
			}
			t.Run(sh.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				fx := newInitFixture(t)
				if err := os.RemoveAll(fx.root); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(fx.root, 0o755); err != nil {
					t.Fatal(err)
				}
				mountExt4(t, fx.root, 32<<20)
				fx.seedRoot(t)
				del := ""
				if queued {
					del = "gh_big"
					payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
					nodes := []treeNode{treeDir(".", 0o755)}
					for i := 0; i < big>>20; i++ {
						nodes = append(nodes, treeFile(fmt.Sprintf("data/part%02d.bin", i), 0o644, string(payload)))
					}
					buildTree(t, fx.path("gh_big"), &[2]int{notebookUID, notebookGID}, nodes...)
				}
				fillVolume(t, fx.root)
				before := snapshotTree(t, fx.base)
				res := sh.run(t, fx.env(initProject, del), false)
				t.Logf("output:\n%s", res.out)
				if !queued {
					if res.code != 1 {
						t.Fatalf("exit status %d, want 1", res.code)
					}
					fx.checkLog(t, res, "binder-projects: error: could not create a temporary folder on the volume for project "+initProject+
						": the volume is full: ", " MiB used (100%). Free some space")
					checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectFailed, err: "the volume is full: "})
					assertAbsent(t, fx.path(initProject))
					fx.checkCommon(t, before)
					return
				}
				if res.code != 0 {
					t.Fatalf("exit status %d, want 0", res.code)
				}
				fx.checkLog(t, res, "binder-projects: deleted project gh_big\n", "binder-projects: project "+initProject+" is ready")
				checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
				fx.checkCommon(t, before)
				assertAbsent(t, fx.path("gh_big"))
				assertCopyOfHome(t, fx, initProject)
				if free := freeBytes(t, fx.root); free < big*9/10 {
					t.Errorf("only %d bytes free after deleting %d bytes", free, big)
				}
			})
		}
	}
}

// TestInitScriptReportCannotBeWritten: a report that cannot be written is a warning in the log, and
// changes neither what the script does nor its exit status.
func TestInitScriptReportCannotBeWritten(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	for _, sh := range initShells(t) {
		t.Run(sh.name+"/a report to a folder that does not exist is a warning; the project is seeded", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			res := sh.run(t, fx.envReporting(initProject, "", filepath.Join(fx.base, "no-such-folder", "report")), false)
			if res.code != 0 {
				t.Fatalf("exit status %d; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "binder-projects: warning: could not write the report file", "project "+initProject+" is ready")
			assertCopyOfHome(t, fx, initProject)
			assertAbsent(t, filepath.Join(fx.base, "no-such-folder"))
		})
		t.Run(sh.name+"/a report the user may not write is a warning; a failed start still fails with its own status", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			writeTestFile(t, fx.path(initProject), "in the way\n")
			if err := os.Chmod(fx.report, 0o644); err != nil { // root's
				t.Fatal(err)
			}
			res := sh.run(t, fx.env(initProject, ""), true)
			if res.code != 1 {
				t.Fatalf("exit status %d, want 1; output:\n%s", res.code, res.out)
			}
			fx.checkLog(t, res, "binder-projects: error: a file named "+initProject+" is in the way", "binder-projects: warning: could not write the report file")
			if got := readTestFile(t, fx.report); got != "" {
				t.Errorf("the report was written: %q", got)
			}
		})
	}
}

// TestParseInitReport reads reports as the script writes them, and what kubelet may put in their place.
func TestParseInitReport(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    InitReport
		wantErr bool
	}{
		{name: "an empty termination message holds no report", in: "", want: InitReport{}},
		{
			name: "the end of a log, which kubelet uses for a failed container without a message, holds no report",
			in:   "binder-projects: copying the image's home folder into new project gh_x\nbinder-projects: error: could not copy\n",
			want: InitReport{},
		},
		{
			name: "a successful start that deleted and kept folders and warned",
			in:   "deleted=1 3\nkept=2\nproject=seeded\nwarning=could not delete project gh_b: no\nwarning=second one\n",
			want: InitReport{Deleted: []int{1, 3}, Kept: []int{2}, Project: ReportProjectSeeded, Warnings: []string{"could not delete project gh_b: no", "second one"}, Present: true},
		},
		{
			name: "empty deletion lists: nothing was queued",
			in:   "deleted=\nkept=\nproject=existed\n",
			want: InitReport{Project: ReportProjectExisted, Present: true},
		},
		{
			name: "a failed start with its error; a value may hold = and :",
			in:   "deleted=1\nkept=\nproject=failed\nerror=a file named x is in the way: a=b\n",
			want: InitReport{Deleted: []int{1}, Project: ReportProjectFailed, Error: "a file named x is in the way: a=b", Present: true},
		},
		{
			name: "a bad input: an error and no deletion lines",
			in:   "project=failed\nerror=BINDER_PROJECTS_ROOT is not set; nothing was changed\n",
			want: InitReport{Project: ReportProjectFailed, Error: "BINDER_PROJECTS_ROOT is not set; nothing was changed", Present: true},
		},
		{
			name: "an empty project is seeded-empty",
			in:   "deleted=\nkept=\nproject=seeded-empty\nwarning=the image has no home folder at /home/jovyan, so\n",
			want: InitReport{Project: ReportProjectSeededEmpty, Warnings: []string{"the image has no home folder at /home/jovyan, so"}, Present: true},
		},
		{
			name: "unknown keys and lines without = are ignored; a missing last line break is fine",
			in:   "future=1\nnot a pair\nproject=existed",
			want: InitReport{Project: ReportProjectExisted, Present: true},
		},
		{
			name: "extra spaces between positions are fine",
			in:   "deleted= 2  1 \nkept=\nproject=existed\n",
			want: InitReport{Deleted: []int{2, 1}, Project: ReportProjectExisted, Present: true},
		},
		{name: "a position that is not a number is an error", in: "deleted=1 two\nproject=seeded\n", wantErr: true},
		{name: "a position 0 is an error (positions start at 1)", in: "kept=0\nproject=seeded\n", wantErr: true},
		{name: "a negative position is an error", in: "deleted=-1\nproject=seeded\n", wantErr: true},
		{name: "a fractional position is an error", in: "deleted=1.5\nproject=seeded\n", wantErr: true},
		{name: "a signed position is an error", in: "deleted=+1\nproject=seeded\n", wantErr: true},
		{name: "a position listed twice is an error", in: "deleted=1 1\nproject=seeded\n", wantErr: true},
		{name: "a position both deleted and kept is an error", in: "deleted=1\nkept=1\nproject=seeded\n", wantErr: true},
		{name: "a deletion list given twice is an error", in: "deleted=1\ndeleted=2\nproject=seeded\n", wantErr: true},
		{name: "an unknown project state is an error", in: "deleted=\nkept=\nproject=copied\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInitReport(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadInitReport) {
					t.Errorf("ParseInitReport(%q) = %+v, %v; want an error wrapping ErrBadInitReport", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInitReport(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseInitReport(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
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

// TestInitScriptWaitsForADeletionInProgress: a start deleting a project holds a lock on the folder
// itself. Another start with the same folder queued waits for it, then finds it gone; a folder renamed
// for deletion whose lock is held is left to the start deleting it. A start that finds the queued name
// absent while it is being deleted (renamed, locked) waits too: if that deletion fails, and puts back
// what is left, the start tries again (and records no tombstone for a folder that is still there).
func TestInitScriptWaitsForADeletionInProgress(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	for _, sh := range initShells(t) {
		t.Run(sh.name+"/a queued name being deleted under its reserved name is waited for; what a failed deletion puts back is deleted", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			gone := fx.path(".binder-projects-deleted.gh_old")
			buildTree(t, gone, nil, treeDir(".", 0o755), treeFile("left", 0o644, "x"))
			setMtime(t, gone, time.Now())
			release := holdLock(t, gone)

			cmd := sh.command(t, fx.envWith(initProject, "gh_old", fx.report, deleteIDs("7")), false)
			out, done := startInBackground(t, cmd)
			waitForOutput(t, out, done, "binder-projects: project gh_old is being deleted by another start; waiting for it")
			assertTombstones(t, fx, nil)
			// The other start fails to delete it, and puts back what is left.
			if err := os.Rename(gone, fx.path("gh_old")); err != nil {
				t.Fatal(err)
			}
			release()
			res := waitForEnd(t, out, done)
			fx.checkLog(t, res, "binder-projects: deleted project gh_old\n", "project "+initProject+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertAbsent(t, fx.path("gh_old"), gone)
			assertTombstones(t, fx, map[string]string{"gh_old": "7"})
		})
		t.Run(sh.name+"/a folder another start is deleting is waited for, and then counts as deleted", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			buildTree(t, fx.path("gh_old"), nil, treeDir(".", 0o755), treeFile("f", 0o644, "x"))
			buildTree(t, fx.path(".binder-projects-deleted.gh_older"), nil, treeDir(".", 0o755), treeFile("f", 0o644, "x"))
			setMtime(t, fx.path(".binder-projects-deleted.gh_older"), time.Now())
			releaseOld := holdLock(t, fx.path("gh_old"))
			releaseOlder := holdLock(t, fx.path(".binder-projects-deleted.gh_older"))

			cmd := sh.command(t, fx.env(initProject, "gh_old"), false)
			out, done := startInBackground(t, cmd)
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
			fx.checkLog(t, res, "binder-projects: leaving .binder-projects-deleted.gh_older: a start that is still running is deleting it",
				"binder-projects: project gh_old queued for deletion does not exist; nothing to delete", "project "+initProject+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertPresent(t, fx.path(".binder-projects-deleted.gh_older"))
			assertCopyOfHome(t, fx, initProject)

			// Once that deletion's start is gone, the next start removes what it left.
			releaseOlder()
			res = sh.run(t, fx.env(initProject, ""), false)
			fx.checkLog(t, res, "binder-projects: removed .binder-projects-deleted.gh_older, left by the interrupted deletion of a project")
			assertAbsent(t, fx.path(".binder-projects-deleted.gh_older"))
		})
	}
}

// ---- tombstones: one deletion handed to two starts at once ----

// tombstoneDir is the folder at the volume root that holds the tombstones.
const tombstoneDir = ".binder-projects-done"

// envWith is envReporting plus the extra variables (NAME=value).
func (fx *initFixture) envWith(project, del, report string, extra ...string) []string {
	return append(fx.envReporting(project, del, report), extra...)
}

func deleteIDs(ids string) string { return EnvDeleteIDs + "=" + ids }

// tombstone returns what the tombstone of name holds, and whether there is one.
func tombstone(t *testing.T, fx *initFixture, name string) (string, bool) {
	t.Helper()
	data, err := os.ReadFile(fx.path(tombstoneDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data), true
}

// assertTombstones asserts that the tombstone folder holds exactly the tombstones want (name: id), and
// nothing else (no temporary file or folder of a write is left).
func assertTombstones(t *testing.T, fx *initFixture, want map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(fx.path(tombstoneDir))
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
			got[e.Name()] = readTestFile(t, fx.path(tombstoneDir, e.Name()))
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

// userProject builds the project folder name as the user left it: a file of their own work, which no
// home has.
func userProject(t *testing.T, fx *initFixture, name, work string) {
	t.Helper()
	buildTree(t, fx.path(name), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o755), treeFile("my-work.txt", 0o644, work))
}

// bothModes returns the shells with flock, then the same shells without it, named so.
func bothModes(t *testing.T) []initShell {
	t.Helper()
	withFlock := initShells(t)
	out := append([]initShell{}, withFlock...)
	for _, sh := range withoutFlock(t, withFlock) {
		sh.name += " without flock"
		out = append(out, sh)
	}
	return out
}

// TestInitScriptTombstones: a start records, on the volume, the id of each deletion it carried out. A
// start handed a deletion that was carried out already (by another start, which then seeded the
// project anew) leaves the new folder alone and reports the deletion done; a later deletion of that
// name deletes it; tombstones never go back to an older deletion.
func TestInitScriptTombstones(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	const p, q, n, later = "gh_p", "gh_q", "1700000000000000000", "1700000000000000001"
	for _, sh := range bothModes(t) {
		t.Run(sh.name+"/a deletion carried out already never deletes the new folder; a later one does", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			userProject(t, fx, p, "old work\n")
			start := snapshotTree(t, fx.base)
			run := func(project, del, ids string, wantLog ...string) initResult {
				t.Helper()
				fx.resetReport(t)
				res := sh.run(t, fx.envWith(project, del, fx.report, deleteIDs(ids)), false)
				t.Logf("start of %s, deleting %s (id %s):\n%s", project, del, ids, res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				fx.checkLog(t, res, wantLog...)
				return res
			}
			skipped := "binder-projects: project " + p + " was deleted already (by another start); anything named " + p + " now is newer and stays"

			// The start that launches P with its deletion queued deletes the old P, records the
			// deletion, and seeds P anew.
			res := run(p, p, n, "binder-projects: deleted project "+p+"\n", "project "+p+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertCopyOfHome(t, fx, p)
			assertTombstones(t, fx, map[string]string{p: n})
			writeTestFile(t, fx.path(p, "new-work.txt"), "the user's new work\n")
			before := snapshotTree(t, fx.base)

			// A start of Q handed the same deletion (the whole queue) leaves the new P alone, and
			// reports that deletion done; so does a start of P itself.
			res = run(q, p, n, skipped, "project "+q+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertSubtreeUnchanged(t, fx, before, p)
			res = run(p, p, n, skipped, "binder-projects: project "+p+" exists; copying nothing")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: ReportProjectExisted})
			assertSubtreeUnchanged(t, fx, before, p)
			assertTombstones(t, fx, map[string]string{p: n})

			// A later deletion of P deletes it.
			res = run(q, p, later, "binder-projects: deleted project "+p+"\n")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: ReportProjectExisted})
			assertAbsent(t, fx.path(p))
			assertTombstones(t, fx, map[string]string{p: later})

			// P is launched again; the older deletion, handed once more, leaves it alone (the tombstone
			// holds the later one, and is not set back).
			run(p, "", "")
			before = snapshotTree(t, fx.base)
			res = run(q, p, n, skipped)
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: ReportProjectExisted})
			assertSubtreeUnchanged(t, fx, before, p)
			assertTombstones(t, fx, map[string]string{p: later})

			// A queued name found absent gets its tombstone too, before its launch seeds it: a start
			// handed that deletion with it leaves the new folder alone.
			res = run("gh_r", "gh_r", n, "binder-projects: project gh_r queued for deletion does not exist; nothing to delete", "project gh_r is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
			assertTombstones(t, fx, map[string]string{p: later, "gh_r": n})
			before = snapshotTree(t, fx.base)
			run(q, "gh_r", n, "project gh_r was deleted already")
			assertSubtreeUnchanged(t, fx, before, "gh_r")

			// A symbolic link that is removed gets its tombstone too.
			makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path("gh_link"))
			run(q, "gh_link", n, "deleted project gh_link (it was a symbolic link; only the link was removed)")
			assertTombstones(t, fx, map[string]string{p: later, "gh_r": n, "gh_link": n})
			fx.checkCommon(t, start)
			assertCopyOfHome(t, fx, q)
		})
	}
	for _, sh := range initShells(t) {
		t.Run(sh.name+"/a folder that cannot be deleted gets no tombstone: it stays queued, and the next start tries again", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			undeletableProject(t, fx, p)
			before := snapshotTree(t, fx.base)
			res := sh.run(t, fx.envWith(initProject, p, fx.report, deleteIDs(n)), true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			checkReport(t, res, readTestFile(t, fx.report), reportWant{kept: []int{1}, project: ReportProjectSeeded, warnings: []string{"could not delete project " + p}})
			assertSubtreeUnchanged(t, fx, before, p)
			assertTombstones(t, fx, nil)
			// The operator makes it deletable: the same deletion, handed again, deletes it.
			chownTree(t, fx.path(p), notebookUID, notebookGID)
			fx.resetReport(t)
			res = sh.run(t, fx.envWith(initProject, p, fx.report, deleteIDs(n)), true)
			t.Logf("output:\n%s", res.out)
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: ReportProjectExisted})
			assertAbsent(t, fx.path(p))
			assertTombstones(t, fx, map[string]string{p: n})
		})
		t.Run(sh.name+"/a tombstone that cannot be written is a warning: the deletion and the launch go on", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			userProject(t, fx, p, "old work\n")
			buildTree(t, fx.path(tombstoneDir), &[2]int{0, 0}, treeDir(".", 0o755)) // root's: the user may not write it
			res := sh.run(t, fx.envWith(initProject, p, fx.report, deleteIDs(n)), true)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			fx.checkLog(t, res, "binder-projects: deleted project "+p+"\n")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: ReportProjectSeeded,
				warnings: []string{"could not record in " + tombstoneDir + " that project " + p + " was deleted"}})
			assertAbsent(t, fx.path(p))
			assertTombstones(t, fx, nil)
			assertCopyOfHome(t, fx, initProject)
		})
	}
}

// TestInitScriptOddTombstones: what is in the place of a tombstone, or of their folder, that no start
// wrote never stops a deletion, and is never followed out of the volume.
func TestInitScriptOddTombstones(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	const n = "1700000000000000000"
	cases := []struct {
		name  string
		setup func(t *testing.T, fx *initFixture)
	}{
		{name: "a tombstone that is not a number counts as none, and is replaced", setup: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(tombstoneDir), nil, treeDir(".", 0o755), treeFile("gh_p", 0o644, "99999999999999999999999\n"))
		}},
		{name: "a tombstone that is a folder counts as none, and is left alone", setup: func(t *testing.T, fx *initFixture) {
			buildTree(t, fx.path(tombstoneDir), nil, treeDir(".", 0o755), treeDir("gh_p", 0o755), treeFile("gh_p/x", 0o644, "x"))
		}},
		{name: "a tombstone that is a symbolic link to a file outside is read, never written through", setup: func(t *testing.T, fx *initFixture) {
			writeTestFile(t, filepath.Join(fx.outside, "id"), "1\n")
			buildTree(t, fx.path(tombstoneDir), nil, treeDir(".", 0o755), treeLink("gh_p", filepath.Join(fx.outside, "id")))
		}},
		{name: "a file in the place of the tombstone folder is replaced by the folder", setup: func(t *testing.T, fx *initFixture) {
			writeTestFile(t, fx.path(tombstoneDir), "not a folder\n")
		}},
		{name: "a symbolic link in the place of the tombstone folder is replaced, never followed", setup: func(t *testing.T, fx *initFixture) {
			makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(tombstoneDir))
		}},
	}
	for _, sh := range initShells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				fx := newInitFixture(t)
				userProject(t, fx, "gh_p", "old work\n")
				tc.setup(t, fx)
				before := snapshotTree(t, fx.base)
				res := sh.run(t, fx.envWith(initProject, "gh_p", fx.report, deleteIDs(n)), false)
				t.Logf("output:\n%s", res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				fx.checkLog(t, res, "binder-projects: deleted project gh_p\n")
				assertAbsent(t, fx.path("gh_p"))
				fx.checkCommon(t, before)
				assertCopyOfHome(t, fx, initProject)
				if diff := cmp.Diff(onlyTop(before, "outside"), onlyTop(snapshotTree(t, fx.base), "outside")); diff != "" {
					t.Errorf("the folder outside the volume changed (-before +after):\n%s", diff)
				}
				if info, err := os.Lstat(fx.path(tombstoneDir)); err != nil || !info.IsDir() {
					t.Fatalf("%s is not a folder: %v", tombstoneDir, err)
				}
				if strings.Contains(tc.name, "is a folder") {
					assertSubtreeUnchanged(t, fx, before, filepath.Join(tombstoneDir, "gh_p"))
					checkReport(t, res, readTestFile(t, fx.report), reportWant{deleted: []int{1}, project: ReportProjectSeeded,
						warnings: []string{"could not record in " + tombstoneDir + " that project gh_p was deleted"}})
				} else {
					checkReport(t, res, readTestFile(t, fx.report), seededReport(1))
					if info, err := os.Lstat(fx.path(tombstoneDir, "gh_p")); err != nil || !info.Mode().IsRegular() {
						t.Errorf("the tombstone is not a file: %v", err)
					} else if got, _ := tombstone(t, fx, "gh_p"); got != n+"\n" {
						t.Errorf("the tombstone holds %q, want %q", got, n+"\n")
					}
				}
			})
		}
	}
}

// TestInitScriptDeleteIDs: the deletions' ids are checked; bad ones (a wrong count, a malformed id)
// are warned about and all ignored, never refused; without ids (an older webhook), or with id 0,
// tombstones are neither read nor written, and a queued folder is deleted as always.
func TestInitScriptDeleteIDs(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	const max = "9223372036854775807" // 2^63-1
	cases := []struct {
		name string
		ids  *string // nil: unset
		// The deletions of gh_old_1 (its tombstone holds 5) and gh_old_2 (none).
		warn       bool
		want       map[string]string // the tombstones after the run
		keep1      bool              // gh_old_1 is left alone: its deletion was done already
		wantLogged string
	}{
		{name: "without ids (an older webhook), tombstones are neither read nor written", want: map[string]string{"gh_old_1": "5"}},
		{name: "with id 0, tombstones are neither read nor written", ids: ptr("0 0"), want: map[string]string{"gh_old_1": "5"}},
		{name: "ids in the order of the names, separated by any blanks, are used", ids: ptr(" 5\t\n7 "), keep1: true, want: map[string]string{"gh_old_1": "5", "gh_old_2": "7"},
			wantLogged: "project gh_old_1 was deleted already"},
		{name: "a newer id deletes, and 19 digits up to 2^63-1 are an id (leading zeros too)", ids: ptr(max + " 0000000000000000007"),
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
	for _, sh := range initShells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				fx := newInitFixture(t)
				userProject(t, fx, "gh_old_1", "one\n")
				userProject(t, fx, "gh_old_2", "two\n")
				buildTree(t, fx.path(tombstoneDir), &[2]int{notebookUID, notebookGID}, treeDir(".", 0o755), treeFile("gh_old_1", 0o644, "5\n"))
				before := snapshotTree(t, fx.base)
				env := fx.env(initProject, "gh_old_1 gh_old_2")
				if tc.ids != nil {
					env = append(env, deleteIDs(*tc.ids))
				}
				res := sh.run(t, env, false)
				t.Logf("output:\n%s", res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				want := seededReport(1, 2)
				if tc.warn {
					want.warnings = []string{"BINDER_PROJECTS_DELETE_IDS is ignored ("}
				}
				checkReport(t, res, readTestFile(t, fx.report), want)
				if tc.wantLogged != "" {
					fx.checkLog(t, res, tc.wantLogged)
				}
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
}

func ptr(s string) *string { return &s }

// TestInitScriptConcurrentDeletionOfALaunchedProject is the race that tombstones close. The user
// deleted project P, then starts two servers together: one launches P, the other Q, and both are
// handed P's deletion (the whole queue) with the same id. Their init containers run at any offset
// (Q's image may take longer to pull): from together to one after the other ended. P always ends as
// a complete fresh copy of the home: the start of Q never deletes the P that the start of P seeded.
func TestInitScriptConcurrentDeletionOfALaunchedProject(t *testing.T) {
	requireRootFor(t, "to give the home the notebook user's owner")
	owner := &[2]int{notebookUID, notebookGID}
	home := filepath.Join(sharedTempDir(t, "race-home-"), "jovyan")
	buildTree(t, home, owner, repo2dockerHome()...)
	addFiles(t, filepath.Join(home, "many"), 100, owner)
	const reps = 6
	for _, sh := range bothModes(t) {
		t.Run(sh.name+"/the start of Q never deletes the P that the start of P seeded anew", func(t *testing.T) {
			t.Parallel()
			// How long a start of P takes alone: the offsets span it.
			fx := newInitFixture(t)
			fx.source = home
			addFiles(t, fx.path("gh_p"), 100, owner)
			began := time.Now()
			if res := sh.run(t, fx.envWith("gh_p", "gh_p", fx.report, deleteIDs("1")), false); res.code != 0 {
				t.Fatalf("a start alone: exit %d\n%s", res.code, res.out)
			}
			alone := time.Since(began)
			skipped := 0
			for rep := 0; rep < reps; rep++ {
				fx := newInitFixture(t)
				fx.source = home
				addFiles(t, fx.path("gh_p"), 100, owner)
				writeTestFile(t, fx.path("gh_p", "old-work.txt"), "deleted by the user\n")
				before := snapshotTree(t, fx.base)
				id := fmt.Sprint(time.Now().UnixNano())
				reports := sharedTempDir(t, "reports-")
				names := []string{"gh_p", "gh_q"}
				cmds := make([]*exec.Cmd, 2)
				outs := make([]bytes.Buffer, 2)
				for i, project := range names {
					report := filepath.Join(reports, project)
					makeReportFile(t, report)
					cmds[i] = sh.command(t, fx.envWith(project, "gh_p", report, deleteIDs(id)), false)
					cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
				}
				// The start of Q begins at an offset from 0 to 1.5 times a start's time; the last
				// round once the start of P has ended.
				offset := alone * time.Duration(rep) * 3 / (2 * (reps - 1))
				if err := cmds[0].Start(); err != nil {
					t.Fatal(err)
				}
				errs := make([]error, 2)
				if rep == reps-1 {
					errs[0] = cmds[0].Wait()
				} else {
					time.Sleep(offset)
				}
				if err := cmds[1].Start(); err != nil {
					t.Fatal(err)
				}
				if rep < reps-1 {
					errs[0] = cmds[0].Wait()
				}
				errs[1] = cmds[1].Wait()
				for i, project := range names {
					res := initResult{out: outs[i].String()}
					if errs[i] != nil {
						t.Errorf("round %d, start of %s: %v; output:\n%s", rep, project, errs[i], res.out)
						continue
					}
					fx.checkLog(t, res)
					checkReport(t, res, readTestFile(t, filepath.Join(reports, project)), seededReport(1))
					if strings.Contains(res.out, "project gh_p was deleted already (by another start)") {
						skipped++
					}
				}
				failed := t.Failed()
				if _, err := os.Lstat(fx.path("gh_p")); err != nil {
					t.Errorf("round %d (offset %v): project gh_p is lost: %v", rep, offset, err)
				} else {
					assertCopyOfHome(t, fx, "gh_p")
				}
				assertCopyOfHome(t, fx, "gh_q")
				assertTombstones(t, fx, map[string]string{"gh_p": id})
				fx.checkCommon(t, before)
				if t.Failed() && !failed {
					t.Errorf("round %d (offset %v) failed:\nstart of P:\n%s\nstart of Q:\n%s", rep, offset, outs[0].String(), outs[1].String())
				} else {
					t.Logf("round %d (offset %v): start of Q:\n%s", rep, offset, outs[1].String())
				}
			}
			if skipped == 0 {
				t.Errorf("no start found the deletion carried out already: the race never happened")
			}
		})
	}
}

// ---- the pod rule: a start's unlocked work folder carries its pod's name ----

func podEnv(pod string) string { return EnvPod + "=" + pod }

const unlockedPrefix = ".binder-projects-tmp-unlocked."

// TestInitScriptPodRule: without flock, a killed start leaves its unlocked work folder, which carries
// its pod's name. The next start of the same pod (a restarted init container, or a new pod of that
// name, which Kubernetes admits only once the earlier one is gone) removes it at once; a start of
// another pod leaves it alone until it is 24 hours old.
func TestInitScriptPodRule(t *testing.T) {
	requireRootFor(t, "to give the home and volume the notebook user's owner")
	home := newLargeHome(t)
	const podA, podB = "jupyter-user-a--server-1", "jupyter-user-b"
	for _, sh := range withoutFlock(t, initShells(t)) {
		t.Run(sh.name+" without flock/a killed start's work folder is removed at once by the next start of its pod, and left by another pod's for a day", func(t *testing.T) {
			fx := newInitFixture(t)
			work := home.killMidCopy(t, sh, fx, append(fx.env(initProject, ""), podEnv(podA)))
			name := filepath.Base(work)
			if !regexp.MustCompile(`^\.binder-projects-tmp-unlocked\.` + regexp.QuoteMeta(podA) + `\.[A-Za-z0-9]{6}$`).MatchString(name) {
				t.Errorf("the work folder %s does not carry the pod's name, then mktemp's suffix", name)
			}
			if left := reservedLeftovers(t, fx.root); len(left) != 1 || left[0] != work {
				t.Fatalf("after the kill: %v, want only %s", left, work)
			}
			// A folder that another pod's start, killed as well, left just now.
			other := unlockedPrefix + "jupyter-user-c.Ab12Cd"
			workFolder(t, fx, other, false, time.Now())
			before := snapshotTree(t, fx.base)

			// A start of another pod leaves both: they may belong to starts that still run.
			run := func(pod string) initResult {
				t.Helper()
				fx.resetReport(t)
				res := sh.run(t, append(fx.env(initProject, ""), podEnv(pod)), false)
				t.Logf("start of pod %s:\n%s", pod, res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				return res
			}
			res := run(podB)
			fx.checkLog(t, res, "binder-projects: leaving "+name+": it may belong to a start that is still running",
				"binder-projects: leaving "+other+": it may belong to a start that is still running", "project "+initProject+" is ready")
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			assertCopyOfHome(t, fx, initProject)
			assertSubtreeUnchanged(t, fx, before, name)
			assertSubtreeUnchanged(t, fx, before, other)

			// The next start of the killed start's pod removes its folder at once.
			res = run(podA)
			fx.checkLog(t, res, "binder-projects: removed "+name+", left by an earlier start of this pod, which has ended",
				"binder-projects: leaving "+other+": it may belong to a start that is still running")
			checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectExisted})
			assertAbsent(t, work)
			assertSubtreeUnchanged(t, fx, before, other)

			// A day later, any start removes the other pod's folder.
			setMtime(t, fx.path(other), time.Now().Add(-25*time.Hour))
			res = run(podB)
			fx.checkLog(t, res, "binder-projects: removed "+other+", left by an earlier interrupted run")
			fx.checkCommon(t, before)
		})
	}
	for _, sh := range bothModes(t) {
		t.Run(sh.name+"/only a folder whose pod part is exactly this pod's name is removed at once", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			const pod = "jupyter-a"
			mine := []string{unlockedPrefix + pod + ".Ab12Cd", unlockedPrefix + pod + ".12345_7"}
			others := []string{
				unlockedPrefix + "jupyter-a.x.Ab12Cd", // pod jupyter-a.x
				unlockedPrefix + "x.jupyter-a.Ab12Cd", // pod x.jupyter-a
				unlockedPrefix + "jupyter.Ab12Cd",     // pod jupyter
				unlockedPrefix + "jupyter-ab.Ab12Cd",  // pod jupyter-ab
				unlockedPrefix + "jupyter-a",          // no pod: suffix jupyter-a
				unlockedPrefix + "Ab12Cd",             // no pod
				unlockedPrefix + "12345.7",            // an older version's name without mktemp: pod 12345
				".binder-projects-tmp." + pod + ".Ab12Cd",
				".binder-projects-new." + pod + ".Ab12Cd",
				".binder-projects-trash." + pod + ".Ab12Cd",
			}
			for _, name := range append(append([]string{}, mine...), others...) {
				workFolder(t, fx, name, false, time.Now())
			}
			makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(unlockedPrefix+pod+".Zz99Yy"))
			before := snapshotTree(t, fx.base)
			res := sh.run(t, append(fx.env(initProject, ""), podEnv(pod)), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			var want []string
			for _, name := range mine {
				want = append(want, "binder-projects: removed "+name+", left by an earlier start of this pod, which has ended")
			}
			for _, name := range others {
				want = append(want, "binder-projects: leaving "+name+": it may belong to a start that is still running")
			}
			want = append(want, "binder-projects: removed "+unlockedPrefix+pod+".Zz99Yy, which is not a folder")
			fx.checkLog(t, res, want...)
			checkReport(t, res, readTestFile(t, fx.report), seededReport())
			for _, name := range mine {
				assertAbsent(t, fx.path(name))
			}
			for _, name := range others {
				assertSubtreeUnchanged(t, fx, before, name)
			}
			if diff := cmp.Diff(onlyTop(before, "outside"), onlyTop(snapshotTree(t, fx.base), "outside")); diff != "" {
				t.Errorf("the folder outside the volume changed (-before +after):\n%s", diff)
			}
			assertCopyOfHome(t, fx, initProject)
		})
	}
	long := strings.Repeat("a", 201)
	bad := []struct{ name, pod string }{
		{"capitals", "Jupyter-A"},
		{"a leading dot", ".jupyter-a"},
		{"a slash", "jupyter/a"},
		{"an underscore", "jupyter_a"},
		{"a space", "jupyter a"},
		{"a line break", "jupyter-a\nwarning=x"},
		{"a pattern", "jupyter-*"},
		{"254 characters", strings.Repeat("a", 254)},
	}
	for _, sh := range initShells(t) {
		for _, tc := range bad {
			t.Run(sh.name+"/a pod name with "+tc.name+" is ignored with a warning, and no folder is removed by it", func(t *testing.T) {
				t.Parallel()
				fx := newInitFixture(t)
				name := unlockedPrefix + "jupyter-a.Ab12Cd"
				workFolder(t, fx, name, false, time.Now())
				before := snapshotTree(t, fx.base)
				res := sh.run(t, append(fx.env(initProject, ""), podEnv(tc.pod)), false)
				t.Logf("output:\n%s", res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				checkReport(t, res, readTestFile(t, fx.report), reportWant{project: ReportProjectSeeded,
					warnings: []string{"BINDER_PROJECTS_POD is ignored: it is not a pod's name"}})
				assertSubtreeUnchanged(t, fx, before, name)
				assertCopyOfHome(t, fx, initProject)
			})
		}
		t.Run(sh.name+"/a pod name too long to fit in a folder name is not used, without a warning; an empty one neither", func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			name := unlockedPrefix + long + ".Ab12Cd"
			workFolder(t, fx, name, false, time.Now())
			before := snapshotTree(t, fx.base)
			for _, pod := range []string{long, ""} {
				fx.resetReport(t)
				res := sh.run(t, append(fx.env("gh_"+fmt.Sprint(len(pod)), ""), podEnv(pod)), false)
				t.Logf("output:\n%s", res.out)
				if res.code != 0 {
					t.Fatalf("exit status %d", res.code)
				}
				checkReport(t, res, readTestFile(t, fx.report), seededReport())
				assertSubtreeUnchanged(t, fx, before, name)
			}
		})
	}
}

// TestInitScriptPodRuleWithoutMktemp: without mktemp (dash and bash; busybox sh always finds its own),
// an unlocked work folder is named .binder-projects-tmp-unlocked.<pod>.<pid>_<n>: its suffix has no dot
// either, so the pod's name is read from it, and the next start of that pod removes it.
func TestInitScriptPodRuleWithoutMktemp(t *testing.T) {
	requireRootFor(t, "to give the home the notebook user's owner")
	tools := toolsWithout(t, "flock", "mktemp")
	home := newLargeHome(t)
	const pod = "jupyter-user-a"
	for _, sh := range initShells(t) {
		if sh.name == "busybox" {
			continue
		}
		sh.path = strings.Replace(sh.path, initSystemPath, tools, 1)
		t.Run(sh.name+" without flock and mktemp/the work folder's suffix has no dot, and the next start of the pod removes it", func(t *testing.T) {
			cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-c", "command -v flock || command -v mktemp || exit 0; exit 3")...)
			cmd.Env = []string{"PATH=" + sh.path}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s still finds flock or mktemp with PATH=%s: %s", sh.name, sh.path, out)
			}
			fx := newInitFixture(t)
			work := home.killMidCopy(t, sh, fx, append(fx.env(initProject, ""), podEnv(pod)))
			name := filepath.Base(work)
			if !regexp.MustCompile(`^\.binder-projects-tmp-unlocked\.` + regexp.QuoteMeta(pod) + `\.[0-9]+_[0-9]+$`).MatchString(name) {
				t.Errorf("the work folder %s is not named with the pod's name, then <pid>_<n>", name)
			}
			res := sh.run(t, append(fx.env(initProject, ""), podEnv(pod)), false)
			t.Logf("output:\n%s", res.out)
			if res.code != 0 {
				t.Fatalf("exit status %d", res.code)
			}
			fx.checkLog(t, res, "binder-projects: removed "+name+", left by an earlier start of this pod, which has ended", "project "+initProject+" is ready")
			assertCopyOfHome(t, fx, initProject)
			if left := reservedLeftovers(t, fx.root); len(left) > 0 {
				t.Errorf("leftovers: %v", left)
			}
		})
	}
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
	return out, done
}

// waitForOutput waits until a run started by startInBackground has written want, failing if the run
// ends first or says nothing of it within 30 s.
// waitForEnd waits until a start begun by startInBackground, which was waiting for a lock just
// released, ends successfully, and returns its output.
func waitForEnd(t *testing.T, out *syncBuffer, done <-chan error) initResult {
	t.Helper()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the start still waits after the lock was released; output:\n%s", out.String())
	}
	res := initResult{out: out.String()}
	t.Logf("output:\n%s", res.out)
	if err != nil {
		t.Fatalf("exit: %v", err)
	}
	return res
}

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
