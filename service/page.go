package service

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"shortCommit": func(c string) string {
		if len(c) == 40 {
			return c[:12]
		}
		return c
	},
	"isoTime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"humanTime": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2 Jan 2006, 15:04 UTC")
	},
	"humanDay": func(t time.Time) string {
		return t.UTC().Format("2 Jan 2006")
	},
	"humanBytes": projects.HumanBytes,
	"days":       days,
	"linkable":   linkable,
	"inc":        func(n int) int { return n + 1 },
	// A start restores and purges so many, the oldest asked for first (ListedTrash.StartsBefore).
	"restoresPerStart": func() int { return contract.MaxRestoresPerStart },
	"purgesPerStart":   func() int { return contract.MaxPurgesPerStart },
}).Parse(pageHTML))

// linkable reports whether the page links a repository URL: http and https URLs only. Any other
// (javascript:, data:, an ssh or scp-like git URL, a bare host) is shown as text: html/template would
// turn it into a link to #ZgotmplZ.
func linkable(repoURL string) bool {
	u := strings.ToLower(repoURL)
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

// pageProject is a table row.
type pageProject struct {
	projects.Listed
	LaunchURL string
	// LatestURL launches the repository's latest commit (its default branch), where an update
	// asked for on the page is carried out.
	LatestURL string
	// Expiry says when the project is removed unless launched, when that is soon (expiryNote).
	Expiry string
}

// pageScript is what the page's script gets (html/template writes it as a JavaScript object).
type pageScript struct {
	Prefix    string `json:"prefix"`
	HubHome   string `json:"hubHome"`
	User      string `json:"user"`
	Me        string `json:"me"`
	XSRF      string `json:"xsrf"`
	BinderHub string `json:"binderhub"`
	Embed     bool   `json:"embed"`
	// TrashDays: a deleted project can be restored for that many days (0: there is no trash).
	TrashDays int `json:"trashDays"`
}

type pageData struct {
	Title string
	Nonce string
	// Embed: the page in a frame of the hub's home page.
	Embed bool
	// Hub is the hub's pages' base, {host}{base URL}hub/, for the navigation bar; Prefix the service's.
	Hub    string
	Prefix string
	Me     string
	// Nav is the navigation bar's Admin link and Services menu (nav.go).
	Nav hubNav
	// ManagesAll: the token may manage every user's projects (AdminScope).
	ManagesAll bool
	User       string
	// Whose is "your", or "bitnik's" for a projects admin on bitnik's page.
	Whose    string
	Projects []pageProject
	// Unreadable says what of the projects could not be read (unreadableNote), "" when all could.
	Unreadable string
	// Usage is how full the user's storage is, nil before it was measured.
	Usage *storageUsage
	// Trash are the recently deleted projects; TrashDays how long they are kept (0: there is no
	// trash, and the page has no Recently deleted). TrashUnreadable is the unreadableNote of them.
	Trash           []projects.ListedTrash
	TrashDays       int
	TrashUnreadable string
	// ExpireAfter is how long an unused project is kept, in words ("" when projects do not expire).
	ExpireAfter  string
	BinderHubURL string
	Script       pageScript
	// Status and Message make the error page.
	Status  int
	Message string
}

// page serves the projects page: the logged-in user's projects (a projects admin may add ?user=NAME),
// and the launch form. A browser without a session is sent through the hub's OAuth flow.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	id, aerr := s.authenticate(r, true)
	// ?embed=1: the page without the navigation bar, for a frame in the hub's home page
	// (service/hubtemplates/home.html); only then may the hub's origin frame it.
	embed := r.URL.Query().Get("embed") == "1"
	if aerr != nil {
		if aerr.status == http.StatusUnauthorized {
			if aerr.clearSession {
				s.endSession(w, r)
			}
			s.login(w, r)
			return
		}
		s.errorPage(w, embed, aerr.status, aerr.message)
		return
	}
	user := id.Name
	if u := r.URL.Query().Get("user"); u != "" {
		user = u
	}
	if aerr := authorize(id, user); aerr != nil {
		s.errorPage(w, embed, aerr.status, aerr.message)
		return
	}
	list, storages, err := s.cfg.Store.Read(r.Context(), user)
	unreadable, err := s.unreadable(err, user, "projects or storage records")
	if err != nil {
		s.log.Error(err, "listing the projects of a user", "user", user)
		s.errorPage(w, embed, http.StatusInternalServerError, fmt.Sprintf("listing the projects of %s failed: %v", user, err))
		return
	}
	now := s.cfg.Now()
	rows := make([]pageProject, 0, len(list))
	for _, p := range projects.WithExpiry(list, s.cfg.ExpireAfter) {
		rows = append(rows, pageProject{Listed: p, LaunchURL: ProjectLaunchURL(s.cfg.BinderHubURL, p.RepoURL, p.Commit),
			LatestURL: ProjectLaunchURL(s.cfg.BinderHubURL, p.RepoURL, ""), Expiry: expiryNote(p, now)})
	}
	whose := whoseFor(id, user)
	d := pageData{
		Title:      "Your projects",
		Embed:      embed,
		Me:         id.Name,
		ManagesAll: managesAll(id.Scopes),
		User:       user,
		Whose:      whose,
		Projects:   rows,
		Unreadable: unreadableNote(unreadableProjects(unreadable), whose, "projects"),
		Usage:      s.usageOf(storages, whose),
		TrashDays:  s.cfg.TrashDays,
		TrashUnreadable: unreadableNote(unreadableIn(unreadable, contract.AnnotationClaimTrash),
			whose, "recently deleted projects"),
		BinderHubURL: s.cfg.BinderHubURL,
		Script: pageScript{
			Prefix:    s.cfg.Prefix,
			HubHome:   s.hubPages() + "home",
			User:      user,
			Me:        id.Name,
			XSRF:      id.sess.XSRF,
			BinderHub: s.cfg.BinderHubURL,
			Embed:     embed,
			TrashDays: s.cfg.TrashDays,
		},
	}
	if s.cfg.TrashDays > 0 {
		d.Trash = s.trashOf(storages)
	}
	if s.cfg.ExpireAfter > 0 {
		d.ExpireAfter = projects.ExpireAfterWords(s.cfg.ExpireAfter)
	}
	if !embed {
		d.Nav = s.navFor(r.Context(), id.HubUser)
	}
	s.render(w, r, http.StatusOK, "page", d)
}

// errorPage is an error for a person in a browser: the status, and what to do.
func (s *Server) errorPage(w http.ResponseWriter, embed bool, status int, message string) {
	s.render(w, nil, status, "error", pageData{Title: "Projects: error", Embed: embed, Status: status, Message: message})
}

// hubPages is where the hub's own pages are, for browsers: {host}{base URL}hub/.
func (s *Server) hubPages() string { return s.cfg.HubHost + s.cfg.HubBaseURL + "hub/" }

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Nonce = randomToken()
	d.Hub, d.Prefix = s.hubPages(), s.cfg.Prefix
	var buf bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&buf, name, d); err != nil {
		s.log.Error(err, "rendering the page")
		writeError(w, http.StatusInternalServerError, "rendering the page failed; the service's log has the details")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Defence in depth: html/template escapes every value; the policy also refuses any script the
	// page did not carry itself, and any style but its own and the hub's. The hub's origin (this one,
	// unless JUPYTERHUB_HOST names another) serves its stylesheet, with its fonts and images, and its logo.
	// Framing: never, except the embedded form by the hub's origin.
	hub := strings.TrimSpace("'self' " + s.cfg.HubHost)
	ancestors, frameOptions := "'none'", "DENY"
	if d.Embed {
		ancestors, frameOptions = hub, "SAMEORIGIN"
	}
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s' %s; font-src %s; "+
		"connect-src 'self'; img-src %s data:; form-action 'self'; base-uri 'none'; frame-ancestors %s", d.Nonce, d.Nonce, hub, hub, hub, ancestors))
	h.Set("X-Frame-Options", frameOptions)
	w.WriteHeader(status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}
