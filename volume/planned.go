package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"syscall"
)

// The user owns the volume and can change anything between the update's look and its act: save a
// file (a new inode renamed over the old one, as Jupyter saves), write one in place, add a file to a
// folder the update removes, swap a folder for a symbolic link to another project. So the update
// moves an entry of the user's only into its private work folder, and only after a check; it checks
// the moved entry there against what the plan scanned (a mark for it and for everything below it:
// type, inode, size, modification time, the SHA-256 where the plan hashed it, a link's target); and
// what is not the one planned goes back to its name at once (or, if that name was taken meanwhile,
// beside it), and the update is rolled back. What the update put in place is taken back on a roll back
// the same way: moved aside, checked against the commit's manifest, and left in place as the user's
// if it is not the commit's any more.

// mark is what a step expects of one entry: the entry itself (Path "") or one below it.
type mark struct {
	// Path is below the step's entry (escaped, as in the manifest); "" is the entry itself.
	Path string `json:"path,omitempty"`
	Type Type   `json:"type"`
	Ino  uint64 `json:"ino"`
	// Size and Mtime (nanoseconds) of a file; SHA256 of a file the plan hashed.
	Size   int64  `json:"size,omitempty"`
	Mtime  int64  `json:"mtime,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Target of a symbolic link (escaped).
	Target string `json:"target,omitempty"`
}

// differs says how the entry st differs from m, as a predicate for a message ("" if it is the same
// entry, unchanged as far as its Stamp tells).
func (m mark) differs(st Stamp) string {
	switch {
	case typeOf(st) != m.Type:
		return "became a " + st.Kind()
	case st.Ino != m.Ino:
		return "was replaced (saved again, or made anew)"
	case m.Type == TypeFile && (st.Size != m.Size || st.Mtime != m.Mtime):
		return "was changed"
	}
	return ""
}

// sameTop says whether st is the entry of want's first mark (by type and inode); with no marks (a
// journal of version 1), any entry but a link is.
func sameTop(want []mark, st Stamp) bool {
	if len(want) == 0 {
		return typeOf(st) != TypeSymlink
	}
	return typeOf(st) == want[0].Type && st.Ino == want[0].Ino
}

// marks are the marks of p in t and, if deep, of everything below it.
func (t *Tree) marks(p string, deep bool) []mark {
	var out []mark
	var walk func(q, rel string)
	walk = func(q, rel string) {
		e, st := t.Get(q), t.stamps[q]
		m := mark{Path: escapeName(rel), Type: e.Type, Ino: st.Ino}
		switch e.Type {
		case TypeFile:
			m.Size, m.Mtime, m.SHA256 = e.Size, st.Mtime, e.SHA256
		case TypeSymlink:
			m.Target = escapeName(e.Target)
		}
		out = append(out, m)
		if deep && e.Type == TypeDir {
			for _, c := range t.Children(q) {
				walk(joinPath(q, c), under(rel, c))
			}
		}
	}
	walk(p, "")
	return out
}

// under is path rel below p ("" is p itself).
func under(p, rel string) string {
	switch {
	case rel == "":
		return p
	case p == "":
		return rel
	}
	return p + "/" + rel
}

// checkMarks checks the entry name in d, and everything below it, against want: exactly the entries
// marked, each unchanged. It returns the first that differs (below name) and how, or why == "".
// Nothing is followed; only files marked as files are opened.
func checkMarks(d *Dir, name string, want []mark) (rel, why string) {
	byPath := make(map[string]mark, len(want))
	for _, m := range want {
		p, err := unescapeName(m.Path)
		if err != nil {
			return "", "cannot be checked: the journal holds a bad path"
		}
		byPath[p] = m
	}
	seen := map[string]bool{}
	var walk func(dir *Dir, name, rel string) (string, string)
	walk = func(dir *Dir, name, rel string) (string, string) {
		m, ok := byPath[rel]
		if !ok {
			return rel, "was made"
		}
		seen[rel] = true
		st, err := dir.Stat(name)
		if err != nil {
			return rel, "cannot be read (" + unwrapPath(err).Error() + ")"
		}
		if why := m.differs(st); why != "" {
			return rel, why
		}
		switch m.Type {
		case TypeFile:
			if m.SHA256 != "" {
				sum, err := hashIn(dir, name, st)
				if err != nil || sum != m.SHA256 {
					return rel, "was changed"
				}
			}
		case TypeSymlink:
			target, err := dir.Readlink(name)
			want, _ := unescapeName(m.Target)
			if err != nil || target != want {
				return rel, "was changed"
			}
		case TypeDir:
			sub, err := dir.OpenDir(name)
			if err != nil {
				return rel, "cannot be read (" + unwrapPath(err).Error() + ")"
			}
			defer sub.Close()
			if self, err := sub.Self(); err != nil || self.Ino != m.Ino {
				return rel, "was replaced (made anew)"
			}
			names, err := sub.Names()
			if err != nil {
				return rel, "cannot be read (" + unwrapPath(err).Error() + ")"
			}
			slices.Sort(names)
			for _, n := range names {
				if r, why := walk(sub, n, under(rel, n)); why != "" {
					return r, why
				}
			}
		}
		return "", ""
	}
	if r, why := walk(d, name, ""); why != "" {
		return r, why
	}
	var missing []string
	for p := range byPath {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return missing[0], "was removed"
	}
	return "", ""
}

// checkPlaced checks the entry name in d, which the update had put in place from path src of the
// commit, against the commit's manifest: everything in it must be the commit's (of the same type,
// content and link target; what is missing was removed, which loses nothing). It returns the first
// entry that is not, and how, or why == "".
func checkPlaced(d *Dir, name string, m *Tree, src string) (rel, why string) {
	var walk func(dir *Dir, name, rel string) (string, string)
	walk = func(dir *Dir, name, rel string) (string, string) {
		e := m.Get(under(src, rel))
		if e == nil {
			return rel, "was made"
		}
		st, err := dir.Stat(name)
		if err != nil {
			return rel, "cannot be read (" + unwrapPath(err).Error() + ")"
		}
		if typeOf(st) != e.Type {
			return rel, "became a " + st.Kind()
		}
		switch e.Type {
		case TypeFile:
			if st.Size != e.Size {
				return rel, "was changed"
			}
			if sum, err := hashIn(dir, name, st); err != nil || sum != e.SHA256 {
				return rel, "was changed"
			}
		case TypeSymlink:
			if target, err := dir.Readlink(name); err != nil || target != e.Target {
				return rel, "was changed"
			}
		case TypeDir:
			sub, err := dir.OpenDir(name)
			if err != nil {
				return rel, "cannot be read (" + unwrapPath(err).Error() + ")"
			}
			defer sub.Close()
			names, err := sub.Names()
			if err != nil {
				return rel, "cannot be read (" + unwrapPath(err).Error() + ")"
			}
			slices.Sort(names)
			for _, n := range names {
				if r, why := walk(sub, n, under(rel, n)); why != "" {
					return r, why
				}
			}
		}
		return "", ""
	}
	return walk(d, name, "")
}

// notPlannedError says that an entry of the user's is not the one the update planned to move: it was
// left as it is (or put back), and the update is rolled back.
type notPlannedError struct {
	path string // in the project
	why  string // a predicate: "was changed", "cannot be reached: data is a symbolic link (not followed)"
	at   string // where it is now, if not at path (its name was taken meanwhile)
}

func (e *notPlannedError) Error() string {
	s := fmt.Sprintf("%s %s while the update ran; it is left as it is", show(e.path), e.why)
	if strings.HasPrefix(e.why, "cannot be reached") {
		s = fmt.Sprintf("%s %s; it is left as it is", show(e.path), e.why)
	}
	if e.at != "" {
		s += ", as " + show(e.at) + " (its name was taken meanwhile)"
	}
	return s
}

func (e *notPlannedError) Unwrap() error { return ErrNotPlanned }

// unreachable is the error for path p of the project, which cannot be reached (err: a part of it is a
// symbolic link, not a folder, or gone).
func (v *volume) unreachable(p string, err error) error {
	return &notPlannedError{path: p, why: "cannot be reached: " + v.reason(err)}
}

// reason says why err, of an operation on the project, failed, naming the part of the path at fault.
func (v *volume) reason(err error) string {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return unwrapPath(err).Error()
	}
	p := v.rel(pe.Path)
	switch {
	case errors.Is(err, ErrLink):
		return show(p) + " is a symbolic link (not followed)"
	case errors.Is(err, syscall.ENOTDIR):
		return show(p) + " is not a folder"
	case errors.Is(err, fs.ErrNotExist):
		return show(p) + " is gone"
	}
	return show(p) + ": " + pe.Err.Error()
}

// rel is a path beneath the volume root (a Dir's) as a path in the project.
func (v *volume) rel(p string) string {
	if p == v.project {
		return ""
	}
	return strings.TrimPrefix(p, v.project+"/")
}

// stillAt says whether parent, a folder the update holds open, is still the folder at path rel of the
// project (the user may have moved it, even into another project).
func (v *volume) stillAt(parent *Dir, rel string) bool {
	d, err := v.root.OpenPath(under(v.project, rel))
	if err != nil {
		return false
	}
	defer d.Close()
	a, errA := d.Self()
	b, errB := parent.Self()
	return errA == nil && errB == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// putBack moves the entry fromName in from (part of the work folder) back to path p of the project:
// to its name if that is free, else beside it (name.restored-<short>.ext); if its folder cannot be
// reached (a link now, or gone), to the top of the project under that name. It returns where the entry
// is now; a warning says so if that is not p. Nothing is ever replaced.
func (v *volume) putBack(from *Dir, fromName, p string) (string, error) {
	label := "restored"
	if v.short != "" {
		label += "-" + v.short
	}
	dir, name := parentOf(p), lastName(p)
	parent, err := v.proj.OpenPath(dir)
	if err == nil {
		defer parent.Close()
		if err = from.Rename(fromName, parent, name); err == nil {
			return p, nil
		}
		for errors.Is(err, fs.ErrExist) {
			alt := besideName(name, label, parent.Exists)
			if err = from.Rename(fromName, parent, alt); err == nil {
				at := joinPath(dir, alt)
				v.partial = true
				v.warnf("%s could not go back to its name, which was taken meanwhile: it is %s", show(p), show(at))
				return at, nil
			}
		}
	}
	// Its folder cannot be reached: the top of the project keeps it.
	why := v.reason(err)
	for {
		alt := besideName(name, label, v.proj.Exists)
		rerr := from.Rename(fromName, v.proj, alt)
		if rerr == nil {
			v.partial = true
			v.warnf("%s could not go back to its folder (%s): it is %s", show(p), why, show(alt))
			return alt, nil
		}
		if !errors.Is(rerr, fs.ErrExist) {
			return "", fmt.Errorf("cannot put %s back (%s; %v)", show(p), why, unwrapPath(rerr))
		}
	}
}

// lastName is the last name of path p.
func lastName(p string) string {
	_, name, _ := cutLast(p)
	return name
}
