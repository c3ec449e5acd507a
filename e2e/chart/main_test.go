// Package chart tests the Helm chart (manifests/chart/binder-projects) with the real Helm CLI: lint,
// the objects it renders for every TLS mode, its values schema, and the plain YAML rendered from it.
// They need no cluster and never take the cluster lock; Helm is built once from the Go module proxy
// and cached like the cluster's tools (e2e/tools/helm).
package chart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/certs"
	"github.com/binder-projects/binder-projects/e2e/cluster"
)

// helmBin is the cached Helm CLI, built (or found) once for the package.
var helmBin string

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	bin, err := cluster.EnsureHelm(ctx, cluster.NewProgress(os.Stderr))
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the Helm CLI (e2e/tools/helm): %v\n", err)
		os.Exit(1)
	}
	helmBin = bin
	dir, err := os.MkdirTemp("", "binder-projects-chart-")
	if err == nil {
		testCA, err = certs.NewCA("binder-projects chart test CA")
	}
	if err == nil {
		testCAPath = filepath.Join(dir, "ca.crt")
		err = os.WriteFile(testCAPath, testCA.CertPEM(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "making the test CA: %v\n", err)
		os.Exit(1)
	}
	setTLSModes(testCAPath)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testCAPath is a PEM file of testCA, for tls.caBundle.
var testCAPath string
