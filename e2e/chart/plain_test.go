package chart

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

var update = flag.Bool("update", false, "rewrite manifests/*.yaml from the chart (make manifests)")

// The plain YAML is the chart rendered with manifests/plain-values.yaml, one file per component.
var plainFiles = []struct {
	file, flag string
}{
	{"binder-projects.yaml", "projectsService.enabled=false"},
	{"projects-service.yaml", "webhook.enabled=false"},
}

const plainHeader = `# binder-projects: plain-YAML install, RENDERED from the Helm chart; do not edit, run ` + "`make manifests`" + `:
#   helm template binder-projects manifests/chart/binder-projects --namespace bhub --skip-tests \
#     -f manifests/plain-values.yaml --set %s
# For the hub's namespace bhub: replace every "bhub" with yours, and set the image. %s
`

var plainNotes = map[string]string{
	"binder-projects.yaml": `The image is named
# twice: the container's, and --helper-image (the same image, which the project's init container
# mounts for updates; a node must be able to pull it). The webhook's TLS certificate is the Secret
# binder-projects-tls (tls.crt, tls.key), made by you, and the MutatingWebhookConfiguration's
# caBundle must hold the CA that signed it: see docs/tls.md. With cert-manager, install the
# chart instead (tls.mode=cert-manager, its default).`,
	"projects-service.yaml": `Register the service in the
# hub's values (docs/projects-service.md); set --binderhub-url. Its token comes from z2jh's Secret hub.`,
}

func renderPlain(t *testing.T, setFlag string) string {
	t.Helper()
	out, err := helm(templateArgs("--skip-tests", "-f", filepath.Join("manifests", "plain-values.yaml"), "--set", setFlag)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestThePlainYAMLIsTheChartRendered(t *testing.T) {
	for _, p := range plainFiles {
		t.Run(p.file, func(t *testing.T) {
			want := strings.Replace(strings.Replace(plainHeader, "%s", p.flag, 1), "%s", plainNotes[p.file], 1) + renderPlain(t, p.flag)
			path := filepath.Join(cluster.RepoRoot(), "manifests", p.file)
			if *update {
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("manifests/%s is not the chart rendered (-rendered +file); run `make manifests` to regenerate it:\n%s", p.file, diff)
			}
		})
	}
}
