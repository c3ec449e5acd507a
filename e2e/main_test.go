// Package e2e runs binder-projects on a real single-node Kubernetes (see cluster/): one cluster for the
// whole `go test` run, started in TestMain. Run as root, from e2e/:
//
//	go test -timeout 60m ./...
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

// hubNamespace is where the singleuser pods go (the webhook serves only it).
const hubNamespace = "bhub"

var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: skipped, the end-to-end tests need root")
		return 0
	}
	var before cluster.HostState
	t0 := time.Now()
	c, err := cluster.Start(context.Background(), cluster.Options{Namespaces: []string{hubNamespace}, Webhook: true, HostStateBefore: &before})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the cluster:", err)
		return 1
	}
	c.StopOnSignal()
	testCluster = c
	fmt.Fprintf(os.Stderr, "e2e: cluster ready after %s (build included)\n", time.Since(t0).Round(100*time.Millisecond))
	t1 := time.Now()
	code := m.Run()
	fmt.Fprintf(os.Stderr, "e2e: tests took %s\n", time.Since(t1).Round(100*time.Millisecond))
	if err := noTokenInLogs(c.WebhookLog(), c.ProjectsServiceLog()); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	t2 := time.Now()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: teardown:", err)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "e2e: teardown took %s\n", time.Since(t2).Round(100*time.Millisecond))
	after, err := cluster.CaptureHostState()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if left := cluster.Leftovers(before, after); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "e2e: the cluster left things behind:")
		for _, l := range left {
			fmt.Fprintln(os.Stderr, "  ", l)
		}
		code = 1
	}
	return code
}

// noTokenInLogs checks, after every test ran, that the logs of binder-projects' own processes carry
// none of the API tokens the fixtures' pods hold in their env (sentinel-token-*): the webhook saw
// every pod the tests created. The webhook's log must exist and say what it did, or the check would
// prove nothing.
func noTokenInLogs(webhookLog string, others ...string) error {
	b, err := os.ReadFile(webhookLog)
	if err != nil {
		return fmt.Errorf("reading the webhook's log: %w", err)
	}
	if !strings.Contains(string(b), "pod mutated") {
		return fmt.Errorf("the webhook's log %s records no mutation: the token check would prove nothing", webhookLog)
	}
	for _, f := range append([]string{webhookLog}, others...) {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) && f != webhookLog {
			continue
		}
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "sentinel-token") {
			return fmt.Errorf("a token from a pod's env reached the log %s", f)
		}
	}
	return nil
}
