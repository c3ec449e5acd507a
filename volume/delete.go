//go:build linux

package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Deletion of a queued project folder, by rename in place (no new space needed, so a full volume is
// still cleaned), under a flock(2) on the folder itself (so that two starts deleting it wait for each
// other, and no start takes it, under its reserved name, for a leftover), with tombstones (so that a
// start handed a deletion another start carried out already never deletes the folder seeded anew
// since). The package documentation has the whole protocol; init.sh (version 1) follows it too.

// maxDeleteLooks bounds how often a start looks at a queued name again (after waiting for another
// start's deletion, or when the name changed under it).
const maxDeleteLooks = 10

// deleteQueued deletes the queued project folder d.Name. It reports whether the name counts as deleted:
// gone now (deleted, found absent, a link of which only the link was removed), not a folder (left
// alone: there was no project folder), or deleted already by another start (what is there now is
// newer, and stays); false if the folder could not be deleted (it stays queued; a warning says why).
func (s *initRun) deleteQueued(d Deletion) bool {
	name, gone := d.Name, deletedName(d.Name)
	var held *Dir // the folder, opened (and locked, where flock works)
	defer func() {
		if held != nil {
			held.Close() // releases the lock, after the tombstone is written
		}
	}()
	trash := s.trashing()
	if trash {
		s.recoverBeforeTrash(name)
	}
look:
	for look := 1; ; look++ {
		if held != nil {
			held.Close()
			held = nil
		}
		if look > maxDeleteLooks {
			s.warnf("could not delete project %s: it kept changing while this start looked at it; the next start tries again", name)
			return false
		}
		if s.doneBefore(d) {
			return true
		}
		st, err := s.root.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// A start that is deleting it right now (and may fail to, and put it back): wait for it.
			if look <= 3 && s.waitForDeletion(name, gone) {
				continue look
			}
			s.recordDone(d)
			s.logf("project %s queued for deletion does not exist; nothing to delete", name)
			return true
		case err != nil:
			s.detail(err)
			s.warnf("could not delete project %s: it cannot be looked at; the next start tries again", name)
			return false
		case st.Mode&fs.ModeSymlink != 0:
			// Only the link goes (unlinkat never follows it); its target stays.
			if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.detail(err)
				s.warnf("could not delete project %s (a symbolic link): this user (uid %s) may not remove it; the next start tries again", name, s.uidText())
				return false
			}
			s.recordDone(d)
			s.logf("deleted project %s (it was a symbolic link; only the link was removed)", name)
			return true
		case !st.Mode.IsDir():
			s.logf("not deleting %s: it is a %s, not a folder; left alone", name, st.Kind())
			return true
		}

		// Lock the folder itself (a lock needs no space and no write permission), so that another
		// start deleting it at the same time waits for this one.
		pd, err := s.root.OpenDir(name)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrLink):
			continue look // renamed or replaced meanwhile: look again
		case err != nil:
			// It cannot be opened (a folder this user may not read): deleted unlocked, as it can be.
			s.logf("project %s cannot be opened (%v): deleting it without its lock", name, unwrapPath(err))
		default:
			self, serr := pd.Self()
			if serr != nil || !sameInode(self, st) {
				pd.Close()
				continue look
			}
			held = pd
			if !s.flockBroken && look <= 3 {
				free, lerr := tryLockFd(held.Fd())
				switch {
				case lerr != nil:
					s.flockFailed(lerr)
				case !free:
					// Another start is deleting it right now: wait for it to end, then look again.
					s.logf("project %s is being deleted by another start; waiting for it", name)
					if err := lockFd(held.Fd()); err != nil {
						s.flockFailed(err)
					}
					continue look
				}
			}
		}
		crashPoint()

		if s.root.Exists(gone) {
			// Garbage of an earlier partial removal, or another start's deletion in progress.
			s.removeDeletedLeftover(gone)
		}
		// Under the lock, just before the rename: a start that deleted it (and may have seeded it
		// anew) left its tombstone.
		if s.doneBefore(d) {
			return true
		}
		if held != nil {
			if now, err := s.root.Stat(name); err != nil || !sameInode(now, st) {
				continue look // replaced since it was locked
			}
		}

		if trash {
			switch s.moveToTrash(d, st) {
			case trashMoved:
				return true
			case trashKept:
				return false
			case trashAgain:
				continue look
			}
			trash = false // no room in the trash: deleted for good, as without it
		}

		// Rename first (atomic, needs no space): a killed start leaves a folder any later start
		// removes, never a half-deleted project under its own name.
		err = s.root.Rename(name, s.root, gone)
		if err != nil {
			if !s.root.Exists(name) {
				s.recordDone(d)
				s.logf("project %s was deleted by another start meanwhile", name)
				return true
			}
			// The rename failed: remove the folder in place.
			s.detail(err)
			if err := s.removeFolder(name, held); err != nil {
				s.detail(err)
				s.warnf("could not delete project %s: this user (uid %s) may not remove some of its files (see the log); what is left stays in %s and the next start tries again; if this repeats, ask the operator to remove it", name, s.uidText(), name)
				return false
			}
			s.recordDone(d)
			s.logf("deleted project %s (in place: it could not be renamed)", name)
			return true
		}
		crashPoint()
		if held != nil {
			if now, err := s.root.Stat(gone); err != nil || !sameInode(now, st) {
				// Not the folder locked (it was swapped in the instant between): put it back.
				if s.root.Rename(gone, s.root, name) == nil {
					continue look
				}
			}
		}
		if err := s.removeFolder(gone, held); err != nil {
			s.detail(err)
			// Put back what is left, so that the folder that could not be deleted stays where it
			// was, and stays queued.
			where := "stays in " + name + " and the next start tries again"
			if s.root.Rename(gone, s.root, name) != nil {
				where = "is in " + gone
			}
			s.warnf("could not delete project %s: this user (uid %s) may not remove some of its files (see the log); what is left %s; if this repeats, ask the operator to remove it", name, s.uidText(), where)
			return false
		}
		crashPoint()
		s.recordDone(d)
		s.logf("deleted project %s", name)
		return true
	}
}

// recoverBeforeTrash finishes or rolls back an interrupted update of name, a project about to go into
// the trash, so that what is restored later is whole. A failure is a warning: it goes as it is.
func (s *initRun) recoverBeforeTrash(name string) {
	if s.updatesDirBad || !s.updateWorkExists(name) {
		return
	}
	state, _, err := Recover(s.in.Root, name, s.subLog)
	switch {
	case err != nil:
		s.warnf("an interrupted update of project %s could not be finished or rolled back (%v); it goes into the trash as it is", name, unwrapPath(err))
	case state != "":
		s.logf("project %s: the interrupted update was %s before it goes into the trash", name, recoveredWord(state))
	}
}

// removeFolder removes the folder name at the root: through held, its descriptor, if there is one.
func (s *initRun) removeFolder(name string, held *Dir) error { return removeIn(s.root, name, held) }

// removeIn removes the folder name in parent: through held, its descriptor, if there is one.
func removeIn(parent *Dir, name string, held *Dir) error {
	if held != nil {
		return removeHeld(parent, name, held)
	}
	return parent.RemoveAll(name)
}

// waitForDeletion waits, if another start holds the lock of gone (it is deleting the queued name right
// now), until it ends; it reports whether it waited.
func (s *initRun) waitForDeletion(name, gone string) bool {
	if s.flockBroken {
		return false
	}
	g, err := s.root.OpenDir(gone)
	if err != nil {
		return false
	}
	defer g.Close()
	free, err := tryLockFd(g.Fd())
	if err != nil {
		s.flockFailed(err)
		return false
	}
	if free {
		return false
	}
	s.logf("project %s is being deleted by another start; waiting for it", name)
	if err := lockFd(g.Fd()); err != nil {
		s.flockFailed(err)
	}
	return true
}

// ---- tombstones ----

// tombstone is the id the tombstone of name holds: 0 if there is none, or it is not a file (a link is
// never followed, a named pipe never opened to be read), or does not hold an id.
func (s *initRun) tombstone(name string) int64 {
	done, err := s.root.OpenDir(DoneDir)
	if err != nil {
		return 0
	}
	defer done.Close()
	data, err := done.ReadFile(name, 4096)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	id, ok := parseID(strings.Trim(line, " \t"))
	if !ok {
		return 0
	}
	return id
}

// doneBefore reports whether the deletion d (with an id) was carried out already, by another start:
// then whatever is at its name now is newer, and is left alone.
func (s *initRun) doneBefore(d Deletion) bool {
	if d.ID <= 0 || s.tombstone(d.Name) < d.ID {
		return false
	}
	s.logf("project %s was deleted already (by another start); anything named %s now is newer and stays", d.Name, d.Name)
	return true
}

// recordDone writes d's id into the tombstone of its name, unless it holds as much already: a new file
// in a private folder of DoneDir, renamed over the tombstone. A failure is a warning.
func (s *initRun) recordDone(d Deletion) {
	if d.ID <= 0 || s.tombstone(d.Name) >= d.ID {
		return
	}
	if err := s.writeTombstone(d); err != nil {
		s.detail(err)
		s.warnf("could not record in %s that project %s was deleted; a start handed the same deletion at the same time as a start of %s may delete the new %s", DoneDir, d.Name, d.Name, d.Name)
	}
}

func (s *initRun) writeTombstone(d Deletion) error {
	what, err := makeWay(s.root, DoneDir, true)
	if err != nil {
		return err
	}
	if what != "" {
		s.warnf("%s (the name is reserved for binder-projects)", what)
	}
	done, err := ensureDir(s.root, DoneDir, true)
	if err != nil {
		return err
	}
	defer done.Close()
	// A new file in this start's work folder (locked: if the start is killed, the next one removes
	// it), renamed over the tombstone.
	w, err := s.workFolder()
	if err != nil {
		return err
	}
	s.tombstones++
	tmp := fmt.Sprintf("tombstone.%d", s.tombstones)
	if err := writeSmallFile(w.dir, tmp, []byte(d.IDText+"\n")); err != nil {
		w.dir.Remove(tmp)
		return err
	}
	crashPoint()
	if err := w.dir.Replace(tmp, done, d.Name); err != nil {
		w.dir.Remove(tmp)
		return err
	}
	crashPoint()
	return nil
}

// writeSmallFile makes the new file name in d with data, synced.
func writeSmallFile(d *Dir, name string, data []byte) error {
	f, err := d.CreateFile(name, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---- what a deleted project leaves elsewhere ----

// forget removes, after name was deleted (or found gone), its manifest (SeedsDir/name), and the work
// folder of an interrupted update of it, unless a project of that name is there again (seeded anew by
// another start). The reserved folders are opened without following a link: a link there is never a
// way to another project's files. Nothing here fails the start: what is left is only logged.
func (s *initRun) forget(name string) {
	if st, err := statFollow(s.root, name); err == nil && st.Mode.IsDir() {
		return
	}
	if seeds, err := s.root.OpenDir(SeedsDir); err == nil {
		if seeds.Exists(name) {
			s.forgetManifest(seeds, name)
		}
		seeds.Close()
	}
	if s.updatesOff != "" {
		return
	}
	if updates, err := s.root.OpenDir(UpdatesDir); err == nil {
		has := updates.Exists(name)
		updates.Close()
		if has {
			if _, _, err := Recover(s.in.Root, name, s.subLog); err != nil {
				s.logf("could not remove the work folder of an update of deleted project %s (%v); the next start of a project of that name does", name, unwrapPath(err))
			}
		}
	}
}

// forgetManifest removes the manifest of the deleted project name, under the update lock (so that a
// start seeding name anew, which writes its manifest under it, is never undone).
func (s *initRun) forgetManifest(seeds *Dir, name string) {
	lock, err := lockUpdates(s.root)
	if err != nil {
		s.logf("cannot take the update lock (%v): removing the record of deleted project %s without it", unwrapPath(err), name)
	}
	defer lock.release()
	if st, err := statFollow(s.root, name); err == nil && st.Mode.IsDir() {
		return // seeded anew meanwhile
	}
	st, err := seeds.Stat(name)
	if err != nil {
		return
	}
	if st.Mode.IsDir() {
		s.logf("not removing %s/%s, the record of deleted project %s: it is a folder", SeedsDir, name, name)
		return
	}
	if err := seeds.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logf("could not remove the record of deleted project %s (%s/%s): %v", name, SeedsDir, name, unwrapPath(err))
	}
}
