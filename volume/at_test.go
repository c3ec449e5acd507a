//go:build linux

package volume

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// bothResolvers runs f with openat2 and with the walk of O_NOFOLLOW descriptors that stands in for it.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "descriptor walk"
		}
		t.Run(name, func(t *testing.T) {
			old := noOpenat2.Load()
			noOpenat2.Store(walk)
			t.Cleanup(func() { noOpenat2.Store(old) })
			f(t)
		})
	}
}

func TestOpenPathNeverFollowsALinkAtAnyDepth(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		root := t.TempDir()
		for _, d := range []string{"p/a/b/c", "q/a/b/c"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		r, err := OpenRoot(root)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for _, swapped := range []string{"p", "p/a", "p/a/b", "p/a/b/c"} {
			t.Run(swapped, func(t *testing.T) {
				full := filepath.Join(root, swapped)
				if err := os.Rename(full, full+".real"); err != nil {
					t.Fatal(err)
				}
				defer os.Rename(full+".real", full)
				target, _ := filepath.Rel(filepath.Dir(full), filepath.Join(root, "q"+swapped[1:]))
				if err := os.Symlink(target, full); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(full)
				d, err := r.OpenPath("p/a/b/c")
				if err == nil {
					d.Close()
					t.Fatalf("OpenPath(p/a/b/c) with %s a link to project q: opened, want ErrLink", swapped)
				}
				if !errors.Is(err, ErrLink) {
					t.Fatalf("OpenPath with %s a link: %v, want ErrLink", swapped, err)
				}
			})
		}
		d, err := r.OpenPath("p/a/b/c")
		if err != nil {
			t.Fatalf("OpenPath of real folders: %v", err)
		}
		d.Close()
		if _, err := r.OpenPath("p/../q"); err == nil {
			t.Fatal(`OpenPath("p/../q") opened, want a refusal`)
		}
	})
}

func TestDirOperationsRefuseWhatIsNotPlanned(t *testing.T) {
	root := t.TempDir()
	r, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.OpenFile("fifo"); err == nil {
		t.Fatal("OpenFile of a named pipe: opened, want a refusal (and no hang)")
	}
	if _, err := r.OpenDir("fifo"); err == nil {
		t.Fatal("OpenDir of a named pipe: opened, want a refusal")
	}
	os.WriteFile(filepath.Join(root, "target"), []byte("x"), 0o644)
	os.Symlink("target", filepath.Join(root, "link"))
	if _, _, err := r.OpenFile("link"); !errors.Is(err, ErrLink) {
		t.Fatalf("OpenFile of a link: %v, want ErrLink", err)
	}
	if err := r.Chmod("link", 0o600); err == nil {
		t.Fatal("Chmod of a link: done, want a refusal")
	}
	if info, _ := os.Stat(filepath.Join(root, "target")); info.Mode().Perm() != 0o644 {
		t.Fatalf("Chmod of a link changed its target's mode to %v", info.Mode().Perm())
	}
	if err := r.Rename("target", r, "link"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Rename over an entry: %v, want fs.ErrExist", err)
	}
	// RemoveAll of a folder with a link to another folder removes the link, never what it points at.
	os.MkdirAll(filepath.Join(root, "keep/inner"), 0o755)
	os.WriteFile(filepath.Join(root, "keep/inner/f"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(root, "gone/ro"), 0o755)
	os.Symlink("../keep", filepath.Join(root, "gone/link"))
	os.WriteFile(filepath.Join(root, "gone/ro/f"), []byte("x"), 0o644)
	os.Chmod(filepath.Join(root, "gone/ro"), 0o500)
	if err := r.RemoveAll("gone"); err != nil {
		t.Fatal(err)
	}
	if r.Exists("gone") {
		t.Fatal("RemoveAll left gone")
	}
	if _, err := os.Stat(filepath.Join(root, "keep/inner/f")); err != nil {
		t.Fatalf("RemoveAll followed a link: %v", err)
	}
}
