package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/certs"
)

// Where the webhook listens on the host, and its registration.
const (
	WebhookPort        = 9443
	WebhookHealthAddr  = "127.0.0.1:9440"
	WebhookMetricsAddr = "127.0.0.1:9441"
	WebhookConfigName  = "binder-projects"
	webhookName        = "pods.binder-projects.io"
	WebhookPath        = "/mutate-v1-pod"
)

type webhookState struct {
	bin     string
	certDir string
}

// WebhookLog is the webhook process's stdout and stderr (appended over restarts).
func (c *Cluster) WebhookLog() string { return c.logPath("webhook") }

// WebhookURL is the URL the MutatingWebhookConfiguration calls.
func (c *Cluster) WebhookURL() string {
	return "https://" + net.JoinHostPort(c.nodeIP.String(), strconv.Itoa(WebhookPort)) + WebhookPath
}

// StartWebhook builds binder-projects from the repository root (first call only), starts it on the host
// with a certificate from the cluster's CA, waits until it serves, and registers the
// MutatingWebhookConfiguration (URL mode, CREATE pods, component=singleuser-server in the hub namespace,
// failurePolicy Fail).
func (c *Cluster) StartWebhook(ctx context.Context) error { return c.StartWebhookWith(ctx) }

// StartWebhookWith is StartWebhook with more flags for `serve` (e.g. --helper-mode). The webhook's
// --helper-image is our image (ImportOurImage), unless extraArgs name another.
func (c *Cluster) StartWebhookWith(ctx context.Context, extraArgs ...string) error {
	if err := c.ImportOurImage(ctx); err != nil {
		return err
	}
	if c.webhook == nil {
		ws := &webhookState{bin: filepath.Join(c.l.path("bin"), "binder-projects"), certDir: filepath.Join(c.l.pki(), "webhook")}
		if err := os.MkdirAll(filepath.Dir(ws.bin), 0o755); err != nil {
			return err
		}
		if err := runLogged(ctx, RepoRoot(), nil, c.logPath("webhook-build"), "nice", "-n", "10", "go", "build", "-o", ws.bin, "./cmd/binder-projects"); err != nil {
			return fmt.Errorf("building the webhook (log %s): %w", c.logPath("webhook-build"), err)
		}
		if err := os.MkdirAll(ws.certDir, 0o700); err != nil {
			return err
		}
		crt, key, err := c.pki.ca.Issue(certs.Request{CommonName: "binder-projects-webhook", Server: true,
			DNSNames: []string{"binder-projects-webhook." + c.opts.WebhookNamespace + ".svc", "localhost"},
			IPs:      []net.IP{net.ParseIP("127.0.0.1"), c.nodeIP}})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ws.certDir, "tls.crt"), crt, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ws.certDir, "tls.key"), key, 0o600); err != nil {
			return err
		}
		c.webhook = ws
	}
	args := append([]string{"serve",
		"--port", strconv.Itoa(WebhookPort), "--bind-address", c.nodeIP.String(), "--cert-dir", c.webhook.certDir,
		"--metrics-bind-address", WebhookMetricsAddr, "--health-probe-bind-address", WebhookHealthAddr,
		"--namespace", c.opts.WebhookNamespace, "--helper-image=" + OurImage}, extraArgs...)
	p, err := c.start("webhook", []string{"KUBECONFIG=" + c.Kubeconfig()}, c.webhook.bin, args...)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(c.nodeIP.String(), strconv.Itoa(WebhookPort))
	if err := waitFor(ctx, 60*time.Second, "the webhook to serve TLS on "+addr, aliveCheck(p, c.WebhookLog(), func() (bool, error) {
		// a verified TLS handshake, as the API server will make (no request: it would be logged as bad)
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{RootCAs: c.caPool()})
		if err != nil {
			return false, err
		}
		conn.Close()
		return true, nil
	})); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, "the webhook's /readyz", aliveCheck(p, c.WebhookLog(), func() (bool, error) {
		resp, err := http.Get("http://" + WebhookHealthAddr + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, nil
	})); err != nil {
		return err
	}
	return c.registerWebhook(ctx)
}

func (c *Cluster) caPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.ca.Certificate())
	return pool
}

// CACertPEM is the cluster CA (the webhook's caBundle).
func (c *Cluster) CACertPEM() []byte { return c.pki.ca.CertPEM() }

// StopWebhook stops the webhook process; its registration stays (as when the webhook's pods are gone).
func (c *Cluster) StopWebhook() error {
	c.mu.Lock()
	p := c.procs["webhook"]
	c.mu.Unlock()
	return stopRecorded(c.l, "webhook", p, 10*time.Second)
}

func (c *Cluster) registerWebhook(ctx context.Context) error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	never := admissionregistrationv1.NeverReinvocationPolicy
	url := c.WebhookURL()
	timeout := int32(10)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    webhookName,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			ReinvocationPolicy:      &never,
			TimeoutSeconds:          &timeout,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: c.pki.ca.CertPEM()},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server"}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": c.opts.WebhookNamespace}},
		}},
	}
	api := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	old, err := api.Get(ctx, WebhookConfigName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, mwc, metav1.CreateOptions{})
	case err == nil:
		mwc.ResourceVersion = old.ResourceVersion
		_, err = api.Update(ctx, mwc, metav1.UpdateOptions{})
	}
	return err
}

// WebhookPID is the process id of the webhook running on the host (0 if it is not running), for
// measuring its memory.
func (c *Cluster) WebhookPID() int { return c.pid("webhook") }

// ProjectsServicePID is the process id of the projects service running on the host (0 if none).
func (c *Cluster) ProjectsServicePID() int { return c.pid("projects-service") }

func (c *Cluster) pid(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[name]
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}
