package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tokenHub answers GET /user as JupyterHub does: the user whose token it is (token-<name>), 403 for a
// token it does not know or has revoked; it counts the questions by token.
type tokenHub struct {
	mu      sync.Mutex
	asked   map[string]int
	revoked map[string]bool
}

func (h *tokenHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "token ")
	h.mu.Lock()
	h.asked[token]++
	revoked := h.revoked[token]
	h.mu.Unlock()
	name, ok := strings.CutPrefix(token, "token-")
	if r.URL.Path != "/hub/api/user" || !ok || revoked {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	json.NewEncoder(w).Encode(HubUser{Kind: "user", Name: name})
}

func TestTheTokenCache(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	// build is a hub client with a cache of at most max tokens for a minute, on a clock the test moves.
	build := func(t *testing.T, max int) (*hubClient, *tokenHub, *time.Time) {
		t.Helper()
		hub := &tokenHub{asked: map[string]int{}, revoked: map[string]bool{}}
		srv := httptest.NewServer(hub)
		t.Cleanup(srv.Close)
		now := t0
		return &hubClient{apiURL: srv.URL + "/hub/api", http: srv.Client(), ttl: time.Minute,
			users: newTokenCache(max, func() time.Time { return now })}, hub, &now
	}
	resolve := func(t *testing.T, h *hubClient, token string, fresh bool) (string, error) {
		t.Helper()
		u, err := h.userForToken(context.Background(), token, fresh)
		return u.Name, err
	}

	t.Run("a token's user is asked once and remembered for the TTL, then asked again; a fresh look always asks", func(t *testing.T) {
		h, hub, now := build(t, 10)
		for _, at := range []time.Duration{0, time.Second, time.Minute - time.Second} {
			*now = t0.Add(at)
			if name, err := resolve(t, h, "token-bitnik", false); name != "bitnik" || err != nil {
				t.Fatalf("at %s: %q, %v", at, name, err)
			}
		}
		*now = t0.Add(time.Minute + time.Second)
		resolve(t, h, "token-bitnik", false)
		resolve(t, h, "token-bitnik", true)
		if n := hub.asked["token-bitnik"]; n != 3 {
			t.Errorf("the hub was asked %d times, want 3 (once, after the TTL, and the fresh look)", n)
		}
	})

	t.Run("a refused token is not remembered, and a token the hub revoked is forgotten", func(t *testing.T) {
		h, hub, _ := build(t, 10)
		for range 2 {
			if _, err := resolve(t, h, "wrong", false); !errors.Is(err, errBadToken) {
				t.Fatalf("err = %v, want errBadToken", err)
			}
		}
		resolve(t, h, "token-bitnik", false)
		hub.revoked["token-bitnik"] = true // the hub's logout
		if _, err := resolve(t, h, "token-bitnik", true); !errors.Is(err, errBadToken) {
			t.Fatalf("a fresh look at the revoked token: %v, want errBadToken", err)
		}
		if _, err := resolve(t, h, "token-bitnik", false); !errors.Is(err, errBadToken) {
			t.Errorf("the revoked token was served from the cache: %v", err)
		}
		if diff := cmp.Diff(map[string]int{"wrong": 2, "token-bitnik": 3}, hub.asked); diff != "" {
			t.Errorf("questions to the hub (-want +got):\n%s", diff)
		}
	})

	t.Run("the cache is bounded: beyond it, the token used least recently is asked again", func(t *testing.T) {
		h, hub, _ := build(t, 2)
		for _, token := range []string{"token-a", "token-b", "token-a", "token-c", "token-a", "token-b"} {
			if _, err := resolve(t, h, token, false); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(map[string]int{"token-a": 1, "token-b": 2, "token-c": 1}, hub.asked); diff != "" {
			t.Errorf("questions to the hub (-want +got):\n%s", diff)
		}
	})
}
