package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// A registry entry that cannot be read hides only itself (projects.FromClaim): the page and the API
// show the projects (and recently deleted ones) that could be read and say what could not.

// listReadable is the user's projects that could be read, and what of them could not be.
func (s *Server) listReadable(ctx context.Context, user string) ([]projects.Listed, []*projects.Unreadable, error) {
	list, err := s.cfg.Store.ListReadable(ctx, user)
	bad, err := s.unreadable(err, user, "projects")
	return list, unreadableProjects(bad), err
}

// unreadable splits the store's error: one wrapping projects.ErrCorruptRegistry says that some of the
// user's records (what: "projects") could not be read; it is logged and returned as bad (for
// unreadableProjects, unreadableIn), and err is nil. Any other error is err.
func (s *Server) unreadable(storeErr error, user, what string) (bad, err error) {
	if !errors.Is(storeErr, projects.ErrCorruptRegistry) {
		return nil, storeErr
	}
	s.log.Info("some of a user's "+what+" could not be read", "user", user, "error", storeErr.Error())
	return storeErr, nil
}

// unreadableProjects is what could not be read of the user's projects: from the store's error (as
// ListReadable returns it), one *projects.Unreadable for each claim whose projects annotation could not
// be read whole.
func unreadableProjects(err error) []*projects.Unreadable {
	return unreadableIn(err, projects.AnnotationProjects)
}

// unreadableIn is what could not be read of the registry annotations keys: from the store's error,
// one *projects.Unreadable for each claim and annotation of keys that could not be read whole.
func unreadableIn(err error, keys ...string) []*projects.Unreadable {
	if u, ok := err.(*projects.Unreadable); ok {
		if slices.Contains(keys, u.Annotation) {
			return []*projects.Unreadable{u}
		}
		return nil
	}
	var out []*projects.Unreadable
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, c := range e.Unwrap() {
			out = append(out, unreadableIn(c, keys...)...)
		}
	case interface{ Unwrap() error }:
		out = unreadableIn(e.Unwrap(), keys...)
	}
	return out
}

// unreadableNote says on the page what could not be read of whose ("your", "bitnik's") things (what:
// "projects", "recently deleted projects"); "" when everything could.
func unreadableNote(bad []*projects.Unreadable, whose, what string) string {
	entries, whole := 0, false
	for _, u := range bad {
		entries += u.Entries
		whole = whole || u.Entries == 0
	}
	var note string
	switch {
	case whole:
		note = fmt.Sprintf("The list of %s %s could not be read, so some may be missing here.", whose, what)
	case entries == 1:
		note = fmt.Sprintf("One entry of %s %s could not be read, so it is not listed.", whose, what)
	case entries > 1:
		note = fmt.Sprintf("%d entries of %s %s could not be read, so they are not listed.", entries, whose, what)
	default:
		return ""
	}
	return note + " Nothing is lost: it is kept on the storage's claim, where the hub's operators can repair it."
}

// unreadableWhat names what an unreadable registry annotation holds, in a Warning header.
var unreadableWhat = map[string]string{
	projects.AnnotationProjects:          "projects",
	contract.AnnotationClaimTrash:        "recently deleted projects",
	contract.AnnotationClaimUsage:        "the measured usage",
	contract.AnnotationClaimRestoreQueue: "restore requests",
	contract.AnnotationClaimPurgeQueue:   "requests to delete for good",
}

// warnUnreadable adds to an API answer a Warning header (code 299, as the Kubernetes API warns) for
// each claim and annotation that could not all be read: the answer holds the rest.
func warnUnreadable(w http.ResponseWriter, bad []*projects.Unreadable) {
	for _, u := range bad {
		noun := cmp.Or(unreadableWhat[u.Annotation], "entries")
		what, verb := "the list of "+noun, "is"
		if u.Annotation == contract.AnnotationClaimUsage {
			what = noun
		}
		if u.Entries > 0 {
			what = fmt.Sprintf("%d of %d %s", u.Entries, u.Of, noun)
		}
		if u.Entries > 1 {
			verb = "are"
		}
		w.Header().Add("Warning", fmt.Sprintf(`299 - "%s on claim %s could not be read and %s left out; the claim keeps them for the hub's operators (annotation %s)"`,
			what, u.Claim, verb, u.Annotation))
	}
}
