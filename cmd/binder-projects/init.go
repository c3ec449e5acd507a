package main

import (
	"fmt"
	"io"
	"os"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/volume"
)

// initUsage is what 'binder-projects init -h' says: the command takes no arguments, only environment
// variables (the webhook sets them on the project's init container).
const initUsage = `Usage (the command of a project's init container, as the notebook's user):
  binder-projects init

Makes the launched project ready on the user's volume: removes what earlier starts provably left,
finishes or rolls back an interrupted update of the project, deletes the queued project folders (or
moves them into the volume's trash), restores and deletes trash entries and expires old ones, seeds
the project from the image's home if it is missing (on a full volume, deleting the oldest trash
entries first), or updates it to the image's commit when asked, and reports the volume's usage.
Inputs, from the environment only:
  ` + contract.EnvRoot + `        where the user's volume is mounted (absolute)
  ` + contract.EnvProject + `     the project folder's name
  ` + contract.EnvSource + `      the image's home to seed from (absolute)
  ` + contract.EnvDelete + `      project folders to delete first (may be empty)
  ` + contract.EnvDeleteIDs + `  the id of each deletion (optional)
  ` + contract.EnvPod + `          the pod's name (optional)
  ` + contract.EnvCommit + `       the image's commit (optional)
  ` + contract.EnvUpdate + `       1 to update an existing project to that commit
  ` + contract.EnvReport + `       where the JSON report goes (e.g. /dev/termination-log)
  ` + contract.EnvTrashDays + `   days a deleted project stays in the trash (0 or unset: none)
  ` + contract.EnvRestore + `      trash entries to put back, <id>/<folder> (optional)
  ` + contract.EnvPurge + `        trash entries to delete for good now (optional)
  ` + contract.EnvUsageBudget + ` ms to spend measuring project sizes (default 200; 0: none)
Log lines on stderr. Exit status: 0 ready; 1 the project could not be made ready; 2 a bad input,
nothing changed.
`

// initCmd runs the init command: the environment goes to the package, which does the rest.
func initCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, initUsage)
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "binder-projects init: unexpected argument %q (the inputs are environment variables)\n\n%s", args[0], initUsage)
		return volume.ExitBadInput
	}
	return volume.RunInit(os.LookupEnv, stderr)
}
