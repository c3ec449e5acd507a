package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/binder-projects/binder-projects/certs"
	"github.com/binder-projects/binder-projects/webhook"
)

// caFileOf writes the test server's own certificate (its CA) as a PEM file.
func caFileOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func runCheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"check"}, args...), nil, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheckSendsTheRealWebhookAnAdmissionReviewOverVerifiedTLS(t *testing.T) {
	srv := httptest.NewTLSServer(webhook.NewWebhook(testConfig(), logr.Discard()))
	defer srv.Close()
	code, stdout, stderr := runCheck(t, "-admission", "-ca-file", caFileOf(t, srv), "-timeout", "3s", srv.URL+webhook.Path)
	if code != 0 || !strings.Contains(stdout, "allowed a dry-run pod unchanged") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and the pod allowed", code, stdout, stderr)
	}
}

func TestCheckFailsWithAReasonAPersonCanActOn(t *testing.T) {
	wh := httptest.NewTLSServer(webhook.NewWebhook(testConfig(), logr.Discard()))
	defer wh.Close()
	other := httptest.NewTLSServer(http.NotFoundHandler())
	defer other.Close()
	wrongUID := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{UID: "someone-else", Allowed: true}})
	}))
	defer wrongUID.Close()
	unhealthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the claims cache has not synced yet", http.StatusServiceUnavailable)
	}))
	defer unhealthy.Close()

	// httptest's servers share one certificate: another CA must come from elsewhere.
	stranger, err := certs.NewCA("a CA that signed nothing here")
	if err != nil {
		t.Fatal(err)
	}
	strangerFile := filepath.Join(t.TempDir(), "stranger.crt")
	if err := os.WriteFile(strangerFile, stranger.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a certificate not signed by the given CA", []string{"-admission", "-ca-file", strangerFile, wh.URL + webhook.Path},
			"not signed by the CA this check trusts"},
		{"no CA: the system's roots do not know a self-signed webhook", []string{"-admission", wh.URL + webhook.Path},
			"not signed by the CA this check trusts"},
		{"a server that is not the webhook", []string{"-admission", "-ca-file", caFileOf(t, other), other.URL + webhook.Path},
			"404 Not Found"},
		{"an answer for another review", []string{"-admission", "-ca-file", caFileOf(t, wrongUID), wrongUID.URL},
			`the answer's uid is "someone-else"`},
		{"a GET that is not 2xx", []string{unhealthy.URL + "/healthz"},
			"503 Service Unavailable: the claims cache has not synced yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCheck(t, append([]string{"-timeout", "1500ms"}, tc.args...)...)
			if code != 1 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestCheckGetsAHealthyEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if code, stdout, stderr := runCheck(t, srv.URL+"/healthz"); code != 0 || !strings.Contains(stdout, "200 OK") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestCheckRefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{{}, {"ftp://x"}, {"-ca-file", "/nonexistent", "https://x"}, {"a", "b"}} {
		if code, _, stderr := runCheck(t, args...); code != 2 || stderr == "" {
			t.Errorf("check %q: exit %d, stderr %q; want 2 and a reason", args, code, stderr)
		}
	}
}
