package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CertManagerVersion is the github.com/cert-manager/cert-manager module e2e/tools/certmanager builds
// (a test keeps it equal to that go.mod).
const CertManagerVersion = "v1.21.2"

// certManagerBuild is e2e/tools/certmanager: our own main program around cert-manager's public
// packages (the module's cmd/controller and cmd/cainjector are separate modules the proxy does not
// serve). Static, version-stamped as cert-manager's release builds are.
var certManagerBuild = toolBuild{name: "certmanager", env: []string{"CGO_ENABLED=0"}, flags: []string{"-trimpath", "-ldflags",
	"-X github.com/cert-manager/cert-manager/pkg/util.AppVersion=" + CertManagerVersion},
	out: "cert-manager-e2e", pkgs: []string{"."}, expect: []string{"cert-manager-e2e"}}

// CertManagerCRDs are the CustomResourceDefinitions the program applies (deploy/crds of the module).
var CertManagerCRDs = []string{
	"certificaterequests.cert-manager.io", "certificates.cert-manager.io", "challenges.acme.cert-manager.io",
	"clusterissuers.cert-manager.io", "issuers.cert-manager.io", "orders.acme.cert-manager.io",
}

// CertManagerBuild is a built cert-manager program and the CRDs it applies.
type CertManagerBuild struct {
	Bin    string // the program
	CRDDir string // the module's deploy/crds, in the module cache
}

// EnsureCertManager builds the cert-manager program (cached like every tool, keyed by its go.mod,
// go.sum and sources) and finds the module's CRDs; it needs no cluster.
func EnsureCertManager(ctx context.Context, p *Progress) (CertManagerBuild, error) {
	goVersion, err := output(ctx, "", nil, "go", "env", "GOVERSION")
	if err != nil {
		return CertManagerBuild{}, err
	}
	dir, err := ensureToolBuild(ctx, p, certManagerBuild, strings.TrimSpace(goVersion))
	if err != nil {
		return CertManagerBuild{}, err
	}
	mod, err := toolModuleDir(ctx, "certmanager", "github.com/cert-manager/cert-manager")
	if err != nil {
		return CertManagerBuild{}, err
	}
	b := CertManagerBuild{Bin: filepath.Join(dir, certManagerBuild.out), CRDDir: filepath.Join(mod, "deploy", "crds")}
	for _, name := range CertManagerCRDs {
		// deploy/crds/<group>_<plural>.yaml
		plural, group, _ := strings.Cut(name, ".")
		if _, err := os.Stat(filepath.Join(b.CRDDir, group+"_"+plural+".yaml")); err != nil {
			return b, fmt.Errorf("cert-manager %s CRDs: %w", CertManagerVersion, err)
		}
	}
	return b, nil
}

// toolModuleDir is where a module a tool module requires lies in the module cache (downloaded if
// the cache was cleaned).
func toolModuleDir(ctx context.Context, tool, module string) (string, error) {
	src := filepath.Join(toolsDir(), tool)
	dir, err := output(ctx, src, nil, "go", "list", "-m", "-f", "{{.Dir}}", module)
	if err == nil && strings.TrimSpace(dir) != "" {
		return strings.TrimSpace(dir), nil
	}
	if _, derr := output(ctx, src, nil, "go", "mod", "download", module); derr != nil {
		return "", fmt.Errorf("downloading %s: %w", module, derr)
	}
	dir, err = output(ctx, src, nil, "go", "list", "-m", "-f", "{{.Dir}}", module)
	if err != nil || strings.TrimSpace(dir) == "" {
		return "", fmt.Errorf("no folder for %s in the module cache: %v", module, err)
	}
	return strings.TrimSpace(dir), nil
}

// CertManagerLog is the cert-manager process's stdout and stderr.
func (c *Cluster) CertManagerLog() string { return c.logPath("cert-manager") }

// StartCertManager runs the real cert-manager controllers (see e2e/tools/certmanager) as a process on
// the host, with the admin kubeconfig: it builds the program on first use, starts it as the managed
// process "cert-manager" (log in LogDir, stopped by Stop, Down and a later Start's stale-cluster
// removal like every other process), and returns once the program reports ready, that is the CRDs
// are Established and every controller's informers and the cainjector's cache have synced, and the
// API server serves the CRDs as Established. There is no cert-manager webhook: cert-manager resources
// are stored without its defaulting and validation. Calling it while cert-manager runs is an error.
func (c *Cluster) StartCertManager(ctx context.Context) error {
	c.mu.Lock()
	if p := c.procs["cert-manager"]; p != nil && !p.exited() {
		c.mu.Unlock()
		return errors.New("cert-manager already runs")
	}
	c.mu.Unlock()
	if c.certManager == nil {
		b, err := EnsureCertManager(ctx, c.p)
		if err != nil {
			return err
		}
		c.certManager = &b
	}
	ready := c.l.path("run", "cert-manager.ready")
	os.Remove(ready)
	p, err := c.start("cert-manager", nil, c.certManager.Bin, "--kubeconfig", c.Kubeconfig(),
		"--crd-dir", c.certManager.CRDDir, "--ready-file", ready)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, 3*time.Minute, "cert-manager to report ready ("+ready+")", aliveCheck(p, c.CertManagerLog(), func() (bool, error) {
		_, err := os.Stat(ready)
		return err == nil, nil
	})); err != nil {
		return err
	}
	return waitFor(ctx, 30*time.Second, "cert-manager's CRDs to be Established", func() (bool, error) {
		for _, name := range CertManagerCRDs {
			ok, err := c.crdEstablished(ctx, name)
			if !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// StopCertManager stops the cert-manager process (SIGTERM, then SIGKILL after 10 s); its CRDs and
// resources stay.
func (c *Cluster) StopCertManager() error {
	c.mu.Lock()
	p := c.procs["cert-manager"]
	c.mu.Unlock()
	return stopRecorded(c.l, "cert-manager", p, 10*time.Second)
}

func (c *Cluster) crdEstablished(ctx context.Context, name string) (bool, error) {
	body, err := c.client.Discovery().RESTClient().Get().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", name).DoRaw(ctx)
	if err != nil {
		return false, fmt.Errorf("CRD %s: %w", name, err)
	}
	var crd struct {
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &crd); err != nil {
		return false, err
	}
	for _, cond := range crd.Status.Conditions {
		if cond.Type == "Established" {
			return cond.Status == "True", nil
		}
	}
	return false, nil
}
