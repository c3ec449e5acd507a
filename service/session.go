package service

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Cookie names. All are confined to the service's prefix (Path), so the hub and other services never
// see them.
const (
	// sessionCookie holds the browser's session: the hub's OAuth access token and the XSRF token,
	// encrypted and authenticated.
	sessionCookie = "binder-projects-session"
	// stateCookie begins the names of the cookies that hold a login's OAuth state and the page to
	// return to, encrypted: one cookie per login (stateCookieName), so that logins started at once in
	// two tabs of one browser both complete.
	stateCookie = "binder-projects-oauth-state"
	// xsrfCookie is the XSRF token in clear, for scripts (double submit); the server checks the
	// X-XSRFToken header against the copy inside the session, so a planted cookie does not help.
	xsrfCookie = "_xsrf"
	// xsrfHeader carries the XSRF token on state-changing browser requests.
	xsrfHeader = "X-XSRFToken"
)

// stateMaxAge is how long a login may take between the redirect to the hub and the callback.
const stateMaxAge = 10 * time.Minute

// stateCookieName is the name of the cookie of the login whose OAuth state is state: the callback finds
// it from the state the hub sends back.
func stateCookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return stateCookie + "-" + hex.EncodeToString(sum[:8])
}

// session is what the session cookie holds.
type session struct {
	// Token is the hub's OAuth access token for this browser.
	Token string `json:"t"`
	// XSRF is the token state-changing requests must repeat in the X-XSRFToken header.
	XSRF string `json:"x"`
}

// loginState is what the state cookie holds during a login.
type loginState struct {
	State   string `json:"s"`
	Next    string `json:"n"`
	Expires int64  `json:"e"`
}

// sealer encrypts and authenticates cookie values with AES-256-GCM. Its key is derived from the
// service's API token with HKDF-SHA256, so every replica of the service (same token) reads the others'
// cookies, and a new token invalidates every session.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(apiToken string) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(apiToken), nil, "binder-projects service cookies v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts v (as JSON) for the cookie name; the name is authenticated too, so one cookie's
// value cannot stand in for another's.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

var errBadCookie = errors.New("the cookie is not one this service made")

// open decrypts a value seal made for the same cookie name into v.
func (s *sealer) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return errBadCookie
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return errBadCookie
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("%w: %v", errBadCookie, err)
	}
	return nil
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux; without randomness nothing here is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// secureRequest reports whether the browser reached the service over HTTPS (directly or, as behind
// the hub's proxy and an ingress, as forwarded).
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// cookie is a cookie of the service: confined to the prefix, SameSite=Lax, Secure over HTTPS.
func (s *Server) cookie(r *http.Request, name, value string, maxAge int, httpOnly bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     s.cfg.Prefix,
		MaxAge:   maxAge,
		HttpOnly: httpOnly,
		Secure:   secureRequest(r),
		SameSite: http.SameSiteLaxMode,
	}
}

// readSession returns the browser's session, if its cookie is one of ours.
func (s *Server) readSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	var sess session
	if err := s.seal.open(sessionCookie, c.Value, &sess); err != nil || sess.Token == "" || sess.XSRF == "" {
		return session{}, false
	}
	return sess, true
}

// startSession sets the session and XSRF cookies for a token the hub just issued.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, token string) error {
	sess := session{Token: token, XSRF: randomToken()}
	v, err := s.seal.seal(sessionCookie, sess)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, v, 0, true))
	http.SetCookie(w, s.cookie(r, xsrfCookie, sess.XSRF, 0, false))
	return nil
}

// endSession removes the session and XSRF cookies.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1, true))
	http.SetCookie(w, s.cookie(r, xsrfCookie, "", -1, false))
}
