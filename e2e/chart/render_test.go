package chart

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

const (
	release   = "binder-projects"
	namespace = "bhub"
)

// chartDir is the chart in the repository.
func chartDir() string {
	return filepath.Join(cluster.RepoRoot(), "manifests", "chart", "binder-projects")
}

// helm runs the cached Helm CLI from the repository's root and returns its stdout; stderr is in the error.
func helm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = cluster.RepoRoot()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// templateArgs is `helm template` of the chart as release binder-projects in bhub, with more flags.
func templateArgs(extra ...string) []string {
	return append([]string{"template", release, chartDir(), "--namespace", namespace}, extra...)
}

// rendered is what `helm template` made, as typed objects (cert-manager's as unstructured).
type rendered struct {
	objs []client.Object
}

// render runs `helm template` with the flags (e.g. --set k=v) and decodes every document strictly:
// a field the Kubernetes types do not know fails the test.
func render(t *testing.T, flags ...string) rendered {
	t.Helper()
	out, err := helm(templateArgs(flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

var docSplit = regexp.MustCompile(`(?m)^---[ \t]*$`)

func decode(t *testing.T, out string) rendered {
	t.Helper()
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var r rendered
	for i, doc := range docSplit.Split(out, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, gvk, err := strict.Decode([]byte(doc), nil, nil)
		if runtime.IsNotRegisteredError(err) && gvk != nil && gvk.Group == "cert-manager.io" {
			u := &unstructured.Unstructured{}
			if _, _, err := unstructured.UnstructuredJSONScheme.Decode(yamlToJSON(t, doc), nil, u); err != nil {
				t.Fatalf("document %d (%s): %v\n%s", i, gvk, err, doc)
			}
			r.objs = append(r.objs, u)
			continue
		}
		if err != nil {
			t.Fatalf("document %d does not decode strictly into its Kubernetes type: %v\n%s", i, err, doc)
		}
		co, ok := obj.(client.Object)
		if !ok {
			t.Fatalf("document %d is a %T, not an object", i, obj)
		}
		co.GetObjectKind().SetGroupVersionKind(*gvk)
		r.objs = append(r.objs, co)
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// get finds the one object of kind and name; nil when there is none.
func get[T client.Object](t *testing.T, r rendered, name string) T {
	t.Helper()
	var zero T
	for _, o := range r.objs {
		if typed, ok := o.(T); ok && o.GetName() == name {
			return typed
		}
	}
	return zero
}

// must is get, failing when the object is missing.
func must[T client.Object](t *testing.T, r rendered, name string) T {
	t.Helper()
	o := get[T](t, r, name)
	if any(o) == any(*new(T)) {
		t.Fatalf("the chart rendered no %T named %q; it rendered %s", *new(T), name, r.names())
	}
	return o
}

// certManager finds a cert-manager object by kind and name.
func (r rendered) certManager(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objs {
		if u, ok := o.(*unstructured.Unstructured); ok && u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

func (r rendered) names() string {
	var s []string
	for _, o := range r.objs {
		s = append(s, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	return strings.Join(s, ", ")
}

// kinds counts the rendered objects by kind.
func (r rendered) kinds() map[string]int {
	m := map[string]int{}
	for _, o := range r.objs {
		m[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	return m
}

func yamlToJSON(t *testing.T, doc string) []byte {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Shortcuts to the objects every test looks at.
func webhookConfig(t *testing.T, r rendered) *admissionregistrationv1.MutatingWebhookConfiguration {
	return must[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, release)
}

func webhookDeployment(t *testing.T, r rendered) *appsv1.Deployment {
	return must[*appsv1.Deployment](t, r, release)
}

func serviceDeployment(t *testing.T, r rendered) *appsv1.Deployment {
	return must[*appsv1.Deployment](t, r, release+"-service")
}

func secret(t *testing.T, r rendered, name string) *corev1.Secret {
	return must[*corev1.Secret](t, r, name)
}
