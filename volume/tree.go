package volume

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Tree is a folder tree: a project on the volume, the image's home, or a manifest. Its top is the
// entry "" (a folder). Scanning never follows a symbolic link below the top: every folder is opened by
// its descriptor (Dir), one name at a time.
type Tree struct {
	// dir is the tree's top on disk, for a tree ScanTree read by path; "" otherwise.
	dir       string
	followTop bool
	// at is the top, held open while the tree is in use (by scanDir's caller); nil for a tree
	// ScanTree read, which opens its top again to read a file.
	at       *Dir
	entries  map[string]*Entry
	children map[string][]string // folder path → its names, sorted
	// stamps are what the scan saw of each entry (on disk only): an entry is moved or removed only if
	// it is still that one.
	stamps map[string]Stamp
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
		stamps:     map[string]Stamp{},
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
	slices.SortFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return m, nil
}

// top is the tree's top folder, held open: t.at, or (for a tree ScanTree read) the top opened again,
// which must still be the folder scanned; done releases it.
func (t *Tree) top() (d *Dir, done func(), err error) {
	if t.at != nil {
		return t.at, func() {}, nil
	}
	if t.dir == "" {
		return nil, nil, errors.New("no folder on disk")
	}
	d, err = openTop(t.dir, t.followTop)
	if err != nil {
		return nil, nil, err
	}
	if self, err := d.Self(); err != nil || self.Dev != t.stamps[""].Dev || self.Ino != t.stamps[""].Ino {
		d.Close()
		return nil, nil, fmt.Errorf("the folder changed since it was read")
	}
	return d, func() { d.Close() }, nil
}

// sha is the SHA-256 of the file at p, hashed now if the scan did not. A file that is no longer the
// one scanned (another inode, size or time: saved meanwhile) is unreadable: it equals nothing.
func (t *Tree) sha(p string) (string, error) {
	e := t.entries[p]
	if e.SHA256 != "" {
		return e.SHA256, nil
	}
	if err, ok := t.unreadable[p]; ok {
		return "", err
	}
	if t.dir == "" && t.at == nil {
		return "", fmt.Errorf("%s: no hash recorded", p)
	}
	sum, err := t.hashNow(p)
	if err != nil {
		t.unreadable[p] = err
		return "", err
	}
	e.SHA256 = sum
	return sum, nil
}

func (t *Tree) hashNow(p string) (string, error) {
	top, done, err := t.top()
	if err != nil {
		return "", err
	}
	defer done()
	parent, name, err := top.OpenParent(p)
	if err != nil {
		return "", err
	}
	defer parent.Close()
	return hashIn(parent, name, t.stamps[p])
}

// hashIn is the SHA-256 of the regular file name in d, which must be the entry want (its Stamp, if
// known) before and after it is read.
func hashIn(d *Dir, name string, want Stamp) (string, error) {
	f, st, err := d.OpenFile(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if want.Ino != 0 && !st.Same(want) {
		return "", fmt.Errorf("it changed since it was looked at")
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", err
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return "", err
	}
	if n != st.Size || !stampOf(&after).Same(st) {
		return "", fmt.Errorf("it changed while it was read")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrNotAFolder: a tree's top is missing, is not a folder, or (for a project) is a symbolic link.
var ErrNotAFolder = errors.New("not a folder")

// openTop opens the folder at path; followTop says whether path itself may be a symbolic link to a
// folder (an image's home may be; a project folder may not).
func openTop(path string, followTop bool) (*Dir, error) {
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if !followTop {
			return nil, fmt.Errorf("%w: it is a symbolic link", ErrNotAFolder)
		}
		err = unix.Stat(path, &st)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAFolder, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("%w: it is a %s", ErrNotAFolder, stampOf(&st).Kind())
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !followTop {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAFolder, err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), path)}, nil
}

// ScanTree reads the tree at dir, never following a symbolic link below it. followTop says whether dir
// itself may be a symbolic link to a folder (an image's home may be; a project folder may not). If
// hashAll, every file is hashed now (an image's home, whose manifest is recorded); else files are
// hashed only when a comparison needs their content.
//
// A folder whose content cannot be listed, and a named pipe, socket or device, is TypeOther: the
// user's own, never equal to anything, never changed; a warning says so.
func ScanTree(dir string, followTop, hashAll bool) (*Tree, error) {
	d, err := openTop(dir, followTop)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	t, err := scanDir(d, hashAll)
	if err != nil {
		return nil, err
	}
	t.at, t.dir, t.followTop = nil, dir, followTop
	return t, nil
}

// scanDir reads the tree of the folder d holds (see ScanTree); the tree reads files through d, which
// the caller keeps open while it uses the tree.
func scanDir(d *Dir, hashAll bool) (*Tree, error) {
	self, err := d.Self()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAFolder, unwrapPath(err))
	}
	t := newTree("", permOf(self.Mode))
	t.at = d
	t.stamps[""] = self
	if err := t.scan(d, "", hashAll); err != nil {
		return nil, err
	}
	t.sortChildren()
	return t, nil
}

func (t *Tree) scan(d *Dir, p string, hashAll bool) error {
	names, err := d.Names()
	if err != nil {
		if p == "" {
			return fmt.Errorf("cannot list the folder: %w", unwrapPath(err))
		}
		t.entries[p].Type = TypeOther
		t.Warnings = append(t.Warnings, fmt.Sprintf("cannot list folder %s (%v); it counts as your own and is left as it is", show(p), unwrapPath(err)))
		return nil
	}
	for _, name := range names {
		cp := joinPath(p, name)
		st, err := d.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", show(cp), unwrapPath(err))
		}
		e := Entry{Path: cp, Mode: permOf(st.Mode)}
		switch typeOf(st) {
		case TypeSymlink:
			e.Type, e.Mode = TypeSymlink, 0
			if e.Target, err = d.Readlink(name); err != nil {
				return fmt.Errorf("cannot read link %s: %w", show(cp), unwrapPath(err))
			}
		case TypeDir:
			e.Type = TypeDir
		case TypeFile:
			e.Type, e.Size = TypeFile, st.Size
			if hashAll {
				if e.SHA256, err = hashIn(d, name, st); err != nil {
					return fmt.Errorf("cannot read %s: %w", show(cp), unwrapPath(err))
				}
			}
		default:
			e.Type = TypeOther
			t.Warnings = append(t.Warnings, fmt.Sprintf("%s is a %s; it counts as your own and is left as it is", show(cp), st.Kind()))
		}
		t.add(e)
		t.stamps[cp] = st
		if e.Type == TypeDir {
			sub, err := d.OpenDir(name)
			if err == nil {
				if self, serr := sub.Self(); serr != nil || self.Ino != st.Ino {
					sub.Close()
					err = fmt.Errorf("it changed while it was read")
				}
			}
			if err != nil {
				t.entries[cp].Type = TypeOther
				t.Warnings = append(t.Warnings, fmt.Sprintf("cannot list folder %s (%v); it counts as your own and is left as it is", show(cp), unwrapPath(err)))
				continue
			}
			err = t.scan(sub, cp, hashAll)
			sub.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// typeOf is the Type of the entry st describes.
func typeOf(st Stamp) Type {
	switch m := st.Mode; {
	case m&fs.ModeSymlink != 0:
		return TypeSymlink
	case m.IsDir():
		return TypeDir
	case m.IsRegular():
		return TypeFile
	}
	return TypeOther
}

// permOf is the mode an Entry records: the permission bits with setuid, setgid and sticky.
func permOf(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
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
