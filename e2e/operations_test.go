package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

// TestTheRunningWebhookReportsHealthReadinessAndAdmissionsByOutcome reads the operator's endpoints of
// the real `binder-projects serve` on the host: /healthz and /readyz answer 200 (readiness includes
// the synced claim cache), and /metrics counts an admission it has just made, by outcome.
func TestTheRunningWebhookReportsHealthReadinessAndAdmissionsByOutcome(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	for _, path := range []string{"/healthz", "/readyz"} {
		body, code := get(t, "http://"+cluster.WebhookHealthAddr+path)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d: %s", path, code, body)
		}
	}

	mutated := regexp.MustCompile(`(?m)^binder_projects_admissions_total\{outcome="mutated"\} (\d+)`)
	count := func() int {
		body, code := get(t, "http://"+cluster.WebhookMetricsAddr+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d", code)
		}
		m := mutated.FindStringSubmatch(body)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	before := count()
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, storageNonePod(t, "metrics", repoA), dry); err != nil {
		t.Fatal(err)
	}
	if after := count(); after != before+1 {
		t.Errorf(`binder_projects_admissions_total{outcome="mutated"} went from %d to %d after one admission, want +1`, before, after)
	}
	if body, _ := get(t, "http://"+cluster.WebhookMetricsAddr+"/metrics"); !regexp.MustCompile(`binder_projects_admission_duration_seconds_count\{outcome="mutated"\} [1-9]`).MatchString(body) {
		t.Error("/metrics has no admission latency for the mutated outcome")
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
