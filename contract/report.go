package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Report is what one start of the init command did. The init command writes it as one JSON object to
// the init container's termination message (EnvReport; kubelet keeps 3072 bytes of it or more), and the
// registry controller reads it (DecodeReport): one type on both sides, no text format.
type Report struct {
	// Deleted and Kept are 1-based positions in the list of queued deletions the start was handed:
	// the folders that are gone (deleted now, or moved into the trash when EnvTrashDays asks; already
	// absent, not a folder and left alone, a link and only the link removed, or deleted already by
	// another start), and those that could not be deleted. Both are empty when the queue was not
	// processed.
	Deleted []int `json:"deleted,omitempty"`
	Kept    []int `json:"kept,omitempty"`
	// Restored are the trash entries of EnvRestore put back, by 1-based position, each with the folder
	// it went to (its own name, or RestoredName where that was taken); Purged the positions in
	// EnvPurge of the entries deleted for good (or found gone). An entry in neither stays as it was (a
	// warning says why).
	Restored []Restored `json:"restored,omitempty"`
	Purged   []int      `json:"purged,omitempty"`
	// Usage is what the start measured of the volume; nil when it measured nothing.
	Usage *Usage `json:"usage,omitempty"`
	// Trash is what the trash holds after this start, oldest first, with TrashComplete saying whether
	// every entry is listed (the report's size may cut the list).
	Trash         []Trashed `json:"trash,omitempty"`
	TrashComplete bool      `json:"trashComplete,omitempty"`
	// Project is one of the Project* states.
	Project string `json:"project"`
	// Update says what became of an update the launch asked for; nil when none was asked for.
	Update *UpdateReport `json:"update,omitempty"`
	// Warnings are one-line messages the user or the operator should see, in order.
	Warnings []string `json:"warnings,omitempty"`
	// Error, on failure only, says why and what to do.
	Error string `json:"error,omitempty"`
	// Present says whether the text held a report at all (DecodeReport): an empty termination
	// message, or the end of the log kubelet used in its place, holds none.
	Present bool `json:"-"`
}

// Restored is a trash entry put back (Report.Restored).
type Restored struct {
	// At is the entry's 1-based position in EnvRestore.
	At int `json:"at"`
	// As is the project folder it is now.
	As ProjectDir `json:"as"`
}

// Usage is the volume's size and what its projects take (Report.Usage).
type Usage struct {
	// Size and Free are the filesystem's (statfs: the blocks in all, and those the user may still
	// write), in bytes. On a shared filesystem (NFS) they are the share's, not the claim's.
	Size int64 `json:"size"`
	Free int64 `json:"free"`
	// Projects are the sizes of the project folders measured at this start, in bytes of disk used
	// (allocated blocks, as du counts them; links not followed): exact for a project seeded or
	// updated now, the others as far as EnvUsageBudget reached.
	Projects []Measured `json:"projects,omitempty"`
	// All says every project folder was measured.
	All bool `json:"all,omitempty"`
}

// Measured is one folder's size.
type Measured struct {
	Dir   ProjectDir `json:"dir"`
	Bytes int64      `json:"bytes"`
}

// Trashed is an entry of the trash (Report.Trash).
type Trashed struct {
	// ID is when the project was deleted, in Unix nanoseconds (TrashEntryName).
	ID  int64      `json:"id"`
	Dir ProjectDir `json:"dir"`
	// Bytes is its size, -1 when it was not measured.
	Bytes int64 `json:"bytes"`
}

// The states of Report.Project.
const (
	// ProjectSeeded: the project was copied from the image's home now.
	ProjectSeeded = "seeded"
	// ProjectExisted: the project folder was there already (or another start made it meanwhile).
	ProjectExisted = "existed"
	// ProjectSeededEmpty: the image has no home folder; the project was created empty.
	ProjectSeededEmpty = "seeded-empty"
	// ProjectFailed: the project could not be made ready.
	ProjectFailed = "failed"
)

// UpdateReport is what became of an update a launch asked for.
type UpdateReport struct {
	// State is one of the Update* states.
	State string `json:"state"`
	// Commit is the commit the project was updated to, From the one it was at ("" if the project had
	// no record of its seed); only for UpdateUpdated.
	Commit string `json:"commit,omitempty"`
	From   string `json:"from,omitempty"`
	// Counted says whether the counts below were reported.
	Counted bool `json:"counted,omitempty"`
	// What the update did (docs/updates.md, "The rules").
	Replaced      int `json:"replaced,omitempty"`
	Added         int `json:"added,omitempty"`
	Removed       int `json:"removed,omitempty"`
	Kept          int `json:"kept,omitempty"`
	Beside        int `json:"beside,omitempty"`
	StayedDeleted int `json:"stayedDeleted,omitempty"`
	Modes         int `json:"modes,omitempty"`
	// Recovered is how an interrupted earlier update was finished first ("" for none).
	Recovered string `json:"recovered,omitempty"`
}

// The states of UpdateReport.State.
const (
	// UpdateUpdated: the project was brought to the commit; the counts say how.
	UpdateUpdated = "updated"
	// UpdateNotNeeded: the project was seeded now, from the launched commit.
	UpdateNotNeeded = "not-needed"
	// UpdateUnavailable: no valid commit (a warning says so); nothing changed.
	UpdateUnavailable = "unavailable"
	// UpdateFailed: the update failed and the project is as it was (a warning says why).
	UpdateFailed = "failed"
	// UpdateUnfinished: the update failed and could not be rolled back; the start failed, and the next
	// start finishes or rolls it back.
	UpdateUnfinished = "unfinished"
	// UpdateDeferred: the project is open in another server of the user; the update stays queued.
	UpdateDeferred = "deferred"
)

// ErrBadReport is wrapped by every error DecodeReport returns.
var ErrBadReport = errors.New("malformed init report")

// reportLimit is what the report may take of the termination message. Kubelet reads the last 4096
// bytes of the file (MaxContainerTerminationMessageLength), and its status manager then keeps the
// first 12288 / n bytes of each message, for a pod of n containers and init containers
// (MaxPodTerminationMessageLogLength, normalizeStatus): 4096 for BinderHub's pod under z2jh (the
// notebook, z2jh's block-cloud-metadata and ours), 3072 with --helper-mode=init-container (our helper
// too). A longer report is cut there in the middle of its JSON, and the controller reads none. A pod
// of more containers (sidecars) keeps less of each: 2457 bytes for five.
const reportLimit = 3000

// messageLimit is the most bytes one message of the report takes as JSON (reportLine).
const messageLimit = 1000

// MaxRestoresPerStart and MaxPurgesPerStart are the most restores and purges the webhook hands to one
// start (EnvRestore, EnvPurge), the oldest asked for first; the others wait for the next start. Encode
// cuts everything else before them, and so many always fit with what it never cuts, so a start's
// restores and purges are always reported. At their largest, in bytes of JSON:
//
//	never cut: the error (messageLimit and its quotes: 1,002), the largest update (two          1,715
//	  commits of MaxCommitLen, seven counts of 19 digits: 547), the volume's size and free
//	  space (19 digits each), the project state, the count of up to 9,999,999 warnings cut
//	4 restores to a folder name of MaxProjectDirLen: 4 × 272 + 13                               1,101
//	32 purges: positions 1 to 32                                                                   98
//	                                                                                            -----
//	                                                                                            2,914
//
// of reportLimit's 3,000; a fifth restore would take 272 more.
// TestTheLargestReportOfAStartFitsEveryRestoreAndPurgeItWasHanded encodes that report.
const (
	MaxRestoresPerStart = 4
	MaxPurgesPerStart   = 32
)

// OneLine is msg as one line of at most messageLimit bytes (a file name may hold a line break).
func OneLine(msg string) string {
	msg = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(msg)
	if len(msg) > messageLimit {
		cut := messageLimit - 4
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + " ..."
	}
	return msg
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// reportLine is msg as the report holds it: OneLine, and cut further (whole runes, then " ...") until
// it takes at most messageLimit bytes as JSON. JSON writes a quote or a backslash as 2 bytes, and a
// control character, a byte that is not UTF-8 or one of < > & as 6, so that 1000 bytes of a file name
// could otherwise take 6000: more than the whole report.
func reportLine(msg string) string {
	msg = OneLine(msg)
	if jsonLen(msg) <= messageLimit {
		return msg
	}
	var cuts []int // where a rune starts (a byte that is not UTF-8 is one, as JSON writes it)
	for i := range msg {
		cuts = append(cuts, i)
	}
	// More runes never take fewer bytes, so the longest start that fits is found by bisection.
	n := sort.Search(len(cuts), func(n int) bool { return jsonLen(msg[:cuts[n]]) > messageLimit-len(" ...") })
	return msg[:cuts[n-1]] + " ..."
}

// jsonLen is how many bytes s takes as a JSON string, without its quotes.
func jsonLen(s string) int {
	data, _ := json.Marshal(s)
	return len(data) - 2
}

// Encode is r as the termination message: one JSON object of at most reportLimit bytes, each message
// one line (reportLine). What does not fit is cut, each list from its end, in this order:
//
//   - the measured project sizes (Usage.All becomes false): the next start measures them again;
//   - the trash entries (TrashComplete becomes false): the next start lists them again;
//   - the warnings, counted in a last warning: they are in the log. They go before what was done of
//     the work handed to the start, which the registry needs, and which takes a few bytes an entry
//     where a warning may take a thousand;
//   - the positions of the deletions kept (they stay queued anyway), then of those done, then of the
//     purges done: the controller takes off its queues only what is reported done, so the next start
//     is handed them again and reports them done again (a deletion by its tombstone, a purge because
//     the entry is gone). Only a start handed hundreds of them comes to this;
//   - last, the restores done (TrashComplete becomes false). The controller keeps a restore not
//     reported queued, and the next start reports where it went, but only by the restore's record,
//     which lasts 24 hours and names the folder as it was restored; and while the trash list is
//     complete the controller takes an entry it does not list to be gone, with its request, so a
//     restore cut from a complete list would never be recorded. The webhook hands no more restores
//     and purges than always fit (MaxRestoresPerStart, MaxPurgesPerStart): these two cuts are only
//     for a start handed more (by a webhook of an earlier version).
//
// What is left (the state, the update, the error, the volume's size) always fits. r itself is not
// changed.
func (r Report) Encode() []byte {
	r.Error = reportLine(r.Error)
	ws := make([]string, len(r.Warnings))
	for i, w := range r.Warnings {
		ws[i] = reportLine(w)
	}
	r.Warnings = ws
	if r.Usage != nil {
		u := *r.Usage
		r.Usage = &u
	}
	var data []byte
	fits := func() bool {
		var err error
		data, err = json.Marshal(r)
		return err == nil && len(data) <= reportLimit
	}
	if fits() {
		return data
	}
	if u := r.Usage; u != nil && len(u.Projects) > 0 {
		u.All = false
		if cutFromEnd(&u.Projects, fits) {
			return data
		}
	}
	if len(r.Trash) > 0 {
		r.TrashComplete = false
		if cutFromEnd(&r.Trash, fits) {
			return data
		}
	}
	counted := func(n int) {
		r.Warnings = append(slices.Clip(ws[:n]), fmt.Sprintf("%d more warnings are only in the log", len(ws)-n))
	}
	if cutToFit(len(ws), counted, fits) {
		return data
	}
	if cutFromEnd(&r.Kept, fits) || cutFromEnd(&r.Deleted, fits) || cutFromEnd(&r.Purged, fits) {
		return data
	}
	if len(r.Restored) > 0 {
		r.TrashComplete = false
		cutFromEnd(&r.Restored, fits)
	}
	return data
}

// cutToFit cuts a list of n entries of the report from its end: keep(k) makes the report hold its
// first k. It keeps the most entries, fewer than n, with which the report fits, and says whether it
// does then (fits, called last, says so of the report as it is left). Fewer entries never take more
// room, so the cut is found by bisection: a list of thousands of positions costs a dozen encodings.
func cutToFit(n int, keep func(k int), fits func() bool) bool {
	if n == 0 {
		return false
	}
	k := sort.Search(n-1, func(k int) bool { keep(k + 1); return !fits() })
	keep(k)
	return fits()
}

// cutFromEnd is cutToFit for a list as it is.
func cutFromEnd[T any](list *[]T, fits func() bool) bool {
	all := *list
	return cutToFit(len(all), func(k int) { *list = slices.Clip(all[:k]) }, fits)
}

// DecodeReport reads a report from a termination message. Text that is not a JSON object (an empty
// message, or the end of the log kubelet used in its place) holds no report: Present is false. A JSON
// object that is not a valid report fails, wrapping ErrBadReport: a position that is not positive, a
// position listed twice or both deleted and kept (restored and purged are positions in lists of
// their own, each listed once), an unknown project or update state, a bad commit, a project folder
// name that is not valid, a negative size (but -1, not measured, for a trash entry), a trash entry
// without a positive id or listed twice, a folder measured twice: such a report is not to be trusted.
func DecodeReport(s string) (Report, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return Report{}, nil
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	if dec.More() {
		return Report{}, fmt.Errorf("%w: more than one object", ErrBadReport)
	}
	r.Present = true
	if err := checkPositions(r.Deleted, r.Kept); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	if err := r.checkTrashAndUsage(); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	switch r.Project {
	case ProjectSeeded, ProjectExisted, ProjectSeededEmpty, ProjectFailed:
	default:
		return Report{}, fmt.Errorf("%w: unknown project state %q", ErrBadReport, r.Project)
	}
	if u := r.Update; u != nil {
		switch u.State {
		case UpdateUpdated:
			if CheckCommit(u.Commit) != nil || (u.From != "" && CheckCommit(u.From) != nil) {
				return Report{}, fmt.Errorf("%w: update: a bad commit", ErrBadReport)
			}
			for _, n := range []int{u.Replaced, u.Added, u.Removed, u.Kept, u.Beside, u.StayedDeleted, u.Modes} {
				if n < 0 {
					return Report{}, fmt.Errorf("%w: update: a negative count", ErrBadReport)
				}
			}
			switch u.Recovered {
			case "", "finished", "rolled-back", "cleaned", "discarded":
			default:
				return Report{}, fmt.Errorf("%w: update: recovered %q is not a state of recovery", ErrBadReport, u.Recovered)
			}
		case UpdateNotNeeded, UpdateUnavailable, UpdateFailed, UpdateUnfinished, UpdateDeferred:
		default:
			return Report{}, fmt.Errorf("%w: unknown update state %q", ErrBadReport, u.State)
		}
	}
	return r, nil
}

// checkPositions checks the 1-based positions of lists in one list the start was handed: each
// positive, and listed once in all of them.
func checkPositions(lists ...[]int) error {
	seen := map[int]bool{}
	for _, ps := range lists {
		for _, p := range ps {
			if p < 1 {
				return fmt.Errorf("position %d is not positive", p)
			}
			if seen[p] {
				return fmt.Errorf("position %d listed twice", p)
			}
			seen[p] = true
		}
	}
	return nil
}

// checkTrashAndUsage checks what a report says of the trash and of the volume's usage.
func (r Report) checkTrashAndUsage() error {
	at := make([]int, len(r.Restored))
	for i, x := range r.Restored {
		at[i] = x.At
		if err := ValidateProjectDir(string(x.As)); err != nil {
			return fmt.Errorf("restored: %w", err)
		}
	}
	if err := checkPositions(at); err != nil {
		return fmt.Errorf("restored: %w", err)
	}
	if err := checkPositions(r.Purged); err != nil {
		return fmt.Errorf("purged: %w", err)
	}
	if u := r.Usage; u != nil {
		if u.Size < 0 || u.Free < 0 {
			return errors.New("usage: a negative size")
		}
		seen := map[ProjectDir]bool{}
		for _, m := range u.Projects {
			if err := ValidateProjectDir(string(m.Dir)); err != nil {
				return fmt.Errorf("usage: %w", err)
			}
			if m.Bytes < 0 {
				return fmt.Errorf("usage: project %s has a negative size", m.Dir)
			}
			if seen[m.Dir] {
				return fmt.Errorf("usage: project %s listed twice", m.Dir)
			}
			seen[m.Dir] = true
		}
	}
	type key struct {
		id  int64
		dir ProjectDir
	}
	seen := map[key]bool{}
	for _, e := range r.Trash {
		if e.ID < 1 {
			return fmt.Errorf("trash: id %d is not positive", e.ID)
		}
		if err := ValidateProjectDir(string(e.Dir)); err != nil {
			return fmt.Errorf("trash: %w", err)
		}
		if e.Bytes < -1 {
			return fmt.Errorf("trash: entry %s has a negative size", TrashEntryName(e.ID, e.Dir))
		}
		if seen[key{e.ID, e.Dir}] {
			return fmt.Errorf("trash: entry %s listed twice", TrashEntryName(e.ID, e.Dir))
		}
		seen[key{e.ID, e.Dir}] = true
	}
	return nil
}
