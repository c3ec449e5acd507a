// Package manifests holds what an operator applies: the Helm chart (chart/binder-projects) and
// binder-projects.yaml and projects-service.yaml, the plain YAML rendered from it (`make manifests`;
// e2e/chart keeps them equal and tests the chart with the real Helm CLI). These tests read every
// object of the plain YAML strictly into the real Kubernetes types and check that the objects fit
// together and fit the binary.
package manifests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/webhook"
)

const manifestFile = "binder-projects.yaml"

// install is every object of binder-projects.yaml, one of each kind.
type install struct {
	ServiceAccount *corev1.ServiceAccount
	Role           *rbacv1.Role
	RoleBinding    *rbacv1.RoleBinding
	Service        *corev1.Service
	Deployment     *appsv1.Deployment
	PDB            *policyv1.PodDisruptionBudget
	Webhook        *admissionregistrationv1.MutatingWebhookConfiguration
}

// readInstall parses every document of binder-projects.yaml strictly into its typed object, and fails
// on a second object of a kind or a missing one.
func readInstall(t *testing.T) install {
	t.Helper()
	var in install
	for _, obj := range readObjects(t, manifestFile) {
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			set(t, &in.ServiceAccount, o)
		case *rbacv1.Role:
			set(t, &in.Role, o)
		case *rbacv1.RoleBinding:
			set(t, &in.RoleBinding, o)
		case *corev1.Service:
			set(t, &in.Service, o)
		case *appsv1.Deployment:
			set(t, &in.Deployment, o)
		case *policyv1.PodDisruptionBudget:
			set(t, &in.PDB, o)
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			set(t, &in.Webhook, o)
		default:
			t.Fatalf("%s holds a %T, which this test does not know: add it here", manifestFile, obj)
		}
	}
	for name, missing := range map[string]bool{
		"ServiceAccount":               in.ServiceAccount == nil,
		"Role":                         in.Role == nil,
		"RoleBinding":                  in.RoleBinding == nil,
		"Service":                      in.Service == nil,
		"Deployment":                   in.Deployment == nil,
		"PodDisruptionBudget":          in.PDB == nil,
		"MutatingWebhookConfiguration": in.Webhook == nil,
	} {
		if missing {
			t.Errorf("%s has no %s", manifestFile, name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return in
}

// readObjects parses every document of a manifest file strictly (an unknown or misspelt field
// fails) into its typed object; an unknown kind fails.
func readObjects(t *testing.T, file string) []any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var objs []any
	docs := regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(raw), -1)
	for i, doc := range docs {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: document %d is not YAML: %v", file, i, err)
		}
		if head.Kind == "" && strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var obj any
		switch gvk := head.APIVersion + " " + head.Kind; gvk {
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "rbac.authorization.k8s.io/v1 Role":
			obj = &rbacv1.Role{}
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			obj = &rbacv1.RoleBinding{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration":
			obj = &admissionregistrationv1.MutatingWebhookConfiguration{}
		default:
			t.Fatalf("%s: document %d is a %q, which this test does not know: add it here", file, i, gvk)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: document %d (%s %s) does not read strictly into its type: %v", file, i, head.APIVersion, head.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func set[T any](t *testing.T, slot **T, o *T) {
	t.Helper()
	if *slot != nil {
		t.Fatalf("%s has two objects of type %T", manifestFile, o)
	}
	*slot = o
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

// container is the Deployment's only container.
func (in install) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := in.Deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", len(cs))
	}
	return cs[0]
}

// args is the container's flags after "serve", by name (without dashes).
func (in install) args(t *testing.T) map[string]string {
	t.Helper()
	c := in.container(t)
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("the container's args %q do not start with the command serve", c.Args)
	}
	flags := map[string]string{}
	for _, a := range c.Args[1:] {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !ok {
			t.Fatalf("argument %q is not --flag=value (a space-separated value would be an argument of its own)", a)
		}
		if _, dup := flags[name]; dup {
			t.Fatalf("flag --%s is given twice", name)
		}
		flags[name] = value
	}
	return flags
}

// containerPort resolves a port of the container by name or number.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) corev1.ContainerPort {
	t.Helper()
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp
		}
	}
	t.Fatalf("the container has no port %s", p.String())
	return corev1.ContainerPort{}
}

// addressPort is the port of a flag's host:port value.
func addressPort(t *testing.T, flag, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--%s=%q: %v", flag, addr, err)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		t.Fatalf("--%s=%q: %v", flag, addr, err)
	}
	return int32(n)
}

func TestEveryObjectLivesInTheDeploymentsNamespace(t *testing.T) {
	in := readInstall(t)
	ns := in.Deployment.Namespace
	if ns == "" {
		t.Fatal("the Deployment has no namespace")
	}
	got := map[string]string{
		"ServiceAccount":      in.ServiceAccount.Namespace,
		"Role":                in.Role.Namespace,
		"RoleBinding":         in.RoleBinding.Namespace,
		"Service":             in.Service.Namespace,
		"Deployment":          in.Deployment.Namespace,
		"PodDisruptionBudget": in.PDB.Namespace,
		"MutatingWebhookConfiguration (cluster-scoped)": in.Webhook.Namespace,
	}
	want := map[string]string{
		"ServiceAccount":      ns,
		"Role":                ns,
		"RoleBinding":         ns,
		"Service":             ns,
		"Deployment":          ns,
		"PodDisruptionBudget": ns,
		"MutatingWebhookConfiguration (cluster-scoped)": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
}

func TestTheWebhookConfigurationSelectsOnlySingleuserPodsOnCreateInTheHubNamespace(t *testing.T) {
	in := readInstall(t)
	if len(in.Webhook.Webhooks) != 1 {
		t.Fatalf("the MutatingWebhookConfiguration has %d webhooks, want 1", len(in.Webhook.Webhooks))
	}
	got := in.Webhook.Webhooks[0]
	if got.Name == "" || !strings.Contains(got.Name, ".") {
		t.Errorf("webhook name %q is not a qualified name", got.Name)
	}
	if got.TimeoutSeconds == nil || *got.TimeoutSeconds < 1 || *got.TimeoutSeconds > 10 {
		t.Errorf("timeoutSeconds = %v, want 1 to 10: a slow webhook delays every server start", ptrString(got.TimeoutSeconds))
	}
	if got.ClientConfig.CABundle != nil || got.ClientConfig.URL != nil {
		t.Errorf("clientConfig has a caBundle or URL; want only the service (the CA is injected on install)")
	}

	path := webhook.Path
	port := int32(443)
	if got.ClientConfig.Service != nil && got.ClientConfig.Service.Port != nil {
		port = *got.ClientConfig.Service.Port
	}
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	never := admissionregistrationv1.NeverReinvocationPolicy
	equivalent := admissionregistrationv1.Equivalent
	namespaced := admissionregistrationv1.NamespacedScope
	want := admissionregistrationv1.MutatingWebhook{
		Name:                    got.Name,
		AdmissionReviewVersions: []string{"v1"},
		ClientConfig: admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{
				Name:      in.Service.Name,
				Namespace: in.Service.Namespace,
				Path:      &path,
				Port:      &port,
			},
		},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups:   []string{""},
				APIVersions: []string{"v1"},
				Resources:   []string{"pods"},
				Scope:       &namespaced,
			},
		}},
		NamespaceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": in.Deployment.Namespace}},
		ObjectSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelComponent: contract.ComponentSingleuser}},
		FailurePolicy:      &fail,
		MatchPolicy:        &equivalent,
		SideEffects:        &none,
		ReinvocationPolicy: &never,
		TimeoutSeconds:     got.TimeoutSeconds,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the webhook (-want +got):\n%s", diff)
	}
}

func TestTheServiceReachesTheWebhookPortTheServerListensOn(t *testing.T) {
	in := readInstall(t)
	c := in.container(t)
	args := in.args(t)

	podLabels := labels.Set(in.Deployment.Spec.Template.Labels)
	if len(in.Service.Spec.Selector) == 0 || !labels.SelectorFromSet(in.Service.Spec.Selector).Matches(podLabels) {
		t.Errorf("the Service's selector %v does not select the Deployment's pods %v", in.Service.Spec.Selector, podLabels)
	}

	port := int32(443)
	if s := in.Webhook.Webhooks[0].ClientConfig.Service; s != nil && s.Port != nil {
		port = *s.Port
	}
	var svcPort *corev1.ServicePort
	for i, p := range in.Service.Spec.Ports {
		if p.Port == port {
			svcPort = &in.Service.Spec.Ports[i]
		}
	}
	if svcPort == nil {
		t.Fatalf("the Service has no port %d, the one the webhook configuration calls", port)
	}
	target := svcPort.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(svcPort.Port)
	}
	cp := containerPort(t, c, target)
	listen, err := strconv.ParseInt(args["port"], 10, 32)
	if err != nil {
		t.Fatalf("--port=%q: %v", args["port"], err)
	}
	if cp.ContainerPort != int32(listen) {
		t.Errorf("the Service's port %d targets container port %d, but the server listens on --port=%d", port, cp.ContainerPort, listen)
	}
}

// serveFlags builds the real binary and reads the flag names out of `serve -h`.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	return commandFlags(t, "serve", "port", "cert-dir", "namespace", "health-probe-bind-address", "home-mount-path")
}

// commandFlags builds the real binary and reads the flag names out of `binder-projects <command> -h`;
// known must be among them, or the parse found nothing real.
func commandFlags(t *testing.T, command string, known ...string) map[string]bool {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "binder-projects")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/binder-projects/binder-projects/cmd/binder-projects").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, command, "-h").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("binder-projects %s -h: %v", command, err)
	} else if ok && ee.ExitCode() != 2 {
		t.Fatalf("binder-projects %s -h exited %d, want 0 or 2 (the flag package's help)\n%s", command, ee.ExitCode(), out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	for _, f := range known {
		if !flags[f] {
			t.Fatalf("%s -h does not list --%s; the help output changed shape:\n%s", command, f, out)
		}
	}
	return flags
}

func TestTheDeploymentRunsTheServerSafely(t *testing.T) {
	in := readInstall(t)
	d := in.Deployment
	c := in.container(t)
	args := in.args(t)

	t.Run("every flag it passes is one that serve defines", func(t *testing.T) {
		defined := serveFlags(t)
		for name := range args {
			if !defined[name] {
				t.Errorf("the Deployment passes --%s, which binder-projects serve does not define", name)
			}
		}
	})

	t.Run("the claim controller watches the namespace it is installed in", func(t *testing.T) {
		if args["namespace"] != d.Namespace {
			t.Errorf("--namespace=%q, want the Deployment's namespace %q", args["namespace"], d.Namespace)
		}
	})

	t.Run("two replicas whose selector matches the pod template", func(t *testing.T) {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("replicas = %s, want 2", ptrString(d.Spec.Replicas))
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("the Deployment's selector %v does not select its pod template %v (err %v)", d.Spec.Selector, d.Spec.Template.Labels, err)
		}
	})

	t.Run("readiness and liveness are probed on the health address", func(t *testing.T) {
		probePort := addressPort(t, "health-probe-bind-address", args["health-probe-bind-address"])
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{
			{"readinessProbe", c.ReadinessProbe, "/readyz"},
			{"livenessProbe", c.LivenessProbe, "/healthz"},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s is not an HTTP probe", p.name)
				continue
			}
			if p.probe.HTTPGet.Path != p.path {
				t.Errorf("%s path = %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
			}
			if got := containerPort(t, c, p.probe.HTTPGet.Port).ContainerPort; got != probePort {
				t.Errorf("%s probes port %d, but --health-probe-bind-address=%q", p.name, got, args["health-probe-bind-address"])
			}
			if p.probe.HTTPGet.Scheme != "" && p.probe.HTTPGet.Scheme != corev1.URISchemeHTTP {
				t.Errorf("%s scheme = %s, want HTTP", p.name, p.probe.HTTPGet.Scheme)
			}
		}
	})

	t.Run("it runs as non-root on a read-only root filesystem without privileges", func(t *testing.T) {
		podSC := d.Spec.Template.Spec.SecurityContext
		sc := c.SecurityContext
		nonRoot := (podSC != nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot) ||
			(sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
		if !nonRoot || (sc != nil && sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
			t.Errorf("runAsNonRoot is not true (pod: %v, container: %v)", podSC, sc)
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("readOnlyRootFilesystem is not true: %v", sc)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("allowPrivilegeEscalation is not false: %v", sc)
		}
		if sc != nil && sc.Privileged != nil && *sc.Privileged {
			t.Error("the container is privileged")
		}
	})

	t.Run("the TLS secret is mounted read-only at the cert dir", func(t *testing.T) {
		certDir := args["cert-dir"]
		if certDir == "" {
			t.Fatal("no --cert-dir: the server would look in /tmp, which nothing mounts")
		}
		var mount *corev1.VolumeMount
		for i, m := range c.VolumeMounts {
			if m.MountPath == certDir {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			t.Fatalf("nothing is mounted at --cert-dir=%s", certDir)
		}
		if !mount.ReadOnly || mount.SubPath != "" {
			t.Errorf("the cert dir mount %+v is not a whole, read-only volume", *mount)
		}
		var vol *corev1.Volume
		for i, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == mount.Name {
				vol = &d.Spec.Template.Spec.Volumes[i]
			}
		}
		if vol == nil || vol.Secret == nil || vol.Secret.SecretName == "" {
			t.Fatalf("the volume %q at --cert-dir is not a Secret: %+v", mount.Name, vol)
		}
		if vol.Secret.Optional != nil && *vol.Secret.Optional {
			t.Error("the TLS secret is optional: the server would start without a certificate")
		}
		if len(vol.Secret.Items) != 0 {
			t.Errorf("the TLS secret volume picks items %v; the server needs tls.crt and tls.key under their own names", vol.Secret.Items)
		}
	})
}

func TestThePodDisruptionBudgetSelectsTheDeploymentsPods(t *testing.T) {
	in := readInstall(t)
	sel, err := metav1.LabelSelectorAsSelector(in.PDB.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Empty() || !sel.Matches(labels.Set(in.Deployment.Spec.Template.Labels)) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select the Deployment's pods %v", in.PDB.Spec.Selector, in.Deployment.Spec.Template.Labels)
	}
	// maxUnavailable, not minAvailable: with minAvailable 1, a Deployment scaled to one replica (or with
	// one unready) would block every node drain.
	one := intstr.FromInt32(1)
	if in.PDB.Spec.MaxUnavailable == nil || *in.PDB.Spec.MaxUnavailable != one || in.PDB.Spec.MinAvailable != nil {
		t.Errorf("minAvailable = %v, maxUnavailable = %v; want maxUnavailable 1 and no minAvailable", in.PDB.Spec.MinAvailable, in.PDB.Spec.MaxUnavailable)
	}
}

func TestTheRoleGrantsOnlyWhatTheClaimControllerNeeds(t *testing.T) {
	in := readInstall(t)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
		// controller-runtime's event recorder writes events.k8s.io/v1 Events (create, and patch for a
		// repeated one's series).
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		// Leader election: the Lease, and the Events it records about a new leader.
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
	}
	if diff := cmp.Diff(want, in.Role.Rules); diff != "" {
		t.Errorf("the Role's rules (-want +got):\n%s", diff)
	}

	sa := in.Deployment.Spec.Template.Spec.ServiceAccountName
	if sa == "" || sa == "default" {
		t.Fatalf("the Deployment runs as service account %q, want its own", sa)
	}
	wantBinding := rbacv1.RoleBinding{
		ObjectMeta: in.RoleBinding.ObjectMeta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: in.Role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: in.Deployment.Namespace}},
	}
	wantBinding.TypeMeta = in.RoleBinding.TypeMeta
	if diff := cmp.Diff(wantBinding, *in.RoleBinding); diff != "" {
		t.Errorf("the RoleBinding (-want +got):\n%s", diff)
	}
	if in.ServiceAccount.Name != sa {
		t.Errorf("the ServiceAccount is %q, but the Deployment runs as %q", in.ServiceAccount.Name, sa)
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}
