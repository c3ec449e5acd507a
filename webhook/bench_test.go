package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	cfg := patch.DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := patch.Mutate(&pod, cfg); len(errs) > 0 {
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
	wh := NewWebhook(patch.DefaultConfig(), logr.Discard())
	b.ReportAllocs()
	for b.Loop() {
		if resp := wh.Handle(context.Background(), req); !resp.Allowed || len(resp.Patch) == 0 {
			b.Fatal(resp.Result)
		}
	}
}
