package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The projects API on the real cluster: `binder-projects projects-service` runs on the host, with the
// cluster's admin kubeconfig, as the hub would run it as an external service.
//
// Here the service talks to a stand-in hub (the service's own tests run it against the real JupyterHub,
// see service/hubtest) that implements exactly the two documented endpoints the API path uses: GET
// /hub/api/user, which JupyterHub answers for "Authorization: token <token>" with the token owner's
// user model (kind, name, admin, scopes: JupyterHub REST API, "Return authenticated user's model") and
// with 403 for a token it does not know; and GET /hub/api/users/{name} for the service's own token,
// whose model carries the servers field (JupyterHub fills it for a token with read:servers: every
// server starting, running or stopping), here the user's singleuser pods on the real cluster, which
// is what KubeSpawner's servers are. Any other request fails the test.

// serviceName is the service's name in hub.services; it is reached at /services/<name>/.
const serviceName = "projects"

// standInHub is the stand-in JupyterHub: tokens → users.
type standInHub struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	tokens map[string]hubUser
	// serviceToken is the projects service's own API token.
	serviceToken string
}

type hubUser struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Admin  bool     `json:"admin"`
	Groups []string `json:"groups"`
	Scopes []string `json:"scopes"`
}

// newStandInHub serves the stand-in on the host's loopback (the service runs on the host too).
func newStandInHub(t *testing.T) *standInHub {
	h := &standInHub{t: t, tokens: map[string]hubUser{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *standInHub) serve(w http.ResponseWriter, r *http.Request) {
	if name, ok := strings.CutPrefix(r.URL.Path, "/hub/api/users/"); ok && r.Method == http.MethodGet {
		h.serveUser(w, r, name)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/hub/api/user" {
		h.t.Errorf("the projects service called the hub at %s %s, which the stand-in does not implement", r.Method, r.URL.Path)
		http.Error(w, "not implemented by the stand-in hub", http.StatusNotImplemented)
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	h.mu.Lock()
	u, ok := h.tokens[token]
	h.mu.Unlock()
	if !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") || !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"status": 403, "message": "Missing or invalid credentials."}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(u)
}

// serveUser answers GET /hub/api/users/{name} for the service's own token: the user's model with its
// servers, one for each of the user's singleuser pods that exists (starting, running or stopping).
func (h *standInHub) serveUser(w http.ResponseWriter, r *http.Request, name string) {
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	h.mu.Lock()
	ok := token != "" && token == h.serviceToken
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"status": 403, "message": "Missing or invalid credentials."}`)
		return
	}
	pods, err := testCluster.Client().CoreV1().Pods(hubNamespace).List(r.Context(), metav1.ListOptions{LabelSelector: "component=singleuser-server"})
	if err != nil {
		h.t.Errorf("the stand-in hub listing pods: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	servers := map[string]map[string]any{}
	for _, p := range pods.Items {
		if p.Annotations["hub.jupyter.org/username"] != name {
			continue
		}
		server := p.Annotations["hub.jupyter.org/servername"]
		servers[server] = map[string]any{"name": server, "ready": p.Status.Phase == corev1.PodRunning, "pending": nil}
	}
	json.NewEncoder(w).Encode(map[string]any{"kind": "user", "name": name, "servers": servers})
}

// userToken makes a token of a hub user whose role grants access to the projects service, as the
// operator's hub.loadRoles would.
func (h *standInHub) userToken(name string) string {
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	h.mu.Lock()
	h.tokens[token] = hubUser{Kind: "user", Name: name, Groups: []string{},
		Scopes: []string{"access:services!service=" + serviceName, "read:users:name!user=" + name}}
	h.mu.Unlock()
	return token
}

// startProjectsService runs the service against the stand-in hub and returns the API base for users,
// {service}/services/projects/api/users/.
func startProjectsService(ctx context.Context, t *testing.T, hub *standInHub) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	hub.mu.Lock()
	hub.serviceToken = hex.EncodeToString(b)
	hub.mu.Unlock()
	env := []string{
		"JUPYTERHUB_API_TOKEN=" + hub.serviceToken,
		"JUPYTERHUB_API_URL=" + hub.srv.URL + "/hub/api",
		"JUPYTERHUB_SERVICE_NAME=" + serviceName,
		"JUPYTERHUB_SERVICE_PREFIX=/services/" + serviceName + "/",
		"JUPYTERHUB_BASE_URL=/",
	}
	if err := testCluster.StartProjectsService(ctx, env, hubNamespace); err != nil {
		t.Fatalf("starting the projects service (log %s): %v", testCluster.ProjectsServiceLog(), err)
	}
	t.Cleanup(func() {
		if err := testCluster.StopProjectsService(); err != nil {
			t.Errorf("stopping the projects service: %v", err)
		}
	})
	return testCluster.ProjectsServiceURL() + "/services/" + serviceName + "/api/users/"
}

// apiReply is an answer of the projects API.
type apiReply struct {
	Status int
	Body   string
}

func (r apiReply) String() string { return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(r.Body)) }

// callAPI makes a request to the projects API as a script does, with "Authorization: token ...".
func callAPI(ctx context.Context, t *testing.T, method, url, token string) apiReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return apiReply{resp.StatusCode, string(body)}
}

// apiError is the JSON error body of the projects API.
func apiError(t *testing.T, r apiReply) string {
	t.Helper()
	var e struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Status != r.Status || e.Message == "" {
		t.Errorf("the error body is not {status, message} with the status: %s (%v)", r, err)
	}
	return e.Message
}
