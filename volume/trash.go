//go:build linux

package volume

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"golang.org/x/sys/unix"
)

// The trash (contract.TrashFolder at the volume root): with EnvTrashDays > 0, a queued deletion moves
// the project folder to TrashFolder/<id>/<name> by rename (no new space), under the deletion's lock
// and tombstone (delete.go); <id> is the deletion's id (its queue entry's time in Unix ns; the start's
// own time for a deletion without one). Every folder here is reached by its descriptor and never
// through a link; what is moved is checked to be the folder planned (by its inode) and anything else
// is moved back at once. The package documentation has the whole protocol.

// Names in an id folder of the trash besides the projects' own (they start with a dot, which no
// project folder name can).
const (
	// purgingPrefix + <dir>: a trash entry being deleted for good (renamed in place first, as a
	// queued deletion is), removed by any start unless the start deleting it holds its lock.
	purgingPrefix = ".purging."
	// restoredPrefix + <dir>: the record of a restore (restoreRecord), written before the entry is
	// moved out, so that a start handed the same restore after a kill reports where it went; removed
	// after 24 hours. restoringPrefix + <dir>: the record being written.
	restoredPrefix  = ".restored."
	restoringPrefix = ".restoring."
	// seedPrefix + <dir>: the manifest of the project <dir> of this id folder (what it was seeded
	// with, SeedsDir/<dir> at the volume root), moved here with it and back with it on a restore,
	// removed with it when it is deleted for good (trashmanifest.go).
	seedPrefix = ".seed."
)

// markName is prefix + dir, dir cut so that the whole fits in 255 bytes.
func markName(prefix, dir string) string {
	if len(prefix)+len(dir) > 255 {
		dir = dir[:255-len(prefix)]
	}
	return prefix + dir
}

// trashEntry is a folder of the trash: TrashFolder/<id>/<dir>.
type trashEntry struct {
	id  int64
	dir contract.ProjectDir
}

func (e trashEntry) idName() string { return strconv.FormatInt(e.id, 10) }
func (e trashEntry) name() string   { return string(e.dir) }
func (e trashEntry) String() string { return contract.TrashEntryName(e.id, e.dir) }

// parseTrashID reads the name of an id folder: a positive decimal id, without leading zeros.
func parseTrashID(name string) (int64, bool) {
	id, err := strconv.ParseInt(name, 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == name
}

// dateOf is a trash entry's deletion time, for messages.
func dateOf(id int64) string { return time.Unix(0, id).UTC().Format("2006-01-02 15:04 UTC") }

// trashing says whether a queued deletion moves the folder into the trash.
func (s *initRun) trashing() bool { return s.in.TrashDays > 0 }

// trashID is the id of d's trash entry: its own, or the start's time.
func (s *initRun) trashID(d Deletion) int64 {
	if d.ID > 0 {
		return d.ID
	}
	return s.now.UnixNano()
}

// reserved is the start's view of the volume for the reserved names' rules (reserved.go), its
// warnings the start's.
func (s *initRun) reserved() *volume { return &volume{root: s.root, log: s.subLog} }

// openTrash opens the trash, made if make (nil, nil if it is missing and not made). What is there and
// is not a folder of this user (a link, a named pipe, a file, another user's folder) is set aside,
// with a warning, never followed.
func (s *initRun) openTrash(make bool) (*Dir, error) {
	if !make {
		if _, err := s.root.Stat(contract.TrashFolder); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	return s.reserved().reservedFolder(s.root, "", contract.TrashFolder, true)
}

// noSpace says err is a write that failed for want of space.
func noSpace(err error) bool { return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) }

// ---- into the trash ----

// trashOutcome is what became of a queued folder the start tried to move into the trash.
type trashOutcome int

const (
	trashMoved  trashOutcome = iota // in the trash now (or moved there before, by another start)
	trashKept                       // left where it was, still queued; a warning says why
	trashAgain                      // the name changed meanwhile: look at it again
	trashNoRoom                     // the volume is full and the trash empty: delete it for good
)

// moveToTrash moves the queued folder d.Name (st: as looked at) into the trash, under the deletion's
// lock (held by deleteQueued until the tombstone is written). A volume too full to make the id folder gets room from
// the oldest trash entries (deleted for good, one at a time); with none left, the folder is deleted
// for good, as without the trash (a full volume is still cleaned), with a warning.
func (s *initRun) moveToTrash(d Deletion, st Stamp) trashOutcome {
	dir, err := contract.ParseProjectDir(d.Name) // checked as an input already
	if err != nil {
		s.warnf("could not move project %s into the trash (%v); it stays where it was, queued", d.Name, err)
		return trashKept
	}
	e := trashEntry{id: s.trashID(d), dir: dir}
	for {
		out, err := s.renameIntoTrash(d, e, st)
		switch {
		case err == nil:
			return out
		case errors.Is(err, ErrNotPlanned):
			return trashAgain
		case noSpace(err):
			_, how := isFull(s.root, err)
			if s.makeRoom("in the trash for project "+d.Name, how) {
				continue
			}
			s.detail(err)
			s.warnf("%s, and the trash holds nothing to delete for good to make room: project %s is deleted for good, not kept in the trash", how, d.Name)
			return trashNoRoom
		}
		s.detail(err)
		s.warnf("could not move project %s into the trash (%v); it stays where it was, queued, and the next start tries again; if this repeats, ask the operator", d.Name, unwrapPath(err))
		return trashKept
	}
}

// renameIntoTrash makes the id folder and renames the queued folder into it (movePlanned), then its
// manifest (trashmanifest.go: the update lock is taken first, if there is one).
func (s *initRun) renameIntoTrash(d Deletion, e trashEntry, st Stamp) (trashOutcome, error) {
	carry := false // the manifest goes with the folder
	if s.hasManifest(e.name()) {
		lock := s.manifestLock(fmt.Sprintf("project %s goes into the trash without the record of what it was seeded with (if it is restored, its first update counts every file as yours)", d.Name))
		defer lock.release()
		carry = lock != nil
	}
	trash, err := s.openTrash(true)
	if err != nil {
		return 0, err
	}
	defer trash.Close()
	idDir, err := s.reserved().reservedFolder(trash, contract.TrashFolder, e.idName(), true)
	if err != nil {
		return 0, err
	}
	defer idDir.Close()
	crashPoint()
	if est, err := idDir.Stat(d.Name); err == nil && est.Mode.IsDir() {
		// This very deletion was carried out already (the start that did was stopped before its
		// tombstone): what is at the name now is newer, and stays.
		s.logf("project %s was moved into the trash already, as %s/%s (by another start); anything named %s now is newer and stays", d.Name, contract.TrashFolder, e, d.Name)
		s.recordDone(d)
		return trashMoved, nil
	} else if err == nil {
		what, err := makeWay(idDir, d.Name, true)
		if err != nil {
			return 0, err
		}
		s.warnf("%s", what)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	err = movePlanned(s.root, d.Name, idDir, d.Name, st)
	switch {
	case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		return trashAgain, nil // taken, gone, or the id folder removed by another start: look again
	case err != nil:
		return 0, err
	}
	crashPoint()
	if carry {
		// After the folder, never before: a start stopped between the two leaves the entry without a
		// manifest (the one left at SeedsDir is stale, as after any deletion, and goes), never a
		// manifest in the trash beside a folder it does not describe (trashmanifest.go).
		s.manifestIntoTrash(idDir, e)
		crashPoint()
	}
	s.recordDone(d)
	s.logf("moved project %s into the trash, as %s/%s; it is deleted for good after %d days", d.Name, contract.TrashFolder, e, s.in.TrashDays)
	return trashMoved, nil
}

// movePlanned moves the folder name in from (st: as looked at) to toName in to, never replacing
// anything, and checks that what it moved is that folder, by its inode: anything else (the user
// swapped it meanwhile) is moved back at once (or, if its name was taken meanwhile, set aside beside
// it), and the error wraps ErrNotPlanned. A folder of this user's without write permission, which a
// move to another folder needs (for its ".." entry), is made writable for the move (only that very
// folder, by its inode: ChmodIf), and given its mode back.
func movePlanned(from *Dir, name string, to *Dir, toName string, st Stamp) error {
	err := from.Rename(name, to, toName)
	if errors.Is(err, fs.ErrPermission) && st.Mode.Perm()&0o200 == 0 && ours(st) {
		planned := func(now Stamp) bool { return sameInode(now, st) }
		if from.ChmodIf(name, st.Mode|0o200, planned) == nil {
			if err = from.Rename(name, to, toName); err == nil {
				_ = to.ChmodIf(toName, st.Mode, planned)
			} else {
				_ = from.ChmodIf(name, st.Mode, planned)
			}
		}
	}
	if err != nil {
		return err
	}
	if now, err := to.Stat(toName); err == nil && sameInode(now, st) {
		return nil
	}
	for n := 0; n < 100; n++ {
		back := name
		if n > 0 {
			back = setAsideName(name, n)
		}
		if to.Rename(toName, from, back) == nil {
			return fmt.Errorf("%s (moved back, as %s): %w", from.join(name), from.join(back), ErrNotPlanned)
		}
	}
	return fmt.Errorf("%s (not what was planned; it could not be moved back and stays as %s): %w", from.join(name), to.join(toName), ErrNotPlanned)
}

// ---- out of the trash ----

// restoreRecord is what a restore writes in the entry's id folder before it moves the entry out.
type restoreRecord struct {
	Dir string `json:"dir"`
	As  string `json:"as"`
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// restoreAll puts back the trash entries of EnvRestore, in order.
func (s *initRun) restoreAll() {
	for _, r := range s.in.Restore {
		if as, ok := s.restore(trashEntry{id: r.ID, dir: r.Dir}); ok {
			s.rep.Restored = append(s.rep.Restored, contract.Restored{At: r.At, As: as})
		}
	}
}

// restore puts the trash entry e back at the volume root by rename (never replacing anything): under
// its own name, or beside it as contract.RestoredName where that is taken. It returns the folder it
// became; false if it stays where it is (a warning says why).
func (s *initRun) restore(e trashEntry) (contract.ProjectDir, bool) {
	cannot := func(why string, args ...any) (contract.ProjectDir, bool) {
		s.warnf("could not restore project %s (trash entry %s, deleted on %s): %s", e.dir, e, dateOf(e.id), fmt.Sprintf(why, args...))
		return "", false
	}
	trash, err := s.openTrash(false)
	if err != nil {
		return cannot("%v; it stays in the trash", err)
	}
	if trash == nil {
		return cannot("it is not in the trash")
	}
	defer trash.Close()
	idDir, err := trash.OpenDir(e.idName())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cannot("it is not in the trash")
	case errors.Is(err, ErrLink), errors.Is(err, syscall.ENOTDIR):
		return cannot("%s/%s is not a folder (it was not followed)", contract.TrashFolder, e.idName())
	case err != nil:
		return cannot("%v; it stays in the trash", unwrapPath(err))
	}
	defer idDir.Close()
	for look := 1; look <= maxDeleteLooks; look++ {
		st, err := idDir.Stat(e.name())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if as, folder, ok := s.restoredBefore(idDir, e); ok {
				s.logf("project %s (trash entry %s) was restored already, as %s", e.dir, e, as)
				s.restoredManifest(idDir, e, as, folder)
				return as, true
			}
			return cannot("it is not in the trash")
		case err != nil:
			return cannot("%v; it stays in the trash", unwrapPath(err))
		case !st.Mode.IsDir():
			return cannot("%s/%s is a %s, not a project folder; it is left alone (never followed)", contract.TrashFolder, e, st.Kind())
		}
		held, lock := s.lockEntry(idDir, e.name(), st, true)
		if lock != lockTaken {
			continue
		}
		as, err := s.moveOut(idDir, e, st)
		closeDir(held)
		switch {
		case errors.Is(err, errBothTaken):
			return cannot("%s and %s are both taken at the volume root; it stays in the trash: rename one of them, then ask again", e.dir, as)
		case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNotPlanned):
			continue // a name taken, or the entry changed, meanwhile: look again
		case noSpace(err):
			_, how := isFull(s.root, err)
			return cannot("%s; it stays in the trash", how)
		case err != nil:
			return cannot("%v; it stays in the trash", unwrapPath(err))
		}
		if as == e.dir {
			s.logf("restored project %s (deleted on %s)", e.dir, dateOf(e.id))
		} else {
			s.logf("restored project %s (deleted on %s) beside the project now named so, as %s", e.dir, dateOf(e.id), as)
		}
		return as, true
	}
	return cannot("it kept changing while this start looked at it; it stays in the trash, and the next start tries again")
}

// errBothTaken says both names a restored entry may take are taken.
var errBothTaken = errors.New("both names are taken")

// moveOut moves the trash entry e (st: as looked at, locked) to the volume root, under its own name or
// beside it, and then its manifest (trashmanifest.go: under the update lock, taken first); it returns
// the name it went to (or, with errBothTaken, the second one it could not take).
func (s *initRun) moveOut(idDir *Dir, e trashEntry, st Stamp) (contract.ProjectDir, error) {
	man, carry := s.trashedManifest(idDir, e)
	var lock *updatesLockHeld
	if carry || s.hasManifest(e.name(), string(contract.RestoredName(e.dir, e.id))) {
		what := "a record of what an earlier project of its name was seeded with is left as it is for the restore of project " + e.name()
		if carry {
			what = "project " + e.name() + " is restored without the record of what it was seeded with (its first update counts every file as yours)"
		}
		lock = s.manifestLock(what)
		defer lock.release()
	}
	as := e.dir
	if s.root.Exists(string(as)) {
		as = contract.RestoredName(e.dir, e.id)
	}
	if s.root.Exists(string(as)) {
		return as, errBothTaken
	}
	s.recordRestore(idDir, e, as, st)
	crashPoint()
	if lock != nil {
		s.dropStaleManifest(as)
	}
	if err := movePlanned(idDir, e.name(), s.root, string(as), st); err != nil {
		return as, err
	}
	crashPoint()
	if lock != nil && carry {
		// After the folder, never before: a start stopped between the two leaves the folder without
		// its manifest, never a manifest at a name another folder may take (trashmanifest.go).
		s.manifestOutOfTrash(idDir, e, as, st, man)
		crashPoint()
	}
	return as, nil
}

// recordRestore writes the record of the restore of e as as (st: the entry) into its id folder (a new
// file renamed over the old record). A failure is only logged: the record only tells a start handed
// the same restore after this one is stopped where it went.
func (s *initRun) recordRestore(idDir *Dir, e trashEntry, as contract.ProjectDir, st Stamp) {
	data, err := json.Marshal(restoreRecord{Dir: e.name(), As: string(as), Dev: st.Dev, Ino: st.Ino})
	if err == nil {
		tmp := markName(restoringPrefix, e.name())
		_ = idDir.Remove(tmp)
		if err = writeSmallFile(idDir, tmp, data); err == nil {
			err = idDir.Replace(tmp, idDir, markName(restoredPrefix, e.name()))
		}
	}
	if err != nil {
		s.logf("could not record the restore of trash entry %s (%v): if this start is stopped before its report, the next one does not know where it went", e, unwrapPath(err))
	}
}

// restoredBefore says whether a start restored e already (its record names a folder at the volume
// root that is that very entry, by its inode), as what, and that folder.
func (s *initRun) restoredBefore(idDir *Dir, e trashEntry) (contract.ProjectDir, Stamp, bool) {
	data, err := idDir.ReadFile(markName(restoredPrefix, e.name()), 4096)
	if err != nil {
		return "", Stamp{}, false
	}
	var rec restoreRecord
	if json.Unmarshal(data, &rec) != nil || rec.Dir != e.name() {
		return "", Stamp{}, false
	}
	as, err := contract.ParseProjectDir(rec.As)
	if err != nil {
		return "", Stamp{}, false
	}
	st, err := s.root.Stat(rec.As)
	if err != nil || !st.Mode.IsDir() || st.Dev != rec.Dev || st.Ino != rec.Ino {
		return "", Stamp{}, false
	}
	return as, st, true
}

// ---- deleted for good ----

// purgeOutcome is what became of a trash entry to delete for good.
type purgeOutcome int

const (
	purgeDone   purgeOutcome = iota // deleted for good now
	purgeGone                       // not there (any more)
	purgeBusy                       // another start is working on it (only when not waiting)
	purgeFailed                     // it stays in the trash, whole; a warning says why
)

// purgeAll deletes for good the trash entries of EnvPurge; an entry that is also to be restored is
// restored, never deleted.
func (s *initRun) purgeAll() {
	for _, p := range s.in.Purge {
		e := trashEntry{id: p.ID, dir: p.Dir}
		if slices.ContainsFunc(s.in.Restore, func(r TrashRef) bool { return r.ID == p.ID && r.Dir == p.Dir }) {
			s.warnf("trash entry %s is to be both restored and deleted for good: it is not deleted", e)
			continue
		}
		switch s.purgeEntry(e, true) {
		case purgeDone:
			s.logf("deleted project %s for good (trash entry %s, deleted on %s)", e.dir, e, dateOf(e.id))
			s.rep.Purged = append(s.rep.Purged, p.At)
		case purgeGone:
			s.logf("trash entry %s is not in the trash; nothing to delete", e)
			s.rep.Purged = append(s.rep.Purged, p.At)
		}
	}
}

// purgeEntry deletes the trash entry e for good, by the protocol of a queued deletion: its folder
// locked, renamed in place to purgingPrefix + its name, checked to be the folder locked, removed
// through its descriptor; what cannot be removed is renamed back, and stays in the trash. An entry that
// is not a folder (nothing a deletion puts there) loses only itself, never what a link points to.
// With wait, a start working on the entry is waited for; without, the entry is left to it (purgeBusy).
func (s *initRun) purgeEntry(e trashEntry, wait bool) purgeOutcome {
	failed := func(err error, why string) purgeOutcome {
		s.detail(err)
		s.warnf("could not delete project %s for good from the trash (trash entry %s): %s; the next start tries again", e.dir, e, why)
		return purgeFailed
	}
	trash, err := s.openTrash(false)
	if err != nil {
		return failed(err, "the trash cannot be opened")
	}
	if trash == nil {
		return purgeGone
	}
	defer trash.Close()
	idDir, err := trash.OpenDir(e.idName())
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrLink), errors.Is(err, syscall.ENOTDIR):
		return purgeGone
	case err != nil:
		return failed(err, "its folder cannot be opened")
	}
	defer idDir.Close()
	gone := markName(purgingPrefix, e.name())
	for look := 1; look <= maxDeleteLooks; look++ {
		st, err := idDir.Stat(e.name())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return purgeGone
		case err != nil:
			return failed(err, "it cannot be looked at")
		case !st.Mode.IsDir():
			if err := idDir.Remove(e.name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return failed(err, "it cannot be removed")
			}
			s.dropTrashedManifest(idDir, e)
			return purgeDone
		}
		held, lock := s.lockEntry(idDir, e.name(), st, wait)
		switch lock {
		case lockBusy:
			return purgeBusy
		case lockChanged:
			continue
		}
		if idDir.Exists(gone) {
			s.removeUnlessLocked(idDir, gone, "left by the interrupted deletion of a project from the trash")
		}
		crashPoint()
		err = movePlanned(idDir, e.name(), idDir, gone, st)
		switch {
		case errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNotPlanned):
			closeDir(held)
			continue
		case err != nil:
			closeDir(held)
			return failed(err, "it cannot be renamed to be deleted")
		}
		crashPoint()
		err = removeIn(idDir, gone, held)
		if err != nil {
			where := "what is left stays in the trash"
			if idDir.Rename(gone, idDir, e.name()) != nil {
				where = "what is left is in " + idDir.join(gone)
			}
			closeDir(held)
			return failed(err, "this user (uid "+s.uidText()+") may not remove some of its files (see the log); "+where)
		}
		closeDir(held)
		crashPoint()
		// After the folder: a start stopped between the two leaves the manifest alone, which
		// tidyTrash removes.
		s.dropTrashedManifest(idDir, e)
		crashPoint()
		return purgeDone
	}
	return failed(errors.New("it kept changing"), "it kept changing while this start looked at it")
}

// entryLock is what lockEntry found.
type entryLock int

const (
	lockTaken   entryLock = iota // the entry is held (locked where flock works; nil if it cannot be opened)
	lockChanged                  // the entry changed, or another start held it until now: look again
	lockBusy                     // another start holds it (only when not waiting)
)

// lockEntry opens the folder name in d (st, as looked at) and takes its lock, as a queued deletion's
// is taken, so that two starts never work on one trash entry at once. With wait, it waits for another
// start that holds the lock, then says to look again.
func (s *initRun) lockEntry(d *Dir, name string, st Stamp, wait bool) (*Dir, entryLock) {
	held, err := d.OpenDir(name)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrLink), errors.Is(err, syscall.ENOTDIR):
		return nil, lockChanged
	case err != nil:
		return nil, lockTaken // cannot be opened (not readable): worked on without its lock
	}
	if self, err := held.Self(); err != nil || !sameInode(self, st) {
		held.Close()
		return nil, lockChanged
	}
	if s.flockBroken {
		return held, lockTaken
	}
	free, err := tryLockFd(held.Fd())
	switch {
	case err != nil:
		s.flockFailed(err)
	case !free && !wait:
		held.Close()
		return nil, lockBusy
	case !free:
		s.logf("%s is being worked on by another start; waiting for it", d.join(name))
		if err := lockFd(held.Fd()); err != nil {
			s.flockFailed(err)
		}
		held.Close()
		return nil, lockChanged
	}
	return held, lockTaken
}

func closeDir(d *Dir) {
	if d != nil {
		d.Close()
	}
}

// makeRoom deletes for good the oldest entry of the trash that no other start is working on, for a
// volume that is full (how says how full), and says so in a warning; false if there was none.
func (s *initRun) makeRoom(forWhat, how string) bool {
	entries, _ := s.listTrash()
	for _, e := range entries {
		if s.purgeEntry(e, false) == purgeDone {
			s.warnf("%s: project %s, in the trash since %s (trash entry %s), was deleted for good to make room %s", how, e.dir, dateOf(e.id), e, forWhat)
			s.tidyTrash()
			return true
		}
	}
	return false
}

// expireTrash deletes for good the trash entries older than EnvTrashDays, by the start's clock.
// Nothing expires while EnvTrashDays is 0 (the trash is off, or a webhook of an earlier version
// started this pod) or not valid.
func (s *initRun) expireTrash() {
	if s.in.TrashDays <= 0 {
		return
	}
	cutoff := s.now.Add(-time.Duration(s.in.TrashDays) * 24 * time.Hour).UnixNano()
	entries, _ := s.listTrash()
	for _, e := range entries {
		if e.id >= cutoff {
			break
		}
		if s.purgeEntry(e, false) == purgeDone {
			s.logf("deleted project %s for good: it was in the trash for more than %d days (since %s)", e.dir, s.in.TrashDays, dateOf(e.id))
		}
	}
}

// eachIDFolder calls fn for every id folder of the trash (a valid id; never through a link), open, with
// the names it holds; complete says nothing of the trash could not be read (a missing trash is empty).
func (s *initRun) eachIDFolder(fn func(trash *Dir, id int64, idDir *Dir, inside []string)) (complete bool) {
	trash, err := s.root.OpenDir(contract.TrashFolder)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	defer trash.Close()
	names, err := trash.Names()
	if err != nil {
		return false
	}
	complete = true
	for _, n := range names {
		id, ok := parseTrashID(n)
		if !ok {
			continue
		}
		idDir, err := trash.OpenDir(n)
		if err != nil {
			complete = complete && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLink) || errors.Is(err, syscall.ENOTDIR))
			continue
		}
		inside, err := idDir.Names()
		complete = complete && err == nil
		fn(trash, id, idDir, inside)
		idDir.Close()
	}
	return complete
}

// listTrash lists the trash: every folder TrashFolder/<id>/<dir> (a valid id and project folder
// name), oldest first (by id, then name), never following a link; complete says nothing of it could
// not be read.
func (s *initRun) listTrash() (entries []trashEntry, complete bool) {
	complete = s.eachIDFolder(func(_ *Dir, id int64, idDir *Dir, inside []string) {
		for _, name := range inside {
			dir, err := contract.ParseProjectDir(name)
			if st, serr := idDir.Stat(name); err == nil && serr == nil && st.Mode.IsDir() {
				entries = append(entries, trashEntry{id: id, dir: dir})
			}
		}
	})
	slices.SortFunc(entries, func(a, b trashEntry) int {
		return cmp.Or(cmp.Compare(a.id, b.id), strings.Compare(a.name(), b.name()))
	})
	return entries, complete
}

// tidyTrash removes what the trash's id folders hold besides projects once it is dead: a folder
// being deleted for good whose start is gone (its lock is free), a restore's record after 24 hours,
// a manifest whose project is gone (tidyManifest); then the id folders left empty (rmdir: never one a
// start has just moved a project into).
func (s *initRun) tidyTrash() {
	s.eachIDFolder(func(trash *Dir, id int64, idDir *Dir, inside []string) {
		for _, m := range inside {
			switch {
			case strings.HasPrefix(m, purgingPrefix):
				s.removeUnlessLocked(idDir, m, "left by the interrupted deletion of a project from the trash")
			case strings.HasPrefix(m, restoredPrefix), strings.HasPrefix(m, restoringPrefix):
				if st, err := idDir.Stat(m); err == nil && !st.Mode.IsDir() && s.now.Sub(time.Unix(0, st.Mtime)) > staleAfter {
					_ = idDir.Remove(m)
				}
			}
		}
		for _, m := range inside { // once the rest is tidied: what it looks at is as it is now
			if strings.HasPrefix(m, seedPrefix) {
				s.tidyManifest(idDir, id, m)
			}
		}
		// Only an empty folder goes, never a file.
		_ = unix.Unlinkat(trash.Fd(), trashEntry{id: id}.idName(), unix.AT_REMOVEDIR)
	})
}
