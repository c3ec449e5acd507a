package service

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// identity is who a request comes from, and how it proved it.
type identity struct {
	HubUser
	// cookie: the browser's session cookie (state-changing requests need the XSRF header);
	// otherwise an Authorization header.
	cookie bool
	sess   session
}

// authError is a failed authentication or authorization, as an HTTP status and a message.
type authError struct {
	status  int
	message string
	// clearSession: the session cookie holds a token the hub no longer accepts.
	clearSession bool
}

// authenticate finds the request's user: from an Authorization header (token or Bearer) if there is
// one, else from the session cookie. fresh asks the hub even when the token was resolved a moment ago
// (pages and state-changing requests: a token the hub revoked, at logout, stops working at once).
func (s *Server) authenticate(r *http.Request, fresh bool) (identity, *authError) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		token = strings.TrimSpace(token)
		if (!strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer")) || token == "" {
			return identity{}, &authError{status: http.StatusUnauthorized,
				message: `the Authorization header must be "token <your JupyterHub API token>" (or "Bearer <token>")`}
		}
		u, aerr := s.resolve(r, token, fresh)
		if aerr != nil {
			return identity{}, aerr
		}
		return identity{HubUser: u}, nil
	}
	sess, ok := s.readSession(r)
	if !ok {
		return identity{}, &authError{status: http.StatusUnauthorized,
			message: fmt.Sprintf(`not logged in: send "Authorization: token <your JupyterHub API token>" (create one on the hub's token page, %shub/token), or open %s in a browser to log in`, s.cfg.HubBaseURL, s.cfg.Prefix)}
	}
	u, aerr := s.resolve(r, sess.Token, fresh)
	if aerr != nil {
		if aerr.status == http.StatusUnauthorized {
			aerr.message = fmt.Sprintf("your login has expired; open %s to log in again", s.cfg.Prefix)
			aerr.clearSession = true
		}
		return identity{}, aerr
	}
	return identity{HubUser: u, cookie: true, sess: sess}, nil
}

// resolve asks the hub whose token this is (from the cache unless fresh) and checks that it grants
// access to the service.
func (s *Server) resolve(r *http.Request, token string, fresh bool) (HubUser, *authError) {
	u, err := s.hub.userForToken(r.Context(), token, fresh)
	switch {
	case errors.Is(err, errBadToken):
		return HubUser{}, &authError{status: http.StatusUnauthorized,
			message: fmt.Sprintf("JupyterHub does not accept this token: it is wrong, expired or revoked; create a new one on the hub's token page (%shub/token)", s.cfg.HubBaseURL)}
	case err != nil:
		s.log.Error(err, "cannot check a token with JupyterHub", "hubAPI", s.cfg.HubAPIURL)
		return HubUser{}, &authError{status: http.StatusBadGateway,
			message: "JupyterHub cannot be reached to check who you are; try again in a moment, and tell the hub's operators if it persists"}
	}
	if u.Kind != "" && u.Kind != "user" {
		return HubUser{}, &authError{status: http.StatusForbidden,
			message: fmt.Sprintf("the token belongs to the %s %q; the projects service accepts the tokens of hub users only", u.Kind, u.Name)}
	}
	if !hasAccess(u, s.cfg.AccessScopes) {
		return HubUser{}, &authError{status: http.StatusForbidden,
			message: fmt.Sprintf("your JupyterHub token does not grant access to this service (it needs the scope %s); "+
				"the hub's operators grant it to users in hub.loadRoles, and a token made on the hub's token page must include it",
				strings.Join(s.cfg.AccessScopes, " or "))}
	}
	return u, nil
}

// checkXSRF guards a state-changing request made with the session cookie: it must come from this
// origin (net/http's CrossOriginProtection: Sec-Fetch-Site, else Origin against Host), and repeat the
// session's XSRF token in the X-XSRFToken header (the page does).
// Requests with an Authorization header are exempt: browsers never add one on their own.
func (s *Server) checkXSRF(r *http.Request, id identity) *authError {
	if !id.cookie {
		return nil
	}
	if err := s.cross.Check(r); err != nil {
		return &authError{status: http.StatusForbidden,
			message: fmt.Sprintf("refused a %s request from another site or origin (%v)", r.Method, err)}
	}
	got := r.Header.Get(xsrfHeader)
	if got == "" {
		return &authError{status: http.StatusForbidden,
			message: fmt.Sprintf("missing %s header: a browser request that changes something must repeat the %s cookie in the %s header (the projects page does this; scripts should use an Authorization header instead)", xsrfHeader, xsrfCookie, xsrfHeader)}
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(id.sess.XSRF)) != 1 {
		return &authError{status: http.StatusForbidden,
			message: fmt.Sprintf("the %s header does not match this session; reload the projects page and try again", xsrfHeader)}
	}
	return nil
}

// AdminScope is the custom JupyterHub scope that lets its holder see and delete other users' projects:
// unfiltered, anyone's; filtered with !user=<name>, that user's. The hub's operators define it
// (JupyterHub.custom_scopes) and give it with a role (docs/projects-service.md).
const AdminScope = "custom:projects:admin"

// authorize lets a user at their own projects, and the holder of AdminScope (for that user) at
// another user's. Only the request's token counts: the scopes the hub lists for it, never the user
// model's admin flag, so a narrowly scoped token of a powerful user stays narrow, and the power can be
// given to anyone with a role.
func authorize(id identity, user string) *authError {
	if id.Name == user || mayManage(id.Scopes, user) {
		return nil
	}
	return &authError{status: http.StatusForbidden,
		message: fmt.Sprintf("you are logged in as %q and can see and delete only your own projects; managing %q's needs the scope %s (the hub's operators give it with a role)", id.Name, user, AdminScope)}
}

// mayManage reports whether scopes (as the hub lists a token's: expanded, filters after "!") include
// AdminScope for user's projects.
func mayManage(scopes []string, user string) bool {
	return slices.Contains(scopes, AdminScope) || slices.Contains(scopes, AdminScope+"!user="+user)
}

// managesAll reports whether scopes include AdminScope for every user.
func managesAll(scopes []string) bool { return slices.Contains(scopes, AdminScope) }

// writeAuthError answers an API request with the error.
func (s *Server) writeAuthError(w http.ResponseWriter, r *http.Request, e *authError) {
	if e.clearSession {
		s.endSession(w, r)
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `token realm="JupyterHub"`)
	}
	writeError(w, e.status, e.message)
}

// login starts the hub's OAuth flow: a fresh state goes into an encrypted cookie of its own and to the
// hub, which sends the browser back to the callback with a code and the same state.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if !strings.HasPrefix(next, s.cfg.Prefix) {
		next = s.cfg.Prefix
	}
	st := loginState{State: randomToken(), Next: next, Expires: s.cfg.Now().Add(stateMaxAge).Unix()}
	name := stateCookieName(st.State)
	v, err := s.seal.seal(name, st)
	if err != nil {
		s.log.Error(err, "sealing the OAuth state")
		writeError(w, http.StatusInternalServerError, "cannot start the login; the service's log has the details")
		return
	}
	http.SetCookie(w, s.cookie(r, name, v, int(stateMaxAge.Seconds()), true))
	w.Header().Set("Cache-Control", "no-store")
	// No scope: the hub then gives the scopes the service's oauth_client_allowed_scopes list, as far
	// as the user holds them.
	http.Redirect(w, r, s.hub.oauth.AuthCodeURL(st.State), http.StatusFound)
}

// oauthCallback completes the OAuth flow: the state must be the one in the browser's cookie of that
// login; the code is exchanged for a token, the token for the user, and the session cookie is set.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		writeError(w, http.StatusForbidden, fmt.Sprintf("JupyterHub refused the login (%s: %s); open %s to try again", e, q.Get("error_description"), s.cfg.Prefix))
		return
	}
	// The state names the login's cookie; a forged state names none (400), and the cookie must hold
	// that very state.
	name := stateCookieName(q.Get("state"))
	c, err := r.Cookie(name)
	var st loginState
	if err != nil || s.seal.open(name, c.Value, &st) != nil || s.cfg.Now().Unix() > st.Expires {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("this login was not started here, or took longer than %s; open %s to log in again", stateMaxAge, s.cfg.Prefix))
		return
	}
	if got := q.Get("state"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		s.log.Info("refused an OAuth callback whose state does not match the browser's login")
		writeError(w, http.StatusForbidden, fmt.Sprintf("the OAuth state does not match the login this browser started (a forged or stale link); open %s to log in again", s.cfg.Prefix))
		return
	}
	code := q.Get("code")
	if code == "" {
		writeError(w, http.StatusBadRequest, "the OAuth callback has no code")
		return
	}
	token, err := s.hub.tokenForCode(r.Context(), code)
	switch {
	case errors.Is(err, errOAuth):
		s.log.Error(err, "JupyterHub refused an OAuth code")
		writeError(w, http.StatusForbidden, fmt.Sprintf("JupyterHub did not accept the login; open %s to try again, and tell the hub's operators if it persists", s.cfg.Prefix))
		return
	case err != nil:
		s.log.Error(err, "exchanging an OAuth code with JupyterHub")
		writeError(w, http.StatusBadGateway, "JupyterHub cannot be reached to complete the login; try again in a moment")
		return
	}
	u, aerr := s.resolve(r, token, true)
	if aerr != nil {
		s.writeAuthError(w, r, aerr)
		return
	}
	if err := s.startSession(w, r, token); err != nil {
		s.log.Error(err, "sealing a session")
		writeError(w, http.StatusInternalServerError, "cannot start the session; the service's log has the details")
		return
	}
	http.SetCookie(w, s.cookie(r, name, "", -1, true))
	s.log.V(1).Info("logged in through the hub", "user", u.Name)
	next := st.Next
	if !strings.HasPrefix(next, s.cfg.Prefix) || strings.HasPrefix(next, "//") {
		next = s.cfg.Prefix
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusFound)
}
