// Package service is the projects service: a JupyterHub external service, reached at
// /services/<name>/ through the hub's proxy, that shows a user their projects and how full their
// storage is, deletes, restores and launches projects on BinderHub.
//
//	GET    {prefix}                                    the projects page (browser; OAuth with the hub;
//	                                                   ?embed=1: for a frame in the hub's home page)
//	GET    {prefix}oauth_callback                      the end of the hub's OAuth flow
//	GET    {prefix}api/users/{user}/projects           the user's projects (JSON list of projects.Listed;
//	                                                   those that can be read, and a "Warning: 299" header
//	                                                   for each claim with an entry that cannot)
//	GET    {prefix}api/users/{user}/projects/{folder}  one project (the same Warning header)
//	DELETE {prefix}api/users/{user}/projects/{folder}  delete it: 204, or 409 while the hub lists a
//	                                                   server of the user (202: one started meanwhile)
//	POST   {prefix}api/users/{user}/projects/{folder}/update  queue an update of it for its next
//	                                                   launch: 202 (docs/updates.md)
//	GET    {prefix}api/users/{user}/usage              how full the user's storage is, as last measured
//	                                                   (404 before a measure), with a warning from 90 %
//	GET    {prefix}api/users/{user}/trash              the recently deleted projects (JSON list of
//	                                                   projects.ListedTrash), most recently deleted first
//	GET    {prefix}api/users/{user}/trash/{id}/{folder}  one of them ({id}: projects.ListedTrash.ID)
//	DELETE {prefix}api/users/{user}/trash/{id}/{folder}  delete it for good at the next server start: 202
//	POST   {prefix}api/users/{user}/trash/{id}/{folder}/restore  restore it: 200 when its deletion was
//	                                                   still queued and is taken back, else 202 (at the
//	                                                   next server start)
//	GET    /healthz                                    liveness and readiness (no authentication)
//
// Identity comes from JupyterHub: scripts send "Authorization: token <JupyterHub token>" (or
// "Bearer"), which the service resolves with GET {JUPYTERHUB_API_URL}/user; browsers go through the
// hub's OAuth authorization-code flow and then hold an encrypted session cookie. A user sees, deletes
// and restores only their own projects; a token with the scope custom:projects:admin (AdminScope)
// anyone's. Errors
// are real HTTP status codes with a JSON body {"status": N, "message": "..."}.
package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/oauth2"

	"github.com/binder-projects/binder-projects/projects"
)

// Config is the service's configuration. FromEnv fills the hub's part from the environment JupyterHub
// gives a service.
type Config struct {
	// Store holds the users' projects.
	Store projects.Store

	// HubAPIURL is the hub's REST API as the service reaches it (JUPYTERHUB_API_URL), e.g.
	// http://hub:8081/hub/api.
	HubAPIURL string
	// APIToken is the service's own API token (JUPYTERHUB_API_TOKEN): it is the OAuth client secret,
	// and the cookie keys are derived from it.
	APIToken string
	// ServiceName is the service's name in hub.services (JUPYTERHUB_SERVICE_NAME).
	ServiceName string
	// Prefix is the service's URL path prefix, with a trailing slash (JUPYTERHUB_SERVICE_PREFIX),
	// e.g. /services/projects/; by default {HubBaseURL}services/{ServiceName}/, as JupyterHub sets it.
	Prefix string
	// HubBaseURL is the hub's public base path (JUPYTERHUB_BASE_URL; JupyterHub's base_url), "/" on
	// z2jh unless hub.baseUrl is set.
	HubBaseURL string
	// HubHost is the hub's public origin, when browsers reach it on another one than the service
	// (JUPYTERHUB_HOST); empty: the same origin, as behind the hub's proxy.
	HubHost string
	// ClientID is the service's OAuth client id (JUPYTERHUB_CLIENT_ID; JupyterHub's default is
	// service-<name>).
	ClientID string
	// CallbackURL is the OAuth redirect_uri registered for the service (JUPYTERHUB_OAUTH_CALLBACK_URL;
	// JupyterHub's default is {prefix}oauth_callback).
	CallbackURL string
	// AccessScopes are the scopes that grant access to the service (JUPYTERHUB_OAUTH_ACCESS_SCOPES, a
	// JSON list; default access:services!service=<name>). A token without one is refused (403), as
	// JupyterHub's own service authentication does.
	AccessScopes []string

	// BinderHubURL is BinderHub's public URL (its launch links are {BinderHubURL}v2/...), e.g.
	// https://notebooks.example.org/services/binder/.
	BinderHubURL string
	// TrashDays is how many days a deleted project stays in the trash on the user's volume before it
	// goes for good (the webhook's --trash-days; 0: a deletion deletes at once), to say when a
	// recently deleted project goes.
	TrashDays int

	// ExpireAfter is serve's --expire-projects-after: a project not used for that long is deleted by the
	// expiry controller (projects.Project.ExpiresAt says when), which the page tells users before it
	// happens. 0: projects never expire.
	ExpireAfter time.Duration

	// HTTPClient talks to the hub (http.DefaultClient with a timeout when nil).
	HTTPClient *http.Client
	// TokenCacheTTL is how long a token's user is remembered (default one minute).
	TokenCacheTTL time.Duration
	// Log receives errors and decisions; never tokens.
	Log logr.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Environment variables JupyterHub sets for a service (and an operator sets for an external one).
const (
	EnvAPIToken      = "JUPYTERHUB_API_TOKEN"
	EnvAPIURL        = "JUPYTERHUB_API_URL"
	EnvServiceName   = "JUPYTERHUB_SERVICE_NAME"
	EnvServicePrefix = "JUPYTERHUB_SERVICE_PREFIX"
	EnvBaseURL       = "JUPYTERHUB_BASE_URL"
	EnvHost          = "JUPYTERHUB_HOST"
	EnvClientID      = "JUPYTERHUB_CLIENT_ID"
	EnvCallbackURL   = "JUPYTERHUB_OAUTH_CALLBACK_URL"
	EnvAccessScopes  = "JUPYTERHUB_OAUTH_ACCESS_SCOPES"
)

// FromEnv reads the hub's part of the configuration with getenv (os.Getenv when nil). Missing values
// get JupyterHub's defaults; the token and the API URL have none.
func FromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Config{
		APIToken:    getenv(EnvAPIToken),
		HubAPIURL:   getenv(EnvAPIURL),
		ServiceName: getenv(EnvServiceName),
		Prefix:      getenv(EnvServicePrefix),
		HubBaseURL:  getenv(EnvBaseURL),
		HubHost:     getenv(EnvHost),
		ClientID:    getenv(EnvClientID),
		CallbackURL: getenv(EnvCallbackURL),
	}
	if s := getenv(EnvAccessScopes); s != "" {
		if err := json.Unmarshal([]byte(s), &c.AccessScopes); err != nil {
			return Config{}, fmt.Errorf("%s is not a JSON list of scopes: %v", EnvAccessScopes, err)
		}
	}
	var missing []string
	if c.APIToken == "" {
		missing = append(missing, EnvAPIToken+" (the service's api_token from hub.services)")
	}
	if c.HubAPIURL == "" {
		missing = append(missing, EnvAPIURL+" (the hub's API, e.g. http://hub:8081/hub/api)")
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("missing environment: %s; JupyterHub sets these for the services it runs, "+
			"an external service (hub.services.<name> with a url) needs them set in its Deployment", strings.Join(missing, ", "))
	}
	return c, nil
}

// withDefaults fills what JupyterHub would have defaulted and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, errors.New("the service needs a projects store")
	}
	if c.APIToken == "" {
		return c, fmt.Errorf("the service needs its JupyterHub API token (%s)", EnvAPIToken)
	}
	u, err := url.Parse(c.HubAPIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("%s=%q is not an http(s) URL", EnvAPIURL, c.HubAPIURL)
	}
	c.HubAPIURL = strings.TrimRight(c.HubAPIURL, "/")
	if c.HubBaseURL == "" {
		c.HubBaseURL = "/"
	}
	if !strings.HasPrefix(c.HubBaseURL, "/") {
		return c, fmt.Errorf("%s=%q must be a path starting with /", EnvBaseURL, c.HubBaseURL)
	}
	if !strings.HasSuffix(c.HubBaseURL, "/") {
		c.HubBaseURL += "/"
	}
	if c.Prefix == "" {
		if c.ServiceName == "" {
			return c, fmt.Errorf("the service needs %s or %s", EnvServicePrefix, EnvServiceName)
		}
		// Where JupyterHub puts every service: below the hub's base URL.
		c.Prefix = c.HubBaseURL + "services/" + c.ServiceName + "/"
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		return c, fmt.Errorf("%s=%q must be a path starting with /", EnvServicePrefix, c.Prefix)
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.ServiceName == "" {
		// /services/<name>/ is where JupyterHub puts every service.
		parts := strings.Split(strings.Trim(c.Prefix, "/"), "/")
		c.ServiceName = parts[len(parts)-1]
	}
	c.HubHost = strings.TrimRight(c.HubHost, "/")
	if c.ClientID == "" {
		c.ClientID = "service-" + c.ServiceName
	}
	if c.CallbackURL == "" {
		c.CallbackURL = c.Prefix + "oauth_callback"
	}
	if len(c.AccessScopes) == 0 {
		c.AccessScopes = []string{"access:services!service=" + c.ServiceName}
	}
	if c.BinderHubURL != "" && !strings.HasSuffix(c.BinderHubURL, "/") {
		c.BinderHubURL += "/"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if c.TokenCacheTTL <= 0 {
		c.TokenCacheTTL = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Server is the service's http.Handler.
type Server struct {
	cfg  Config
	hub  *hubClient
	seal *sealer
	log  logr.Logger
	mux  *http.ServeMux
	// cross refuses state-changing browser requests from other origins (Sec-Fetch-Site, else Origin).
	cross *http.CrossOriginProtection
	// services is the hub's Services menu, for the navigation bar.
	services servicesMenu
}

// New makes the service.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(cfg.APIToken)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		seal:  seal,
		log:   cfg.Log,
		cross: http.NewCrossOriginProtection(),
		hub: &hubClient{
			apiURL:   cfg.HubAPIURL,
			clientID: cfg.ClientID,
			oauth: &oauth2.Config{
				ClientID:     cfg.ClientID,
				ClientSecret: cfg.APIToken,
				RedirectURL:  cfg.CallbackURL,
				Endpoint: oauth2.Endpoint{
					// Browsers go here: the hub's public URL (the same origin, unless JUPYTERHUB_HOST).
					AuthURL: cfg.HubHost + cfg.HubBaseURL + "hub/api/oauth2/authorize",
					// The service goes here: the hub's API as it reaches it.
					TokenURL:  cfg.HubAPIURL + "/oauth2/token",
					AuthStyle: oauth2.AuthStyleInParams,
				},
			},
			http:  cfg.HTTPClient,
			ttl:   cfg.TokenCacheTTL,
			users: newTokenCache(maxCachedTokens, cfg.Now),
		},
	}
	s.routes()
	return s, nil
}

// routes are the service's pages and API, with net/http's patterns: the path values are unescaped
// segments (a user name with an escaped "/" stays one), and a GET route answers HEAD too. Every path
// also has a route without a method, which answers another method with 405 and the Allow header, and
// "/" answers 404: both in the API's JSON, not the mux's plain text.
func (s *Server) routes() {
	p := s.cfg.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc(strings.TrimSuffix(p, "/"), func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, p, http.StatusFound)
	})
	mux.HandleFunc("GET "+p+"{$}", s.page)
	mux.HandleFunc(p+"{$}", notAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("GET "+p+"oauth_callback", s.oauthCallback)
	mux.HandleFunc(p+"oauth_callback", notAllowed(http.MethodGet, http.MethodHead))
	projects := p + "api/users/{user}/projects"
	mux.HandleFunc("GET "+projects, func(w http.ResponseWriter, r *http.Request) {
		s.listProjects(w, r, r.PathValue("user"))
	})
	mux.HandleFunc(projects, notAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("GET "+projects+"/{folder}", func(w http.ResponseWriter, r *http.Request) {
		s.getProject(w, r, r.PathValue("user"), r.PathValue("folder"))
	})
	mux.HandleFunc("DELETE "+projects+"/{folder}", func(w http.ResponseWriter, r *http.Request) {
		s.deleteProject(w, r, r.PathValue("user"), r.PathValue("folder"))
	})
	mux.HandleFunc(projects+"/{folder}", notAllowed(http.MethodGet, http.MethodHead, http.MethodDelete))
	mux.HandleFunc("POST "+projects+"/{folder}/update", func(w http.ResponseWriter, r *http.Request) {
		s.updateProject(w, r, r.PathValue("user"), r.PathValue("folder"))
	})
	mux.HandleFunc(projects+"/{folder}/update", notAllowed(http.MethodPost))
	mux.HandleFunc("GET "+p+"api/users/{user}/usage", func(w http.ResponseWriter, r *http.Request) {
		s.getUsage(w, r, r.PathValue("user"))
	})
	mux.HandleFunc(p+"api/users/{user}/usage", notAllowed(http.MethodGet, http.MethodHead))
	trash := p + "api/users/{user}/trash"
	mux.HandleFunc("GET "+trash, func(w http.ResponseWriter, r *http.Request) {
		s.listTrash(w, r, r.PathValue("user"))
	})
	mux.HandleFunc(trash, notAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("GET "+trash+"/{id}/{folder}", func(w http.ResponseWriter, r *http.Request) {
		s.getTrashed(w, r, r.PathValue("user"), r.PathValue("id"), r.PathValue("folder"))
	})
	mux.HandleFunc("DELETE "+trash+"/{id}/{folder}", func(w http.ResponseWriter, r *http.Request) {
		s.purgeTrashed(w, r, r.PathValue("user"), r.PathValue("id"), r.PathValue("folder"))
	})
	mux.HandleFunc(trash+"/{id}/{folder}", notAllowed(http.MethodGet, http.MethodHead, http.MethodDelete))
	mux.HandleFunc("POST "+trash+"/{id}/{folder}/restore", func(w http.ResponseWriter, r *http.Request) {
		s.restoreTrashed(w, r, r.PathValue("user"), r.PathValue("id"), r.PathValue("folder"))
	})
	mux.HandleFunc(trash+"/{id}/{folder}/restore", notAllowed(http.MethodPost))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, p) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("nothing here: the projects service answers under %s", p))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such page or API route: %s (the API is %[2]sapi/users/{user}/projects[/{folder}], %[2]sapi/users/{user}/trash[/{id}/{folder}] and %[2]sapi/users/{user}/usage)", r.URL.Path, p))
	})
	s.mux = mux
}

// Prefix is the path prefix the service answers under.
func (s *Server) Prefix() string { return s.cfg.Prefix }

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error(fmt.Errorf("%v", v), "panic serving a request", "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusInternalServerError, "internal error; the service's log has the details")
		}
	}()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// notAllowed answers 405 with an Allow header that lists methods.
func notAllowed(methods ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here; use %s", r.Method, strings.Join(methods, " or ")))
	}
}

// apiError is the JSON body of every error answer, as JupyterHub's own API writes them.
type apiError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, apiError{Status: status, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"status": 500, "message": "encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
