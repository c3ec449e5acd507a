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

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

const projectsUsage = `usage:
  binder-projects projects list   --user USER [--unused-for D] [-o table|json] [--namespace NS] [--kubeconfig FILE]
  binder-projects projects list   --all       [--unused-for D] [-o table|json] [--namespace NS] [--kubeconfig FILE]
  binder-projects projects delete --user USER [--namespace NS] [--kubeconfig FILE] FOLDER
  binder-projects projects trash  --user USER [-o table|json] [--namespace NS] [--kubeconfig FILE]
  binder-projects projects restore --user USER [--namespace NS] [--kubeconfig FILE] ID/FOLDER
  binder-projects projects purge  --user USER [--namespace NS] [--kubeconfig FILE] ID/FOLDER

list shows a user's projects, read from the registry on their claims; with --all, the projects on every
claim of the namespace with their users, the least recently used first. --unused-for D keeps those not
used for D (90d: days; 36h). -o json prints a JSON list (--json is the same). delete removes a project
from the record and queues its folder: the folder and all its files are deleted the next time the
user's server starts. Like the projects API, delete is refused while a server pod of the user exists.
trash shows the user's recently deleted projects, the most recently deleted first: each is named by
its trash entry ID/FOLDER, which restore and purge take. restore asks for it back (a deletion that has
not happened yet is simply taken back); purge asks for it to be deleted for good. Both are done at the
next start of the user's server, and neither is refused while it runs.
USER is the JupyterHub user name, as the hub shows it (e.g. anna.müller@uni.example).
`

// kubeClientFunc makes the Kubernetes client for a kubeconfig (empty: $KUBECONFIG, ~/.kube/config,
// then the in-cluster config) and returns the namespace that kubeconfig selects. Tests pass a fake.
type kubeClientFunc func(kubeconfig string) (client.Client, string, error)

// kubeconfigUsage is the help of --kubeconfig in the commands that connect with kubeClient.
const kubeconfigUsage = "kubeconfig file (empty: $KUBECONFIG, ~/.kube/config, then the in-cluster config)"

// kubeClient is the kubeClientFunc of the real commands: a controller-runtime client straight on the
// API server (no cache: one command, a few calls).
func kubeClient(kubeconfig string) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	restCfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the Kubernetes API: %w", err)
	}
	return c, ns, nil
}

// projectsSubcommands are the subcommands of `binder-projects projects`.
var projectsSubcommands = []string{"list", "delete", "trash", "restore", "purge"}

// projectsCmd is `binder-projects projects list|delete|trash|restore|purge`.
func projectsCmd(ctx context.Context, args []string, stdout, stderr io.Writer, newClient kubeClientFunc) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, projectsUsage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, projectsUsage)
		return 0
	}
	sub := args[0]
	if !slices.Contains(projectsSubcommands, sub) {
		fmt.Fprintf(stderr, "binder-projects projects: unknown command %q\n\n%s", sub, projectsUsage)
		return 2
	}
	name := "binder-projects projects " + sub
	fs := newFlagSet(name, "", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, projectsUsage) }
	user := fs.String("user", "", "the JupyterHub user name (required, or --all with list)")
	namespace := fs.String("namespace", "", "the hub's namespace (empty: the kubeconfig's)")
	kubeconfig := fs.String("kubeconfig", "", kubeconfigUsage)
	var l listOptions
	var output string
	var asJSON bool
	switch sub {
	case "list":
		l.AddFlags(fs)
	case "trash":
		fs.StringVar(&output, "o", "table", "output `format`: table, or json (a JSON list: the projects API's trash entries)")
		fs.BoolVar(&asJSON, "json", false, "the same as -o json")
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if sub == "list" {
		if err := l.Validate(*user); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n\n%s", name, err, projectsUsage)
			return 2
		}
	} else if *user == "" {
		fmt.Fprintf(stderr, "%s: --user is required\n\n%s", name, projectsUsage)
		return 2
	}
	if sub == "trash" && output != "table" && output != "json" {
		fmt.Fprintf(stderr, "%s: -o %q: want table or json\n\n%s", name, output, projectsUsage)
		return 2
	}
	var dir contract.ProjectDir
	var entry projects.Queued
	switch {
	case (sub == "list" || sub == "trash") && len(pos) > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, pos[0])
		return 2
	case sub == "delete" && len(pos) != 1:
		fmt.Fprintf(stderr, "%s: give exactly one project FOLDER (see `binder-projects projects list --user %s`)\n", name, *user)
		return 2
	case sub == "delete":
		var err error
		if dir, err = contract.ParseProjectDir(pos[0]); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
	case (sub == "restore" || sub == "purge") && len(pos) != 1:
		fmt.Fprintf(stderr, "%s: give exactly one trash entry ID/FOLDER (see `binder-projects projects trash --user %s`)\n", name, *user)
		return 2
	case sub == "restore" || sub == "purge":
		id, d, err := contract.ParseTrashEntryName(pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 2
		}
		entry = contract.TrashEntryOf(id, d)
	}

	c, ns, err := newClient(*kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if *namespace != "" {
		ns = *namespace
	}
	if ns == "" {
		fmt.Fprintf(stderr, "%s: no namespace: give the hub's namespace with --namespace\n", name)
		return 2
	}
	store := &projects.KubeStore{Client: c, Namespace: ns}

	if sub == "delete" {
		if err := store.Delete(ctx, *user, dir); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		fmt.Fprintf(stdout, "deleted project %s of %s: its folder and all its files are deleted the next time %s's server starts\n", dir, *user, *user)
		return 0
	}
	if sub == "trash" {
		if err := listTrash(ctx, store, *user, output == "json" || asJSON, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	}
	if sub == "restore" || sub == "purge" {
		if err := restoreOrPurge(ctx, store, sub, *user, entry, stdout); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			if errors.Is(err, projects.ErrNotInTrash) {
				fmt.Fprintf(stderr, "see `binder-projects projects trash --user %s` for the entries\n", *user)
			}
			return 1
		}
		return 0
	}

	if err := l.run(ctx, store, *user, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// listTrash prints the user's recently deleted projects on all their claims, the most recently deleted
// first: a tab-aligned table, or (asJSON) the projects API's list of trash entries. A registry part
// that cannot be read is reported on stderr; what can be read is shown.
func listTrash(ctx context.Context, store *projects.KubeStore, user string, asJSON bool, stdout, stderr io.Writer) error {
	storage, err := store.Storage(ctx, user)
	if err != nil && !errors.Is(err, projects.ErrCorruptRegistry) {
		return err
	}
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	trash := []projects.ListedTrash{} // [], not null
	for _, st := range storage {
		trash = append(trash, st.Trash...)
	}
	slices.SortStableFunc(trash, func(a, b projects.ListedTrash) int {
		return cmp.Or(b.DeletedAt.Compare(a.DeletedAt), cmp.Compare(a.Dir, b.Dir), cmp.Compare(a.Claim, b.Claim))
	})
	if asJSON {
		b, err := json.MarshalIndent(trash, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	if len(trash) == 0 {
		_, err := fmt.Fprintf(stdout, "%s has no recently deleted projects in namespace %s\n", user, store.Namespace)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FOLDER\tID\tSIZE\tDELETED AT\tSTATE\tCLAIM")
	for _, t := range trash {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Dir, t.ID, size(t.Size), lastUsed(t.DeletedAt), trashState(t), t.Claim)
	}
	return tw.Flush()
}

// trashState says where a recently deleted project is: "in the trash" (an init container moved its
// folder there) or "queued" (not yet), and what waits for the next start.
func trashState(t projects.ListedTrash) string {
	s := "queued"
	if t.InTrash {
		s = "in the trash"
	}
	switch {
	case t.Restoring:
		s += ", restore asked"
	case t.Purging:
		s += ", purge asked"
	}
	switch {
	case t.StartsBefore == 1:
		s += " (after 1 more server start)"
	case t.StartsBefore > 1:
		s += fmt.Sprintf(" (after %d more server starts)", t.StartsBefore)
	}
	return s
}

// restoreOrPurge asks (sub: restore or purge) for the user's trash entry back or gone for good, and
// says what happens next.
func restoreOrPurge(ctx context.Context, store *projects.KubeStore, sub, user string, entry projects.Queued, stdout io.Writer) error {
	id := contract.TrashID(entry)
	name := contract.TrashEntryName(id, entry.Dir)
	if sub == "purge" {
		if err := store.Purge(ctx, user, entry); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "purge of %s asked: its folder and all its files are deleted for good at the next server start of %s\n", name, user)
		return err
	}
	back, err := store.Restore(ctx, user, entry)
	if err != nil {
		return err
	}
	if back {
		_, err = fmt.Fprintf(stdout, "restored %s: taken back, the deletion had not happened yet; %s is a project of %s again\n", name, entry.Dir, user)
		return err
	}
	_, err = fmt.Fprintf(stdout, "restore of %s asked: restored at the next server start of %s (as %s, beside %s, if that name is taken again)\n",
		name, user, contract.RestoredName(entry.Dir, id), entry.Dir)
	return err
}

// parseInterspersed parses flags before and after the positional arguments
// ("delete FOLDER --user U" as well as "delete --user U FOLDER").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortCommit(c string) string {
	if len(c) == 40 {
		return c[:12]
	}
	return c
}

func lastUsed(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
