package contract

// Every annotation and label binder-projects reads or writes. This file is the API: the README's
// annotation table is checked against it (TestREADMEListsEveryAnnotation).
const (
	// Prefix is the prefix of every annotation binder-projects owns.
	Prefix = "binder-projects.io/"

	// AnnotationProject (input, optional) names the project folder explicitly, instead of deriving it
	// from the repository URL. It must be a safe folder name: [A-Za-z0-9._-], at most 255 bytes, not
	// starting with a dot.
	AnnotationProject = Prefix + "project"

	// AnnotationRepoURL (input, optional; written on output) is the repository the project comes from.
	// When absent, the env var BINDER_REPO_URL of the notebook container (set by BinderHub) is used. On
	// output it records the URL that was used, without its user info (RedactRepoURL: a token in the
	// URL never reaches the pod, the registry or the projects page).
	AnnotationRepoURL = Prefix + "repo-url"

	// AnnotationImage (input, optional; written on output) is the image the init container seeds the
	// project from. When absent, the notebook container's image is used; on output it records the
	// image used, which the registry keeps.
	AnnotationImage = Prefix + "image"

	// AnnotationDelete (input, optional) lists project folders, separated by spaces, that the init
	// container deletes before it seeds the launched project. Each is checked like AnnotationProject.
	AnnotationDelete = Prefix + "delete"

	// AnnotationProjectDir (output) is the project folder on the user's volume that is mounted at the
	// home directory.
	AnnotationProjectDir = Prefix + "project-dir"

	// AnnotationClaim (output) is the user's claim the pod's projects are on: the claim mounted at the
	// home path, or the one the claim name template names (and the registry controller creates). The
	// registry controller records the launch on it, and the webhook counts the projects that the
	// user's other pods on it are launching (the project limit).
	AnnotationClaim = Prefix + "claim"

	// AnnotationStatus (output) marks a pod as mutated; its value is StatusInjected. A pod that carries
	// it is left alone, so a second admission call (reinvocation) is a no-op.
	AnnotationStatus = Prefix + "status"

	// StatusInjected is the value of AnnotationStatus on a mutated pod.
	StatusInjected = "injected"

	// AnnotationCommit (output) is the ref BinderHub resolved for the launch (the last part of
	// BINDER_PERSISTENT_REQUEST), recorded in the registry.
	AnnotationCommit = Prefix + "commit"

	// AnnotationDeletions (output) records the entries of the registry's deletion queue that the
	// webhook handed to the init container: a JSON list of {dir, queuedAt}. The registry controller
	// clears exactly these entries, and only those the init container reported done.
	AnnotationDeletions = Prefix + "deletions"

	// AnnotationUpdate (input, optional) set to "true" asks for an update of the launched project, if
	// it exists, to the launched commit, keeping the user's changes (docs/updates.md): for launchers
	// other than the projects page, which queues its requests in the registry instead
	// (AnnotationClaimUpdateQueue). Any other value asks for none. Updates need the helper
	// (--helper-image); without it the init container answers with a warning.
	AnnotationUpdate = Prefix + "update"

	// AnnotationUpdateHanded (output) records the entry of the registry's update queue that the webhook
	// handed to the init container (an update request for the launched project, JSON {dir, queuedAt}).
	// The registry controller clears exactly this entry once the init container reported the update's
	// result, whatever it was.
	AnnotationUpdateHanded = Prefix + "update-request"

	// AnnotationUpdateDeferred (output) says that an update was asked for (a queued request,
	// AnnotationUpdate, or --update-on-launch) but not handed to this launch, because the project is
	// open in another server of the same user: another pod on the same claim, not ended (a terminating
	// one counts until it is gone), with the same project folder at its home. Updating would change
	// files under that server's running kernels and editor. JSON {asked, open: [{pod, server, stopping}]}:
	// asked is "queue", "annotation" or "update-on-launch"; open names the user's own servers that
	// have the project open, never another user's. The launch goes ahead on the project as it is, a
	// queued request stays queued, and the registry controller tells the user on the pod (the Event
	// UpdateDeferred) which server to stop before launching again.
	AnnotationUpdateDeferred = Prefix + "update-deferred"

	// AnnotationClaimProjects (on the user's claim, kept by binder-projects) is the projects registry:
	// a JSON list of {dir, repoURL, image, commit, lastUsed, lastUpdate, size, deletionTakenBack}.
	AnnotationClaimProjects = Prefix + "projects"

	// AnnotationClaimDeleteQueue (on the user's claim, kept by binder-projects) is the JSON list of
	// {dir, queuedAt} of project folders waiting for the next init container to delete them.
	AnnotationClaimDeleteQueue = Prefix + "delete-queue"

	// AnnotationClaimUpdateQueue (on the user's claim, kept by binder-projects) is the JSON list of
	// {dir, queuedAt} of projects whose next launch updates them to the launched commit.
	AnnotationClaimUpdateQueue = Prefix + "update-queue"

	// AnnotationClaimTrash (on the user's claim, kept by binder-projects) is the JSON list of the
	// user's recently deleted projects: each project's record as it was, when it was deleted, whether
	// its folder is in the volume's trash yet (contract.TrashFolder) and its size there. The registry
	// controller keeps it from the init command's report (Report.Trash).
	AnnotationClaimTrash = Prefix + "trash"

	// AnnotationClaimRestoreQueue and AnnotationClaimPurgeQueue (on the user's claim, kept by
	// binder-projects) are the JSON lists of {dir, queuedAt} of trash entries (named by their
	// deletion: TrashEntryOf) waiting for the next init container to put them back, or to delete them
	// for good.
	AnnotationClaimRestoreQueue = Prefix + "restore-queue"
	AnnotationClaimPurgeQueue   = Prefix + "purge-queue"

	// AnnotationClaimUsage (on the user's claim, kept by binder-projects) is the JSON of the volume's
	// last measured size and free space ({size, free, at}, Report.Usage).
	AnnotationClaimUsage = Prefix + "usage"

	// AnnotationRestores and AnnotationPurges (output) record the entries of the registry's restore
	// and purge queues that the webhook handed to the init container (EnvRestore, EnvPurge): the
	// oldest, at most MaxRestoresPerStart and MaxPurgesPerStart. AnnotationDeletions does so for
	// deletions.
	AnnotationRestores = Prefix + "restores"
	AnnotationPurges   = Prefix + "purges"

	// AnnotationClaimProjectsCorrupt and AnnotationClaimDeleteQueueCorrupt (on the user's claim, kept by
	// binder-projects) keep a registry value that did not parse (a hand edit, a truncated write), set
	// aside for inspection when binder-projects writes a good registry in its place.
	AnnotationClaimProjectsCorrupt     = AnnotationClaimProjects + "-corrupt"
	AnnotationClaimDeleteQueueCorrupt  = AnnotationClaimDeleteQueue + "-corrupt"
	AnnotationClaimUpdateQueueCorrupt  = AnnotationClaimUpdateQueue + "-corrupt"
	AnnotationClaimTrashCorrupt        = AnnotationClaimTrash + "-corrupt"
	AnnotationClaimRestoreQueueCorrupt = AnnotationClaimRestoreQueue + "-corrupt"
	AnnotationClaimPurgeQueueCorrupt   = AnnotationClaimPurgeQueue + "-corrupt"
)

// Labels and annotations that KubeSpawner and the z2jh chart set, which binder-projects reads.
const (
	// LabelComponent selects singleuser pods in the MutatingWebhookConfiguration.
	LabelComponent = "component"
	// ComponentSingleuser is the value of LabelComponent on a singleuser server pod.
	ComponentSingleuser = "singleuser-server"
	// AnnotationHubUsername is the raw JupyterHub user name.
	AnnotationHubUsername = "hub.jupyter.org/username"
	// AnnotationHubServername is the named server's name ("" for the default server).
	AnnotationHubServername = "hub.jupyter.org/servername"
	// LabelHostname is the node label the co-location affinity uses as its topology key.
	LabelHostname = "kubernetes.io/hostname"
	// EnvRepoURL is the notebook container's env var that BinderHub's spawner mixin sets to the
	// launched repository's URL.
	EnvRepoURL = "BINDER_REPO_URL"
	// EnvPersistentRequest is the notebook container's env var that BinderHub sets to the launch
	// request with the resolved ref (v2/gh/owner/repo/<commit>).
	EnvPersistentRequest = "BINDER_PERSISTENT_REQUEST"
)
