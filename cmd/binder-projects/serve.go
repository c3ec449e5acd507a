package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
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
	o := newServeOptions()
	fs := newFlagSet("serve", "", stderr)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "binder-projects serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "binder-projects serve: %v\n", err)
		return 2
	}

	log := newLogger(stderr, o.Verbosity)
	ctrl.SetLogger(log)
	restCfg, err := restConfig(o.Manager.Kubeconfig)
	if err != nil {
		log.Error(err, "cannot reach the Kubernetes API")
		return 1
	}
	if o.Manager.Namespace == "" {
		if o.Manager.Namespace, err = ownNamespace(o.Manager.Kubeconfig); err != nil {
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
	cacheOpts.DefaultNamespaces = map[string]cache.Config{o.Manager.Namespace: {}}
	cacheOpts.DefaultTransform = cache.TransformStripManagedFields()
	// A read of a kind the cache does not watch (a typed claim, say) fails instead of starting a second
	// informer over every claim.
	cacheOpts.ReaderFailOnMissingInformer = true
	// The cache's lists and watches ask for no compression. Its informers take their initial list as a
	// stream of watch events (client-go's watch-list), which the API server gzips when asked (1.37's
	// WatchListCompression): at 50,000 claims that made the stream take about twice as long, and cost
	// about a second of CPU on each side, for 46 MB instead of 132 MB on the cluster's network, once per
	// start of a replica (docs/performance.md, section 4).
	uncompressed := rest.CopyConfig(restCfg)
	uncompressed.DisableCompression = true
	if cacheOpts.HTTPClient, err = rest.HTTPClientFor(uncompressed); err != nil {
		log.Error(err, "setting up the cache's client")
		return 1
	}
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
		Metrics:                metricsserver.Options{BindAddress: o.Manager.MetricsBindAddress},
		HealthProbeBindAddress: o.Manager.HealthProbeBindAddress,
		// The controllers run on the elected replica only; the webhook server, the cache and the
		// readiness checks run on every replica.
		LeaderElection:                o.Manager.LeaderElect,
		LeaderElectionID:              o.Manager.LeaderElectionID,
		LeaderElectionNamespace:       o.Manager.Namespace,
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: webhook.NewServer(o.Webhook.ServerOptions, o.Mutation,
			log.WithName("admission"), webhook.WithRegistry(&registry, o.Webhook.MaxProjects), webhook.WithServers(&servers), webhook.WithPatchMode(o.Webhook.Patch)),
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
	if err := (&controller.RegistryReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), InitContainer: o.Mutation.InitContainerName,
		Recorder: mgr.GetEventRecorder("binder-projects")}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the registry controller")
		return 1
	}
	if err := (&controller.ClaimReconciler{Client: mgr.GetClient(), Claims: o.Claims.claimConfig()}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the claim controller")
		return 1
	}
	// Off (0): not added. It reads the pods from the cache, and lists the claims from the API server
	// (the cache's claims hold no project's last use).
	if err := (&controller.ExpiryController{After: o.ExpireAfter, Namespace: o.Manager.Namespace, Pods: mgr.GetClient(),
		APIReader: mgr.GetAPIReader(), Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("binder-projects")}).SetupWithManager(ctx, mgr); err != nil {
		log.Error(err, "setting up the expiry controller")
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
	log.Info("starting", "path", webhook.Path, "port", o.Webhook.Port, "certDir", o.Webhook.CertDir, "namespace", o.Manager.Namespace)
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
