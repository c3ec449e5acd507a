package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

const serviceFile = "projects-service.yaml"

// TestTheProjectsServiceManifest checks projects-service.yaml the way an operator relies on it: every
// object reads strictly into its type, in one namespace; the Role grants exactly what the service's
// projects.KubeStore does (get and update the user's claim; no pods: the hub says whether a server
// runs); the Deployment passes only flags
// that `projects-service` defines, takes the hub's token from the hub's Secret, probes /healthz, and
// the Service reaches the port it listens on.
func TestTheProjectsServiceManifest(t *testing.T) {
	var (
		role    *rbacv1.Role
		binding *rbacv1.RoleBinding
		sa      *corev1.ServiceAccount
		svc     *corev1.Service
		deploy  *appsv1.Deployment
	)
	namespaces := map[string]bool{}
	for _, obj := range readObjects(t, serviceFile) {
		switch o := obj.(type) {
		case *rbacv1.Role:
			set(t, &role, o)
			namespaces[o.Namespace] = true
		case *rbacv1.RoleBinding:
			set(t, &binding, o)
			namespaces[o.Namespace] = true
		case *corev1.ServiceAccount:
			set(t, &sa, o)
			namespaces[o.Namespace] = true
		case *corev1.Service:
			set(t, &svc, o)
			namespaces[o.Namespace] = true
		case *appsv1.Deployment:
			set(t, &deploy, o)
			namespaces[o.Namespace] = true
		default:
			t.Fatalf("%s holds a %T, which this test does not know", serviceFile, obj)
		}
	}
	if role == nil || binding == nil || sa == nil || svc == nil || deploy == nil {
		t.Fatalf("%s lacks an object: Role %v, RoleBinding %v, ServiceAccount %v, Service %v, Deployment %v",
			serviceFile, role != nil, binding != nil, sa != nil, svc != nil, deploy != nil)
	}
	if len(namespaces) != 1 {
		t.Errorf("objects in several namespaces: %v", namespaces)
	}

	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "patch"}},
	}
	if diff := cmp.Diff(wantRules, role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Name != sa.Name ||
		deploy.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("the Role is not bound to the Deployment's ServiceAccount: %+v", binding)
	}

	pod := deploy.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "projects-service" {
		t.Fatalf("args %q do not start with projects-service", c.Args)
	}
	flags := commandFlags(t, "projects-service", "listen", "binderhub-url", "namespace")
	listen := ""
	for _, a := range c.Args[1:] {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok || !flags[name] {
			t.Errorf("argument %q is not a --flag=value that projects-service defines", a)
		}
		if name == "listen" {
			listen = value
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if tok := env["JUPYTERHUB_API_TOKEN"]; tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef == nil || tok.Value != "" {
		t.Errorf("JUPYTERHUB_API_TOKEN must come from a Secret, not be written in the manifest: %+v", tok)
	}
	if env["JUPYTERHUB_API_URL"].Value == "" {
		t.Error("JUPYTERHUB_API_URL is not set")
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the service must run as non-root with a read-only root filesystem")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe %+v, want GET /healthz", c.ReadinessProbe)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("the Service has %d ports, want 1", len(svc.Spec.Ports))
	}
	cp := containerPort(t, c, svc.Spec.Ports[0].TargetPort)
	if want := addressPort(t, "listen", listen); cp.ContainerPort != want {
		t.Errorf("the Service targets container port %d, but the service listens on --listen=%s", cp.ContainerPort, listen)
	}
	if diff := cmp.Diff(deploy.Spec.Selector.MatchLabels, svc.Spec.Selector); diff != "" {
		t.Errorf("the Service does not select the Deployment's pods (-deployment +service):\n%s", diff)
	}
}
