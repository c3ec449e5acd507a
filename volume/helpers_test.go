package volume

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// node is one entry of a tree to build or found by a snapshot: a file, a folder or a symbolic link.
type node struct {
	Type    Type
	Mode    fs.FileMode // files and folders
	Content string      // files
	Target  string      // links
}

// spec is a tree: path → node. Parent folders not listed are made with mode 0755.
type spec map[string]node

func F(content string) node              { return node{Type: TypeFile, Mode: 0o644, Content: content} }
func FM(mode fs.FileMode, c string) node { return node{Type: TypeFile, Mode: mode, Content: c} }
func D() node                            { return node{Type: TypeDir, Mode: 0o755} }
func DM(mode fs.FileMode) node           { return node{Type: TypeDir, Mode: mode} }
func L(target string) node               { return node{Type: TypeSymlink, Target: target} }
func P() node                            { return node{Type: TypeOther, Mode: 0o644} } // a named pipe

// with is s plus more (more wins).
func (s spec) with(more spec) spec {
	out := spec{}
	for k, v := range s {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// without is s without the given paths.
func (s spec) without(paths ...string) spec {
	out := s.with(nil)
	for _, p := range paths {
		delete(out, p)
	}
	return out
}

// build makes the tree s under base (which must not exist yet, or be an empty folder).
func build(t *testing.T, base string, s spec) {
	t.Helper()
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// Folders first, shallow to deep; modes last (a read-only folder is filled first).
	var paths []string
	for p := range s {
		paths = append(paths, p)
	}
	sortByDepth(paths)
	for _, p := range paths {
		n, full := s[p], filepath.Join(base, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch n.Type {
		case TypeDir:
			err = os.MkdirAll(full, 0o755)
		case TypeFile:
			err = os.WriteFile(full, []byte(n.Content), 0o600)
		case TypeSymlink:
			err = os.Symlink(n.Target, full)
		case TypeOther:
			err = syscall.Mkfifo(full, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := len(paths) - 1; i >= 0; i-- {
		n := s[paths[i]]
		if n.Type != TypeSymlink {
			if err := os.Chmod(filepath.Join(base, paths[i]), n.Mode); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func sortByDepth(paths []string) {
	for i := range paths {
		for j := i + 1; j < len(paths); j++ {
			di, dj := strings.Count(paths[i], "/"), strings.Count(paths[j], "/")
			if dj < di || (dj == di && paths[j] < paths[i]) {
				paths[i], paths[j] = paths[j], paths[i]
			}
		}
	}
}

// snapshot reads the tree under base (not base itself), never following a link. A missing base is nil.
func snapshot(t *testing.T, base string) spec {
	t.Helper()
	if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	s := spec{}
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
		switch m := info.Mode(); {
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			s[rel] = L(target)
		case m.IsDir():
			s[rel] = DM(modeOf(info))
		case m&fs.ModeNamedPipe != 0:
			s[rel] = node{Type: TypeOther, Mode: modeOf(info)} // never opened: that could block
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s[rel] = FM(modeOf(info), string(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeReadable makes every folder under base writable again, so that t.TempDir's cleanup can remove it.
func makeWritable(t *testing.T, base string) {
	t.Cleanup(func() {
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

// sharedTempDir is a temporary folder uid 1000 can enter (t.TempDir's parents are 0700).
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "binder-projects-update-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	return dir
}

// chownTree gives every entry under base to uid:gid, never following a link.
func chownTree(t *testing.T, base string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root %s (CI runs as root)", why)
	}
}

// notebookUser is the notebook's usual uid and gid.
var notebookUser = &syscall.Credential{Uid: 1000, Gid: 1000}
