package patch

import "github.com/binder-projects/binder-projects/volume"

// The init container's inputs (the same constants as package volume's, which reads them). The init command (binder-projects init, package volume) reads them from
// its environment only: the pod carries a short command, never a script, and no value ever becomes part
// of a command line.
const (
	// EnvProjectsRoot is where the user's volume is mounted in the init container, e.g. /projects.
	EnvProjectsRoot = volume.EnvRoot
	// EnvProject is the project folder name, directly under EnvProjectsRoot.
	EnvProject = volume.EnvProject
	// EnvSource is the image's home folder that a new project is seeded from, e.g. /home/jovyan.
	EnvSource = volume.EnvSource
	// EnvDelete lists project folders to delete first, separated by spaces or newlines; may be empty or
	// unset. The init command checks every name again and deletes nothing if one is invalid.
	EnvDelete = volume.EnvDelete
	// EnvReport is the file the init command writes its report to (in the pod: the init container's
	// termination message file, which the registry controller reads; volume.Report).
	EnvReport = volume.EnvReport
	// EnvDeleteIDs identifies the deletions in EnvDelete, in the same order, separated by spaces: the
	// registry queue entry's time in Unix nanoseconds, or 0 for a deletion that is not a queue entry
	// (the binder-projects.io/delete annotation). The init command records on the volume which entry of
	// a folder it carried out, so that a start that was handed the same entry, at the same time as a
	// start that launches that folder anew, never deletes the new folder.
	EnvDeleteIDs = volume.EnvDeleteIDs
	// EnvPod is the pod's name (the downward API's metadata.name). A work folder of a start where flock
	// does not work carries it, so a later start of the same pod name (which Kubernetes allows only once
	// the earlier pod is gone) knows that folder is dead.
	EnvPod = volume.EnvPod
	// EnvCommit is the commit the image was built from (AnnotationCommit's value, if it is a valid
	// commit: ValidCommit): recorded with a new project's manifest, and the commit an update brings an
	// existing project to.
	EnvCommit = volume.EnvCommit
	// EnvUpdate is "1" when the launch asks for an update of an existing project to EnvCommit.
	EnvUpdate = volume.EnvUpdate
)

// InitSubcommand is the binder-projects command our init container runs.
const InitSubcommand = "init"

// InitCommand is our init container's command: our static binary, where the helper's volume puts it
// (Config.HelperBinaryPath), run with InitSubcommand. It removes what earlier starts provably left
// behind, deletes the folders queued in EnvDelete, finishes or rolls back an interrupted update, seeds
// a new project by an atomic copy of EnvSource into EnvProjectsRoot/EnvProject (recording what it was
// seeded with), updates an existing one when EnvUpdate asks, and writes its report (volume.Report) to
// EnvReport. docs/init.md is the full protocol.
func (c Config) InitCommand() []string { return []string{c.HelperBinaryPath(), InitSubcommand} }
