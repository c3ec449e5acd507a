package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/binder-projects/binder-projects/contract"
)

// journalVersion is the version of the journal this package writes. Version 1 (no marks: what a step
// expects of an entry) is still read, and only ever rolled back, never finished: its steps cannot
// tell the entries planned from entries the user put in their place.
const journalVersion = 2

// journal is the work folder's record of a prepared update.
type journal struct {
	Version   int        `json:"version"`
	Project   string     `json:"project"`
	Commit    string     `json:"commit"`
	OldCommit string     `json:"oldCommit"`
	Based     bool       `json:"based"`
	Summary   Summary    `json:"summary"`
	Notes     []noteJSON `json:"notes"`
	Steps     []step     `json:"steps"`
}

type noteJSON struct {
	Kind   Kind   `json:"kind"`
	Path   string `json:"path"`
	Beside string `json:"beside,omitempty"`
}

// step is one change the journal records; each is done and undone idempotently, and only to the
// entry it expects.
type step struct {
	Op   string `json:"op"` // "aside", "place", "chmod" (the user's entry) or "chmod-placed"
	ID   int    `json:"id,omitempty"`
	Path string `json:"path"` // escaped (escapeName)
	Mode string `json:"mode,omitempty"`
	Old  string `json:"old,omitempty"`
	// Src is where in the commit's tree what "place" puts at Path comes from, if not Path (a new
	// version beside the user's). Escaped.
	Src string `json:"src,omitempty"`
	// Want is what the step expects: for "aside", the user's entry and everything below it as the plan
	// scanned it; for "chmod", the user's entry; for "place" and "chmod-placed", the staged entry.
	Want []mark `json:"want,omitempty"`
}

// Names in a project's work folder (WorkPath).
const (
	stagingName  = "staging"  // staging/<n>: what action n puts in place, copied from the image
	asideName    = "aside"    // aside/<n>: the user's entry action n took away, until the update is complete
	backName     = "back"     // back/<n>: what action n had put in place, taken back by a roll back
	manifestName = "manifest" // the new manifest, moved into SeedsDir when the update is complete
	journalName  = "journal"  // the plan's steps: its presence means "prepared"
	doneName     = "done"     // the journal, renamed once the update is complete
	rollbackName = "rollback" // present: the update is being rolled back
	lockName     = ".lock"    // UpdatesDir/.lock: the volume's update lock
)

// steps turns a plan into the journal's steps: renames in the plan's order (a folder made again comes
// before what goes into it), then the mode changes, deepest first (a read-only folder is made so only
// once nothing more goes into it). The marks of staged entries are added once they are staged.
func steps(plan *Plan) []step {
	var out, modes []step
	// chmod changes the mode of what action i placed at p (placed: undone only while it is in place)
	// or of the user's p (i < 0).
	chmod := func(i int, p string, mode, old fs.FileMode) {
		s := step{Op: "chmod", Path: escapeName(p), Mode: fmt.Sprintf("%04o", modeBits(mode)), Old: fmt.Sprintf("%04o", modeBits(old))}
		if i >= 0 {
			s.Op, s.ID = "chmod-placed", i
		} else {
			s.Want = plan.current.marks(p, false)
		}
		modes = append(modes, s)
	}
	for i, a := range plan.Actions {
		isDir := plan.source.Get(a.Path) != nil && plan.source.Get(a.Path).Type == TypeDir
		switch a.Kind {
		case KindAdd, KindMakeDir:
			out = append(out, step{Op: "place", ID: i, Path: escapeName(a.Path)})
			if a.Kind == KindMakeDir || isDir {
				chmod(i, a.Path, a.Mode, stagedDirMode(a.Mode, a.Kind))
			}
		case KindReplace:
			out = append(out,
				step{Op: "aside", ID: i, Path: escapeName(a.Path), Want: plan.current.marks(a.Path, true)},
				step{Op: "place", ID: i, Path: escapeName(a.Path)})
			if isDir {
				chmod(i, a.Path, a.Mode, stagedDirMode(a.Mode, a.Kind))
			}
		case KindRemove:
			out = append(out, step{Op: "aside", ID: i, Path: escapeName(a.Path), Want: plan.current.marks(a.Path, true)})
		case KindBeside:
			out = append(out, step{Op: "place", ID: i, Path: escapeName(a.Beside), Src: escapeName(a.Path)})
			if isDir {
				chmod(i, a.Beside, a.Mode, stagedDirMode(a.Mode, a.Kind))
			}
		case KindMode:
			chmod(-1, a.Path, a.Mode, plan.current.Get(a.Path).Mode)
		}
	}
	slices.SortStableFunc(modes, func(a, b step) int {
		return strings.Count(b.Path, "/") - strings.Count(a.Path, "/")
	})
	return append(out, modes...)
}

// check refuses a journal that is not one this package could have written for project.
func (j *journal) check(project string) error {
	if j.Version != 1 && j.Version != journalVersion {
		return fmt.Errorf("version %d (this binary reads versions 1 and %d: was it written by a newer one?)", j.Version, journalVersion)
	}
	if j.Project != project {
		return fmt.Errorf("it is the journal of project %q", j.Project)
	}
	if err := contract.CheckCommit(j.Commit); err != nil {
		return err
	}
	for _, s := range j.Steps {
		p, err := unescapeName(s.Path)
		if err != nil || !validPath(p) {
			return fmt.Errorf("a bad path %q", s.Path)
		}
		if s.Src != "" {
			if p, err := unescapeName(s.Src); err != nil || !validPath(p) {
				return fmt.Errorf("a bad path %q", s.Src)
			}
		}
		switch s.Op {
		case "aside", "place", "chmod-placed":
			if s.ID < 0 {
				return fmt.Errorf("a bad step number %d", s.ID)
			}
		case "chmod":
		default:
			return fmt.Errorf("an unknown step %q", s.Op)
		}
		if s.Op == "aside" && j.Version >= 2 && len(s.Want) == 0 {
			return fmt.Errorf("a step that moves %q aside without a record of it", s.Path)
		}
		if s.Op == "chmod" || s.Op == "chmod-placed" {
			if _, err := parseMode(s.Mode); err != nil {
				return err
			}
			if _, err := parseMode(s.Old); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseMode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("a bad mode %q", s)
	}
	return fromModeBits(uint32(m)), nil
}

// pathOf is the step's path in the project (checked by journal.check).
func pathOf(s step) string {
	p, _ := unescapeName(s.Path)
	return p
}

// srcOf is where in the commit's tree what a "place" step puts in place comes from.
func srcOf(s step, j *journal) string {
	if s.Src != "" {
		p, _ := unescapeName(s.Src)
		return p
	}
	if j.Version == 1 {
		// Version 1 has no Src: a new version beside the user's is a note's.
		for _, n := range j.Notes {
			if n.Kind == KindBeside && n.Beside == s.Path {
				p, _ := unescapeName(n.Path)
				return p
			}
		}
	}
	return pathOf(s)
}

// do carries out one step, or checks it was done; an entry of the user's that is not the one
// planned is left (or put back) and the error wraps ErrNotPlanned.
func (v *volume) do(s step) error {
	p, n := pathOf(s), strconv.Itoa(s.ID)
	switch s.Op {
	case "aside":
		if v.aside.Exists(n) {
			return v.checkAside(n, s, p) // moved already: maybe not checked yet (a killed run)
		}
		parent, err := v.proj.OpenPath(parentOf(p))
		if err != nil {
			return v.unreachable(p, err)
		}
		defer parent.Close()
		name := lastName(p)
		st, err := parent.Stat(name)
		if err != nil {
			return &notPlannedError{path: p, why: "was removed"}
		}
		if why := s.Want[0].differs(st); why != "" {
			return &notPlannedError{path: p, why: why}
		}
		pausePoint("looked " + p)
		if err := parent.Rename(name, v.aside, n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return &notPlannedError{path: p, why: "was removed"}
			}
			return err
		}
		crashPoint()
		pausePoint("moved " + p)
		if !v.stillAt(parent, parentOf(p)) {
			at, err := v.putBack(v.aside, n, p)
			if err != nil {
				return err
			}
			return &notPlannedError{path: p, why: "cannot be reached: its folder was moved", at: elsewhere(at, p)}
		}
		return v.checkAside(n, s, p)
	case "place":
		if !v.staging.Exists(n) {
			return nil // placed already
		}
		parent, err := v.proj.OpenPath(parentOf(p))
		if err != nil {
			return v.unreachable(p, err)
		}
		defer parent.Close()
		name := lastName(p)
		if err := v.staging.Rename(n, parent, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return &notPlannedError{path: p, why: "was made"}
			}
			return err
		}
		if !v.stillAt(parent, parentOf(p)) {
			if st, err := parent.Stat(name); err == nil && sameTop(s.Want, st) {
				_ = parent.Rename(name, v.staging, n)
			}
			return &notPlannedError{path: parentOf(p), why: "was moved elsewhere"}
		}
		return nil
	case "chmod", "chmod-placed":
		mode, _ := parseMode(s.Mode)
		parent, err := v.proj.OpenPath(parentOf(p))
		if err != nil {
			return v.unreachable(p, err)
		}
		defer parent.Close()
		err = parent.ChmodIf(lastName(p), mode, func(st Stamp) bool { return sameTop(s.Want, st) })
		switch {
		case errors.Is(err, ErrNotPlanned):
			return &notPlannedError{path: p, why: "was replaced"}
		case errors.Is(err, ErrLink):
			return &notPlannedError{path: p, why: "became a symbolic link"}
		case errors.Is(err, fs.ErrNotExist):
			return &notPlannedError{path: p, why: "was removed"}
		}
		return err
	}
	return fmt.Errorf("the journal holds an unknown step %q", s.Op)
}

// elsewhere is at if it is not p, else "".
func elsewhere(at, p string) string {
	if at == p {
		return ""
	}
	return at
}

// checkAside checks the user's entry moved to aside/n against the plan's marks; one that is not the
// one planned goes back at once.
func (v *volume) checkAside(n string, s step, p string) error {
	rel, why := checkMarks(v.aside, n, s.Want)
	if why == "" {
		return nil
	}
	at, err := v.putBack(v.aside, n, p)
	if err != nil {
		return fmt.Errorf("%s %s while the update ran, and %w", show(under(p, rel)), why, err)
	}
	return &notPlannedError{path: under(p, rel), why: why, at: elsewhere(at, p)}
}

// undoStep undoes one step; a step not done (or undone already) is left. What is no longer the entry
// the step put there is left as the user's, with a warning.
func (v *volume) undoStep(s step, j *journal) error {
	p, n := pathOf(s), strconv.Itoa(s.ID)
	switch s.Op {
	case "aside":
		// Whatever is in aside/n came from p: it goes back (beside, if p was taken meanwhile).
		if !v.aside.Exists(n) {
			return nil
		}
		_, err := v.putBack(v.aside, n, p)
		return err
	case "place":
		if v.back.Exists(n) {
			return v.checkBack(n, s, j, p) // taken back already: maybe not checked yet
		}
		if v.staging.Exists(n) {
			return nil // never placed
		}
		parent, err := v.proj.OpenPath(parentOf(p))
		if err != nil {
			v.partial = true
			v.warnf("the commit's %s, put in place by the update, cannot be taken back (%s); it is left where it is", show(p), v.reason(err))
			return nil
		}
		defer parent.Close()
		name := lastName(p)
		st, err := parent.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(s.Want) > 0 && !sameTop(s.Want, st) {
			v.partial = true
			v.warnf("%s, put in place by the update, was replaced while the update ran: yours is left as it is", show(p))
			return nil
		}
		if err := parent.Rename(name, v.back, n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		crashPoint()
		return v.checkBack(n, s, j, p)
	case "chmod", "chmod-placed":
		if s.Op == "chmod-placed" && (v.staging.Exists(n) || v.back.Exists(n)) {
			return nil // not in place: p may be the user's entry again
		}
		old, _ := parseMode(s.Old)
		parent, err := v.proj.OpenPath(parentOf(p))
		if err == nil {
			err = parent.ChmodIf(lastName(p), old, func(st Stamp) bool { return sameTop(s.Want, st) })
			parent.Close()
		}
		if errors.Is(err, ErrNotPlanned) || errors.Is(err, fs.ErrNotExist) {
			return nil // another entry (the user's) or none: its mode is its own
		}
		if err != nil {
			v.partial = true
			v.warnf("cannot give %s its mode %s back (%s)", show(p), s.Old, v.reason(err))
		}
		return nil
	}
	return fmt.Errorf("the journal holds an unknown step %q", s.Op)
}

// checkBack checks what a roll back took back to back/n against the commit's manifest: what holds
// anything of the user's goes back to p as the user's.
func (v *volume) checkBack(n string, s step, j *journal, p string) error {
	m, err := v.placed()
	rel, why := "", ""
	if err != nil {
		why = "cannot be checked (" + err.Error() + ")"
	} else {
		rel, why = checkPlaced(v.back, n, m, srcOf(s, j))
	}
	if why == "" {
		return nil
	}
	at, err := v.putBack(v.back, n, p)
	if err != nil {
		return err
	}
	v.partial = true
	msg := fmt.Sprintf("%s, put in place by the update, holds a change of yours (%s %s while the update ran): it is left as yours", show(p), show(under(p, rel)), why)
	if at != p {
		msg += ", at " + show(at)
	}
	v.warnf("%s", msg)
	return nil
}

// placed is the commit's tree, from the new manifest in the work folder.
func (v *volume) placed() (*Tree, error) {
	if v.placedTree == nil {
		m, err := readManifest(v.work, manifestName)
		if err == nil && m == nil {
			err = errors.New("the new manifest is gone")
		}
		if err != nil {
			return nil, err
		}
		v.placedTree = treeFromManifest(m)
	}
	return v.placedTree, nil
}

// undo undoes the steps, newest first, and removes the work folder.
func (v *volume) undo(j *journal) error {
	for i := len(j.Steps) - 1; i >= 0; i-- {
		if err := v.undoStep(j.Steps[i], j); err != nil {
			return err
		}
		crashPoint()
	}
	if err := v.work.Remove(journalName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return unwrapPath(err)
	}
	if err := syncDir(v.work); err != nil {
		return err
	}
	crashPoint()
	v.removeWork()
	return nil
}

// removeWork removes the work folder: only what the update staged and what it took from the project
// as planned (checked) is left in it.
func (v *volume) removeWork() {
	v.closeWork()
	if err := v.updates.RemoveAll(v.project); err != nil {
		v.warnf("could not remove the work folder %s/%s (%v); the next start removes it", UpdatesDir, v.project, unwrapPath(err))
	}
}

// rollBack undoes the journal's steps, newest first, and removes the work folder; cause is why. It
// returns cause, or an error wrapping ErrUnfinished if the roll back failed too.
func (v *volume) rollBack(j *journal, cause error) error {
	v.logf("rolling the update of project %s back: %v", v.project, cause)
	if err := writeAtomic(v.work, rollbackName, nil); err != nil {
		return fmt.Errorf("%w: %w; and cannot mark the update as rolling back (%v): the next start finishes it", ErrUnfinished, cause, unwrapPath(err))
	}
	crashPoint()
	if err := v.undo(j); err != nil {
		return fmt.Errorf("%w: %w; and the roll back failed (%v): the next start tries again", ErrUnfinished, cause, err)
	}
	if v.partial {
		return fmt.Errorf("%w. The update was rolled back: project %s is as it was, but for what the warnings name", cause, v.project)
	}
	return fmt.Errorf("%w. The update was rolled back: project %s is as it was", cause, v.project)
}

// commit moves the new manifest into place (the update is complete from here on), then marks the
// journal done and removes the work folder (the user's old versions of what was replaced or
// removed). switched says whether the manifest was moved: before that, a failure can still be rolled
// back.
func (v *volume) commit() (switched bool, err error) {
	if v.work.Exists(manifestName) {
		seeds, err := v.seeds()
		if err == nil {
			err = v.manifestSlot(seeds)
		}
		if err == nil {
			err = unwrapPath(v.work.Replace(manifestName, seeds, v.project))
		}
		if err != nil {
			return false, fmt.Errorf("cannot record the update of project %s: %w", v.project, err)
		}
		if err := syncDir(seeds); err != nil {
			return true, err
		}
	}
	crashPoint()
	if err := v.work.Replace(journalName, v.work, doneName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, fmt.Errorf("cannot mark the update of project %s as done: %w; the next start does", v.project, unwrapPath(err))
	}
	if err := syncDir(v.work); err != nil {
		return true, err
	}
	crashPoint()
	v.removeWork()
	return true, nil
}

// openWork opens the work folder (made by prepare, or left by an interrupted run) and its parts,
// making those missing.
func (v *volume) openWork(make bool) error {
	if err := v.openWorkFolder(make); err != nil {
		return err
	}
	return v.openWorkParts()
}

// openWorkFolder opens the work folder only (making it, if make), so that a recovery reads the
// journal before it changes anything there.
func (v *volume) openWorkFolder(make bool) error {
	if make {
		if err := v.updates.Mkdir(v.project, 0o700); err != nil {
			return fmt.Errorf("cannot create the work folder %s/%s: %w", UpdatesDir, v.project, unwrapPath(err))
		}
	}
	w, err := v.updates.OpenDir(v.project)
	if err != nil {
		return fmt.Errorf("cannot open the work folder %s/%s: %w", UpdatesDir, v.project, unwrapPath(err))
	}
	v.work = w
	return nil
}

// openWorkParts opens the parts of the open work folder, making those missing.
func (v *volume) openWorkParts() error {
	w := v.work
	var err error
	for _, part := range []struct {
		name string
		d    **Dir
	}{{stagingName, &v.staging}, {asideName, &v.aside}, {backName, &v.back}} {
		if err := w.Mkdir(part.name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cannot create the work folder: %w", unwrapPath(err))
		}
		if *part.d, err = w.OpenDir(part.name); err != nil {
			return fmt.Errorf("cannot open the work folder: %w", unwrapPath(err))
		}
	}
	return nil
}

// recover finishes or rolls back an interrupted update of the project (see Recover). The lock is held.
func (v *volume) recover() (string, error) {
	shown := UpdatesDir + "/" + v.project
	st, err := v.updates.Stat(v.project)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the work folder %s: %w", shown, unwrapPath(err))
	}
	if !st.Mode.IsDir() {
		// binder-projects makes only folders here: no update of the project was interrupted.
		if err := v.setAside(v.updates, UpdatesDir, v.project, st, notOurs(st, "folder")); err != nil {
			return "", err
		}
		return "cleaned", nil
	}
	if !ours(st) {
		return v.recoverForeign(st)
	}
	pst, err := v.root.Stat(v.project)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.logf("removing the work folder of an interrupted update of project %s, whose folder is gone", v.project)
		if err := v.updates.RemoveAll(v.project); err != nil {
			return "", fmt.Errorf("cannot remove the work folder %s: %w", shown, unwrapPath(err))
		}
		return "discarded", nil
	case err != nil:
		return "", fmt.Errorf("cannot read the project folder %s: %w", v.project, unwrapPath(err))
	case !pst.Mode.IsDir():
		return "", fmt.Errorf("%w: the folder of project %s is a %s (not followed), and the work folder %s of an interrupted update of it is kept: make %s a folder again (rename the %s away), then start again",
			ErrUnfinished, v.project, pst.Kind(), shown, v.project, pst.Kind())
	}
	if _, err := v.openProject(); err != nil {
		return "", fmt.Errorf("cannot open the folder of project %s: %w", v.project, err)
	}
	if err := v.openWorkFolder(false); err != nil {
		return "", err
	}
	if v.work.Exists(doneName) {
		// Complete: only the work folder (the user's old versions, checked) is left to remove.
		v.logf("removing what the finished update of project %s left", v.project)
		v.removeWork()
		return "finished", nil
	}
	data, err := v.work.ReadFile(journalName, maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		// Never prepared, or rolled back: the project is as before the update.
		v.logf("removing what an interrupted update of project %s left; it had not changed the project", v.project)
		v.removeWork()
		return "cleaned", nil
	}
	var j journal
	if err == nil {
		if err = json.Unmarshal(data, &j); err == nil {
			err = j.check(v.project)
		}
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the journal of an interrupted update of project %s (%v); the operator should look at %s on the volume", v.project, unwrapPath(err), shown)
	}
	if err := v.openWorkParts(); err != nil {
		return "", err
	}
	v.short = ShortCommit(j.Commit)
	if !v.work.Exists(manifestName) {
		// The new manifest was moved into place, which happens only once every step is done.
		v.logf("finishing the interrupted update of project %s to commit %s, which was complete", v.project, j.Commit)
		if _, err := v.commit(); err != nil {
			return "", fmt.Errorf("%w: %w", ErrUnfinished, err)
		}
		v.report(j.result())
		return "finished", nil
	}
	if j.Version == 1 || v.work.Exists(rollbackName) {
		if j.Version == 1 {
			v.warnf("the interrupted update of project %s to commit %s was journalled by an earlier version of binder-projects, which did not record what it planned to move: it is rolled back, not finished", v.project, j.Commit)
			if err := writeAtomic(v.work, rollbackName, nil); err != nil {
				return "", fmt.Errorf("%w: cannot mark the interrupted update of project %s as rolling back: %v", ErrUnfinished, v.project, unwrapPath(err))
			}
		} else {
			v.logf("rolling back the interrupted update of project %s to commit %s", v.project, j.Commit)
		}
		if err := v.undo(&j); err != nil {
			return "", fmt.Errorf("%w: cannot roll back the interrupted update of project %s: %v", ErrUnfinished, v.project, err)
		}
		if v.partial {
			v.warnf("the update of project %s was rolled back, but for what the warnings above name", v.project)
		}
		return "rolled-back", nil
	}
	v.logf("finishing the interrupted update of project %s to commit %s", v.project, j.Commit)
	for _, s := range j.Steps {
		if err := v.do(s); err != nil {
			cause := v.stepError("cannot finish the interrupted update of project "+v.project, s, err)
			rbErr := v.rollBack(&j, cause)
			if errors.Is(rbErr, ErrUnfinished) {
				return "", rbErr
			}
			v.warnf("%v", rbErr)
			return "rolled-back", nil
		}
		crashPoint()
	}
	switched, err := v.commit()
	if err != nil && !switched {
		rbErr := v.rollBack(&j, fmt.Errorf("cannot finish the interrupted update of project %s: %w", v.project, err))
		if errors.Is(rbErr, ErrUnfinished) {
			return "", rbErr
		}
		v.warnf("%v", rbErr)
		return "rolled-back", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnfinished, err)
	}
	v.report(j.result())
	return "finished", nil
}

// recoverForeign handles a work folder of another user (st): without a journal in it, it changed
// nothing in the project and is set aside; with one, or if it cannot be read, the project may be
// part-way through an update this user can neither finish nor roll back: refused.
func (v *volume) recoverForeign(st Stamp) (string, error) {
	shown := UpdatesDir + "/" + v.project
	if w, err := v.updates.OpenDir(v.project); err == nil {
		names, lerr := w.Names()
		w.Close()
		if lerr == nil && !slices.Contains(names, journalName) && !slices.Contains(names, rollbackName) {
			if err := v.setAside(v.updates, UpdatesDir, v.project, st, notOurs(st, "folder")+" and holding no journal (no update of the project was interrupted in it)"); err != nil {
				return "", err
			}
			return "cleaned", nil
		}
	}
	return "", fmt.Errorf("%w: the work folder %s is %s, and holds the journal of an update (or cannot be read): project %s may be part-way through an update that this user can neither finish nor roll back. The operator should finish it as uid %d (binder-projects recover) or look at it, then start again; the other projects are not concerned",
		ErrUnfinished, shown, notOurs(st, "folder"), v.project, st.Uid)
}

// result is what the journalled update did, for its report once finished.
func (j *journal) result() *Result {
	res := &Result{Commit: j.Commit, OldCommit: j.OldCommit, Based: j.Based, Summary: j.Summary}
	for _, n := range j.Notes {
		p, _ := unescapeName(n.Path)
		b, _ := unescapeName(n.Beside)
		res.Notes = append(res.Notes, Action{Kind: n.Kind, Path: p, Beside: b})
	}
	return res
}

// stepError is err of step s, for a message starting with prefix.
func (v *volume) stepError(prefix string, s step, err error) error {
	var np *notPlannedError
	if errors.As(err, &np) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return fmt.Errorf("%s: %s %s: %w", prefix, stepWord(s.Op), show(pathOf(s)), unwrapPath(err))
}

func stepWord(op string) string {
	switch op {
	case "aside":
		return "moving aside"
	case "place":
		return "putting in place"
	}
	return "changing the mode of"
}

// Recover finishes or rolls back an interrupted update of the project, as every start must before the
// server uses the project: with the journal there (prepared), it is rolled forward ("finished") if
// every entry it moves is still the one planned, else rolled back ("rolled-back", with a warning that
// says why); if it was being rolled back, or was journalled by version 1 of the format, it is rolled
// back ("rolled-back"); with the journal marked done, the work folder is removed ("finished": the
// update was complete); with neither, the work folder is removed ("cleaned": the update had not
// changed the project, or had been rolled back). A work folder of a project whose folder is gone is
// removed ("discarded"). Something at the work folder's name that binder-projects did not make is set
// aside ("cleaned", with a warning), or, a folder of another user holding a journal, refused. It
// returns "" if there was nothing to do.
func Recover(root, project string, log Logger) (string, []string, error) {
	v, err := openVolume(root, project, log)
	if err != nil {
		return "", nil, err
	}
	defer v.close()
	st, err := v.root.Stat(UpdatesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil // never updated: nothing to take a lock for
	}
	if err := v.lock(); err != nil {
		var fe *foreignUpdatesError
		if errors.As(err, &fe) && !fe.concerns(project) || !errors.As(err, &fe) && (!st.Mode.IsDir() || !ours(st)) {
			// Nothing of this project's is in there (binder-projects never made it): it starts.
			v.warnf("%v", err)
			return "", v.warnings, nil
		}
		return "", v.warnings, v.lockError(err)
	}
	state, err := v.recover()
	return state, v.warnings, err
}
