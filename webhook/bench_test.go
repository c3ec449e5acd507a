package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/patch"
)

// The admission benchmarks are read as a ratio against BenchmarkBaselineDecodeAndEncode, run in the
// same process: what any typed pod webhook must do at least (decode the pod, copy it, encode it).
// Compare runs with benchstat, e.g.
//
//	go test ./webhook -run '^$' -bench . -count 10 | tee new.txt; benchstat old.txt new.txt

func benchPod(b *testing.B) []byte {
	b.Helper()
	pod := podOf(&testing.T{}, "z2jh4-binderhub-dynamic")
	if len(pod) == 0 {
		b.Fatal("no fixture")
	}
	return pod
}

func BenchmarkBaselineDecodeAndEncode(b *testing.B) {
	raw := benchPod(b)
	b.ReportAllocs()
	for b.Loop() {
		var pod corev1.Pod
		if err := json.Unmarshal(raw, &pod); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(pod.DeepCopy()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMutate(b *testing.B) {
	var pod corev1.Pod
	if err := json.Unmarshal(benchPod(b), &pod); err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := mutatePod(&pod, cfg, patch.Registered{}); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkAdmission is the webhook's whole work on one request: decode, mutate, diff against the
// raw request into a JSON patch, encode the patch.
func BenchmarkAdmission(b *testing.B) {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Operation: admissionv1.Create, Namespace: "bhub",
		Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Object: runtime.RawExtension{Raw: benchPod(b)},
	}}
	wh := NewWebhook(testConfig(), logr.Discard())
	b.ReportAllocs()
	for b.Loop() {
		if resp := wh.Handle(context.Background(), req); !resp.Allowed || len(resp.Patch) == 0 {
			b.Fatal(resp.Result)
		}
	}
}

// BenchmarkHandle is one admission through the webhook's Handle (no HTTP, no AdmissionReview), for
// each patch mode and for the floor (a no-op typed Defaulter), in the same process: compare the
// modes with the floor, not across runs.
func BenchmarkHandle(b *testing.B) {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Operation: admissionv1.Create, Namespace: "bhub",
		Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Object: runtime.RawExtension{Raw: benchPod(b)},
	}}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	for _, h := range []struct {
		name      string
		wh        *admission.Webhook
		wantPatch bool
	}{
		{"floor", admission.WithDefaulter[*corev1.Pod](scheme, noopDefaulter{}), false},
		{"patch=plan", NewWebhook(testConfig(), logr.Discard()), true},
		{"patch=diff", NewWebhook(testConfig(), logr.Discard(), WithPatchMode(PatchDiff)), true},
	} {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if resp := h.wh.Handle(context.Background(), req); !resp.Allowed || (len(resp.Patch) > 0) != h.wantPatch {
					b.Fatal(resp.Result)
				}
			}
		})
	}
}

// BenchmarkServeHTTP is one admission through the webhook's HTTP handler (AdmissionReview decoded
// and encoded, no TLS, no network), for each patch mode and the floor.
func BenchmarkServeHTTP(b *testing.B) {
	review := admissionReviewOf(b)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	for _, h := range []struct {
		name string
		wh   *admission.Webhook
	}{
		{"floor", admission.WithDefaulter[*corev1.Pod](scheme, noopDefaulter{})},
		{"patch=plan", NewWebhook(testConfig(), logr.Discard())},
		{"patch=diff", NewWebhook(testConfig(), logr.Discard(), WithPatchMode(PatchDiff))},
	} {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(review))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.wh.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Body.String())
				}
			}
		})
	}
}
