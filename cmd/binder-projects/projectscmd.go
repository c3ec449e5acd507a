package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

list shows a user's projects, read from the registry on their claims; with --all, the projects on every
claim of the namespace with their users, the least recently used first. --unused-for D keeps those not
used for D (90d: days; 36h). -o json prints a JSON list (--json is the same). delete removes a project
from the record and queues its folder: the folder and all its files are deleted the next time the
user's server starts. Like the projects API, delete is refused while a server pod of the user exists.
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

// projectsCmd is `binder-projects projects list|delete`.
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
	if sub != "list" && sub != "delete" {
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
	if sub == "list" {
		l.AddFlags(fs)
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
	var dir contract.ProjectDir
	switch {
	case sub == "list" && len(pos) > 0:
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

	if err := l.run(ctx, store, *user, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
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
