//go:build linux

package volume

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/binder-projects/binder-projects/contract"
)

// The init command's exit statuses.
const (
	// ExitReady: the project is ready (a queued deletion that could not be done, or an update that
	// failed and left the project as it was, is only a warning).
	ExitReady = 0
	// ExitFailed: the project could not be made ready; the report's error says why and what to do.
	ExitFailed = 1
	// ExitBadInput: a bad input; nothing was changed on the volume.
	ExitBadInput = 2
)

// InitInput is what one start of the init command is asked to do: its environment, checked
// (ReadInitEnv).
type InitInput struct {
	// Root is the volume's mount point, Project the launched project's folder, Source the image's home.
	Root, Project, Source string
	// Delete are the queued deletions, in order.
	Delete []Deletion
	// Pod is the pod's name ("" none), for the pod rule.
	Pod string
	// Commit is the image's commit ("" none valid); Update asks for an update of an existing project.
	Commit string
	Update bool
	// ReportPath is where RunInit writes the report ("" none).
	ReportPath string
	// TrashDays is how many days a deleted project stays in the trash (EnvTrashDays); 0: a queued
	// deletion deletes at once, and nothing in the trash expires.
	TrashDays int
	// Restore and Purge are the valid trash entries of EnvRestore and EnvPurge, with their positions.
	Restore, Purge []TrashRef
	// UsageBudget is how long the start may walk project folders and trash entries to measure them
	// (EnvUsageBudget).
	UsageBudget time.Duration
	// Now is the start's clock (zero: the time Init is called; the test hook TestNowEnv sets it).
	Now time.Time

	// trashBad says EnvTrashDays was not valid: queued deletions stay queued, nothing expires.
	trashBad bool

	// notices are what reading the environment has to say (ignored inputs), logged by Init.
	notices []notice
}

// Deletion is one queued deletion: a project folder name and the deletion's id (0: none, and no
// tombstone is read or written).
type Deletion struct {
	Name string
	// ID is the deletion's id; IDText is it as given (a tombstone holds it as given, leading zeros too).
	ID     int64
	IDText string
}

// TrashRef is one trash entry named by EnvRestore or EnvPurge: its 1-based position in the list, and
// the deletion that made it (contract.TrashEntryName).
type TrashRef struct {
	At  int
	ID  int64
	Dir contract.ProjectDir
}

type notice struct {
	warning bool
	text    string
}

// errRefused is a bad input: the start changes nothing, and exits with ExitBadInput.
type errRefused struct{ msg string }

func (e *errRefused) Error() string { return e.msg + "; nothing was changed" }
func (e *errRefused) Unwrap() error { return ErrBadInput }

func refuse(format string, args ...any) error {
	return &errRefused{msg: fmt.Sprintf(format, args...)}
}

// validName says whether name is a project folder name: contract.ValidateProjectDir's rule.
func validName(name string) bool { return contract.ValidateProjectDir(name) == nil }

// validPod says whether pod is a pod's name as the pod rule reads it: 1 to 253 of a-z 0-9 . -, not
// starting with a dot.
func validPod(pod string) bool {
	if pod == "" || len(pod) > 253 || pod[0] == '.' {
		return false
	}
	for i := 0; i < len(pod); i++ {
		c := pod[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// parseID reads a deletion id: 1 to 19 decimal digits, at most 2^63-1 (leading zeros allowed).
func parseID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// fieldsOf splits s on spaces, tabs and line breaks (as init.sh's IFS did; no other character
// separates, so a carriage return makes a name invalid).
func fieldsOf(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
}

// maxPodInName is the longest pod name a work folder carries (so that the name fits in 255 bytes).
const maxPodInName = 200

// ReadInitEnv checks the init command's environment (lookup is os.LookupEnv), in init.sh's order. A
// bad input is an error wrapping ErrBadInput; its message ends in "nothing was changed". Bad deletion
// ids, a bad pod name, commit or update request are not refusals: they are ignored, and Init says so.
// EnvReport is read first, so that a refusal can be reported (in.ReportPath is set even with an error,
// unless it is the bad input).
func ReadInitEnv(lookup func(string) (string, bool)) (InitInput, error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	var in InitInput
	if r := get(contract.EnvReport); r != "" {
		if !strings.HasPrefix(r, "/") {
			return in, refuse("%s must be an absolute path", contract.EnvReport)
		}
		in.ReportPath = r
	}
	in.Root = get(contract.EnvRoot)
	switch {
	case in.Root == "":
		return in, refuse("%s is not set: it must name the folder where the user's volume is mounted", contract.EnvRoot)
	case !strings.HasPrefix(in.Root, "/"):
		return in, refuse("%s must be an absolute path", contract.EnvRoot)
	}
	if info, err := os.Stat(in.Root); err != nil || !info.IsDir() {
		return in, refuse("%s is not a folder: is the user's volume mounted there?", contract.EnvRoot)
	}
	in.Source = get(contract.EnvSource)
	switch {
	case in.Source == "":
		return in, refuse("%s is not set: it must name the image's home folder to seed projects from", contract.EnvSource)
	case !strings.HasPrefix(in.Source, "/"):
		return in, refuse("%s must be an absolute path", contract.EnvSource)
	}
	in.Project = get(contract.EnvProject)
	switch {
	case in.Project == "":
		return in, refuse("%s is not set: it must name the project folder", contract.EnvProject)
	case !validName(in.Project):
		return in, refuse("%s is not a valid project folder name (1 to 255 of A-Z a-z 0-9 . _ -, not starting with a dot)", contract.EnvProject)
	}
	names := fieldsOf(get(contract.EnvDelete))
	var bad []string
	for i, name := range names {
		if !validName(name) {
			bad = append(bad, strconv.Itoa(i+1))
		}
	}
	if len(bad) > 0 {
		// By position only: a bad name may hold anything, line breaks too.
		return in, refuse("%s holds invalid project folder names (at positions %s of %d; each must be 1 to 255 of A-Z a-z 0-9 . _ -, not starting with a dot)", contract.EnvDelete, strings.Join(bad, " "), len(names))
	}
	for _, name := range names {
		in.Delete = append(in.Delete, Deletion{Name: name})
	}
	if raw, set := lookup(contract.EnvDeleteIDs); set {
		ids := fieldsOf(raw)
		ok := len(ids) == len(names)
		for i := 0; ok && i < len(ids); i++ {
			n, good := parseID(ids[i])
			ok = good
			in.Delete[i].ID, in.Delete[i].IDText = n, ids[i]
		}
		if !ok {
			for i := range in.Delete {
				in.Delete[i].ID, in.Delete[i].IDText = 0, ""
			}
			in.warn("%s is ignored (%d ids for %d names in %s, or one is not 1 to 19 digits of at most 2^63-1): the queued projects are deleted without checking whether another start deleted them already", contract.EnvDeleteIDs, len(ids), len(names), contract.EnvDelete)
		}
	}
	switch pod := get(contract.EnvPod); {
	case pod == "":
	case !validPod(pod):
		in.warn("%s is ignored: it is not a pod's name (1 to 253 of a-z 0-9 . -, not starting with a dot)", contract.EnvPod)
	case len(pod) > maxPodInName:
		in.note("the pod's name has more than %d bytes: this start's work folder does not carry it", maxPodInName)
	default:
		in.Pod = pod
	}
	if c := get(contract.EnvCommit); c != "" {
		if contract.CheckCommit(c) != nil {
			in.note("%s is not a valid commit (1 to %d of A-Z a-z 0-9 . _ -, not starting with a dot or a dash): it is not used", contract.EnvCommit, contract.MaxCommitLen)
		} else {
			in.Commit = c
		}
	}
	switch get(contract.EnvUpdate) {
	case "", "0":
	case "1":
		in.Update = true
	default:
		in.warn("%s is ignored: it must be 1 (update) or 0 (do not)", contract.EnvUpdate)
	}
	in.readTrashEnv(get)
	return in, nil
}

// maxTrashDays and maxUsageBudget bound EnvTrashDays and EnvUsageBudget.
const (
	maxTrashDays   = 3650
	maxUsageBudget = 60000
)

// readTrashEnv reads EnvTrashDays, EnvRestore, EnvPurge and EnvUsageBudget. None is ever a refusal: a
// bad value is ignored, with a warning, in the way that loses nothing (a bad EnvTrashDays keeps the
// queued deletions queued, a bad trash entry is neither restored nor deleted).
func (in *InitInput) readTrashEnv(get func(string) string) {
	if v := get(contract.EnvTrashDays); v != "" {
		n, ok := parseBounded(v, maxTrashDays)
		if ok {
			in.TrashDays = n
		} else {
			in.trashBad = true
			in.warn("%s is not a number of days from 0 to %d: the queued projects are not deleted at this start (they stay queued), and nothing in the trash expires", contract.EnvTrashDays, maxTrashDays)
		}
	}
	in.Restore = in.trashRefs(contract.EnvRestore, get(contract.EnvRestore), "restored")
	in.Purge = in.trashRefs(contract.EnvPurge, get(contract.EnvPurge), "deleted for good")
	in.UsageBudget = contract.DefaultUsageBudget * time.Millisecond
	if v := get(contract.EnvUsageBudget); v != "" {
		if n, ok := parseBounded(v, maxUsageBudget); ok {
			in.UsageBudget = time.Duration(n) * time.Millisecond
		} else {
			in.warn("%s is ignored (it must be a number of milliseconds from 0 to %d): the default, %d ms, is used", contract.EnvUsageBudget, maxUsageBudget, contract.DefaultUsageBudget)
		}
	}
}

// parseBounded reads a number of 1 to 5 decimal digits, at most max.
func parseBounded(s string, max int) (int, bool) {
	if len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= max
}

// trashRefs reads the trash entries of the list env (value v): bad ones (by position only: a bad one
// may hold anything) and repeated ones are ignored, with a warning.
func (in *InitInput) trashRefs(env, v, done string) []TrashRef {
	var refs []TrashRef
	var bad, repeated []string
	seen := map[string]bool{}
	fields := fieldsOf(v)
	for i, f := range fields {
		id, dir, err := contract.ParseTrashEntryName(f)
		switch {
		case err != nil:
			bad = append(bad, strconv.Itoa(i+1))
		case seen[f]:
			repeated = append(repeated, strconv.Itoa(i+1))
		default:
			seen[f] = true
			refs = append(refs, TrashRef{At: i + 1, ID: id, Dir: dir})
		}
	}
	if len(bad) > 0 {
		in.warn("%s holds entries that are not trash entries (<id>/<folder>) at positions %s of %d: they are ignored, and nothing in the trash is touched for them", env, strings.Join(bad, " "), len(fields))
	}
	if len(repeated) > 0 {
		in.warn("%s names a trash entry again at positions %s of %d: it is %s once, at its first position", env, strings.Join(repeated, " "), len(fields), done)
	}
	return refs
}

func (in *InitInput) warn(format string, args ...any) {
	in.notices = append(in.notices, notice{warning: true, text: fmt.Sprintf(format, args...)})
}

func (in *InitInput) note(format string, args ...any) {
	in.notices = append(in.notices, notice{text: fmt.Sprintf(format, args...)})
}

// RunInit is the init command: it reads its inputs with lookup (os.LookupEnv), makes the project
// ready (Init), logs "binder-projects: ..." lines to stderr, writes the report to EnvReport (a failure
// to is a warning in the log), and returns the exit status (ExitReady, ExitFailed, ExitBadInput).
func RunInit(lookup func(string) (string, bool), stderr io.Writer) int {
	log := func(line string) { fmt.Fprintf(stderr, "binder-projects: %s\n", line) }
	in, err := ReadInitEnv(lookup)
	var rep contract.Report
	status := ExitReady
	if err != nil {
		msg := contract.OneLine(err.Error())
		log("error: " + msg)
		rep, status = contract.Report{Project: contract.ProjectFailed, Error: msg}, ExitBadInput
	} else {
		rep, status = Init(in, log)
	}
	if in.ReportPath != "" {
		if err := writeReport(in.ReportPath, in.Root, rep.Encode()); err != nil {
			log("warning: could not write the report file; the controller only sees the exit status")
		}
	}
	return status
}

// writeReport writes the report file: kubelet's termination message file, a regular file outside the
// user's volume (root). A path on the volume, a symbolic link (never followed) or anything but a
// regular file (never blocked on) is refused: the report never lands in the user's files.
func writeReport(path, root string, data []byte) error {
	if root != "" && (path == root || strings.HasPrefix(path, strings.TrimSuffix(root, "/")+"/")) {
		return fmt.Errorf("%s is on the user's volume", contract.EnvReport)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o666)
	if err != nil {
		return err
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", contract.EnvReport)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// initRun is one start.
type initRun struct {
	in   InitInput
	log  Logger
	rep  contract.Report
	root *Dir
	uid  int
	// flockBroken is set once flock(2) failed on this volume (not "held": failed).
	flockBroken bool
	// updatesOff is set when updates cannot run on this volume in this start (their folder is not
	// ours), so the update of the project is not tried.
	updatesOff string
	// updatesDirBad says UpdatesDir is not a folder (and could not be made way for): no update's work
	// folder can be in it.
	updatesDirBad bool
	// recovered is what the recovery of the project at the start did ("" nothing).
	recovered string
	// work is this start's work folder, once made.
	work *workDir
	// tombstones counts the tombstones written through the work folder.
	tombstones int
	// now is the start's clock (InitInput.Now).
	now time.Time
	// exact is the size of the project seeded or updated at this start, nil if none.
	exact *contract.Measured
}

// initFailed stops a start: the project could not be made ready (ExitFailed), or a bad input
// (ExitBadInput).
type initFailed struct {
	status int
	msg    string
	// full says the volume is full (how: how full): the trash may give room (seed.go).
	full bool
	how  string
}

func (e *initFailed) Error() string { return e.msg }

func (s *initRun) logf(format string, args ...any) {
	s.log(contract.OneLine(fmt.Sprintf(format, args...)))
}

// warnf logs a warning and adds it to the report.
func (s *initRun) warnf(format string, args ...any) {
	msg := contract.OneLine(fmt.Sprintf(format, args...))
	s.rep.Warnings = append(s.rep.Warnings, msg)
	s.log("warning: " + msg)
}

// detail logs the cause of a failure on a line of its own, under the line that says what failed.
func (s *initRun) detail(err error) {
	if err != nil {
		s.log("  " + contract.OneLine(err.Error()))
	}
}

// fail ends the start: the project could not be made ready.
func (s *initRun) fail(format string, args ...any) error {
	return &initFailed{status: ExitFailed, msg: contract.OneLine(fmt.Sprintf(format, args...))}
}

// subLog passes the log lines of Update and Recover on; their warnings become the start's.
func (s *initRun) subLog(line string) {
	if w, ok := strings.CutPrefix(line, "warning: "); ok {
		s.warnf("%s", w)
		return
	}
	s.log(line)
}

// Init makes the launched project ready, as init.sh did, with every one of its guarantees (the package
// documentation tells the whole protocol): it removes what earlier starts provably left behind,
// finishes or rolls back an interrupted update of the project, deletes the queued project folders,
// then seeds the project from the image's home if nothing of its name exists, or updates it when asked.
// log receives the human log lines (without "binder-projects: "). It returns the report and the exit
// status (ExitReady or ExitFailed; ExitBadInput if the volume root cannot be opened).
func Init(in InitInput, log Logger) (rep contract.Report, status int) {
	if log == nil {
		log = func(string) {}
	}
	s := &initRun{in: in, log: log, uid: os.Geteuid(), now: in.Now}
	if s.now.IsZero() {
		s.now = time.Now()
		if t, ok := testNow(); ok {
			s.now = t
		}
	}
	defer func() {
		if r := recover(); r != nil {
			msg := contract.OneLine(fmt.Sprintf("the init command stopped unexpectedly (%v); its log says more", r))
			s.log("error: " + msg)
			s.rep.Project, s.rep.Error = contract.ProjectFailed, msg
			rep, status = s.rep, ExitFailed
		}
	}()
	for _, n := range in.notices {
		if n.warning {
			s.warnf("%s", n.text)
		} else {
			s.logf("%s", n.text)
		}
	}
	err := s.run()
	crashPoint()
	if s.root != nil {
		s.root.Close()
	}
	var f *initFailed
	switch {
	case err == nil:
		return s.rep, ExitReady
	case errors.As(err, &f):
	default:
		f = &initFailed{status: ExitFailed, msg: contract.OneLine(err.Error())}
	}
	s.log("error: " + f.msg)
	s.rep.Project, s.rep.Error = contract.ProjectFailed, f.msg
	return s.rep, f.status
}

func (s *initRun) run() error {
	root, err := OpenRoot(s.in.Root)
	if err != nil {
		return &initFailed{status: ExitBadInput, msg: fmt.Sprintf("cannot enter %s (%v); nothing was changed", contract.EnvRoot, unwrapPath(err))}
	}
	s.root = root
	defer s.dropWork()
	defer s.measure()
	s.removeLeftovers()
	s.checkReserved()
	if err := s.recoverProject(); err != nil {
		return err
	}
	for i, d := range s.in.Delete {
		if !s.in.trashBad && s.deleteQueued(d) {
			s.rep.Deleted = append(s.rep.Deleted, i+1)
			s.forget(d.Name)
		} else {
			s.rep.Kept = append(s.rep.Kept, i+1)
		}
	}
	s.restoreAll()
	s.purgeAll()
	s.expireTrash()
	s.tidyTrash()
	return s.seedOrUpdate()
}

// uidText is this user, for messages.
func (s *initRun) uidText() string { return strconv.Itoa(s.uid) }
