package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// admissionStream keeps singleuser pods of one user flowing through the API server's admission, as
// server-side dry runs (the webhook is called exactly as for a real create; nothing is stored), from
// a few workers at once, until stopped. Every create must come back mutated: one that fails, or comes
// back unmutated (the webhook was skipped), is counted and kept with its error.
type admissionStream struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	ok        int
	failures  []string
	latencies []time.Duration
}

// streamAdmissions starts workers that create, one after another each, dry-run singleuser pods of
// user (whose claim must exist) until stop is called.
func streamAdmissions(ctx context.Context, t testing.TB, user string, workers int) *admissionStream {
	t.Helper()
	pod := dynamicPod(t, user, repoA)
	ctx, cancel := context.WithCancel(ctx)
	s := &admissionStream{cancel: cancel}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for w := 0; w < workers; w++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for ctx.Err() == nil {
				p := pod.DeepCopy()
				t0 := time.Now()
				got, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, p, dry)
				d := time.Since(t0)
				if ctx.Err() != nil {
					return // cancelled mid-call: not the webhook's doing
				}
				s.record(got, err, d)
			}
		}()
	}
	return s
}

func (s *admissionStream) record(got *corev1.Pod, err error, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.failures = append(s.failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
	case got.Annotations[contract.AnnotationProjectDir] == "":
		s.failures = append(s.failures, fmt.Sprintf("%s: admitted without the webhook's mutation", time.Now().Format("15:04:05.000")))
	default:
		s.ok++
		s.latencies = append(s.latencies, d)
	}
}

// counts returns how many admissions succeeded and failed so far.
func (s *admissionStream) counts() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok, len(s.failures)
}

// waitFor waits until n more admissions have succeeded than when it was called.
func (s *admissionStream) waitFor(ctx context.Context, t testing.TB, n int) {
	t.Helper()
	start, _ := s.counts()
	for {
		ok, _ := s.counts()
		if ok >= start+n {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the admission stream made %d admissions, want %d more", ok-start, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the stream and fails the test if any admission failed; it logs what it measured.
func (s *admissionStream) stop(t testing.TB, during string) {
	t.Helper()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(f*float64(len(lat))))]
	}
	t.Logf("%s: %d admissions succeeded, %d failed; latency p50 %s, p99 %s, max %s", during, s.ok, len(s.failures),
		q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), q(1).Round(time.Millisecond))
	if s.ok == 0 {
		t.Errorf("%s: no admission succeeded: the stream proved nothing", during)
	}
	if len(s.failures) > 0 {
		shown := s.failures[:min(len(s.failures), 10)]
		t.Errorf("%s: %d of %d admissions failed; the first:\n  %s", during, len(s.failures), s.ok+len(s.failures),
			strings.Join(shown, "\n  "))
	}
}
