//go:build linux

package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Leftovers: a start removes only what is provably dead (the package documentation has the rules).

// staleAfter is the age after which a work folder that cannot be told live or dead is removed.
const staleAfter = 24 * time.Hour

// removeLeftovers looks at every entry with a reserved prefix at the volume root, in init.sh's order.
// Nothing it fails to remove stops the start: a warning says so, and the next start tries again.
func (s *initRun) removeLeftovers() {
	names, err := s.root.Names()
	if err != nil {
		s.warnf("cannot list the volume root to remove what earlier starts left (%v); the next start tries again", unwrapPath(err))
		return
	}
	for _, prefix := range leftoverPrefixes {
		var found []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				found = append(found, n)
			}
		}
		slices.Sort(found)
		for _, n := range found {
			s.leftover(prefix, n)
		}
	}
}

func (s *initRun) leftover(prefix, name string) {
	st, err := s.root.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return // removed by another start meanwhile
	}
	if err != nil {
		s.warnf("cannot look at %s (%v); the next start tries again", name, unwrapPath(err))
		return
	}
	if !st.Mode.IsDir() {
		// No start makes anything but folders with these names; never opened, so never followed
		// and never blocking.
		s.removeNamed(name, fmt.Sprintf("which is a %s, not a folder (the name is reserved for binder-projects)", st.Kind()))
		return
	}
	switch prefix {
	case deletedPrefix:
		s.removeDeletedLeftover(name)
	case tmpPrefix:
		s.removeLockedLeftover(name, st)
	case unlockedPrefix, newPrefix:
		// The pod rule: the part between the prefix and the last dot (the suffix has none) is the pod.
		// The init containers of one pod run one after another, and a new pod of a name is admitted
		// only once the earlier one is gone: a folder of this pod's name is dead.
		rest := strings.TrimPrefix(name, prefix)
		if i := strings.LastIndexByte(rest, '.'); s.in.Pod != "" && i >= 0 && rest[:i] == s.in.Pod {
			s.salvageSeed(name)
			s.removeNamed(name, "left by an earlier start of this pod, which has ended")
			return
		}
		s.keepYoung(name, st)
	default:
		s.keepYoung(name, st)
	}
}

// removeNamed removes the leftover name at the volume root (never following a link), or warns.
func (s *initRun) removeNamed(name, why string) { s.removeNamedIn(s.root, name, why) }

// removeNamedIn removes the leftover name in parent (never following a link), or warns.
func (s *initRun) removeNamedIn(parent *Dir, name, why string) {
	if err := parent.RemoveAll(name); err != nil {
		s.detail(err)
		s.warnf("could not remove %s, %s; the next start tries again", parent.join(name), why)
		return
	}
	s.logf("removed %s, %s", parent.join(name), why)
}

// keepYoung removes the leftover folder name once it is more than 24 hours old, else leaves it.
func (s *initRun) keepYoung(name string, st Stamp) {
	if time.Since(time.Unix(0, st.Mtime)) > staleAfter {
		s.salvageSeed(name)
		s.removeNamed(name, "left by an earlier interrupted run")
		return
	}
	s.logf("leaving %s: it may belong to a start that is still running; it is removed once it is 24 hours old", name)
}

// removeLockedLeftover applies the lock rule to the work folder name: removed if the lock in it is
// free (and held while it is removed), left if it is held, and removed only once it is 24 hours old
// if its lock cannot be checked (no lock file, or flock does not work).
func (s *initRun) removeLockedLeftover(name string, st Stamp) {
	d, err := s.root.OpenDir(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		s.keepYoung(name, st)
		return
	}
	defer d.Close()
	lock, err := openLockFile(d, workLock, false)
	if err != nil {
		s.keepYoung(name, st)
		return
	}
	defer lock.Close()
	free, err := tryLockFd(int(lock.Fd()))
	switch {
	case err != nil:
		s.flockFailed(err)
		s.keepYoung(name, st)
	case !free:
		s.logf("leaving %s: a start that is still running holds its lock", name)
	default:
		s.salvageSeed(name)
		if err := removeHeld(s.root, name, d); err != nil {
			s.detail(err)
			s.warnf("could not remove %s, left by an earlier interrupted run; the next start tries again", name)
			return
		}
		s.logf("removed %s, left by an earlier interrupted run", name)
	}
}

// removeDeletedLeftover removes name, a project folder renamed for deletion, unless a start that is
// still running holds its lock (it is deleting it right now).
func (s *initRun) removeDeletedLeftover(name string) {
	s.removeUnlessLocked(s.root, name, "left by the interrupted deletion of a project")
}

// removeUnlessLocked removes the folder name in parent (renamed for deletion), unless a start that is
// still running holds its lock (it is deleting it right now).
func (s *initRun) removeUnlessLocked(parent *Dir, name, why string) {
	d, err := parent.OpenDir(name)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		s.removeNamedIn(parent, name, why) // cannot be opened, so cannot be locked by anyone either
		return
	}
	defer d.Close()
	free, err := tryLockFd(d.Fd())
	switch {
	case err != nil:
		s.flockFailed(err)
		s.removeNamedIn(parent, name, why)
	case !free:
		s.logf("leaving %s: a start that is still running is deleting it", parent.join(name))
	default:
		if err := removeHeld(parent, name, d); err != nil {
			s.detail(err)
			s.warnf("could not remove %s, %s; the next start tries again", parent.join(name), why)
			return
		}
		s.logf("removed %s, %s", parent.join(name), why)
	}
}

// flockFailed notes that flock(2) does not work on this volume.
func (s *initRun) flockFailed(err error) {
	if s.flockBroken {
		return
	}
	s.flockBroken = true
	s.logf("flock does not work on this volume (%v): work folders of starts still running cannot be told by their lock; this start's work folder is not locked (if this start is killed, it is removed only once it is 24 hours old, or by the next start of this pod)", err)
}

// removeHeld removes the folder name in parent, which d holds open (and locked): everything in it
// through d, then name itself if it is still that folder.
func removeHeld(parent *Dir, name string, d *Dir) error {
	if err := emptyHeld(d); err != nil {
		return err
	}
	self, err := d.Self()
	if err != nil {
		return err
	}
	st, err := parent.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sameInode(st, self) {
		return fmt.Errorf("%s: %w", parent.join(name), ErrNotPlanned)
	}
	if err := parent.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// emptyHeld removes everything in the folder d holds open, making it writable first if it must.
func emptyHeld(d *Dir) error {
	names, err := d.Names()
	if err != nil && (errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EACCES)) {
		if unix.Fchmod(d.Fd(), 0o700) == nil {
			names, err = d.Names()
		}
	}
	if err != nil {
		return err
	}
	var first error
	madeWritable := false
	for i, n := range names {
		err := d.RemoveAll(n)
		if err != nil && !madeWritable && (errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EACCES)) {
			madeWritable = true
			if unix.Fchmod(d.Fd(), 0o700) == nil {
				err = d.RemoveAll(n)
			}
		}
		if err != nil && first == nil {
			first = err
		}
		if i == 0 {
			crashPoint()
		}
	}
	return first
}

// ---- a seed whose start was killed between the rename and the manifest ----

// seedRecord is what a start writes in its work folder before it renames its copy into place: which
// project the copy becomes, and the copy's inode, so that if the start is killed before it put the
// manifest (also in the work folder) in place, the start that removes the work folder does it.
type seedRecord struct {
	Project string `json:"project"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
}

// Names in a start's work folder besides its copy.
const (
	seedManifestName = "manifest"
	seedRecordName   = "seed"
)

// salvageSeed puts in place the manifest a killed start left in its work folder name, if the start
// had renamed its copy into place (the project folder is that very folder, by its inode) and no
// manifest is there: a later update then knows what the project was seeded with. The manifest
// records the image's copy as it was renamed, so edits made since are seen as the user's.
func (s *initRun) salvageSeed(name string) {
	w, err := s.root.OpenDir(name)
	if err != nil {
		return
	}
	defer w.Close()
	data, err := w.ReadFile(seedRecordName, 4096)
	if err != nil {
		return
	}
	var rec seedRecord
	if json.Unmarshal(data, &rec) != nil || !validName(rec.Project) || w.Exists(name) {
		return // not a record, or the copy is still here: it never became the project
	}
	lock, err := lockUpdates(s.root)
	if err != nil {
		return
	}
	defer lock.release()
	st, err := s.root.Stat(rec.Project)
	if err != nil || !st.Mode.IsDir() || st.Dev != rec.Dev || st.Ino != rec.Ino {
		return // the project is gone, or another folder now
	}
	seeds, err := ensureDir(s.root, SeedsDir, true)
	if err != nil {
		return
	}
	defer seeds.Close()
	if seeds.Exists(rec.Project) {
		return // a newer one (an update's)
	}
	if err := w.Rename(seedManifestName, seeds, rec.Project); err != nil {
		return
	}
	seeds.Sync()
	s.logf("recorded what project %s was seeded with (the start that seeded it was stopped before it could)", rec.Project)
}
