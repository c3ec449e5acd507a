package service

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"k8s.io/apimachinery/pkg/util/cache"

	"github.com/binder-projects/binder-projects/projects"
)

// HubUser is the part of JupyterHub's user model (GET /hub/api/user) the service uses: who the
// token's owner is, and the token's own scopes (expanded, as JupyterHub lists them). What a token may
// do here depends on its scopes alone; the model's admin flag (which every token may read of its own
// user) only shows the hub's Admin link in the navigation bar, as the hub's pages show it.
type HubUser struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Admin  bool     `json:"admin"`
	Scopes []string `json:"scopes"`
}

// Errors of the hub client; match them with errors.Is.
var (
	// errBadToken: the hub does not accept the token (it answered 401 or 403).
	errBadToken = errors.New("JupyterHub does not accept this token")
	// errHubUnreachable: the hub could not be asked, or answered with a server error.
	errHubUnreachable = errors.New("JupyterHub cannot be reached")
	// errOAuth: the hub refused to exchange an OAuth code.
	errOAuth = errors.New("JupyterHub refused the OAuth code")
)

// hubClient talks to the hub's REST API (JUPYTERHUB_API_URL): it resolves tokens to users, with a
// short cache, and exchanges OAuth codes for tokens. Tokens are never logged or put in errors.
type hubClient struct {
	apiURL   string // without a trailing slash, e.g. http://hub:8081/hub/api
	clientID string
	// oauth is the service's OAuth client: the hub's public authorize URL (for browsers), its token
	// URL (for the service), the client id, the service's API token as the client secret and the
	// registered redirect_uri.
	oauth *oauth2.Config
	http  *http.Client
	ttl   time.Duration
	// users remembers whose each token is (keyed by the token's SHA-256, never the token) for ttl: the
	// maxCachedTokens used most recently.
	users *cache.LRUExpireCache
}

// maxCachedTokens bounds the token cache; beyond it, the token used least recently is forgotten.
const maxCachedTokens = 10000

// newTokenCache is an empty token cache of at most max tokens, on the clock now.
func newTokenCache(max int, now func() time.Time) *cache.LRUExpireCache {
	return cache.NewLRUExpireCacheWithClock(max, clockFunc(now))
}

// clockFunc is a function as the token cache's clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// userForToken resolves token with GET {api}/user, from the cache when it was resolved less than
// ttl ago, unless fresh. Failures are not cached, and a refused token is forgotten.
func (h *hubClient) userForToken(ctx context.Context, token string, fresh bool) (HubUser, error) {
	key := sha256.Sum256([]byte(token))
	if !fresh {
		if u, ok := h.users.Get(key); ok {
			return u.(HubUser), nil
		}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.apiURL+"/user", nil)
	if err != nil {
		return HubUser{}, err
	}
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Accept", "application/json")
	var u HubUser
	if err := h.do(req, &u); err != nil {
		if errors.Is(err, errBadToken) {
			h.forget(token)
		}
		return HubUser{}, err
	}
	if u.Name == "" {
		return HubUser{}, fmt.Errorf("%w: GET %s/user returned no user name", errHubUnreachable, h.apiURL)
	}
	h.users.Add(key, u, h.ttl)
	return u, nil
}

// forget drops a token from the cache (after a logout).
func (h *hubClient) forget(token string) {
	h.users.Remove(sha256.Sum256([]byte(token)))
}

// tokenForCode exchanges an OAuth authorization code at {api}/oauth2/token (golang.org/x/oauth2),
// authenticating as the service's OAuth client: client_id, and the service's API token as
// client_secret, in the form, as JupyterHub's HubOAuth does.
func (h *hubClient) tokenForCode(ctx context.Context, code string) (string, error) {
	tok, err := h.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, h.http), code)
	var refused *oauth2.RetrieveError
	switch {
	case errors.As(err, &refused) && refused.Response != nil && refused.Response.StatusCode < 500:
		// The hub's answer names no secret: an OAuth error code, or a status.
		return "", fmt.Errorf("%w: %s %s (is the service's client id %q and its API token the ones registered in hub.services?)",
			errOAuth, refused.Response.Status, refused.ErrorCode, h.clientID)
	case errors.As(err, &refused) && refused.Response != nil:
		return "", fmt.Errorf("%w: POST %s/oauth2/token: %s", errHubUnreachable, h.apiURL, refused.Response.Status)
	case err != nil:
		return "", fmt.Errorf("%w: %v", errHubUnreachable, err)
	}
	return tok.AccessToken, nil
}

// do sends req and decodes a 200 JSON answer into out. 400, 401 and 403 are errBadToken (the hub's
// way of refusing a token or a code); anything else that is not 200 is errHubUnreachable.
func (h *hubClient) do(req *http.Request, out any) error {
	resp, err := h.http.Do(req)
	if err != nil {
		// The URL error holds no secret: tokens travel in headers and bodies only.
		return fmt.Errorf("%w: %v", errHubUnreachable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: reading %s %s: %v", errHubUnreachable, req.Method, req.URL.Path, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusBadRequest, resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (%s %s: %s)", errBadToken, req.Method, req.URL.Path, resp.Status)
	default:
		return fmt.Errorf("%w: %s %s: %s", errHubUnreachable, req.Method, req.URL.Path, resp.Status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s %s: not JSON: %v", errHubUnreachable, req.Method, req.URL.Path, err)
	}
	return nil
}

// hasAccess reports whether the user model's scopes grant access to the service: one of the access
// scopes, or their unfiltered form (e.g. "access:services" covers "access:services!service=projects"),
// as JupyterHub's own HubAuth.check_scopes decides.
func hasAccess(u HubUser, access []string) bool {
	for _, want := range access {
		base, _, _ := strings.Cut(want, "!")
		if slices.Contains(u.Scopes, want) || slices.Contains(u.Scopes, base) {
			return true
		}
	}
	return false
}

// errNoServersScope: the service's own token may not read users' servers.
var errNoServersScope = errors.New("the service's token may not read users' servers (scope read:servers): give the service the projects-service role of docs/projects-service.md in hub.loadRoles")

// HubServers is the projects.Servers of the service: it asks the hub, with the service's own token,
// which servers a user has (GET {api}/users/{name}, the model's servers field, which JupyterHub fills
// for a token with the scope read:servers: every server that is starting, running or stopping).
func HubServers(cfg Config) projects.Servers {
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	return &hubServers{apiURL: strings.TrimRight(cfg.HubAPIURL, "/"), token: cfg.APIToken, http: c}
}

type hubServers struct {
	apiURL string
	token  string
	http   *http.Client
}

// Active implements projects.Servers.
func (h *hubServers) Active(ctx context.Context, user string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.apiURL+"/users/"+url.PathEscape(user), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+h.token)
	req.Header.Set("Accept", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errHubUnreachable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading GET %s: %v", errHubUnreachable, req.URL.Path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil // not a hub user (any more): no server
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w (GET %s: %s)", errNoServersScope, req.URL.Path, resp.Status)
	default:
		return nil, fmt.Errorf("%w: GET %s: %s", errHubUnreachable, req.URL.Path, resp.Status)
	}
	var model struct {
		Servers map[string]json.RawMessage `json:"servers"`
	}
	if err := json.Unmarshal(body, &model); err != nil {
		return nil, fmt.Errorf("%w: GET %s: not JSON: %v", errHubUnreachable, req.URL.Path, err)
	}
	if model.Servers == nil {
		// JupyterHub leaves the field out when the token may not read servers.
		return nil, fmt.Errorf("%w (GET %s has no servers field)", errNoServersScope, req.URL.Path)
	}
	names := make([]string, 0, len(model.Servers))
	for name := range model.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}
