// Package hubtest starts a real JupyterHub for the projects service's tests: Debian's jupyterhub 3.0
// with its configurable-http-proxy, the dummy authenticator and the simple local spawner running
// jupyterhub-singleuser, all on loopback ports, configured by service/testdata/jupyterhub_config.py
// with the hub values that docs/projects-service.md tells operators to set.
//
// The projects service is registered as an external service whose URL is a listener of this package:
// tests set the handler behind it (SetService), or serve it themselves at ServiceAddr
// (Options.OwnListener). Browsers and scripts reach it through the proxy, at Origin+ServicePrefix.
//
// Enforce gives the service a Kubernetes client that allows only what the service's Role in
// manifests/projects-service.yaml allows (ServiceRole).
//
// Only tests import this package. It never prints a token: the hub's log is shown with every token
// the harness knows replaced.
package hubtest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// The Debian packages' programs (make deps installs them).
const (
	JupyterHub     = "/usr/bin/jupyterhub"
	Singleuser     = "/usr/bin/jupyterhub-singleuser"
	Proxy          = "/usr/bin/configurable-http-proxy"
	debianNodePath = "/usr/share/nodejs"
)

// ServiceName is the projects service's name in the documented values.
const ServiceName = "projects"

// Options say which hub to start.
type Options struct {
	// BaseURL is the hub's base_url ("/" when empty), e.g. "/jhub/".
	BaseURL string
	// Admins are hub admins (the user model's admin flag).
	Admins []string
	// Groups are groups of users (group → members), made at startup.
	Groups map[string][]string
	// Binder, when set, is served behind the proxy at {base}services/binder/, where BinderHub lives in
	// a BinderHub deployment.
	Binder http.Handler
	// OwnListener: the test serves the projects service itself at ServiceAddr (the harness does not
	// listen there).
	OwnListener bool
	// TemplatePaths are folders of hub templates (JupyterHub.template_paths), e.g. the one of
	// service/hubtemplates that puts the projects on the hub's home page.
	TemplatePaths []string
	// ServiceScopes are scopes the projects service's token gets beyond the documented values, with a
	// role of the harness's (e.g. list:services and read:services, for the Services menu).
	ServiceScopes []string
}

// Hub is a running JupyterHub.
type Hub struct {
	// Origin is the proxy's public origin, e.g. http://127.0.0.1:40123: what browsers use.
	Origin string
	// BaseURL is the hub's base_url, with slashes at both ends.
	BaseURL string
	// APIURL is the hub's REST API as the service reaches it (JUPYTERHUB_API_URL).
	APIURL string
	// ServicePrefix is the projects service's path behind the proxy, {base}services/projects/.
	ServicePrefix string
	// BinderURL is the BinderHub stand-in's public URL (Options.Binder), else empty.
	BinderURL string
	// ServiceToken is the projects service's api_token (JUPYTERHUB_API_TOKEN).
	ServiceToken string
	// Password logs any user in (the dummy authenticator's password).
	Password string
	// StartTime is how long the hub took from its start until it served.
	StartTime time.Duration

	opts         Options
	dir          string
	harnessToken string
	proxyToken   string
	ports        struct{ proxy, proxyAPI, hub int }
	serviceAddr  string
	serviceLn    net.Listener
	serviceSrv   *http.Server
	binderSrv    *http.Server
	values       json.RawMessage
	cmd          *exec.Cmd
	exited       chan struct{}
	log          *syncBuffer

	mu      sync.Mutex
	handler http.Handler
	secrets []string // tokens to hide in the log
}

// Installed reports which of the hub's programs are missing.
func Installed() error {
	var missing []string
	for _, p := range []string{JupyterHub, Singleuser, Proxy} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s missing: run `make deps` (hack/install-deps.sh installs Debian's jupyterhub, node-configurable-http-proxy and python3-notebook)", strings.Join(missing, ", "))
	}
	return nil
}

// New prepares a hub in dir (a fresh folder the caller removes): ports, tokens, the documented values.
// Start starts it.
func New(dir string, opts Options) (*Hub, error) {
	if err := Installed(); err != nil {
		return nil, err
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "/"
	}
	if !strings.HasPrefix(opts.BaseURL, "/") || !strings.HasSuffix(opts.BaseURL, "/") {
		return nil, fmt.Errorf("base URL %q must start and end with /", opts.BaseURL)
	}
	values, err := DocumentedHubValues()
	if err != nil {
		return nil, err
	}
	h := &Hub{
		BaseURL:       opts.BaseURL,
		ServicePrefix: opts.BaseURL + "services/" + ServiceName + "/",
		ServiceToken:  "svc-" + random(),
		Password:      "pw-" + random(),
		opts:          opts,
		dir:           dir,
		harnessToken:  "harness-" + random(),
		proxyToken:    "proxy-" + random(),
		values:        values,
		exited:        make(chan struct{}),
		log:           &syncBuffer{},
	}
	h.secrets = []string{h.ServiceToken, h.Password, h.harnessToken, h.proxyToken}
	for _, p := range []*int{&h.ports.proxy, &h.ports.proxyAPI, &h.ports.hub} {
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	h.Origin = "http://127.0.0.1:" + strconv.Itoa(h.ports.proxy)
	h.APIURL = "http://127.0.0.1:" + strconv.Itoa(h.ports.hub) + opts.BaseURL + "hub/api"

	h.serviceLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.serviceAddr = h.serviceLn.Addr().String()
	if opts.OwnListener {
		h.serviceLn.Close()
		h.serviceLn = nil
	}
	return h, nil
}

// ServiceAddr is where the hub's proxy sends {base}services/projects/.
func (h *Hub) ServiceAddr() string { return h.serviceAddr }

// ServiceEnv is the environment an operator gives the projects service (manifests/projects-service.yaml):
// its token, the hub's API, its name and the hub's base URL. JUPYTERHUB_SERVICE_PREFIX is left out on
// purpose: the service derives it from the name and the base URL, as JupyterHub does.
func (h *Hub) ServiceEnv() map[string]string {
	return map[string]string{
		"JUPYTERHUB_API_TOKEN":    h.ServiceToken,
		"JUPYTERHUB_API_URL":      h.APIURL,
		"JUPYTERHUB_SERVICE_NAME": ServiceName,
		"JUPYTERHUB_BASE_URL":     h.BaseURL,
	}
}

// SetService puts handler behind the projects service's URL (until the next SetService). Without one,
// the service answers 503.
func (h *Hub) SetService(handler http.Handler) {
	h.mu.Lock()
	h.handler = handler
	h.mu.Unlock()
}

// HideSecret keeps s (a token a test made) out of the log Log returns.
func (h *Hub) HideSecret(s string) {
	h.mu.Lock()
	h.secrets = append(h.secrets, s)
	h.mu.Unlock()
}

// Start runs the hub and waits until it serves (at most a minute).
func (h *Hub) Start() error {
	if h.serviceLn != nil {
		h.serviceSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			handler := h.handler
			h.mu.Unlock()
			if handler == nil {
				http.Error(w, "no projects service in this test", http.StatusServiceUnavailable)
				return
			}
			handler.ServeHTTP(w, r)
		}), ReadHeaderTimeout: 10 * time.Second}
		go h.serviceSrv.Serve(h.serviceLn)
	}
	var binderURL string
	if h.opts.Binder != nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		h.binderSrv = &http.Server{Handler: h.opts.Binder, ReadHeaderTimeout: 10 * time.Second}
		go h.binderSrv.Serve(l)
		binderURL = "http://" + l.Addr().String()
		h.BinderURL = h.Origin + h.BaseURL + "services/binder/"
	}

	config, err := testdataFile("jupyterhub_config.py")
	if err != nil {
		return err
	}
	admins, _ := json.Marshal(append([]string{}, h.opts.Admins...))
	templates, _ := json.Marshal(append([]string{}, h.opts.TemplatePaths...))
	serviceScopes, _ := json.Marshal(append([]string{}, h.opts.ServiceScopes...))
	groups, _ := json.Marshal(h.opts.Groups)
	if h.opts.Groups == nil {
		groups = []byte("{}")
	}
	env := []string{
		// Debian's programs, not whatever else is on the PATH (a pyenv python, another node).
		"PATH=/usr/bin:/bin",
		// Debian's configurable-http-proxy finds its modules here; the machines' Node.js is not Debian's
		// and does not look there on its own.
		"NODE_PATH=" + debianNodePath,
		"HOME=" + h.dir,
		"LANG=C.UTF-8",
		"CONFIGPROXY_AUTH_TOKEN=" + h.proxyToken,
		"BINDER_PROJECTS_HUB_STATE=" + h.dir,
		"BINDER_PROJECTS_HUB_BASE_URL=" + h.BaseURL,
		"BINDER_PROJECTS_HUB_VALUES=" + string(h.values),
		"BINDER_PROJECTS_HUB_PROXY_PORT=" + strconv.Itoa(h.ports.proxy),
		"BINDER_PROJECTS_HUB_PROXY_API_PORT=" + strconv.Itoa(h.ports.proxyAPI),
		"BINDER_PROJECTS_HUB_PORT=" + strconv.Itoa(h.ports.hub),
		"BINDER_PROJECTS_HUB_PASSWORD=" + h.Password,
		"BINDER_PROJECTS_HUB_ADMINS=" + string(admins),
		"BINDER_PROJECTS_HUB_GROUPS=" + string(groups),
		"BINDER_PROJECTS_HUB_TEMPLATE_PATHS=" + string(templates),
		"BINDER_PROJECTS_HUB_SERVICE_NAME=" + ServiceName,
		"BINDER_PROJECTS_HUB_SERVICE_TOKEN=" + h.ServiceToken,
		"BINDER_PROJECTS_HUB_SERVICE_SCOPES=" + string(serviceScopes),
		"BINDER_PROJECTS_HUB_SERVICE_URL=http://" + h.serviceAddr,
		"BINDER_PROJECTS_HUB_HARNESS_TOKEN=" + h.harnessToken,
		"BINDER_PROJECTS_HUB_BINDER_URL=" + binderURL,
	}
	h.cmd = exec.Command(JupyterHub, "-f", config)
	h.cmd.Dir = h.dir
	h.cmd.Env = env
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	// Its own process group: the proxy and the servers it starts go with it in Close.
	// If the test binary dies (a timeout), the hub gets SIGTERM and stops its proxy and servers.
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	began := time.Now()
	if err := h.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", JupyterHub, err)
	}
	go func() {
		h.cmd.Wait()
		close(h.exited)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if strings.Contains(h.log.String(), "JupyterHub is now running") {
			if resp, err := http.Get(h.Origin + h.BaseURL + "hub/api/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		select {
		case <-h.exited:
			return fmt.Errorf("JupyterHub exited at start (%v); its log:\n%s", h.cmd.ProcessState, h.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JupyterHub did not serve within a minute; its log:\n%s", h.Log())
		}
	}
	h.StartTime = time.Since(began)
	return nil
}

// Close stops the hub (it stops its servers and its proxy), then anything left of its process group.
func (h *Hub) Close() {
	if h.cmd != nil && h.cmd.Process != nil {
		h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(20 * time.Second):
		}
		// The group we started: the hub, its proxy and its servers, by the hub's process id.
		syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.exited
	}
	if h.serviceSrv != nil {
		h.serviceSrv.Close()
	}
	if h.binderSrv != nil {
		h.binderSrv.Close()
	}
}

// Log is the hub's and the proxy's output so far, with every known token replaced by [secret].
func (h *Hub) Log() string {
	s := h.log.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, secret := range h.secrets {
		s = strings.ReplaceAll(s, secret, "[secret]")
	}
	return s
}

// LogTail is the last n lines of Log.
func (h *Hub) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(h.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// API calls the hub's REST API as the harness (a service with admin:users, admin:servers, tokens and
// admin:groups) and decodes a JSON answer into out (when not nil). It returns the status.
func (h *Hub) API(method, path string, body, out any) (int, error) {
	return h.APIAs(h.harnessToken, method, path, body, out)
}

// APIAs calls the hub's REST API with token.
func (h *Hub) APIAs(token, method, path string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.APIURL+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// userPath is the API path of a user, path-escaped.
func userPath(user string) string { return "/users/" + url.PathEscape(user) }

// EnsureUser makes the hub user if it does not exist yet.
func (h *Hub) EnsureUser(user string) error {
	status, err := h.API(http.MethodPost, userPath(user), map[string]any{}, nil)
	if status == http.StatusConflict {
		return nil
	}
	return err
}

// Token makes an API token of user (making the user first if needed), as the user would on the hub's
// token page. Without scopes, the token has all the user's permissions; with them, only those.
func (h *Hub) Token(user string, scopes ...string) (string, error) {
	if err := h.EnsureUser(user); err != nil {
		return "", err
	}
	body := map[string]any{"note": "binder-projects test"}
	if len(scopes) > 0 {
		body["scopes"] = scopes
	}
	var reply struct {
		Token string `json:"token"`
	}
	if _, err := h.API(http.MethodPost, userPath(user)+"/tokens", body, &reply); err != nil {
		return "", err
	}
	if reply.Token == "" {
		return "", errors.New("the hub made no token")
	}
	h.HideSecret(reply.Token)
	return reply.Token, nil
}

// Server is a user's server as the hub's user model shows it (read:servers).
type Server struct {
	Name    string  `json:"name"`
	Ready   bool    `json:"ready"`
	Pending *string `json:"pending"`
	Stopped bool    `json:"stopped"`
	URL     string  `json:"url"`
}

// Servers are user's active servers (the user model's servers field).
func (h *Hub) Servers(user string) (map[string]Server, error) {
	var model struct {
		Servers map[string]Server `json:"servers"`
	}
	_, err := h.API(http.MethodGet, userPath(user), nil, &model)
	return model.Servers, err
}

// StartServer starts user's default server and waits until the hub says it is ready.
func (h *Hub) StartServer(user string) error {
	if err := h.EnsureUser(user); err != nil {
		return err
	}
	if _, err := h.API(http.MethodPost, userPath(user)+"/server", map[string]any{}, nil); err != nil {
		return err
	}
	return h.waitServer(user, func(s map[string]Server) bool { return s[""].Ready })
}

// StopServer stops user's default server and waits until the hub no longer lists it.
func (h *Hub) StopServer(user string) error {
	status, err := h.API(http.MethodDelete, userPath(user)+"/server", nil, nil)
	if err != nil && status != http.StatusBadRequest { // 400: not running
		return err
	}
	return h.waitServer(user, func(s map[string]Server) bool { _, ok := s[""]; return !ok })
}

func (h *Hub) waitServer(user string, done func(map[string]Server) bool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := h.Servers(user)
		if err != nil {
			return err
		}
		if done(s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s's server: still %+v after a minute; the hub's log:\n%s", user, s, h.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DocumentedHubValues is the `jupyterhub.hub` part of the chart values in docs/projects-service.md (its
// first YAML block that starts with "jupyterhub:"), as JSON.
func DocumentedHubValues() (json.RawMessage, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	doc := filepath.Join(root, "docs", "projects-service.md")
	b, err := os.ReadFile(doc)
	if err != nil {
		return nil, err
	}
	block, ok := firstValuesBlock(string(b))
	if !ok {
		return nil, fmt.Errorf("%s has no ```yaml block that starts with jupyterhub:", doc)
	}
	var values struct {
		JupyterHub struct {
			Hub json.RawMessage `json:"hub"`
		} `json:"jupyterhub"`
	}
	if err := yaml.UnmarshalStrict([]byte(block), &values); err != nil {
		return nil, fmt.Errorf("the values in %s: %w", doc, err)
	}
	if len(values.JupyterHub.Hub) == 0 {
		return nil, fmt.Errorf("the values in %s have no jupyterhub.hub", doc)
	}
	return values.JupyterHub.Hub, nil
}

var fence = regexp.MustCompile("(?m)^```yaml\n(jupyterhub:\n(?s:.*?))^```")

func firstValuesBlock(doc string) (string, bool) {
	m := fence.FindStringSubmatch(doc)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// testdataFile is the path of service/testdata/<name>.
func testdataFile(name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "service", "testdata", name)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// moduleRoot is the folder of go.mod above the working directory (a test runs in its package's folder).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func random() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects the hub's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines counts the lines of the log that contain s (for tests that look for one of the hub's messages).
func (h *Hub) Lines(s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(h.Log()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}
