package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tls.mode=helm keeps its CA and certificate across `helm upgrade`: the chart looks the Secrets up
// (`lookup`, which only a real install can do) and reuses them, so the caBundle the API server trusts
// never changes under running replicas. A serving Secret deleted by hand is made anew, signed by the
// same CA (the caBundle stays). Uninstalling removes the MutatingWebhookConfiguration.
//
// The release goes into a namespace of its own with no replicas: its webhook selects only that
// namespace, where no pods are made, so the other tests' launches never reach it.
func TestTheHelmModeCertificateSurvivesHelmUpgrade(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const ns, rel = "chart-upgrade", "chart-upgrade"
	const fullname = rel + "-binder-projects"
	h := helmCLI(ctx, t, ns)
	cs := testCluster.Client()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	helm := func(args ...string) string {
		t.Helper()
		return h.must(ctx, t, args...)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		h.run(ctx, "uninstall", rel)
		cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, fullname, metav1.DeleteOptions{})
		cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	chart := chartDir()
	values := []string{"--set", "tls.mode=helm", "--set", "webhook.replicas=0", "--set", "projectsService.enabled=false"}

	type material struct{ ca, crt, key, caBundle []byte }
	read := func() material {
		t.Helper()
		tlsSecret, err := cs.CoreV1().Secrets(ns).Get(ctx, fullname+"-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wh, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullname, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return material{tlsSecret.Data["ca.crt"], tlsSecret.Data["tls.crt"], tlsSecret.Data["tls.key"], wh.Webhooks[0].ClientConfig.CABundle}
	}
	verifies := func(m material) {
		t.Helper()
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(m.caBundle) {
			t.Fatalf("the caBundle holds no certificate: %q", m.caBundle)
		}
		b, _ := pem.Decode(m.crt)
		if b == nil {
			t.Fatalf("tls.crt is not PEM: %q", m.crt)
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: fullname + "." + ns + ".svc"}); err != nil {
			t.Errorf("the API server could not verify the serving certificate with the caBundle: %v", err)
		}
	}

	helm(append([]string{"install", rel, chart}, values...)...)
	installed := read()
	verifies(installed)

	helm(append([]string{"upgrade", rel, chart, "--set", "webhook.maxProjects=7"}, values...)...)
	upgraded := read()
	if !bytes.Equal(installed.ca, upgraded.ca) || !bytes.Equal(installed.crt, upgraded.crt) ||
		!bytes.Equal(installed.key, upgraded.key) || !bytes.Equal(installed.caBundle, upgraded.caBundle) {
		t.Errorf("helm upgrade replaced the certificate or the CA (the chart's lookup did not reuse them):\nCA before %q\nCA after  %q", installed.ca, upgraded.ca)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(d.Spec.Template.Spec.Containers[0].Args, "--max-projects=7") {
		t.Errorf("the upgrade did not take: args %v", d.Spec.Template.Spec.Containers[0].Args)
	}

	// The serving Secret lost: a new certificate from the same CA, and the caBundle unchanged.
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, fullname+"-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	helm(append([]string{"upgrade", rel, chart}, values...)...)
	reissued := read()
	if bytes.Equal(reissued.crt, installed.crt) {
		t.Error("the deleted serving certificate came back byte for byte: it was not made anew")
	}
	if !bytes.Equal(reissued.caBundle, installed.caBundle) || !bytes.Equal(reissued.ca, installed.ca) {
		t.Error("a new serving certificate brought a new CA; it should be signed by the kept one")
	}
	verifies(reissued)

	helm("uninstall", rel)
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, fullname, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall, the MutatingWebhookConfiguration is still there (err %v)", err)
	}
}
