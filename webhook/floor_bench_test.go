package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/certs"
)

// The served benchmarks measure admission against the framework floor: the webhook and a no-op typed
// controller-runtime Defaulter[*corev1.Pod] served side by side by one controller-runtime webhook
// server over HTTPS, called by one keep-alive client with the same AdmissionReview (the captured
// z2jh 4 pod), in interleaved rounds at a fixed concurrency. The claim is the ratio of the two in the
// same run (the machines are noisy): throughput-ratio (ours / floor, higher is better) and
// p99-ratio (ours / floor, lower is better). Absolute numbers are reported for the record.

// floorPath serves the no-op Defaulter, the framework floor.
const (
	floorPath = "/floor"
	diffPath  = "/mutate-diff"
	// floorPatchPath serves the floor with our patch, computed once, attached to its answer: what any
	// webhook that makes this very mutation costs at least (the server's floor, plus the client's
	// decoding and applying of the patch).
	floorPatchPath = "/floor-with-our-patch"
	benchFixture   = "z2jh4-binderhub-dynamic"
	roundRequests  = 64 // requests per handler per round, at least; rounds alternate the two
)

// noopDefaulter is the floor: a typed Defaulter that changes nothing, so controller-runtime decodes,
// copies, compares and answers without a patch.
type noopDefaulter struct{}

func (noopDefaulter) Default(context.Context, *corev1.Pod) error { return nil }

// withFixedPatch answers as inner does, with patch attached.
type withFixedPatch struct {
	inner admission.Handler
	patch []byte
}

func (h withFixedPatch) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp := h.inner.Handle(ctx, req)
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = h.patch, &pt
	return resp
}

// ourPatch is the webhook's patch (the default, plan) for the benchmark's review.
func ourPatch(b *testing.B) []byte {
	resp := NewWebhook(testConfig(), logr.Discard()).Handle(context.Background(), admission.Request{AdmissionRequest: *benchReviewRequest(b)})
	if !resp.Allowed || len(resp.Patch) == 0 {
		b.Fatalf("the webhook gave no patch for the benchmark's pod: %+v", resp.Result)
	}
	return resp.Patch
}

// floorServer is one controller-runtime webhook server with the webhook at Path (its default patch
// mode), the webhook with the library diff at diffPath, and the floor at floorPath.
type floorServer struct {
	base   string
	client *http.Client
	review []byte
	pod    []byte // the pod in review
}

func startFloorServer(b *testing.B) *floorServer {
	b.Helper()
	ca, err := certs.NewCA("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := ca.WriteServing(dir, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	srv.Register(Path, NewWebhook(testConfig(), logr.Discard()))
	srv.Register(diffPath, NewWebhook(testConfig(), logr.Discard(), WithPatchMode(PatchDiff)))
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	floor := admission.WithDefaulter[*corev1.Pod](scheme, noopDefaulter{})
	srv.Register(floorPath, floor)
	srv.Register(floorPatchPath, &admission.Webhook{Handler: withFixedPatch{inner: floor.Handler, patch: ourPatch(b)}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for srv.StartedChecker()(nil) != nil {
		if time.Now().After(deadline) {
			b.Fatal("webhook server did not start within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}}
	return &floorServer{base: "https://127.0.0.1:" + strconv.Itoa(port), client: client, review: admissionReviewOf(b), pod: benchPod(b)}
}

// admissionReviewOf is the AdmissionReview an API server sends for a CREATE of the z2jh 4 pod.
func admissionReviewOf(b *testing.B) []byte {
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  benchReviewRequest(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	return review
}

// benchReviewRequest is the request an API server sends for a CREATE of the z2jh 4 pod.
func benchReviewRequest(b *testing.B) *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{
		UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "bhub", Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: benchPod(b)},
	}
}

// post sends the review to path and does with the answer what the API server does: decodes the
// whole AdmissionReview, checks it is allowed with a patch when wantPatch, and applies that JSON patch
// to the pod it sent, decoding the result as a Pod. The floor's answer has no patch: its cost is the
// decode alone, as it is for the API server.
func (s *floorServer) post(path string, wantPatch bool) error {
	resp, err := s.client.Post(s.base+path, "application/json", bytes.NewReader(s.review))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Response == nil {
		return fmt.Errorf("%s: status %d: not an AdmissionReview answer (%v): %.300s", path, resp.StatusCode, err, body)
	}
	if resp.StatusCode != http.StatusOK || !review.Response.Allowed {
		return fmt.Errorf("%s: status %d: not allowed: %.300s", path, resp.StatusCode, body)
	}
	if hasPatch := len(review.Response.Patch) > 0; hasPatch != wantPatch {
		return fmt.Errorf("%s: patch in the answer = %v, want %v: %.300s", path, hasPatch, wantPatch, body)
	}
	if !wantPatch {
		return nil
	}
	ops, err := jsonpatch.DecodePatch(review.Response.Patch)
	if err != nil {
		return fmt.Errorf("%s: the patch does not decode: %w", path, err)
	}
	patched, err := ops.Apply(s.pod)
	if err != nil {
		return fmt.Errorf("%s: the patch does not apply: %w", path, err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		return fmt.Errorf("%s: the patched pod does not decode: %w", path, err)
	}
	if len(pod.Spec.InitContainers) == 0 {
		return fmt.Errorf("%s: the patched pod has no init container", path)
	}
	return nil
}

// sample is what one handler did over all its rounds.
type sample struct {
	requests  int
	wall      time.Duration
	latencies []time.Duration
}

func (s *sample) throughput() float64 { return float64(s.requests) / s.wall.Seconds() }

func (s *sample) p99() time.Duration {
	slices.Sort(s.latencies)
	return s.latencies[(len(s.latencies)*99+99)/100-1]
}

// round sends n requests to path from c workers and adds them to into.
func (s *floorServer) round(path string, wantPatch bool, c, n int, into *sample) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([][]time.Duration, c)
	errs := make([]error, c)
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := s.post(path, wantPatch); err != nil {
					errs[w] = err
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	into.wall += time.Since(start)
	into.requests += n
	for w := range c {
		if errs[w] != nil {
			return errs[w]
		}
		into.latencies = append(into.latencies, lat[w]...)
	}
	return nil
}

// BenchmarkServedAgainstFloor is one op = one admission by the webhook (the path in its name: plan,
// the default, or diff, the library) plus one by the floor, at concurrency c, in rounds that
// alternate which goes first. Its claims are throughput-ratio and p99-ratio.
func BenchmarkServedAgainstFloor(b *testing.B) {
	s := startFloorServer(b)
	for _, mode := range []struct{ name, path string }{{"plan", Path}, {"diff", diffPath}, {"floor-with-our-patch", floorPatchPath}} {
		for _, c := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("patch=%s/c=%d", mode.name, c), func(b *testing.B) {
				// Warm the connections of both handlers to c each.
				for _, p := range []string{mode.path, floorPath} {
					if err := s.round(p, p != floorPath, c, 2*c, &sample{}); err != nil {
						b.Fatal(err)
					}
				}
				per := max(roundRequests, 4*c)
				var ours, floor sample
				b.ResetTimer()
				for i, done := 0, 0; done < b.N; i++ {
					n := min(per, b.N-done)
					first, second := func() error { return s.round(mode.path, true, c, n, &ours) },
						func() error { return s.round(floorPath, false, c, n, &floor) }
					if i%2 == 1 {
						first, second = second, first
					}
					if err := first(); err != nil {
						b.Fatal(err)
					}
					if err := second(); err != nil {
						b.Fatal(err)
					}
					done += n
				}
				b.StopTimer()
				b.ReportMetric(ours.throughput()/floor.throughput(), "throughput-ratio")
				b.ReportMetric(float64(ours.p99())/float64(floor.p99()), "p99-ratio")
				b.ReportMetric(ours.throughput(), "req/s")
				b.ReportMetric(floor.throughput(), "floor-req/s")
				b.ReportMetric(float64(ours.p99().Microseconds()), "p99-µs")
				b.ReportMetric(float64(floor.p99().Microseconds()), "floor-p99-µs")
			})
		}
	}
}
