// Package cluster runs a real single-node Kubernetes (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd, runc, kubelet) on this machine for the end-to-end tests and the demo.
//
// Everything is built from the Go module proxy into a cache folder once (see tools.go), the PKI is made in
// Go, images are OCI layouts written in Go from Debian's busybox-static, and every process, mount, cgroup,
// iptables chain and bridge the cluster makes is removed again by Stop or Down.
package cluster

import (
	"os"
	"path/filepath"
	"runtime"
)

// CacheDir is where built binaries, images and the cluster's scratch folder live:
// $BINDER_PROJECTS_CACHE, or /var/cache/binder-projects.
func CacheDir() string {
	if d := os.Getenv("BINDER_PROJECTS_CACHE"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	return "/var/cache/binder-projects"
}

// e2eDir is the e2e module's folder, found from this source file so that `go test` and `go run` work
// from any package folder.
func e2eDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("cluster: cannot locate the e2e module's source")
	}
	return filepath.Dir(filepath.Dir(file))
}

// RepoRoot is the root module's folder (the webhook is built from it).
func RepoRoot() string { return filepath.Dir(e2eDir()) }

// layout is the scratch folder of one cluster.
type layout struct {
	root string // <cache>/cluster
}

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.root}, elem...)...)
}
func (l layout) pki() string             { return l.path("pki") }
func (l layout) logs() string            { return l.path("logs") }
func (l layout) run() string             { return l.path("run") }
func (l layout) data() string            { return l.path("data") }
func (l layout) etc() string             { return l.path("etc") }
func (l layout) pv() string              { return l.path("pv") }
func (l layout) pids() string            { return l.path("run", "pids") }
func (l layout) sock() string            { return l.path("run", "containerd", "containerd.sock") }
func (l layout) adminKubeconfig() string { return l.path("admin.kubeconfig") }
