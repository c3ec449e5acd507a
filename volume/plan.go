package volume

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/binder-projects/binder-projects/contract"
)

// Kind is what an Action does.
type Kind string

// The kinds of actions of a plan.
const (
	// KindAdd puts what the commit has at Path, where the project has nothing (new in the commit, or
	// new in a folder the user deleted).
	KindAdd Kind = "add"
	// KindReplace puts the commit's version at Path in place of the user's, which the user never
	// changed (this covers a file that became a folder or a link, and the reverse).
	KindReplace Kind = "replace"
	// KindRemove removes Path, which the commit removed and the user never changed.
	KindRemove Kind = "remove"
	// KindBeside keeps the user's changed Path and writes the commit's version at Beside.
	KindBeside Kind = "beside"
	// KindKeep keeps the user's changed Path, which the commit removed.
	KindKeep Kind = "keep"
	// KindStayDeleted leaves Path deleted: the user deleted it, the commit changed it.
	KindStayDeleted Kind = "stay-deleted"
	// KindMode changes Path's mode (permission bits) to Mode: the commit changed it, the user did not.
	KindMode Kind = "mode"
	// KindMakeDir creates folder Path (mode Mode) again, which the user deleted, to hold what the commit
	// adds in it.
	KindMakeDir Kind = "mkdir"
)

// Action is one decision of a plan, with the reason for it.
type Action struct {
	Kind Kind
	Path string
	// Beside is where KindBeside writes the commit's version.
	Beside string
	// Mode is the mode KindMode sets and the mode of what KindAdd, KindReplace, KindBeside and
	// KindMakeDir put in place (for a folder: of its top; what is below has the image's modes).
	Mode fs.FileMode
	// Files is how many files and symbolic links the action concerns (a folder's whole content).
	Files  int
	Reason string
}

// Summary counts what a plan does, in files and symbolic links (folders are not counted).
type Summary struct {
	Replaced      int // the user never changed them; the commit did: replaced
	Added         int // new in the commit (or in a folder the user deleted): added
	Removed       int // the commit removed them and the user never changed them: removed
	Kept          int // changed by the user and by the commit (or removed by it): the user's kept
	Beside        int // of those, new versions written beside the user's
	StayedDeleted int // deleted by the user, changed by the commit: left deleted
	Modes         int // modes the commit changed and the user did not: changed
}

// Plan is what an update does to a project, decided before anything changes.
type Plan struct {
	Commit string
	// Short is the part of Commit in the names of new versions written beside the user's.
	Short string
	// Based says whether a manifest was the base (without one, every file counts as the user's own).
	Based   bool
	Actions []Action
	Summary Summary

	base, current, source *Tree
}

// ShortCommit is the first 7 characters of commit (all of a shorter one), without trailing dots.
func ShortCommit(commit string) string {
	if len(commit) > 7 {
		commit = commit[:7]
	}
	return strings.TrimRight(commit, ".")
}

// MakePlan decides, with base (nil: none) as the common ancestor, what updating the project tree
// current to the commit's tree source does. See the package documentation for the rules.
func MakePlan(base *Manifest, current, source *Tree, commit string) (*Plan, error) {
	if err := contract.CheckCommit(commit); err != nil {
		return nil, err
	}
	p := &planner{
		plan: &Plan{Commit: commit, Short: ShortCommit(commit), Based: base != nil,
			base: treeFromManifest(base), current: current, source: source},
		present: map[string]bool{},
		taken:   map[string]map[string]bool{},
	}
	for path, e := range current.entries {
		if e.Type == TypeDir {
			p.present[path] = true
		}
	}
	p.mergeDir("", p.plan.base.Get(""), current.Get(""), source.Get(""))
	s := &p.plan.Summary
	for _, a := range p.plan.Actions {
		switch a.Kind {
		case KindAdd:
			s.Added += a.Files
		case KindReplace:
			s.Replaced += a.Files
		case KindRemove:
			s.Removed += a.Files
		case KindBeside:
			s.Kept++
			s.Beside++
		case KindKeep:
			s.Kept++
		case KindStayDeleted:
			s.StayedDeleted += a.Files
		case KindMode:
			s.Modes++
		}
	}
	return p.plan, nil
}

type planner struct {
	plan *Plan
	// present is the folders of the project as the plan so far leaves them.
	present map[string]bool
	// taken is, by folder, the names chosen so far for new versions beside the user's.
	taken map[string]map[string]bool
}

func (p *planner) act(a Action) { p.plan.Actions = append(p.plan.Actions, a) }

// names is the union of the names in folder dir of the trees in which dir is a folder.
func (p *planner) names(dir string, b, u, n *Entry) []string {
	var all []string
	for _, x := range []struct {
		t *Tree
		e *Entry
	}{{p.plan.base, b}, {p.plan.current, u}, {p.plan.source, n}} {
		if x.e != nil && x.e.Type == TypeDir {
			all = append(all, x.t.Children(dir)...)
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// mergeDir merges folder dir, a folder in the project and in the commit (or, where the user deleted
// it, in the commit only): its mode, then each name in it. It says whether nothing is left at dir.
func (p *planner) mergeDir(dir string, b, u, n *Entry) bool {
	if dir != "" && u != nil && n != nil {
		p.mergeMode(dir, b, u, n)
	}
	gone := true
	for _, name := range p.names(dir, b, u, n) {
		c := joinPath(dir, name)
		var cb, cu, cn *Entry
		if b != nil && b.Type == TypeDir {
			cb = p.plan.base.Get(c)
		}
		if u != nil && u.Type == TypeDir {
			cu = p.plan.current.Get(c)
		}
		if n != nil && n.Type == TypeDir {
			cn = p.plan.source.Get(c)
		}
		if !p.node(c, cb, cu, cn) {
			gone = false
		}
	}
	return gone && u == nil
}

// node decides path c, given its base, current and commit entries (nil: absent). It says whether
// nothing is left at c in the project once the plan is carried out.
func (p *planner) node(c string, b, u, n *Entry) bool {
	if u == nil && n == nil {
		return true // deleted by both, or never there
	}
	if n != nil && n.Type == TypeOther {
		// The image has a named pipe, socket, device or a folder that cannot be listed here: it is
		// never copied, and what the project has at c is left as it is.
		return u == nil
	}
	if u != nil && n != nil && u.Type == TypeDir && n.Type == TypeDir {
		p.mergeDir(c, b, u, n)
		return false
	}
	cur, src, base := p.plan.current, p.plan.source, p.plan.base
	if same(cur, c, src, c) {
		p.mergeMode(c, b, u, n)
		return false
	}
	if same(cur, c, base, c) {
		// The user never changed it: the commit's version (or its absence) wins.
		switch {
		case u == nil:
			p.ensureDir(parentOf(c))
			p.act(Action{Kind: KindAdd, Path: c, Mode: n.Mode, Files: countFiles(src, c), Reason: "new in the commit"})
			p.mark(c, n)
			return false
		case n == nil:
			p.act(Action{Kind: KindRemove, Path: c, Files: countFiles(cur, c), Reason: "removed by the commit; you never changed it"})
			p.unmark(c)
			return true
		default:
			mode := n.Mode
			if b != nil && u.Type == n.Type && b.Type == u.Type && u.Mode != b.Mode {
				mode = u.Mode // the user's own mode change is kept
			}
			p.act(Action{Kind: KindReplace, Path: c, Mode: mode, Files: countFiles(src, c), Reason: "changed by the commit; you never changed it"})
			p.unmark(c)
			p.mark(c, n)
			return false
		}
	}
	if same(src, c, base, c) {
		// The commit never changed it: the user's version (or deletion) stays.
		if u != nil && n != nil {
			p.mergeMode(c, b, u, n)
		}
		return u == nil
	}
	// Both changed it, differently.
	switch {
	case u == nil && n.Type == TypeDir:
		// The user deleted it; the commit has a folder here: what the commit adds in it (names new
		// since the base) is added, in the folder made again; what the user deleted stays deleted.
		return p.mergeDir(c, b, nil, n)
	case u == nil:
		p.act(Action{Kind: KindStayDeleted, Path: c, Files: 1, Reason: "you deleted it; the commit changed it: it stays deleted"})
		return true
	case n == nil && u.Type == TypeDir && b != nil && b.Type == TypeDir:
		return p.emptyDir(c, b, u, nil)
	case n == nil:
		p.act(Action{Kind: KindKeep, Path: c, Reason: "you changed it; the commit removed it: yours is kept"})
		return false
	case u.Type == TypeDir && b != nil && b.Type == TypeDir:
		// The commit made the user's changed folder a file or a link.
		return p.emptyDir(c, b, u, n)
	}
	p.beside(c, u, n, "you changed it and so did the commit: yours is kept, the commit's version is beside it")
	return false
}

// emptyDir handles folder c, which the user changed and the commit removed or made a file or link n:
// what the user never changed in it goes; if nothing else is left, the folder goes too (and n takes
// its place), else it stays (and n goes beside it).
func (p *planner) emptyDir(c string, b, u, n *Entry) bool {
	mark := len(p.plan.Actions)
	gone := true
	for _, name := range p.names(c, b, u, nil) {
		cc := joinPath(c, name)
		if !p.node(cc, p.plan.base.Get(cc), p.plan.current.Get(cc), nil) {
			gone = false
		}
	}
	if gone {
		// Only removals were planned below: remove the folder as one.
		p.plan.Actions = p.plan.Actions[:mark]
		p.unmark(c)
		if n == nil {
			p.act(Action{Kind: KindRemove, Path: c, Files: countFiles(p.plan.current, c), Reason: "removed by the commit; what you changed in it you had deleted"})
			return true
		}
		p.act(Action{Kind: KindReplace, Path: c, Mode: n.Mode, Files: countFiles(p.plan.source, c), Reason: "the commit made this folder a " + string(n.Type) + "; nothing you changed was left in it"})
		p.mark(c, n)
		return false
	}
	if n == nil {
		return false // the user's files keep it
	}
	p.beside(c, u, n, "the commit made this folder a "+string(n.Type)+"; your files in it are kept, the commit's version is beside it")
	return false
}

// beside keeps the user's c and plans the commit's n beside it.
func (p *planner) beside(c string, u, n *Entry, reason string) {
	dir, name, _ := cutLast(c)
	if p.taken[dir] == nil {
		p.taken[dir] = map[string]bool{}
	}
	nb := besideName(name, p.plan.Short, func(s string) bool {
		x := joinPath(dir, s)
		return p.taken[dir][s] || p.plan.current.Get(x) != nil || p.plan.source.Get(x) != nil || p.plan.base.Get(x) != nil
	})
	p.taken[dir][nb] = true
	p.act(Action{Kind: KindBeside, Path: c, Beside: joinPath(dir, nb), Mode: n.Mode, Files: countFiles(p.plan.source, c), Reason: reason})
}

// mergeMode plans the commit's mode change of c if the user kept the mode the base had: the mode is
// merged on its own, apart from the content.
func (p *planner) mergeMode(c string, b, u, n *Entry) {
	if u == nil || n == nil || u.Type != n.Type || u.Type == TypeSymlink || u.Type == TypeOther {
		return
	}
	want := u.Mode
	if b != nil && b.Type == u.Type && u.Mode == b.Mode {
		want = n.Mode
	}
	if want != u.Mode {
		p.act(Action{Kind: KindMode, Path: c, Mode: want, Reason: fmt.Sprintf("the commit changed the mode from %04o to %04o; you never changed it", modeBits(u.Mode), modeBits(want))})
	}
}

// ensureDir plans folder dir of the commit to be made again, with its parents, where the user deleted
// it.
func (p *planner) ensureDir(dir string) {
	if dir == "" || p.present[dir] {
		return
	}
	p.ensureDir(parentOf(dir))
	n := p.plan.source.Get(dir)
	p.act(Action{Kind: KindMakeDir, Path: dir, Mode: n.Mode, Reason: "you deleted this folder; the commit adds new files in it, so it is made again to hold them"})
	p.present[dir] = true
}

// mark and unmark keep present up to date with what the plan puts at c and takes away. (Nothing below
// c is looked at again once c is replaced, added or removed as a whole.)
func (p *planner) mark(c string, e *Entry) { p.present[c] = e.Type == TypeDir }

func (p *planner) unmark(c string) { delete(p.present, c) }

func parentOf(c string) string {
	dir, _, ok := cutLast(c)
	if !ok {
		return ""
	}
	return dir
}

// same says whether path a of tree ta and path b of tree tb hold the same thing, modes aside: both
// absent; files of equal content; links of equal target; folders with the same names, each the same.
// A file that cannot be read, and TypeOther, equal nothing.
func same(ta *Tree, a string, tb *Tree, b string) bool {
	ea, eb := ta.Get(a), tb.Get(b)
	if ea == nil || eb == nil {
		return ea == nil && eb == nil
	}
	if ea.Type != eb.Type {
		return false
	}
	switch ea.Type {
	case TypeFile:
		if ea.Size != eb.Size {
			return false
		}
		ha, err := ta.sha(a)
		if err != nil {
			return false
		}
		hb, err := tb.sha(b)
		return err == nil && ha == hb
	case TypeSymlink:
		return ea.Target == eb.Target
	case TypeDir:
		ca, cb := ta.Children(a), tb.Children(b)
		if !slices.Equal(ca, cb) {
			return false
		}
		for _, name := range ca {
			if !same(ta, joinPath(a, name), tb, joinPath(b, name)) {
				return false
			}
		}
		return true
	}
	return false
}

// countFiles is how many files, links and other entries are at and below c in t.
func countFiles(t *Tree, c string) int {
	e := t.Get(c)
	if e == nil {
		return 0
	}
	if e.Type != TypeDir {
		return 1
	}
	n := 0
	for _, name := range t.Children(c) {
		n += countFiles(t, joinPath(c, name))
	}
	return n
}

// besideName is the name for the commit's version of name, beside the user's:
// <stem>.<short>.<ext>, or <stem>.<short> without an extension (a dotfile's leading dot starts no
// extension: .bashrc.<short>), then <stem>.<short>-2.<ext> and so on, the first that taken refuses; cut
// to 255 bytes.
func besideName(name, short string, taken func(string) bool) string {
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && i < len(name)-1 {
		stem, ext = name[:i], name[i:]
	}
	for k := 1; ; k++ {
		suffix := "." + short
		if k > 1 {
			suffix += "-" + strconv.Itoa(k)
		}
		s, e := stem, ext
		if over := len(s) + len(suffix) + len(e) - 255; over > 0 {
			if over > len(s) {
				e = "" // an extension too long to keep
				over = len(s) + len(suffix) - 255
			}
			if over > 0 {
				k := len(s) - over
				for k > 0 && !utf8.RuneStart(s[k]) {
					k--
				}
				s = s[:k]
			}
		}
		if cand := s + suffix + e; !taken(cand) {
			return cand
		}
	}
}

// show writes a project-relative path for a message: as it is, or quoted if it holds a line break, a
// control character or bytes that are not UTF-8.
func show(p string) string {
	if p == "" {
		return "the project folder"
	}
	for _, r := range p {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	if !utf8.ValidString(p) {
		return strconv.Quote(p)
	}
	return p
}
