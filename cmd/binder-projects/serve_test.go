package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRunsInItsOwnNamespaceUnlessToldOtherwise(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const config = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: with, context: {cluster: c, user: u, namespace: bhub}}, {name: without, context: {cluster: c, user: u}}]
current-context: %s
`
	saved := serviceAccountNamespace
	t.Cleanup(func() { serviceAccountNamespace = saved })
	serviceAccountNamespace = filepath.Join(dir, "no-such-file")

	t.Run("out of a cluster, the kubeconfig context's namespace", func(t *testing.T) {
		write(kubeconfig, strings.Replace(config, "%s", "with", 1))
		if ns, err := ownNamespace(kubeconfig); err != nil || ns != "bhub" {
			t.Errorf("ownNamespace = %q, %v; want bhub", ns, err)
		}
	})
	t.Run("a context without a namespace is an error, not every namespace", func(t *testing.T) {
		write(kubeconfig, strings.Replace(config, "%s", "without", 1))
		if ns, err := ownNamespace(kubeconfig); err == nil {
			t.Errorf("ownNamespace = %q, want an error", ns)
		}
	})
	t.Run("in a cluster, the pod's own namespace", func(t *testing.T) {
		serviceAccountNamespace = filepath.Join(dir, "namespace")
		write(serviceAccountNamespace, "hub-ns\n")
		if ns, err := ownNamespace(kubeconfig); err != nil || ns != "hub-ns" {
			t.Errorf("ownNamespace = %q, %v; want hub-ns", ns, err)
		}
	})
}
