package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/projects"
)

// TestTheServicesMenuIsTheHubs asks a stand-in of the hub's GET /services (JupyterHub 3.0's answer
// for a token with list:services and read:services): the menu is the services with a URL and display
// set, in the hub's order, linked to their prefix on the hub's host; a refusal leaves the menu out;
// the answer is remembered for TokenCacheTTL.
func TestTheServicesMenuIsTheHubs(t *testing.T) {
	status, calls := http.StatusOK, 0
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path != "/hub/api/services" || r.Header.Get("Authorization") != "token service-token" {
			t.Errorf("the service asked %s with %q", r.URL.Path, r.Header.Get("Authorization"))
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"zeta": {"kind": "service", "name": "zeta", "url": "http://zeta:80", "prefix": "/jhub/services/zeta/", "display": true},
			"hidden": {"kind": "service", "name": "hidden", "url": "http://hidden:80", "prefix": "/jhub/services/hidden/", "display": false},
			"harness": {"kind": "service", "name": "harness", "url": "", "prefix": "", "display": true},
			"alpha": {"kind": "service", "name": "alpha", "url": "http://alpha:80", "prefix": "/jhub/services/alpha/", "display": true}}`))
	}))
	defer hub.Close()
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s, err := New(Config{Store: &projects.KubeStore{}, APIToken: "service-token", HubAPIURL: hub.URL + "/hub/api", HubBaseURL: "/jhub/",
		ServiceName: "projects", HubHost: "https://hub.example.org", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	want := []hubService{{Name: "zeta", URL: "https://hub.example.org/jhub/services/zeta/"}, {Name: "alpha", URL: "https://hub.example.org/jhub/services/alpha/"}}
	if diff := cmp.Diff(want, s.navFor(context.Background(), HubUser{Name: "bitnik"}).Services); diff != "" {
		t.Errorf("Services menu (-want +got):\n%s", diff)
	}
	status = http.StatusForbidden
	if got := s.navFor(context.Background(), HubUser{Name: "bitnik"}).Services; calls != 1 || !cmp.Equal(want, got) {
		t.Errorf("within a minute: %d calls, menu %v; want the remembered menu", calls, got)
	}
	now = now.Add(time.Minute)
	if got := s.navFor(context.Background(), HubUser{Name: "bitnik"}).Services; calls != 2 || got != nil {
		t.Errorf("after the hub refused: %d calls, menu %v; want no menu", calls, got)
	}
}

func TestAdminIsShownAsTheHubShowsIt(t *testing.T) {
	s := &Server{cfg: Config{Now: time.Now}}
	s.services.expires = time.Now().Add(time.Hour) // no hub to ask
	for _, tt := range []struct {
		sentence string
		user     HubUser
		want     bool
	}{
		{"a hub admin", HubUser{Name: "hubadmin", Admin: true}, true},
		{"a token with the admin-ui scope", HubUser{Name: "ops", Scopes: []string{"admin-ui"}}, true},
		{"a plain user", HubUser{Name: "bitnik", Scopes: []string{"access:services!service=projects"}}, false},
		{"a projects admin", HubUser{Name: "ada", Scopes: []string{AdminScope}}, false},
	} {
		if got := s.navFor(context.Background(), tt.user).Admin; got != tt.want {
			t.Errorf("%s: Admin %v, want %v", tt.sentence, got, tt.want)
		}
	}
}
