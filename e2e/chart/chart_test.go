package chart

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/binder-projects/binder-projects/certs"
)

// The values each TLS mode needs, beyond the defaults (set by TestMain, once the test CA exists).
var tlsModes map[string][]string

// testCA signs nothing; it is the operator's CA of the secret mode.
var testCA *certs.CA

func setTLSModes(caFile string) {
	tlsModes = map[string][]string{
		"cert-manager": nil,
		"cert-manager with the operator's issuer": {"--set", "tls.certManager.issuerRef.name=corp-ca", "--set", "tls.certManager.issuerRef.kind=ClusterIssuer"},
		"helm":   {"--set", "tls.mode=helm"},
		"secret": {"--set", "tls.mode=secret", "--set", "tls.secret.name=my-tls", "--set-file", "tls.caBundle=" + caFile},
		"secret, caBundle patched in by hand (the plain YAML)": {"--set", "tls.mode=secret", "--set", "tls.secret.name=my-tls"},
	}
}

func TestHelmLintStrictPassesForEveryTLSMode(t *testing.T) {
	for name, flags := range tlsModes {
		t.Run(name, func(t *testing.T) {
			out, err := helm(append([]string{"lint", "--strict", chartDir(), "--namespace", namespace}, flags...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestCertManagerModeMakesACAChainAndAsksTheInjectorForTheCABundle(t *testing.T) {
	r := render(t)
	wh := webhookConfig(t, r)
	if got := wh.Annotations["cert-manager.io/inject-ca-from"]; got != "bhub/binder-projects" {
		t.Errorf("inject-ca-from = %q, want bhub/binder-projects (the serving Certificate)", got)
	}
	if wh.Webhooks[0].ClientConfig.CABundle != nil {
		t.Error("the chart writes a caBundle in cert-manager mode; the injector owns it")
	}
	serving := r.certManager("Certificate", release)
	if serving == nil {
		t.Fatalf("no serving Certificate %q: %s", release, r.names())
	}
	wantServing := map[string]any{
		"secretName": "binder-projects-tls",
		"dnsNames":   []any{"binder-projects.bhub.svc", "binder-projects.bhub.svc.cluster.local"},
		"issuerRef":  map[string]any{"group": "cert-manager.io", "kind": "Issuer", "name": "binder-projects-ca"},
	}
	for k, want := range wantServing {
		if diff := cmp.Diff(want, serving.Object["spec"].(map[string]any)[k]); diff != "" {
			t.Errorf("serving Certificate spec.%s (-want +got):\n%s", k, diff)
		}
	}
	ca := r.certManager("Certificate", release+"-ca")
	caIssuer := r.certManager("Issuer", release+"-ca")
	self := r.certManager("Issuer", release+"-selfsigned")
	if ca == nil || caIssuer == nil || self == nil {
		t.Fatalf("the chart's CA chain is incomplete: %s", r.names())
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
		t.Error("the CA Certificate is not isCA")
	}
	if n, _, _ := unstructured.NestedString(ca.Object, "spec", "issuerRef", "name"); n != self.GetName() {
		t.Errorf("the CA Certificate is issued by %q, want the self-signed Issuer", n)
	}
	if _, ok, _ := unstructured.NestedMap(self.Object, "spec", "selfSigned"); !ok {
		t.Error("the self-signed Issuer is not selfSigned")
	}
	caSecret, _, _ := unstructured.NestedString(ca.Object, "spec", "secretName")
	if n, _, _ := unstructured.NestedString(caIssuer.Object, "spec", "ca", "secretName"); n != caSecret || n == "" {
		t.Errorf("the CA Issuer signs with Secret %q, but the CA Certificate is in %q", n, caSecret)
	}
	assertMountsTLSSecret(t, webhookDeployment(t, r), "binder-projects-tls")
}

func TestCertManagerModeWithTheOperatorsIssuerMakesOnlyTheServingCertificate(t *testing.T) {
	r := render(t, tlsModes["cert-manager with the operator's issuer"]...)
	if k := r.kinds(); k["Issuer"] != 0 || k["Certificate"] != 1 {
		t.Fatalf("want one Certificate and no Issuer, got %v", k)
	}
	ref, _, _ := unstructured.NestedStringMap(r.certManager("Certificate", release).Object, "spec", "issuerRef")
	if diff := cmp.Diff(map[string]string{"name": "corp-ca", "kind": "ClusterIssuer"}, ref); diff != "" {
		t.Errorf("issuerRef (-want +got):\n%s", diff)
	}
	if got := webhookConfig(t, r).Annotations["cert-manager.io/inject-ca-from"]; got != "bhub/binder-projects" {
		t.Errorf("inject-ca-from = %q", got)
	}
}

func TestHelmModeGeneratesACAWhoseCertificateServesTheServiceNames(t *testing.T) {
	r := render(t, tlsModes["helm"]...)
	tlsSecret := secret(t, r, "binder-projects-tls")
	caSecret := secret(t, r, "binder-projects-ca")
	if tlsSecret.Type != corev1.SecretTypeTLS || caSecret.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret types %s, %s; want kubernetes.io/tls", tlsSecret.Type, caSecret.Type)
	}
	bundle := webhookConfig(t, r).Webhooks[0].ClientConfig.CABundle
	if string(bundle) != string(tlsSecret.Data["ca.crt"]) || string(bundle) != string(caSecret.Data["tls.crt"]) {
		t.Fatalf("caBundle is not the CA in the Secrets:\ncaBundle %q\nca.crt %q", bundle, tlsSecret.Data["ca.crt"])
	}
	if _, ok := webhookConfig(t, r).Annotations["cert-manager.io/inject-ca-from"]; ok {
		t.Error("helm mode asks cert-manager to inject a CA")
	}
	if _, err := tls.X509KeyPair(tlsSecret.Data["tls.crt"], tlsSecret.Data["tls.key"]); err != nil {
		t.Errorf("tls.crt and tls.key are not a pair: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("the caBundle holds no PEM certificate")
	}
	leaf := parseCert(t, tlsSecret.Data["tls.crt"])
	for _, name := range []string{"binder-projects.bhub.svc", "binder-projects.bhub.svc.cluster.local"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("the API server could not verify the webhook as %s: %v", name, err)
		}
	}
	d := webhookDeployment(t, r)
	assertMountsTLSSecret(t, d, "binder-projects-tls")
	// The pods' checksum is of the very certificate the Secrets hold (one generation per render), so a
	// new certificate rolls them and a reused one does not.
	material, err := json.Marshal(map[string]string{
		"caBundle": string(bundle), "caCert": string(caSecret.Data["tls.crt"]), "caKey": string(caSecret.Data["tls.key"]),
		"caNotAfter": caSecret.Annotations["binder-projects.io/not-after"], "cert": string(tlsSecret.Data["tls.crt"]),
		"key": string(tlsSecret.Data["tls.key"]), "notAfter": tlsSecret.Annotations["binder-projects.io/not-after"],
		"dnsNames": tlsSecret.Annotations["binder-projects.io/dns-names"]})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Spec.Template.Annotations["checksum/tls"], fmt.Sprintf("%x", sha256.Sum256(material)); got != want {
		t.Errorf("checksum/tls = %q, want %q, the sha256 of the certificate in the Secrets", got, want)
	}
	if n := r.kinds()["Certificate"]; n != 0 {
		t.Errorf("helm mode renders %d cert-manager Certificates", n)
	}
}

func TestSecretModeUsesTheOperatorsSecretAndCA(t *testing.T) {
	r := render(t, tlsModes["secret"]...)
	if k := r.kinds(); k["Secret"] != 0 || k["Certificate"] != 0 || k["Issuer"] != 0 {
		t.Errorf("secret mode makes TLS objects of its own: %v", k)
	}
	if got := webhookConfig(t, r).Webhooks[0].ClientConfig.CABundle; string(got) != string(testCA.CertPEM()) {
		t.Errorf("caBundle = %q, want tls.caBundle", got)
	}
	assertMountsTLSSecret(t, webhookDeployment(t, r), "my-tls")

	r = render(t, tlsModes["secret, caBundle patched in by hand (the plain YAML)"]...)
	if got := webhookConfig(t, r).Webhooks[0].ClientConfig.CABundle; got != nil {
		t.Errorf("caBundle = %q, want none", got)
	}
}

func assertMountsTLSSecret(t *testing.T, d *appsv1.Deployment, name string) {
	t.Helper()
	certDir := ""
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--cert-dir="); ok {
			certDir = v
		}
	}
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.MountPath != certDir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == name && m.ReadOnly {
				return
			}
		}
	}
	t.Errorf("Secret %s is not mounted read-only at --cert-dir=%q", name, certDir)
}

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatalf("not PEM: %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheWebhookIsCalledOnlyForSingleuserPodsInTheHubsNamespace(t *testing.T) {
	wh := webhookConfig(t, render(t))
	if len(wh.Webhooks) != 1 {
		t.Fatalf("%d webhooks", len(wh.Webhooks))
	}
	w := wh.Webhooks[0]
	fail, none, never := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.NeverReinvocationPolicy
	got := struct {
		NS, Obj              *metav1.LabelSelector
		Failure              *admissionregistrationv1.FailurePolicyType
		Side                 *admissionregistrationv1.SideEffectClass
		Reinvoke             *admissionregistrationv1.ReinvocationPolicyType
		Timeout              *int32
		Versions             []string
		Service, SvcNS, Path string
	}{w.NamespaceSelector, w.ObjectSelector, w.FailurePolicy, w.SideEffects, w.ReinvocationPolicy, w.TimeoutSeconds,
		w.AdmissionReviewVersions, w.ClientConfig.Service.Name, w.ClientConfig.Service.Namespace, *w.ClientConfig.Service.Path}
	five := int32(5)
	want := got
	want.NS = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}
	want.Obj = &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server"}}
	want.Failure, want.Side, want.Reinvoke, want.Timeout = &fail, &none, &never, &five
	want.Versions = []string{"v1"}
	want.Service, want.SvcNS, want.Path = release, namespace, "/mutate-v1-pod"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the webhook (-want +got):\n%s", diff)
	}

	// values move it (namespaceSelector: TestTheWebhookSeesNoNamespaceButTheReleases)
	w = webhookConfig(t, render(t, "--set", "webhook.failurePolicy=Ignore", "--set", "webhook.timeoutSeconds=12")).Webhooks[0]
	if *w.FailurePolicy != admissionregistrationv1.Ignore || *w.TimeoutSeconds != 12 {
		t.Errorf("failurePolicy %v, timeoutSeconds %v: the values did not reach the webhook", *w.FailurePolicy, *w.TimeoutSeconds)
	}

	// The webhook's own pods never match the objectSelector.
	sel, err := metav1.LabelSelectorAsSelector(wh.Webhooks[0].ObjectSelector)
	if err != nil {
		t.Fatal(err)
	}
	if d := webhookDeployment(t, render(t)); sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the webhook's own pods %v match its objectSelector", d.Spec.Template.Labels)
	}
	if _, err := helm(templateArgs("--set", "webhook.podLabels.component=singleuser-server")...); err == nil ||
		!strings.Contains(err.Error(), "would send the webhook's own pods to it") {
		t.Errorf("podLabels that make the webhook's pods match its objectSelector: err = %v", err)
	}
}

// The webhook caches and is granted (a Role) only the release namespace: a pod it were sent from any
// other namespace would find no claim and be refused. So the chart takes only a namespaceSelector that
// keeps kubernetes.io/metadata.name pinned to the release namespace, and says why it refuses the rest.
func TestTheWebhookSeesNoNamespaceButTheReleases(t *testing.T) {
	const name = "kubernetes.io/metadata.name"
	pin := map[string]string{name: namespace}
	for _, tc := range []struct {
		name     string
		selector string // --set-json webhook.namespaceSelector=; empty: the default
		want     *metav1.LabelSelector
	}{
		{"the default selects the release namespace by its name label", "",
			&metav1.LabelSelector{MatchLabels: pin}},
		{"a selector without requirements is the default", `{"matchLabels":{},"matchExpressions":[]}`,
			&metav1.LabelSelector{MatchLabels: pin}},
		{"the release namespace's name pin alone renders as given", `{"matchLabels":{"kubernetes.io/metadata.name":"bhub"}}`,
			&metav1.LabelSelector{MatchLabels: pin}},
		{"a label beside the name pin narrows it and renders as given", `{"matchLabels":{"kubernetes.io/metadata.name":"bhub","hub":"yes"}}`,
			&metav1.LabelSelector{MatchLabels: map[string]string{name: namespace, "hub": "yes"}}},
		{"the pin as an In expression of the release namespace alone, with a narrowing expression, renders as given",
			`{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"In","values":["bhub"]},{"key":"team","operator":"Exists"}]}`,
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: name, Operator: metav1.LabelSelectorOpIn, Values: []string{namespace}},
				{Key: "team", Operator: metav1.LabelSelectorOpExists}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var flags []string
			if tc.selector != "" {
				flags = []string{"--set-json", "webhook.namespaceSelector=" + tc.selector}
			}
			if diff := cmp.Diff(tc.want, webhookConfig(t, render(t, flags...)).Webhooks[0].NamespaceSelector); diff != "" {
				t.Errorf("namespaceSelector (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		name, selector string
	}{
		{"a selector for another namespace is refused", `{"matchLabels":{"kubernetes.io/metadata.name":"other"}}`},
		{"a selector without the name pin is refused", `{"matchLabels":{"team":"x"}}`},
		{"an In expression that also names another namespace is refused",
			`{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"In","values":["bhub","other"]}]}`},
		{"a NotIn expression on the name is refused",
			`{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kube-system"]}]}`},
		{"an Exists expression on the name is refused",
			`{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"Exists"}]}`},
		{"a pin beside a name label for another namespace is refused",
			`{"matchLabels":{"kubernetes.io/metadata.name":"other"},"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"In","values":["bhub"]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := []string{"--set-json", "webhook.namespaceSelector=" + tc.selector}
			_, err := helm(templateArgs(flags...)...)
			if err == nil {
				t.Fatalf("helm template rendered namespaceSelector %s", tc.selector)
			}
			for _, want := range []string{"webhook.namespaceSelector", "only its own namespace bhub",
				"kubernetes.io/metadata.name: bhub", "one release per hub namespace"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestThePodsAreRestrictedSpreadAndDisruptable(t *testing.T) {
	r := render(t)
	pdb := must[*policyv1.PodDisruptionBudget](t, r, release)
	one := intstr.FromInt32(1)
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != one {
		t.Errorf("PDB minAvailable %v maxUnavailable %v; want maxUnavailable 1 only (a lone replica still drains)", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	for _, d := range []*appsv1.Deployment{webhookDeployment(t, r), serviceDeployment(t, r)} {
		t.Run(d.Name, func(t *testing.T) {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
				t.Errorf("replicas %v, want 2", d.Spec.Replicas)
			}
			pod := d.Spec.Template.Spec
			yes, no, uid := true, false, int64(65532)
			wantPod := &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
			if diff := cmp.Diff(wantPod, pod.SecurityContext); diff != "" {
				t.Errorf("pod securityContext (-want +got):\n%s", diff)
			}
			wantC := &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			if diff := cmp.Diff(wantC, pod.Containers[0].SecurityContext); diff != "" {
				t.Errorf("container securityContext (-want +got):\n%s", diff)
			}
			wantSpread := []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
				WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: d.Spec.Selector}}
			if diff := cmp.Diff(wantSpread, pod.TopologySpreadConstraints); diff != "" {
				t.Errorf("topologySpreadConstraints (-want +got):\n%s", diff)
			}
			if pod.Containers[0].Image != "ghcr.io/binder-projects/binder-projects:0.1.0" {
				t.Errorf("image %q, want the repository at the chart's appVersion", pod.Containers[0].Image)
			}
		})
	}
}

func TestSelectorsNameOnlyTheReleaseAndComponentSoUpgradesKeepThem(t *testing.T) {
	a := render(t)
	b := render(t, "--set", "image.tag=v9", "--set", "webhook.podLabels.team=x", "--set", "projectsService.podLabels.team=x")
	for _, name := range []string{release, release + "-service"} {
		da, db := must[*appsv1.Deployment](t, a, name), must[*appsv1.Deployment](t, b, name)
		if diff := cmp.Diff(da.Spec.Selector, db.Spec.Selector); diff != "" {
			t.Errorf("%s: the selector changes with the image or pod labels (-before +after):\n%s", name, diff)
		}
		keys := slices.Sorted(maps.Keys(da.Spec.Selector.MatchLabels))
		if want := []string{"app.kubernetes.io/component", "app.kubernetes.io/instance", "app.kubernetes.io/name"}; !slices.Equal(keys, want) {
			t.Errorf("%s: selector keys %v, want %v", name, keys, want)
		}
		if !labels.SelectorFromSet(da.Spec.Selector.MatchLabels).Matches(labels.Set(da.Spec.Template.Labels)) {
			t.Errorf("%s: the selector does not select its pods", name)
		}
	}
	// the two components never select each other's pods
	w, s := webhookDeployment(t, a), serviceDeployment(t, a)
	if labels.SelectorFromSet(w.Spec.Selector.MatchLabels).Matches(labels.Set(s.Spec.Template.Labels)) {
		t.Error("the webhook's selector selects the projects service's pods")
	}
	for _, o := range a.objs {
		l := o.GetLabels()
		if l["helm.sh/chart"] == "" || l["app.kubernetes.io/managed-by"] != "Helm" || l["app.kubernetes.io/instance"] != release {
			t.Errorf("%s/%s lacks the chart's labels: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), l)
		}
	}
}

func TestEachComponentCanBeTurnedOff(t *testing.T) {
	component := func(r rendered) map[string]bool {
		m := map[string]bool{}
		for _, o := range r.objs {
			m[o.GetLabels()["app.kubernetes.io/component"]] = true
		}
		return m
	}
	for _, tc := range []struct {
		flags []string
		want  map[string]bool
	}{
		{nil, map[string]bool{"webhook": true, "projects-service": true, "test": true}},
		{[]string{"--set", "webhook.enabled=false"}, map[string]bool{"projects-service": true, "test": true}},
		{[]string{"--set", "projectsService.enabled=false"}, map[string]bool{"webhook": true, "test": true}},
		{[]string{"--set", "webhook.enabled=false", "--set", "projectsService.enabled=false", "--set", "networkPolicy.enabled=true"}, map[string]bool{}},
	} {
		r := render(t, tc.flags...)
		if diff := cmp.Diff(tc.want, component(r)); diff != "" {
			t.Errorf("%v: components (-want +got):\n%s\n%s", tc.flags, diff, r.names())
		}
	}
	if k := render(t, "--set", "webhook.enabled=false").kinds(); k["MutatingWebhookConfiguration"] != 0 || k["Certificate"] != 0 {
		t.Errorf("webhook off still renders %v", k)
	}
}

func TestTheInitCommandsImageIsTheWebhooksOwnUnlessNamed(t *testing.T) {
	helperArgs := func(r rendered) []string {
		var out []string
		for _, a := range webhookDeployment(t, r).Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--helper-image=") || strings.HasPrefix(a, "--helper-mode=") || strings.HasPrefix(a, "--update-on-launch=") {
				out = append(out, a)
			}
		}
		return out
	}
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--set", "image.repository=registry.example.org/bp", "--set", "image.tag=v7"},
			[]string{"--helper-image=registry.example.org/bp:v7", "--helper-mode=image-volume", "--update-on-launch=false"}},
		{[]string{"--set", "image.repository=registry.example.org/bp", "--set", "image.digest=sha256:" + strings.Repeat("a", 64)},
			[]string{"--helper-image=registry.example.org/bp@sha256:" + strings.Repeat("a", 64), "--helper-mode=image-volume", "--update-on-launch=false"}},
		{[]string{"--set", "image.repository=registry.example.org/bp", "--set", "image.tag=v7", "--set", "webhook.updates.helperMode=init-container"},
			[]string{"--helper-image=registry.example.org/bp:v7", "--helper-mode=init-container", "--update-on-launch=false"}},
	} {
		r := render(t, tc.flags...)
		if diff := cmp.Diff(tc.want, helperArgs(r)); diff != "" {
			t.Errorf("%v: the helper's flags (-want +got):\n%s", tc.flags, diff)
		}
		if img := webhookDeployment(t, r).Spec.Template.Spec.Containers[0].Image; len(tc.want) > 0 && tc.want[0] != "--helper-image="+img {
			t.Errorf("%v: --helper-image is not the webhook's image %s", tc.flags, img)
		}
	}
}

func TestEveryFlagValueReachesTheCommandLine(t *testing.T) {
	r := render(t,
		"--set", "webhook.maxProjects=9", "--set", "kubeSpawner.claimNameTemplate=home-{username}",
		"--set", "kubeSpawner.slugScheme=escape", "--set", "webhook.volumeNameTemplate=home-{username}",
		"--set", "webhook.homeMountPath=/home/user", "--set", "webhook.projectsMountPath=/work",
		"--set", "webhook.notebookContainer=nb", "--set", "webhook.initContainerName=seed",
		"--set", "webhook.allowPerServerClaims=true", "--set", "webhook.coLocateUserServers=false",
		"--set", "webhook.updates.helperImage=registry.example.org/helper:2", "--set", "webhook.updates.helperMode=init-container",
		"--set", "webhook.updates.onLaunch=true", "--set", "webhook.trashDays=30", "--set", "webhook.usageBudget=1.5s",
		"--set", "webhook.claim.size=1Gi", "--set", "webhook.claim.storageClass=fast",
		"--set", "webhook.claim.accessMode=ReadWriteMany", "--set", "webhook.leaderElection=false",
		"--set", "webhook.logLevel=2", "--set", "webhook.metrics.enabled=false", "--set", "webhook.port=10443",
		"--set", "projectsService.binderhubURL=https://b.example.org/", "--set", "projectsService.logLevel=1",
		"--set", "projectsService.port=9000", "--set", "projectsService.name=mine", "--set", "webhook.expireProjectsAfter=90d")
	want := []string{"serve", "--namespace=bhub", "--port=10443", "--cert-dir=/etc/binder-projects/tls",
		"--metrics-bind-address=0", "--health-probe-bind-address=:8081", "--leader-elect=false",
		"--leader-election-id=binder-projects", "--max-projects=9", "--claim-name-template=home-{username}",
		"--slug-scheme=escape", "--volume-name-template=home-{username}", "--home-mount-path=/home/user",
		"--projects-mount-path=/work", "--notebook-container=nb", "--init-container-name=seed",
		"--allow-per-server-claims=true", "--co-locate-user-servers=false",
		"--helper-image=registry.example.org/helper:2", "--helper-mode=init-container", "--update-on-launch=true",
		"--trash-days=30", "--usage-budget=1.5s", "--claim-size=1Gi",
		"--claim-storage-class=fast", "--claim-access-mode=ReadWriteMany", "--expire-projects-after=90d", "-v=2"}
	if diff := cmp.Diff(want, webhookDeployment(t, r).Spec.Template.Spec.Containers[0].Args); diff != "" {
		t.Errorf("serve's args (-want +got):\n%s", diff)
	}
	c := serviceDeployment(t, r).Spec.Template.Spec.Containers[0]
	wantSvc := []string{"projects-service", "--listen=:9000", "--namespace=bhub", "--claim-name-template=home-{username}",
		"--slug-scheme=escape", "--trash-days=30", "--binderhub-url=https://b.example.org/", "--expire-projects-after=90d", "-v=1"}
	if diff := cmp.Diff(wantSvc, c.Args); diff != "" {
		t.Errorf("projects-service's args (-want +got):\n%s", diff)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if ref := env["JUPYTERHUB_API_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef == nil ||
		ref.SecretKeyRef.Name != "hub" || ref.SecretKeyRef.Key != "hub.services.mine.apiToken" {
		t.Errorf("JUPYTERHUB_API_TOKEN = %+v, want z2jh's Secret hub, key hub.services.mine.apiToken", env["JUPYTERHUB_API_TOKEN"])
	}
	if env["JUPYTERHUB_SERVICE_NAME"].Value != "mine" || env["JUPYTERHUB_API_URL"].Value != "http://hub:8081/hub/api" {
		t.Errorf("service env %+v", env)
	}
	if serviceDeployment(t, r).Spec.Template.Labels["hub.jupyter.org/network-access-hub"] != "true" {
		t.Error("the projects service's pods lack hub.jupyter.org/network-access-hub: z2jh's NetworkPolicy would keep them from the hub")
	}
	// By default projects never expire: neither command gets the flag.
	byDefault := render(t)
	for _, args := range [][]string{webhookDeployment(t, byDefault).Spec.Template.Spec.Containers[0].Args,
		serviceDeployment(t, byDefault).Spec.Template.Spec.Containers[0].Args} {
		if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--expire-projects-after") }) {
			t.Errorf("by default %s gets --expire-projects-after: %q", args[0], args)
		}
	}
}

func TestAUsageBudgetOfNoneMayBeWrittenAsZeroOrAsADuration(t *testing.T) {
	for _, v := range []string{"0", "0s"} {
		args := webhookDeployment(t, render(t, "--set", "webhook.usageBudget="+v)).Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--usage-budget="+v) {
			t.Errorf("webhook.usageBudget=%s: serve's args %q lack --usage-budget=%s", v, args, v)
		}
	}
}

func TestTheSchemaRejectsBadValuesReadably(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  []string // all in the error
	}{
		{[]string{"--set", "webhook.failurePolicy=Sometimes"}, []string{"failurePolicy", "Fail", "Ignore"}},
		{[]string{"--set", "webhook.timeoutSeconds=31"}, []string{"timeoutSeconds", "30"}},
		{[]string{"--set", "tls.mode=vault"}, []string{"mode", "cert-manager"}},
		{[]string{"--set", "kubeSpawner.slugScheme=pretty"}, []string{"slugScheme", "safe", "escape"}},
		{[]string{"--set", "webhook.replica=3"}, []string{"replica"}},
		{[]string{"--set", "webhook.maxProjects=-1"}, []string{"maxProjects"}},
		{[]string{"--set", "tls.mode=secret"}, []string{"secret", "name"}},
		{[]string{"--set", "webhook.claim.accessMode=ReadWriteSometimes"}, []string{"accessMode"}},
		{[]string{"--set", "webhook.updates.helperMode=sidecar"}, []string{"helperMode", "image-volume", "init-container"}},
		{[]string{"--set", "webhook.expireProjectsAfter=three months"}, []string{"expireProjectsAfter"}},
		{[]string{"--set", "webhook.expireProjectsAfter=-1d"}, []string{"expireProjectsAfter"}},
		{[]string{"--set", "webhook.trashDays=3651"}, []string{"trashDays", "maximum"}},
		{[]string{"--set", "webhook.trashDays=-1"}, []string{"trashDays"}},
		{[]string{"--set", "webhook.usageBudget=soon"}, []string{"usageBudget"}},
		{[]string{"--set", "webhook.usageBudget=5"}, []string{"usageBudget"}},
	} {
		_, err := helm(templateArgs(tc.flags...)...)
		if err == nil {
			t.Errorf("%v: helm template accepted it", tc.flags)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: the error does not say %q:\n%v", tc.flags, w, err)
			}
		}
	}
}

func TestHelmTestPodsRunOurImageAgainstTheServices(t *testing.T) {
	for name, flags := range map[string][]string{"cert-manager": nil, "secret with caBundle": tlsModes["secret"]} {
		t.Run(name, func(t *testing.T) {
			r := render(t, flags...)
			image := webhookDeployment(t, r).Spec.Template.Spec.Containers[0].Image
			wh := must[*corev1.Pod](t, r, release+"-test-webhook")
			svc := must[*corev1.Pod](t, r, release+"-service-test")
			for _, p := range []*corev1.Pod{wh, svc} {
				if p.Annotations["helm.sh/hook"] != "test" || p.Spec.Containers[0].Image != image || p.Spec.Containers[0].Args[0] != "check" {
					t.Errorf("%s: hook %q, image %q, args %q; want a test hook running `binder-projects check` in %s",
						p.Name, p.Annotations["helm.sh/hook"], p.Spec.Containers[0].Image, p.Spec.Containers[0].Args, image)
				}
			}
			if diff := cmp.Diff([]string{"check", "-admission", "-ca-file=/etc/binder-projects/ca/ca.crt", "-timeout=60s",
				"https://binder-projects.bhub.svc:443/mutate-v1-pod"}, wh.Spec.Containers[0].Args); diff != "" {
				t.Errorf("webhook test args (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"check", "-timeout=60s", "http://binder-projects-service.bhub.svc:8000/healthz"},
				svc.Spec.Containers[0].Args); diff != "" {
				t.Errorf("projects service test args (-want +got):\n%s", diff)
			}
			if name == "secret with caBundle" {
				cm := must[*corev1.ConfigMap](t, r, release+"-test-ca")
				if cm.Data["ca.crt"] != string(testCA.CertPEM()) || wh.Spec.Volumes[0].ConfigMap == nil {
					t.Errorf("the test does not check against tls.caBundle: %+v", wh.Spec.Volumes)
				}
			} else if v := wh.Spec.Volumes[0].Secret; v == nil || v.SecretName != "binder-projects-tls" {
				t.Errorf("the test does not read ca.crt of the serving Secret: %+v", wh.Spec.Volumes)
			}
		})
	}
}

func TestTheNetworkPolicyLetsTheAPIServerAndTheHubIn(t *testing.T) {
	if n := render(t).kinds()["NetworkPolicy"]; n != 0 {
		t.Errorf("NetworkPolicies by default: %d", n)
	}
	r := render(t, "--set", "networkPolicy.enabled=true")
	wh := must[*networkingv1.NetworkPolicy](t, r, release)
	if diff := cmp.Diff(webhookDeployment(t, r).Spec.Selector, &wh.Spec.PodSelector); diff != "" {
		t.Errorf("the webhook's policy selects (-deployment +policy):\n%s", diff)
	}
	first := wh.Spec.Ingress[0]
	if len(first.From) != 0 || len(first.Ports) != 1 || first.Ports[0].Port.IntValue() != 9443 {
		t.Errorf("the webhook port is not open to the API server (any source): %+v", first)
	}
	svc := must[*networkingv1.NetworkPolicy](t, r, release+"-service")
	var from []string
	for _, p := range svc.Spec.Ingress[0].From {
		from = append(from, labels.Set(p.PodSelector.MatchLabels).String())
	}
	for _, want := range []string{"component=proxy", "component=hub"} {
		if !slices.Contains(from, want) {
			t.Errorf("the projects service is not open to %s: %v", want, from)
		}
	}
	if svc.Spec.Ingress[0].Ports[0].Port.IntValue() != 8000 {
		t.Errorf("the projects service's policy opens %v", svc.Spec.Ingress[0].Ports)
	}
}

func TestNotesGiveTheBinderHubValues(t *testing.T) {
	out, err := helm("install", release, chartDir(), "--namespace", namespace, "--dry-run=client")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pvc_name_template: claim-{username}",
		"url: http://binder-projects-service.bhub.svc:8000",
		"key hub.services.projects.apiToken",
		"hub.jupyter.org/network-access-hub",
		`"access:services!service=projects"`,
		"Uninstalling removes the MutatingWebhookConfiguration",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("NOTES lack %q:\n%s", want, out)
		}
	}
}
