// Command cert-manager-e2e runs the real cert-manager controllers, from the Go module
// github.com/cert-manager/cert-manager, as one process on the host of the end-to-end cluster. The
// module's own binaries (cmd/controller, cmd/cainjector) are separate Go modules the proxy does not
// serve, so this program wires the same public packages the way those binaries do, with fewer knobs:
//
//   - it applies the module's CustomResourceDefinitions (deploy/crds, plain controller-gen output; the
//     Helm chart's templated copies have the same spec) with server-side apply, and waits until every
//     one is Established;
//   - it runs cert-manager's default certificate controllers (trigger, issuing, key manager, request
//     manager, readiness, revision manager), the Issuer and ClusterIssuer controllers, the
//     CertificateRequest controllers of the SelfSigned and CA issuers, and the approver, which approves
//     every request for a cert-manager.io issuer;
//   - it runs the cainjector for MutatingWebhookConfigurations, ValidatingWebhookConfigurations,
//     APIServices and CRDs (cert-manager.io/inject-ca-from and the other annotations);
//   - leader election is off (one process), every namespace is watched.
//
// There is no cert-manager webhook: the API server stores cert-manager resources as the CRD schemas
// allow, without the webhook's defaulting and validation.
//
// When everything has synced it writes --ready-file (if given) and logs "ready" (logger cert-manager-e2e). On
// SIGTERM or SIGINT it stops its controllers and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// The issuer implementations the Issuer/ClusterIssuer controllers set up (registered in init).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// Controllers are the cert-manager controllers this program runs, by their registered names.
var Controllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	crapprover.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
}

type options struct {
	kubeconfig       string
	crdDir           string
	readyFile        string
	clusterResources string
	workers          int
}

func main() {
	var o options
	klog.InitFlags(nil)
	// controller-runtime registers --kubeconfig on the command line itself (its config package).
	if flag.Lookup("kubeconfig") == nil {
		flag.String("kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG)")
	}
	flag.StringVar(&o.crdDir, "crd-dir", "", "folder with cert-manager's CRDs (the module's deploy/crds); required")
	flag.StringVar(&o.readyFile, "ready-file", "", "file written once the CRDs are Established and every controller has synced")
	flag.StringVar(&o.clusterResources, "cluster-resource-namespace", "kube-system", "namespace of the Secrets ClusterIssuers refer to")
	flag.IntVar(&o.workers, "workers", 5, "workers per controller")
	flag.Set("v", "2") // cert-manager's InfoLevel: one line per action, no debug chatter
	flag.Parse()
	if o.kubeconfig = flag.Lookup("kubeconfig").Value.String(); o.kubeconfig == "" {
		o.kubeconfig = os.Getenv("KUBECONFIG")
	}
	logf.InitLogs()
	defer logf.FlushLogs()
	log := klog.Background().WithName("cert-manager-e2e")
	ctrl.SetLogger(klog.Background().WithName("cainjector"))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(logf.NewContext(ctx, klog.Background()), o); err != nil {
		log.Error(err, "cert-manager-e2e failed")
		logf.FlushLogs()
		os.Exit(1)
	}
	log.Info("stopped")
}

func run(ctx context.Context, o options) error {
	log := klog.FromContext(ctx).WithName("cert-manager-e2e")
	if o.crdDir == "" || o.kubeconfig == "" {
		return errors.New("--crd-dir and --kubeconfig (or $KUBECONFIG) are required")
	}
	if o.readyFile != "" {
		os.Remove(o.readyFile)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	log.Info("starting", "version", util.AppVersion, "apiserver", cfg.Host, "controllers", Controllers)

	t0 := time.Now()
	names, err := applyCRDs(ctx, cfg, o.crdDir)
	if err != nil {
		return err
	}
	log.Info("CRDs applied and Established", "crds", names, "took", time.Since(t0).Round(time.Millisecond))

	// The controllers: one context factory (shared informers, one rate limiter), one context per
	// controller with its own user agent, as cert-manager's controller binary builds them.
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Namespace:          "", // all
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: o.clusterResources},
		CertificateOptions: controllerpkg.CertificateOptions{
			// cert-manager's defaults: a failed request is retried after 1h, doubling up to 32h.
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}
	known := controllerpkg.Known()
	type started struct {
		name string
		c    controllerpkg.Interface
	}
	var loops []started
	for _, name := range Controllers {
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered in this cert-manager version", name)
		}
		c, err := construct(factory)
		if err != nil {
			return fmt.Errorf("constructing controller %s: %w", name, err)
		}
		loops = append(loops, started{name, c})
	}
	cmctx, err := factory.Build()
	if err != nil {
		return err
	}

	// The cainjector: a controller-runtime manager, Secrets read directly (not cached), as cert-manager's
	// cainjector binary sets it up; no metrics or health listener (no ports to collide with).
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(util.RestConfigWithUserAgent(cfg, "cainjector"), ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{ReaderFailOnMissingInformer: true},
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("cainjector manager: %w", err)
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	}); err != nil {
		return fmt.Errorf("cainjector: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(loops)+1)
	for _, l := range loops {
		wg.Go(func() {
			log.V(logf.DebugLevel).Info("starting controller", "controller", l.name)
			if err := l.c.Run(o.workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", l.name, err)
			}
		})
	}
	wg.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			errs <- fmt.Errorf("cainjector: %w", err)
		}
	})
	// The informers every controller registered (the factories start only those asked for so far).
	cmctx.KubeSharedInformerFactory.Start(ctx.Done())
	cmctx.SharedInformerFactory.Start(ctx.Done())
	cmctx.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())

	if err := waitSynced(ctx, cmctx, mgr); err != nil {
		cancel()
		wg.Wait()
		select {
		case e := <-errs:
			return e
		default:
		}
		return err
	}
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte(time.Now().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
			return err
		}
	}
	log.Info("ready", "took", time.Since(t0).Round(time.Millisecond))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	cancel()
	wg.Wait()
	if o.readyFile != "" {
		os.Remove(o.readyFile)
	}
	return runErr
}

// waitSynced waits until the informers of the cert-manager controllers and the cainjector's cache have
// synced (each controller starts its workers once its own informers have).
func waitSynced(ctx context.Context, cmctx *controllerpkg.Context, mgr ctrl.Manager) error {
	check := func(kind string, m map[string]bool) error {
		var not []string
		for k, ok := range m {
			if !ok {
				not = append(not, k)
			}
		}
		if len(not) > 0 {
			sort.Strings(not)
			return fmt.Errorf("%s informers not synced: %s", kind, strings.Join(not, ", "))
		}
		return nil
	}
	if err := check("cert-manager", typeMap(cmctx.SharedInformerFactory.WaitForCacheSync(ctx.Done()))); err != nil {
		return err
	}
	if err := check("kubernetes", cmctx.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done())); err != nil {
		return err
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("the cainjector's cache did not sync")
	}
	return nil
}

func typeMap[K interface {
	comparable
	fmt.Stringer
}](m map[K]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		out[k.String()] = v
	}
	return out
}

// applyCRDs server-side applies every CustomResourceDefinition in dir (*.yaml, any number of documents
// each) and waits until all are Established. It returns their names.
func applyCRDs(ctx context.Context, cfg *rest.Config, dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	cs, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		crds, err := readCRDs(f)
		if err != nil {
			return nil, err
		}
		for _, crd := range crds {
			body, err := crd.MarshalJSON()
			if err != nil {
				return nil, err
			}
			force := true
			if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, crd.GetName(), types.ApplyPatchType, body,
				metav1.PatchOptions{FieldManager: "cert-manager-e2e", Force: &force}); err != nil {
				return nil, fmt.Errorf("applying CRD %s from %s: %w", crd.GetName(), f, err)
			}
			names = append(names, crd.GetName())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no CustomResourceDefinitions in %s", dir)
	}
	for _, want := range []string{"certificates.cert-manager.io", "certificaterequests.cert-manager.io", "issuers.cert-manager.io", "clusterissuers.cert-manager.io"} {
		if !slices.Contains(names, want) {
			return nil, fmt.Errorf("%s has no CRD %s", dir, want)
		}
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, n := range names {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) {
					last = n + " not found"
					return false, nil
				}
				last = err.Error()
				return false, nil
			}
			established := false
			for _, c := range crd.Status.Conditions {
				if c.Type == apiext.Established && c.Status == apiext.ConditionTrue {
					established = true
				}
			}
			if !established {
				last = n + " not Established"
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the CRDs to be Established: %w (%s)", err, last)
	}
	return names, nil
}

// readCRDs decodes every non-empty document of a YAML file; each must be an apiextensions.k8s.io/v1
// CustomResourceDefinition, applied as written (no status).
func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := k8syaml.NewYAMLOrJSONDecoder(f, 1<<16)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj) == 0 {
			continue // an empty document
		}
		crd := &unstructured.Unstructured{Object: obj}
		if crd.GetKind() != "CustomResourceDefinition" || crd.GetAPIVersion() != apiext.SchemeGroupVersion.String() || crd.GetName() == "" {
			return nil, fmt.Errorf("%s: a %s %q, not an apiextensions.k8s.io/v1 CustomResourceDefinition", path, crd.GetKind(), crd.GetName())
		}
		if strings.Contains(crd.GetName(), "{{") {
			return nil, fmt.Errorf("%s: a templated CRD (%s): expected plain controller-gen output", path, crd.GetName())
		}
		unstructured.RemoveNestedField(crd.Object, "status")
		out = append(out, crd)
	}
}
