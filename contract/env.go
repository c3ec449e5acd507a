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
	// EnvTrashDays is how many days a deleted project stays in the volume's trash (TrashFolder) before
	// it goes for good (0 to 3650); empty, unset or 0: a deletion deletes at once. A deletion moves the
	// folder into the trash by rename (no new space needed).
	EnvTrashDays = "BINDER_PROJECTS_TRASH_DAYS"
	// EnvRestore lists trash entries to put back, separated by spaces: each TrashEntryName(id, dir);
	// the webhook hands at most MaxRestoresPerStart. A restored folder whose name is taken again (the
	// user launched the repository since) goes beside it under RestoredName(dir, id). The report says
	// where each went (Report.Restored).
	EnvRestore = "BINDER_PROJECTS_RESTORE"
	// EnvPurge lists trash entries to delete for good now, separated by spaces: each
	// TrashEntryName(id, dir); the webhook hands at most MaxPurgesPerStart.
	EnvPurge = "BINDER_PROJECTS_PURGE"
	// EnvUsageBudget is how many milliseconds a start may spend measuring the sizes of the project
	// folders it did not seed or update (0 to 60000); empty or unset: DefaultUsageBudget; 0: none. A
	// project not reached keeps its last known size in the registry.
	EnvUsageBudget = "BINDER_PROJECTS_USAGE_BUDGET"
)

// DefaultUsageBudget is EnvUsageBudget's default, in milliseconds.
const DefaultUsageBudget = 200

// TrashFolder is the trash on the user's volume, at its root: one folder per deleted project,
// TrashEntryName(id, dir), holding the project's folder under its own name. The init command alone
// writes it; like every reserved name of the init command it never follows a link.
const TrashFolder = ".binder-projects-trash"

// InitSubcommand is the binder-projects command the project's init container runs (docs/init.md).
const InitSubcommand = "init"
