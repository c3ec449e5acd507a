package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The page's navigation bar is the hub's (JupyterHub 3's page.html): the logo, Home, Token, Admin for
// those the hub shows it to, the Services menu, the user's name and Logout, with the hub's structure
// and classes, styled by the hub's own stylesheet.

// hubNav is what the navigation bar shows beyond the hub's fixed links.
type hubNav struct {
	// Admin: the hub's Admin link, which the hub shows to the holders of the admin-ui scope (hub
	// admins): the user model's admin flag, or the scope in the token.
	Admin bool
	// Services are the hub's Services menu, empty when the service's token may not list them.
	Services []hubService
}

// hubService is an entry of the hub's Services menu.
type hubService struct {
	Name string
	URL  string
}

// navFor is the navigation bar of the user u.
func (s *Server) navFor(ctx context.Context, u HubUser) hubNav {
	return hubNav{Admin: u.Admin || slices.Contains(u.Scopes, "admin-ui"), Services: s.services.get(ctx, s)}
}

// servicesMenu remembers the hub's Services menu for TokenCacheTTL: it is the same for every user and
// changes only when the hub is configured anew.
type servicesMenu struct {
	mu      sync.Mutex
	list    []hubService
	expires time.Time
}

// get is the hub's Services menu, from memory or from the hub.
func (m *servicesMenu) get(ctx context.Context, s *Server) []hubService {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := s.cfg.Now()
	if now.Before(m.expires) {
		return m.list
	}
	list, err := s.hubServices(ctx)
	switch {
	case ctx.Err() != nil:
		return nil // the page's request went away: nothing learnt, nothing to remember
	case errors.Is(err, errBadToken):
		s.log.V(1).Info("the hub's Services menu is left out of the navigation bar: the service's token may not list the services (scopes list:services and read:services)")
	case err != nil:
		s.log.Error(err, "the hub's Services menu is left out of the navigation bar")
	}
	m.list, m.expires = list, now.Add(s.cfg.TokenCacheTTL)
	return list
}

// hubServices asks the hub for its Services menu with the service's own token (GET {api}/services,
// which needs list:services, and read:services for their URLs): as the hub's page.html lists them, the
// services with a URL and display set, in the hub's order, each linked to its prefix.
func (s *Server) hubServices(ctx context.Context) ([]hubService, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.HubAPIURL+"/services", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+s.cfg.APIToken)
	req.Header.Set("Accept", "application/json")
	var raw json.RawMessage
	if err := s.hub.do(req, &raw); err != nil {
		return nil, err
	}
	// An object keyed by name, in the hub's order, which a map would lose.
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: GET %s: not a JSON object", errHubUnreachable, req.URL.Path)
	}
	var list []hubService
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: GET %s: %v", errHubUnreachable, req.URL.Path, err)
		}
		var model struct {
			Name    string `json:"name"`
			URL     string `json:"url"`
			Prefix  string `json:"prefix"`
			Display bool   `json:"display"`
		}
		if err := dec.Decode(&model); err != nil {
			return nil, fmt.Errorf("%w: GET %s: %v", errHubUnreachable, req.URL.Path, err)
		}
		if model.URL != "" && model.Prefix != "" && model.Display {
			list = append(list, hubService{Name: model.Name, URL: s.cfg.HubHost + model.Prefix})
		}
	}
	return list, nil
}
