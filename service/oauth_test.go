package service

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/projects"
)

// browser is an HTTP client with a cookie jar that does not follow redirects on its own.
type browser struct {
	t      *testing.T
	w      *world
	origin string
	c      *http.Client
}

func newBrowser(t *testing.T, w *world) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, w: w, origin: w.origin, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, header http.Header, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if !strings.HasPrefix(path, "http") {
		path = b.origin + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// follow GETs path and follows redirects, returning the last answer.
func (b *browser) follow(path string) (*http.Response, string) {
	b.t.Helper()
	for range 10 {
		resp, body := b.do(http.MethodGet, path, nil, nil)
		if resp.StatusCode != http.StatusFound {
			return resp, body
		}
		path = resp.Header.Get("Location")
	}
	b.t.Fatal("too many redirects")
	return nil, ""
}

// cookie is the value of the jar's cookie name for the service's prefix.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.origin + b.w.prefix)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// login logs the browser in to the hub as user and then to the service, through the OAuth flow,
// and returns the projects page.
func (b *browser) login(user string) string {
	b.t.Helper()
	resp, body := b.follow(b.w.prefix)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in") {
		b.t.Fatalf("the service did not lead to the hub's login: %d\n%s", resp.StatusCode, body)
	}
	loginURL := resp.Request.URL.String()
	resp, _ = b.do(http.MethodPost, loginURL, nil, url.Values{"username": {user}, "password": {b.w.hub.Password}})
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("hub login: %d", resp.StatusCode)
	}
	resp, body = b.follow(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("after the OAuth flow: %d\n%s", resp.StatusCode, body)
	}
	return body
}

// hubLogin logs the browser in to the hub only, with the hub's login form.
func (b *browser) hubLogin(user string) {
	b.t.Helper()
	resp, body := b.do(http.MethodPost, b.w.hub.BaseURL+"hub/login", nil, url.Values{"username": {user}, "password": {b.w.hub.Password}})
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("hub login: %d\n%s", resp.StatusCode, body)
	}
}

// TestOAuthLoginRoundTrip logs in through the real hub's OAuth flow, once with the hub at the root and
// once under a base URL (hub.baseUrl): there the service must take its prefix, its redirect_uri and
// the hub's authorize URL from JUPYTERHUB_BASE_URL, or the hub refuses the redirect_uri.
func TestOAuthLoginRoundTrip(t *testing.T) {
	for _, base := range []string{"/", "/jhub/"} {
		t.Run("base URL "+base, func(t *testing.T) { testOAuthLoginRoundTrip(t, base) })
	}
}

func testOAuthLoginRoundTrip(t *testing.T, base string) {
	w := newWorldAt(t, base, fixtureObjects(t)...)
	if want := base + "services/projects/"; w.prefix != want {
		t.Fatalf("the service's prefix is %s, want %s", w.prefix, want)
	}
	b := newBrowser(t, w)

	// An unauthenticated browser is sent to the hub's authorize endpoint, with the service's client
	// id and redirect_uri and a state that is also in its state cookie.
	resp, _ := b.do(http.MethodGet, w.prefix, nil, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("page without a session: %d, want a redirect", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if want := w.hub.BaseURL + "hub/api/oauth2/authorize"; loc.Path != want {
		t.Errorf("redirect to %s, want %s", loc.Path, want)
	}
	q := loc.Query()
	if diff := cmp.Diff(map[string]string{"client_id": "service-projects", "redirect_uri": w.prefix + "oauth_callback", "response_type": "code"},
		map[string]string{"client_id": q.Get("client_id"), "redirect_uri": q.Get("redirect_uri"), "response_type": q.Get("response_type")}); diff != "" {
		t.Errorf("authorize parameters (-want +got):\n%s", diff)
	}
	if len(q.Get("state")) < 32 {
		t.Errorf("state %q is too short to be unguessable", q.Get("state"))
	}
	var stateCookieSeen *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == stateCookieName(q.Get("state")) {
			stateCookieSeen = c
		}
	}
	if stateCookieSeen == nil || !stateCookieSeen.HttpOnly || stateCookieSeen.Path != w.prefix {
		t.Fatalf("state cookie = %+v, want an HttpOnly cookie of this login on %s (cookies: %v)", stateCookieSeen, w.prefix, resp.Cookies())
	}
	if strings.Contains(stateCookieSeen.Value, q.Get("state")) {
		t.Error("the state cookie holds the state in clear")
	}

	// The whole flow ends on the page, logged in.
	page := b.login("bitnik")
	if !strings.Contains(page, "Your projects") || !strings.Contains(page, string(requirements.Dir)) {
		t.Errorf("the page after login does not show bitnik's projects:\n%s", page)
	}
	// The session cookie: HttpOnly, SameSite=Lax, confined to the prefix; the XSRF cookie readable by
	// scripts.
	u, _ := url.Parse(w.origin + w.prefix)
	if b.cookie(sessionCookie) == "" || b.cookie(xsrfCookie) == "" {
		t.Fatalf("cookies after login: %v", b.c.Jar.Cookies(u))
	}
	// A second browser, step by step, to see the Set-Cookie attributes.
	b2 := newBrowser(t, w)
	b2.hubLogin("bitnik")
	resp, _ = b2.do(http.MethodGet, w.prefix, nil, nil)                    // → authorize
	resp, _ = b2.do(http.MethodGet, resp.Header.Get("Location"), nil, nil) // → callback
	resp, _ = b2.do(http.MethodGet, resp.Header.Get("Location"), nil, nil) // callback sets the cookies
	var session, xsrf *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case sessionCookie:
			session = c
		case xsrfCookie:
			xsrf = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != w.prefix {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=%s", session, w.prefix)
	}
	if xsrf == nil || xsrf.HttpOnly || xsrf.Path != w.prefix {
		t.Errorf("XSRF cookie = %+v, want one scripts can read, Path=%s", xsrf, w.prefix)
	}
	if session != nil && strings.Contains(session.Value, ".") {
		t.Errorf("session cookie %q does not look encrypted", session.Value)
	}
}

func TestOAuthCallbackChecksTheState(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)

	// start begins a login and returns the hub's redirect back to the callback (code and state).
	start := func(b *browser) *url.URL {
		t.Helper()
		b.follow(w.prefix)
		b.hubLogin("bitnik")
		resp, _ := b.do(http.MethodGet, w.prefix, nil, nil)
		resp, _ = b.do(http.MethodGet, resp.Header.Get("Location"), nil, nil)
		back, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || back.Path != w.prefix+"oauth_callback" {
			t.Fatalf("the hub did not send the browser back to the callback: %v %v", back, err)
		}
		return back
	}

	t.Run("a callback with another state than the browser's login is refused with 400", func(t *testing.T) {
		b := newBrowser(t, w)
		back := start(b)
		q := back.Query()
		q.Set("state", "forged-"+q.Get("state"))
		back.RawQuery = q.Encode()
		resp, body := b.do(http.MethodGet, back.String(), nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400\n%s", resp.StatusCode, body)
		}
		checkErrorBody(t, resp, []byte(body), http.StatusBadRequest, "this login was not started here")
		if b.cookie(sessionCookie) != "" {
			t.Error("a session was started anyway")
		}
	})
	t.Run("another login's state cookie does not stand in for this login's", func(t *testing.T) {
		b := newBrowser(t, w)
		back := start(b)
		state := back.Query().Get("state")
		sealed := b.cookie(stateCookieName(state))
		if sealed == "" {
			t.Fatal("no state cookie for the login")
		}
		// The same sealed value under the name of another state: its name is authenticated with it.
		other := newBrowser(t, w)
		q := back.Query()
		q.Set("state", "another-state")
		back.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodGet, w.origin+back.String(), nil)
		req.AddCookie(&http.Cookie{Name: stateCookieName("another-state"), Value: sealed})
		resp, err := other.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("a callback in a browser that never started a login is refused with 400", func(t *testing.T) {
		back := start(newBrowser(t, w))
		other := newBrowser(t, w)
		resp, body := other.do(http.MethodGet, back.String(), nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400\n%s", resp.StatusCode, body)
		}
		checkErrorBody(t, resp, []byte(body), http.StatusBadRequest, "this login was not started here")
	})
	t.Run("a callback with the right state logs in, and the code is good once", func(t *testing.T) {
		b := newBrowser(t, w)
		back := start(b)
		resp, body := b.do(http.MethodGet, back.String(), nil, nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != w.prefix {
			t.Fatalf("status = %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		// Replaying the same callback: the state cookie is gone, so it is refused.
		resp, body = b.do(http.MethodGet, back.String(), nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback: %d, want 400\n%s", resp.StatusCode, body)
		}
	})
	t.Run("a callback with a code the hub did not issue is refused with 403, and no session starts", func(t *testing.T) {
		b := newBrowser(t, w)
		back := start(b)
		q := back.Query()
		q.Set("code", "not-a-code-of-the-hub")
		back.RawQuery = q.Encode()
		resp, body := b.do(http.MethodGet, back.String(), nil, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403\n%s", resp.StatusCode, body)
		}
		checkErrorBody(t, resp, []byte(body), http.StatusForbidden, "JupyterHub did not accept the login")
		if b.cookie(sessionCookie) != "" {
			t.Error("a session was started anyway")
		}
	})
	t.Run("a callback with the hub's error is refused with 403", func(t *testing.T) {
		b := newBrowser(t, w)
		resp, body := b.do(http.MethodGet, w.prefix+"oauth_callback?error=access_denied&error_description=no", nil, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403\n%s", resp.StatusCode, body)
		}
	})
}

// TestTwoLoginsAtOnceInOneBrowserBothComplete: two tabs of one browser open the page before either
// has logged in, so both are sent to the hub with their own state; the user logs in on one, and both
// tabs come back through the callback and land on their pages.
func TestTwoLoginsAtOnceInOneBrowserBothComplete(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := newBrowser(t, w)
	// Each tab's first request: the service sends it to the hub's authorize endpoint.
	var authorize []string
	for _, page := range []string{w.prefix, w.prefix + "?tab=2"} {
		resp, _ := b.do(http.MethodGet, page, nil, nil)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%s: %d, want a redirect to the hub", page, resp.StatusCode)
		}
		authorize = append(authorize, resp.Header.Get("Location"))
	}
	b.hubLogin("bitnik")
	// Both tabs go on with their authorize URLs, in the opposite order.
	for _, i := range []int{1, 0} {
		resp, body := b.follow(authorize[i])
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your projects") {
			t.Errorf("tab %d after the hub's login: %d at %s\n%s", i+1, resp.StatusCode, resp.Request.URL, body)
		}
	}
}

// TestLoggingOutOfTheHubEndsTheSession: the hub's logout revokes the tokens it gave during that login,
// the service's included; the next page load asks the hub (a page is never served from the token
// cache) and sends the browser to log in again.
func TestLoggingOutOfTheHubEndsTheSession(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := newBrowser(t, w)
	b.login("bitnik")
	if resp, _ := b.do(http.MethodGet, w.prefix, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the page while logged in: %d", resp.StatusCode)
	}
	if resp, body := b.follow(w.hub.BaseURL + "hub/logout"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the hub's logout: %d\n%s", resp.StatusCode, body)
	}
	resp, _ := b.do(http.MethodGet, w.prefix, nil, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "hub/api/oauth2/authorize") {
		t.Fatalf("the page after the hub's logout: %d, Location %q; want a new login", resp.StatusCode, loc)
	}
	if b.cookie(sessionCookie) != "" {
		t.Error("the session cookie is still there")
	}
	resp, body := b.follow(w.prefix)
	if !strings.Contains(resp.Request.URL.Path, "hub/login") || !strings.Contains(body, "Sign in") {
		t.Errorf("after the hub's logout the page leads to %s, want the hub's login page", resp.Request.URL)
	}
}

func TestCookieAuthenticatedDeleteNeedsTheXSRFHeader(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := newBrowser(t, w)
	b.login("bitnik")
	path := w.projectsPath("bitnik", string(gitlab.Dir))
	unchanged := projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, requirements, scriptLink}}

	tests := []struct {
		name    string
		header  http.Header
		status  int
		message string
	}{
		{name: "without the X-XSRFToken header it is refused with 403", status: http.StatusForbidden, message: "missing X-XSRFToken header"},
		{name: "with a header that is not the session's it is refused with 403", header: http.Header{"X-Xsrftoken": {"guess"}},
			status: http.StatusForbidden, message: "does not match this session"},
		{name: "from another site it is refused with 403, even with the header",
			header: http.Header{"X-Xsrftoken": {b.cookie(xsrfCookie)}, "Sec-Fetch-Site": {"cross-site"}},
			status: http.StatusForbidden, message: "from another site"},
		{name: "from another origin of the same site it is refused with 403, even with the header",
			header: http.Header{"X-Xsrftoken": {b.cookie(xsrfCookie)}, "Sec-Fetch-Site": {"same-site"}},
			status: http.StatusForbidden, message: "from another site or origin"},
		{name: "from a browser without Sec-Fetch-Site whose Origin is another host it is refused with 403",
			header: http.Header{"X-Xsrftoken": {b.cookie(xsrfCookie)}, "Origin": {"https://evil.example"}},
			status: http.StatusForbidden, message: "from another site or origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := b.do(http.MethodDelete, path, tt.header, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			checkErrorBody(t, resp, []byte(body), tt.status, tt.message)
			if diff := cmp.Diff(unchanged, w.registryOf(t, "claim-bitnik")); diff != "" {
				t.Errorf("registry changed (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("with the session's X-XSRFToken header it is deleted: 204", func(t *testing.T) {
		resp, body := b.do(http.MethodDelete, path, http.Header{"X-Xsrftoken": {b.cookie(xsrfCookie)}, "Sec-Fetch-Site": {"same-origin"}}, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status = %d, want 204\n%s", resp.StatusCode, body)
		}
		want := projects.Registry{Projects: []projects.Project{conda, hostile, requirements, scriptLink},
			Deletions: []projects.Queued{{Dir: gitlab.Dir, QueuedAt: testNow}}, Trash: deletedNow(gitlab)}
		if diff := cmp.Diff(want, w.registryOf(t, "claim-bitnik")); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
	})
	t.Run("a GET with the cookie alone needs no XSRF header", func(t *testing.T) {
		resp, body := b.do(http.MethodGet, w.projectsPath("bitnik"), nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d\n%s", resp.StatusCode, body)
		}
	})
}

func TestASecondReplicaWithTheSameTokenReadsTheSession(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := newBrowser(t, w)
	b.login("bitnik")

	replica, err := New(Config{Store: w.service.cfg.Store, HubAPIURL: w.apiURL, APIToken: w.hub.ServiceToken, Prefix: w.prefix})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Store: w.service.cfg.Store, HubAPIURL: w.apiURL, APIToken: "another-token", Prefix: w.prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		srv    *Server
		status int
	}{
		{"a replica with the same token accepts the session", replica, http.StatusOK},
		{"a service with another token does not", other, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, w.origin+w.projectsPath("bitnik"), nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: b.cookie(sessionCookie)})
			rec := httptest.NewRecorder()
			tt.srv.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d\n%s", rec.Code, tt.status, rec.Body)
			}
		})
	}
}

func TestAUserWithoutProjectsSeesWhatToDo(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	page := newBrowser(t, w).login("newcomer")
	for _, want := range []string{"You have no projects yet.", "Launch a repository below", `id="launch"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page of a user without projects has no %q", want)
		}
	}
	if strings.Contains(page, `<table id="projects">`) {
		t.Error("an empty table is shown")
	}
}

func TestThePageEscapesWhatUsersControl(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	page := newBrowser(t, w).login("bitnik")
	for _, bad := range []string{"<script>window.pwned", `"><script>`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;window.pwned=1;document.title=&#39;pwned&#39;;alert(1)&lt;/script&gt;") {
		t.Errorf("the hostile repository URL is not shown escaped as text")
	}
	for _, want := range []string{
		`href="` + w.hub.BinderURL + `v2/gh/binder-examples/requirements/` + requirements.Commit + `"`,
		`href="` + w.hub.BinderURL + `v2/gl/gesis%2Fnotebooks%2Fanalysis/` + gitlab.Commit + `"`,
		`href="https://github.com/binder-examples/requirements"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page has no %s", want)
		}
	}
}

// TestOnlyAProjectsAdminSeesAnotherUsersPage logs in through the hub's OAuth flow: the token the hub
// gives the service carries custom:projects:admin for a holder of the documented role (the service
// lists it in oauth_client_allowed_scopes), and not for anyone else, hub admins included.
func TestOnlyAProjectsAdminSeesAnotherUsersPage(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	for _, tt := range []struct {
		name   string
		user   string
		status int
	}{
		{"a projects admin sees anna's page", projectsAdmin, http.StatusOK},
		{"a plain user is refused with 403", "bitnik", http.StatusForbidden},
		{"a hub admin without the role is refused with 403", hubAdmin, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, w)
			own := b.login(tt.user)
			if got := strings.Contains(own, "(projects admin)"); got != (tt.status == http.StatusOK) {
				t.Errorf("the page says projects admin: %v, want %v", got, !got)
			}
			resp, body := b.do(http.MethodGet, w.prefix+"?user="+url.QueryEscape(anna), nil, nil)
			if resp.StatusCode != tt.status || strings.Contains(body, string(annaProject.Dir)) != (tt.status == http.StatusOK) {
				t.Errorf("%s's view of anna's page: %d, want %d\n%s", tt.user, resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusOK && !strings.Contains(body, "needs the scope custom:projects:admin") {
				t.Errorf("the refusal does not name the scope:\n%s", body)
			}
		})
	}
}

// TestOnlyTheEmbeddedPageMayBeFramedAndOnlyByTheHub: the page refuses every frame; its ?embed=1 form
// (the hub's home page template) allows the hub's origin only.
func TestOnlyTheEmbeddedPageMayBeFramedAndOnlyByTheHub(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := newBrowser(t, w)
	b.login("bitnik")
	for _, tt := range []struct {
		path, frameOptions, ancestors string
		nav                           bool
	}{
		{w.prefix, "DENY", "frame-ancestors 'none'", true},
		{w.prefix + "?embed=1", "SAMEORIGIN", "frame-ancestors 'self'", false},
	} {
		resp, body := b.do(http.MethodGet, tt.path, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", tt.path, resp.StatusCode)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != tt.frameOptions {
			t.Errorf("%s: X-Frame-Options %q, want %q", tt.path, got, tt.frameOptions)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, tt.ancestors) {
			t.Errorf("%s: Content-Security-Policy %q, want it to end with %q", tt.path, csp, tt.ancestors)
		}
		if got := strings.Contains(body, `<nav class="navbar navbar-default">`); got != tt.nav {
			t.Errorf("%s: navigation bar %v, want %v", tt.path, got, tt.nav)
		}
	}
}

// TestTheDocumentedHomeTemplateIsTheTestedOne: the values in docs/projects-service.md that put the
// projects on the hub's home page mount exactly service/hubtemplates/home.html (which the tests give
// the hub) in a folder they add to the template paths.
func TestTheDocumentedHomeTemplateIsTheTestedOne(t *testing.T) {
	doc, err := os.ReadFile("../docs/projects-service.md")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("hubtemplates/home.html")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range regexp.MustCompile("(?ms)^```yaml\n(jupyterhub:\n.*?)^```").FindAllStringSubmatch(string(doc), -1) {
		var values struct {
			JupyterHub struct {
				Hub struct {
					ExtraFiles map[string]struct {
						MountPath  string `json:"mountPath"`
						StringData string `json:"stringData"`
					} `json:"extraFiles"`
					Config struct {
						JupyterHub struct {
							TemplatePaths []string `json:"template_paths"`
						} `json:"JupyterHub"`
					} `json:"config"`
				} `json:"hub"`
			} `json:"jupyterhub"`
		}
		if err := yaml.Unmarshal([]byte(m[1]), &values); err != nil {
			t.Fatal(err)
		}
		for name, f := range values.JupyterHub.Hub.ExtraFiles {
			found = true
			if f.StringData != string(tmpl) {
				t.Errorf("extraFiles.%s is not service/hubtemplates/home.html:\n%s", name, cmp.Diff(string(tmpl), f.StringData))
			}
			if path.Base(f.MountPath) != "home.html" || !slices.Contains(values.JupyterHub.Hub.Config.JupyterHub.TemplatePaths, path.Dir(f.MountPath)) {
				t.Errorf("extraFiles.%s is mounted at %s, but the template paths are %v", name, f.MountPath, values.JupyterHub.Hub.Config.JupyterHub.TemplatePaths)
			}
		}
	}
	if !found {
		t.Fatal("docs/projects-service.md has no values with hub.extraFiles for the home page")
	}
}
