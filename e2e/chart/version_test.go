package chart

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

func TestTheCachedHelmIsTheVersionTheToolModuleRequires(t *testing.T) {
	out, err := exec.Command(helmBin, "version", "--template", "{{.Version}}").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", helmBin, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != cluster.HelmVersion {
		t.Errorf("helm version = %q, want %s (e2e/tools/helm/go.mod)", got, cluster.HelmVersion)
	}
}
