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
)

// InitScript is the init container's POSIX sh script (init.sh; dash, bash and busybox ash run it). It
// removes leftovers of earlier killed runs, deletes the folders queued in EnvDelete, then copies EnvSource
// into EnvProjectsRoot/EnvProject through a temporary folder and an atomic rename, only if nothing of
// that name exists yet. Exit status 2 means a bad input (nothing changed), 1 a failed copy or deletion.
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
