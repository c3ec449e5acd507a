package patch

import (
	"fmt"
	"strconv"
	"strings"
)

// What the init script reports in its report file (EnvReport; in the pod, the init container's
// termination message, which the registry controller reads): one key=value a line.
const (
	// ReportSeeded: the project was copied from the image's home now.
	ReportSeeded = "seeded"
	// ReportExisted: the project folder was there; nothing was copied.
	ReportExisted = "existed"
	// ReportSeededEmpty: the image has no home folder to copy; the project was created empty.
	ReportSeededEmpty = "seeded-empty"
	// ReportFailed: the project could not be prepared.
	ReportFailed = "failed"
)

// InitReport is what one run of the init script reported.
type InitReport struct {
	// Deleted are the positions (1-based, in EnvDelete's order) of the queued folders that are gone:
	// deleted now, or already absent.
	Deleted []int
	// Kept are the positions of the queued folders that could not be deleted.
	Kept []int
	// Project is what happened to the launched project: ReportSeeded, ReportExisted,
	// ReportSeededEmpty or ReportFailed.
	Project string
	// Warnings are one-line messages for the user or operator.
	Warnings []string
	// Error is the one-line reason of a failed run.
	Error string
	// Present is whether s held a report at all (a termination message may instead be the end of
	// the log, or empty).
	Present bool
}

// ParseInitReport reads the init script's report. Unknown keys and lines that are not key=value are
// ignored (a termination message can be the end of the log); a position that is not a positive number
// is an error.
func ParseInitReport(s string) (InitReport, error) {
	var r InitReport
	for _, line := range strings.Split(s, "\n") {
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch key {
		case "deleted", "kept":
			var ps []int
			for _, f := range strings.Fields(value) {
				n, err := strconv.Atoi(f)
				if err != nil || n < 1 {
					return InitReport{}, fmt.Errorf("init report: %s=%q: %q is not a position", key, value, f)
				}
				ps = append(ps, n)
			}
			if key == "deleted" {
				r.Deleted = ps
			} else {
				r.Kept = ps
			}
		case "project":
			r.Project = value
		case "warning":
			r.Warnings = append(r.Warnings, value)
		case "error":
			r.Error = value
		default:
			continue
		}
		r.Present = true
	}
	return r, nil
}
