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
	"flag"
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
	"github.com/binder-projects/binder-projects/patch"
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

// configFlags registers the mutation's settings on fs, with their defaults.
func configFlags(fs *flag.FlagSet) *patch.Config {
	c := patch.DefaultConfig()
	fs.StringVar(&c.NotebookContainer, "notebook-container", c.NotebookContainer, "name of KubeSpawner's server container")
	fs.StringVar(&c.InitContainerName, "init-container-name", c.InitContainerName, "name of the init container that seeds projects")
	fs.StringVar(&c.HomeMountPath, "home-mount-path", c.HomeMountPath, "the notebook's home: the launched project is mounted here, and the image's files are seeded from here")
	fs.StringVar(&c.ProjectsMountPath, "projects-mount-path", c.ProjectsMountPath, "where every project (the whole user volume) is mounted")
	fs.StringVar(&c.ClaimNameTemplate, "claim-name-template", c.ClaimNameTemplate, "the user's claim, with KubeSpawner's placeholders ("+contract.PlaceholderUsername+", "+contract.PlaceholderServername+", "+contract.PlaceholderUserServer+") computed as KubeSpawner computes them: added when the pod has none, and the claim a named server must mount (keep it equal to KubeSpawner's pvc_name_template for the default server)")
	fs.StringVar(&c.VolumeNameTemplate, "volume-name-template", c.VolumeNameTemplate, "name of the pod volume added for that claim, with the same placeholders")
	fs.Func("slug-scheme", "KubeSpawner's slug_scheme, how it turns user and server names into name parts: safe (KubeSpawner 7) or escape (older) (default "+string(c.SlugScheme)+")", func(s string) error {
		scheme, err := contract.ParseSlugScheme(s)
		c.SlugScheme = scheme
		return err
	})
	fs.BoolVar(&c.AllowPerServerClaims, "allow-per-server-claims", c.AllowPerServerClaims, "let a named server mount a claim of its own instead of the user's one claim (its projects are then not found by the next launch under another server name)")
	fs.BoolVar(&c.CoLocateUserServers, "co-locate-user-servers", c.CoLocateUserServers, "schedule a user's servers onto one node (a required pod affinity), so that all of them can mount the user's ReadWriteOnce claim; turn off for ReadWriteMany storage")
	fs.StringVar(&c.HelperImage, "helper-image", c.HelperImage, "image of binder-projects itself (required), whose binary the project's init container runs: binder-projects init seeds, deletes and updates projects on the user's volume (docs/init.md)")
	fs.Func("helper-mode", "how --helper-image reaches the project's init container: image-volume (mounted read-only as an image volume: no extra container; needs Kubernetes 1.35 or later and a runtime with image volume support, such as containerd 2.1+ or CRI-O 1.31+) or init-container (an extra init container copies the binary into an emptyDir: for older clusters or runtimes, about 1 s more per launch) (default "+string(c.HelperMode)+")", func(s string) error {
		m, err := patch.ParseHelperMode(s)
		c.HelperMode = m
		return err
	})
	fs.BoolVar(&c.UpdateOnLaunch, "update-on-launch", c.UpdateOnLaunch, "update a project whenever it is launched at a commit other than the one its registry entry records (off: only when asked for, by the projects page or the binder-projects.io/update annotation)")
	return &c
}

func mutate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := configFlags(fs)
	file := fs.String("f", "", "the pod, as YAML or JSON (- for standard input)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "binder-projects mutate: give the pod with -f FILE (or -f - for standard input)")
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", err)
		return 2
	}
	var in []byte
	var err error
	if *file == "-" {
		in, err = io.ReadAll(stdin)
	} else {
		in, err = os.ReadFile(*file)
	}
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %v\n", err)
		return 1
	}
	podJSON, err := yaml.YAMLToJSON(in)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects mutate: %s is not YAML or JSON: %v\n", *file, err)
		return 1
	}
	out, resp, err := webhook.Review(ctx, webhook.NewWebhook(*cfg, logr.Discard()), podJSON)
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
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
