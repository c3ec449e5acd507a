package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/certs"
)

// servedWebhook is the webhook served over TLS as `binder-projects serve` serves it.
type servedWebhook struct {
	url     string
	certDir string
	logs    *syncBuffer
}

func startServer(t *testing.T) (*servedWebhook, *certs.CA) {
	t.Helper()
	ca, err := certs.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.WriteServing(dir, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logs := &syncBuffer{}
	log := funcr.NewJSON(func(s string) { logs.Write([]byte(s + "\n")) }, funcr.Options{Verbosity: 10})
	srv := NewServer(ServerOptions{Host: "127.0.0.1", Port: port, CertDir: dir}, testConfig(), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	w := &servedWebhook{url: "https://127.0.0.1:" + strconv.Itoa(port) + Path, certDir: dir, logs: logs}
	deadline := time.Now().Add(10 * time.Second)
	for srv.StartedChecker()(nil) != nil {
		if time.Now().After(deadline) {
			t.Fatal("webhook server did not start within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return w, ca
}

// post sends body to the webhook over TLS that trusts only ca, and decodes the AdmissionReview.
func (w *servedWebhook) post(t *testing.T, ca *certs.CA, contentType string, body []byte) admissionv1.AdmissionReview {
	t.Helper()
	resp, err := httpsClient(ca).Post(w.url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v", err)
	}
	if review.Response == nil {
		t.Fatal("AdmissionReview without a response")
	}
	return review
}

func httpsClient(ca *certs.CA) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func podOf(t *testing.T, fixtureName string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + fixtureName + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	pod, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func applyPatch(t *testing.T, doc, patchJSON []byte) []byte {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func reviewOf(t *testing.T, fixtureName string, dryRun bool) []byte {
	t.Helper()
	pod := podOf(t, fixtureName)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "uid-1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "bhub", Operation: admissionv1.Create, DryRun: &dryRun,
			Object: runtime.RawExtension{Raw: pod},
		},
	}
	b, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTheServedWebhook(t *testing.T) {
	w, ca := startServer(t)

	t.Run("a BinderHub pod comes back with a JSON patch over TLS", func(t *testing.T) {
		r := w.post(t, ca, "application/json", reviewOf(t, "z2jh4-binderhub-dynamic", false))
		if !r.Response.Allowed || r.Response.PatchType == nil || len(r.Response.Patch) == 0 || r.Response.UID != "uid-1" {
			t.Fatalf("response = %+v, want allowed with a patch for uid-1", r.Response)
		}
	})

	t.Run("a server-side dry run gets exactly the patch a real create gets", func(t *testing.T) {
		// The order of patch operations is not fixed, so compare what they make of the pod.
		pod := podOf(t, "z2jh4-binderhub-dynamic")
		real := applyPatch(t, pod, w.post(t, ca, "application/json", reviewOf(t, "z2jh4-binderhub-dynamic", false)).Response.Patch)
		dry := applyPatch(t, pod, w.post(t, ca, "application/json", reviewOf(t, "z2jh4-binderhub-dynamic", true)).Response.Patch)
		if diff := cmp.Diff(string(real), string(dry)); diff != "" {
			t.Errorf("dry run makes a different pod (-real +dry):\n%s", diff)
		}
	})

	malformed := []struct {
		sentence, contentType, body string
	}{
		{"a body that is not JSON is answered 400", "application/json", "{not json"},
		{"an AdmissionReview whose object is not a pod is answered 400", "application/json",
			`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u2","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"object":{"spec":"a string"}}}`},
		{"a request that is not JSON content is answered 400", "text/plain", "{}"},
	}
	for _, tt := range malformed {
		t.Run(tt.sentence, func(t *testing.T) {
			r := w.post(t, ca, tt.contentType, []byte(tt.body))
			if r.Response.Allowed || r.Response.Result == nil || r.Response.Result.Code != http.StatusBadRequest {
				t.Fatalf("response = %+v, want refused with 400", r.Response)
			}
		})
	}

	t.Run("a hostile project annotation is answered 422 naming the field", func(t *testing.T) {
		r := w.post(t, ca, "application/json", reviewOf(t, "hostile-project-annotation", false))
		if r.Response.Allowed || r.Response.Result.Code != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Response.Result.Message, "metadata.annotations[binder-projects.io/project]") {
			t.Fatalf("response = %+v, want 422 naming the annotation", r.Response.Result)
		}
	})

	t.Run("admissions are counted by outcome in the Prometheus registry", func(t *testing.T) {
		for outcome, atLeast := range map[string]float64{OutcomeMutated: 3, OutcomeMalformed: 1, OutcomeInvalid: 1} {
			if got := counter(t, "binder_projects_admissions_total", outcome); got < atLeast {
				t.Errorf("binder_projects_admissions_total{outcome=%q} = %v, want at least %v", outcome, got, atLeast)
			}
		}
	})

	t.Run("no log line carries a token from the pod", func(t *testing.T) {
		if strings.Contains(w.logs.String(), "sentinel-token") {
			t.Errorf("a token reached the log:\n%s", w.logs.String())
		}
		if !strings.Contains(w.logs.String(), "pod mutated") {
			t.Errorf("the log does not say what was done:\n%s", w.logs.String())
		}
	})

	t.Run("a renewed certificate is served without a restart", func(t *testing.T) {
		ca2, err := certs.NewCA("renewed-ca")
		if err != nil {
			t.Fatal(err)
		}
		if err := ca2.WriteServing(w.certDir, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := httpsClient(ca2).Post(w.url, "application/json", bytes.NewReader(reviewOf(t, "z2jh4-binderhub-dynamic", false)))
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server still does not present the renewed certificate after 30s: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if resp, err := httpsClient(ca).Post(w.url, "application/json", bytes.NewReader([]byte("{}"))); err == nil {
			resp.Body.Close()
			t.Error("the server still presents the old certificate")
		}
	})
}

func counter(t *testing.T, name, outcome string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
