//go:build linux

package volume

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
)

// copyInto copies home into a new folder "copy" in a new volume folder, as the seed does, and returns
// the copy's path and what copyTree returned.
func copyInto(t testing.TB, home string, hash bool) (string, *copyResult) {
	t.Helper()
	vol, err := os.MkdirTemp("", "binder-projects-copy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vol) })
	src, err := OpenRoot(home)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	res, err := copyTree(src, dst, "copy", hash)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(vol, "copy"), res
}

func TestTheCopyIsTheHomeAndItsManifestIsTheCopys(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	nodes := repo2dockerHome()
	for _, size := range []int{0, 1, copyBuffer - 1, copyBuffer, copyBuffer + 1, 3<<20 + 17} {
		nodes = append(nodes, treeFile(fmt.Sprintf("sizes/%d.bin", size), 0o644, strings.Repeat("x", size)))
	}
	nodes = append(nodes,
		treeFile("modes/setuid", fs.ModeSetuid|0o755, "u"),
		treeDir("modes/sticky", fs.ModeSticky|0o777),
		treeFile("modes/none", 0, "nobody may read this but root"),
		treeDir("modes/closed", 0),
	)
	deep := "deep"
	for range 100 {
		deep += "/d"
	}
	nodes = append(nodes, treeFile(deep+"/bottom.txt", 0o644, "the bottom\n"))
	buildTree(t, home, nil, nodes...)
	for i := range 10 {
		if err := os.Link(filepath.Join(home, "README.md"), filepath.Join(home, "data", fmt.Sprintf("readme-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, hash := range []bool{true, false} {
		t.Run(fmt.Sprintf("hashing %v", hash), func(t *testing.T) {
			dst, res := copyInto(t, home, hash)
			want, got := snapshotTree(t, home), snapshotTree(t, dst)
			if diff := diffTrees(want, got); diff != "" {
				t.Errorf("the copy is not the home (-home +copy):\n%s", diff)
			}
			if diff := cmp.Diff(hardLinks(want), hardLinks(got)); diff != "" {
				t.Errorf("hard links (-home +copy):\n%s", diff)
			}
			if !hash {
				if len(res.Entries) != 0 {
					t.Errorf("without hashing, %d entries were recorded", len(res.Entries))
				}
				return
			}
			tree, err := ScanTree(dst, false, true)
			if err != nil {
				t.Fatal(err)
			}
			m, err := tree.Manifest(project, "c1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m.Entries, res.Entries); diff != "" {
				t.Errorf("the manifest taken while copying is not the copy's (-scan +copy):\n%s", diff)
			}
			if res.HardLinks != 10 {
				t.Errorf("%d names made as hard links, want 10", res.HardLinks)
			}
		})
	}
}

func TestAHardLinkToAFileOutsideTheHomeIsCopiedAsAFile(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	buildTree(t, home, nil, treeDir(".", 0o755), treeFile("a.txt", 0o644, "shared with outside\n"))
	if err := os.Link(filepath.Join(home, "a.txt"), filepath.Join(base, "outside.txt")); err != nil {
		t.Fatal(err)
	}
	dst, res := copyInto(t, home, true)
	if got := readTestFile(t, filepath.Join(dst, "a.txt")); got != "shared with outside\n" || res.Files != 1 || res.HardLinks != 0 {
		t.Errorf("a.txt holds %q; %d files, %d links made", got, res.Files, res.HardLinks)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dst, "a.txt"), &st); err != nil || st.Nlink != 1 {
		t.Errorf("the copy has %d names (%v), want 1", st.Nlink, err)
	}
}

// ---- the benchmark: the seed against cp -a ----

// benchHome builds a home of files files (in folders of 100) of the sizes size(i) gives, once per
// test binary run.
func benchHome(b *testing.B, dir string, files int, size func(i int) int) string {
	b.Helper()
	home := filepath.Join(dir, "home")
	if _, err := os.Stat(filepath.Join(home, "done")); err == nil {
		return home
	}
	os.RemoveAll(home)
	buf := bytes.Repeat([]byte("binder-projects bench 0123456789\n"), 1<<16)
	for i := range files {
		d := filepath.Join(home, fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		n := size(i)
		for len(buf) < n {
			buf = append(buf, buf...)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d.dat", i)), buf[i%7:i%7+n], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, "done"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return home
}

// BenchmarkSeedAgainstCpA times, in the same run and on the same disk, cp -a of a home and the init
// command's seed of it (Init, in process: the copy by 4 workers, the manifest hashed from the copy,
// the rename), each into a fresh ext4 file system loop-mounted from a file on that disk (as a new
// volume is: ext4 slows down inode allocation for minutes after many deletions, which would measure
// the benchmark's own cleanup), taking turns at going first, with each copy's dirty pages written
// back (sync, not timed) before the next, and the home in the page cache for both. It reports the
// ratio seed / cp -a (the goal: at most 0.8).
func BenchmarkSeedAgainstCpA(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (cp -a and the seed both keep owners; the volume is loop-mounted)")
	}
	dir := filepath.Join(os.TempDir(), "binder-projects-bench")
	homes := []struct {
		name  string
		files int
		size  func(i int) int
	}{
		// 1 GiB in 20,000 files: most a few KiB to 100 KiB, one in a hundred about 1.8 MiB.
		{"1GiB-20000-files", 20000, func(i int) int {
			if i%100 == 0 {
				return 7<<18 + (i%1000)*128
			}
			return 4096 + (i*7919)%(60<<10)
		}},
		// 100,000 small files: 100 bytes to 8 KiB.
		{"100000-small-files", 100000, func(i int) int { return 100 + (i*7919)%8000 }},
	}
	for _, h := range homes {
		b.Run(h.name, func(b *testing.B) {
			home := benchHome(b, filepath.Join(dir, h.name), h.files, h.size)
			var total int64
			filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					info, _ := d.Info()
					total += info.Size()
				}
				return nil
			})
			// Read the home once, so that both copies find it in the page cache.
			exec.Command("tar", "-cf", "/dev/null", home).Run()
			for _, commit := range []string{commitA, ""} {
				name := "seed with manifest"
				if commit == "" {
					name = "seed without commit"
				}
				b.Run(name, func(b *testing.B) {
					b.StopTimer()
					vol := filepath.Join(dir, "volume")
					if err := os.MkdirAll(vol, 0o755); err != nil {
						b.Fatal(err)
					}
					mountBenchExt4(b, vol, int64(b.N)*3*(total+int64(h.files)*8192)+1<<30)
					var cpTime, seedTime, cpCPU, seedCPU time.Duration
					cp := func(i int) {
						began := time.Now()
						cmd := exec.Command("cp", "-a", home+"/.", filepath.Join(vol, fmt.Sprintf("cp-a-%d", i)))
						if out, err := cmd.CombinedOutput(); err != nil {
							b.Fatalf("cp -a: %v\n%s", err, out)
						}
						cpTime += time.Since(began)
						cpCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
						syscall.Sync()
					}
					seed := func(i int) {
						began, cpu := time.Now(), cpuTime()
						rep, status := Init(InitInput{Root: vol, Project: fmt.Sprintf("gh_seed_%d", i), Source: home, Commit: commit}, nil)
						seedTime += time.Since(began)
						seedCPU += cpuTime() - cpu
						if status != ExitReady || rep.Project != contract.ProjectSeeded {
							b.Fatalf("the seed: %+v", rep)
						}
						syscall.Sync()
					}
					syscall.Sync()
					b.StartTimer()
					for i := range b.N {
						if i%2 == 0 {
							cp(i)
							seed(i)
						} else {
							seed(i)
							cp(i)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(seedTime)/float64(cpTime), "seed/cp-a")
					b.ReportMetric(float64(cpTime.Milliseconds())/float64(b.N), "cp-a-ms")
					b.ReportMetric(float64(seedTime.Milliseconds())/float64(b.N), "seed-ms")
					b.ReportMetric(float64(seedCPU)/float64(cpCPU), "seed/cp-a-cpu")
					b.ReportMetric(float64(total)/(1<<20), "MiB")
				})
			}
		})
	}
}

// mountBenchExt4 makes a fresh ext4 file system of size bytes in a sparse file beside dir (on the same
// disk) and loop-mounts it at dir until the benchmark ends.
func mountBenchExt4(b *testing.B, dir string, size int64) {
	b.Helper()
	img := dir + ".img"
	os.Remove(img)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		b.Fatal(err)
	}
	// Inodes enough for the copies (one per 4 KiB).
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-i", "4096", img).CombinedOutput(); err != nil {
		b.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		b.Fatalf("mount: %v\n%s", err, out)
	}
	b.Cleanup(func() {
		exec.Command("umount", dir).Run()
		os.Remove(img)
	})
}

// cpuTime is the processor time this process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
