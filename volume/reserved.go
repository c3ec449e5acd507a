package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// The reserved names: SeedsDir and UpdatesDir at the volume root, and in UpdatesDir the lock and one
// work folder per project. The user owns the volume and may have put anything there: a symbolic link,
// a file, a named pipe, a folder of another user (say, one made by a start that ran as root). Nothing
// at a reserved name is followed, opened blocking or trusted unless it is what binder-projects makes
// there, owned by this user (any owner when running as root):
//
//   - UpdatesDir, the lock, and a work folder that is not a folder: set aside (renamed, see
//     SetAsidePrefix; a warning names what it was), and made anew. No update can have been
//     interrupted in what binder-projects never made, so this never blocks a start.
//   - a work folder of another user: set aside if it holds no journal (nothing it did is
//     unfinished); refused otherwise (the project may be part-way through an update that this user
//     can neither finish nor roll back), for that project only.
//   - SeedsDir: refused (the manifests in it are what later updates trust): an update is refused and
//     a record not written, with the cause and the fix; the project still starts.
//   - a manifest (SeedsDir/<project>) that is not a file of this user: set aside; the project counts
//     as seeded without a record (every file the user's).

// SetAsidePrefix starts the name of an entry found at a reserved name that is not binder-projects'
// own: it is renamed, in the same folder, to SetAsidePrefix + its name without leading dots + "." +
// a number (.binder-projects-set-aside.binder-projects-updates.1). The name starts with a dot, so it
// is never a project; nothing removes it: it is the user's.
const SetAsidePrefix = ".binder-projects-set-aside."

// volume is one run's view of the volume: its root, the reserved folders and the project, each held
// by its descriptor (see Dir).
type volume struct {
	root    *Dir
	project string
	log     Logger

	updates  *Dir     // UpdatesDir, once locked
	lockFile *os.File // UpdatesDir/.lock, locked with flock(2)
	seedsDir *Dir     // SeedsDir, once checked
	proj     *Dir     // the project folder, once opened

	// The work folder (WorkPath) and its parts, while an update or a recovery uses them.
	work, staging, aside, back *Dir
	placedTree                 *Tree // the new manifest in the work folder, once read (checkPlaced)

	// short is the commit's short form, for the names of entries put back beside their name.
	short string
	// partial says that a roll back left something as the user changed it (a warning says what).
	partial  bool
	warnings []string
}

// openVolume checks the inputs every command shares and opens the volume's root.
func openVolume(root, project string, log Logger) (*volume, error) {
	if err := checkProject(root, project); err != nil {
		return nil, err
	}
	r, err := OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("%w: the volume root is not a folder", ErrBadInput)
	}
	return &volume{root: r, project: project, log: log}, nil
}

// close releases every descriptor, the lock last.
func (v *volume) close() {
	v.closeWork()
	for _, d := range []*Dir{v.proj, v.seedsDir, v.updates, v.root} {
		if d != nil {
			d.Close()
		}
	}
	if v.lockFile != nil {
		v.lockFile.Close()
	}
}

func (v *volume) closeWork() {
	for _, d := range []*Dir{v.staging, v.aside, v.back, v.work} {
		if d != nil {
			d.Close()
		}
	}
	v.work, v.staging, v.aside, v.back, v.placedTree = nil, nil, nil, nil, nil
}

func (v *volume) logf(format string, args ...any) {
	if v.log != nil {
		v.log(fmt.Sprintf(format, args...))
	}
}

func (v *volume) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	v.warnings = append(v.warnings, msg)
	v.logf("warning: %s", msg)
}

// ours says whether st may be trusted as binder-projects' own: owned by this user (any owner when
// running as root).
func ours(st Stamp) bool {
	uid := os.Geteuid()
	return uid == 0 || st.Uid == uint32(uid)
}

// notOurs describes st, found at a reserved name where a kind ("folder" or "file") of this user's was
// expected.
func notOurs(st Stamp, kind string) string {
	if st.Kind() == kind {
		return fmt.Sprintf("a %s owned by uid %d, not by this user (uid %d)", kind, st.Uid, os.Geteuid())
	}
	return fmt.Sprintf("a %s, not a %s", st.Kind(), kind)
}

// shownIn names entry name of the folder dir (a reserved folder; "" is the volume root) in messages.
func shownIn(dir, name string) string {
	if dir == "" {
		return name + " at the volume root"
	}
	return dir + "/" + show(name)
}

// setAsideName is the n-th name to set name aside as (SetAsidePrefix), at most 255 bytes.
func setAsideName(name string, n int) string {
	base, suffix := strings.TrimLeft(name, "."), "."+strconv.Itoa(n)
	if over := len(SetAsidePrefix) + len(base) + len(suffix) - 255; over > 0 {
		k := len(base) - over
		for k > 0 && !utf8.RuneStart(base[k]) {
			k--
		}
		base = base[:k]
	}
	return SetAsidePrefix + base + suffix
}

// setAside renames st, found at name in parent (the reserved folder dir) and not binder-projects' own
// (what: what it is, for the warning), to a free set-aside name. If what it moved is not st (another
// start made binder-projects' own there meanwhile), that is moved back.
func (v *volume) setAside(parent *Dir, dir, name string, st Stamp, what string) error {
	for n := 1; n <= 1000; n++ {
		to := setAsideName(name, n)
		err := parent.Rename(name, parent, to)
		switch {
		case errors.Is(err, fs.ErrExist):
			continue
		case errors.Is(err, fs.ErrNotExist):
			return nil // another start set it aside
		case err != nil:
			return fmt.Errorf("%s is %s, which binder-projects cannot use (the name is reserved for it), and it cannot be set aside: %w; rename or remove it, then start again",
				shownIn(dir, name), what, unwrapPath(err))
		}
		if moved, err := parent.Stat(to); err == nil && moved.Ino != st.Ino {
			_ = parent.Rename(to, parent, name)
			return nil
		}
		where := to
		if dir != "" {
			where = dir + "/" + to
		}
		v.warnf("%s was %s, which binder-projects cannot use (the name is reserved for it); it is set aside as %s", shownIn(dir, name), what, show(where))
		return nil
	}
	return fmt.Errorf("%s is %s, and no name is free to set it aside", shownIn(dir, name), what)
}

// reservedFolder opens the folder name in parent (the reserved folder dir), made if missing. What is
// there and is not a folder of this user is never followed or opened: it is set aside, or, unless
// setAside, refused.
func (v *volume) reservedFolder(parent *Dir, dir, name string, setAside bool) (*Dir, error) {
	for attempt := 0; attempt < 10; attempt++ {
		st, err := parent.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			if err := parent.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("cannot create %s: %w", shownIn(dir, name), unwrapPath(err))
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", shownIn(dir, name), unwrapPath(err))
		}
		if st.Mode.IsDir() && ours(st) {
			d, err := parent.OpenDir(name)
			if err == nil {
				if self, serr := d.Self(); serr == nil && self.Ino == st.Ino {
					return d, nil
				}
				d.Close()
				continue
			}
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLink) || errors.Is(err, syscall.ENOTDIR) {
				continue // changed meanwhile: look again
			}
			return nil, fmt.Errorf("cannot open %s: %w", shownIn(dir, name), unwrapPath(err))
		}
		if !setAside {
			return nil, fmt.Errorf("%s is %s; the name is reserved for binder-projects: rename or remove it, then start again", shownIn(dir, name), notOurs(st, "folder"))
		}
		if err := v.setAside(parent, dir, name, st, notOurs(st, "folder")); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("cannot open %s: it keeps changing", shownIn(dir, name))
}

// foreignUpdatesError says that UpdatesDir is a folder of another user holding interrupted updates:
// it is neither used nor set aside (that would hide them).
type foreignUpdatesError struct {
	uid     uint32
	busy    []string // the projects whose work folder holds a journal, or cannot be read
	unknown bool     // the folder cannot be listed
}

func (e *foreignUpdatesError) Error() string {
	what := "cannot be listed by this user"
	if len(e.busy) > 0 {
		what = "holds the journal of an interrupted update (or a work folder this user cannot read) of project " + strings.Join(e.busy, ", ")
	}
	return fmt.Sprintf("%s is a folder owned by uid %d, not by this user (uid %d), and %s, which this user can neither finish nor roll back: updates on this volume are off until the operator finishes them as uid %d (binder-projects recover) or looks at it",
		shownIn("", UpdatesDir), e.uid, os.Geteuid(), what, e.uid)
}

// concerns says whether project may be part-way through one of the interrupted updates.
func (e *foreignUpdatesError) concerns(project string) bool {
	return e.unknown || slices.Contains(e.busy, project)
}

// checkForeignUpdates refuses an UpdatesDir of another user that holds an interrupted update (or
// work folders that cannot be read); one that holds none may be set aside.
func (v *volume) checkForeignUpdates() error {
	st, err := v.root.Stat(UpdatesDir)
	if err != nil || !st.Mode.IsDir() || ours(st) {
		return nil
	}
	e := &foreignUpdatesError{uid: st.Uid}
	u, err := v.root.OpenDir(UpdatesDir)
	if err != nil {
		e.unknown = true
		return e
	}
	defer u.Close()
	names, err := u.Names()
	if err != nil {
		e.unknown = true
		return e
	}
	slices.Sort(names)
	for _, name := range names {
		if name == lockName || strings.HasPrefix(name, SetAsidePrefix) {
			continue
		}
		if wst, err := u.Stat(name); err != nil || !wst.Mode.IsDir() {
			continue
		}
		w, err := u.OpenDir(name)
		var inside []string
		if err == nil {
			inside, err = w.Names()
			w.Close()
		}
		if err != nil || slices.Contains(inside, journalName) || slices.Contains(inside, rollbackName) {
			e.busy = append(e.busy, name) // a work folder is named like its project
		}
	}
	if e.unknown || len(e.busy) > 0 {
		return e
	}
	return nil
}

// lockError is err of lock for the project: one that may be part-way through an interrupted update of
// another user's wraps ErrUnfinished.
func (v *volume) lockError(err error) error {
	var fe *foreignUpdatesError
	if errors.As(err, &fe) && fe.concerns(v.project) {
		return fmt.Errorf("%w: project %s may be part-way through an update: %w", ErrUnfinished, v.project, err)
	}
	return err
}

// lock takes the volume's update lock (waiting for another run to end). Where flock(2) does not work,
// a warning says so and the run goes on: the caller must then make sure no two runs update one
// volume at once.
func (v *volume) lock() error {
	if err := v.checkForeignUpdates(); err != nil {
		return err
	}
	u, err := v.reservedFolder(v.root, "", UpdatesDir, true)
	if err != nil {
		return err
	}
	v.updates = u
	if v.lockFile, err = v.openLock(); err != nil {
		return err
	}
	for {
		err = syscall.Flock(int(v.lockFile.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		v.warnf("cannot lock %s/%s (%v): nothing stops another start from updating this volume at the same time", UpdatesDir, lockName, err)
	}
	return nil
}

// openLock opens the lock file, a file of this user, made if missing; anything else there (a link, a
// named pipe, a folder, a file of another user or one this user cannot read) is set aside, never
// followed or opened blocking.
func (v *volume) openLock() (*os.File, error) {
	for attempt := 0; attempt < 10; attempt++ {
		st, err := v.updates.Stat(lockName)
		if errors.Is(err, fs.ErrNotExist) {
			f, err := v.updates.CreateFile(lockName, 0o644)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("cannot create the update lock %s/%s: %w", UpdatesDir, lockName, unwrapPath(err))
			}
			return f, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the update lock %s/%s: %w", UpdatesDir, lockName, unwrapPath(err))
		}
		what := notOurs(st, "file")
		if st.Mode.IsRegular() && ours(st) {
			f, fst, err := v.updates.OpenFile(lockName)
			if err == nil && fst.Ino == st.Ino {
				return f, nil
			}
			if f != nil {
				f.Close()
			}
			if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLink) {
				continue // changed meanwhile: look again
			}
			if !errors.Is(err, fs.ErrPermission) {
				return nil, fmt.Errorf("cannot open the update lock %s/%s: %w", UpdatesDir, lockName, unwrapPath(err))
			}
			what = "a file this user cannot read"
		}
		if err := v.setAside(v.updates, UpdatesDir, lockName, st, what); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("cannot open the update lock %s/%s: it keeps changing", UpdatesDir, lockName)
}

// seeds opens SeedsDir (made if missing); anything else there is refused.
func (v *volume) seeds() (*Dir, error) {
	if v.seedsDir == nil {
		d, err := v.reservedFolder(v.root, "", SeedsDir, false)
		if err != nil {
			return nil, err
		}
		v.seedsDir = d
	}
	return v.seedsDir, nil
}

// manifestSlot makes sure the project's manifest name in SeedsDir is free or a file of this user:
// anything else there is set aside.
func (v *volume) manifestSlot(seeds *Dir) error {
	st, err := seeds.Stat(v.project)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", shownIn(SeedsDir, v.project), unwrapPath(err))
	}
	if st.Mode.IsRegular() && ours(st) {
		return nil
	}
	return v.setAside(seeds, SeedsDir, v.project, st, notOurs(st, "file"))
}

// openProject opens the project folder, never through a symbolic link.
func (v *volume) openProject() (*Dir, error) {
	if v.proj != nil {
		return v.proj, nil
	}
	d, err := v.root.OpenDir(v.project)
	if err != nil {
		switch {
		case errors.Is(err, ErrLink):
			return nil, fmt.Errorf("%w: it is a symbolic link", ErrNotAFolder)
		case errors.Is(err, syscall.ENOTDIR):
			if st, serr := v.root.Stat(v.project); serr == nil {
				return nil, fmt.Errorf("%w: it is a %s", ErrNotAFolder, st.Kind())
			}
		}
		return nil, fmt.Errorf("%w: %w", ErrNotAFolder, unwrapPath(err))
	}
	v.proj = d
	return d, nil
}
