package cluster

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Makefile installs the cluster's Debian packages before any end-to-end test runs (the teardown
// check reads the host's iptables before a cluster starts, on a machine that may never have had
// them); the harness checks the same list again. Both lists must name the same packages.
func TestTheMakefileInstallsEveryDebianPackageTheClusterNeeds(t *testing.T) {
	raw, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^E2E_DEBS :=(.*)$`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("the Makefile has no E2E_DEBS line")
	}
	got := strings.Fields(m[1])
	want := slices.Clone(DebianPackages)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Makefile E2E_DEBS = %v, want the harness's DebianPackages %v", got, want)
	}
}

// The Helm the harness stamps into the binary is the one its tool module builds.
func TestTheHelmVersionIsTheOneItsToolModuleRequires(t *testing.T) {
	raw, err := os.ReadFile("../tools/helm/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?helm\.sh/helm/v4 (v\S+)`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("e2e/tools/helm/go.mod does not require helm.sh/helm/v4")
	}
	if m[1] != HelmVersion {
		t.Errorf("e2e/tools/helm/go.mod requires helm.sh/helm/v4 %s, but HelmVersion = %s: change both together", m[1], HelmVersion)
	}
}
