//go:build linux

package volume

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
)

// bigEntries adds to the folder p what makes sizes differ from byte counts: a file of 3 MiB, a sparse
// file (10 MiB long, 4 KiB written), a link with a long target (a block of its own on ext4), a hard
// link, a deep folder.
func bigEntries(t *testing.T, p string) {
	t.Helper()
	deep := filepath.Join(p, "deep", "er", "still")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(deep, "large.bin"), bytes.Repeat([]byte("0123456789abcdef"), 3<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(p, "sparse.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte("x"), 4096), 5<<20)
	f.Truncate(10 << 20)
	f.Close()
	if err := os.Symlink(strings.Repeat("a-long-link-target/", 20), filepath.Join(p, "long-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(deep, "large.bin"), filepath.Join(p, "same-large.bin")); err != nil {
		t.Fatal(err)
	}
	chownTree(t, p, userUID, userGID)
}

// TestInitReportsUsage: every start reports the volume's size and free space (statfs) and the disk
// each project folder and trash entry takes, equal to du -s -B1 of it (allocated blocks; links never
// followed, a file of several names once): the project seeded now from what its copy allocated, one
// updated now by a walk, the others within EnvUsageBudget. Every case fails on the code before, which
// reported no usage.
func TestInitReportsUsage(t *testing.T) {
	requireRoot(t, "to run the init command as uid 1000 and make folders of root's")
	start := goInit(t)
	run := func(t *testing.T, fx *initFixture, env []string, code int) contract.Report {
		t.Helper()
		fx.resetReport(t)
		res := start.run(t, append(env, clockEnv()), true)
		t.Logf("output:\n%s", res.out)
		if res.code != code {
			t.Fatalf("exit status %d, want %d", res.code, code)
		}
		rep, err := contract.DecodeReport(readTestFile(t, fx.report))
		if err != nil || rep.Usage == nil {
			t.Fatalf("the report: %+v, %v", rep, err)
		}
		return rep
	}
	dirs := func(r contract.Report) []string {
		var out []string
		for _, m := range r.Usage.Projects {
			out = append(out, string(m.Dir))
		}
		return out
	}
	t.Run("every size equals du's: the seeded project's from its copy, the others' and the trash's by a walk; links are never followed", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		bigEntries(t, fx.source)
		userProject(t, fx, "gh_e", "e\n")
		bigEntries(t, fx.path("gh_e"))
		// Links to big things outside the project, and a file linked with another project.
		if err := os.WriteFile(filepath.Join(fx.outside, "big.bin"), bytes.Repeat([]byte("b"), 5<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		makeTestLink(t, filepath.Join(fx.outside, "big.bin"), fx.path("gh_e", "to-outside"))
		makeTestLink(t, "../gh_e", fx.path("gh_e", "to-itself"))
		userProject(t, fx, "gh_f", "f\n")
		if err := os.Link(fx.path("gh_e", "same-large.bin"), fx.path("gh_f", "shared.bin")); err != nil {
			t.Fatal(err)
		}
		makeTestLink(t, "gh_e", fx.path("gh_link")) // a link named like a project: never measured
		trashedProject(t, fx, deletedAgo(1), "gh_t", "t\n")
		bigEntries(t, fx.trashPath(deletedAgo(1), "gh_t"))
		rep := run(t, fx, fx.env(initProject, "", commitEnv(commitA), budgetEnv(60000)), 0)
		checkSizes(t, fx, rep)
		if got := dirs(rep); len(got) == 0 || got[0] != initProject {
			t.Errorf("the seeded project is not measured first: %v", got)
		}
		want := []string{initProject, "gh_e", "gh_f", "old-work"}
		got := dirs(rep)
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" || !rep.Usage.All {
			t.Errorf("the projects measured (-want +got), all %v:\n%s", rep.Usage.All, diff)
		}
		if len(rep.Trash) != 1 || rep.Trash[0].Bytes < 3<<20 {
			t.Errorf("the trash entry is not measured: %+v", rep.Trash)
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(fx.root, &st); err != nil {
			t.Fatal(err)
		}
		if size := int64(st.Blocks) * st.Frsize; rep.Usage.Size != size || rep.Usage.Free <= 0 || rep.Usage.Free > size {
			t.Errorf("the volume: size %d, free %d; statfs says %d bytes in all", rep.Usage.Size, rep.Usage.Free, size)
		}
	})
	t.Run("a project updated now is measured whole, and first", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		run(t, fx, fx.env(initProject, "", commitEnv(commitA)), 0)
		bigEntries(t, fx.path(initProject))
		changeHome(t, fx)
		rep := run(t, fx, fx.env(initProject, "", commitEnv(commitB), updateEnv, budgetEnv(0)), 0)
		if rep.Update == nil || rep.Update.State != contract.UpdateUpdated {
			t.Fatalf("the update: %+v", rep.Update)
		}
		if got := dirs(rep); len(got) != 1 || got[0] != initProject {
			t.Errorf("measured %v, want only the updated project (the budget is 0)", got)
		}
		checkSizes(t, fx, rep)
	})
	t.Run("with a budget of 0 only the project seeded now is measured: not all, and the trash's sizes are unknown", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		userProject(t, fx, "gh_e", "e\n")
		trashedProject(t, fx, deletedAgo(1), "gh_t", "t\n")
		rep := run(t, fx, fx.env(initProject, "", budgetEnv(0)), 0)
		if got := dirs(rep); len(got) != 1 || got[0] != initProject || rep.Usage.All {
			t.Errorf("measured %v, all %v; want only %s, not all", got, rep.Usage.All, initProject)
		}
		if diff := cmp.Diff([]contract.Trashed{{ID: deletedAgo(1), Dir: "gh_t", Bytes: -1}}, rep.Trash); diff != "" || !rep.TrashComplete {
			t.Errorf("the trash (-want +got), complete %v:\n%s", rep.TrashComplete, diff)
		}
		checkSizes(t, fx, rep)
	})
	t.Run("a project the budget cannot walk to its end is not reported: the walk stops within it", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		addFiles(t, fx.path("gh_many"), 20000, &[2]int{userUID, userGID})
		rep := run(t, fx, fx.env(initProject, "", budgetEnv(1)), 0)
		if slices.Contains(dirs(rep), "gh_many") || rep.Usage.All {
			t.Errorf("measured %v, all %v: a walk of 20000 files within 1 ms?", dirs(rep), rep.Usage.All)
		}
	})
	t.Run("a project that cannot be read whole is not reported; the others are", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		userProject(t, fx, "gh_e", "e\n")
		userProject(t, fx, "gh_locked", "l\n")
		buildTree(t, fx.path("gh_locked", "roots"), &[2]int{0, 0}, treeDir(".", 0o700), treeFile("secret", 0o600, "s"))
		rep := run(t, fx, fx.env(initProject, "", budgetEnv(60000)), 0)
		if got := dirs(rep); slices.Contains(got, "gh_locked") || !slices.Contains(got, "gh_e") || rep.Usage.All {
			t.Errorf("measured %v, all %v; want gh_e and not gh_locked, not all", got, rep.Usage.All)
		}
		checkSizes(t, fx, rep)
	})
	t.Run("a volume of many projects: the report keeps within 3000 bytes, cutting sizes, and says not all", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		for i := range 150 {
			mkdirUser(t, fx.path(fmt.Sprintf("gh_%03d_%s", i, strings.Repeat("p", 60))))
		}
		res := start.run(t, append(fx.env(initProject, "", budgetEnv(60000)), clockEnv()), true)
		rep := checkReport(t, res, readTestFile(t, fx.report), seededReport())
		if n := len(rep.Usage.Projects); n == 0 || n >= 150 || rep.Usage.All || rep.Usage.Projects[0].Dir != initProject {
			t.Errorf("%d projects reported, all %v, first %v: want the seeded one first, some cut, not all", n, rep.Usage.All, dirs(rep)[:1])
		}
		checkSizes(t, fx, rep)
	})
	t.Run("a start that fails still reports the volume", func(t *testing.T) {
		t.Parallel()
		fx := newInitFixture(t)
		writeTestFile(t, fx.path(initProject), "in the way\n")
		rep := run(t, fx, fx.env(initProject, ""), 1)
		if rep.Project != contract.ProjectFailed || rep.Usage.Size <= 0 || !rep.TrashComplete {
			t.Errorf("the report: %+v", rep)
		}
	})
}

// TestTheUsageWalkStartsAtEveryProjectInTurn: the walk's order is the projects' by name, from a random
// one on, so that over starts a small budget reaches each project about as often.
func TestTheUsageWalkStartsAtEveryProjectInTurn(t *testing.T) {
	names := []string{"gh_a", "gh_b", "gh_c", "gh_d", "gh_e"}
	first := map[string]int{}
	for range 500 {
		got := rotated(names)
		i := slices.Index(names, got[0])
		if diff := cmp.Diff(append(slices.Clone(names[i:]), names[:i]...), got); diff != "" {
			t.Fatalf("not a rotation of the names (-want +got):\n%s", diff)
		}
		first[got[0]]++
	}
	for _, n := range names {
		if first[n] < 50 {
			t.Errorf("in 500 starts the walk began at %s %d times: %v", n, first[n], first)
		}
	}
}
