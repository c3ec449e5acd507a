package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The cert-manager test's own control plane: ports the cluster (2379-2381, 6443, 9440-9450) never uses,
// so it runs beside a cluster another test holds, without the cluster lock.
const (
	cmTestEtcdClient = 23790
	cmTestEtcdPeer   = 23800
	cmTestAPIServer  = 26443
	cmTestNamespace  = "cm-e2e"
)

var (
	certificatesGVR        = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	certificateRequestsGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificaterequests"}
	issuersGVR             = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
)

// The real cert-manager controllers (built from the module, run by StartCertManager) against a real
// etcd and kube-apiserver of our own: a self-signed Issuer makes a CA Certificate, a CA Issuer signs a
// serving Certificate with it, the cainjector puts the CA into a MutatingWebhookConfiguration, and a
// forced reissue (cmctl renew's Issuing condition) and a spec change each give a new certificate.
func TestCertManagerIssuesInjectsAndReissuesOnARealAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t0 := time.Now()
	c := startCertManagerTestControlPlane(ctx, t)
	t.Logf("etcd, kube-apiserver and cert-manager up in %s", time.Since(t0).Round(100*time.Millisecond))
	t1 := time.Now()

	dyn, err := dynamic.NewForConfig(c.rest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cmTestNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := cmTestNamespace
	// Every field the cert-manager webhook would default is written out: there is no webhook.
	apply := func(manifest string) {
		t.Helper()
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
			t.Fatal(err)
		}
		gvr := map[string]schema.GroupVersionResource{"Issuer": issuersGVR, "Certificate": certificatesGVR}[obj.GetKind()]
		if _, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, &obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	wait := func(timeout time.Duration, what string, cond func() (bool, error)) {
		t.Helper()
		if err := waitFor(ctx, timeout, what, cond); err != nil {
			t.Fatalf("%v\n%s\ncert-manager log (last lines):\n%s", err, describeCertManagerState(ctx, dyn, ns), tail(c.CertManagerLog(), 40))
		}
	}
	ready := func(gvr schema.GroupVersionResource, name string) func() (bool, error) {
		return func() (bool, error) {
			obj, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return conditionStatus(obj, "Ready") == "True", nil
		}
	}

	apply(`
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}`)
	wait(60*time.Second, "Issuer selfsigned Ready", ready(issuersGVR, "selfsigned"))
	apply(`
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: root-ca}
spec:
  isCA: true
  commonName: binder-projects cert-manager test CA
  secretName: root-ca
  duration: 2160h
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
  issuerRef: {name: selfsigned, kind: Issuer, group: cert-manager.io}`)
	wait(90*time.Second, "Certificate root-ca Ready", ready(certificatesGVR, "root-ca"))
	apply(`
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca}
spec: {ca: {secretName: root-ca}}`)
	wait(60*time.Second, "Issuer ca Ready", ready(issuersGVR, "ca"))
	apply(`
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: serving}
spec:
  secretName: serving-tls
  dnsNames: [hook.cm-e2e.svc, localhost]
  duration: 720h
  privateKey: {algorithm: ECDSA, size: 256, rotationPolicy: Always}
  issuerRef: {name: ca, kind: Issuer, group: cert-manager.io}`)
	wait(90*time.Second, "Certificate serving Ready", ready(certificatesGVR, "serving"))
	t.Logf("self-signed CA and serving certificate issued in %s", time.Since(t1).Round(100*time.Millisecond))

	// The CA: self-signed, a CA, and its own ca.crt.
	caSecret, err := c.client.CoreV1().Secrets(ns).Get(ctx, "root-ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca := parseCert(t, "root-ca tls.crt", caSecret.Data["tls.crt"])
	if !ca.IsCA || ca.Subject.CommonName != "binder-projects cert-manager test CA" || ca.CheckSignatureFrom(ca) != nil {
		t.Fatalf("root-ca is not the self-signed CA asked for: IsCA=%v subject=%q self-signed=%v", ca.IsCA, ca.Subject, ca.CheckSignatureFrom(ca) == nil)
	}
	caPEM := caSecret.Data["tls.crt"]

	// The serving certificate: signed by that CA for the names asked, with its key, the CA as ca.crt.
	serving := checkServingSecret(ctx, t, c.client, ca, caPEM, "hook.cm-e2e.svc")
	if !slices.Equal(serving.DNSNames, []string{"hook.cm-e2e.svc", "localhost"}) {
		t.Errorf("serving certificate DNS names = %v", serving.DNSNames)
	}
	// The approver approved the request (no policy engine: every cert-manager.io request).
	crs, err := dyn.Resource(certificateRequestsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	approved := 0
	for _, cr := range crs.Items {
		if conditionStatus(&cr, "Approved") == "True" && conditionStatus(&cr, "Ready") == "True" {
			approved++
		}
	}
	if approved != 2 {
		t.Errorf("%d of %d CertificateRequests approved and Ready, want 2\n%s", approved, len(crs.Items), describeCertManagerState(ctx, dyn, ns))
	}

	// The cainjector: the CA of the serving Certificate's Secret into a MutatingWebhookConfiguration.
	ignore := admissionregistrationv1.Ignore
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://127.0.0.1:1/never-called"
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "cm-e2e-inject", Annotations: map[string]string{"cert-manager.io/inject-ca-from": ns + "/serving"}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "noop.cm-e2e.binder-projects.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"cm-e2e.binder-projects.io"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}}}},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var injected []byte
	wait(60*time.Second, "the cainjector to write the CA into MutatingWebhookConfiguration cm-e2e-inject", func() (bool, error) {
		got, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "cm-e2e-inject", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		injected = got.Webhooks[0].ClientConfig.CABundle
		return len(injected) > 0, nil
	})
	if !bytes.Equal(injected, caPEM) {
		t.Fatalf("injected caBundle is not the CA:\n%s\nwant\n%s", injected, caPEM)
	}

	// A forced reissue, as `cmctl renew` does it: the Issuing condition on the Certificate's status.
	before, beforeKey := serving, secretKey(ctx, t, c.client)
	obj, err := dyn.Resource(certificatesGVR).Namespace(ns).Get(ctx, "serving", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev, _, _ := unstructured.NestedInt64(obj.Object, "status", "revision"); rev != 1 {
		t.Fatalf("serving Certificate revision = %d before the renewal, want 1", rev)
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	conds = append(conds, map[string]any{"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
		"message": "Certificate re-issuance manually triggered by the test", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)})
	if err := unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(certificatesGVR).Namespace(ns).UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the Issuing condition: %v", err)
	}
	t2 := time.Now()
	wait(90*time.Second, "the renewed serving certificate (revision 2, Ready, a new serial)", revisionReady(ctx, dyn, ns, "serving", 2))
	renewed := checkServingSecret(ctx, t, c.client, ca, caPEM, "hook.cm-e2e.svc")
	if renewed.SerialNumber.Cmp(before.SerialNumber) == 0 || renewed.Equal(before) {
		t.Errorf("the renewal kept the certificate (serial %s)", before.SerialNumber)
	}
	if bytes.Equal(secretKey(ctx, t, c.client), beforeKey) {
		t.Errorf("rotationPolicy Always, yet the renewal kept the private key")
	}
	t.Logf("forced renewal done in %s", time.Since(t2).Round(100*time.Millisecond))

	// A spec change reissues too: the trigger controller sees the Secret no longer matches.
	patch := []byte(`{"spec":{"dnsNames":["hook.cm-e2e.svc","localhost","renamed.cm-e2e.svc"]}}`)
	if _, err := dyn.Resource(certificatesGVR).Namespace(ns).Patch(ctx, "serving", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(90*time.Second, "the certificate for the changed spec (revision 3, Ready)", revisionReady(ctx, dyn, ns, "serving", 3))
	changed := checkServingSecret(ctx, t, c.client, ca, caPEM, "renamed.cm-e2e.svc")
	if changed.SerialNumber.Cmp(renewed.SerialNumber) == 0 {
		t.Errorf("the spec change kept the certificate")
	}
	// The injected CA stays the CA (the CA itself was not reissued).
	got, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "cm-e2e-inject", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, caPEM) {
		t.Errorf("the caBundle changed though the CA did not")
	}
	t.Logf("issuance, injection and two reissues in %s", time.Since(t1).Round(100*time.Millisecond))
}

// startCertManagerTestControlPlane starts etcd and kube-apiserver (the cached cluster builds, run from
// hard links outside the cache folder so that a cluster's teardown, which kills every process running
// a cached binary, leaves them alone) and cert-manager through StartCertManager. Everything stops at
// the end of the test; the test fails if a process outlives that.
func startCertManagerTestControlPlane(ctx context.Context, t *testing.T) *Cluster {
	t.Helper()
	for _, port := range []int{cmTestEtcdClient, cmTestEtcdPeer, cmTestAPIServer} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d is taken (a cert-manager test still running, or its leftovers?): %v", port, err)
		}
		l.Close()
	}
	p := NewProgress(testWriter{t})
	goVersion, err := output(ctx, "", nil, "go", "env", "GOVERSION")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, b := range toolBuilds {
		if b.name == "etcd" || b.name == "k8s" {
			if dirs[b.name], err = ensureToolBuild(ctx, p, b, strings.TrimSpace(goVersion)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cm, err := EnsureCertManager(ctx, p)
	if err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	binDir := filepath.Join(root, "bin")
	c := &Cluster{l: layout{root: filepath.Join(root, "cluster")}, p: p, procs: map[string]*process{}}
	for _, d := range []string{binDir, c.l.pids(), c.l.logs()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	etcd := linkOrCopy(t, filepath.Join(dirs["etcd"], "etcd"), binDir)
	apiserver := linkOrCopy(t, filepath.Join(dirs["k8s"], "kube-apiserver"), binDir)
	c.certManager = &CertManagerBuild{Bin: linkOrCopy(t, cm.Bin, binDir), CRDDir: cm.CRDDir}

	t.Cleanup(func() {
		for _, name := range []string{"cert-manager", "kube-apiserver", "etcd"} {
			pid, running := recordedPid(c.l, name)
			if err := stopRecorded(c.l, name, c.procs[name], 10*time.Second); err != nil {
				t.Errorf("stopping %s: %v", name, err)
			}
			if running && pidAlive(pid) {
				t.Errorf("%s (pid %d) still runs after the test", name, pid)
			}
			if name == "cert-manager" && running && !strings.Contains(tail(c.CertManagerLog(), 5), `"stopped" logger="cert-manager-e2e"`) {
				t.Errorf("cert-manager did not stop cleanly on SIGTERM (no \"stopped\" line at the end of its log)")
			}
		}
		if t.Failed() {
			for _, name := range []string{"cert-manager", "kube-apiserver", "etcd"} {
				t.Logf("---- %s log (last lines)\n%s", name, tail(c.logPath(name), 30))
			}
		}
	})

	if c.nodeIP, err = NodeIP(); err != nil {
		t.Fatal(err)
	}
	if c.pki, err = makePKI(c.l, "cert-manager-test", c.nodeIP); err != nil {
		t.Fatal(err)
	}
	// makePKI's kubeconfigs name the cluster's API server; ours listens elsewhere.
	kc, err := os.ReadFile(c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	ours := fmt.Sprintf("https://127.0.0.1:%d", cmTestAPIServer)
	if !bytes.Contains(kc, []byte("server: "+apiServerURL+"\n")) {
		t.Fatalf("the admin kubeconfig does not name %s:\n%s", apiServerURL, kc)
	}
	if err := os.WriteFile(c.Kubeconfig(), bytes.ReplaceAll(kc, []byte("server: "+apiServerURL+"\n"), []byte("server: "+ours+"\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.rest, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig()); err != nil {
		t.Fatal(err)
	}
	if c.client, err = kubernetes.NewForConfig(c.rest); err != nil {
		t.Fatal(err)
	}

	client := fmt.Sprintf("http://127.0.0.1:%d", cmTestEtcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", cmTestEtcdPeer)
	ep, err := c.start("etcd", nil, etcd, "--name", "cmtest", "--data-dir", c.l.path("data", "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "cmtest="+peer,
		"--log-level", "warn", "--unsafe-no-fsync")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, 60*time.Second, "etcd /health", aliveCheck(ep, c.logPath("etcd"), func() (bool, error) {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})); err != nil {
		t.Fatal(err)
	}
	k := c.pki.file
	ap, err := c.start("kube-apiserver", nil, apiserver, "--etcd-servers="+client,
		"--advertise-address="+c.nodeIP.String(), "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", cmTestAPIServer),
		"--tls-cert-file="+k("apiserver.crt"), "--tls-private-key-file="+k("apiserver.key"), "--client-ca-file="+k("ca.crt"),
		"--service-account-key-file="+k("sa.pub"), "--service-account-signing-key-file="+k("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceClusterIPRange, "--authorization-mode=RBAC", "--v=1")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, 120*time.Second, "kube-apiserver /readyz", aliveCheck(ap, c.logPath("kube-apiserver"), func() (bool, error) {
		body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && strings.TrimSpace(string(body)) == "ok", err
	})); err != nil {
		t.Fatal(err)
	}
	ts := time.Now()
	if err := c.StartCertManager(ctx); err != nil {
		t.Fatalf("StartCertManager: %v\n%s", err, tail(c.CertManagerLog(), 40))
	}
	t.Logf("StartCertManager returned after %s", time.Since(ts).Round(100*time.Millisecond))
	if err := c.StartCertManager(ctx); err == nil {
		t.Errorf("a second StartCertManager while cert-manager runs succeeded")
	}
	return c
}

// checkServingSecret checks Secret serving-tls: a leaf for name, signed by ca, with its own key and the
// CA as ca.crt; it returns the leaf.
func checkServingSecret(ctx context.Context, t *testing.T, cs kubernetes.Interface, ca *x509.Certificate, caPEM []byte, name string) *x509.Certificate {
	t.Helper()
	s, err := cs.CoreV1().Secrets(cmTestNamespace).Get(ctx, "serving-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("serving-tls type %q", s.Type)
	}
	leaf := parseCert(t, "serving-tls tls.crt", s.Data["tls.crt"])
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
		t.Fatalf("the serving certificate does not verify against the CA for %s: %v", name, err)
	}
	if leaf.IsCA {
		t.Errorf("the serving certificate is a CA")
	}
	if _, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"]); err != nil {
		t.Errorf("serving-tls tls.key does not belong to tls.crt: %v", err)
	}
	if !bytes.Equal(s.Data["ca.crt"], caPEM) {
		t.Errorf("serving-tls ca.crt is not the CA")
	}
	return leaf
}

func secretKey(ctx context.Context, t *testing.T, cs kubernetes.Interface) []byte {
	t.Helper()
	s, err := cs.CoreV1().Secrets(cmTestNamespace).Get(ctx, "serving-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Data["tls.key"]
}

func parseCert(t *testing.T, what string, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate: %q", what, data)
	}
	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return crt
}

// revisionReady: the Certificate has reached revision want, is Ready and no longer Issuing.
func revisionReady(ctx context.Context, dyn dynamic.Interface, ns, name string, want int64) func() (bool, error) {
	return func() (bool, error) {
		obj, err := dyn.Resource(certificatesGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		rev, _, _ := unstructured.NestedInt64(obj.Object, "status", "revision")
		return rev >= want && conditionStatus(obj, "Ready") == "True" && conditionStatus(obj, "Issuing") == "", nil
	}
}

func conditionStatus(obj *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// describeCertManagerState lists the Issuers', Certificates' and CertificateRequests' conditions.
func describeCertManagerState(ctx context.Context, dyn dynamic.Interface, ns string) string {
	var b strings.Builder
	for _, kind := range []struct {
		name string
		gvr  schema.GroupVersionResource
	}{{"Issuer", issuersGVR}, {"Certificate", certificatesGVR}, {"CertificateRequest", certificateRequestsGVR}} {
		list, err := dyn.Resource(kind.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			fmt.Fprintf(&b, "%ss: %v\n", kind.name, err)
			continue
		}
		if len(list.Items) == 0 {
			fmt.Fprintf(&b, "%ss: none\n", kind.name)
		}
		for _, obj := range list.Items {
			rev, _, _ := unstructured.NestedInt64(obj.Object, "status", "revision")
			fmt.Fprintf(&b, "%s %s/%s (revision %d):\n", kind.name, ns, obj.GetName(), rev)
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			if len(conds) == 0 {
				b.WriteString("  no conditions\n")
			}
			for _, c := range conds {
				m, _ := c.(map[string]any)
				fmt.Fprintf(&b, "  %v=%v %v: %v\n", m["type"], m["status"], m["reason"], m["message"])
			}
		}
	}
	return b.String()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// linkOrCopy puts bin into dir (a hard link, else a copy) and returns the new path.
func linkOrCopy(t *testing.T, bin, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(bin))
	if err := os.Link(bin, dst); err == nil {
		return dst
	}
	in, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The version stamped into the program is the one its tool module requires.
func TestTheCertManagerVersionIsTheOneItsToolModuleRequires(t *testing.T) {
	raw, err := os.ReadFile("../tools/certmanager/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/cert-manager/cert-manager (v\S+)`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("e2e/tools/certmanager/go.mod does not require github.com/cert-manager/cert-manager")
	}
	if m[1] != CertManagerVersion {
		t.Errorf("e2e/tools/certmanager/go.mod requires cert-manager %s, but CertManagerVersion = %s: change both together", m[1], CertManagerVersion)
	}
}

// A tool's cache key covers its sources: a tools.go-only module keeps the three files it always had
// (its cached build stays valid), the cert-manager program adds its main.go.
func TestAToolsCacheKeyCoversEverySourceFile(t *testing.T) {
	got, err := toolSources(filepath.Join(toolsDir(), "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"go.mod", "go.sum", "tools.go"}; !slices.Equal(got, want) {
		t.Errorf("etcd sources = %v, want %v", got, want)
	}
	got, err = toolSources(filepath.Join(toolsDir(), "certmanager"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "main.go") || !slices.Contains(got, "go.sum") {
		t.Errorf("certmanager sources = %v, want go.mod, go.sum and main.go", got)
	}
}
