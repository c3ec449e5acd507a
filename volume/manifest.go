package volume

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Names at the volume root. Both start with a dot, which no project folder name can, and neither
// matches a prefix the init script removes as a leftover (.binder-projects-tmp. and the others end
// with a dot).
const (
	// SeedsDir holds one manifest per project, named exactly like the project folder:
	// <root>/.binder-projects-seeds/<project>. It is never a leftover; a project's deletion should remove
	// its manifest.
	SeedsDir = ".binder-projects-seeds"
	// UpdatesDir holds the volume's update lock (UpdatesDir/.lock, never removed) and one work folder per
	// project whose update is running or was interrupted: <root>/.binder-projects-updates/<project>/.
	// A work folder is never a leftover to remove blindly: Recover finishes or rolls back what it holds.
	UpdatesDir = ".binder-projects-updates"
)

// ManifestVersion is the version of the manifest format this package writes and reads.
const ManifestVersion = 1

// Type is the kind of an entry of a tree.
type Type string

// The types of entries. Other kinds (named pipes, sockets, devices) are TypeOther: never recorded in a
// manifest, never copied from an image, and, in a project, always the user's own.
const (
	TypeFile    Type = "file"
	TypeDir     Type = "dir"
	TypeSymlink Type = "symlink"
	TypeOther   Type = "other"
)

// Entry is one file, folder or symbolic link of a tree, by its path relative to the tree's top
// (components separated by "/"; a name may hold any byte but "/" and NUL).
type Entry struct {
	Path string
	Type Type
	// Mode is the permission bits with setuid, setgid and sticky (fs.ModePerm|fs.ModeSetuid|...);
	// 0 for symbolic links.
	Mode fs.FileMode
	// Size and SHA256 (hex) are the content of a file; SHA256 is "" for a file of a project not hashed
	// yet (hashing is lazy there).
	Size   int64
	SHA256 string
	// Target is a symbolic link's target text, never followed.
	Target string
}

// Manifest records what a project was seeded with (or last updated to): every file, folder and symbolic
// link the image's home held, which the user could then change. It is the base of the three-way update.
type Manifest struct {
	Project string
	Commit  string
	// Entries are sorted by path; the project folder itself is not an entry.
	Entries []Entry
}

// manifestJSON is the file format: a small versioned JSON object, one entry a line, so that a person
// can read it and grep it.
type manifestJSON struct {
	Version int         `json:"version"`
	Project string      `json:"project"`
	Commit  string      `json:"commit"`
	Entries []entryJSON `json:"entries"`
}

// entryJSON is one entry in the file. Path and Target are escaped (escapeName): JSON strings must be
// UTF-8, and a file name need not be.
type entryJSON struct {
	Path   string `json:"path"`
	Type   Type   `json:"type"`
	Mode   string `json:"mode,omitempty"`
	Size   *int64 `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Target string `json:"target,omitempty"`
}

// ManifestPath is where the manifest of project lives.
func ManifestPath(root, project string) string {
	return filepath.Join(root, SeedsDir, project)
}

// WorkPath is the work folder of an update of project: its journal, staged files and the user's
// files moved aside until the update is complete.
func WorkPath(root, project string) string {
	return filepath.Join(root, UpdatesDir, project)
}

// escapeName writes a path or link target as a JSON-safe, readable string: printable UTF-8 is kept as
// it is, and every other byte (invalid UTF-8, control characters such as a line break, DEL, C1
// controls) and "%" itself become %XX. unescapeName reverses it exactly.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || r < 0x20 || r == 0x7f || r == '%' || (r >= 0x80 && r < 0xa0) {
			for j := range size {
				fmt.Fprintf(&b, "%%%02X", s[i+j])
			}
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unescapeName reverses escapeName; it fails on a "%" not followed by two hex digits.
func unescapeName(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%q: a %% must be followed by two hex digits", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%q: a %% must be followed by two hex digits", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// validPath reports whether p is a relative path of names, as a tree records it: no empty, "." or ".."
// component, no NUL.
func validPath(p string) bool {
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// Encode writes the manifest in its file format.
func (m *Manifest) Encode() ([]byte, error) {
	var buf bytes.Buffer
	head, err := json.Marshal(struct {
		Version int    `json:"version"`
		Project string `json:"project"`
		Commit  string `json:"commit"`
	}{ManifestVersion, m.Project, m.Commit})
	if err != nil {
		return nil, err
	}
	buf.Write(head[:len(head)-1])
	buf.WriteString(`,"entries":[`)
	for i, e := range m.Entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n")
		j := entryJSON{Path: escapeName(e.Path), Type: e.Type}
		switch e.Type {
		case TypeFile:
			size := e.Size
			j.Mode, j.Size, j.SHA256 = fmt.Sprintf("%04o", modeBits(e.Mode)), &size, e.SHA256
		case TypeDir:
			j.Mode = fmt.Sprintf("%04o", modeBits(e.Mode))
		case TypeSymlink:
			j.Target = escapeName(e.Target)
		default:
			return nil, fmt.Errorf("entry %q: a manifest records no %s", e.Path, e.Type)
		}
		line, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes(), nil
}

// ErrBadManifest is wrapped by every error DecodeManifest returns.
var ErrBadManifest = errors.New("malformed manifest")

// DecodeManifest reads a manifest. It fails, wrapping ErrBadManifest, on another version, a bad path
// (absolute, with "..", listed twice, below something that is not a folder of the manifest), a bad
// type, mode or hash: an update never trusts such a manifest.
func DecodeManifest(data []byte) (*Manifest, error) {
	var j manifestJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if j.Version != ManifestVersion {
		return nil, fmt.Errorf("%w: version %d, this binary reads version %d", ErrBadManifest, j.Version, ManifestVersion)
	}
	m := &Manifest{Project: j.Project, Commit: j.Commit}
	types := map[string]Type{}
	for _, ej := range j.Entries {
		p, err := unescapeName(ej.Path)
		if err != nil || !validPath(p) {
			return nil, fmt.Errorf("%w: bad path %q", ErrBadManifest, ej.Path)
		}
		if _, dup := types[p]; dup {
			return nil, fmt.Errorf("%w: path %q listed twice", ErrBadManifest, ej.Path)
		}
		e := Entry{Path: p, Type: ej.Type}
		switch ej.Type {
		case TypeFile, TypeDir:
			mode, err := strconv.ParseUint(ej.Mode, 8, 32)
			if err != nil || mode > 0o7777 {
				return nil, fmt.Errorf("%w: %q: bad mode %q", ErrBadManifest, ej.Path, ej.Mode)
			}
			e.Mode = fromModeBits(uint32(mode))
			if ej.Type == TypeFile {
				if ej.Size == nil || *ej.Size < 0 {
					return nil, fmt.Errorf("%w: %q: a file needs a size", ErrBadManifest, ej.Path)
				}
				if len(ej.SHA256) != 64 || strings.Trim(ej.SHA256, "0123456789abcdef") != "" {
					return nil, fmt.Errorf("%w: %q: bad sha256 %q", ErrBadManifest, ej.Path, ej.SHA256)
				}
				e.Size, e.SHA256 = *ej.Size, ej.SHA256
			}
		case TypeSymlink:
			t, err := unescapeName(ej.Target)
			if err != nil || t == "" {
				return nil, fmt.Errorf("%w: %q: bad link target %q", ErrBadManifest, ej.Path, ej.Target)
			}
			e.Target = t
		default:
			return nil, fmt.Errorf("%w: %q: unknown type %q", ErrBadManifest, ej.Path, ej.Type)
		}
		types[p] = e.Type
		m.Entries = append(m.Entries, e)
	}
	for p := range types {
		if parent, _, ok := cutLast(p); ok && types[parent] != TypeDir {
			return nil, fmt.Errorf("%w: %q is below %q, which the manifest does not list as a folder", ErrBadManifest, escapeName(p), escapeName(parent))
		}
	}
	slices.SortFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return m, nil
}

// cutLast splits p into its parent path and its last name; ok is false for a top-level name.
func cutLast(p string) (parent, name string, ok bool) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p, false
	}
	return p[:i], p[i+1:], true
}

// joinPath joins a tree path and a name ("" is the top).
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// modeBits is the permission, setuid, setgid and sticky bits of m as the numbers chmod takes.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		b |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		b |= syscall.S_ISVTX
	}
	return b
}

// fromModeBits is the reverse of modeBits.
func fromModeBits(b uint32) fs.FileMode {
	m := fs.FileMode(b & 0o777)
	if b&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if b&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if b&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// modeOf is the mode an Entry records of info.
func modeOf(info fs.FileInfo) fs.FileMode {
	return info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// maxManifest is the largest manifest (or journal) read: about five million entries.
const maxManifest = 1 << 30

// ReadManifest reads the manifest of project. A missing manifest gives (nil, nil). Neither
// SeedsDir nor the manifest is followed if it is a symbolic link, and a named pipe there is never
// opened blocking.
func ReadManifest(root, project string) (*Manifest, error) {
	r, err := OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	seeds, err := r.OpenDir(SeedsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer seeds.Close()
	return readManifest(seeds, project)
}

// readManifest reads the manifest name in seeds: (nil, nil) if there is none.
func readManifest(seeds *Dir, name string) (*Manifest, error) {
	data, err := seeds.ReadFile(name, maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, unwrapPath(err)
	}
	return DecodeManifest(data)
}

// writeAtomic writes data to name in d through a new file in d (synced, renamed over name, d synced):
// a reader sees the old content or the new, never part of it. name must be absent or a file.
func writeAtomic(d *Dir, name string, data []byte) error {
	var f *os.File
	var tmp string
	for i := 0; ; i++ {
		tmp = fmt.Sprintf(".tmp-%d-%d", os.Getpid(), i)
		var err error
		if f, err = d.CreateFile(tmp, 0o600); err == nil {
			break
		} else if !errors.Is(err, fs.ErrExist) || i == 100 {
			return err
		}
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			d.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	crashPoint()
	if err := d.Replace(tmp, d, name); err != nil {
		return err
	}
	ok = true
	return syncDir(d)
}

// syncDir makes the entries of d durable.
func syncDir(d *Dir) error {
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
