package patch

import "github.com/binder-projects/binder-projects/volume"

// InitReport is what one start of the init command reported (volume.Report: JSON in the init
// container's termination message). UpdateReport is its part about an update.
type (
	InitReport   = volume.Report
	UpdateReport = volume.UpdateReport
)

// ParseInitReport reads the init command's report from a termination message (volume.DecodeReport).
var ParseInitReport = volume.DecodeReport

// ErrBadInitReport is wrapped by every error ParseInitReport returns.
var ErrBadInitReport = volume.ErrBadReport

// The states of InitReport.Project.
const (
	ReportProjectSeeded      = volume.ProjectSeeded
	ReportProjectExisted     = volume.ProjectExisted
	ReportProjectSeededEmpty = volume.ProjectSeededEmpty
	ReportProjectFailed      = volume.ProjectFailed
)

// The states of UpdateReport.State.
const (
	ReportUpdateUpdated     = volume.UpdateUpdated
	ReportUpdateNotNeeded   = volume.UpdateNotNeeded
	ReportUpdateUnavailable = volume.UpdateUnavailable
	ReportUpdateFailed      = volume.UpdateFailed
	ReportUpdateUnfinished  = volume.UpdateUnfinished
)

// ValidCommit says whether c may be given to the init command as a commit (it becomes part of file
// names): volume.CheckCommit's rule, which the init command checks again.
func ValidCommit(c string) bool { return volume.CheckCommit(c) == nil }
