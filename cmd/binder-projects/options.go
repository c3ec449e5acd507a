package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/webhook"
)

// A command's settings are one options struct: its constructor holds the defaults, AddFlags binds
// every field onto a FlagSet (the defaults the help shows are the struct's), parsing only stores the
// values, and Validate then reports every bad value at once, each named by its flag.

// newFlagSet is a command's flag set: parse errors and the usage go to stderr. A header, when given,
// is printed before the flags' defaults (else the flag package's "Usage of NAME:").
func newFlagSet(name, header string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if header != "" {
		fs.Usage = func() {
			fmt.Fprint(stderr, header)
			fs.PrintDefaults()
		}
	}
	return fs
}

// The help of the flags that name the user's claim: one text, whichever command shows it.
const (
	claimNameTemplateUsage = "the user's one claim, with KubeSpawner's placeholders (" + contract.PlaceholderUsername + ", " +
		contract.PlaceholderServername + ", " + contract.PlaceholderUserServer + ") computed as KubeSpawner computes them: " +
		"the webhook adds it to a pod that has none, and it is the claim a named server must mount; the projects service " +
		"reads no other claim of a user. Keep it equal to KubeSpawner's pvc_name_template for the default server, and the " +
		"same in serve, mutate and projects-service"
	slugSchemeUsage = "KubeSpawner's slug_scheme, how it turns user and server names into name parts: safe (KubeSpawner 7) " +
		"or escape (older); the same in serve, mutate and projects-service"
)

// addClaimNameFlags binds --claim-name-template and --slug-scheme onto fs: the one declaration of the
// settings that serve, mutate and projects-service share, and must be given equal, to name a user's
// claim. (--volume-name-template, the pod volume's name, is the webhook's alone: addMutationFlags.)
// A bad slug scheme is c.Validate's to report.
func addClaimNameFlags(fs *flag.FlagSet, c *contract.ClaimNames) {
	fs.StringVar(&c.ClaimNameTemplate, "claim-name-template", c.ClaimNameTemplate, claimNameTemplateUsage)
	fs.StringVar((*string)(&c.SlugScheme), "slug-scheme", string(c.SlugScheme), slugSchemeUsage)
}

// trashDaysUsage is --trash-days' help: one text, whichever command shows it.
const trashDaysUsage = "how many days a deleted project stays in the trash on the user's volume, where the projects page can restore it, " +
	"before it goes for good (0: a deletion deletes at once; at most 3650); the same in serve, mutate and projects-service"

// addRetentionFlags binds --trash-days onto fs: the one declaration of the setting that serve (the
// init container deletes by it), mutate and projects-service (which shows when a deleted project goes
// for good) share. patch.CheckTrashDays reports a bad value.
func addRetentionFlags(fs *flag.FlagSet, trashDays *int) {
	fs.IntVar(trashDays, "trash-days", *trashDays, trashDaysUsage)
}

// addMutationFlags binds the settings of the pod mutation onto fs: serve and mutate have them all.
// c.Validate reports the bad values (a bad --helper-mode too).
func addMutationFlags(fs *flag.FlagSet, c *patch.Config) {
	fs.StringVar(&c.NotebookContainer, "notebook-container", c.NotebookContainer, "name of KubeSpawner's server container")
	fs.StringVar(&c.InitContainerName, "init-container-name", c.InitContainerName, "name of the init container that seeds projects")
	fs.StringVar(&c.HomeMountPath, "home-mount-path", c.HomeMountPath, "the notebook's home: the launched project is mounted here, and the image's files are seeded from here")
	fs.StringVar(&c.ProjectsMountPath, "projects-mount-path", c.ProjectsMountPath, "where every project (the whole user volume) is mounted")
	addClaimNameFlags(fs, &c.ClaimNames)
	fs.StringVar(&c.VolumeNameTemplate, "volume-name-template", c.VolumeNameTemplate, "name of the pod volume added for that claim, with the same placeholders")
	fs.BoolVar(&c.AllowPerServerClaims, "allow-per-server-claims", c.AllowPerServerClaims, "let a named server mount a claim of its own instead of the user's one claim (its projects are then not found by the next launch under another server name)")
	fs.BoolVar(&c.CoLocateUserServers, "co-locate-user-servers", c.CoLocateUserServers, "schedule a user's servers onto one node (a required pod affinity), so that all of them can mount the user's ReadWriteOnce claim; turn off for ReadWriteMany storage")
	fs.StringVar(&c.HelperImage, "helper-image", c.HelperImage, "image of binder-projects itself (required), whose binary the project's init container runs: binder-projects init seeds, deletes and updates projects on the user's volume (docs/init.md)")
	fs.StringVar((*string)(&c.HelperMode), "helper-mode", string(c.HelperMode), "how --helper-image reaches the project's init container: "+string(patch.HelperImageVolume)+" (mounted read-only as an image volume: no extra container; needs Kubernetes 1.35 or later and a runtime with image volume support, such as containerd 2.1+ or CRI-O 1.31+) or "+string(patch.HelperInitContainer)+" (an extra init container copies the binary into an emptyDir: for older clusters or runtimes, about 1 s more per launch)")
	fs.BoolVar(&c.UpdateOnLaunch, "update-on-launch", c.UpdateOnLaunch, "update a project whenever it is launched at a commit other than the one its registry entry records (off: only when asked for, by the projects page or the binder-projects.io/update annotation)")
	addRetentionFlags(fs, &c.TrashDays)
	fs.DurationVar(&c.UsageBudget, "usage-budget", c.UsageBudget, "how long a start of a project may spend measuring the sizes of the project folders it did not seed or update, for the projects page and the volume nearly full warning (whole milliseconds, at most 1m; 0: measure none); a project not reached keeps its last known size")
}

// mutateOptions are the settings of `binder-projects mutate`.
type mutateOptions struct {
	Mutation patch.Config // as serve's
	File     string       // -f: the pod's file, - for standard input
}

func newMutateOptions() mutateOptions { return mutateOptions{Mutation: patch.DefaultConfig()} }

// AddFlags binds the options onto fs.
func (o *mutateOptions) AddFlags(fs *flag.FlagSet) {
	addMutationFlags(fs, &o.Mutation)
	fs.StringVar(&o.File, "f", o.File, "the pod, as YAML or JSON (- for standard input)")
}

// errNoPodFile is mutate's usage error without -f.
var errNoPodFile = errors.New("give the pod with -f FILE (or -f - for standard input)")

// Validate reports every bad value at once.
func (o mutateOptions) Validate() error {
	var errs []error
	if o.File == "" {
		errs = append(errs, errNoPodFile)
	}
	return errors.Join(append(errs, o.Mutation.Validate())...)
}

// serveOptions are the settings of `binder-projects serve`.
type serveOptions struct {
	Mutation  patch.Config   // the pod mutation, as mutate's
	Webhook   webhookOptions // the admission webhook's server and policy
	Manager   managerOptions // the API connection, the namespace, leader election, metrics and probes
	Claims    claimOptions   // the claims the claim controller creates
	Verbosity int            // -v

	// ExpireAfter is --expire-projects-after: the expiry controller deletes the projects not used for
	// that long (0: off, the controller is not started).
	ExpireAfter time.Duration
}

// webhookOptions are the admission webhook's: its HTTPS server, how it builds the patch, and the
// project limit it enforces.
type webhookOptions struct {
	webhook.ServerOptions                   // --bind-address, --port, --cert-dir
	Patch                 webhook.PatchMode // --patch
	MaxProjects           int               // --max-projects (0: no limit)
}

// managerOptions are the controller-runtime manager's.
type managerOptions struct {
	Kubeconfig             string // --kubeconfig
	Namespace              string // --namespace (empty: serve's own, ownNamespace)
	MetricsBindAddress     string // --metrics-bind-address
	HealthProbeBindAddress string // --health-probe-bind-address
	LeaderElect            bool   // --leader-elect
	LeaderElectionID       string // --leader-election-id
}

// claimOptions are the claim controller's settings for the claim it creates for a pod without
// storage: controller.ClaimConfig, with the size as given (claimConfig parses it).
type claimOptions struct {
	Size         string                            // --claim-size, a quantity
	StorageClass string                            // --claim-storage-class
	AccessMode   corev1.PersistentVolumeAccessMode // --claim-access-mode
}

func newServeOptions() serveOptions {
	claims := controller.DefaultClaimConfig()
	return serveOptions{
		Mutation: patch.DefaultConfig(),
		Webhook: webhookOptions{
			ServerOptions: webhook.ServerOptions{Port: 9443, CertDir: "/tmp/k8s-webhook-server/serving-certs"},
			Patch:         webhook.PatchPlan,
			MaxProjects:   5,
		},
		Manager: managerOptions{MetricsBindAddress: ":8080", HealthProbeBindAddress: ":8081", LeaderElect: true, LeaderElectionID: "binder-projects"},
		Claims:  claimOptions{Size: claims.Size.String(), StorageClass: claims.StorageClass, AccessMode: claims.AccessMode},
	}
}

// AddFlags binds the options onto fs.
func (o *serveOptions) AddFlags(fs *flag.FlagSet) {
	addMutationFlags(fs, &o.Mutation)
	o.Webhook.AddFlags(fs)
	o.Manager.AddFlags(fs)
	o.Claims.AddFlags(fs)
	addExpireAfterFlag(fs, &o.ExpireAfter)
	fs.IntVar(&o.Verbosity, "v", o.Verbosity, "log verbosity (0: decisions and errors)")
}

// Validate reports every bad value at once.
func (o serveOptions) Validate() error {
	return errors.Join(o.Mutation.Validate(), o.Webhook.Validate(), o.Claims.Validate(), validateExpireAfter(o.ExpireAfter))
}

// AddFlags binds the options onto fs.
func (o *webhookOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Host, "bind-address", o.Host, "address the webhook listens on (empty: every address)")
	fs.IntVar(&o.Port, "port", o.Port, "port the webhook listens on (HTTPS)")
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir, "folder holding tls.crt and tls.key; a change to the files is picked up without a restart")
	fs.StringVar((*string)(&o.Patch), "patch", string(o.Patch), "how the admission's JSON patch is built: "+string(webhook.PatchPlan)+" (from what the mutation changed) or "+string(webhook.PatchDiff)+" (controller-runtime's diff of whole pods, slower; the same pods)")
	fs.IntVar(&o.MaxProjects, "max-projects", o.MaxProjects, "the most projects a user's claim may hold; launching a new one beyond it is denied (0: no limit)")
}

// Validate reports every bad value at once.
func (o webhookOptions) Validate() error {
	var errs []error
	if _, err := webhook.ParsePatchMode(string(o.Patch)); err != nil {
		errs = append(errs, fmt.Errorf("--patch: %w", err))
	}
	if o.MaxProjects < 0 {
		errs = append(errs, fmt.Errorf("--max-projects=%d must be 0 (no limit) or more", o.MaxProjects))
	}
	return errors.Join(errs...)
}

// AddFlags binds the options onto fs.
func (o *managerOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "address of the Prometheus /metrics endpoint (0 turns it off)")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress, "address of /healthz and /readyz")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "the hub's namespace, where the controllers watch singleuser pods and claims (default: the pod's own namespace in a cluster, else the kubeconfig context's)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect one replica to run the controllers (a Lease in --namespace); every replica serves the webhook")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the Lease the replicas elect a leader with")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (empty: $KUBECONFIG, then the in-cluster config, then ~/.kube/config)")
}

// AddFlags binds the options onto fs.
func (o *claimOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Size, "claim-size", o.Size, "size of a claim created for a pod without storage")
	fs.StringVar(&o.StorageClass, "claim-storage-class", o.StorageClass, "storage class of such a claim (empty: the cluster's default class)")
	fs.StringVar((*string)(&o.AccessMode), "claim-access-mode", string(o.AccessMode), "access mode of such a claim")
}

// Validate reports every bad value at once.
func (o claimOptions) Validate() error {
	if _, err := resource.ParseQuantity(o.Size); err != nil {
		return fmt.Errorf("--claim-size=%q: %w", o.Size, err)
	}
	return nil
}

// claimConfig is the claim controller's configuration. The options must be valid (Validate).
func (o claimOptions) claimConfig() controller.ClaimConfig {
	return controller.ClaimConfig{Size: resource.MustParse(o.Size), StorageClass: o.StorageClass, AccessMode: o.AccessMode}
}

// serviceOptions are the settings of `binder-projects projects-service`.
type serviceOptions struct {
	Listen       string              // --listen
	Namespace    string              // --namespace (empty: the kubeconfig's)
	Kubeconfig   string              // --kubeconfig
	BinderHubURL string              // --binderhub-url (empty: no launch links)
	Claims       contract.ClaimNames // --claim-name-template, --slug-scheme: as the webhook's
	ExpireAfter  time.Duration       // --expire-projects-after: as serve's, to tell users when
	TrashDays    int                 // --trash-days: as the webhook's
	Verbosity    int                 // -v
}

// newServiceOptions are the defaults, two of them from the environment.
func newServiceOptions(getenv func(string) string) serviceOptions {
	return serviceOptions{
		Listen:       ":8000",
		Namespace:    getenv("POD_NAMESPACE"),
		BinderHubURL: getenv("BINDERHUB_URL"),
		Claims:       contract.DefaultClaimNames(),
		TrashDays:    patch.DefaultConfig().TrashDays,
	}
}

// AddFlags binds the options onto fs.
func (o *serviceOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "address to serve on (the url in hub.services points here)")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "the hub's namespace, where the users' claims and server pods are (default: $POD_NAMESPACE, then the kubeconfig's)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, kubeconfigUsage)
	fs.StringVar(&o.BinderHubURL, "binderhub-url", o.BinderHubURL, "BinderHub's public URL, for launch links, e.g. https://notebooks.example.org/services/binder/ (default: $BINDERHUB_URL)")
	addClaimNameFlags(fs, &o.Claims)
	addExpireAfterFlag(fs, &o.ExpireAfter)
	addRetentionFlags(fs, &o.TrashDays)
	fs.IntVar(&o.Verbosity, "v", o.Verbosity, "log verbosity (0: errors and deletions; 1: logins)")
}

// Validate reports every bad value at once.
func (o serviceOptions) Validate() error {
	return errors.Join(o.Claims.Validate(), validateExpireAfter(o.ExpireAfter), patch.CheckTrashDays(o.TrashDays))
}
