//go:build linux

package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
)

// initCase is one scenario: a volume prepared by setup, one start of the init command, then checks.
type initCase struct {
	name    string
	project string // default initProject
	del     string
	extra   []string // more environment
	asRoot  bool     // run as root instead of the notebook user
	setup   func(t *testing.T, fx *initFixture, run func(env []string) initResult)
	code    int
	log     []string
	report  reportWant
	// check runs after the common checks; before is the snapshot of the whole fixture before the start.
	check func(t *testing.T, fx *initFixture, before map[string]treeEntry)
}

// manyNames is n project names prefix01, prefix02, ... separated by spaces.
func manyNames(prefix string, n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return strings.Join(names, " ")
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// namesRootInError asserts the report's error names the volume root, where the user must look.
func namesRootInError(t *testing.T, fx *initFixture) {
	t.Helper()
	got, err := contract.DecodeReport(readTestFile(t, fx.report))
	if err != nil {
		t.Fatal(err)
	}
	if want := "in the way of the project folder in " + fx.root + "; rename or remove it"; !strings.Contains(got.Error, want) {
		t.Errorf("error %q lacks %q", got.Error, want)
	}
}

func TestInitMakesTheProjectReady(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000 and give the home the notebook user's owner")
	start := goInit(t)
	inTheWay := func(what string) string {
		return "binder-projects: error: " + what + " is in the way of the project folder in "
	}
	firstStart := func(t *testing.T, fx *initFixture, run func(env []string) initResult) {
		if res := run(fx.env(initProject, "")); res.code != 0 {
			t.Fatalf("first start: exit %d\n%s", res.code, res.out)
		}
	}
	cases := []initCase{
		{
			name:   "a first start copies the whole home: dotfiles, nested folders, links, hard links, modes, times and owners",
			log:    []string{"binder-projects: copying the image's home folder into new project " + initProject, "binder-projects: project " + initProject + " is ready: 15 files"},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
				got := snapshotTree(t, fx.path(initProject))
				for p, want := range map[string]treeEntry{
					"bin/run.sh":    {Mode: 0o755, UID: userUID, GID: userGID},
					"secret.txt":    {Mode: 0o600, UID: userUID, GID: userGID},
					".config/app":   {Mode: 0o700, UID: userUID, GID: userGID},
					"shared":        {Mode: 0o775 | os.ModeSetgid, UID: userUID, GID: userGID},
					"readonly":      {Mode: 0o555, UID: userUID, GID: userGID},
					"link-to-data":  {Link: "data/sub", UID: userUID, GID: userGID},
					"absolute-link": {Link: "/etc/hostname", UID: userUID, GID: userGID},
					"dangling-link": {Link: "does-not-exist", UID: userUID, GID: userGID},
				} {
					g := got[p]
					if g.Mode != want.Mode || g.Link != want.Link || g.UID != want.UID || g.GID != want.GID {
						t.Errorf("%s: got mode %v link %q owner %d:%d, want mode %v link %q owner %d:%d", p, g.Mode, g.Link, g.UID, g.GID, want.Mode, want.Link, want.UID, want.GID)
					}
				}
				if got["bin/run"].Ino != got["bin/run.sh"].Ino {
					t.Errorf("bin/run and bin/run.sh, one file in the home, are two in the project")
				}
				assertAbsent(t, fx.path(SeedsDir)) // no commit: nothing recorded
			},
		},
		{
			name:   "a first start with a commit records the image's home as the project's manifest",
			extra:  []string{commitEnv("aaaaaaa1111")},
			log:    []string{"binder-projects: recorded what project " + initProject + " was seeded with at commit aaaaaaa1111"},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
				fx.checkManifest(t, initProject, "aaaaaaa1111")
			},
		},
		{
			name:   "a first start as root keeps the home's owners",
			asRoot: true,
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				chownTree(t, fx.source, 4242, 4343)
				if err := os.Lchown(filepath.Join(fx.source, "secret.txt"), 0, 0); err != nil {
					t.Fatal(err)
				}
			},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a first start as the unprivileged user copies a root-owned home and owns the copy",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				for _, f := range []string{"secret.txt", ".config/app/settings.json"} {
					if err := os.Chmod(filepath.Join(fx.source, f), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				for _, d := range []string{".config/app", "data/sub"} {
					if err := os.Chmod(filepath.Join(fx.source, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Chmod(filepath.Join(fx.source, "shared"), 0o775); err != nil {
					t.Fatal(err)
				}
				chownTree(t, fx.source, 0, 0)
			},
			log:    []string{"project " + initProject + " is ready"},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				want := snapshotTree(t, fx.source)
				for k, e := range want {
					e.UID, e.GID = userUID, userGID
					want[k] = e
				}
				if diff := diffTrees(want, snapshotTree(t, fx.path(initProject))); diff != "" {
					t.Errorf("project is not a copy of the home owned by the user (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "an image's home that is a symbolic link to a folder is copied as that folder",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				link := filepath.Join(fx.base, "home", "link-to-jovyan")
				makeTestLink(t, "jovyan", link)
				fx.source = link
			},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				fx.source = filepath.Join(fx.base, "home", "jovyan")
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "named pipes, sockets and devices in the home are not copied, each with a warning, and never block",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				if err := syscall.Mkfifo(filepath.Join(fx.source, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mknod(filepath.Join(fx.source, "data", "null"), syscall.S_IFCHR|0o666, 0x103); err != nil {
					t.Fatal(err)
				}
			},
			report: reportWant{project: contract.ProjectSeeded, warnings: []string{"the image's home: ", "the image's home: "}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				got, _ := contract.DecodeReport(readTestFile(t, fx.report))
				joined := strings.Join(got.Warnings, "\n")
				for _, w := range []string{"pipe is a named pipe; it was not copied", "data/null is a device; it was not copied"} {
					if !strings.Contains(joined, w) {
						t.Errorf("warnings %q lack %q", got.Warnings, w)
					}
				}
				assertAbsent(t, fx.path(initProject, "pipe"), fx.path(initProject, "data", "null"))
				home := snapshotTree(t, fx.source)
				delete(home, "pipe")
				delete(home, "data/null")
				if diff := diffTrees(home, snapshotTree(t, fx.path(initProject))); diff != "" {
					// data's time is the home's: only its entries differ.
					t.Errorf("the rest is not a copy (-home +project):\n%s", diff)
				}
			},
		},
		{
			name: "a folder of the home the user may not read fails the seed, naming the folder, and leaves nothing behind",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				buildTree(t, filepath.Join(fx.source, "closed"), &[2]int{0, 0}, treeDir(".", 0o700), treeFile("x", 0o600, "x"))
			},
			code:   1,
			log:    []string{"binder-projects:   cannot read folder closed of the image's home: permission denied"},
			report: reportWant{project: contract.ProjectFailed, err: "could not copy the image's home folder into project " + initProject + " (cannot read folder closed of the image's home: permission denied)"},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path(initProject))
				delete(before, "projects")
				after := snapshotTree(t, fx.base)
				delete(after, "projects") // the root's time: a work folder was made and removed
				if diff := diffTrees(before, after); diff != "" {
					t.Errorf("the failed seed changed files (-before +after):\n%s", diff)
				}
			},
		},
		{
			name: "a second start copies nothing: what the user changed, added and deleted stays so",
			setup: func(t *testing.T, fx *initFixture, run func([]string) initResult) {
				firstStart(t, fx, run)
				writeTestFile(t, fx.path(initProject, "README.md"), "# my own notes\n")
				writeTestFile(t, fx.path(initProject, "results.csv"), "x\n")
				for _, p := range []string{".bashrc", "bin", "link-to-readme"} {
					if err := os.RemoveAll(fx.path(initProject, p)); err != nil {
						t.Fatal(err)
					}
				}
			},
			log:    []string{"binder-projects: project " + initProject + " exists; copying nothing"},
			report: reportWant{project: contract.ProjectExisted},
			check:  assertUnchanged,
		},
		{
			name: "a project folder that is a symbolic link to a folder is left alone and nothing is copied",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(initProject))
			},
			log:    []string{"project " + initProject + " exists (as a symbolic link); copying nothing"},
			report: reportWant{project: contract.ProjectExisted},
			check:  assertUnchanged,
		},
		{
			name: "a project folder that is a dangling symbolic link fails the start, says what is in the way and where, and nothing changes",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				makeTestLink(t, filepath.Join(fx.outside, "nowhere"), fx.path(initProject))
			},
			code:   1,
			log:    []string{inTheWay("a symbolic link named " + initProject + ", which does not lead to a folder,")},
			report: reportWant{project: contract.ProjectFailed, err: "a symbolic link named " + initProject + ", which does not lead to a folder, is in the way"},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertUnchanged(t, fx, before)
				assertAbsent(t, filepath.Join(fx.outside, "nowhere"))
				namesRootInError(t, fx)
			},
		},
		{
			name: "a project folder that is a symbolic link to a file fails the start, says what is in the way, and nothing changes",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				makeTestLink(t, filepath.Join(fx.outside, "precious", "thesis.tex"), fx.path(initProject))
			},
			code:   1,
			log:    []string{inTheWay("a symbolic link named " + initProject + ", which does not lead to a folder,")},
			report: reportWant{project: contract.ProjectFailed, err: "which does not lead to a folder, is in the way"},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertUnchanged(t, fx, before)
				namesRootInError(t, fx)
			},
		},
		{
			name: "a project folder that is a file fails the start, says what is in the way and where, and nothing changes",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				writeTestFile(t, fx.path(initProject), "not a folder\n")
			},
			code:   1,
			log:    []string{inTheWay("a file named " + initProject)},
			report: reportWant{project: contract.ProjectFailed, err: "a file named " + initProject + " is in the way of the project folder in "},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertUnchanged(t, fx, before)
				namesRootInError(t, fx)
			},
		},
		{
			name: "a named pipe in the place of the project folder fails the start, named for what it is, and never blocks",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				if err := syscall.Mkfifo(fx.path(initProject), 0o666); err != nil {
					t.Fatal(err)
				}
			},
			code:   1,
			log:    []string{inTheWay("a named pipe named " + initProject)},
			report: reportWant{project: contract.ProjectFailed, err: "a named pipe named " + initProject + " is in the way"},
			check:  assertUnchanged,
		},
		{
			name: "queued projects are deleted, and other projects and the user's files at the root stay",
			del:  "gh_old_one  gh_old_two\ngh_old_three\n",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				for _, p := range []string{"gh_old_one", "gh_old_two", "gh_old_three", "gh_kept"} {
					buildTree(t, fx.path(p), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile(".hidden", 0o600, "h"),
						treeDir("sub/deeper", 0o755), treeFile("sub/deeper/f.txt", 0o644, p), treeLink("up", "../.."))
					chownTree(t, fx.path(p), userUID, userGID)
				}
			},
			log:    []string{"binder-projects: deleted project gh_old_one\n", "binder-projects: deleted project gh_old_two\n", "binder-projects: deleted project gh_old_three\n", "project " + initProject + " is ready"},
			report: seededReport(1, 2, 3),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_old_one"), fx.path("gh_old_two"), fx.path("gh_old_three"))
				assertSubtreeUnchanged(t, fx, before, "gh_kept")
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a queued project that is a symbolic link to a folder outside the volume loses the link, never the folder",
			del:  "gh_escape",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path("gh_escape"))
			},
			log:    []string{"binder-projects: deleted project gh_escape (it was a symbolic link; only the link was removed)"},
			report: seededReport(1),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_escape"))
				assertOutsideUnchanged(t, fx, before)
			},
		},
		{
			name:   "a queued project that does not exist counts as deleted",
			del:    "gh_never_was",
			log:    []string{"binder-projects: project gh_never_was queued for deletion does not exist; nothing to delete", "project " + initProject + " is ready"},
			report: seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a queued name that is a file or a named pipe is left alone, and counts as deleted: there is no project folder",
			del:  "gh_a_file gh_a_pipe",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				writeTestFile(t, fx.path("gh_a_file"), "mine\n")
				if err := syscall.Mkfifo(fx.path("gh_a_pipe"), 0o666); err != nil {
					t.Fatal(err)
				}
			},
			log:    []string{"not deleting gh_a_file: it is a file, not a folder; left alone", "not deleting gh_a_pipe: it is a named pipe, not a folder; left alone"},
			report: seededReport(1, 2),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_a_file")
				assertSubtreeUnchanged(t, fx, before, "gh_a_pipe")
			},
		},
		{
			name: "the unprivileged user deletes a queued project with read-only folders inside",
			del:  "gh_read_only",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				buildTree(t, fx.path("gh_read_only"), &[2]int{userUID, userGID}, treeDir(".", 0o755),
					treeDir("locked", 0o555), treeFile("locked/f", 0o444, "x"),
					treeDir("locked/closed", 0o500), treeFile("locked/closed/g", 0o400, "y"))
			},
			log:    []string{"binder-projects: deleted project gh_read_only\n"},
			report: seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_read_only"))
			},
		},
		{
			name: "the unprivileged user deletes a queued project that is read-only throughout (chmod -R a-w), and one that cannot even be listed",
			del:  "gh_frozen gh_closed",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				buildTree(t, fx.path("gh_frozen"), &[2]int{userUID, userGID}, treeDir(".", 0o555),
					treeFile("notes.txt", 0o444, "n"), treeDir("a", 0o555), treeDir("a/b", 0o555), treeFile("a/b/c.txt", 0o444, "c"),
					treeDir("private", 0o500), treeFile("private/key", 0o400, "k"))
				buildTree(t, fx.path("gh_closed"), &[2]int{userUID, userGID}, treeDir(".", 0o000), treeFile("x", 0o644, "x"))
			},
			log:    []string{"binder-projects: deleted project gh_frozen\n", "binder-projects: deleted project gh_closed\n", "project " + initProject + " is ready"},
			report: seededReport(1, 2),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("gh_frozen"), fx.path("gh_closed"))
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a volume the user cannot write fails the start with a message saying so, and changes nothing",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				if err := os.Lchown(fx.root, 0, 0); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(fx.root, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			code: 1,
			log: []string{"permission denied", "binder-projects: error: could not create a temporary folder on the volume for project " + initProject +
				"; is the volume full or not writable by this user (uid 1000)?"},
			report: reportWant{project: contract.ProjectFailed, err: "could not create a temporary folder on the volume for project " + initProject},
			check:  assertUnchanged,
		},
		{
			name: "a queued project the user may not delete stays (whole) with a warning, the others are deleted, and the project is seeded anyway",
			del:  "gh_gone gh_roots gh_mine",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				undeletableProject(t, fx, "gh_roots")
				buildTree(t, fx.path("gh_mine"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("f", 0o644, "x"))
			},
			log: []string{"permission denied",
				"binder-projects: warning: could not delete project gh_roots: this user (uid 1000) may not remove some of its files (see the log); what is left stays in gh_roots",
				"binder-projects: deleted project gh_mine\n", "project " + initProject + " is ready"},
			report: reportWant{deleted: []int{1, 3}, kept: []int{2}, project: contract.ProjectSeeded, warnings: []string{"could not delete project gh_roots"}},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertSubtreeUnchanged(t, fx, before, "gh_roots")
				assertAbsent(t, fx.path("gh_mine"))
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "many queued projects the user may not delete: all are kept, and the report stays small and says how many warnings it left out",
			del:  manyNames("gh_roots_", 30),
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				for _, name := range strings.Fields(manyNames("gh_roots_", 30)) {
					undeletableProject(t, fx, name)
				}
			},
			log:    []string{"could not delete project gh_roots_30", "project " + initProject + " is ready"},
			report: reportWant{kept: seq(1, 30), project: contract.ProjectSeeded, manyWarnings: true},
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				for _, name := range strings.Fields(manyNames("gh_roots_", 30)) {
					assertSubtreeUnchanged(t, fx, before, name)
				}
			},
		},
		{
			name: "leftovers of killed starts (dead locks, an interrupted deletion, anything older than a day, reserved names that are not folders) are removed, and nothing else",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				// Work folders and trash of older versions (no lock), last changed in 2021 (buildTree's times).
				buildTree(t, fx.path(".binder-projects-tmp.Ab12Cd"), nil, treeDir(".", 0o700),
					treeDir(".binder-projects-tmp.Ab12Cd", 0o755), treeFile(".binder-projects-tmp.Ab12Cd/half.txt", 0o644, "half"))
				buildTree(t, fx.path(".binder-projects-trash.Zz99Yy"), nil, treeDir(".", 0o700),
					treeDir("gh_deleted/locked", 0o555), treeFile("gh_deleted/locked/f", 0o444, "x"))
				buildTree(t, fx.path(".binder-projects-new.Old123"), nil, treeDir(".", 0o700), treeFile(".lock", 0o644, ""))
				buildTree(t, fx.path(".binder-projects-tmp-unlocked.Old123"), nil, treeDir(".", 0o700),
					treeDir(".binder-projects-tmp-unlocked.Old123", 0o755), treeFile(".binder-projects-tmp-unlocked.Old123/half.txt", 0o644, "half"))
				// A killed start's work folder, just now: its lock is free.
				buildTree(t, fx.path(".binder-projects-tmp.Dead12"), nil, treeDir(".", 0o700), treeFile(".lock", 0o644, ""),
					treeDir(".binder-projects-tmp.Dead12", 0o755), treeFile(".binder-projects-tmp.Dead12/half.txt", 0o644, "half"))
				setMtime(t, fx.path(".binder-projects-tmp.Dead12"), time.Now())
				// An interrupted deletion, just now, with read-only folders.
				buildTree(t, fx.path(".binder-projects-deleted.gh_gone"), nil, treeDir(".", 0o555),
					treeDir("locked", 0o555), treeFile("locked/f", 0o444, "x"))
				setMtime(t, fx.path(".binder-projects-deleted.gh_gone"), time.Now())
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(".binder-projects-tmp.evil"))
				makeTestLink(t, filepath.Join(fx.outside, "precious"), fx.path(".binder-projects-deleted.evil"))
				if err := syscall.Mkfifo(fx.path(".binder-projects-new.pipe"), 0o666); err != nil {
					t.Fatal(err)
				}
				writeTestFile(t, fx.path(".binder-projects-trash.file"), "x")
				chownTree(t, fx.root, userUID, userGID)
			},
			log: []string{
				"binder-projects: removed .binder-projects-tmp.Ab12Cd, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-trash.Zz99Yy, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-new.Old123, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-tmp-unlocked.Old123, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-tmp.Dead12, left by an earlier interrupted run",
				"binder-projects: removed .binder-projects-deleted.gh_gone, left by the interrupted deletion of a project",
				"binder-projects: removed .binder-projects-tmp.evil, which is a symbolic link, not a folder",
				"binder-projects: removed .binder-projects-deleted.evil, which is a symbolic link, not a folder",
				"binder-projects: removed .binder-projects-new.pipe, which is a named pipe, not a folder",
				"binder-projects: removed .binder-projects-trash.file, which is a file, not a folder",
			},
			report: seededReport(),
			check: func(t *testing.T, fx *initFixture, before map[string]treeEntry) {
				assertOutsideUnchanged(t, fx, before)
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name: "a project queued for deletion and launched is deleted, then copied fresh",
			del:  initProject,
			setup: func(t *testing.T, fx *initFixture, run func([]string) initResult) {
				firstStart(t, fx, run)
				writeTestFile(t, fx.path(initProject, "README.md"), "# changed\n")
				writeTestFile(t, fx.path(initProject, "extra.txt"), "extra\n")
			},
			log:    []string{"binder-projects: deleted project " + initProject + "\n", "copying the image's home folder into new project " + initProject, "project " + initProject + " is ready"},
			report: seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertCopyOfHome(t, fx, initProject)
			},
		},
		{
			name:    "a project named like an option is copied and deleted as a folder",
			project: "-rf",
			del:     "-r",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				buildTree(t, fx.path("-r"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
			},
			log:    []string{"deleted project -r\n", "project -rf is ready"},
			report: seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path("-r"))
				assertCopyOfHome(t, fx, "-rf")
			},
		},
		{
			name:    "a project name of 255 bytes is copied, and one of 255 bytes is deleted (its reserved name cut to fit, as init.sh cuts it)",
			project: strings.Repeat("p", 255),
			del:     strings.Repeat("d", 255),
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				buildTree(t, fx.path(strings.Repeat("d", 255)), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
			},
			log:    []string{"deleted project " + strings.Repeat("d", 255), "project " + strings.Repeat("p", 255) + " is ready"},
			report: seededReport(1),
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertAbsent(t, fx.path(strings.Repeat("d", 255)))
				assertCopyOfHome(t, fx, strings.Repeat("p", 255))
				if got := deletedName(strings.Repeat("d", 255)); got != ".binder-projects-deleted."+strings.Repeat("d", 230) || len(got) != 255 {
					t.Errorf("the deleted name of a 255-byte name is %q (%d bytes)", got, len(got))
				}
			},
		},
		{
			name: "an image without a home folder gets an empty project and a warning that names the home and the setting to check",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				fx.source = filepath.Join(fx.base, "home", "nobody")
			},
			log: []string{"binder-projects: warning: the image has no home folder at ", "so project " + initProject + " starts empty",
				"--home-mount-path", "binder-projects: project " + initProject + " is ready (empty)"},
			report: reportWant{project: contract.ProjectSeededEmpty, warnings: []string{"the image has no home folder at "}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertEmptyProject(t, fx, initProject)
				got, _ := contract.DecodeReport(readTestFile(t, fx.report))
				if want := "the image has no home folder at " + fx.source + ", so"; len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], want) {
					t.Errorf("warnings %q, want one with %q", got.Warnings, want)
				}
			},
		},
		{
			name: "an image whose home is a file gets an empty project of the user's, and a warning",
			del:  "gh_old",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				fx.source = filepath.Join(fx.base, "home", "a-file")
				writeTestFile(t, fx.source, "not a folder\n")
				buildTree(t, fx.path("gh_old"), &[2]int{userUID, userGID}, treeDir(".", 0o755), treeFile("x", 0o644, "x"))
			},
			log:    []string{"binder-projects: warning: the image has no home folder at ", "deleted project gh_old", "project " + initProject + " is ready (empty)"},
			report: reportWant{deleted: []int{1}, project: contract.ProjectSeededEmpty, warnings: []string{"so project " + initProject + " starts empty"}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertEmptyProject(t, fx, initProject)
				if st, err := os.Stat(fx.path(initProject)); err != nil || st.Sys().(*syscall.Stat_t).Uid != userUID {
					t.Errorf("the empty project is not the user's: %v", err)
				}
			},
		},
		{
			name: "an image without a home folder relaunches an existing project without a warning",
			setup: func(t *testing.T, fx *initFixture, run func([]string) initResult) {
				firstStart(t, fx, run)
				fx.source = filepath.Join(fx.base, "home", "nobody")
			},
			log:    []string{"binder-projects: project " + initProject + " exists; copying nothing"},
			report: reportWant{project: contract.ProjectExisted},
			check:  assertUnchanged,
		},
		{
			name: "a home path with a line break and over 1000 bytes gives a one-line warning, cut to 1000 bytes",
			setup: func(t *testing.T, fx *initFixture, _ func([]string) initResult) {
				fx.source = "/nonexistent-home\nwarning=injected\n" + strings.Repeat("/long-folder-name", 80)
			},
			log:    []string{"binder-projects: warning: the image has no home folder at /nonexistent-home warning=injected /long-folder-name"},
			report: reportWant{project: contract.ProjectSeededEmpty, warnings: []string{"the image has no home folder at /nonexistent-home warning=injected /long-folder-name"}},
			check: func(t *testing.T, fx *initFixture, _ map[string]treeEntry) {
				assertEmptyProject(t, fx, initProject)
				got, _ := contract.DecodeReport(readTestFile(t, fx.report))
				if len(got.Warnings) != 1 || len(got.Warnings[0]) > 1000 || !strings.HasSuffix(got.Warnings[0], " ...") {
					t.Errorf("want one warning cut to 1000 bytes, ending in \" ...\"; got %q", got.Warnings)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newInitFixture(t)
			run := func(env []string) initResult { return start.run(t, env, true) }
			if tc.setup != nil {
				tc.setup(t, fx, run)
			}
			project := tc.project
			if project == "" {
				project = initProject
			}
			fx.resetReport(t)
			before := snapshotTree(t, fx.base)
			res := start.run(t, fx.env(project, tc.del, tc.extra...), !tc.asRoot)
			t.Logf("output:\n%s", res.out)
			if res.code != tc.code {
				t.Fatalf("exit status %d, want %d; output:\n%s", res.code, tc.code, res.out)
			}
			fx.checkLog(t, res, tc.log...)
			fx.checkCommon(t, before)
			checkReport(t, res, readTestFile(t, fx.report), tc.report)
			if tc.check != nil {
				tc.check(t, fx, before)
			}
		})
	}
}
