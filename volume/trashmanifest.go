//go:build linux

package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/binder-projects/binder-projects/contract"
)

// A project's manifest (SeedsDir/<dir>, the base of its updates) travels with it through the trash, so
// that a restored project is updated as one never deleted: the image's files the user never changed
// are still the image's. A deletion into the trash moves it into the entry's id folder (seedName)
// right after the folder; a restore moves it back to SeedsDir/<as> right after the folder; deleting
// the entry for good removes it. Each move is one rename, of the very file looked at (movePlanned:
// checked by its inode), never through a link, under the update lock, taken before the folder moves
// and held until the manifest has: no seed, update or removal of a manifest of that name (each runs
// under that lock) comes between the two. Without the lock no manifest moves (the project goes, or
// comes back, without it, as before).
//
// The folder moves first, then its manifest, both ways, so that a start killed between the two
// leaves a folder without its manifest (its first update counts every file as the user's: safe),
// never a manifest beside a folder it does not describe:
//   - into the trash: the manifest stays at SeedsDir/<dir> with no project of that name at the volume
//     root, as after any deletion: it is stale, and the next start removes it (handed the deletion
//     again: forget) or drops it before a project takes the name (a seed: clearStale; a restore:
//     dropStaleManifest); the entry has none;
//   - out of the trash: the manifest stays in the id folder; a start handed the same restore again
//     moves it if the folder restored is still there (by its inode) and no manifest is (one there
//     is newer, an update's since, and stays); tidyTrash removes it once the restore's record is
//     gone (after 24 hours).
//
// A manifest moved first would, if the start were then killed or the folder's rename failed, lie
// where another folder can come: at a name of the volume root the user takes meanwhile, or in an id
// folder the project never reaches.
//
// The manifest keeps the project name it was written for (Manifest.Project), also when the folder
// comes back beside a project of its name, under another: an update reads the manifest at
// SeedsDir/<project>, never that name, and writes the new one.

// seedName is the name of the manifest of dir in its id folder; false if it would not fit in 255 bytes
// whole (a folder name of more than 249 bytes): the manifest of such a project does not go into the
// trash (it is removed, as without the trash), so that a name cut short never mixes up two projects.
func seedName(dir contract.ProjectDir) (string, bool) {
	name := seedPrefix + string(dir)
	return name, len(name) <= 255
}

// idLabel names e's id folder in messages.
func idLabel(e trashEntry) string { return contract.TrashFolder + "/" + e.idName() }

// hasManifest says whether SeedsDir (never followed) holds an entry of one of names.
func (s *initRun) hasManifest(names ...string) bool {
	seeds, err := s.root.OpenDir(SeedsDir)
	if err != nil {
		return false
	}
	defer seeds.Close()
	return slices.ContainsFunc(names, seeds.Exists)
}

// manifestLock takes the update lock for the moves of a manifest; nil, and a log line (what: what
// happens without it), if it cannot be taken: then no manifest moves.
func (s *initRun) manifestLock(what string) *updatesLockHeld {
	lock, err := lockUpdates(s.root)
	if err != nil {
		s.logf("cannot take the update lock (%v): %s", unwrapPath(err), what)
		return nil
	}
	return lock
}

// manifestIntoTrash moves the manifest of the project just moved into the trash as e (SeedsDir/<dir>)
// into e's id folder; the update lock is held since before the folder moved. What is not a file of
// this user's at SeedsDir/<dir> stays there (forget removes it, as without the trash); what is at the
// manifest's name in the id folder already (nothing this deletion put there) is set aside first.
func (s *initRun) manifestIntoTrash(idDir *Dir, e trashEntry) {
	if st, err := statFollow(s.root, e.name()); err == nil && st.Mode.IsDir() {
		return // a project of that name is there again: the manifest is its own
	}
	seeds, err := s.root.OpenDir(SeedsDir)
	if err != nil {
		return
	}
	defer seeds.Close()
	st, err := seeds.Stat(e.name())
	if err != nil || !st.Mode.IsRegular() || !ours(st) {
		return
	}
	lost := func(why string) {
		s.logf("project %s is in the trash without the record of what it was seeded with (%s): if it is restored, its first update counts every file as yours", e.dir, why)
	}
	to, fits := seedName(e.dir)
	if !fits {
		lost("its name is too long for the record's name in the trash")
		return
	}
	if old, there := s.trashedManifest(idDir, e); there {
		// Nothing this deletion put there (an id folder gets each project once).
		if err := s.reserved().setAside(idDir, idLabel(e), to, old, "a file this deletion did not put there"); err != nil {
			lost(err.Error())
			return
		}
	}
	if err := movePlanned(seeds, e.name(), idDir, to, st); err != nil {
		lost(unwrapPath(err).Error())
	}
}

// trashedManifest looks at the manifest name of e in its id folder: a file of this user's there is
// its manifest (its Stamp, true). Anything else there is never followed or opened: what holds no data
// (a link, a named pipe, a socket, a device) is removed, anything else (a folder, another user's
// file) set aside, with a warning, as at the other reserved names.
func (s *initRun) trashedManifest(idDir *Dir, e trashEntry) (Stamp, bool) {
	name, fits := seedName(e.dir)
	if !fits {
		return Stamp{}, false
	}
	st, err := idDir.Stat(name)
	switch {
	case err != nil:
		return Stamp{}, false
	case st.Mode.IsRegular() && ours(st):
		return st, true
	case st.Mode.IsRegular():
		err = s.reserved().setAside(idDir, idLabel(e), name, st, notOurs(st, "file"))
	default:
		var what string
		if what, err = makeWay(idDir, name, false); what != "" {
			s.warnf("%s (the name is reserved for binder-projects)", what)
		}
	}
	if err != nil {
		s.logf("%v", err)
	}
	return Stamp{}, false
}

// dropStaleManifest removes, just before a restored folder takes the free name as at the volume root
// (the update lock is held), the manifest of an earlier project of that name there: it does not
// describe the restored folder (as a seed's clearStale does).
func (s *initRun) dropStaleManifest(as contract.ProjectDir) {
	if st, err := statFollow(s.root, string(as)); err == nil && st.Mode.IsDir() {
		return // taken meanwhile: the restore looks again
	}
	s.removeStaleManifest(string(as))
}

// manifestOutOfTrash moves the manifest of e (man: the file looked at in its id folder) to
// SeedsDir/<as>, once the folder restored (folder: as it was in the trash) is at as; the update lock
// is held. Only if the folder at as is still that one, by its inode, and SeedsDir/<as> is free: a
// start handed the restore again may find a newer manifest there (an update's), which stays.
func (s *initRun) manifestOutOfTrash(idDir *Dir, e trashEntry, as contract.ProjectDir, folder, man Stamp) {
	lost := func(why string) {
		s.logf("project %s is back without the record of what it was seeded with (%s): its first update counts every file as yours", as, why)
	}
	if now, err := s.root.Stat(string(as)); err != nil || !sameInode(now, folder) {
		lost(string(as) + " is not the folder restored any more")
		return
	}
	seeds, err := ensureDir(s.root, SeedsDir, true)
	if err != nil {
		lost(unwrapPath(err).Error())
		return
	}
	defer seeds.Close()
	name, _ := seedName(e.dir)
	err = movePlanned(idDir, name, seeds, string(as), man)
	switch {
	case errors.Is(err, fs.ErrExist):
		s.logf("project %s has a newer record of what it was seeded with (an update's); the one in the trash is not used", as)
		return
	case err != nil:
		lost(unwrapPath(err).Error())
		return
	}
	_ = syncDir(seeds)
	s.logf("project %s: the record of what it was seeded with came back with it", as)
}

// restoredManifest moves the manifest of e, still in its id folder, to SeedsDir/<as> for a start
// handed a restore that an earlier start carried out (folder: the folder restored, at as) and was
// stopped before it moved the manifest.
func (s *initRun) restoredManifest(idDir *Dir, e trashEntry, as contract.ProjectDir, folder Stamp) {
	man, ok := s.trashedManifest(idDir, e)
	if !ok {
		return
	}
	lock := s.manifestLock(fmt.Sprintf("project %s stays without the record of what it was seeded with", as))
	if lock == nil {
		return
	}
	defer lock.release()
	s.manifestOutOfTrash(idDir, e, as, folder, man)
}

// dropTrashedManifest removes the manifest of e from its id folder (e is deleted for good, or gone).
func (s *initRun) dropTrashedManifest(idDir *Dir, e trashEntry) {
	if _, ok := s.trashedManifest(idDir, e); !ok {
		return
	}
	name, _ := seedName(e.dir)
	if err := idDir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logf("could not remove %s/%s, the record of what deleted project %s was seeded with (%v); the next start tries again", idLabel(e), name, e.dir, unwrapPath(err))
	}
}

// tidyManifest removes the manifest m (seedPrefix + <dir>) of the id folder idDir (id: its id) that a
// start stopped after its project went left behind: once nothing is at the project's name (nor being
// deleted for good, as purgingPrefix + <dir>) and it was not restored in the last 24 hours (its
// record is there: a start handed that restore again still moves the manifest).
func (s *initRun) tidyManifest(idDir *Dir, id int64, m string) {
	dir, err := contract.ParseProjectDir(strings.TrimPrefix(m, seedPrefix))
	if err != nil || idDir.Exists(string(dir)) || idDir.Exists(markName(purgingPrefix, string(dir))) {
		return
	}
	for _, record := range []string{markName(restoredPrefix, string(dir)), markName(restoringPrefix, string(dir))} {
		if st, err := idDir.Stat(record); err == nil && s.now.Sub(time.Unix(0, st.Mtime)) <= staleAfter {
			return
		}
	}
	s.dropTrashedManifest(idDir, trashEntry{id: id, dir: dir})
}
