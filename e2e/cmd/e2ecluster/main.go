// Command e2ecluster runs the end-to-end cluster by hand.
//
//	go run ./cmd/e2ecluster up      build what is missing, start the cluster (and the webhook), leave it running
//	go run ./cmd/e2ecluster down    remove everything the cluster made on this machine
//	go run ./cmd/e2ecluster demo    up, then launch BinderHub-shaped pods for two projects and show what the user sees
//	go run ./cmd/e2ecluster build   only build the tools into the cache
//
// It must run as root. The cache is $BINDER_PROJECTS_CACHE (default /var/cache/binder-projects).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

func main() {
	webhook := flag.Bool("webhook", true, "build, start and register the binder-projects webhook (up, demo)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: e2ecluster [-webhook=false] up|down|demo|build\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch flag.Arg(0) {
	case "build":
		_, err = cluster.EnsureTools(ctx, cluster.NewProgress(os.Stderr))
	case "up":
		_, err = up(ctx, *webhook)
	case "down":
		err = cluster.Down(context.Background(), os.Stderr)
		if err == nil {
			fmt.Fprintln(os.Stderr, "e2e: everything removed")
		}
	case "demo":
		err = demo(ctx, *webhook)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2ecluster %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

func up(ctx context.Context, webhook bool) (*cluster.Cluster, error) {
	t0 := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Namespaces: []string{"bhub"}, Webhook: webhook})
	if err != nil {
		return nil, err
	}
	if err := c.Detach(); err != nil {
		return nil, err
	}
	binDir := filepath.Dir(c.KubectlPath())
	fmt.Printf(`
The cluster is up (%s). It keeps running until you remove it.

  export KUBECONFIG=%s
  export PATH=%s:$PATH      # kubectl %s
  kubectl get nodes,pods -A

Logs:      %s
Webhook:   %s (log: %s)
Remove it: go run ./cmd/e2ecluster down   (in e2e/, as root)
`, time.Since(t0).Round(time.Second), c.Kubeconfig(), binDir, cluster.KubernetesVersion, c.LogDir(), webhookState(webhook, c), c.WebhookLog())
	return c, nil
}

func webhookState(on bool, c *cluster.Cluster) string {
	if !on {
		return "not started (-webhook=false)"
	}
	return c.WebhookURL()
}
