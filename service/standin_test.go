package service

// The test world: a JupyterHub stand-in, the service, a BinderHub stand-in, and a reverse proxy that
// puts them on one origin as the hub's configurable-http-proxy does.
//
// JupyterHub itself cannot be installed on these machines (no Python packages, no internet), so the
// hub here is a stand-in that follows JupyterHub's documented REST contract for exactly the endpoints
// the service uses, and nothing more:
//
//   - GET  /hub/api/user              Authorization: token|Bearer <token> → 200 the owner's model
//     (kind, name, admin, groups, scopes); an unknown token → 403 {"status": 403, "message": ...}.
//   - GET  /hub/api/oauth2/authorize  client_id, redirect_uri (must be the ones registered for the
//     service), response_type=code, state → 302 to redirect_uri?code=...&state=<the same state>; a
//     browser not logged in to the hub is sent to /hub/login first. Like a service registered with
//     oauth_no_confirm: true, no confirmation page.
//   - POST /hub/api/oauth2/token      form: client_id, client_secret (the service's API token),
//     grant_type=authorization_code, code, redirect_uri → 200 {"access_token", "token_type": "Bearer",
//     ...}; a code is good once.
//
// /hub/login is the stand-in's own login form (the real hub's login page depends on its
// authenticator; the service never calls it).

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/projects"
)

const (
	serviceName   = "projects"
	servicePrefix = "/services/projects/"
	serviceToken  = "sentinel-token-service-3f9a1c"
	namespace     = "bhub"
	hubLoginName  = "stand-in-hub-login"
)

// standInHub is the JupyterHub stand-in.
type standInHub struct {
	t        *testing.T
	clientID string
	secret   string
	redirect string

	mu     sync.Mutex
	users  map[string]HubUser // by name
	tokens map[string]string  // token → user name
	scopes map[string][]string
	codes  map[string]string // code → user name
	// requests counts calls per endpoint path.
	requests map[string]int
}

func newStandInHub(t *testing.T) *standInHub {
	return &standInHub{
		t:        t,
		clientID: "service-" + serviceName,
		secret:   serviceToken,
		redirect: servicePrefix + "oauth_callback",
		users:    map[string]HubUser{},
		tokens:   map[string]string{},
		scopes:   map[string][]string{},
		codes:    map[string]string{},
		requests: map[string]int{},
	}
}

// addUser registers a hub user with an API token (as made on the hub's token page, with the user's
// own permissions, which include access to the service).
func (h *standInHub) addUser(name string, admin bool, token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[name] = HubUser{Kind: "user", Name: name, Admin: admin}
	h.tokens[token] = name
	h.scopes[token] = []string{"access:services", "read:users:name!user=" + name, "read:users:groups!user=" + name}
}

// addTokenWithoutAccess registers a token of name that lacks the service's access scope (e.g. a token
// limited to other scopes on the token page).
func (h *standInHub) addTokenWithoutAccess(name, token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens[token] = name
	h.scopes[token] = []string{"read:users:name!user=" + name}
}

func (h *standInHub) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[path]
}

func hubError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "message": message})
}

func (h *standInHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests[r.URL.Path]++
	h.mu.Unlock()
	switch r.URL.Path {
	case "/hub/api/user":
		h.user(w, r)
	case "/hub/api/oauth2/authorize":
		h.authorize(w, r)
	case "/hub/api/oauth2/token":
		h.token(w, r)
	case "/hub/login":
		h.login(w, r)
	default:
		hubError(w, http.StatusNotFound, "the stand-in hub has no "+r.URL.Path)
	}
}

func (h *standInHub) user(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		hubError(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
		hubError(w, http.StatusForbidden, "Missing or invalid credentials.")
		return
	}
	h.mu.Lock()
	name, ok := h.tokens[token]
	u := h.users[name]
	scopes := h.scopes[token]
	h.mu.Unlock()
	if !ok {
		hubError(w, http.StatusForbidden, "Missing or invalid credentials.")
		return
	}
	u.Scopes = scopes
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"kind": u.Kind, "name": u.Name, "admin": u.Admin, "groups": []string{}, "scopes": u.Scopes,
		"session_id": nil,
	})
}

// loggedIn is the hub user the browser is logged in as (the stand-in's own cookie).
func (h *standInHub) loggedIn(r *http.Request) (string, bool) {
	c, err := r.Cookie(hubLoginName)
	if err != nil {
		return "", false
	}
	name, err := url.QueryUnescape(c.Value)
	if err != nil {
		return "", false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.users[name]
	return name, ok
}

func (h *standInHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != h.clientID || q.Get("redirect_uri") != h.redirect || q.Get("response_type") != "code" {
		hubError(w, http.StatusBadRequest, fmt.Sprintf("unknown client or redirect_uri (client_id=%q redirect_uri=%q response_type=%q)",
			q.Get("client_id"), q.Get("redirect_uri"), q.Get("response_type")))
		return
	}
	name, ok := h.loggedIn(r)
	if !ok {
		http.Redirect(w, r, "/hub/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	code := randomToken()
	h.mu.Lock()
	h.codes[code] = name
	h.mu.Unlock()
	back := url.Values{"code": {code}}
	if s := q.Get("state"); s != "" {
		back.Set("state", s)
	}
	http.Redirect(w, r, h.redirect+"?"+back.Encode(), http.StatusFound)
}

func (h *standInHub) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		hubError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		hubError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := r.PostForm
	if f.Get("client_id") != h.clientID || f.Get("client_secret") != h.secret {
		hubError(w, http.StatusForbidden, "invalid client credentials")
		return
	}
	if f.Get("grant_type") != "authorization_code" || f.Get("redirect_uri") != h.redirect {
		hubError(w, http.StatusBadRequest, "unsupported grant or wrong redirect_uri")
		return
	}
	h.mu.Lock()
	name, ok := h.codes[f.Get("code")]
	delete(h.codes, f.Get("code"))
	h.mu.Unlock()
	if !ok {
		hubError(w, http.StatusBadRequest, "invalid or used code")
		return
	}
	token := randomToken()
	h.mu.Lock()
	h.tokens[token] = name
	h.scopes[token] = []string{"access:services!service=" + serviceName, "read:users:name!user=" + name, "read:users:groups!user=" + name}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 1209600, "scope": "identify"})
}

var hubLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in: JupyterHub stand-in</title></head>
<body><h1>JupyterHub (stand-in)</h1>
<form method="post" action="/hub/login?next={{.}}">
<label>Username <input id="username_input" name="username"></label>
<button id="login_submit" type="submit">Sign in</button>
</form></body></html>`))

func (h *standInHub) login(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		next = "/hub/"
	}
	if r.Method == http.MethodPost {
		name := r.PostFormValue("username")
		h.mu.Lock()
		_, ok := h.users[name]
		h.mu.Unlock()
		if !ok {
			hubError(w, http.StatusForbidden, "no such hub user")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: hubLoginName, Value: url.QueryEscape(name), Path: "/hub/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	hubLoginPage.Execute(w, next)
}

// binderHubStandIn answers every launch URL with a page naming the path, so the browser test can
// see where the launch form went.
func binderHubStandIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "BinderHub stand-in: %s\n", r.URL.EscapedPath())
	})
}

// world is everything a test talks to.
type world struct {
	hub     *standInHub
	hubURL  string // the hub's internal URL (JUPYTERHUB_API_URL's host)
	service *Server
	client  client.Client
	// origin is the proxy: the one origin browsers and scripts use.
	origin string
	logs   *strings.Builder
}

// newWorld starts the stand-in hub, the service on a KubeStore over a fake API server holding objs,
// and the proxy. Users: bitnik and anna.müller@uni.example (plain users), ada (hub admin).
func newWorld(t *testing.T, objs ...client.Object) *world {
	t.Helper()
	hub := newStandInHub(t)
	hub.addUser("bitnik", false, "token-bitnik")
	hub.addUser("anna.müller@uni.example", false, "token-anna")
	hub.addUser("ada", true, "token-ada")
	hubSrv := httptest.NewServer(hub)
	t.Cleanup(hubSrv.Close)

	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
	var logs strings.Builder
	var logMu sync.Mutex
	log := funcr.NewJSON(func(s string) { logMu.Lock(); logs.WriteString(s + "\n"); logMu.Unlock() }, funcr.Options{Verbosity: 10})

	binder := httptest.NewServer(binderHubStandIn())
	t.Cleanup(binder.Close)

	// The proxy, like configurable-http-proxy: routes by path prefix, keeps the path and the Host.
	mux := http.NewServeMux()
	proxy := httptest.NewUnstartedServer(mux)
	proxy.Start()
	t.Cleanup(proxy.Close)
	origin := proxy.URL

	svc, err := New(Config{
		Store:        &projects.KubeStore{Client: c, Namespace: namespace, Now: func() time.Time { return testNow }},
		HubAPIURL:    hubSrv.URL + "/hub/api",
		APIToken:     serviceToken,
		ServiceName:  serviceName,
		Prefix:       servicePrefix,
		HubBaseURL:   "/",
		BinderHubURL: origin + "/binder/",
		Log:          log,
	})
	if err != nil {
		t.Fatal(err)
	}
	svcSrv := httptest.NewServer(svc)
	t.Cleanup(svcSrv.Close)

	route := func(prefix, target string) {
		u, _ := url.Parse(target)
		mux.Handle(prefix, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		}})
	}
	route("/hub/", hubSrv.URL)
	route(servicePrefix, svcSrv.URL)
	route("/binder/", binder.URL)
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			t.Logf("service log:\n%s", logs.String())
			logMu.Unlock()
		}
		for _, secret := range []string{serviceToken, "token-bitnik", "token-anna", "token-ada"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the service logged a token (%s)", secret)
			}
		}
	})
	return &world{hub: hub, hubURL: hubSrv.URL, service: svc, client: c, origin: origin, logs: &logs}
}

var testNow = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// fixture reads a Kubernetes object from testdata (copies of the shared fixtures KubeSpawner made).
func fixture[T client.Object](t *testing.T, name string, obj T) T {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return obj
}

// claimWith is a fixture claim whose registry holds ps.
func claimWith(t *testing.T, name string, ps ...projects.Project) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := fixture(t, name, &corev1.PersistentVolumeClaim{})
	if err := (projects.Registry{Projects: ps}).ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	return pvc
}

// Fixture projects.
var (
	requirements = projects.Project{Dir: "gh_binder-examples_requirements", RepoURL: "https://github.com/binder-examples/requirements",
		Image:  "registry.example.org/binder-binder-2dexamples-2drequirements-55ab5c:1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d",
		Commit: "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d", LastUsed: time.Date(2026, 5, 3, 16, 20, 0, 0, time.UTC)}
	conda = projects.Project{Dir: "gh_binder-examples_conda", RepoURL: "https://github.com/binder-examples/conda",
		Image:  "registry.example.org/binder-binder-2dexamples-2dconda-4e2d1f:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
		Commit: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", LastUsed: time.Date(2026, 4, 28, 9, 5, 0, 0, time.UTC)}
	gitlab = projects.Project{Dir: "gl_gesis_notebooks_analysis", RepoURL: "https://gitlab.com/gesis/notebooks/analysis.git",
		Image: "registry.example.org/binder-gesis-notebooks-analysis-9c8b7a:HEAD", Commit: "5f4e3d2c1b0a99887766554433221100ffeeddcc",
		LastUsed: time.Date(2026, 4, 2, 12, 0, 0, 0, time.UTC)}
	// hostile is a repository URL made to break out of an HTML attribute and run a script.
	hostileURL = `https://github.com/a/"><script>window.pwned=1;document.title='pwned';alert(1)</script>`
	hostile    = projects.Project{Dir: "gh_a_hostile", RepoURL: hostileURL, Commit: "HEAD",
		LastUsed: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	annaProject = projects.Project{Dir: "gh_anna_thesis", RepoURL: "https://github.com/anna/thesis",
		Commit: "aaaabbbbccccddddeeeeffff0000111122223333", LastUsed: time.Date(2026, 5, 1, 7, 30, 0, 0, time.UTC)}
)

// fixtureObjects: bitnik's claim with four projects (one with a hostile URL); anna's claim with one
// project, and anna's server pod, which exists (so anna's projects cannot be deleted now).
func fixtureObjects(t *testing.T) []client.Object {
	return []client.Object{
		claimWith(t, "claim-bitnik.yaml", conda, gitlab, hostile, requirements),
		claimWith(t, "claim-unusual-username.yaml", annaProject),
		fixture(t, "pod-unusual-username.yaml", &corev1.Pod{}),
	}
}

// registryOf reads the registry on a claim from the fake API server.
func (w *world) registryOf(t *testing.T, claim string) projects.Registry {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: claim}, &pvc); err != nil {
		t.Fatal(err)
	}
	r, err := projects.FromClaim(&pvc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
