package service

// The test world: a real JupyterHub (Debian's jupyterhub 3.0 with its configurable-http-proxy, started
// by service/hubtest with service/testdata/jupyterhub_config.py and the values of
// docs/projects-service.md), the service behind the hub's proxy at {base}services/projects/, and a
// BinderHub stand-in behind the proxy at {base}services/binder/.
//
// BinderHub itself is not installable here (it needs a cluster and a registry) and the service never
// calls it: the page only links to its launch URLs. So a stand-in that answers every launch URL with
// the path it got is enough to see where the page's links and form go.
//
// The service's Kubernetes side is controller-runtime's fake client holding the claims KubeSpawner
// makes.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
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

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
	"github.com/binder-projects/binder-projects/service/hubtest"
)

const namespace = "bhub"

// Users with more than their own rights: projectsAdmin holds the documented projects-admin role
// (docs/projects-service.md names ada); hubAdmin is a hub admin (the user model's admin flag) without it.
const (
	projectsAdmin = "ada"
	hubAdmin      = "hubadmin"
)

// hubKind is a kind of hub the tests share: its base URL, and the scopes (comma-separated) its
// projects service's token gets beyond the documented values.
type hubKind struct {
	base          string
	serviceScopes string
}

func (k hubKind) String() string {
	if k.serviceScopes == "" {
		return "base URL " + k.base
	}
	return "base URL " + k.base + " and the service's scopes " + k.serviceScopes
}

// The hubs the tests share, one per kind: a hub starts in about three seconds, and the tests of one
// package run one after another, so each test sets its own service behind the shared hub's proxy.
var hubs = struct {
	sync.Mutex
	running map[hubKind]*hubtest.Hub
	dirs    []string
	failed  map[hubKind]error
}{running: map[hubKind]*hubtest.Hub{}, failed: map[hubKind]error{}}

// sharedHub is the running hub of kind, started on first use.
func sharedHub(t *testing.T, kind hubKind) *hubtest.Hub {
	t.Helper()
	hubs.Lock()
	defer hubs.Unlock()
	if err := hubs.failed[kind]; err != nil {
		t.Fatalf("the hub with %s did not start: %v", kind, err)
	}
	if h := hubs.running[kind]; h != nil {
		return h
	}
	dir, err := os.MkdirTemp("", "binder-projects-hub-")
	if err != nil {
		t.Fatal(err)
	}
	hubs.dirs = append(hubs.dirs, dir)
	templates, err := filepath.Abs("hubtemplates")
	if err != nil {
		t.Fatal(err)
	}
	opts := hubtest.Options{BaseURL: kind.base, Admins: []string{hubAdmin}, Binder: binderHubStandIn(), TemplatePaths: []string{templates}}
	if kind.serviceScopes != "" {
		opts.ServiceScopes = strings.Split(kind.serviceScopes, ",")
	}
	h, err := hubtest.New(dir, opts)
	if err == nil {
		err = h.Start()
	}
	if err != nil {
		hubs.failed[kind] = err
		if h != nil {
			h.Close()
		}
		t.Fatalf("starting JupyterHub with %s: %v", kind, err)
	}
	t.Logf("JupyterHub 3.0 with %s served %s after its start", kind, h.StartTime.Round(time.Millisecond))
	hubs.running[kind] = h
	return h
}

func TestMain(m *testing.M) {
	code := m.Run()
	hubs.Lock()
	for _, h := range hubs.running {
		h.Close()
	}
	for _, d := range hubs.dirs {
		os.RemoveAll(d)
	}
	hubs.Unlock()
	os.Exit(code)
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
	hub     *hubtest.Hub
	service *Server
	store   *projects.KubeStore
	// client is the fake API server, for the test's own reads.
	client client.Client
	// origin is the proxy: the one origin browsers and scripts use; prefix the service's path there.
	origin string
	prefix string
	// apiURL is the hub's API as the service reaches it: through a counter of the calls it makes.
	apiURL string
	calls  *callCounter
	logs   *syncLog
	// tokens made in this test (checked against the service's log).
	tokens []string
}

// newWorld is a world with the hub at base URL "/".
func newWorld(t *testing.T, objs ...client.Object) *world {
	return newWorldAt(t, "/", objs...)
}

// newWorldAt is a world with the hub at base URL base.
func newWorldAt(t *testing.T, base string, objs ...client.Object) *world {
	return newWorldOn(t, hubKind{base: base}, objs...)
}

// newWorldOn puts a new service, on a KubeStore over a fake API server holding objs, behind the shared
// hub of kind. Users: bitnik and anna.müller@uni.example (plain users), ada (projects admin), hubadmin
// (hub admin).
func newWorldOn(t *testing.T, kind hubKind, objs ...client.Object) *world {
	t.Helper()
	return newWorldConfigured(t, kind, nil, objs...)
}

// newWorldConfigured is newWorldOn with the service's configuration changed by configure (when not
// nil) before the service is made: the trash days, the expiry, the clock.
func newWorldConfigured(t *testing.T, kind hubKind, configure func(*Config), objs ...client.Object) *world {
	t.Helper()
	base := kind.base
	h := sharedHub(t, kind)
	w := &world{hub: h, origin: h.Origin, prefix: h.ServicePrefix, logs: &syncLog{}, calls: &callCounter{n: map[string]int{}}}
	fakeAPI := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
	w.client = fakeAPI
	// The service's client may do only what its Role in manifests/projects-service.yaml allows.
	role, err := hubtest.ServiceRole()
	if err != nil {
		t.Fatal(err)
	}
	serviceClient := hubtest.Enforce(fakeAPI, role.Rules, func(verb, resource string) {
		t.Errorf("the service tried to %s %s, which its Role does not allow", verb, resource)
	})

	// The service reaches the hub's API through a proxy that counts its calls.
	hubAPI, err := url.Parse(h.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	spy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		w.calls.add(pr.In.Method + " " + strings.TrimPrefix(pr.In.URL.Path, base+"hub/api"))
		pr.SetURL(&url.URL{Scheme: hubAPI.Scheme, Host: hubAPI.Host})
	}})
	t.Cleanup(spy.Close)
	w.apiURL = spy.URL + hubAPI.Path

	env := h.ServiceEnv()
	env["JUPYTERHUB_API_URL"] = w.apiURL
	cfg, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// As cmd/binder-projects wires it: the hub says whether a server runs; the user's claim by its name.
	claims := patch.DefaultConfig()
	w.store = &projects.KubeStore{Client: serviceClient, Namespace: namespace, Servers: HubServers(cfg),
		ClaimName: func(user string) (string, error) { return claims.ClaimName(user, "") },
		Now:       func() time.Time { return testNow }}
	cfg.Store = w.store
	cfg.BinderHubURL = h.BinderURL
	cfg.Log = funcr.NewJSON(w.logs.add, funcr.Options{Verbosity: 10})
	if configure != nil {
		configure(&cfg)
	}
	w.service, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w.service.Prefix() != h.ServicePrefix {
		t.Fatalf("the service answers under %s, but the hub's proxy sends it %s", w.service.Prefix(), h.ServicePrefix)
	}
	h.SetService(w.service)
	t.Cleanup(func() {
		h.SetService(nil)
		if t.Failed() {
			t.Logf("service log:\n%s", w.logs.String())
			t.Logf("the hub's log (end):\n%s", h.LogTail(30))
		}
		for _, secret := range append([]string{h.ServiceToken}, w.tokens...) {
			if strings.Contains(w.logs.String(), secret) {
				t.Errorf("the service logged a token")
			}
		}
	})
	return w
}

// token makes an API token of user, as the user would on the hub's token page (with scopes: a token
// limited to them).
func (w *world) token(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	tok, err := w.hub.Token(user, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	w.tokens = append(w.tokens, tok)
	return tok
}

// projectsPath is the API path of user's projects (and of one, with dir), path-escaped.
func (w *world) projectsPath(user string, dir ...string) string {
	p := w.prefix + "api/users/" + url.PathEscape(user) + "/projects"
	for _, d := range dir {
		p += "/" + url.PathEscape(d)
	}
	return p
}

// callCounter counts the service's calls to the hub's API, by method and path below /hub/api.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) add(call string) {
	c.mu.Lock()
	c.n[call]++
	c.mu.Unlock()
}

func (c *callCounter) count(call string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[call]
}

// syncLog collects the service's log lines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) add(s string) {
	l.mu.Lock()
	l.b.WriteString(s + "\n")
	l.mu.Unlock()
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
	// scriptLink's repository URL is a javascript: URL, which html/template would make a link to
	// #ZgotmplZ: the page shows it as text.
	scriptLinkURL = "javascript:alert(document.domain)"
	scriptLink    = projects.Project{Dir: "git_a_script-link", RepoURL: scriptLinkURL, Commit: "HEAD",
		LastUsed: time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)}
	annaProject = projects.Project{Dir: "gh_anna_thesis", RepoURL: "https://github.com/anna/thesis",
		Commit: "aaaabbbbccccddddeeeeffff0000111122223333", LastUsed: time.Date(2026, 5, 1, 7, 30, 0, 0, time.UTC)}
)

const anna = "anna.müller@uni.example"

// fixtureObjects: bitnik's claim with five projects (two with hostile URLs); anna's claim with one
// project, and a server pod of anna's. The service never reads pods (its Role allows none): whether a
// server runs is the hub's answer.
func fixtureObjects(t *testing.T) []client.Object {
	return []client.Object{
		claimWith(t, "claim-bitnik.yaml", conda, gitlab, hostile, requirements, scriptLink),
		claimWith(t, "claim-unusual-username.yaml", annaProject),
		fixture(t, "pod-unusual-username.yaml", &corev1.Pod{}),
	}
}

// carol's claim holds three projects, the second of which a hand edit broke (a folder name that is
// not one): carolsProjects is the annotation's value, carolsReadable the two that can be read.
const carolsProjects = `[{"dir":"gh_carol_thesis","repoURL":"https://github.com/carol/thesis","commit":"HEAD","lastUsed":"2026-05-02T09:00:00Z"},` +
	`{"dir":"../../etc","repoURL":"https://github.com/carol/etc","lastUsed":"2026-05-03T09:00:00Z"},` +
	`{"dir":"gh_carol_notes","repoURL":"https://github.com/carol/notes","commit":"HEAD","lastUsed":"2026-04-01T09:00:00Z"}]`

var carolsReadable = []projects.Project{
	{Dir: "gh_carol_thesis", RepoURL: "https://github.com/carol/thesis", Commit: "HEAD", LastUsed: time.Date(2026, 5, 2, 9, 0, 0, 0, time.UTC)},
	{Dir: "gh_carol_notes", RepoURL: "https://github.com/carol/notes", Commit: "HEAD", LastUsed: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)},
}

// carolsClaim is KubeSpawner's claim of the user carol, with carolsProjects.
func carolsClaim(t *testing.T) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := fixture(t, "claim-bitnik.yaml", &corev1.PersistentVolumeClaim{})
	pvc.Name = "claim-carol"
	pvc.Labels[contract.AnnotationHubUsername] = "carol"
	pvc.Annotations[contract.AnnotationHubUsername] = "carol"
	pvc.Annotations[projects.AnnotationProjects] = carolsProjects
	return pvc
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
