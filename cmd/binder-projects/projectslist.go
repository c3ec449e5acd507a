package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/projects"
)

// listOptions are the settings of `binder-projects projects list` besides --user and the connection's.
type listOptions struct {
	All       bool          // --all: every claim of the namespace (exclusive with --user)
	UnusedFor time.Duration // --unused-for: only the projects not used for that long (0: all)
	Output    string        // -o: table or json
	JSON      bool          // --json: -o json, as before -o
	// ExpireAfter is --expire-projects-after, as serve has it: when set, each project says when it
	// expires (expiresAt, and an EXPIRES column).
	ExpireAfter time.Duration
}

// AddFlags binds the options onto fs.
func (o *listOptions) AddFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.All, "all", o.All, "the projects on every claim of the namespace, with their users (instead of --user)")
	fs.Var((*dayDuration)(&o.UnusedFor), "unused-for", "only the projects not used for this long, a `duration` such as 90d (days) or 36h")
	fs.StringVar(&o.Output, "o", "table", "output `format`: table, or json (a JSON list; docs/flags.md names its fields)")
	fs.BoolVar(&o.JSON, "json", o.JSON, "the same as -o json")
	// Not addExpireAfterFlag: here the setting expires nothing, it only shows when serve's would.
	fs.Var((*dayDuration)(&o.ExpireAfter), "expire-projects-after", "serve's --expire-projects-after, a `duration` such as 90d: show when each project expires unless it is launched (an EXPIRES column; expiresAt in JSON); 0: not shown")
}

// Validate reports every bad value at once; user is --user's.
func (o listOptions) Validate(user string) error {
	var errs []error
	switch {
	case o.All && user != "":
		errs = append(errs, errors.New("--user and --all are exclusive: give one"))
	case !o.All && user == "":
		errs = append(errs, errors.New("--user or --all is required"))
	}
	if o.UnusedFor < 0 {
		errs = append(errs, fmt.Errorf("--unused-for=%s must be 0 (every project) or more", (*dayDuration)(&o.UnusedFor)))
	}
	if o.Output != "table" && o.Output != "json" {
		errs = append(errs, fmt.Errorf("-o %q: want table or json", o.Output))
	}
	errs = append(errs, validateExpireAfter(o.ExpireAfter))
	return errors.Join(errs...)
}

// ownedProject is a row of `list --all`: the projects API's project with its claim, and the user the
// claim belongs to (its hub.jupyter.org/username; "" when it does not say). As JSON: user, dir,
// repoURL, image, commit, lastUsed, lastUpdate, size, claim (docs/flags.md).
type ownedProject struct {
	User string `json:"user"`
	projects.Listed
}

// run lists and prints, with the user's projects (user) or every claim's (--all) read from store.
func (o listOptions) run(ctx context.Context, store *projects.KubeStore, user string, stdout io.Writer) error {
	now := time.Now()
	unused := func(p projects.Project) bool { return o.UnusedFor == 0 || p.Expired(o.UnusedFor, now) }
	var rows []ownedProject
	if o.All {
		all, err := allProjects(ctx, store)
		if err != nil {
			return err
		}
		rows = slices.DeleteFunc(all, func(p ownedProject) bool { return !unused(p.Project) })
	} else {
		list, err := store.List(ctx, user)
		if err != nil {
			return err
		}
		for _, p := range list {
			if unused(p.Project) {
				rows = append(rows, ownedProject{User: user, Listed: p})
			}
		}
	}

	for i := range rows {
		rows[i].SetExpires(o.ExpireAfter)
	}
	if o.Output == "json" || o.JSON {
		// A user's projects are the projects API's format; every claim's add the user.
		if rows == nil {
			rows = []ownedProject{} // [], not null
		}
		var v any = rows
		if !o.All {
			listed := make([]projects.Listed, 0, len(rows))
			for _, r := range rows {
				listed = append(listed, r.Listed)
			}
			v = listed
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}

	if len(rows) == 0 {
		whose := user + " has no projects"
		if o.All {
			whose = "no projects"
		}
		if o.UnusedFor > 0 {
			whose += " unused for " + (*dayDuration)(&o.UnusedFor).String()
		}
		_, err := fmt.Fprintf(stdout, "%s in namespace %s\n", whose, store.Namespace)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	// expires is the EXPIRES column's cell (with its tab), none without --expire-projects-after.
	expires := func(p ownedProject) string {
		switch {
		case o.ExpireAfter == 0:
			return ""
		case p.Expires == nil:
			return "\t-"
		}
		return "\t" + p.Expires.Format("2006-01-02")
	}
	header := ""
	if o.ExpireAfter > 0 {
		header = "\tEXPIRES"
	}
	if o.All {
		fmt.Fprintln(tw, "USER\tCLAIM\tFOLDER\tSIZE\tLAST USED"+header)
		for _, p := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", orDash(p.User), p.Claim, p.Dir, size(p.Size), lastUsed(p.LastUsed), expires(p))
		}
	} else {
		fmt.Fprintln(tw, "FOLDER\tREPOSITORY\tCOMMIT\tLAST USED\tCLAIM"+header)
		for _, p := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", p.Dir, orDash(p.RepoURL), orDash(shortCommit(p.Commit)), lastUsed(p.LastUsed), p.Claim, expires(p))
		}
	}
	return tw.Flush()
}

// allProjects are the projects on every claim of the store's namespace, the least recently used
// first (then by user, claim and folder). The claims are listed a page at a time.
func allProjects(ctx context.Context, store *projects.KubeStore) ([]ownedProject, error) {
	var out []ownedProject
	err := projects.ListClaims(ctx, store.Client, store.Namespace, func(page []metav1.PartialObjectMetadata) error {
		for i := range page {
			// A corrupt part reads as empty: what can be read is shown; the next launch repairs it.
			r, _ := projects.FromClaim(&page[i])
			for _, p := range r.Projects {
				out = append(out, ownedProject{User: projects.Owner(&page[i]), Listed: projects.Listed{Project: p, Claim: page[i].Name}})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b ownedProject) int {
		return cmp.Or(a.LastUsed.Compare(b.LastUsed), cmp.Compare(a.User, b.User), cmp.Compare(a.Claim, b.Claim), cmp.Compare(a.Dir, b.Dir))
	})
	return out, nil
}

// size is a recorded folder size for a person, in binary units ("1.5 GiB"), or "-" when none is
// recorded.
func size(s *projects.Size) string {
	if s == nil {
		return "-"
	}
	return projects.HumanBytes(s.Bytes)
}
