package volume

import (
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/binder-projects/binder-projects/contract"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrBadInput: a bad root, project name, source or commit. Nothing was changed.
	ErrBadInput = errors.New("bad input")
	// ErrUnfinished: an update failed and could not be rolled back either (its journal is kept); the
	// next Update, Recover or a start's recovery finishes or rolls it back. Every other error of Update
	// means the project is as it was before (an error wrapping ErrNotPlanned: the user changed an
	// entry while the update ran; the user's version is kept, as the error and the warnings say).
	ErrUnfinished = errors.New("update unfinished")
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

// Update brings the project at opts.Root/opts.Project to the image home opts.Source of opts.Commit,
// keeping the user's changes (see the package documentation). It first finishes or rolls back an
// interrupted earlier update of the project. On an error, the project is as it was before, unless the
// error wraps ErrUnfinished.
func Update(opts Options) (*Result, error) {
	if err := checkProject(opts.Root, opts.Project); err != nil {
		return nil, err
	}
	if err := contract.CheckCommit(opts.Commit); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if !filepath.IsAbs(opts.Source) {
		return nil, fmt.Errorf("%w: the image's home must be an absolute path", ErrBadInput)
	}
	v, err := openVolume(opts.Root, opts.Project, opts.Log)
	if err != nil {
		return nil, err
	}
	defer v.close()
	if err := v.lock(); err != nil {
		return nil, v.lockError(err)
	}
	res := &Result{Commit: opts.Commit}
	defer func() { res.Warnings = v.warnings }()
	crashPoint()
	if res.Recovered, err = v.recover(); err != nil {
		return nil, err
	}
	v.short, v.partial = ShortCommit(opts.Commit), false

	seeds, err := v.seeds()
	if err != nil {
		return nil, fmt.Errorf("cannot update project %s: %w", v.project, err)
	}
	if err := v.manifestSlot(seeds); err != nil {
		return nil, fmt.Errorf("cannot update project %s: %w", v.project, err)
	}
	base, err := readManifest(seeds, v.project)
	if err != nil {
		v.warnf("the record of what project %s was seeded with cannot be read (%v); every file counts as your own", v.project, err)
		base = nil
	}
	if base != nil {
		res.OldCommit = base.Commit
	}
	proj, err := v.openProject()
	if err != nil {
		return nil, fmt.Errorf("cannot update project %s: the project folder: %w", v.project, err)
	}
	current, err := scanDir(proj, false)
	if err != nil {
		return nil, fmt.Errorf("cannot update project %s: the project folder: %w", v.project, err)
	}
	for _, w := range current.Warnings {
		v.warnf("%s", w)
	}
	src, err := openTop(opts.Source, true)
	if err != nil {
		return nil, fmt.Errorf("cannot update project %s from the image's home folder: %w", v.project, err)
	}
	defer src.Close()
	source, err := scanDir(src, true)
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
	j := &journal{Version: journalVersion, Project: v.project, Commit: opts.Commit, OldCommit: res.OldCommit, Based: plan.Based, Summary: plan.Summary}
	for _, a := range res.Notes {
		j.Notes = append(j.Notes, noteJSON{Kind: a.Kind, Path: escapeName(a.Path), Beside: escapeName(a.Beside)})
	}
	j.Steps = steps(plan)
	if len(j.Steps) == 0 {
		// Nothing to change in the project: only the record moves to the commit.
		if err := writeAtomic(seeds, v.project, data); err != nil {
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
		if st, ok := plan.current.stamps[a.Path]; ok && st.Uid == uint32(uid) {
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
		d, err := v.proj.OpenPath(dir)
		if err != nil {
			return fmt.Errorf("cannot update project %s: %w. Nothing was changed", v.project, v.unreachable(dir, err))
		}
		err = d.Writable()
		d.Close()
		if err != nil {
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

// stagedDirMode is the mode a staged folder has until the update's last steps give it its own: the
// owner may write it (a folder is moved only if it may be written: its ".." changes), and a folder
// made again is private until then.
func stagedDirMode(mode fs.FileMode, kind Kind) fs.FileMode {
	if kind == KindMakeDir {
		return 0o700
	}
	return mode | 0o700
}

// prepare stages every new file in the work folder, writes the new manifest there, then the journal
// (with what each step expects of a staged entry): once the journal is there, the update is prepared.
// On failure the work folder is removed and nothing was changed.
func (v *volume) prepare(plan *Plan, j *journal, manifest []byte) (err error) {
	if err := v.openWork(true); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			v.removeWork()
		}
		return v.space(err, "Nothing was changed.")
	}
	defer func() {
		if err != nil {
			v.removeWork()
			err = v.space(err, "Nothing was changed.")
		}
	}()
	crashPoint()
	for i, a := range plan.Actions {
		n := strconv.Itoa(i)
		switch a.Kind {
		case KindAdd, KindReplace, KindBeside:
			err = stage(plan.source, a.Path, v.staging, n, a.Mode, stagedDirMode(a.Mode, a.Kind))
		case KindMakeDir:
			err = v.staging.Mkdir(n, 0o700)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot copy %s from the image's home folder: %w", show(a.Path), unwrapPath(err))
		}
		crashPoint()
	}
	if err := syncDir(v.staging); err != nil {
		return err
	}
	for k := range j.Steps {
		if s := &j.Steps[k]; s.Op == "place" || s.Op == "chmod-placed" {
			st, err := v.staging.Stat(strconv.Itoa(s.ID))
			if err != nil {
				return fmt.Errorf("cannot read what was staged: %w", unwrapPath(err))
			}
			s.Want = []mark{{Type: typeOf(st), Ino: st.Ino}}
		}
	}
	if err := writeAtomic(v.work, manifestName, manifest); err != nil {
		return fmt.Errorf("cannot write the new manifest: %w", unwrapPath(err))
	}
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := writeAtomic(v.work, journalName, data); err != nil {
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
	usage := ""
	if st, serr := v.root.Statfs(); serr == nil && st.Blocks > 0 {
		total := st.Blocks * uint64(st.Bsize)
		used := total - st.Bfree*uint64(st.Bsize)
		usage = fmt.Sprintf(" (%d MiB of %d MiB used)", used>>20, total>>20)
	}
	return fmt.Errorf("cannot update project %s: the volume is full%s: %w. Free some space (delete files or projects you no longer need) or ask the operator for a larger volume, then start again. %s", v.project, usage, err, what)
}

// stage copies path p of the image's tree t to name in the folder to: a file with mode top (synced,
// its hash checked against the scan's), a link, or a folder with what it holds (its top with mode
// topDir until the update's last steps; below, the image's modes). Times are the image's. Nothing is
// followed below the image's home.
func stage(t *Tree, p string, to *Dir, name string, top, topDir fs.FileMode) error {
	from, err := t.at.OpenPath(parentOf(p))
	if err != nil {
		return err
	}
	defer from.Close()
	return stageEntry(t, p, from, lastName(p), to, name, top, topDir)
}

func stageEntry(t *Tree, p string, from *Dir, fromName string, to *Dir, name string, top, topDir fs.FileMode) error {
	e := t.Get(p)
	switch e.Type {
	case TypeSymlink:
		return to.Symlink(e.Target, name)
	case TypeFile:
		return copyFile(from, fromName, t.stamps[p], to, name, top, e.SHA256)
	case TypeDir:
		if err := to.Mkdir(name, 0o700); err != nil {
			return err
		}
		src, err := from.OpenDir(fromName)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := to.OpenDir(name)
		if err != nil {
			return err
		}
		defer dst.Close()
		for _, c := range t.Children(p) {
			cp := joinPath(p, c)
			ce := t.Get(cp)
			if ce.Type == TypeOther {
				continue
			}
			if err := stageEntry(t, cp, src, c, dst, c, ce.Mode, ce.Mode); err != nil {
				return err
			}
		}
		if err := syncDir(dst); err != nil {
			return err
		}
		if err := to.Chmod(name, topDir); err != nil {
			return err
		}
		return to.SetMtime(name, t.stamps[p].Mtime)
	}
	return nil
}

// copyFile copies the regular file fromName in from (never followed, never opened blocking), which
// must be the entry scanned (want), to the new file name in to with mode, synced; it fails if the
// content's SHA-256 is not sum.
func copyFile(from *Dir, fromName string, want Stamp, to *Dir, name string, mode fs.FileMode, sum string) error {
	in, st, err := from.OpenFile(fromName)
	if err != nil {
		return err
	}
	defer in.Close()
	if !st.Same(want) {
		return fmt.Errorf("it changed while the update read it")
	}
	out, err := to.CreateFile(name, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
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
	return to.SetMtime(name, st.Mtime)
}

// apply carries out a prepared journal: each step, then the switch of the manifest, then the work
// folder's removal. A failing step, or an entry that is not the one planned, rolls the update back.
func (v *volume) apply(j *journal) error {
	for i, s := range j.Steps {
		pausePoint(fmt.Sprintf("step %d", i))
		err := v.do(s)
		if err == nil && failStep(i) {
			err = errTestFail
		}
		if err != nil {
			return v.rollBack(j, v.stepError("cannot update project "+v.project, s, err))
		}
		crashPoint()
	}
	switched, err := v.commit()
	if err != nil && !switched {
		return v.rollBack(j, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnfinished, err)
	}
	return nil
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
	if err := contract.CheckCommit(commit); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	v, err := openVolume(root, project, log)
	if err != nil {
		return nil, err
	}
	defer v.close()
	if err := v.lock(); err != nil {
		return nil, err
	}
	res := &RecordResult{}
	defer func() { res.Warnings = v.warnings }()
	crashPoint()
	if st, err := v.updates.Stat(project); err == nil {
		if st.Mode.IsDir() && ours(st) {
			v.logf("removing the work folder of an interrupted update of an earlier project %s", project)
			if err := v.updates.RemoveAll(project); err != nil {
				return nil, fmt.Errorf("cannot remove the work folder %s/%s of an earlier project of this name: %w", UpdatesDir, project, unwrapPath(err))
			}
			res.Discarded = true
		} else if err := v.setAside(v.updates, UpdatesDir, project, st, notOurs(st, "folder")); err != nil {
			return nil, err
		}
	}
	seeds, err := v.seeds()
	if err != nil {
		return nil, fmt.Errorf("cannot record project %s: %w", project, err)
	}
	removeOldTemps(seeds)
	if err := v.manifestSlot(seeds); err != nil {
		return nil, fmt.Errorf("cannot record project %s: %w", project, err)
	}
	proj, err := v.openProject()
	if err != nil {
		return nil, fmt.Errorf("cannot record project %s: the project folder: %w", project, err)
	}
	t, err := scanDir(proj, true)
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
	if err := writeAtomic(seeds, project, data); err != nil {
		return nil, v.space(fmt.Errorf("cannot record project %s: %w", project, unwrapPath(err)), "Project "+project+" is ready, but its later updates count every file as yours.")
	}
	crashPoint()
	v.logf("recorded what project %s was seeded with at commit %s: %d files, %d folders, %d links, %d bytes", project, commit, res.Files, res.Dirs, res.Links, res.Bytes)
	return res, nil
}

// removeOldTemps removes the temporary files (.tmp-*) a killed write left in d, once they are an hour
// old (a younger one may be another start's, writing right now).
func removeOldTemps(d *Dir) {
	names, err := d.Names()
	if err != nil {
		return
	}
	for _, name := range names {
		if !strings.HasPrefix(name, ".tmp-") {
			continue
		}
		if st, err := d.Stat(name); err == nil && st.Mode.IsRegular() && time.Since(time.Unix(0, st.Mtime)) > time.Hour {
			d.Remove(name)
		}
	}
}
