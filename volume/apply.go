package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrBadInput: a bad root, project name, source or commit. Nothing was changed.
	ErrBadInput = errors.New("bad input")
	// ErrUnfinished: an update failed and could not be rolled back either (its journal is kept); the
	// next Update, Recover or a start's recovery finishes or rolls it back. Every other error of Update
	// means the project is exactly as it was before.
	ErrUnfinished = errors.New("update unfinished")
)

// Names in a project's work folder (WorkPath).
const (
	stagingName  = "staging"  // staging/<n>: what action n puts in place, copied from the image
	asideName    = "aside"    // aside/<n>: what action n took away, until the update is complete
	manifestName = "manifest" // the new manifest, moved into SeedsDir when the update is complete
	journalName  = "journal"  // the plan's steps: its presence means "prepared"
	doneName     = "done"     // the journal, renamed once the update is complete
	rollbackName = "rollback" // present: the update is being rolled back
	lockName     = ".lock"    // UpdatesDir/.lock: the volume's update lock
)

// Logger receives the human log lines (without the "binder-projects: " prefix).
type Logger func(line string)

// Options says what to update.
type Options struct {
	// Root is the volume's mount point; the project is Root/Project.
	Root, Project string
	// Source is the new image's home, e.g. /home/jovyan; it may be a symbolic link to a folder.
	Source string
	// Commit names the new version (e.g. the commit BinderHub resolved).
	Commit string
	Log    Logger
}

// Result is what an update did.
type Result struct {
	Commit string
	// OldCommit is the manifest's commit before ("" if there was no manifest).
	OldCommit string
	Based     bool
	Summary   Summary
	// Notes are the actions a person should hear about: kept files, new versions beside them, files
	// left deleted, folders made again.
	Notes []Action
	// Recovered says what became of an interrupted earlier update: "" (there was none), "finished",
	// "rolled-back", "cleaned" or "discarded" (see Recover).
	Recovered string
	Warnings  []string
}

// step is one change the journal records; each is done and undone idempotently.
type step struct {
	Op   string `json:"op"` // "aside", "place", "chmod" (the user's entry) or "chmod-placed"
	ID   int    `json:"id,omitempty"`
	Path string `json:"path"` // escaped (escapeName)
	Mode string `json:"mode,omitempty"`
	Old  string `json:"old,omitempty"`
}

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

// volume is one run's view of the volume: its root, the project and the locked updates folder.
type volume struct {
	root, project string
	log           Logger
	warnings      []string
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

func (v *volume) projectDir() string { return filepath.Join(v.root, v.project) }
func (v *volume) work() string       { return WorkPath(v.root, v.project) }
func (v *volume) workPath(parts ...string) string {
	return filepath.Join(append([]string{v.work()}, parts...)...)
}

// checkProject checks the inputs every command shares.
func checkProject(root, project string) error {
	if !filepath.IsAbs(root) {
		return fmt.Errorf("%w: the volume root must be an absolute path", ErrBadInput)
	}
	if project == "" || len(project) > 255 || project[0] == '.' || strings.Trim(project, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return fmt.Errorf("%w: the project name must be 1 to 255 of A-Z a-z 0-9 . _ - and not start with a dot", ErrBadInput)
	}
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		return fmt.Errorf("%w: the volume root is not a folder", ErrBadInput)
	}
	return nil
}

// reservedDir makes sure root/name is a real folder (never a symbolic link a user put there), making it
// if it is missing.
func reservedDir(root, name string) error {
	p := filepath.Join(root, name)
	err := os.Mkdir(p, 0o755)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cannot create %s at the volume root: %w", name, unwrapPath(err))
	}
	info, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("cannot read %s at the volume root: %w", name, unwrapPath(err))
	}
	if !info.IsDir() {
		return fmt.Errorf("%s at the volume root is a %s, not a folder; the name is reserved for binder-projects: rename or remove it, then start again", name, typeWord(info.Mode()))
	}
	return nil
}

// lock takes the volume's update lock (waiting for another run to end); unlock releases it. Where
// flock(2) does not work, a warning says so and the run goes on: the caller must then make sure no two
// runs update one volume at once.
func (v *volume) lock() (unlock func(), err error) {
	if err := reservedDir(v.root, UpdatesDir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(v.root, UpdatesDir, lockName), os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the update lock %s/%s: %w", UpdatesDir, lockName, unwrapPath(err))
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		v.warnf("cannot lock %s/%s (%v): nothing stops another start from updating this volume at the same time", UpdatesDir, lockName, err)
	}
	return func() { f.Close() }, nil
}

// Update brings the project at opts.Root/opts.Project to the image home opts.Source of opts.Commit,
// keeping the user's changes (see the package documentation). It first finishes or rolls back an
// interrupted earlier update of the project. On an error, the project is as it was before, unless the
// error wraps ErrUnfinished.
func Update(opts Options) (*Result, error) {
	if err := checkProject(opts.Root, opts.Project); err != nil {
		return nil, err
	}
	if err := CheckCommit(opts.Commit); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if !filepath.IsAbs(opts.Source) {
		return nil, fmt.Errorf("%w: the image's home must be an absolute path", ErrBadInput)
	}
	v := &volume{root: opts.Root, project: opts.Project, log: opts.Log}
	unlock, err := v.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &Result{Commit: opts.Commit}
	defer func() { res.Warnings = v.warnings }()
	crashPoint()
	if res.Recovered, err = v.recover(); err != nil {
		return nil, err
	}

	if err := reservedDir(v.root, SeedsDir); err != nil {
		return nil, err
	}
	base, err := ReadManifest(v.root, v.project)
	if err != nil {
		v.warnf("the record of what project %s was seeded with cannot be read (%v); every file counts as your own", v.project, err)
		base = nil
	}
	if base != nil {
		res.OldCommit = base.Commit
	}
	current, err := ScanTree(v.projectDir(), false, false)
	if err != nil {
		return nil, fmt.Errorf("cannot update project %s: the project folder: %w", v.project, err)
	}
	for _, w := range current.Warnings {
		v.warnf("%s", w)
	}
	source, err := ScanTree(opts.Source, true, true)
	if err != nil {
		return nil, fmt.Errorf("cannot update project %s from the image's home folder: %w", v.project, err)
	}
	for _, w := range source.Warnings {
		v.warnf("the image's home: %s (not copied)", w)
	}
	plan, err := MakePlan(base, current, source, opts.Commit)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	v.preflight(plan)
	res.Based, res.Summary = plan.Based, plan.Summary
	for _, a := range plan.Actions {
		if a.Kind != KindAdd && a.Kind != KindReplace && a.Kind != KindRemove && a.Kind != KindMode {
			res.Notes = append(res.Notes, a)
		}
	}
	if err := v.blocked(plan); err != nil {
		return nil, err
	}
	manifest, err := source.Manifest(v.project, opts.Commit)
	if err != nil {
		return nil, err
	}
	data, err := manifest.Encode()
	if err != nil {
		return nil, err
	}
	j := &journal{Version: ManifestVersion, Project: v.project, Commit: opts.Commit, OldCommit: res.OldCommit, Based: plan.Based, Summary: plan.Summary}
	for _, a := range res.Notes {
		j.Notes = append(j.Notes, noteJSON{Kind: a.Kind, Path: escapeName(a.Path), Beside: escapeName(a.Beside)})
	}
	j.Steps = steps(plan)
	if len(j.Steps) == 0 {
		// Nothing to change in the project: only the record moves to the commit.
		if err := writeFileAtomic(ManifestPath(v.root, v.project), data); err != nil {
			return nil, fmt.Errorf("cannot record project %s at commit %s: %w", v.project, opts.Commit, unwrapPath(err))
		}
		v.report(res)
		return res, nil
	}
	pausePoint("planned")
	if err := v.prepare(plan, j, data); err != nil {
		return nil, err
	}
	pausePoint("prepared")
	if err := v.apply(j); err != nil {
		return nil, err
	}
	v.report(res)
	return res, nil
}

// preflight drops the mode changes this user may not make (a file of another owner), with a warning.
func (v *volume) preflight(plan *Plan) {
	uid := os.Geteuid()
	plan.Actions = slices.DeleteFunc(plan.Actions, func(a Action) bool {
		if a.Kind != KindMode || uid == 0 {
			return false
		}
		info, err := os.Lstat(filepath.Join(v.projectDir(), a.Path))
		if err == nil && info.Sys().(*syscall.Stat_t).Uid == uint32(uid) {
			return false
		}
		v.warnf("the commit changed the mode of %s, which this user (uid %d) does not own; its mode is left as it is", show(a.Path), uid)
		plan.Summary.Modes--
		return true
	})
}

// blocked checks that this user may rename in every folder of the project the plan changes, so that a
// read-only folder fails the update before anything is changed.
func (v *volume) blocked(plan *Plan) error {
	if os.Geteuid() == 0 {
		return nil
	}
	check := func(dir string, what string) error {
		e := plan.current.Get(dir)
		if e == nil || e.Type != TypeDir {
			return nil // made by this update
		}
		if err := syscall.Access(filepath.Join(v.projectDir(), dir), 2|1); err != nil {
			where := "folder " + show(dir)
			if dir == "" {
				where = "the project folder"
			}
			return fmt.Errorf("cannot update project %s: %s is not writable by this user (uid %d, mode %04o), so %s cannot be changed; make it writable (chmod u+w) from a terminal, then start again. Nothing was changed",
				v.project, where, os.Geteuid(), modeBits(e.Mode), what)
		}
		return nil
	}
	for _, a := range plan.Actions {
		var err error
		switch a.Kind {
		case KindAdd, KindMakeDir, KindRemove, KindReplace:
			err = check(parentOf(a.Path), show(a.Path))
			if err == nil && a.Kind != KindAdd && a.Kind != KindMakeDir && plan.current.Get(a.Path).Type == TypeDir {
				err = check(a.Path, show(a.Path)) // a folder moved aside changes its ".."
			}
		case KindBeside:
			err = check(parentOf(a.Path), show(a.Beside))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// steps turns a plan into the journal's steps: renames in the plan's order (a folder made again comes
// before what goes into it), then the mode changes, deepest first (a read-only folder is made so only
// once nothing more goes into it).
func steps(plan *Plan) []step {
	var out, modes []step
	// chmod changes the mode of what action i placed at p (placed: undone only while it is in place)
	// or of the user's p (i < 0).
	chmod := func(i int, p string, mode, old fs.FileMode) {
		s := step{Op: "chmod", Path: escapeName(p), Mode: fmt.Sprintf("%04o", modeBits(mode)), Old: fmt.Sprintf("%04o", modeBits(old))}
		if i >= 0 {
			s.Op, s.ID = "chmod-placed", i
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
			out = append(out, step{Op: "aside", ID: i, Path: escapeName(a.Path)}, step{Op: "place", ID: i, Path: escapeName(a.Path)})
			if isDir {
				chmod(i, a.Path, a.Mode, stagedDirMode(a.Mode, a.Kind))
			}
		case KindRemove:
			out = append(out, step{Op: "aside", ID: i, Path: escapeName(a.Path)})
		case KindBeside:
			out = append(out, step{Op: "place", ID: i, Path: escapeName(a.Beside)})
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

// stagedDirMode is the mode a staged folder has until the update's last steps give it its own: the
// owner may write it (a folder is moved only if it may be written: its ".." changes), and a folder
// made again is private until then.
func stagedDirMode(mode fs.FileMode, kind Kind) fs.FileMode {
	if kind == KindMakeDir {
		return 0o700
	}
	return mode | 0o700
}

// prepare stages every new file in the work folder, writes the new manifest there, then the journal:
// once the journal is there, the update is prepared and is only ever rolled forward. On failure the
// work folder is removed and nothing was changed.
func (v *volume) prepare(plan *Plan, j *journal, manifest []byte) (err error) {
	w := v.work()
	if err := os.Mkdir(w, 0o755); err != nil {
		return fmt.Errorf("cannot create the work folder %s/%s: %w", UpdatesDir, v.project, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			if rmErr := removeTree(w); rmErr != nil {
				v.warnf("could not remove the work folder %s/%s (%v); the next start removes it", UpdatesDir, v.project, rmErr)
			}
			err = v.space(err, "Nothing was changed.")
		}
	}()
	for _, d := range []string{stagingName, asideName} {
		if err := os.Mkdir(filepath.Join(w, d), 0o755); err != nil {
			return fmt.Errorf("cannot create the work folder: %w", unwrapPath(err))
		}
	}
	crashPoint()
	for i, a := range plan.Actions {
		dst := v.workPath(stagingName, strconv.Itoa(i))
		switch a.Kind {
		case KindAdd, KindReplace, KindBeside:
			err = stage(plan.source, a.Path, dst, a.Mode, stagedDirMode(a.Mode, a.Kind))
		case KindMakeDir:
			err = os.Mkdir(dst, 0o700)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot copy %s from the image's home folder: %w", show(a.Path), unwrapPath(err))
		}
		crashPoint()
	}
	if err := syncDir(v.workPath(stagingName)); err != nil {
		return err
	}
	if err := writeFileAtomic(v.workPath(manifestName), manifest); err != nil {
		return fmt.Errorf("cannot write the new manifest: %w", unwrapPath(err))
	}
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(v.workPath(journalName), data); err != nil {
		return fmt.Errorf("cannot write the update's journal: %w", unwrapPath(err))
	}
	crashPoint()
	return nil
}

// space adds how full the volume is to err if it says the volume is full.
func (v *volume) space(err error, what string) error {
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return err
	}
	var st syscall.Statfs_t
	usage := ""
	if syscall.Statfs(v.root, &st) == nil && st.Blocks > 0 {
		total := st.Blocks * uint64(st.Bsize)
		used := total - st.Bfree*uint64(st.Bsize)
		usage = fmt.Sprintf(" (%d MiB of %d MiB used)", used>>20, total>>20)
	}
	return fmt.Errorf("cannot update project %s: the volume is full%s: %w. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. %s", v.project, usage, err, what)
}

// stage copies path p of the image's tree t to dst, never following a symbolic link below the top:
// a file with mode top (synced, its hash checked against the scan's), a link, or a folder with what it
// holds (its top with mode topDir until the update's last steps; below, the image's modes). Times are
// the image's.
func stage(t *Tree, p, dst string, top, topDir fs.FileMode) error {
	e := t.Get(p)
	src := filepath.Join(t.dir, p)
	switch e.Type {
	case TypeSymlink:
		return os.Symlink(e.Target, dst)
	case TypeFile:
		return copyFile(src, dst, top, e.SHA256)
	case TypeDir:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		for _, name := range t.Children(p) {
			c := joinPath(p, name)
			ce := t.Get(c)
			if ce.Type == TypeOther {
				continue
			}
			if err := stage(t, c, filepath.Join(dst, name), ce.Mode, ce.Mode); err != nil {
				return err
			}
		}
		if err := syncDir(dst); err != nil {
			return err
		}
		if err := os.Chmod(dst, topDir); err != nil {
			return err
		}
		info, err := os.Stat(src)
		if err != nil {
			return err
		}
		return os.Chtimes(dst, info.ModTime(), info.ModTime())
	}
	return nil
}

// copyFile copies the regular file src (not followed if a link) to the new file dst with mode, synced;
// it fails if the content's SHA-256 is not sum.
func copyFile(src, dst string, mode fs.FileMode, sum string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	h := newHash()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		return err
	}
	if got := hexSum(h); got != sum {
		return fmt.Errorf("its content changed while the update read it")
	}
	if err := out.Chmod(mode); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, info.ModTime(), info.ModTime())
}

// apply carries out a prepared journal: each step, then the switch of the manifest, then the work
// folder's removal. A failing step rolls the update back.
func (v *volume) apply(j *journal) error {
	for i, s := range j.Steps {
		pausePoint(fmt.Sprintf("step %d", i))
		err := v.do(s)
		if err == nil && failStep(i) {
			err = errTestFail
		}
		if err != nil {
			p, _ := unescapeName(s.Path)
			err = fmt.Errorf("cannot update project %s: %s %s: %w", v.project, stepWord(s.Op), show(p), unwrapPath(err))
			return v.rollBack(j, err)
		}
		crashPoint()
	}
	return v.commit()
}

func stepWord(op string) string {
	switch op {
	case "chmod-placed":
		return "changing the mode of"
	case "aside":
		return "moving aside"
	case "place":
		return "putting in place"
	}
	return "changing the mode of"
}

// commit moves the new manifest into place (the update is complete from here on), then marks the
// journal done and removes the work folder (the user's old versions of what was replaced or removed).
func (v *volume) commit() error {
	if err := reservedDir(v.root, SeedsDir); err != nil {
		return err
	}
	src := v.workPath(manifestName)
	if _, err := os.Lstat(src); err == nil {
		if err := os.Rename(src, ManifestPath(v.root, v.project)); err != nil {
			return fmt.Errorf("cannot record the update of project %s: %w; the next start tries again", v.project, unwrapPath(err))
		}
		if err := syncDir(filepath.Join(v.root, SeedsDir)); err != nil {
			return err
		}
	}
	crashPoint()
	if err := os.Rename(v.workPath(journalName), v.workPath(doneName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot mark the update of project %s as done: %w; the next start does", v.project, unwrapPath(err))
	}
	if err := syncDir(v.work()); err != nil {
		return err
	}
	crashPoint()
	if err := removeTree(v.work()); err != nil {
		v.warnf("could not remove the work folder %s/%s (%v); the next start removes it", UpdatesDir, v.project, err)
	}
	return nil
}

// rollBack undoes the journal's steps, newest first, and removes the work folder; cause is why. It
// returns cause, or an error wrapping ErrUnfinished if the roll back failed too.
func (v *volume) rollBack(j *journal, cause error) error {
	v.logf("rolling the update of project %s back: %v", v.project, cause)
	if err := writeFileAtomic(v.workPath(rollbackName), nil); err != nil {
		return fmt.Errorf("%w: %w; and cannot mark the update as rolling back (%v): the next start finishes it", ErrUnfinished, cause, unwrapPath(err))
	}
	crashPoint()
	if err := v.undo(j); err != nil {
		return fmt.Errorf("%w: %w; and the roll back failed (%v): the next start tries again", ErrUnfinished, cause, err)
	}
	return fmt.Errorf("%w. The update was rolled back: project %s is as it was", cause, v.project)
}

// undo undoes the steps and removes the work folder.
func (v *volume) undo(j *journal) error {
	for i := len(j.Steps) - 1; i >= 0; i-- {
		if err := v.undoStep(j.Steps[i]); err != nil {
			return err
		}
		crashPoint()
	}
	if err := os.Remove(v.workPath(journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return unwrapPath(err)
	}
	if err := syncDir(v.work()); err != nil {
		return err
	}
	crashPoint()
	if err := removeTree(v.work()); err != nil {
		v.warnf("could not remove the work folder %s/%s (%v); the next start removes it", UpdatesDir, v.project, err)
	}
	return nil
}

// paths of a step: in the project, and in the work folder.
func (v *volume) paths(s step) (project, work string, err error) {
	p, err := unescapeName(s.Path)
	if err != nil || !validPath(p) {
		return "", "", fmt.Errorf("the journal holds a bad path %q", s.Path)
	}
	project = filepath.Join(v.projectDir(), p)
	switch s.Op {
	case "aside":
		work = v.workPath(asideName, strconv.Itoa(s.ID))
	case "place", "chmod-placed":
		work = v.workPath(stagingName, strconv.Itoa(s.ID))
	}
	return project, work, nil
}

// do carries out one step; a step done already is not done again.
func (v *volume) do(s step) error {
	project, work, err := v.paths(s)
	if err != nil {
		return err
	}
	switch s.Op {
	case "aside":
		if exists(work) {
			return nil
		}
		return renameNoReplace(project, work)
	case "place":
		if !exists(work) {
			return nil
		}
		return renameNoReplace(work, project)
	case "chmod", "chmod-placed":
		return chmodNoFollow(project, s.Mode)
	}
	return fmt.Errorf("the journal holds an unknown step %q", s.Op)
}

// undoStep undoes one step; a step not done (or undone already) is left.
func (v *volume) undoStep(s step) error {
	project, work, err := v.paths(s)
	if err != nil {
		return err
	}
	switch s.Op {
	case "aside":
		if !exists(work) {
			return nil
		}
		return renameNoReplace(work, project)
	case "place":
		if exists(work) || !exists(project) {
			return nil
		}
		return renameNoReplace(project, work)
	case "chmod":
		// The user's entry, which no step moves: its old mode back.
		return chmodNoFollow(project, s.Old)
	case "chmod-placed":
		// The entry a step placed, only while it is in place (else project may be the user's entry
		// again): writable again, so that it can be moved back.
		if exists(work) || !exists(project) {
			return nil
		}
		return chmodNoFollow(project, s.Old)
	}
	return fmt.Errorf("the journal holds an unknown step %q", s.Op)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// chmodNoFollow sets the mode (octal text) of p, which must not be a symbolic link.
func chmodNoFollow(p, mode string) error {
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil {
		return fmt.Errorf("the journal holds a bad mode %q", mode)
	}
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("it became a symbolic link")
	}
	return os.Chmod(p, fromModeBits(uint32(m)))
}

// renameNoReplace renames src to dst, failing if dst exists (renameat2 RENAME_NOREPLACE where the
// kernel and file system have it; else a check, then rename).
func renameNoReplace(src, dst string) error {
	if sysRenameat2 != 0 {
		s, err := syscall.BytePtrFromString(src)
		if err != nil {
			return err
		}
		d, err := syscall.BytePtrFromString(dst)
		if err != nil {
			return err
		}
		atFDCWD := -100
		_, _, e := syscall.Syscall6(sysRenameat2, uintptr(atFDCWD), uintptr(unsafe.Pointer(s)), uintptr(atFDCWD), uintptr(unsafe.Pointer(d)), 1 /* RENAME_NOREPLACE */, 0)
		switch e {
		case 0:
			return nil
		case syscall.ENOSYS, syscall.EINVAL:
			// no renameat2 here: check, then rename
		default:
			return &os.LinkError{Op: "rename", Old: src, New: dst, Err: e}
		}
	}
	if exists(dst) {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: fs.ErrExist}
	}
	return os.Rename(src, dst)
}

// removeTree removes p and everything below it, never following a symbolic link; folders that are
// not writable are made so first. A missing p is removed already.
func removeTree(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return unwrapPath(os.RemoveAll(p))
}

// recover finishes or rolls back an interrupted update of the project (see Recover). The lock is held.
func (v *volume) recover() (string, error) {
	w := v.work()
	info, err := os.Lstat(w)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the work folder %s/%s: %w", UpdatesDir, v.project, unwrapPath(err))
	}
	if !info.IsDir() {
		if err := os.Remove(w); err != nil {
			return "", fmt.Errorf("cannot remove %s/%s, which is not a folder: %w", UpdatesDir, v.project, unwrapPath(err))
		}
		return "cleaned", nil
	}
	if pinfo, err := os.Lstat(v.projectDir()); errors.Is(err, fs.ErrNotExist) || (err == nil && (!pinfo.IsDir() || pinfo.Mode()&fs.ModeSymlink != 0)) {
		v.logf("removing the work folder of an interrupted update of project %s, whose folder is gone", v.project)
		if err := removeTree(w); err != nil {
			return "", fmt.Errorf("cannot remove the work folder %s/%s: %w", UpdatesDir, v.project, err)
		}
		return "discarded", nil
	}
	if exists(v.workPath(doneName)) {
		// Complete: only the work folder (the user's old versions) is left to remove.
		v.logf("removing what the finished update of project %s left", v.project)
		if err := removeTree(w); err != nil {
			return "", fmt.Errorf("cannot remove the work folder %s/%s: %w", UpdatesDir, v.project, err)
		}
		return "finished", nil
	}
	data, err := os.ReadFile(v.workPath(journalName))
	if errors.Is(err, fs.ErrNotExist) {
		// Never prepared, or rolled back: the project is as before the update.
		v.logf("removing what an interrupted update of project %s left; it had not changed the project", v.project)
		if err := removeTree(w); err != nil {
			return "", fmt.Errorf("cannot remove the work folder %s/%s: %w", UpdatesDir, v.project, err)
		}
		return "cleaned", nil
	}
	var j journal
	if err == nil {
		err = json.Unmarshal(data, &j)
		if err == nil && (j.Version != ManifestVersion || j.Project != v.project) {
			err = fmt.Errorf("version %d of project %q", j.Version, j.Project)
		}
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the journal of an interrupted update of project %s (%v); the operator should look at %s/%s on the volume", v.project, unwrapPath(err), UpdatesDir, v.project)
	}
	if exists(v.workPath(rollbackName)) {
		v.logf("rolling back the interrupted update of project %s to commit %s", v.project, j.Commit)
		if err := v.undo(&j); err != nil {
			return "", fmt.Errorf("%w: cannot roll back the interrupted update of project %s: %v", ErrUnfinished, v.project, err)
		}
		return "rolled-back", nil
	}
	v.logf("finishing the interrupted update of project %s to commit %s", v.project, j.Commit)
	for i, s := range j.Steps {
		if err := v.do(s); err != nil {
			p, _ := unescapeName(s.Path)
			err = fmt.Errorf("cannot finish the interrupted update of project %s: %s %s: %w", v.project, stepWord(s.Op), show(p), unwrapPath(err))
			if rbErr := v.rollBack(&j, err); errors.Is(rbErr, ErrUnfinished) {
				return "", rbErr
			}
			v.logf("%v", err)
			return "rolled-back", nil
		}
		_ = i
		crashPoint()
	}
	if err := v.commit(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnfinished, err)
	}
	res := &Result{Commit: j.Commit, OldCommit: j.OldCommit, Based: j.Based, Summary: j.Summary}
	for _, n := range j.Notes {
		p, _ := unescapeName(n.Path)
		b, _ := unescapeName(n.Beside)
		res.Notes = append(res.Notes, Action{Kind: n.Kind, Path: p, Beside: b})
	}
	v.report(res)
	return "finished", nil
}

// Recover finishes or rolls back an interrupted update of the project, as every start must before the
// server uses the project: with the journal there (prepared), it is rolled forward ("finished"), or,
// if it was being rolled back, rolled back ("rolled-back"); with the journal marked done, the work
// folder is removed ("finished": the update was complete); with neither, the work folder is removed
// ("cleaned": the update had not changed the project, or had been rolled back). A work folder of a
// project whose folder is gone is removed ("discarded"). It returns "" if there was nothing to do.
func Recover(root, project string, log Logger) (string, []string, error) {
	if err := checkProject(root, project); err != nil {
		return "", nil, err
	}
	v := &volume{root: root, project: project, log: log}
	if _, err := os.Lstat(filepath.Join(root, UpdatesDir)); errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil // never updated: nothing to take a lock for
	}
	unlock, err := v.lock()
	if err != nil {
		return "", v.warnings, err
	}
	defer unlock()
	state, err := v.recover()
	return state, v.warnings, err
}

// report logs what an update did.
func (v *volume) report(r *Result) {
	from := "commit " + r.OldCommit
	if !r.Based {
		from = "a seed without a record of it (every file counted as yours)"
	}
	s := r.Summary
	v.logf("updated project %s from %s to commit %s: %d replaced, %d added, %d removed, %d of yours kept (%d with the new version beside), %d left deleted, %d modes changed",
		v.project, from, r.Commit, s.Replaced, s.Added, s.Removed, s.Kept, s.Beside, s.StayedDeleted, s.Modes)
	const most = 50
	for i, a := range r.Notes {
		if i == most {
			v.logf("... and %d more", len(r.Notes)-most)
			break
		}
		switch a.Kind {
		case KindBeside:
			v.logf("kept your %s; the commit's version is %s", show(a.Path), show(a.Beside))
		case KindKeep:
			v.logf("kept your %s, which the commit removed", show(a.Path))
		case KindStayDeleted:
			v.logf("left %s deleted (you deleted it; the commit changed it)", show(a.Path))
		case KindMakeDir:
			v.logf("made folder %s again, to hold what the commit adds in it (you had deleted it)", show(a.Path))
		}
	}
}

// RecordResult is what Record recorded.
type RecordResult struct {
	Files, Dirs, Links int
	Bytes              int64
	// Discarded says that the work folder of an update of an earlier project of this name was removed.
	Discarded bool
	Warnings  []string
}

// Record writes the manifest of project, just seeded from the image of commit: every file, folder and
// link in it. Call it only right after the project folder was made: a work folder of an earlier
// project of this name (deleted while an update of it was interrupted) is removed first. The manifest
// is written atomically: a killed Record leaves the old manifest or none.
func Record(root, project, commit string, log Logger) (*RecordResult, error) {
	if err := checkProject(root, project); err != nil {
		return nil, err
	}
	if err := CheckCommit(commit); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	v := &volume{root: root, project: project, log: log}
	unlock, err := v.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &RecordResult{}
	defer func() { res.Warnings = v.warnings }()
	crashPoint()
	if exists(v.work()) {
		v.logf("removing the work folder of an interrupted update of an earlier project %s", project)
		if err := removeTree(v.work()); err != nil {
			return nil, fmt.Errorf("cannot remove the work folder %s/%s of an earlier project of this name: %w", UpdatesDir, project, err)
		}
		res.Discarded = true
	}
	if err := reservedDir(root, SeedsDir); err != nil {
		return nil, err
	}
	removeOldTemps(filepath.Join(root, SeedsDir))
	t, err := ScanTree(v.projectDir(), false, true)
	if err != nil {
		return nil, fmt.Errorf("cannot record project %s: the project folder: %w", project, err)
	}
	for _, w := range t.Warnings {
		v.warnf("%s (not recorded)", w)
	}
	m, err := t.Manifest(project, commit)
	if err != nil {
		return nil, err
	}
	for _, e := range m.Entries {
		switch e.Type {
		case TypeFile:
			res.Files++
			res.Bytes += e.Size
		case TypeDir:
			res.Dirs++
		case TypeSymlink:
			res.Links++
		}
	}
	data, err := m.Encode()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(ManifestPath(root, project), data); err != nil {
		return nil, v.space(fmt.Errorf("cannot record project %s: %w", project, unwrapPath(err)), "Project "+project+" is ready, but its later updates count every file as yours.")
	}
	crashPoint()
	v.logf("recorded what project %s was seeded with at commit %s: %d files, %d folders, %d links, %d bytes", project, commit, res.Files, res.Dirs, res.Links, res.Bytes)
	return res, nil
}

// removeOldTemps removes the temporary files (.tmp-*) a killed write left in dir, once they are an
// hour old (a younger one may be another start's, writing right now).
func removeOldTemps(dir string) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), ".tmp-") {
			continue
		}
		if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > time.Hour && info.Mode().IsRegular() {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}
