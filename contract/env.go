package contract

// The init command's inputs: environment variables the webhook sets on the project's init container.
// No value ever reaches a shell.
const (
	// EnvRoot is where the user's volume is mounted in the init container, e.g. /projects.
	EnvRoot = "BINDER_PROJECTS_ROOT"
	// EnvProject is the launched project's folder name, directly under EnvRoot.
	EnvProject = "BINDER_PROJECTS_PROJECT"
	// EnvSource is the image's home folder a new project is seeded from, e.g. /home/jovyan. If it is not
	// a folder, a new project is seeded empty, with a warning.
	EnvSource = "BINDER_PROJECTS_SOURCE"
	// EnvDelete lists the project folders to delete first, separated by spaces, tabs or line breaks;
	// may be empty or unset.
	EnvDelete = "BINDER_PROJECTS_DELETE"
	// EnvDeleteIDs holds the id of each deletion in EnvDelete, in the same order (1 to 19 digits, at
	// most 2^63-1; 0 for none): the registry queue entry's time in Unix ns. Unset: no ids. A wrong count
	// or a bad id makes all of them ignored, with a warning (never a refusal).
	EnvDeleteIDs = "BINDER_PROJECTS_DELETE_IDS"
	// EnvReport is the file the report is written to (in a pod, /dev/termination-log); empty or unset:
	// no report.
	EnvReport = "BINDER_PROJECTS_REPORT"
	// EnvPod is the pod's name (1 to 253 of a-z 0-9 . -, not starting with a dot), for the pod rule; a
	// bad one is ignored, with a warning.
	EnvPod = "BINDER_PROJECTS_POD"
	// EnvCommit is the commit the image was built from (CheckCommit); a bad one is not used.
	EnvCommit = "BINDER_PROJECTS_COMMIT"
	// EnvUpdate is 1 to update an existing project to EnvCommit; empty, unset or 0 for none.
	EnvUpdate = "BINDER_PROJECTS_UPDATE"
)

// InitSubcommand is the binder-projects command the project's init container runs (docs/init.md).
const InitSubcommand = "init"
