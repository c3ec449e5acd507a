//go:build linux

package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/binder-projects/binder-projects/contract"
	"golang.org/x/sys/unix"
)

// checkReserved makes way for the folders binder-projects keeps at the volume root (SeedsDir,
// UpdatesDir, DoneDir), the update lock, and the launched project's manifest, where something else
// is in their place: a symbolic link, a named pipe, a file. Nothing there is ever followed or opened
// in a way that blocks; what holds no data is removed, anything else set aside (makeWay), with a
// warning that says what it was. What cannot be made way for turns off only what needs it (updates,
// records), never the start.
func (s *initRun) checkReserved() {
	for _, name := range []string{SeedsDir, UpdatesDir, DoneDir} {
		what, err := makeWay(s.root, name, true)
		if what != "" {
			s.warnf("%s (the name is reserved for binder-projects)", what)
		}
		if err != nil && name == UpdatesDir {
			s.updatesOff, s.updatesDirBad = unwrapPath(err).Error(), true
			s.warnf("%v (the name is reserved for binder-projects): project updates are off for this start; rename or remove it", err)
		} else if err != nil {
			s.warnf("%v (the name is reserved for binder-projects); rename or remove it", err)
		}
	}
	if ud, err := s.root.OpenDir(UpdatesDir); err == nil {
		what, err := makeWay(ud, updatesLock, false)
		if what != "" {
			s.warnf("%s (the name is reserved for binder-projects)", what)
		}
		if err != nil {
			s.updatesOff, s.updatesDirBad = err.Error(), true
			s.warnf("%v: project updates are off for this start", err)
		}
		ud.Close()
	}
	// Folders of another owner: an update that could not record its end would be left half-done.
	for _, name := range []string{UpdatesDir, SeedsDir} {
		st, err := s.root.Stat(name)
		if err != nil || !st.Mode.IsDir() || s.updatesOff != "" {
			continue
		}
		if unix.Faccessat(s.root.Fd(), name, unix.W_OK|unix.X_OK, unix.AT_EACCESS) != nil {
			s.updatesOff = fmt.Sprintf("%s is not writable by this user (uid %s; it belongs to uid %d)", name, s.uidText(), st.Uid)
			s.warnf("%s: project updates are off for this start, and what a new project is seeded with is not recorded; the operator should give it to the user, or remove it", s.updatesOff)
		}
	}
	// The trash: a folder of this user's, or set aside (never followed), as the update engine's.
	if t, err := s.openTrash(false); err != nil {
		s.warnf("%v: deleted projects cannot be moved into the trash, restored or deleted for good at this start", err)
	} else if t != nil {
		t.Close()
	}
	if sd, err := s.root.OpenDir(SeedsDir); err == nil {
		what, err := makeWay(sd, s.in.Project, false)
		if what != "" {
			s.warnf("%s (the record of what project %s was seeded with)", what, s.in.Project)
		}
		if err != nil {
			s.warnf("%v (the record of what project %s was seeded with)", err, s.in.Project)
		}
		sd.Close()
	}
}

// recoverProject finishes or rolls back an interrupted update of the launched project, before
// anything else touches it. It fails the start only if the project may be half-updated: an update's
// work folder of it is there and could not be dealt with.
func (s *initRun) recoverProject() error {
	if s.updatesDirBad || (s.updatesOff != "" && !s.updateWorkExists(s.in.Project)) {
		return nil // no work folder of the project can be there
	}
	state, _, err := Recover(s.in.Root, s.in.Project, s.subLog)
	if err != nil {
		if errors.Is(err, ErrUnfinished) || s.updateWorkExists(s.in.Project) {
			return s.fail("an interrupted update of project %s could not be finished or rolled back (%v); project %s was left as it is: start again, and if this repeats, ask the operator (the update's work folder is %s/%s on the volume)",
				s.in.Project, unwrapPath(err), s.in.Project, UpdatesDir, s.in.Project)
		}
		s.updatesOff = unwrapPath(err).Error()
		s.warnf("cannot look for an interrupted update of project %s (%v): project updates are off for this start", s.in.Project, unwrapPath(err))
		return nil
	}
	if state != "" {
		s.recovered = state
		s.logf("project %s: the interrupted update was %s", s.in.Project, recoveredWord(state))
	}
	return nil
}

func recoveredWord(state string) string {
	switch state {
	case "rolled-back":
		return "rolled back"
	case "cleaned", "discarded":
		return "cleaned up (it had not changed the project)"
	}
	return state
}

// updateWorkExists says whether an update's work folder of name is there (as anything).
func (s *initRun) updateWorkExists(name string) bool {
	ud, err := s.root.OpenDir(UpdatesDir)
	if err != nil {
		return false
	}
	defer ud.Close()
	return ud.Exists(name)
}

// seedOrUpdate makes the launched project ready: a folder of its name is the project (updated if
// asked); nothing of its name: it is seeded; anything else is in the way.
func (s *initRun) seedOrUpdate() error {
	p := s.in.Project
	st, err := s.root.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.seed()
	case err != nil:
		return s.fail("cannot look at project %s (%v)", p, unwrapPath(err))
	case st.Mode.IsDir():
		s.logf("project %s exists; copying nothing", p)
	case st.Mode&fs.ModeSymlink != 0:
		if to, err := statFollow(s.root, p); err != nil || !to.Mode.IsDir() {
			return s.fail("a symbolic link named %s, which does not lead to a folder, is in the way of the project folder in %s; rename or remove it (from any other project: your volume is at %s there), then start again", p, s.in.Root, s.in.Root)
		}
		s.logf("project %s exists (as a symbolic link); copying nothing", p)
	default:
		return s.fail("a %s named %s is in the way of the project folder in %s; rename or remove it (from any other project: your volume is at %s there), then start again", st.Kind(), p, s.in.Root, s.in.Root)
	}
	s.rep.Project = contract.ProjectExisted
	return s.update()
}

// update brings the existing project to the launched commit, if that was asked for. A failure that
// left the project as it was is a warning; one that could not be rolled back fails the start.
func (s *initRun) update() error {
	if !s.in.Update {
		return nil
	}
	p, c := s.in.Project, s.in.Commit
	if c == "" {
		s.rep.Update = &contract.UpdateReport{State: contract.UpdateUnavailable}
		s.warnf("an update of project %s was asked for, but the launch names no valid commit; project %s starts unchanged", p, p)
		return nil
	}
	if s.updatesOff != "" {
		s.rep.Update = &contract.UpdateReport{State: contract.UpdateFailed}
		s.warnf("could not update project %s to commit %s (%s); project %s starts unchanged", p, c, s.updatesOff, p)
		return nil
	}
	s.logf("updating project %s to commit %s", p, c)
	res, err := Update(Options{Root: s.in.Root, Project: p, Source: s.in.Source, Commit: c, Log: s.subLog})
	switch {
	case err == nil:
		sum := res.Summary
		u := &contract.UpdateReport{State: contract.UpdateUpdated, Commit: res.Commit, From: res.OldCommit, Counted: true,
			Replaced: sum.Replaced, Added: sum.Added, Removed: sum.Removed, Kept: sum.Kept, Beside: sum.Beside,
			StayedDeleted: sum.StayedDeleted, Modes: sum.Modes, Recovered: res.Recovered}
		if u.Recovered == "" {
			u.Recovered = s.recovered
		}
		s.rep.Update = u
		s.measureExact()
	case errors.Is(err, ErrUnfinished):
		s.rep.Update = &contract.UpdateReport{State: contract.UpdateUnfinished}
		return s.fail("the update of project %s to commit %s failed and could not be rolled back (%v); the server does not start on a half-updated project: start again (the next start finishes or rolls back the update); if this repeats, ask the operator", p, c, unwrapPath(err))
	default:
		s.rep.Update = &contract.UpdateReport{State: contract.UpdateFailed}
		s.warnf("could not update project %s to commit %s (%v); project %s starts unchanged", p, c, unwrapPath(err), p)
	}
	return nil
}

// workDir is this start's private work folder at the volume root (the lock rule: made as
// newPrefix+X, its lock file taken, then renamed to tmpPrefix+X; unlockedPrefix[+pod.]+X where flock
// does not work).
type workDir struct {
	root *Dir
	dir  *Dir
	name string
	lock *os.File
}

func (w *workDir) remove() error { return w.root.RemoveAll(w.name) }

func (w *workDir) close() {
	w.dir.Close()
	if w.lock != nil {
		w.lock.Close()
	}
}

// workFolder is this start's work folder, made the first time it is needed (a tombstone to write, a
// project to seed), and removed when the start ends (dropWork).
func (s *initRun) workFolder() (*workDir, error) {
	if s.work != nil {
		return s.work, nil
	}
	w, err := s.makeWorkDir()
	if err != nil {
		return nil, err
	}
	s.work = w
	return w, nil
}

// dropWork removes this start's work folder, and then releases its lock.
func (s *initRun) dropWork() {
	if s.work == nil {
		return
	}
	if err := s.work.remove(); err != nil {
		s.detail(err)
		s.warnf("could not remove %s; a later start removes it", s.work.name)
	}
	s.work.close()
	s.work = nil
}

// makeWorkDir makes a work folder by the lock rule. A start given its pod's name makes it as
// newPrefix+<pod>.X, so that if it is killed before the rename, the next start of the pod knows it is
// dead (the pod rule).
func (s *initRun) makeWorkDir() (*workDir, error) {
	for range 10 {
		suffix := randomSuffix()
		fresh := newPrefix + suffix
		if s.in.Pod != "" {
			fresh = newPrefix + s.in.Pod + "." + suffix
		}
		if err := s.root.Mkdir(fresh, 0o700); errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		d, err := s.root.OpenDir(fresh)
		if err != nil {
			s.root.RemoveAll(fresh)
			return nil, err
		}
		lock, err := openLockFile(d, workLock, true)
		if err != nil {
			d.Close()
			s.root.RemoveAll(fresh)
			return nil, fmt.Errorf("cannot create a file in the new folder: %w", err)
		}
		crashPoint()
		if !s.flockBroken {
			free, err := tryLockFd(int(lock.Fd()))
			if err == nil && !free {
				err = errors.New("a lock no one else knows was held")
			}
			if err != nil {
				s.flockFailed(err)
			}
		}
		name := tmpPrefix + suffix
		if s.flockBroken {
			lock.Close()
			lock = nil
			name = unlockedPrefix + suffix
			if s.in.Pod != "" {
				name = unlockedPrefix + s.in.Pod + "." + suffix
			}
		}
		err = s.root.Rename(fresh, s.root, name)
		if err != nil {
			d.Close()
			if lock != nil {
				lock.Close()
			}
			s.root.RemoveAll(fresh)
			if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
				continue // that name is taken (a leftover, or another start's), or the new folder went: again
			}
			return nil, err
		}
		crashPoint()
		return &workDir{root: s.root, dir: d, name: name, lock: lock}, nil
	}
	return nil, errors.New("no free name for a work folder")
}

// seed copies the image's home into a new project: into this start's private work folder, with the
// manifest taken from that private copy, then renamed into place only if nothing of the project's
// name is there, and the manifest put in place right after. A start killed at any point leaves no
// project (the next start seeds it) or the complete one (and its manifest: the next start puts it in
// place if it was killed before; salvageSeed). A seed that fails because the volume is full deletes
// the oldest entry of the trash for good (a warning says which), and tries again, until the trash
// holds nothing more.
func (s *initRun) seed() error {
	p := s.in.Project
	home := false
	if info, err := os.Stat(s.in.Source); err == nil && info.IsDir() {
		home = true
	} else {
		s.warnf("the image has no home folder at %s, so project %s starts empty; the operator should check --home-mount-path (the notebook's home folder in the image)", s.in.Source, p)
	}
	for {
		err := s.seedOnce(home)
		var f *initFailed
		if !errors.As(err, &f) || !f.full || !s.makeRoom("for project "+p, f.how) {
			return err
		}
		s.clearWork()
		s.logf("trying again to seed project %s", p)
	}
}

// seedOnce is one try of seed.
func (s *initRun) seedOnce(home bool) error {
	p := s.in.Project
	if home {
		s.logf("copying the image's home folder into new project %s", p)
	}
	w, err := s.workFolder()
	if err != nil {
		s.detail(err)
		if full, how := isFull(s.root, err); full {
			return s.failFull(how, "could not create a temporary folder on the volume for project %s: %s. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. Project %s was not created.", p, how, p)
		}
		return s.fail("could not create a temporary folder on the volume for project %s; is the volume full or not writable by this user (uid %s)?", p, s.uidText())
	}
	res := &copyResult{}
	if home {
		var src *Dir
		if src, err = OpenRoot(s.in.Source); err == nil {
			res, err = copyTree(src, w.dir, w.name, s.in.Commit != "")
			src.Close()
		}
	} else if err = w.dir.Mkdir(w.name, 0o777); err == nil {
		res.Blocks, _ = allocated(w.dir.Fd(), w.name) // only for the report: a failure is no reason to fail
	}
	if err != nil {
		return s.seedFailed(w, err, home)
	}
	crashPoint()
	for _, msg := range res.Warnings {
		s.warnf("%s", msg)
	}

	// What the project is seeded with, from the private copy, before anyone can change it.
	staged := false
	if s.in.Commit != "" {
		m := &Manifest{Project: p, Commit: s.in.Commit, Entries: res.Entries}
		data, err := m.Encode()
		if err == nil {
			err = s.stageManifest(w, data)
		}
		if err != nil {
			s.detail(err)
			s.warnf("could not record what project %s was seeded with; its first update counts every file as yours", p)
		} else {
			staged = true
		}
	} else if s.in.Update || s.hasManifest(s.in.Project) {
		s.logf("no valid commit was given: what project %s was seeded with is not recorded, and its first update counts every file as yours", p)
	}
	crashPoint()

	placed, err := s.place(w, staged)
	if err != nil {
		return err
	}
	if !placed {
		s.logf("project %s appeared while copying (another start?); keeping it, copying nothing", p)
		s.rep.Project = contract.ProjectExisted
	} else if home {
		s.rep.Project = contract.ProjectSeeded
		s.logf("project %s is ready: %d files (%s), %d folders, %d links copied", p, res.Files, sizeText(res.Bytes), res.Dirs, res.Links)
		if staged {
			s.logf("recorded what project %s was seeded with at commit %s", p, s.in.Commit)
		}
	} else {
		s.rep.Project = contract.ProjectSeededEmpty
		s.logf("project %s is ready (empty)", p)
	}
	if placed {
		s.sized(res.Blocks)
	}
	if s.in.Update {
		s.rep.Update = &contract.UpdateReport{State: contract.UpdateNotNeeded}
	}
	return nil
}

// failFull is fail for a volume that is full (how: how full).
func (s *initRun) failFull(how, format string, args ...any) error {
	err := s.fail(format, args...).(*initFailed)
	err.full, err.how = true, how
	return err
}

// clearWork removes from this start's work folder what a failed try of a seed left there (its copy,
// the staged manifest and record), for another try.
func (s *initRun) clearWork() {
	if w := s.work; w != nil {
		for _, n := range []string{w.name, seedManifestName, seedRecordName} {
			if err := w.dir.RemoveAll(n); err != nil {
				s.detail(err)
			}
		}
	}
}

// seedFailed removes the work folder (what the volume's usage says is measured before) and fails.
func (s *initRun) seedFailed(w *workDir, err error, home bool) error {
	p := s.in.Project
	s.detail(err)
	full, how := isFull(s.root, err)
	if rerr := w.dir.RemoveAll(w.name); rerr != nil {
		s.detail(rerr)
	}
	switch {
	case full && home:
		return s.failFull(how, "could not copy the image's home folder into project %s: %s. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. Project %s was not created.", p, how, p)
	case full:
		return s.failFull(how, "could not create project %s: %s. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again.", p, how)
	case !home:
		return s.fail("could not create the empty project %s (%v); is the volume writable by this user (uid %s)?", p, unwrapPath(err), s.uidText())
	}
	return s.fail("could not copy the image's home folder into project %s (%v); this user (uid %s) may not write the volume or read the image's home folder. Project %s was not created: start again, and if this repeats, ask the operator.", p, err, s.uidText(), p)
}

// stageManifest writes the manifest and the seed's record into the work folder.
func (s *initRun) stageManifest(w *workDir, manifest []byte) error {
	top, err := w.dir.Stat(w.name)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(seedRecord{Project: s.in.Project, Dev: top.Dev, Ino: top.Ino})
	if err != nil {
		return err
	}
	if err := writeSmallFile(w.dir, seedManifestName, manifest); err != nil {
		return err
	}
	return writeSmallFile(w.dir, seedRecordName, rec)
}

// place renames the copy into place, only if no entry of the project's name exists (NOREPLACE), and
// puts its manifest in place right after; it reports false if another start's project appeared
// meanwhile. Under the update lock: no update reads a manifest of another project of this name, and
// a stale manifest (of a project of this name deleted earlier) and an orphaned update's work folder
// are removed first.
func (s *initRun) place(w *workDir, staged bool) (bool, error) {
	p := s.in.Project
	if staged || s.hasManifest(s.in.Project) {
		lock, err := lockUpdates(s.root)
		if err != nil {
			s.logf("cannot take the update lock (%v): placing project %s without it", unwrapPath(err), p)
		}
		defer lock.release()
		if s.root.Exists(p) {
			return false, nil // another start's: its manifest stays
		}
		s.clearStale()
	}
	err := w.dir.Rename(w.name, s.root, p)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		s.detail(err)
		if full, how := isFull(s.root, err); full {
			return false, s.failFull(how, "could not rename the copy into project %s: %s; it was not created", p, how)
		}
		return false, s.fail("could not rename the copy into project %s; it was not created", p)
	}
	crashPoint()
	if staged {
		err := func() error {
			seeds, err := ensureDir(s.root, SeedsDir, true)
			if err != nil {
				return err
			}
			defer seeds.Close()
			if err := w.dir.Replace(seedManifestName, seeds, p); err != nil {
				return err
			}
			return seeds.Sync()
		}()
		if err != nil {
			s.detail(err)
			s.warnf("could not record what project %s was seeded with; its first update counts every file as yours", p)
		}
	}
	return true, nil
}

// clearStale removes, before a new project is renamed into place, the manifest of an earlier project
// of its name and the work folder of an interrupted update of it (the update lock is held).
func (s *initRun) clearStale() {
	p := s.in.Project
	s.removeStaleManifest(p)
	if s.updatesOff != "" {
		return
	}
	if ud, err := s.root.OpenDir(UpdatesDir); err == nil {
		if ud.Exists(p) {
			s.logf("removing the work folder of an interrupted update of an earlier project %s", p)
			if err := ud.RemoveAll(p); err != nil {
				s.logf("could not remove it (%v)", unwrapPath(err))
			}
		}
		ud.Close()
	}
}

// removeStaleManifest removes SeedsDir/name (never followed; a folder there stays), the manifest of an
// earlier project of that name, before another folder takes the name (the update lock is held).
func (s *initRun) removeStaleManifest(name string) {
	seeds, err := s.root.OpenDir(SeedsDir)
	if err != nil {
		return
	}
	defer seeds.Close()
	if st, err := seeds.Stat(name); err == nil && !st.Mode.IsDir() {
		if err := seeds.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logf("could not remove the record of an earlier project %s (%v)", name, unwrapPath(err))
		}
	}
}

// sizeText is a number of bytes for a person.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
