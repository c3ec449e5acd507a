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

// InitReport is what one run of the init script reported.
type InitReport struct {
	// Deleted and Kept are 1-based positions in the EnvDelete list: the folders that are gone, and
	// those that could not be deleted. Both are empty when the queue was not processed.
	Deleted, Kept []int
	// Project is one of the ReportProject* values, or "" if the report has none.
	Project string
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
// deleted and kept, an unknown project state, or a key other than warning given twice: such a report
// is not to be trusted.
func ParseInitReport(s string) (InitReport, error) {
	var r InitReport
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		key, value, ok := strings.Cut(strings.TrimSuffix(line, "\r"), "=")
		if !ok {
			continue
		}
		switch key {
		case ReportDeleted, ReportKept, ReportProject, ReportError:
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
