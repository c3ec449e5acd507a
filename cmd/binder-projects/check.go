package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

const checkUsage = `usage: binder-projects check [-ca-file FILE] [-admission] [-timeout D] URL

Checks that a running binder-projects answers at URL, as its clients reach it (the chart's helm test
runs it): with -admission, it sends the webhook an AdmissionReview (a server-side dry run of a pod
that is not a singleuser server, which the webhook must allow unchanged) the way the API server does,
and checks the answer; without it, a GET must answer 2xx. An https URL is verified against -ca-file
(the caBundle the MutatingWebhookConfiguration carries) and the URL's host name. It tries again every
second until -timeout, then exits 1 with the last error.

Flags:
`

// checkAdmissionUID marks the check's own review; the answer must carry it back.
const checkAdmissionUID = types.UID("binder-projects-check")

func check(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", checkUsage, stderr)
	caFile := fs.String("ca-file", "", "PEM file of the CA that signed the server's certificate (https URLs; empty: the system's roots)")
	admission := fs.Bool("admission", false, "send an AdmissionReview, as the API server does, instead of a GET")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to keep trying")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	url := fs.Arg(0)
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		fmt.Fprintf(stderr, "binder-projects check: %q is not an http:// or https:// URL\n", url)
		return 2
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "binder-projects check: -ca-file: %v\n", err)
			return 2
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "binder-projects check: -ca-file %s holds no PEM certificate\n", *caFile)
			return 2
		}
		tlsConfig.RootCAs = pool
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		var what string
		var err error
		if *admission {
			what, err = checkAdmission(ctx, client, url)
		} else {
			what, err = checkGet(ctx, client, url)
		}
		if err == nil {
			fmt.Fprintf(stdout, "ok: %s %s\n", url, what)
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "binder-projects check: %s: %v (%d attempts in %s)\n", url, err, attempt, *timeout)
			return 1
		case <-time.After(time.Second):
		}
	}
}

// checkGet wants a 2xx answer to a GET.
func checkGet(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", describeTLS(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return "answered " + resp.Status, nil
}

// checkAdmission sends what the API server would send for a dry-run pod that is no singleuser
// server, and wants it allowed, unchanged, with the review's UID.
func checkAdmission(ctx context.Context, client *http.Client, url string) (string, error) {
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "binder-projects-check", Namespace: "binder-projects-check"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "check", Image: "check"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return "", err
	}
	dryRun := true
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       checkAdmissionUID,
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      pod.Name,
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
			DryRun:    &dryRun,
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", describeTLS(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered %s, not 200: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &answer); err != nil || answer.Response == nil {
		return "", fmt.Errorf("the answer is not an AdmissionReview with a response (is this the webhook's path?): %.200s", out)
	}
	r := answer.Response
	switch {
	case r.UID != checkAdmissionUID:
		return "", fmt.Errorf("the answer's uid is %q, not the review's %q", r.UID, checkAdmissionUID)
	case !r.Allowed:
		msg := ""
		if r.Result != nil {
			msg = fmt.Sprintf(" (%d: %s)", r.Result.Code, r.Result.Message)
		}
		return "", fmt.Errorf("the webhook refused a pod that is not a singleuser server%s", msg)
	case len(r.Patch) > 0:
		return "", fmt.Errorf("the webhook changed a pod that is not a singleuser server: %s", r.Patch)
	}
	return "allowed a dry-run pod unchanged", nil
}

// describeTLS says what a certificate error means for the operator.
func describeTLS(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("the server's certificate is not signed by the CA this check trusts (-ca-file, else the system's roots; in the cluster: the webhook's caBundle): %w", err)
	case errors.As(err, &host):
		return fmt.Errorf("the server's certificate does not name this host (the Service's DNS name): %w", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the server's certificate is not valid (expired, or not yet): %w", err)
	}
	return err
}
