package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/projects"
	"github.com/binder-projects/binder-projects/webhook"
)

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := configFlags(fs)
	host := fs.String("bind-address", "", "address the webhook listens on (empty: every address)")
	port := fs.Int("port", 9443, "port the webhook listens on (HTTPS)")
	certDir := fs.String("cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder holding tls.crt and tls.key; a change to the files is picked up without a restart")
	metricsAddr := fs.String("metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (0 turns it off)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	namespace := fs.String("namespace", "", "the hub's namespace, where the controllers watch singleuser pods and claims (default: the pod's own namespace in a cluster, else the kubeconfig context's)")
	leaderElect := fs.Bool("leader-elect", true, "elect one replica to run the controllers (a Lease in --namespace); every replica serves the webhook")
	leaderElectionID := fs.String("leader-election-id", "binder-projects", "name of the Lease the replicas elect a leader with")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (empty: $KUBECONFIG, then the in-cluster config, then ~/.kube/config)")
	claimSize := fs.String("claim-size", "10Gi", "size of a claim created for a pod without storage")
	claimClass := fs.String("claim-storage-class", "", "storage class of such a claim (empty: the cluster's default class)")
	claimAccess := fs.String("claim-access-mode", string(corev1.ReadWriteOnce), "access mode of such a claim")
	maxProjects := fs.Int("max-projects", 5, "the most projects a user's claim may hold; launching a new one beyond it is denied (0: no limit)")
	verbosity := fs.Int("v", 0, "log verbosity (0: decisions and errors)")
	patchFlag := fs.String("patch", string(webhook.PatchPlan), "how the admission's JSON patch is built: plan (from what the mutation changed) or diff (controller-runtime's diff of whole pods, slower; the same pods)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	patchMode, err := webhook.ParsePatchMode(*patchFlag)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects serve: --patch: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "binder-projects serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "binder-projects serve: %v\n", err)
		return 2
	}
	if *maxProjects < 0 {
		fmt.Fprintf(stderr, "binder-projects serve: --max-projects=%d must be 0 (no limit) or more\n", *maxProjects)
		return 2
	}
	claims := controller.ClaimConfig{StorageClass: *claimClass, AccessMode: corev1.PersistentVolumeAccessMode(*claimAccess)}
	size, err := resource.ParseQuantity(*claimSize)
	if err != nil {
		fmt.Fprintf(stderr, "binder-projects serve: --claim-size=%q: %v\n", *claimSize, err)
		return 2
	}
	claims.Size = size

	log := newLogger(stderr, *verbosity)
	ctrl.SetLogger(log)
	restCfg, err := restConfig(*kubeconfig)
	if err != nil {
		log.Error(err, "cannot reach the Kubernetes API")
		return 1
	}
	if *namespace == "" {
		if *namespace, err = ownNamespace(*kubeconfig); err != nil {
			fmt.Fprintf(stderr, "binder-projects serve: %v; set --namespace to the hub's namespace\n", err)
			return 2
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		log.Error(err, "building the scheme")
		return 1
	}
	// The cache holds the singleuser pods, and every claim of the hub's namespace (one per user) as
	// metadata only (the registry is annotations): of each, what is read of it (webhook.TransformPod,
	// webhook.TransformClaim). Nothing writes a cached object.
	podCache := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{contract.LabelComponent: contract.ComponentSingleuser}),
		Transform: webhook.TransformPod}
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: podCache,
		projects.ClaimMetadata(): {Transform: webhook.TransformClaim}}}
	// Only the hub's namespace: the Role grants no more, and a cache over every namespace would never
	// sync, so readiness would never come.
	cacheOpts.DefaultNamespaces = map[string]cache.Config{*namespace: {}}
	cacheOpts.DefaultTransform = cache.TransformStripManagedFields()
	// A read of a kind the cache does not watch (a typed claim, say) fails instead of starting a second
	// informer over every claim.
	cacheOpts.ReaderFailOnMissingInformer = true
	// The webhook reads the registry from the manager's cache (a cached client), never with an API
	// call per request; the cache is filled before the webhook is ready.
	var registry webhook.ClaimRegistry
	// It also reads the user's other singleuser pods from the cache (by an index on the user label),
	// to defer an update of a project open in another of the user's servers.
	var servers webhook.CachedUserPods
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: *probeAddr,
		// The controllers run on the elected replica only; the webhook server, the cache and the
		// readiness checks run on every replica.
		LeaderElection:                *leaderElect,
		LeaderElectionID:              *leaderElectionID,
		LeaderElectionNamespace:       *namespace,
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: webhook.NewServer(webhook.ServerOptions{Host: *host, Port: *port, CertDir: *certDir}, *cfg,
			log.WithName("admission"), webhook.WithRegistry(&registry, *maxProjects), webhook.WithServers(&servers), webhook.WithPatchMode(patchMode)),
	})
	if err != nil {
		log.Error(err, "setting up the manager")
		return 1
	}
	registry.Reader = mgr.GetClient()
	servers.Reader = mgr.GetClient()
	if err := webhook.IndexUserPods(ctx, mgr.GetFieldIndexer()); err != nil {
		log.Error(err, "indexing pods by user")
		return 1
	}
	var cacheSynced atomic.Bool
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		if _, err := mgr.GetCache().GetInformer(ctx, projects.ClaimMetadata()); err != nil {
			return fmt.Errorf("watching claims: %w", err)
		}
		// Every replica admits, so every replica watches the singleuser pods too (on the elected one
		// the controllers would start this informer anyway).
		if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{}); err != nil {
			return fmt.Errorf("watching singleuser pods: %w", err)
		}
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the claim and pod caches did not sync")
		}
		cacheSynced.Store(true)
		return nil
	})); err != nil {
		log.Error(err, "adding the cache warm-up")
		return 1
	}
	if err := (&controller.RegistryReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), InitContainer: cfg.InitContainerName,
		Recorder: mgr.GetEventRecorder("binder-projects")}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the registry controller")
		return 1
	}
	if err := (&controller.ClaimReconciler{Client: mgr.GetClient(), Claims: claims}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the claim controller")
		return 1
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		log.Error(err, "adding the health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		log.Error(err, "adding the readiness check")
		return 1
	}
	if err := mgr.AddReadyzCheck("registry-cache", func(*http.Request) error {
		if !cacheSynced.Load() {
			return errors.New("the claim and pod caches have not synced yet")
		}
		return nil
	}); err != nil {
		log.Error(err, "adding the readiness check")
		return 1
	}
	log.Info("starting", "path", webhook.Path, "port", *port, "certDir", *certDir, "namespace", *namespace)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "the manager stopped")
		return 1
	}
	return 0
}

// everyReplica is a runnable that runs on every replica, not only on the elected leader: the admission
// webhook reads the registry on every replica, so every replica fills its claim cache.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

// serviceAccountNamespace is where Kubernetes tells a pod its namespace.
var serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ownNamespace is the namespace binder-projects runs in: the pod's own in a cluster, else the
// kubeconfig context's.
func ownNamespace(kubeconfig string) (string, error) {
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).RawConfig()
	if err == nil {
		if c := raw.Contexts[raw.CurrentContext]; c != nil && c.Namespace != "" {
			return c.Namespace, nil
		}
	}
	return "", fmt.Errorf("no namespace: not in a cluster, and the kubeconfig context names none")
}

// restConfig loads the kubeconfig named by the flag, else the usual places.
func restConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return ctrl.GetConfig()
}
