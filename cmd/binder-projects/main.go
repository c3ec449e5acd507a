// Command binder-projects is the binder-projects webhook and its offline tools:
//
//	binder-projects serve            run the admission webhook (and the claim controller)
//	binder-projects mutate -f POD    print the pod the webhook would produce
//	binder-projects project-dir URL  print the folder a repository maps to
//	binder-projects init             make the launched project ready (the project's init container)
//	binder-projects seeded|update|recover  the previous init script's helper commands (rolling upgrades)
//	binder-projects install-helper --to DIR  copy this binary into DIR (the helper's init container)
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/certs"
	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/webhook"
)

const usage = `binder-projects gives a stock BinderHub persistent, multi-project storage: a mutating admission
webhook that puts each launched repository's files in a folder of its own on the user's volume.

Usage:
  binder-projects serve [flags]          run the admission webhook
  binder-projects mutate [flags] -f POD  print the pod the webhook would make of POD (YAML or JSON; - for stdin)
  binder-projects project-dir URL        print the project folder a repository URL maps to
  binder-projects certs -out DIR         write a self-signed CA and serving certificate (local runs, tests)
  binder-projects projects list|delete   list a user's projects, or delete one (admin CLI)
  binder-projects projects trash|restore|purge  a user's recently deleted projects: list them, or
                                         restore or purge one (admin CLI)
  binder-projects projects-service       run the projects page and API (a JupyterHub service)
  binder-projects init                   make the launched project ready on the user's volume (the
                                         project's init container; inputs from the environment)
  binder-projects seeded|update|recover  the previous init script's helper commands (kept for
                                         rolling upgrades; 'binder-projects update -h' tells more)
  binder-projects install-helper --to DIR copy this binary into DIR (the helper's init container)
  binder-projects check [-admission] URL check that a running webhook or projects service answers

Run 'binder-projects COMMAND -h' for a command's flags.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "mutate":
		return mutate(ctx, args[1:], stdin, stdout, stderr)
	case "project-dir":
		return projectDir(args[1:], stdout, stderr)
	case "certs":
		return selfSigned(args[1:], stdout, stderr)
	case "projects":
		return projectsCmd(ctx, args[1:], stdout, stderr, kubeClient)
	case "projects-service":
		return runProjectsService(ctx, args[1:], stderr)
	case "check":
		return check(ctx, args[1:], stdout, stderr)
	case "init":
		return initCmd(args[1:], stdout, stderr)
	case "seeded", "update", "recover":
		return updateCmd(args[0], args[1:], stdout, stderr)
	case "install-helper":
		return installHelper(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "binder-projects: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func mutate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := newMutateOptions()
	fs := newFlagSet("mutate", "", stderr)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", errNoPodFile)
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", err)
		return 2
	}
	var in []byte
	var err error
	if o.File == "-" {
		in, err = io.ReadAll(stdin)
	} else {
		in, err = os.ReadFile(o.File)
	}
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", err)
		return 1
	}
	podJSON, err := yaml.YAMLToJSON(in)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %s is not YAML or JSON: %v\n", o.File, err)
		return 1
	}
	out, resp, err := webhook.Review(ctx, webhook.NewWebhook(o.Mutation, logr.Discard()), podJSON)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", err)
		return 1
	}
	if !resp.Allowed {
		fmt.Fprintf(stderr, "binder-projects mutate: the webhook refuses this pod (%d): %s\n", resp.Result.Code, resp.Result.Message)
		return 1
	}
	if len(resp.Patch) == 0 {
		fmt.Fprintln(stderr, "binder-projects mutate: the webhook leaves this pod unchanged")
	}
	y, err := yaml.JSONToYAML(out)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(y); err != nil {
		return 1
	}
	return 0
}

func projectDir(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: binder-projects project-dir URL\n\nPrints the folder, on the user's volume, of the project launched from the repository URL.")
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	dir, err := contract.ProjectDirOf(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects project-dir: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, dir)
	return 0
}

// newLogger is the structured (JSON) logger of the server.
func newLogger(w io.Writer, verbosity int) logr.Logger {
	return funcr.NewJSON(func(obj string) { fmt.Fprintln(w, obj) }, funcr.Options{LogTimestamp: true, Verbosity: verbosity})
}

func selfSigned(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("certs", "", stderr)
	out := fs.String("out", "", "folder to write ca.crt, tls.crt and tls.key into")
	service := fs.String("service", "binder-projects", "the webhook's Service name")
	namespace := fs.String("namespace", "bhub", "the webhook's namespace")
	ips := fs.String("ips", "", "comma-separated IP addresses to add to the certificate (a webhook reached by URL)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: binder-projects certs -out DIR [-service NAME] [-namespace NS] [-ips IP,...]")
		return 2
	}
	var addrs []net.IP
	for _, s := range strings.Split(*ips, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			fmt.Fprintf(stderr, "binder-projects certs: -ips: %q is not an IP address\n", s)
			return 2
		}
		addrs = append(addrs, ip)
	}
	ca, err := certs.NewCA("binder-projects self-signed CA")
	if err == nil {
		svc := *service + "." + *namespace + ".svc"
		err = ca.WriteServing(*out, []string{svc, svc + ".cluster.local"}, addrs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects certs: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s/ca.crt, tls.crt and tls.key\n", *out)
	return 0
}
