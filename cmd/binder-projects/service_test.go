package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/service/hubtest"
)

// syncBuffer is a buffer the service's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestProjectsServiceNeedsTheHubsEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "without the token and the API URL it names both and says where they come from", env: map[string]string{},
			want: []string{"JUPYTERHUB_API_TOKEN (the service's api_token from hub.services)", "JUPYTERHUB_API_URL (the hub's API", "needs them set in its Deployment"}},
		{name: "without the API URL it names it", env: map[string]string{"JUPYTERHUB_API_TOKEN": "sentinel-token-x"},
			want: []string{"missing environment: JUPYTERHUB_API_URL"}},
		{name: "an API URL that is not http(s) is refused", env: map[string]string{"JUPYTERHUB_API_TOKEN": "sentinel-token-x", "JUPYTERHUB_API_URL": "hub:8081",
			"JUPYTERHUB_SERVICE_PREFIX": "/services/projects/"},
			want: []string{`JUPYTERHUB_API_URL="hub:8081" is not an http(s) URL`}},
		{name: "without a prefix or a name it asks for one", env: map[string]string{"JUPYTERHUB_API_TOKEN": "sentinel-token-x", "JUPYTERHUB_API_URL": "http://hub:8081/hub/api"},
			want: []string{"JUPYTERHUB_SERVICE_PREFIX or JUPYTERHUB_SERVICE_NAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := projectsService(context.Background(), []string{"--namespace", "bhub", "--listen", "127.0.0.1:0"}, envOf(tt.env), &stderr, fakeClient(cluster(t)))
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), w)
				}
			}
			if strings.Contains(stderr.String(), "sentinel-token-x") {
				t.Error("the token was printed")
			}
		})
	}
}

func TestProjectsServiceServesUntilCancelled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	env := map[string]string{
		"JUPYTERHUB_API_TOKEN":      "sentinel-token-service",
		"JUPYTERHUB_API_URL":        "http://127.0.0.1:1/hub/api",
		"JUPYTERHUB_SERVICE_PREFIX": "/services/projects/",
		"JUPYTERHUB_BASE_URL":       "/",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- projectsService(ctx, []string{"--listen", addr, "--binderhub-url", "https://hub.example.org/services/binder/"}, envOf(env), &logs, fakeClient(cluster(t)))
	}()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if resp, err = client.Get(fmt.Sprintf("http://%s%s", addr, path)); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("the service does not answer: %v\n%s", err, logs.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	// The page sends a browser to the hub's OAuth endpoint with the service's default client id.
	resp, _ := get("/services/projects/")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(loc, "/hub/api/oauth2/authorize?") || !strings.Contains(loc, "client_id=service-projects") {
		t.Errorf("page without a login: %d, Location %q", resp.StatusCode, loc)
	}
	// Without credentials the API says 401.
	if resp, body := get("/services/projects/api/users/bitnik/projects"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without credentials: %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel\n%s", code, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the service did not stop")
	}
	if !strings.Contains(logs.String(), `"namespace"="bhub"`) && !strings.Contains(logs.String(), `"namespace":"bhub"`) {
		t.Errorf("the service did not take the kubeconfig's namespace:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "sentinel-token-service") {
		t.Error("the service logged its token")
	}
}

// TestProjectsServiceBehindARealHubUnderABaseURL runs the command as an operator deploys it: only the
// hub's token, API URL, the service's name and the hub's base URL in its environment (no prefix), behind
// a real JupyterHub whose base_url is /jhub/, with a Kubernetes client limited to the manifest's Role. A
// browser logs in through the hub's OAuth flow and sees the page; a script lists and deletes projects
// with a token made on the hub.
func TestProjectsServiceBehindARealHubUnderABaseURL(t *testing.T) {
	h, err := hubtest.New(t.TempDir(), hubtest.Options{BaseURL: "/jhub/", OwnListener: true})
	if err != nil {
		t.Fatal(err)
	}
	// The service's Kubernetes client may do only what manifests/projects-service.yaml's Role allows.
	role, err := hubtest.ServiceRole()
	if err != nil {
		t.Fatal(err)
	}
	kube := cluster(t)
	limited := hubtest.Enforce(kube.(client.WithWatch), role.Rules, func(verb, resource string) {
		t.Errorf("the service tried to %s %s, which its Role in manifests/projects-service.yaml does not allow", verb, resource)
	})
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan int, 1)
	env := h.ServiceEnv()
	go func() {
		done <- projectsService(ctx, []string{"--listen", h.ServiceAddr()}, envOf(env), &logs, fakeClient(limited))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.Close()
		if t.Failed() {
			t.Logf("the service's log:\n%s\nthe hub's log (end):\n%s", logs.String(), h.LogTail(40))
		}
		if strings.Contains(logs.String(), h.ServiceToken) {
			t.Error("the service logged its token")
		}
	})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(h.Origin + "/jhub/services/projects/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/jhub/hub/login") {
		t.Fatalf("the page without a login: %d at %s, want the hub's login page", resp.StatusCode, resp.Request.URL)
	}
	resp, err = browser.PostForm(resp.Request.URL.String(), url.Values{"username": {"bitnik"}, "password": {h.Password}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/jhub/services/projects/" ||
		!strings.Contains(string(page), "Your projects") || !strings.Contains(string(page), string(cliRequirements.Dir)) {
		t.Fatalf("after the hub's login and OAuth flow: %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}

	token, err := h.Token("bitnik")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, h.Origin+"/jhub/services/projects/api/users/bitnik/projects", nil)
	req.Header.Set("Authorization", "token "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), string(cliConda.Dir)) {
		t.Errorf("the API with a hub token: %d\n%s", resp.StatusCode, body)
	}
	// Deleting asks the hub (the service's token has read:servers from the documented role) and
	// updates the claim.
	req, _ = http.NewRequest(http.MethodDelete, h.Origin+"/jhub/services/projects/api/users/bitnik/projects/"+string(cliConda.Dir), nil)
	req.Header.Set("Authorization", "token "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE with a hub token: %d\n%s", resp.StatusCode, body)
	}
	if r := registryOn(t, kube, "claim-bitnik"); r.Find(cliConda.Dir) >= 0 || !slices.Contains(r.QueuedDirs(), cliConda.Dir) {
		t.Errorf("after the deletion: projects %+v, queue %v", r.Projects, r.QueuedDirs())
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the service logged a user's token")
	}
}
