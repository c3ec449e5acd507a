package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/binder-projects/binder-projects/certs"
	"github.com/binder-projects/binder-projects/e2e/cluster"
	"github.com/binder-projects/binder-projects/projects"
)

// The operator's path: the plain-YAML install (manifests/binder-projects.yaml) applied to the cluster,
// two replicas of the webhook in pods, called by the API server through the Service. Changed from the
// file, only what this cluster cannot do otherwise, each said where it is done: the image's name (the
// image `make image` builds, imported into containerd: there is no registry), the caBundle, and the
// API server's address (no kube-proxy: the pods reach it at the node's address).
func TestTheWebhookInstalledFromThePlainYAMLRunsInTheClusterAndLaunchesAProject(t *testing.T) {
	ctx := testContext(t, 8*time.Minute)
	const ns, name = hubNamespace, "binder-projects"

	importOurImage(ctx, t)

	objs := readManifests(t, filepath.Join(cluster.RepoRoot(), "manifests", "binder-projects.yaml"))
	ca, err := certs.NewCA("binder-projects-e2e-in-cluster-ca")
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue(certs.Request{CommonName: name + "." + ns + ".svc", Server: true,
		DNSNames: []string{name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"}})
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}

	// The webhook on the host steps aside: its registration is replaced by the manifest's, and both
	// come back after the test.
	hostWebhookStepsAside(ctx, t)
	cs := testCluster.Client()
	t.Cleanup(func() {
		ctx := context.Background()
		bg := metav1.DeletePropagationBackground
		del := metav1.DeleteOptions{PropagationPolicy: &bg, GracePeriodSeconds: ptr(int64(1))}
		cs.AppsV1().Deployments(ns).Delete(ctx, name, del)
		cs.CoreV1().Services(ns).Delete(ctx, name, del)
		cs.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, name, del)
		cs.RbacV1().RoleBindings(ns).Delete(ctx, name, del)
		cs.RbacV1().Roles(ns).Delete(ctx, name, del)
		cs.CoreV1().ServiceAccounts(ns).Delete(ctx, name, del)
		cs.CoreV1().Secrets(ns).Delete(ctx, secret.Name, del)
	})
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = cs.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
		case *policyv1.PodDisruptionBudget:
			_, err = cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.Deployment:
			adaptDeployment(t, o)
			_, err = cs.AppsV1().Deployments(ns).Create(ctx, o, metav1.CreateOptions{})
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			o.Webhooks[0].ClientConfig.CABundle = ca.CertPEM()
			var old *admissionregistrationv1.MutatingWebhookConfiguration
			old, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, o.Name, metav1.GetOptions{})
			if err == nil {
				o.ResourceVersion = old.ResourceVersion
				_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, o, metav1.UpdateOptions{})
			} else if apierrors.IsNotFound(err) {
				_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, o, metav1.CreateOptions{})
			}
		default:
			t.Fatalf("the manifest holds a %T this test does not apply", obj)
		}
		if err != nil {
			t.Fatalf("applying the manifest's %T: %v", obj, err)
		}
		seen = append(seen, fmt.Sprintf("%T", obj))
	}
	t.Logf("applied %s", strings.Join(seen, ", "))

	// Both replicas ready (their readiness includes the synced claim cache).
	t0 := time.Now()
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas == 2 {
			break
		}
		if time.Since(t0) > 90*time.Second {
			out, _ := testCluster.Kubectl(context.Background(), "-n", ns, "describe", "pods", "-l", "app.kubernetes.io/name="+name)
			logs, _ := testCluster.Kubectl(context.Background(), "-n", ns, "logs", "-l", "app.kubernetes.io/name="+name, "--prefix", "--tail", "30")
			t.Fatalf("the webhook's Deployment has not 2 ready replicas after 90s:\n%s\n--- logs:\n%s", out, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("2 replicas ready %s after create", time.Since(t0).Round(10*time.Millisecond))

	const user = "incluster"
	hostDir, err := testCluster.UserStorage(ctx, ns, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	createClaim(ctx, t, user)
	admitted, running := launch(ctx, t, dynamicPod(t, user, repoA))
	assertMutated(t, admitted, string(repoA.ProjectDir))
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoA.ProjectDir)), repoA.Image)
	if out := inNotebook(ctx, t, running.Name, `cat /home/jovyan/README.md`); !strings.Contains(out, "Repository A") {
		t.Errorf("the notebook's home:\n%s", out)
	}
	// The elected replica runs the registry controller: the launch is recorded once.
	reg := waitRegistry(ctx, t, user, "project "+string(repoA.ProjectDir)+", recorded by the in-cluster controller", 30*time.Second,
		func(r projects.Registry) bool { return r.Find(repoA.ProjectDir) >= 0 })
	if len(reg.Projects) != 1 {
		t.Errorf("the registry holds %v, want the one launched project", dirs(reg))
	}
	stopServer(ctx, t, running.Name)
	logs, _ := testCluster.Kubectl(ctx, "-n", ns, "logs", "-l", "app.kubernetes.io/name="+name, "--prefix", "--tail", "-1")
	if !strings.Contains(logs, "pod mutated") {
		t.Errorf("no replica logged the mutation:\n%s", logs)
	}
	for _, bad := range []string{"Reconciler error", "panic"} {
		if strings.Contains(logs, bad) {
			t.Errorf("a replica logged %q:\n%s", bad, logs)
		}
	}
	if strings.Contains(logs, "JUPYTERHUB_API_TOKEN") {
		t.Errorf("a replica logged the pod's API token variable")
	}
}

// readManifests decodes a multi-document YAML file into typed objects.
func readManifests(t *testing.T, path string) []k8sruntime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []k8sruntime.Object
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// Our image's name in containerd (cluster.ImportOurImage).
const (
	inClusterImageRepo = cluster.OurImageRepo
	inClusterImageTag  = cluster.OurImageTag
)

// importOurImage builds the image an operator gets and imports it into containerd, once per cluster.
func importOurImage(ctx context.Context, t testing.TB) {
	t.Helper()
	if err := testCluster.ImportOurImage(ctx); err != nil {
		t.Fatal(err)
	}
}

// hostWebhookStepsAside stops the webhook the harness runs on the host (the test installs its own in
// the cluster) and, when the test ends, after the test's own cleanups, starts it again and waits until
// the in-cluster replicas' pods are gone and the host webhook leads the controllers again (a replica
// that did not release the Lease holds it until it expires), so that the next test finds the cluster
// as before.
func hostWebhookStepsAside(ctx context.Context, t testing.TB) {
	t.Helper()
	if err := testCluster.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	cs := testCluster.Client()
	t.Cleanup(func() {
		ctx := context.Background()
		if err := testCluster.StartWebhook(ctx); err != nil {
			t.Errorf("restarting the webhook on the host: %v", err)
		}
		gone := false
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			pods, err := cs.CoreV1().Pods(hubNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=binder-projects"})
			if err == nil && len(pods.Items) == 0 {
				gone = true
				break
			}
		}
		if !gone {
			t.Errorf("the in-cluster webhook's pods are still there a minute after the test removed them")
		}
		host, _ := os.Hostname()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			lease, err := cs.CoordinationV1().Leases(hubNamespace).Get(ctx, "binder-projects", metav1.GetOptions{})
			if err == nil && lease.Spec.HolderIdentity != nil && strings.HasPrefix(*lease.Spec.HolderIdentity, host+"_") {
				return
			}
		}
		t.Errorf("the webhook on the host has not taken the controllers' Lease back a minute after the in-cluster replicas went")
	})
}

// adaptDeployment makes the manifest's Deployment runnable here, and changes nothing else: its
// security context, probes, args, ports and the TLS Secret stay as the operator gets them.
func adaptDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	spec := &d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(spec.Containers))
	}
	c := &spec.Containers[0]
	if !contains(c.Args, "serve") {
		t.Fatalf("the Deployment does not run serve: %v", c.Args)
	}
	if len(c.Command) > 0 {
		t.Fatalf("the Deployment overrides the image's entrypoint: %v", c.Command)
	}
	// no registry: the imported image, never pulled; the helper (the same image, mounted into the
	// project's init container) too
	c.Image = inClusterImageRepo + ":" + inClusterImageTag
	c.ImagePullPolicy = corev1.PullNever
	helper := false
	for i, a := range c.Args {
		if strings.HasPrefix(a, "--helper-image=") {
			c.Args[i], helper = "--helper-image="+c.Image, true
		}
	}
	if !helper {
		t.Errorf("the manifest's args %v do not set --helper-image (the chart's default: updates on)", c.Args)
	}
	// no kube-proxy: the in-cluster config reaches the API server at the node's address (its
	// certificate names it)
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: testCluster.NodeIPAddress().String()},
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"})
	if got := c.Args; !contains(got, "--max-projects=5") {
		t.Errorf("the manifest's args %v do not keep the default limit", got)
	}
}
