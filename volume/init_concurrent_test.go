//go:build linux

package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
)

// TestInitConcurrentStarts starts eight starts on one volume at once, some of the same project, some of
// others, some with deletions queued (the same ones, as the registry hands every start the whole queue;
// half of them with the deletions' ids, half without), with a home large enough that their copies
// overlap, again and again: Go starts; Go starts where flock fails; Go starts beside init.sh starts
// (dash with the helper, busybox without), as in a rolling upgrade. Every start succeeds, every
// project is a complete copy made by exactly one start (and recorded, where a commit was given), every
// queued project is gone, and nothing is left behind once the next start ran.
func TestInitConcurrentStarts(t *testing.T) {
	requireRoot(t, "to run the init command and init.sh as uid 1000")
	owner := &[2]int{userUID, userGID}
	home := filepath.Join(sharedTempDir(t), "jovyan")
	buildTree(t, home, owner, repo2dockerHome()...)
	addFiles(t, filepath.Join(home, "many"), 2000, owner)
	if err := os.WriteFile(filepath.Join(home, "large.bin"), bytes.Repeat([]byte("0123456789abcdef"), 1<<18), 0o644); err != nil {
		t.Fatal(err)
	}
	chownTree(t, home, userUID, userGID)
	type startSpec struct{ project, del string }
	starts := []startSpec{
		{"gh_a", ""},
		{"gh_a", "gh_old_1 gh_old_2"},
		{"gh_b", "gh_old_1 gh_old_2"},
		{"gh_a", ""},
		{"gh_b", "gh_old_2"},
		{"gh_c", "gh_old_1 gh_old_2 gh_never_was"},
		{"gh_d", "gh_old_1 gh_old_2"},
		{"gh_c", ""},
	}
	goStart := goInit(t)
	helper := buildCommand(t)
	dash := scriptInit(t, "dash", helper)
	busybox := scriptInit(t, "busybox", "")
	type round struct {
		name    string
		starter func(i int) starter
	}
	var rounds []round
	for n := 1; n <= 3; n++ {
		rounds = append(rounds, round{fmt.Sprintf("Go, round %d", n), func(int) starter { return goStart }})
	}
	rounds = append(rounds,
		round{"Go where flock fails", func(int) starter { return goStart.brokenFlock() }},
		round{"Go beside init.sh under dash, with the helper", func(i int) starter {
			if i%2 == 0 {
				return dash
			}
			return goStart
		}},
		round{"Go beside init.sh under busybox", func(i int) starter {
			if i%2 == 1 {
				return busybox
			}
			return goStart
		}},
	)
	for _, r := range rounds {
		t.Run(r.name+": every start succeeds, and every project is complete", func(t *testing.T) {
			fx := newInitFixture(t)
			fx.source = home
			for _, old := range []string{"gh_old_1", "gh_old_2"} {
				addFiles(t, fx.path(old), 400, owner)
			}
			before := snapshotTree(t, fx.base)
			reports := sharedTempDir(t)
			outs := make([]*syncBuffer, len(starts))
			dones := make([]<-chan error, len(starts))
			var cmds []func()
			for i, s := range starts {
				report := filepath.Join(reports, fmt.Sprint(i))
				makeReportFile(t, report)
				// Every start its own pod's name: two live pods never share one.
				env := fx.env(s.project, s.del, contract.EnvReport+"="+report, podEnv(fmt.Sprintf("jupyter-user-%d", i)), commitEnv(commitA))
				if i%2 == 1 {
					var ids []string
					for _, name := range strings.Fields(s.del) {
						ids = append(ids, map[string]string{"gh_old_1": "1700000000000000001", "gh_old_2": "1700000000000000002", "gh_never_was": "3"}[name])
					}
					env = append(env, deleteIDs(strings.Join(ids, " ")))
				}
				cmd := r.starter(i).command(env, true)
				cmds = append(cmds, func() { outs[i], dones[i] = startInBackground(t, cmd) })
			}
			for _, c := range cmds {
				c()
			}
			seeded := map[string]int{}
			raced := 0
			for i := range starts {
				res := waitForEnd(t, outs[i], dones[i])
				s := r.starter(i)
				if res.code != 0 {
					t.Errorf("start %d (%s, %s, deleting %q): exit %d", i, s.name, starts[i].project, starts[i].del, res.code)
					continue
				}
				if strings.Contains(res.out, "appeared while copying") {
					raced++
				}
				raw := readTestFile(t, filepath.Join(reports, fmt.Sprint(i)))
				if !strings.HasPrefix(s.name, "go") {
					project, deleted := scriptReport(raw)
					if project == contract.ProjectSeeded {
						seeded[starts[i].project]++
					}
					if want := strings.Trim(fmt.Sprint(seq(1, len(strings.Fields(starts[i].del)))), "[]"); deleted != want {
						t.Errorf("start %d by %s: deleted=%s, want %s", i, s.name, deleted, want)
					}
					continue
				}
				fx.checkLog(t, res)
				got, err := contract.DecodeReport(raw)
				project := contract.ProjectExisted
				if err == nil && got.Project == contract.ProjectSeeded {
					project = contract.ProjectSeeded
					seeded[starts[i].project]++
				}
				checkReport(t, res, raw, reportWant{deleted: seq(1, len(strings.Fields(starts[i].del))), project: project})
			}
			for _, p := range []string{"gh_a", "gh_b", "gh_c", "gh_d"} {
				if strings.Contains(r.name, "busybox") {
					assertCopyOfHomeBySeconds(t, fx, p)
				} else {
					assertCopyOfHome(t, fx, p)
				}
				if seeded[p] != 1 {
					t.Errorf("project %s was reported seeded by %d starts, want 1", p, seeded[p])
				}
				if !strings.Contains(r.name, "busybox") {
					fx.checkManifest(t, p, commitA)
				}
			}
			assertAbsent(t, fx.path("gh_old_1"), fx.path("gh_old_2"))
			if raced == 0 {
				t.Errorf("no start's copy was overtaken by another's: the copies did not overlap")
			}
			t.Logf("%d starts found their project made by another start while they copied", raced)
			// The next start (of one of the pods) removes whatever a start could not tell dead then.
			res := goStart.run(t, fx.env("gh_a", "", podEnv("jupyter-user-0")), true)
			if res.code != 0 {
				t.Fatalf("one more start: exit %d\n%s", res.code, res.out)
			}
			fx.checkCommon(t, before)
			assertNoPrivateFiles(t, fx)
			if t.Failed() {
				for i := range outs {
					t.Logf("start %d (%s, %s, deleting %q):\n%s", i, r.starter(i).name, starts[i].project, starts[i].del, outs[i].String())
				}
			}
		})
	}
}

// assertNoPrivateFiles asserts that the reserved folders hold only what they should: manifests of
// existing projects, tombstones, the update lock.
func assertNoPrivateFiles(t *testing.T, fx *initFixture) {
	t.Helper()
	for _, dir := range []string{SeedsDir, UpdatesDir} {
		entries, err := os.ReadDir(fx.path(dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch {
			case dir == UpdatesDir && e.Name() == ".lock":
			case dir == SeedsDir && !strings.HasPrefix(e.Name(), "."):
				if _, err := os.Stat(fx.path(e.Name())); err != nil {
					t.Errorf("%s/%s: the manifest of a project that is not there", dir, e.Name())
				}
			default:
				t.Errorf("%s/%s is left", dir, e.Name())
			}
		}
	}
}

// TestInitFullVolumeDeletesWithoutSpace fills a real (ext4) volume until no folder can be made: a
// queued project is still deleted (renamed, needing no space, then removed), which frees the space
// the launched project's copy needs, and the project is seeded. With nothing to delete, the start
// fails and says how full the volume is.
func TestInitFullVolumeDeletesWithoutSpace(t *testing.T) {
	requireRoot(t, "to make and loop-mount an ext4 file system")
	const big = 12 << 20
	for _, queued := range []bool{true, false} {
		name := "on a full volume, a queued project is deleted, freeing space, and the launched project is copied completely"
		if !queued {
			name = "on a full volume with nothing to delete, the start fails and says how full the volume is"
		}
		t.Run(name, func(t *testing.T) {
			fx := newInitFixture(t)
			fx.rootOnExt4(t, 32<<20)
			del := ""
			if queued {
				del = "gh_big"
				payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
				nodes := []treeNode{treeDir(".", 0o755)}
				for i := 0; i < big>>20; i++ {
					nodes = append(nodes, treeFile(fmt.Sprintf("data/part%02d.bin", i), 0o644, string(payload)))
				}
				buildTree(t, fx.path("gh_big"), &[2]int{userUID, userGID}, nodes...)
				chownTree(t, fx.path("gh_big"), userUID, userGID)
			}
			fillVolume(t, fx.root)
			before := snapshotTree(t, fx.base)
			res := goInit(t).run(t, fx.env(initProject, del, deleteIDs(map[bool]string{true: "9", false: ""}[queued]), commitEnv(commitA)), true)
			t.Logf("output:\n%s", res.out)
			if !queued {
				if res.code != 1 {
					t.Fatalf("exit status %d, want 1", res.code)
				}
				fx.checkLog(t, res, "binder-projects: error: could not create a temporary folder on the volume for project "+initProject+
					": the volume is full: ", " MiB used (100%). Free some space")
				checkReport(t, res, readTestFile(t, fx.report), reportWant{project: contract.ProjectFailed, err: "the volume is full: "})
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
			fx.checkManifest(t, initProject, commitA)
			assertTombstones(t, fx, map[string]string{"gh_big": "9"})
		})
	}
}

// rootOnExt4 makes the volume root a fresh ext4 file system of size bytes (mountExt4), with the user's
// old files (seedRoot).
func (fx *initFixture) rootOnExt4(t *testing.T, size int64) {
	t.Helper()
	if err := os.RemoveAll(fx.root); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(fx.root, 0o755); err != nil {
		t.Fatal(err)
	}
	mountExt4(t, fx.root, size)
	fx.seedRoot(t)
}

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
		t.Fatalf("mkfs.ext4 is missing: install e2fsprogs")
	}
	img := filepath.Join(sharedTempDir(t), "volume.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := runCommand(mkfs, "-q", "-F", img); err != nil {
		t.Fatalf("%s: %v\n%s", mkfs, err, out)
	}
	if out, err := runCommand("mount", "-o", "loop", img, dir); err != nil {
		t.Fatalf("mount -o loop %s %s: %v\n%s", img, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := runCommand("umount", dir); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// fillVolume fills the file system at root (with a user's folder of data, as root, so that even
// root's reserved blocks are taken) until not even a folder can be made at its root, and proves it.
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
	f.Close()
	syscall.Sync()
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
		os.Remove(probe)
		t.Fatalf("the volume is not full: mkdir at its root gave %v, want ENOSPC", err)
	}
}
