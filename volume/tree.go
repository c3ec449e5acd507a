package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Tree is a folder tree: a project on the volume, the image's home, or a manifest. Its top is the
// entry "" (a folder). Scanning never follows a symbolic link below the top.
type Tree struct {
	// dir is the tree's top on disk; "" for a manifest's tree.
	dir      string
	entries  map[string]*Entry
	children map[string][]string // folder path → its names, sorted
	// unreadable holds the files whose content could not be read (they never equal anything).
	unreadable map[string]error
	// Warnings are what a person should know about the scan (entries counted as the user's own).
	Warnings []string
}

func newTree(dir string, top fs.FileMode) *Tree {
	return &Tree{
		dir:        dir,
		entries:    map[string]*Entry{"": {Type: TypeDir, Mode: top}},
		children:   map[string][]string{},
		unreadable: map[string]error{},
	}
}

// add records e below its parent folder, which must be recorded already.
func (t *Tree) add(e Entry) {
	t.entries[e.Path] = &e
	parent, name, _ := cutLast(e.Path)
	t.children[parent] = append(t.children[parent], name)
}

// sortChildren sorts every folder's names.
func (t *Tree) sortChildren() {
	for _, names := range t.children {
		slices.Sort(names)
	}
}

// treeFromManifest is the tree a manifest records.
func treeFromManifest(m *Manifest) *Tree {
	t := newTree("", 0)
	if m == nil {
		return t
	}
	for _, e := range m.Entries { // sorted: a folder comes before what it holds
		t.add(e)
	}
	t.sortChildren()
	return t
}

// Get is the entry at path p ("" is the top), or nil.
func (t *Tree) Get(p string) *Entry { return t.entries[p] }

// Children are the names in folder p, sorted.
func (t *Tree) Children(p string) []string { return t.children[p] }

// Manifest is the tree as a manifest (every file hashed).
func (t *Tree) Manifest(project, commit string) (*Manifest, error) {
	m := &Manifest{Project: project, Commit: commit}
	for p, e := range t.entries {
		if p == "" {
			continue
		}
		if e.Type == TypeOther {
			continue
		}
		if e.Type == TypeFile {
			if _, err := t.sha(p); err != nil {
				return nil, err
			}
		}
		m.Entries = append(m.Entries, *e)
	}
	slices.SortFunc(m.Entries, func(a, b Entry) int {
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return m, nil
}

// sha is the SHA-256 of the file at p, hashed now if the scan did not.
func (t *Tree) sha(p string) (string, error) {
	e := t.entries[p]
	if e.SHA256 != "" {
		return e.SHA256, nil
	}
	if err, ok := t.unreadable[p]; ok {
		return "", err
	}
	if t.dir == "" {
		return "", fmt.Errorf("%s: no hash recorded", p)
	}
	sum, size, err := hashFile(filepath.Join(t.dir, p))
	if err == nil && size != e.Size {
		err = fmt.Errorf("%s changed while it was read", show(p))
	}
	if err != nil {
		t.unreadable[p] = err
		return "", err
	}
	e.SHA256 = sum
	return sum, nil
}

// ErrNotAFolder: a tree's top is missing, is not a folder, or (for a project) is a symbolic link.
var ErrNotAFolder = errors.New("not a folder")

// ScanTree reads the tree at dir, never following a symbolic link below it. followTop says whether dir
// itself may be a symbolic link to a folder (an image's home may be; a project folder may not). If
// hashAll, every file is hashed now (an image's home, whose manifest is recorded); else files are
// hashed only when a comparison needs their content.
//
// A folder whose content cannot be listed, and a named pipe, socket or device, is TypeOther: the
// user's own, never equal to anything, never changed; a warning says so.
func ScanTree(dir string, followTop, hashAll bool) (*Tree, error) {
	info, err := os.Lstat(dir)
	if err == nil && info.Mode()&fs.ModeSymlink != 0 {
		if !followTop {
			return nil, fmt.Errorf("%w: it is a symbolic link", ErrNotAFolder)
		}
		info, err = os.Stat(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAFolder, unwrapPath(err))
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%w: it is a %s", ErrNotAFolder, typeWord(info.Mode()))
	}
	t := newTree(dir, modeOf(info))
	if err := t.scan(""); err != nil {
		return nil, err
	}
	t.sortChildren()
	if hashAll {
		for p, e := range t.entries {
			if e.Type == TypeFile {
				if _, err := t.sha(p); err != nil {
					return nil, fmt.Errorf("cannot read %s: %w", show(p), unwrapPath(err))
				}
			}
		}
	}
	return t, nil
}

func (t *Tree) scan(p string) error {
	des, err := os.ReadDir(filepath.Join(t.dir, p))
	if err != nil {
		if p == "" {
			return fmt.Errorf("cannot list the folder: %w", unwrapPath(err))
		}
		t.entries[p].Type = TypeOther
		t.Warnings = append(t.Warnings, fmt.Sprintf("cannot list folder %s (%v); it counts as your own and is left as it is", show(p), unwrapPath(err)))
		return nil
	}
	for _, de := range des {
		cp := joinPath(p, de.Name())
		info, err := de.Info() // lstat
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", show(cp), unwrapPath(err))
		}
		e := Entry{Path: cp, Mode: modeOf(info)}
		switch m := info.Mode(); {
		case m&fs.ModeSymlink != 0:
			e.Type, e.Mode = TypeSymlink, 0
			if e.Target, err = os.Readlink(filepath.Join(t.dir, cp)); err != nil {
				return fmt.Errorf("cannot read link %s: %w", show(cp), unwrapPath(err))
			}
		case m.IsDir():
			e.Type = TypeDir
		case m.IsRegular():
			e.Type, e.Size = TypeFile, info.Size()
		default:
			e.Type = TypeOther
			t.Warnings = append(t.Warnings, fmt.Sprintf("%s is a %s; it counts as your own and is left as it is", show(cp), typeWord(m)))
		}
		t.add(e)
		if e.Type == TypeDir {
			if err := t.scan(cp); err != nil {
				return err
			}
		}
	}
	return nil
}

// typeWord names the kind of entry m is.
func typeWord(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "folder"
	case m.IsRegular():
		return "file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// unwrapPath drops the absolute path an *fs.PathError carries, so that messages name only
// project-relative paths.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
