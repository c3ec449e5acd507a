package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// call sends a request through the proxy, with "Authorization: <auth>" when auth is not empty.
func (w *world) call(t *testing.T, method, path, auth string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, w.origin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// checkErrorBody checks that an error answer is JSON {"status": status, "message": "...<want>..."}.
func checkErrorBody(t *testing.T, resp *http.Response, body []byte, status int, want string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v\n%s", err, body)
	}
	if e.Status != status {
		t.Errorf("body status = %d, want %d", e.Status, status)
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("message = %q, want it to contain %q", e.Message, want)
	}
}

// deletedNow are the records a deletion at testNow keeps of ps, pending (projects.Registry.Delete).
func deletedNow(ps ...projects.Project) []projects.Trashed {
	var out []projects.Trashed
	for _, p := range ps {
		out = append(out, projects.Trashed{Project: p, DeletedAt: testNow})
	}
	return out
}

func listed(claim string, ps ...projects.Project) []projects.Listed {
	out := []projects.Listed{}
	for _, p := range ps {
		out = append(out, projects.Listed{Project: p, Claim: claim})
	}
	return out
}

func TestListingProjects(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	bitnik, annas, adas, admins := w.token(t, "bitnik"), w.token(t, anna), w.token(t, projectsAdmin), w.token(t, hubAdmin)
	// Tokens made on the hub's token page with only some of their owner's scopes: without the service's,
	// and a projects admin's without the admin scope, or with it for bitnik only.
	noAccess := w.token(t, "bitnik", "read:users:name!user=bitnik")
	adasNarrow := w.token(t, projectsAdmin, "access:services!service=projects")
	adasForBitnik := w.token(t, projectsAdmin, "access:services!service=projects", AdminScope+"!user=bitnik")
	bitniks := listed("claim-bitnik", requirements, conda, gitlab, hostile, scriptLink)

	tests := []struct {
		name    string
		user    string
		auth    string
		status  int
		want    []projects.Listed // on 200
		message string            // on an error
	}{
		{name: "a user sees their own projects, most recently used first", user: "bitnik", auth: "token " + bitnik,
			status: http.StatusOK, want: bitniks},
		{name: "a Bearer token works like a token", user: "bitnik", auth: "Bearer " + bitnik,
			status: http.StatusOK, want: bitniks},
		{name: "a user name with non-ASCII characters and an @ is found through its path-escaped form", user: anna,
			auth: "token " + annas, status: http.StatusOK, want: listed("claim-anna-m-ller-uni-example---b22940a4", annaProject)},
		{name: "a user without projects gets an empty list, not null", user: projectsAdmin, auth: "token " + adas,
			status: http.StatusOK, want: []projects.Listed{}},
		{name: "a user asking for someone else's projects is refused with 403", user: anna, auth: "token " + bitnik,
			status: http.StatusForbidden, message: `you are logged in as "bitnik" and can see and delete only your own projects; managing "anna.müller@uni.example"'s needs the scope custom:projects:admin`},
		{name: "a projects admin (the documented role) sees anyone's projects", user: "bitnik", auth: "token " + adas,
			status: http.StatusOK, want: bitniks},
		{name: "a hub admin without the projects-admin role is refused with 403", user: "bitnik", auth: "token " + admins,
			status: http.StatusForbidden, message: `you are logged in as "hubadmin"`},
		{name: "a projects admin's token limited to the service's access scope is refused with 403", user: "bitnik", auth: "token " + adasNarrow,
			status: http.StatusForbidden, message: "needs the scope custom:projects:admin"},
		{name: "a token with the admin scope filtered to bitnik sees bitnik's projects", user: "bitnik", auth: "token " + adasForBitnik,
			status: http.StatusOK, want: bitniks},
		{name: "a token with the admin scope filtered to bitnik is refused anna's", user: anna, auth: "token " + adasForBitnik,
			status: http.StatusForbidden, message: "needs the scope custom:projects:admin"},
		{name: "a request without credentials is refused with 401", user: "bitnik",
			status: http.StatusUnauthorized, message: "not logged in"},
		{name: "a token JupyterHub does not accept is refused with 401", user: "bitnik", auth: "token not-a-token",
			status: http.StatusUnauthorized, message: "JupyterHub does not accept this token"},
		{name: "an Authorization header of another scheme is refused with 401", user: "bitnik", auth: "Basic Yml0bmlrOnB3",
			status: http.StatusUnauthorized, message: `must be "token <your JupyterHub API token>"`},
		{name: "a token without the service's access scope is refused with 403", user: "bitnik", auth: "token " + noAccess,
			status: http.StatusForbidden, message: "needs the scope access:services!service=projects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := w.call(t, http.MethodGet, w.projectsPath(tt.user), tt.auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusOK {
				checkErrorBody(t, resp, body, tt.status, tt.message)
				if tt.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("a 401 has no WWW-Authenticate header")
				}
				return
			}
			var got []projects.Listed
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("not a JSON list: %v\n%s", err, body)
			}
			if got == nil {
				t.Fatalf("the list is null: %s", body)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("projects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeletingProjects(t *testing.T) {
	tests := []struct {
		name    string
		user    string
		dir     string
		by      string // whose token the request carries ("": none)
		status  int
		message string
		// claim and its registry after the request (a refused request leaves it as it was).
		claim string
		want  projects.Registry
	}{
		{name: "a user deletes their own project: 204, and the claim records it gone and queued for deletion",
			user: "bitnik", dir: string(requirements.Dir), by: "bitnik", status: http.StatusNoContent,
			claim: "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, scriptLink},
				Deletions: []projects.Queued{{Dir: requirements.Dir, QueuedAt: testNow}}, Trash: deletedNow(requirements)}},
		{name: "a projects admin deletes someone else's project",
			user: "bitnik", dir: string(conda.Dir), by: projectsAdmin, status: http.StatusNoContent,
			claim: "claim-bitnik", want: projects.Registry{Projects: []projects.Project{gitlab, hostile, requirements, scriptLink},
				Deletions: []projects.Queued{{Dir: conda.Dir, QueuedAt: testNow}}, Trash: deletedNow(conda)}},
		{name: "a hub admin without the projects-admin role deleting someone else's project is refused with 403",
			user: "bitnik", dir: string(conda.Dir), by: hubAdmin, status: http.StatusForbidden,
			message: "needs the scope custom:projects:admin",
			claim:   "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}},
		{name: "deleting a folder that is not a project of the user is refused with 404",
			user: "bitnik", dir: "gh_someone_else", by: "bitnik", status: http.StatusNotFound,
			message: `bitnik has no project "gh_someone_else"`,
			claim:   "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}},
		{name: "a folder name that cannot be a project folder is refused with 400",
			user: "bitnik", dir: ".ssh", by: "bitnik", status: http.StatusBadRequest,
			message: `does not start with "."`,
			claim:   "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}},
		{name: "a folder name with a space is refused with 400",
			user: "bitnik", dir: "gh a", by: "bitnik", status: http.StatusBadRequest,
			message: `uses only A-Z, a-z, 0-9`,
			claim:   "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}},
		{name: "a user deleting someone else's project is refused with 403",
			user: "bitnik", dir: string(conda.Dir), by: anna, status: http.StatusForbidden,
			message: `managing "bitnik"'s needs the scope custom:projects:admin`,
			claim:   "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}},
		{name: "a delete without credentials is refused with 401",
			user: "bitnik", dir: string(conda.Dir), status: http.StatusUnauthorized, message: "not logged in",
			claim: "claim-bitnik", want: projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, fixtureObjects(t)...)
			auth := ""
			if tt.by != "" {
				auth = "token " + w.token(t, tt.by)
			}
			resp, body := w.call(t, http.MethodDelete, w.projectsPath(tt.user, tt.dir), auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.status == http.StatusNoContent {
				if len(body) != 0 {
					t.Errorf("a 204 has a body: %s", body)
				}
			} else {
				checkErrorBody(t, resp, body, tt.status, tt.message)
			}
			if diff := cmp.Diff(tt.want, w.registryOf(t, tt.claim)); diff != "" {
				t.Errorf("registry on %s (-want +got):\n%s", tt.claim, diff)
			}
		})
	}
}

// TestDeletingWhileTheServerRuns starts anna's server on the real hub (a jupyterhub-singleuser
// process): while the hub lists it, deleting is refused with 409 and nothing changes; once it is
// stopped, the deletion goes through.
func TestDeletingWhileTheServerRuns(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	token := w.token(t, anna)
	const claim = "claim-anna-m-ller-uni-example---b22940a4"
	if err := w.hub.StartServer(anna); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.hub.StopServer(anna) })

	resp, body := w.call(t, http.MethodDelete, w.projectsPath(anna, string(annaProject.Dir)), "token "+token)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("while the server runs: %d, want 409\n%s", resp.StatusCode, body)
	}
	checkErrorBody(t, resp, body, http.StatusConflict, "stop your server on the hub's home page first, then delete the project")
	if diff := cmp.Diff(projects.Registry{Projects: []projects.Project{annaProject}}, w.registryOf(t, claim)); diff != "" {
		t.Errorf("the refused deletion changed the registry (-want +got):\n%s", diff)
	}
	// A projects admin is refused the same way: the server is anna's.
	resp, body = w.call(t, http.MethodDelete, w.projectsPath(anna, string(annaProject.Dir)), "token "+w.token(t, projectsAdmin))
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("a projects admin while anna's server runs: %d, want 409\n%s", resp.StatusCode, body)
	}

	if err := w.hub.StopServer(anna); err != nil {
		t.Fatal(err)
	}
	resp, body = w.call(t, http.MethodDelete, w.projectsPath(anna, string(annaProject.Dir)), "token "+token)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after the server stopped: %d, want 204\n%s", resp.StatusCode, body)
	}
	want := projects.Registry{Deletions: []projects.Queued{{Dir: annaProject.Dir, QueuedAt: testNow}}, Trash: deletedNow(annaProject)}
	if diff := cmp.Diff(want, w.registryOf(t, claim)); diff != "" {
		t.Errorf("registry (-want +got):\n%s", diff)
	}
}

// startsServerOnce is the hub's answer to "which servers run?", except that right after its first
// answer it starts the user's server on the hub: a server that starts while a deletion is written.
type startsServerOnce struct {
	t       *testing.T
	hub     interface{ StartServer(string) error }
	servers projects.Servers
	once    sync.Once
}

func (s *startsServerOnce) Active(ctx context.Context, user string) ([]string, error) {
	active, err := s.servers.Active(ctx, user)
	s.once.Do(func() {
		if err := s.hub.StartServer(user); err != nil {
			s.t.Error(err)
		}
	})
	return active, err
}

// TestAServerStartingWhileADeletionIsWrittenLeavesItQueued: the hub lists no server before the
// deletion is written and one right after. The service cannot see whether that server's pod was handed
// the deletion, so the deletion stays queued (taking it back could hide a deletion the pod's init
// container does anyway) and the answer is 202 with what may still happen.
func TestAServerStartingWhileADeletionIsWrittenLeavesItQueued(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	token := w.token(t, "bitnik")
	w.store.Servers = &startsServerOnce{t: t, hub: w.hub, servers: w.store.Servers}
	t.Cleanup(func() { w.hub.StopServer("bitnik") })

	resp, body := w.call(t, http.MethodDelete, w.projectsPath("bitnik", string(conda.Dir)), "token "+token)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d, want 202\n%s", resp.StatusCode, body)
	}
	checkErrorBody(t, resp, body, http.StatusAccepted, "(your server). The deletion stays queued: if that server was started for "+string(conda.Dir))
	want := projects.Registry{Projects: []projects.Project{gitlab, hostile, requirements, scriptLink},
		Deletions: []projects.Queued{{Dir: conda.Dir, QueuedAt: testNow}}, Trash: deletedNow(conda)}
	if diff := cmp.Diff(want, w.registryOf(t, "claim-bitnik")); diff != "" {
		t.Errorf("registry (-want +got):\n%s", diff)
	}
}

func TestRoutes(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	bitnik := w.token(t, "bitnik")
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		allow   string
		message string
	}{
		{name: "an unknown API route is 404 with a JSON body that names the API", method: http.MethodGet,
			path: w.prefix + "api/users/bitnik/things", status: http.StatusNotFound, message: "api/users/{user}/projects"},
		{name: "POST on the projects list is 405 with an Allow header", method: http.MethodPost,
			path: w.projectsPath("bitnik"), status: http.StatusMethodNotAllowed, allow: "GET, HEAD"},
		{name: "PUT on a project is 405 with an Allow header", method: http.MethodPut,
			path: w.projectsPath("bitnik", string(conda.Dir)), status: http.StatusMethodNotAllowed, allow: "GET, HEAD, DELETE"},
		{name: "one project is shown", method: http.MethodGet, path: w.projectsPath("bitnik", string(conda.Dir)), status: http.StatusOK},
		{name: "an unknown project is 404", method: http.MethodGet, path: w.projectsPath("bitnik", "gh_nothing"), status: http.StatusNotFound,
			message: `bitnik has no project "gh_nothing"`},
		{name: "a user name with an escaped slash is one user, not two path segments", method: http.MethodGet,
			path: w.projectsPath("bit/nik"), status: http.StatusForbidden, message: `managing "bit/nik"'s needs the scope`},
		{name: "a path below the prefix that is no route is 404 with a JSON body", method: http.MethodGet,
			path: w.prefix + "nothing/here", status: http.StatusNotFound, message: "no such page or API route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := w.call(t, tt.method, tt.path, "token "+bitnik)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.allow != "" && resp.Header.Get("Allow") != tt.allow {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), tt.allow)
			}
			if tt.status != http.StatusOK {
				checkErrorBody(t, resp, body, tt.status, tt.message)
				return
			}
			var got projects.Listed
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(listed("claim-bitnik", conda)[0], got); diff != "" {
				t.Errorf("project (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokensAreResolvedOnceAndCachedBriefly(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	bitnik := w.token(t, "bitnik")
	for range 3 {
		if resp, body := w.call(t, http.MethodGet, w.projectsPath("bitnik"), "token "+bitnik); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d\n%s", resp.StatusCode, body)
		}
	}
	if n := w.calls.count("GET /user"); n != 1 {
		t.Errorf("the hub was asked %d times for the same token, want once", n)
	}
	// A refused token is not cached: it is asked about every time.
	for range 2 {
		w.call(t, http.MethodGet, w.projectsPath("bitnik"), "token wrong")
	}
	if n := w.calls.count("GET /user"); n != 3 {
		t.Errorf("the hub was asked %d times in all, want 3", n)
	}
}

func TestHealthNeedsNoLogin(t *testing.T) {
	w := newWorld(t)
	rec := httptest.NewRecorder()
	w.service.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Errorf("/healthz = %d %q", rec.Code, rec.Body.String())
	}
}

// TestHubServersAsksTheHub checks HubServers against the real hub: with the service's token (the
// documented projects-service role gives it read:servers) it sees a user's running server, none for a
// stopped one or an unknown user; with a token that may not read servers it says which role is missing.
func TestHubServersAsksTheHub(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	servers := HubServers(Config{HubAPIURL: w.apiURL, APIToken: w.hub.ServiceToken})
	const user = "serverful"
	if err := w.hub.StartServer(user); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.hub.StopServer(user) })
	if got, err := servers.Active(ctx, user); err != nil || !cmp.Equal(got, []string{""}) {
		t.Errorf("a running default server: %q, %v; want [\"\"]", got, err)
	}
	if err := w.hub.StopServer(user); err != nil {
		t.Fatal(err)
	}
	if got, err := servers.Active(ctx, user); err != nil || len(got) != 0 {
		t.Errorf("a stopped server: %q, %v; want none", got, err)
	}
	if got, err := servers.Active(ctx, "nobody-"+user); err != nil || len(got) != 0 {
		t.Errorf("a user the hub does not know: %q, %v; want none", got, err)
	}
	for _, scopes := range [][]string{{"read:users:name!user=" + user}, {"access:services!service=projects"}} {
		withoutRole := HubServers(Config{HubAPIURL: w.apiURL, APIToken: w.token(t, user, scopes...)})
		if _, err := withoutRole.Active(ctx, user); !errors.Is(err, errNoServersScope) || !strings.Contains(err.Error(), "projects-service role") {
			t.Errorf("a token with %v: %v, want the missing role named", scopes, err)
		}
	}
}

// TestAskingForAnUpdate: POST .../projects/{folder}/update queues an update request on the claim, for
// the project's next launch (the webhook hands it over, the controller clears it), whether or not a
// server runs.
func TestAskingForAnUpdate(t *testing.T) {
	all := projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}
	queued := all
	queued.Updates = []projects.Queued{{Dir: requirements.Dir, QueuedAt: testNow}}
	tests := []struct {
		name, user, dir, by, method string
		status                      int
		message                     string
		want                        projects.Registry
	}{
		{name: "a user asks for an update of their own project: 202, and the claim queues it",
			user: "bitnik", dir: string(requirements.Dir), by: "bitnik", status: http.StatusAccepted,
			message: "the next launch of " + string(requirements.Dir) + " updates it", want: queued},
		{name: "a projects admin asks for someone else's", user: "bitnik", dir: string(requirements.Dir), by: projectsAdmin,
			status: http.StatusAccepted, message: "updates it", want: queued},
		{name: "a folder that is not a project of the user is refused with 404", user: "bitnik", dir: "gh_someone_else", by: "bitnik",
			status: http.StatusNotFound, message: `bitnik has no project "gh_someone_else"`, want: all},
		{name: "a user asking for someone else's is refused with 403", user: "bitnik", dir: string(conda.Dir), by: anna,
			status: http.StatusForbidden, message: "needs the scope custom:projects:admin", want: all},
		{name: "without credentials: 401", user: "bitnik", dir: string(conda.Dir), status: http.StatusUnauthorized, message: "not logged in", want: all},
		{name: "GET is not allowed: 405", user: "bitnik", dir: string(conda.Dir), by: "bitnik", method: http.MethodGet,
			status: http.StatusMethodNotAllowed, message: "", want: all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, fixtureObjects(t)...)
			auth := ""
			if tt.by != "" {
				auth = "token " + w.token(t, tt.by)
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			resp, body := w.call(t, method, w.projectsPath(tt.user, tt.dir)+"/update", auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			checkErrorBody(t, resp, body, tt.status, tt.message)
			if diff := cmp.Diff(tt.want, w.registryOf(t, "claim-bitnik")); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAnUnreadableEntryHidesOnlyItself: carol's claim has an entry that cannot be read between two that
// can. The API lists the two, with a Warning header that says what was left out; the page lists them
// and says so; a deletion writes the registry back with the bad value set aside on the claim.
func TestAnUnreadableEntryHidesOnlyItself(t *testing.T) {
	w := newWorld(t, append(fixtureObjects(t), carolsClaim(t))...)
	token := "token " + w.token(t, "carol")
	const warning = `299 - "1 of 3 projects on claim claim-carol could not be read and is left out; the claim keeps them for the hub's operators (annotation ` +
		projects.AnnotationProjects + `)"`

	t.Run("the API lists the projects that can be read, with a Warning header", func(t *testing.T) {
		resp, body := w.call(t, http.MethodGet, w.projectsPath("carol"), token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d\n%s", resp.StatusCode, body)
		}
		var got []projects.Listed
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("not a JSON list: %v\n%s", err, body)
		}
		if diff := cmp.Diff(listed("claim-carol", carolsReadable...), got); diff != "" {
			t.Errorf("projects (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{warning}, resp.Header.Values("Warning")); diff != "" {
			t.Errorf("Warning header (-want +got):\n%s", diff)
		}
		resp, body = w.call(t, http.MethodGet, w.projectsPath("carol", "gh_carol_notes"), token)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Warning") != warning {
			t.Errorf("one project: %d with Warning %q\n%s", resp.StatusCode, resp.Header.Get("Warning"), body)
		}
		resp, _ = w.call(t, http.MethodGet, w.projectsPath("bitnik"), "token "+w.token(t, "bitnik"))
		if got := resp.Header.Values("Warning"); len(got) != 0 {
			t.Errorf("a registry that reads whole has a Warning header: %q", got)
		}
	})

	t.Run("the page lists them and says that one entry could not be read", func(t *testing.T) {
		page := newBrowser(t, w).login("carol")
		for _, want := range []string{`<tr data-folder="gh_carol_thesis">`, `<tr data-folder="gh_carol_notes">`,
			`<div id="unreadable" class="alert alert-warning" role="alert">One entry of your projects could not be read, so it is not listed.`} {
			if !strings.Contains(page, want) {
				t.Errorf("the page has no %s", want)
			}
		}
		if strings.Contains(page, "You have no projects yet") {
			t.Error("the page says carol has no projects")
		}
	})

	t.Run("a deletion writes back the rest and keeps the whole bad value beside, on the claim", func(t *testing.T) {
		resp, body := w.call(t, http.MethodDelete, w.projectsPath("carol", "gh_carol_notes"), token)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status = %d\n%s", resp.StatusCode, body)
		}
		var pvc corev1.PersistentVolumeClaim
		if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: "claim-carol"}, &pvc); err != nil {
			t.Fatal(err)
		}
		if got := pvc.Annotations[contract.AnnotationClaimProjectsCorrupt]; got != carolsProjects {
			t.Errorf("%s = %q, want the whole value as it was", contract.AnnotationClaimProjectsCorrupt, got)
		}
		want := projects.Registry{Projects: carolsReadable[:1], Deletions: []projects.Queued{{Dir: "gh_carol_notes", QueuedAt: testNow}},
			Trash: deletedNow(carolsReadable[1])}
		if diff := cmp.Diff(want, w.registryOf(t, "claim-carol")); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
	})
}
