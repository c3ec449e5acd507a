package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

// The operator's path with Helm and cert-manager, on the real cluster: the chart installed into the
// hub's namespace in its default TLS mode (the real cert-manager controllers issue the serving
// certificate from the chart's own CA, the real cainjector writes the caBundle); a BinderHub pod
// launched and mutated through the chart's webhook; `helm test`; `helm upgrade` with changed values
// while admissions stream; a replica deleted during a burst; a forced certificate renewal while
// admissions stream, served without a restart; `helm uninstall` leaving no webhook configuration.
//
// Changed from the chart's defaults, only what this cluster cannot do otherwise: the image (`make
// image`'s tarball imported into containerd, never pulled), the API server's address (no kube-proxy:
// the pods reach it at the node's address) and, for `helm test`, the address of the Service's name
// (no cluster DNS: the test pod gets it as a host alias of one replica). The projects service is off:
// it needs the hub's Secret and a hub, which TestTheProjectsService* cover with the service on the host.
func TestTheChartInstallsWithCertManagerAndKeepsLaunchesFlowingThroughUpgradeRenewalAndALostReplica(t *testing.T) {
	ctx := testContext(t, 20*time.Minute)
	const ns, rel = hubNamespace, "binder-projects"
	const fullname = "binder-projects" // the release's name holds the chart's
	helm := helmCLI(ctx, t, ns)
	importOurImage(ctx, t)
	if err := testCluster.StartCertManager(ctx); err != nil {
		t.Fatal(err)
	}
	cs := testCluster.Client()
	hostWebhookStepsAside(ctx, t)
	// The host webhook's registration has the release's name; Helm installs its own (the host's comes
	// back when the host webhook starts again).
	if err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, fullname, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if out, err := helm.run(ctx, "uninstall", rel, "--wait", "--timeout", "2m"); err != nil && !strings.Contains(out, "not found") {
			t.Errorf("helm uninstall in cleanup: %v\n%s", err, out)
		}
		// cert-manager leaves the Secrets it wrote (its default: no owner references).
		for _, s := range []string{fullname + "-tls", fullname + "-ca"} {
			cs.CoreV1().Secrets(ns).Delete(ctx, s, metav1.DeleteOptions{})
		}
		if err := testCluster.StopCertManager(); err != nil {
			t.Errorf("stopping cert-manager: %v", err)
		}
	})

	const user = "charted"
	hostDir, err := testCluster.UserStorage(ctx, ns, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	createClaim(ctx, t, user)
	waitClaimBound(ctx, t, "claim-"+user)

	values := chartValuesHere()
	chart := chartDir()
	t0 := time.Now()
	helm.must(ctx, t, append([]string{"install", rel, chart, "--wait", "--timeout", "5m"}, values...)...)
	t.Logf("helm install --wait: %s", time.Since(t0).Round(100*time.Millisecond))

	// cert-manager issued the serving certificate from the chart's CA, and the cainjector put that CA
	// into the webhook configuration.
	dyn, err := dynamic.NewForConfig(testCluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	certs := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}).Namespace(ns)
	for _, c := range []string{fullname + "-ca", fullname} {
		if cond := certificateCondition(ctx, t, certs, c, "Ready"); cond != "True" {
			t.Errorf("Certificate %s: Ready is %q", c, cond)
		}
	}
	tlsSecret, err := cs.CoreV1().Secrets(ns).Get(ctx, fullname+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mwc.Webhooks[0].ClientConfig.CABundle, tlsSecret.Data["ca.crt"]; len(want) == 0 || !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Fatalf("the caBundle the cainjector wrote (%d bytes) is not the serving Secret's ca.crt (%d bytes)", len(got), len(want))
	}

	// A BinderHub launch, mutated by the chart's webhook, runs.
	admitted, running := launch(ctx, t, dynamicPod(t, user, repoA))
	assertMutated(t, admitted, string(repoA.ProjectDir))
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoA.ProjectDir)), repoA.Image)
	stopServer(ctx, t, running.Name)

	// helm test: the test pod calls the webhook as the API server does, over TLS checked against the
	// CA and the Service's name. Only the test pod's values change: the replicas do not roll.
	replicas := webhookPods(ctx, t, ns, 2)
	svcHost := fullname + "." + ns + ".svc"
	testValues := []string{"--reuse-values",
		"--set", "tests.webhookURL=https://" + svcHost + ":9443/mutate-v1-pod",
		"--set", "tests.hostAliases[0].ip=" + replicas[0].Status.PodIP, "--set", "tests.hostAliases[0].hostnames[0]=" + svcHost}
	helm.must(ctx, t, append([]string{"upgrade", rel, chart, "--wait", "--timeout", "3m"}, testValues...)...)
	if same := webhookPods(ctx, t, ns, 2); same[0].UID != replicas[0].UID && same[1].UID != replicas[0].UID {
		t.Errorf("changing only the test pod's values rolled the webhook's pods")
	}
	out := helm.must(ctx, t, "test", rel, "--logs", "--timeout", "3m")
	if !strings.Contains(out, "Succeeded") {
		t.Errorf("helm test did not report success:\n%s", out)
	}
	// A test pod stays until the next `helm test` (its hook-delete-policy keeps it for its logs), and
	// `helm uninstall` does not remove hooks: the operator's `kubectl delete pod`, done here.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, fullname+"-test-webhook", metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting helm test's pod: %v", err)
	}

	// helm upgrade with changed values while admissions stream: the replicas roll one at a time, each
	// stopping replica keeps serving until the API server has dropped it: no admission fails.
	stream := streamAdmissions(ctx, t, user, 3)
	stream.waitFor(ctx, t, 20)
	t0 = time.Now()
	helm.must(ctx, t, "upgrade", rel, chart, "--reuse-values", "--set", "webhook.logLevel=1", "--wait", "--timeout", "5m")
	rolled := webhookPods(ctx, t, ns, 2)
	for _, p := range rolled {
		if !contains(p.Spec.Containers[0].Args, "-v=1") {
			t.Errorf("replica %s runs %v after the upgrade, want -v=1", p.Name, p.Spec.Containers[0].Args)
		}
	}
	stream.waitFor(ctx, t, 20)
	stream.stop(t, fmt.Sprintf("helm upgrade (%s)", time.Since(t0).Round(100*time.Millisecond)))

	// A replica deleted during a burst (as a drain or an operator does): no create fails.
	stream = streamAdmissions(ctx, t, user, 8)
	stream.waitFor(ctx, t, 20)
	victim := rolled[0]
	if err := cs.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplaced(ctx, t, ns, victim.UID)
	stream.waitFor(ctx, t, 50)
	stream.stop(t, "a replica deleted during a burst")

	// A replica's process killed outright (SIGKILL, as the OOM killer does) during a burst: the kubelet
	// restarts it; until the API server stops routing to it, the calls it was sent fail. Measured and
	// logged, not asserted: no server can answer after SIGKILL, and the API server does not retry
	// admission webhooks; failurePolicy Fail makes those creates fail, and the hub reports the error.
	stream = streamAdmissions(ctx, t, user, 8)
	stream.waitFor(ctx, t, 20)
	killed := webhookPods(ctx, t, ns, 2)[0]
	t.Logf("SIGKILL to %d process(es) of replica %s", killPodProcesses(t, string(killed.UID)), killed.Name)
	waitRestarted(ctx, t, ns, killed.Name)
	stream.waitFor(ctx, t, 50)
	ok, failed := stream.counts()
	stream.cancel()
	stream.wg.Wait()
	t.Logf("a replica SIGKILLed during a burst of 8 in flight: %d admissions succeeded, %d failed until the API server stopped routing to it", ok, failed)

	// A forced renewal (what `cmctl renew` does: the Issuing condition set) while admissions stream:
	// cert-manager writes a new certificate into the Secret, the kubelet updates the mounted files and
	// the server reloads them: every replica serves the new certificate with no restart, and no
	// admission fails (the CA, and so the caBundle, stays).
	before := webhookPods(ctx, t, ns, 2)
	stream = streamAdmissions(ctx, t, user, 3)
	stream.waitFor(ctx, t, 20)
	if tlsSecret, err = cs.CoreV1().Secrets(ns).Get(ctx, fullname+"-tls", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	oldCrt := tlsSecret.Data["tls.crt"]
	for _, p := range before {
		waitServes(ctx, t, p, oldCrt, time.Minute) // so that serving the new one below means a reload
	}
	t0 = time.Now()
	forceRenewal(ctx, t, certs, fullname)
	var newCrt []byte
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, fullname+"-tls", metav1.GetOptions{})
		if err == nil && len(s.Data["tls.crt"]) > 0 && !bytes.Equal(s.Data["tls.crt"], oldCrt) {
			newCrt = s.Data["tls.crt"]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cert-manager has not renewed the serving certificate two minutes after the forced renewal; Certificate: %s",
				describeCertificate(ctx, certs, fullname))
		}
	}
	t.Logf("renewed certificate in the Secret %s after the forced renewal", time.Since(t0).Round(100*time.Millisecond))
	for _, p := range before {
		waitServes(ctx, t, p, newCrt, 3*time.Minute)
	}
	t.Logf("both replicas serve the renewed certificate %s after the forced renewal", time.Since(t0).Round(100*time.Millisecond))
	stream.waitFor(ctx, t, 20)
	stream.stop(t, "a certificate renewal")
	for _, p := range webhookPods(ctx, t, ns, 2) {
		if p.Status.ContainerStatuses[0].RestartCount != 0 && p.Name != killed.Name {
			t.Errorf("replica %s restarted %d times", p.Name, p.Status.ContainerStatuses[0].RestartCount)
		}
	}
	if after := webhookPods(ctx, t, ns, 2); after[0].UID != before[0].UID && after[0].UID != before[1].UID {
		t.Errorf("the renewal replaced the webhook's pods")
	}

	// helm uninstall leaves no webhook configuration: a cluster left unable to start singleuser pods
	// is the worst outcome.
	helm.must(ctx, t, "uninstall", rel, "--wait", "--timeout", "2m")
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullname, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall the MutatingWebhookConfiguration %s is still there (err %v)", fullname, err)
	}
	if d, err := cs.AppsV1().Deployments(ns).Get(ctx, fullname, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall the Deployment is still there: %v %v", d.Name, err)
	}
}

// chartValuesHere are the values this cluster needs (see the test above): the imported image, the API
// server at the node's address, the projects service off.
func chartValuesHere() []string {
	return []string{
		"--set", "image.repository=" + inClusterImageRepo, "--set", "image.tag=" + inClusterImageTag,
		"--set", "image.pullPolicy=Never",
		"--set", "webhook.extraEnv[0].name=KUBERNETES_SERVICE_HOST", "--set", "webhook.extraEnv[0].value=" + testCluster.NodeIPAddress().String(),
		"--set", "webhook.extraEnv[1].name=KUBERNETES_SERVICE_PORT", "--set-string", "webhook.extraEnv[1].value=6443",
		"--set", "projectsService.enabled=false",
	}
}

func chartDir() string {
	return filepath.Join(cluster.RepoRoot(), "manifests", "chart", "binder-projects")
}

// helmRunner runs the Helm CLI (built from helm.sh/helm/v4 and cached) against the test cluster, with
// Helm's own state in a temporary folder.
type helmRunner struct {
	bin, ns, home string
}

func helmCLI(ctx context.Context, t testing.TB, ns string) helmRunner {
	t.Helper()
	bin, err := cluster.EnsureHelm(ctx, cluster.NewProgress(os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	return helmRunner{bin: bin, ns: ns, home: t.TempDir()}
}

func (h helmRunner) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.bin, append(args, "--kubeconfig", testCluster.Kubeconfig(), "--namespace", h.ns)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(h.home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(h.home, "config"), "HELM_DATA_HOME="+filepath.Join(h.home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (h helmRunner) must(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.run(ctx, args...)
	if err != nil {
		pods, _ := testCluster.Kubectl(context.Background(), "-n", h.ns, "get", "pods,certificates,issuers", "-o", "wide")
		t.Fatalf("helm %s: %v\n%s\n--- the namespace:\n%s", args[0], err, out, pods)
	}
	return out
}

// webhookPods waits until the webhook's Deployment has n ready replicas and no others, and returns them.
func webhookPods(ctx context.Context, t testing.TB, ns string, n int) []corev1.Pod {
	t.Helper()
	sel := "app.kubernetes.io/name=binder-projects,app.kubernetes.io/component=webhook"
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		pods, err := testCluster.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil {
			var ready []corev1.Pod
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && podReady(&p) {
					ready = append(ready, p)
				}
			}
			if len(ready) == n && len(pods.Items) == n {
				return ready
			}
		}
		if time.Now().After(deadline) {
			out, _ := testCluster.Kubectl(context.Background(), "-n", ns, "get", "pods", "-l", sel, "-o", "wide")
			t.Fatalf("the webhook has not exactly %d ready replicas after 3 minutes:\n%s", n, out)
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReplaced waits until the Deployment runs two ready replicas, neither of them the one of uid gone.
func waitReplaced(ctx context.Context, t *testing.T, ns string, gone types.UID) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		pods := webhookPods(ctx, t, ns, 2)
		if pods[0].UID != gone && pods[1].UID != gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted replica has not been replaced after 3 minutes")
		}
	}
}

// waitRestarted waits until the pod's container has restarted and the pod is ready again.
func waitRestarted(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		p, err := testCluster.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount > 0 && podReady(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s has not restarted and become ready after 3 minutes:\n%s", name, describePod(ctx, ns, name))
		}
	}
}

// certificateCondition returns the status of a condition of a cert-manager Certificate.
func certificateCondition(ctx context.Context, t *testing.T, certs dynamic.ResourceInterface, name, condType string) string {
	t.Helper()
	c, err := certs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Certificate %s: %v", name, err)
	}
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == condType {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

func describeCertificate(ctx context.Context, certs dynamic.ResourceInterface, name string) string {
	c, err := certs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	st, _, _ := unstructured.NestedMap(c.Object, "status")
	return fmt.Sprint(st)
}

// forceRenewal does what `cmctl renew` does: it sets the Certificate's Issuing condition, which
// cert-manager's issuing controllers take as the order to issue anew.
func forceRenewal(ctx context.Context, t *testing.T, certs dynamic.ResourceInterface, name string) {
	t.Helper()
	c, err := certs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	conds = append(conds, map[string]any{
		"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
		"message":            "Certificate re-issuance manually triggered by the e2e test",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": c.GetGeneration(),
	})
	if err := unstructured.SetNestedSlice(c.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the Issuing condition of Certificate %s: %v", name, err)
	}
}

// waitServes waits until the replica serves the certificate crt (PEM) on its webhook port.
func waitServes(ctx context.Context, t *testing.T, p corev1.Pod, crt []byte, within time.Duration) {
	t.Helper()
	block, _ := pem.Decode(crt)
	if block == nil {
		t.Fatalf("the Secret's tls.crt is not PEM")
	}
	var served []byte
	for deadline := time.Now().Add(within); ; time.Sleep(time.Second) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Status.PodIP, "9443"))
		if err == nil {
			cs := conn.(*tls.Conn).ConnectionState()
			if len(cs.PeerCertificates) > 0 {
				served = cs.PeerCertificates[0].Raw
			}
			conn.Close()
			if bytes.Equal(served, block.Bytes) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s does not serve the renewed certificate %s after the Secret changed (err %v)", p.Name, within, err)
		}
	}
}
