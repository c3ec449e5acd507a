package patch

import "github.com/binder-projects/binder-projects/contract"

// InitCommand is our init container's command: our static binary, where the helper's volume puts it
// (Config.HelperBinaryPath), run with contract.InitSubcommand. It removes what earlier starts provably
// left behind, deletes the folders queued in contract.EnvDelete, finishes or rolls back an interrupted
// update, seeds a new project by an atomic copy of contract.EnvSource into
// contract.EnvRoot/contract.EnvProject (recording what it was seeded with), updates an existing one
// when contract.EnvUpdate asks, and writes its report (contract.Report) to contract.EnvReport.
// docs/init.md is the full protocol.
func (c Config) InitCommand() []string {
	return []string{c.HelperBinaryPath(), contract.InitSubcommand}
}
