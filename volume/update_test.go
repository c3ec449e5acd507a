package volume

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	project   = "gh_owner_repo"
	oldCommit = "aaaaaaa0000"
	newCommit = "bbbbbbbcafe"
	short     = "bbbbbbb"
)

// fixture is a volume with one project and a new image home beside it.
type fixture struct {
	root, source string
}

func (f fixture) project() string { return filepath.Join(f.root, project) }

// newFixture builds the volume: the project seeded with base and recorded at oldCommit (no manifest if
// base is nil), then changed by the user into user; and the new image's home, commit.
func newFixture(t *testing.T, dir string, base, user, commit spec) fixture {
	t.Helper()
	f := fixture{root: filepath.Join(dir, "volume"), source: filepath.Join(dir, "image", "home", "jovyan")}
	if err := os.MkdirAll(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if base != nil {
		build(t, f.project(), base)
		if _, err := Record(f.root, project, oldCommit, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(f.project()); err != nil {
			t.Fatal(err)
		}
	}
	build(t, f.project(), user)
	build(t, f.source, commit)
	makeWritable(t, dir)
	return f
}

func (f fixture) update(t *testing.T) (*Result, []string, error) {
	t.Helper()
	var log []string
	res, err := Update(Options{Root: f.root, Project: project, Source: f.source, Commit: newCommit, Log: func(l string) { log = append(log, l) }})
	return res, log, err
}

// checkManifest checks that the project's manifest records exactly the image's home at commit.
func (f fixture) checkManifest(t *testing.T, commit string, source string) {
	t.Helper()
	got, err := ReadManifest(f.root, project)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := ScanTree(source, true, true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tree.Manifest(project, commit)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the manifest (-want +got):\n%s", diff)
	}
}

// checkClean checks that the volume root holds only the project, the manifests and the lock.
func (f fixture) checkClean(t *testing.T) {
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
	want := []string{UpdatesDir, filepath.Join(UpdatesDir, lockName), SeedsDir, project}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the volume root after the update (-want +got):\n%s", diff)
	}
}

// seed is a small repository: a notebook, a script, data in a folder, a link, a dotfile.
var seed = spec{
	"README.md":         F("# project\n"),
	"analysis.ipynb":    F("{cells: 1}\n"),
	"run.sh":            FM(0o755, "#!/bin/sh\necho run\n"),
	"data":              D(),
	"data/a.csv":        F("a,1\n"),
	"data/b.csv":        F("b,2\n"),
	"latest":            L("data/b.csv"),
	".bashrc":           F("alias ll='ls -l'\n"),
	"Makefile":          F("all:\n"),
	"empty":             D(),
	"docs":              D(),
	"docs/guide.md":     F("guide v1\n"),
	"docs/img":          D(),
	"docs/img/logo.png": F("PNG1"),
	"notes.tar.gz":      F("tgz1"),
	"weird\nname.txt":   F("newline in the name\n"),
	"bytes\xff\xfe.txt": F("not UTF-8\n"),
	"100%.txt":          F("percent\n"),
	"readonly.txt":      FM(0o444, "read only v1\n"),
	"scripts":           D(),
	"scripts/tool.py":   F("print(1)\n"),
	"scripts/helper.py": F("print(2)\n"),
}

func TestUpdateRules(t *testing.T) {
	tests := []struct {
		name         string
		base         spec // nil: no manifest
		user, commit spec
		want         spec
		summary      Summary
		logs         []string // lines the log must hold
	}{
		{
			name:    "a file the user never changed is replaced by the commit's version",
			base:    seed,
			user:    seed,
			commit:  seed.with(spec{"README.md": F("# project v2\n"), "readonly.txt": FM(0o444, "read only v2\n")}),
			want:    seed.with(spec{"README.md": F("# project v2\n"), "readonly.txt": FM(0o444, "read only v2\n")}),
			summary: Summary{Replaced: 2},
		},
		{
			name:    "a file the user changed is kept and the commit's version is written beside it",
			base:    seed,
			user:    seed.with(spec{"analysis.ipynb": F("{cells: 1, mine: true}\n")}),
			commit:  seed.with(spec{"analysis.ipynb": F("{cells: 2}\n")}),
			want:    seed.with(spec{"analysis.ipynb": F("{cells: 1, mine: true}\n"), "analysis." + short + ".ipynb": F("{cells: 2}\n")}),
			summary: Summary{Kept: 1, Beside: 1},
			logs:    []string{"kept your analysis.ipynb; the commit's version is analysis." + short + ".ipynb"},
		},
		{
			name:   "a file the user changed and the commit did not is kept, with nothing beside it",
			base:   seed,
			user:   seed.with(spec{"analysis.ipynb": F("mine\n")}),
			commit: seed,
			want:   seed.with(spec{"analysis.ipynb": F("mine\n")}),
		},
		{
			name:   "a file the user and the commit changed alike is left as it is",
			base:   seed,
			user:   seed.with(spec{"README.md": F("same fix\n")}),
			commit: seed.with(spec{"README.md": F("same fix\n")}),
			want:   seed.with(spec{"README.md": F("same fix\n")}),
		},
		{
			name:    "a file new in the commit is added, in new folders too",
			base:    seed,
			user:    seed,
			commit:  seed.with(spec{"new.py": F("new\n"), "docs/img/icon.png": F("ICON"), "lib": D(), "lib/x": D(), "lib/x/y.py": F("y\n")}),
			want:    seed.with(spec{"new.py": F("new\n"), "docs/img/icon.png": F("ICON"), "lib": D(), "lib/x": D(), "lib/x/y.py": F("y\n")}),
			summary: Summary{Added: 3},
		},
		{
			name:    "a file new in the commit goes beside the user's own file of that name",
			base:    seed,
			user:    seed.with(spec{"new.py": F("the user's\n")}),
			commit:  seed.with(spec{"new.py": F("the commit's\n")}),
			want:    seed.with(spec{"new.py": F("the user's\n"), "new." + short + ".py": F("the commit's\n")}),
			summary: Summary{Kept: 1, Beside: 1},
		},
		{
			name:    "a file the commit removed is removed if the user never changed it",
			base:    seed,
			user:    seed,
			commit:  seed.without("Makefile", "data/a.csv"),
			want:    seed.without("Makefile", "data/a.csv"),
			summary: Summary{Removed: 2},
		},
		{
			name:    "a file the commit removed is kept if the user changed it",
			base:    seed,
			user:    seed.with(spec{"Makefile": F("all: mine\n")}),
			commit:  seed.without("Makefile"),
			want:    seed.with(spec{"Makefile": F("all: mine\n")}),
			summary: Summary{Kept: 1},
			logs:    []string{"kept your Makefile, which the commit removed"},
		},
		{
			name:    "a file the user deleted stays deleted, changed by the commit or not",
			base:    seed,
			user:    seed.without("README.md", "Makefile"),
			commit:  seed.with(spec{"README.md": F("# project v2\n")}),
			want:    seed.without("README.md", "Makefile"),
			summary: Summary{StayedDeleted: 1},
			logs:    []string{"left README.md deleted (you deleted it; the commit changed it)"},
		},
		{
			name:    "the user's own files and folders are never touched",
			base:    seed,
			user:    seed.with(spec{"mine.txt": F("mine\n"), "results": D(), "results/out.csv": F("1\n"), "data/c.csv": F("c\n")}),
			commit:  seed.with(spec{"README.md": F("v2\n")}),
			want:    seed.with(spec{"mine.txt": F("mine\n"), "results": D(), "results/out.csv": F("1\n"), "data/c.csv": F("c\n"), "README.md": F("v2\n")}),
			summary: Summary{Replaced: 1},
		},
		{
			name:    "a folder the commit removed goes if the user never changed anything in it",
			base:    seed,
			user:    seed,
			commit:  seed.without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png", "empty"),
			want:    seed.without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png", "empty"),
			summary: Summary{Removed: 2},
		},
		{
			name:    "a folder the commit removed keeps what the user changed or added in it, and loses the rest",
			base:    seed,
			user:    seed.with(spec{"docs/mine.md": F("mine\n"), "scripts/tool.py": F("print('mine')\n")}).without("docs/img/logo.png"),
			commit:  seed.without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png", "scripts", "scripts/tool.py", "scripts/helper.py"),
			want:    seed.with(spec{"docs/mine.md": F("mine\n"), "scripts/tool.py": F("print('mine')\n")}).without("docs/guide.md", "docs/img", "docs/img/logo.png", "scripts/helper.py"),
			summary: Summary{Removed: 2, Kept: 1},
		},
		{
			name:    "a folder the user deleted stays deleted, but what the commit adds in it is added in it made again",
			base:    seed,
			user:    seed.without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png"),
			commit:  seed.with(spec{"docs": DM(0o750), "docs/guide.md": F("guide v2\n"), "docs/img/new.png": F("NEW"), "docs/new.md": F("new\n")}),
			want:    seed.with(spec{"docs": DM(0o750), "docs/img/new.png": F("NEW"), "docs/new.md": F("new\n")}).without("docs/guide.md", "docs/img/logo.png"),
			summary: Summary{Added: 2, StayedDeleted: 1},
			logs:    []string{"made folder docs again, to hold what the commit adds in it (you had deleted it)"},
		},
		{
			name:    "empty folders are added and removed like files",
			base:    seed,
			user:    seed,
			commit:  seed.with(spec{"new-empty": D()}).without("empty"),
			want:    seed.with(spec{"new-empty": D()}).without("empty"),
			summary: Summary{},
		},
		{
			name:    "a file the commit made a folder, never changed by the user, becomes that folder",
			base:    seed,
			user:    seed,
			commit:  seed.with(spec{"Makefile": D(), "Makefile/rules.mk": F("rules\n")}),
			want:    seed.with(spec{"Makefile": D(), "Makefile/rules.mk": F("rules\n")}),
			summary: Summary{Replaced: 1},
		},
		{
			name:    "a folder the commit made a file, never changed by the user, becomes that file",
			base:    seed,
			user:    seed,
			commit:  seed.with(spec{"scripts": F("now a file\n")}).without("scripts/tool.py", "scripts/helper.py"),
			want:    seed.with(spec{"scripts": F("now a file\n")}).without("scripts/tool.py", "scripts/helper.py"),
			summary: Summary{Replaced: 1},
		},
		{
			name:    "a folder the commit made a file keeps the user's changed files, and the file goes beside it",
			base:    seed,
			user:    seed.with(spec{"scripts/tool.py": F("print('mine')\n")}),
			commit:  seed.with(spec{"scripts": F("now a file\n")}).without("scripts/tool.py", "scripts/helper.py"),
			want:    seed.with(spec{"scripts/tool.py": F("print('mine')\n"), "scripts." + short: F("now a file\n")}).without("scripts/helper.py"),
			summary: Summary{Removed: 1, Kept: 2, Beside: 1}, // tool.py, and the folder with the file beside it
		},
		{
			name:    "a file the commit made a folder, changed by the user, is kept and the folder goes beside it",
			base:    seed,
			user:    seed.with(spec{"Makefile": F("all: mine\n")}),
			commit:  seed.with(spec{"Makefile": D(), "Makefile/rules.mk": F("rules\n")}),
			want:    seed.with(spec{"Makefile": F("all: mine\n"), "Makefile." + short: D(), "Makefile." + short + "/rules.mk": F("rules\n")}),
			summary: Summary{Kept: 1, Beside: 1},
		},
		{
			name:    "a file the user made a folder is kept, and the commit's changed file goes beside it",
			base:    seed,
			user:    seed.with(spec{"Makefile": D(), "Makefile/mine": F("mine\n")}),
			commit:  seed.with(spec{"Makefile": F("all: v2\n")}),
			want:    seed.with(spec{"Makefile": D(), "Makefile/mine": F("mine\n"), "Makefile." + short: F("all: v2\n")}),
			summary: Summary{Kept: 1, Beside: 1},
		},
		{
			name:    "a link is compared by its target and replaced like a file, never followed",
			base:    seed,
			user:    seed.with(spec{"outside": L("/etc/hostname")}),
			commit:  seed.with(spec{"latest": L("data/a.csv"), "outside": L("/etc/passwd")}),
			want:    seed.with(spec{"latest": L("data/a.csv"), "outside": L("/etc/hostname"), "outside." + short: L("/etc/passwd")}),
			summary: Summary{Replaced: 1, Kept: 1, Beside: 1},
		},
		{
			name:    "a file the user replaced by a link is the user's change",
			base:    seed,
			user:    seed.with(spec{"README.md": L("analysis.ipynb")}),
			commit:  seed.with(spec{"README.md": F("v2\n")}),
			want:    seed.with(spec{"README.md": L("analysis.ipynb"), "README." + short + ".md": F("v2\n")}),
			summary: Summary{Kept: 1, Beside: 1},
		},
		{
			name:    "the commit's mode change is taken where the user kept the mode, even on a file the user changed",
			base:    seed,
			user:    seed.with(spec{"scripts/tool.py": F("print('mine')\n")}),
			commit:  seed.with(spec{"scripts/tool.py": FM(0o755, "print(1)\n"), "README.md": FM(0o600, "# project\n"), "data": DM(0o700)}),
			want:    seed.with(spec{"scripts/tool.py": FM(0o755, "print('mine')\n"), "README.md": FM(0o600, "# project\n"), "data": DM(0o700)}),
			summary: Summary{Modes: 3},
		},
		{
			name:    "the user's mode change is kept when the commit replaces the content",
			base:    seed,
			user:    seed.with(spec{"scripts/tool.py": FM(0o755, "print(1)\n"), "run.sh": FM(0o700, "#!/bin/sh\necho run\n")}),
			commit:  seed.with(spec{"scripts/tool.py": F("print(2)\n"), "run.sh": FM(0o755, "#!/bin/sh\necho v2\n")}),
			want:    seed.with(spec{"scripts/tool.py": FM(0o755, "print(2)\n"), "run.sh": FM(0o700, "#!/bin/sh\necho v2\n")}),
			summary: Summary{Replaced: 2},
		},
		{
			name: "names beside that are in use get -2, -3; a name without an extension, a dotfile and a double extension get the commit before the last one",
			base: seed,
			user: seed.with(spec{
				"analysis.ipynb": F("mine\n"), "analysis." + short + ".ipynb": F("taken\n"), "analysis." + short + "-2.ipynb": F("taken too\n"),
				"Makefile": F("mine\n"), ".bashrc": F("mine\n"), "notes.tar.gz": F("mine\n"),
			}),
			commit: seed.with(spec{"analysis.ipynb": F("v2\n"), "Makefile": F("v2\n"), ".bashrc": F("v2\n"), "notes.tar.gz": F("v2\n")}),
			want: seed.with(spec{
				"analysis.ipynb": F("mine\n"), "analysis." + short + ".ipynb": F("taken\n"), "analysis." + short + "-2.ipynb": F("taken too\n"), "analysis." + short + "-3.ipynb": F("v2\n"),
				"Makefile": F("mine\n"), "Makefile." + short: F("v2\n"),
				".bashrc": F("mine\n"), ".bashrc." + short: F("v2\n"),
				"notes.tar.gz": F("mine\n"), "notes.tar." + short + ".gz": F("v2\n"),
			}),
			summary: Summary{Kept: 4, Beside: 4},
		},
		{
			name:    "names with a line break, bytes that are not UTF-8 and a percent sign are followed exactly",
			base:    seed,
			user:    seed.with(spec{"weird\nname.txt": F("mine\n")}),
			commit:  seed.with(spec{"weird\nname.txt": F("v2\n"), "bytes\xff\xfe.txt": F("v2\n"), "100%.txt": F("v2\n"), "new\x01\n.txt": F("new\n")}),
			want:    seed.with(spec{"weird\nname.txt": F("mine\n"), "weird\nname." + short + ".txt": F("v2\n"), "bytes\xff\xfe.txt": F("v2\n"), "100%.txt": F("v2\n"), "new\x01\n.txt": F("new\n")}),
			summary: Summary{Replaced: 2, Added: 1, Kept: 1, Beside: 1},
			logs:    []string{`kept your "weird\nname.txt"; the commit's version is "weird\nname.` + short + `.txt"`},
		},
		{
			name:    "without a manifest, every file is the user's: the same content stays, other content gets the commit's beside, new files are added, nothing is removed",
			base:    nil,
			user:    seed.with(spec{"README.md": F("mine\n"), "mine.txt": F("mine\n")}),
			commit:  seed.with(spec{"README.md": F("# project v2\n"), "new.py": F("new\n")}).without("Makefile"),
			want:    seed.with(spec{"README.md": F("mine\n"), "README." + short + ".md": F("# project v2\n"), "mine.txt": F("mine\n"), "new.py": F("new\n")}),
			summary: Summary{Added: 1, Kept: 1, Beside: 1},
			logs:    []string{"updated project gh_owner_repo from a seed without a record of it (every file counted as yours) to commit bbbbbbbcafe: 0 replaced, 1 added, 0 removed, 1 of yours kept (1 with the new version beside), 0 left deleted, 0 modes changed"},
		},
		{
			name:   "without a manifest and with the image's files unchanged, nothing changes and the files are recorded",
			base:   nil,
			user:   seed,
			commit: seed,
			want:   seed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := newFixture(t, dir, tt.base, tt.user, tt.commit)
			res, log, err := f.update(t)
			if err != nil {
				t.Fatalf("Update: %v\nlog:\n%s", err, strings.Join(log, "\n"))
			}
			if diff := cmp.Diff(tt.want, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project after the update (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.summary, res.Summary); diff != "" {
				t.Errorf("the summary (-want +got):\n%s", diff)
			}
			for _, l := range tt.logs {
				if !slices.Contains(log, l) {
					t.Errorf("the log lacks %q:\n%s", l, strings.Join(log, "\n"))
				}
			}
			f.checkManifest(t, newCommit, f.source)
			f.checkClean(t)

			// Again: nothing to do.
			before := snapshot(t, f.project())
			res, log, err = f.update(t)
			if err != nil {
				t.Fatalf("the second Update: %v", err)
			}
			if diff := cmp.Diff(Summary{}, res.Summary); diff != "" {
				t.Errorf("the second update did something (-want +got):\n%s\nlog:\n%s", diff, strings.Join(log, "\n"))
			}
			if diff := cmp.Diff(before, snapshot(t, f.project())); diff != "" {
				t.Errorf("the second update changed the project (-want +got):\n%s", diff)
			}
			f.checkManifest(t, newCommit, f.source)
		})
	}
}

func TestUpdateRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f fixture) Options
		want  string
	}{
		{
			name: "a project folder that is a symbolic link is refused",
			setup: func(t *testing.T, f fixture) Options {
				other := filepath.Join(f.root, "other")
				if err := os.Rename(f.project(), other); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("other", f.project()); err != nil {
					t.Fatal(err)
				}
				return Options{Root: f.root, Project: project, Source: f.source, Commit: newCommit}
			},
			want: "cannot update project gh_owner_repo: the project folder: not a folder: it is a symbolic link",
		},
		{
			name: "a missing project folder is refused",
			setup: func(t *testing.T, f fixture) Options {
				return Options{Root: f.root, Project: "gh_absent", Source: f.source, Commit: newCommit}
			},
			want: "cannot update project gh_absent: the project folder: not a folder: no such file or directory",
		},
		{
			name: "an image without a home folder is refused",
			setup: func(t *testing.T, f fixture) Options {
				return Options{Root: f.root, Project: project, Source: f.source + "-absent", Commit: newCommit}
			},
			want: "cannot update project gh_owner_repo from the image's home folder: not a folder",
		},
		{
			name: "a commit that could not be part of a file name is refused",
			setup: func(t *testing.T, f fixture) Options {
				return Options{Root: f.root, Project: project, Source: f.source, Commit: "feature/x"}
			},
			want: `bad input: the commit "feature/x" may hold only letters, digits, '.', '_' and '-'`,
		},
		{
			name: "a project name with a slash is refused",
			setup: func(t *testing.T, f fixture) Options {
				return Options{Root: f.root, Project: "../etc", Source: f.source, Commit: newCommit}
			},
			want: "bad input: the project name must be",
		},
		{
			name: "a file at the reserved name of the manifests is refused",
			setup: func(t *testing.T, f fixture) Options {
				if err := os.RemoveAll(filepath.Join(f.root, SeedsDir)); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/tmp", filepath.Join(f.root, SeedsDir)); err != nil {
					t.Fatal(err)
				}
				return Options{Root: f.root, Project: project, Source: f.source, Commit: newCommit}
			},
			want: ".binder-projects-seeds at the volume root is a symbolic link, not a folder",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), seed, seed, seed.with(spec{"README.md": F("v2\n")}))
			opts := tt.setup(t, f)
			before := snapshot(t, f.root)
			_, err := Update(opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Update: got error %v, want one containing %q", err, tt.want)
			}
			after := snapshot(t, f.root)
			delete(after, filepath.Join(UpdatesDir, lockName))
			delete(after, UpdatesDir)
			delete(before, UpdatesDir)
			delete(before, filepath.Join(UpdatesDir, lockName))
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a refused update changed the volume (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAFailingStepRollsTheUpdateBack(t *testing.T) {
	commit := seed.with(spec{"README.md": F("v2\n"), "new.py": F("new\n"), "analysis.ipynb": F("v2\n"), "docs/new.md": F("new\n")}).without("Makefile", "data/a.csv")
	user := seed.with(spec{"analysis.ipynb": F("mine\n")}).without("docs", "docs/guide.md", "docs/img", "docs/img/logo.png")
	for step := 0; ; step++ {
		f := newFixture(t, t.TempDir(), seed, user, commit)
		oldManifest, err := os.ReadFile(ManifestPath(f.root, project))
		if err != nil {
			t.Fatal(err)
		}
		loadTestHooks() // so that the environment no longer sets the hooks
		testHooks.failStep = step
		_, err = Update(Options{Root: f.root, Project: project, Source: f.source, Commit: newCommit})
		testHooks.failStep = -1
		if err == nil {
			if step < 3 {
				t.Fatalf("the update has only %d steps", step)
			}
			break
		}
		if !errors.Is(err, errTestFail) || !strings.Contains(err.Error(), "The update was rolled back: project gh_owner_repo is as it was") {
			t.Fatalf("step %d: got %v, want the injected failure, rolled back", step, err)
		}
		if diff := cmp.Diff(user, snapshot(t, f.project())); diff != "" {
			t.Errorf("step %d: the project after the roll back (-want +got):\n%s", step, diff)
		}
		if got, _ := os.ReadFile(ManifestPath(f.root, project)); string(got) != string(oldManifest) {
			t.Errorf("step %d: the manifest changed", step)
		}
		f.checkClean(t)
	}
}

func TestACorruptManifestCountsAsNoneWithAWarning(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":       `{"version":1,"project":"gh_owner_repo","commit":"a","entries":[` + "\n",
		"another version": `{"version":2,"project":"gh_owner_repo","commit":"a","entries":[]}`,
		"a path with ..":  `{"version":1,"project":"p","commit":"a","entries":[{"path":"../x","type":"dir","mode":"0755"}]}`,
		"a bad escape":    `{"version":1,"project":"p","commit":"a","entries":[{"path":"a%zz","type":"dir","mode":"0755"}]}`,
		"a bad hash":      `{"version":1,"project":"p","commit":"a","entries":[{"path":"a","type":"file","mode":"0644","size":1,"sha256":"xyz"}]}`,
		"an orphan path":  `{"version":1,"project":"p","commit":"a","entries":[{"path":"a/b","type":"dir","mode":"0755"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), seed, seed.without("Makefile"), seed.with(spec{"README.md": F("v2\n")}))
			if err := os.WriteFile(ManifestPath(f.root, project), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			res, _, err := f.update(t)
			if err != nil {
				t.Fatal(err)
			}
			// As without a manifest: README.md differs, so the commit's goes beside; the deleted Makefile
			// is added again (nothing says the user deleted it).
			want := seed.with(spec{"README." + short + ".md": F("v2\n")})
			if diff := cmp.Diff(want, snapshot(t, f.project())); diff != "" {
				t.Errorf("the project (-want +got):\n%s", diff)
			}
			if res.Based || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "malformed manifest") || !strings.HasSuffix(res.Warnings[0], "every file counts as your own") {
				t.Errorf("based %v, warnings %q; want no base and one warning about the malformed manifest", res.Based, res.Warnings)
			}
			f.checkManifest(t, newCommit, f.source)
		})
	}
}

func TestNamesSurviveTheManifestExactly(t *testing.T) {
	for _, name := range []string{"plain.txt", "a\nb", "\xff\xfe", "100%", "%41", "tab\there", "ünïcödé", "\u2028", "del\x7f", "c1\u0085"} {
		esc := escapeName(name)
		if strings.ContainsAny(esc, "\n\t\x7f") || !utf8ValidPrintable(esc) {
			t.Errorf("escapeName(%q) = %q holds a control character or invalid UTF-8", name, esc)
		}
		got, err := unescapeName(esc)
		if err != nil || got != name {
			t.Errorf("unescapeName(escapeName(%q)) = %q, %v", name, got, err)
		}
	}
}

func utf8ValidPrintable(s string) bool {
	for _, r := range s {
		if r == 0xfffd || r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}
