package patch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The init script's report (EnvReport; in the pod, the init container's termination message, which
// the registry controller reads): one key=value a line, with these keys.
const (
	// ReportDeleted lists the 1-based positions in EnvDelete of the queued names that are gone:
	// deleted now, already absent, not a folder (left alone), or a symbolic link (only the link
	// removed).
	ReportDeleted = "deleted"
	// ReportKept lists the positions of the queued project folders that could not be deleted.
	ReportKept = "kept"
	// ReportProject says what became of the launched project: one of the ReportProject* values.
	ReportProject = "project"
	// ReportUpdate says what became of an update the launch asked for (EnvUpdate): one of the
	// ReportUpdate* states, for ReportUpdateUpdated followed by the helper's counts (UpdateReport).
	// Absent when no update was asked for.
	ReportUpdate = "update"
	// ReportWarning is a message the user or the operator should see; any number of them.
	ReportWarning = "warning"
	// ReportError, only on failure, says why and what to do.
	ReportError = "error"
)

// The values of the report's ReportProject key.
const (
	// ReportProjectSeeded: the project was copied from the image's home now.
	ReportProjectSeeded = "seeded"
	// ReportProjectExisted: the project folder was there already (or another start made it meanwhile).
	ReportProjectExisted = "existed"
	// ReportProjectSeededEmpty: the image has no home folder at EnvSource; the project was created empty.
	ReportProjectSeededEmpty = "seeded-empty"
	// ReportProjectFailed: the project could not be made ready (the script failed).
	ReportProjectFailed = "failed"
)

// The states of the report's ReportUpdate key.
const (
	// ReportUpdateUpdated: the project was brought to the commit; the counts say how.
	ReportUpdateUpdated = "updated"
	// ReportUpdateNotNeeded: the project was seeded now, from the launched commit.
	ReportUpdateNotNeeded = "not-needed"
	// ReportUpdateUnavailable: no helper, or no valid commit (a warning says which); nothing changed.
	ReportUpdateUnavailable = "unavailable"
	// ReportUpdateFailed: the update failed and the project is as it was (a warning says why).
	ReportUpdateFailed = "failed"
	// ReportUpdateUnfinished: the update failed and could not be rolled back; the start failed, and the
	// next start finishes or rolls it back.
	ReportUpdateUnfinished = "unfinished"
)

// UpdateReport is the report's ReportUpdate line.
type UpdateReport struct {
	// State is one of the ReportUpdate* values.
	State string
	// Commit is the commit the project was updated to, From the one it was at ("" if the project had
	// no record of its seed); only for ReportUpdateUpdated.
	Commit, From string
	// Counted says whether the counts below were reported (the helper's result line was there).
	Counted bool
	// What the update did (docs/updates.md, "The rules").
	Replaced, Added, Removed, Kept, Beside, StayedDeleted, Modes int
	// Recovered is how an interrupted earlier update was finished first ("" for none).
	Recovered string
}

// InitReport is what one run of the init script reported.
type InitReport struct {
	// Deleted and Kept are 1-based positions in the EnvDelete list: the folders that are gone, and
	// those that could not be deleted. Both are empty when the queue was not processed.
	Deleted, Kept []int
	// Project is one of the ReportProject* values, or "" if the report has none.
	Project string
	// Update is the ReportUpdate line, nil if there was none.
	Update *UpdateReport
	// Warnings are one-line messages, in order.
	Warnings []string
	// Error is the one-line reason of a failure, or "".
	Error string
	// Present says whether the text held any line of a report at all: an empty termination message,
	// or the end of the log that kubelet used in its place, has none.
	Present bool
}

// ErrBadInitReport is wrapped by every error ParseInitReport returns.
var ErrBadInitReport = errors.New("malformed init script report")

// ParseInitReport reads the init script's report. Lines of other keys, or without "=", are ignored
// (kubelet may put the end of the log in place of a missing report). It fails, wrapping
// ErrBadInitReport, on a position that is not a positive number, a position listed twice or both
// deleted and kept, an unknown project state, an update line that is not one of the states with
// exactly its fields (see parseUpdate), or a key other than warning given twice: such a report is not
// to be trusted.
func ParseInitReport(s string) (InitReport, error) {
	var r InitReport
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		key, value, ok := strings.Cut(strings.TrimSuffix(line, "\r"), "=")
		if !ok {
			continue
		}
		switch key {
		case ReportDeleted, ReportKept, ReportProject, ReportUpdate, ReportError:
			if seen[key] {
				return InitReport{}, fmt.Errorf("%w: %s given twice", ErrBadInitReport, key)
			}
			seen[key] = true
		case ReportWarning:
		default:
			continue
		}
		r.Present = true
		switch key {
		case ReportDeleted, ReportKept:
			ps, err := parsePositions(value)
			if err != nil {
				return InitReport{}, fmt.Errorf("%w: %s: %w", ErrBadInitReport, key, err)
			}
			if key == ReportDeleted {
				r.Deleted = ps
			} else {
				r.Kept = ps
			}
		case ReportProject:
			switch value {
			case ReportProjectSeeded, ReportProjectExisted, ReportProjectSeededEmpty, ReportProjectFailed:
				r.Project = value
			default:
				return InitReport{}, fmt.Errorf("%w: unknown project state %q", ErrBadInitReport, value)
			}
		case ReportUpdate:
			u, err := parseUpdate(value)
			if err != nil {
				return InitReport{}, fmt.Errorf("%w: %s: %w", ErrBadInitReport, key, err)
			}
			r.Update = u
		case ReportWarning:
			r.Warnings = append(r.Warnings, value)
		case ReportError:
			r.Error = value
		}
	}
	for _, d := range r.Deleted {
		if slices.Contains(r.Kept, d) {
			return InitReport{}, fmt.Errorf("%w: position %d is both deleted and kept", ErrBadInitReport, d)
		}
	}
	return r, nil
}

// parsePositions parses space-separated 1-based positions, each listed once.
func parsePositions(value string) ([]int, error) {
	var out []int
	for _, f := range strings.Fields(value) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || strings.Trim(f, "0123456789") != "" {
			return nil, fmt.Errorf("position %q is not a positive number", f)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("position %d listed twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// updateCounts are the count fields of an update line, in the helper's order.
var updateCounts = []string{"replaced", "added", "removed", "kept", "beside", "stayed-deleted", "modes"}

// parseUpdate reads the value of an update line: a state alone, or "updated project=P commit=C" with
// either no more fields or exactly from=, the seven counts and recovered= (the helper's result line).
// Every field is known, given once, and well formed.
func parseUpdate(value string) (*UpdateReport, error) {
	fields := strings.Fields(value)
	if len(fields) == 0 {
		return nil, errors.New("no state")
	}
	u := &UpdateReport{State: fields[0]}
	switch u.State {
	case ReportUpdateNotNeeded, ReportUpdateUnavailable, ReportUpdateFailed, ReportUpdateUnfinished:
		if len(fields) > 1 {
			return nil, fmt.Errorf("state %s takes no fields", u.State)
		}
		return u, nil
	case ReportUpdateUpdated:
	default:
		return nil, fmt.Errorf("unknown state %q", u.State)
	}
	kv := map[string]string{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("field %q is not key=value", f)
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		kv[k] = v
	}
	take := func(k string) (string, bool) {
		v, ok := kv[k]
		delete(kv, k)
		return v, ok
	}
	if p, ok := take("project"); !ok || ValidateProjectDir(p) != nil {
		return nil, errors.New("no valid project= field")
	}
	var ok bool
	if u.Commit, ok = take("commit"); !ok || !ValidCommit(u.Commit) {
		return nil, errors.New("no valid commit= field")
	}
	if len(kv) == 0 {
		return u, nil // the helper gave no result line
	}
	u.Counted = true
	from, _ := take("from")
	switch {
	case from == "none":
	case ValidCommit(from):
		u.From = from
	default:
		return nil, fmt.Errorf("from=%q is neither none nor a commit", from)
	}
	counts := []*int{&u.Replaced, &u.Added, &u.Removed, &u.Kept, &u.Beside, &u.StayedDeleted, &u.Modes}
	for i, k := range updateCounts {
		v, ok := take(k)
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || strings.Trim(v, "0123456789") != "" {
			return nil, fmt.Errorf("%s=%q is not a count", k, v)
		}
		*counts[i] = n
	}
	switch rec, _ := take("recovered"); rec {
	case "none":
	case "finished", "rolled-back", "cleaned", "discarded":
		u.Recovered = rec
	default:
		return nil, fmt.Errorf("recovered=%q is not a state of recovery", rec)
	}
	for k := range kv {
		return nil, fmt.Errorf("unknown field %q", k)
	}
	return u, nil
}

// ValidCommit says whether c may be given to the helper as a commit (it becomes part of file names):
// 1 to 128 of A-Z a-z 0-9 . _ -, not starting with a dot or a dash (volume.CheckCommit's rule; the
// init script checks it again).
func ValidCommit(c string) bool {
	if c == "" || len(c) > 128 || c[0] == '.' || c[0] == '-' {
		return false
	}
	return strings.Trim(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}
