package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/binder-projects/binder-projects/projects"
)

// A registry entry that cannot be read hides only itself (projects.FromClaim): the page and the API
// show the projects that could be read and say what could not.

// listReadable is the user's projects that could be read, and what of them could not be.
func (s *Server) listReadable(ctx context.Context, user string) ([]projects.Listed, []*projects.Unreadable, error) {
	list, err := s.cfg.Store.ListReadable(ctx, user)
	if !errors.Is(err, projects.ErrCorruptRegistry) {
		return list, nil, err
	}
	s.log.Info("some of a user's projects could not be read", "user", user, "error", err.Error())
	return list, unreadableProjects(err), nil
}

// unreadableProjects is what could not be read of the user's projects: from the store's error (as
// ListReadable returns it), one *projects.Unreadable for each claim whose projects annotation could not
// be read whole.
func unreadableProjects(err error) []*projects.Unreadable {
	if u, ok := err.(*projects.Unreadable); ok {
		if u.Annotation == projects.AnnotationProjects {
			return []*projects.Unreadable{u}
		}
		return nil
	}
	var out []*projects.Unreadable
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, c := range e.Unwrap() {
			out = append(out, unreadableProjects(c)...)
		}
	case interface{ Unwrap() error }:
		out = unreadableProjects(e.Unwrap())
	}
	return out
}

// unreadableNote says on the page what could not be read of whose ("your", "bitnik's") projects; ""
// when everything could.
func unreadableNote(bad []*projects.Unreadable, whose string) string {
	entries, whole := 0, false
	for _, u := range bad {
		entries += u.Entries
		whole = whole || u.Entries == 0
	}
	var what string
	switch {
	case whole:
		what = fmt.Sprintf("The list of %s projects could not be read, so some may be missing here.", whose)
	case entries == 1:
		what = fmt.Sprintf("One entry of %s projects could not be read, so it is not listed.", whose)
	case entries > 1:
		what = fmt.Sprintf("%d entries of %s projects could not be read, so they are not listed.", entries, whose)
	default:
		return ""
	}
	return what + " Nothing is lost: it is kept on the storage's claim, where the hub's operators can repair it."
}

// warnUnreadable adds to an API answer a Warning header (code 299, as the Kubernetes API warns) for
// each claim whose projects could not all be read: the answer holds the others.
func warnUnreadable(w http.ResponseWriter, bad []*projects.Unreadable) {
	for _, u := range bad {
		what, verb := "the list of projects", "is"
		if u.Entries > 0 {
			what = fmt.Sprintf("%d of %d projects", u.Entries, u.Of)
		}
		if u.Entries > 1 {
			verb = "are"
		}
		w.Header().Add("Warning", fmt.Sprintf(`299 - "%s on claim %s could not be read and %s left out; the claim keeps them for the hub's operators (annotation %s)"`,
			what, u.Claim, verb, projects.AnnotationProjects))
	}
}
