package patch

import (
	_ "embed" // for initSource
	"strings"
)

// The init container's inputs. The script reads them from its environment only: no value is ever spliced
// into the script text, so no project name can become shell code.
const (
	// EnvProjectsRoot is where the user's volume is mounted in the init container, e.g. /projects.
	EnvProjectsRoot = "BINDER_PROJECTS_ROOT"
	// EnvProject is the project folder name, directly under EnvProjectsRoot.
	EnvProject = "BINDER_PROJECTS_PROJECT"
	// EnvSource is the image's home folder that a new project is seeded from, e.g. /home/jovyan.
	EnvSource = "BINDER_PROJECTS_SOURCE"
	// EnvDelete lists project folders to delete first, separated by spaces or newlines; may be empty or
	// unset. The script checks every name again and deletes nothing if one is invalid.
	EnvDelete = "BINDER_PROJECTS_DELETE"
	// EnvReport is the file the script writes its report to (in the pod: the init container's
	// termination message file, which the registry controller reads).
	EnvReport = "BINDER_PROJECTS_REPORT"
	// EnvDeleteIDs identifies the deletions in EnvDelete, in the same order, separated by spaces: the
	// registry queue entry's time in Unix nanoseconds, or 0 for a deletion that is not a queue entry
	// (the binder-projects.io/delete annotation). The script records on the volume which entry of a
	// folder it carried out, so that a start that was handed the same entry, at the same time as a
	// start that launches that folder anew, never deletes the new folder.
	EnvDeleteIDs = "BINDER_PROJECTS_DELETE_IDS"
	// EnvPod is the pod's name (the downward API's metadata.name). A work folder of a start without
	// flock carries it, so a later start of the same pod name (which Kubernetes allows only once the
	// earlier pod is gone) knows that folder is dead.
	EnvPod = "BINDER_PROJECTS_POD"
	// EnvHelper is the absolute path of our static binary (binder-projects): inside our image, mounted
	// read-only as an image volume, or copied into a shared emptyDir by the helper's init container
	// (Config.HelperImage, Config.HelperMode). With it, the script recovers an
	// interrupted update of the project at every start, records what a new project was seeded with
	// (binder-projects seeded), and updates an existing one when EnvUpdate asks for it. Without it (or
	// if it is not executable), the script works as before the helper existed.
	EnvHelper = "BINDER_PROJECTS_HELPER"
	// EnvCommit is the commit the image was built from (AnnotationCommit's value, if it is a valid
	// commit for the helper: ValidCommit).
	EnvCommit = "BINDER_PROJECTS_COMMIT"
	// EnvUpdate is "1" when the launch asks for an update of an existing project to EnvCommit.
	EnvUpdate = "BINDER_PROJECTS_UPDATE"
)

// InitScript is the init container's POSIX sh script (init.sh; dash, bash and busybox ash run it). It
// removes what earlier runs provably left behind (a work folder only once its run's flock(2) lock is
// free; where that cannot be checked, once it is 24 hours old, or at once if it carries this start's own
// pod name, EnvPod), deletes the folders queued in EnvDelete (renaming each to a reserved name first, so
// no free space is needed; a deletion whose id, in EnvDeleteIDs, the volume's tombstones show carried
// out already by another start is not done again, so a folder seeded anew after it is never deleted by
// it), then copies EnvSource into EnvProjectsRoot/EnvProject through a private work folder and an
// atomic rename, only if nothing of that name exists yet; an image without that home folder gets an
// empty project and a warning. Runs on one volume at the same time never remove each other's work. Exit
// status 2 means a bad input (nothing changed; bad ids or a bad pod name are only ignored, with a
// warning), 1 that the project could not be made ready (a failed copy, a full volume, a file in the
// way); a deletion that cannot be done is only a warning. If EnvReport is set, the script writes its
// report there before it exits (ParseInitReport reads it). The header of init.sh is the full protocol.
//
// It is init.sh without its comment lines and blank lines: the script travels in every pod spec,
// where its documentation would only add bytes.
var InitScript = stripComments(initSource)

//go:embed init.sh
var initSource string

// stripComments drops the lines of a shell script that hold only a comment or nothing, keeping the
// first line (#!). init.sh has no here-documents or multi-line strings, where this would be wrong;
// the script's tests run the stripped text, so they would catch it.
func stripComments(script string) string {
	lines := strings.Split(script, "\n")
	out := lines[:1]
	for _, l := range lines[1:] {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// InitScriptName is the script's $0, the name the shell puts in front of its own error messages.
const InitScriptName = "binder-projects-init"

// InitCommand is the init container's command: the script run by /bin/sh, with $0 set to a name for error
// messages.
func InitCommand() []string { return []string{"/bin/sh", "-c", InitScript, InitScriptName} }
