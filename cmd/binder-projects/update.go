package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/binder-projects/binder-projects/volume"
)

// The commands seeded, update and recover are the helper commands of the previous release's init
// script (init.sh v1, kept as volume/testdata/init-sh-v1.sh), which called them as
// BINDER_PROJECTS_HELPER. Nothing of this release calls them: the init command (binder-projects init)
// does all of it in-process. They stay for pods that a previous webhook admitted with this image as
// its helper during a rolling upgrade, and for an operator's manual recovery. Their output is for that
// script:
//   - stderr: human log lines, each starting with "binder-projects: " ("binder-projects: warning: ",
//     "binder-projects: error: "), naming only project-relative paths;
//   - stdout: exactly one line, "<word> key=value ...", values without spaces;
//   - exit status: 0 done; 1 failed, the project exactly as before; 2 a bad command line or input,
//     nothing changed; 3 failed and not rolled back (the next recover or update finishes it or rolls it
//     back; the server must not start on the project meanwhile).
const updateUsage = `Usage (inside a project's init container, as the notebook's user):
  binder-projects seeded  --root ROOT --project NAME --commit COMMIT
      records what project NAME (ROOT/NAME, just seeded from the image) holds, as the base of its updates
  binder-projects update  --root ROOT --project NAME --source HOME --commit COMMIT
      brings ROOT/NAME to the image's home HOME of COMMIT, keeping the user's changes
  binder-projects recover --root ROOT --project NAME
      finishes or rolls back an interrupted update of ROOT/NAME (every start should run it)

stdout: one line, e.g.
  seeded project=NAME commit=C files=N dirs=N links=N bytes=N
  updated project=NAME commit=C from=OLD|none replaced=N added=N removed=N kept=N beside=N stayed-deleted=N modes=N recovered=STATE
  recovered project=NAME state=none|finished|rolled-back|cleaned|discarded
  failed project=NAME changed=no|unfinished
Exit status: 0 done; 1 failed, the project as before; 2 bad input, nothing changed; 3 failed and not
rolled back (the next recover finishes or rolls it back).
`

// updateCmd runs one of the commands seeded, update and recover.
func updateCmd(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "", "where the user's volume is mounted (absolute)")
	project := fs.String("project", "", "the project folder's name, directly under the root")
	var source, commit *string
	if name != "recover" {
		commit = fs.String("commit", "", "the commit (or ref) the image was built from")
	}
	if name == "update" {
		source = fs.String("source", "", "the image's home folder to update from, e.g. /home/jovyan")
	}
	logLine := func(l string) { fmt.Fprintf(stderr, "binder-projects: %s\n", l) }
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "binder-projects %s: %s\n\n%s", name, msg, updateUsage)
		fmt.Fprintf(stdout, "failed project=%s changed=no\n", safeValue(*project))
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, updateUsage)
			return 0
		}
		return usageErr(err.Error())
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Value.String() == "" {
			missing = append(missing, "--"+f.Name)
		}
	})
	if len(missing) > 0 {
		return usageErr("missing " + strings.Join(missing, ", "))
	}

	var line string
	var err error
	switch name {
	case "seeded":
		var r *volume.RecordResult
		if r, err = volume.Record(*root, *project, *commit, logLine); err == nil {
			line = fmt.Sprintf("seeded project=%s commit=%s files=%d dirs=%d links=%d bytes=%d", *project, *commit, r.Files, r.Dirs, r.Links, r.Bytes)
		}
	case "update":
		var r *volume.Result
		if r, err = volume.Update(volume.Options{Root: *root, Project: *project, Source: *source, Commit: *commit, Log: logLine}); err == nil {
			s := r.Summary
			line = fmt.Sprintf("updated project=%s commit=%s from=%s replaced=%d added=%d removed=%d kept=%d beside=%d stayed-deleted=%d modes=%d recovered=%s",
				*project, r.Commit, orNone(r.OldCommit), s.Replaced, s.Added, s.Removed, s.Kept, s.Beside, s.StayedDeleted, s.Modes, orNone(r.Recovered))
		}
	case "recover":
		var state string
		if state, _, err = volume.Recover(*root, *project, logLine); err == nil {
			line = fmt.Sprintf("recovered project=%s state=%s", *project, orNone(state))
		}
	}
	if err == nil {
		fmt.Fprintln(stdout, line)
		return 0
	}
	fmt.Fprintf(stderr, "binder-projects: error: %s\n", oneLine(err.Error()))
	switch {
	case errors.Is(err, volume.ErrBadInput):
		fmt.Fprintf(stdout, "failed project=%s changed=no\n", safeValue(*project))
		return 2
	case errors.Is(err, volume.ErrUnfinished):
		fmt.Fprintf(stdout, "failed project=%s changed=unfinished\n", safeValue(*project))
		return 3
	}
	fmt.Fprintf(stdout, "failed project=%s changed=no\n", safeValue(*project))
	return 1
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// safeValue is s as a value of the stdout line: a project name as given, which may be bad (refused),
// without spaces or line breaks.
func safeValue(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return "invalid"
	}
	return s
}

// oneLine turns line breaks (a file name may hold one) into spaces; names in messages are quoted then
// anyway.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
