package service

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// listProjects answers GET {prefix}api/users/{user}/projects with the user's projects.
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, user string) {
	if _, ok := s.caller(w, r, user, false); !ok {
		return
	}
	list, ok := s.list(w, r, user)
	if !ok {
		return
	}
	if list == nil {
		list = []projects.Listed{}
	}
	writeJSON(w, http.StatusOK, list)
}

// list is the user's projects that could be read, for an API answer, with when each expires (while
// projects expire): a Warning header says what could not be read (unreadableProjects). Another error
// is answered, and list returns false.
func (s *Server) list(w http.ResponseWriter, r *http.Request, user string) ([]projects.Listed, bool) {
	list, unreadable, err := s.listReadable(r.Context(), user)
	warnUnreadable(w, unreadable)
	if err != nil {
		s.storeError(w, err, "listing the projects of", user)
		return nil, false
	}
	return projects.WithExpiry(list, s.cfg.ExpireAfter), true
}

// getProject answers GET {prefix}api/users/{user}/projects/{folder} with one project.
func (s *Server) getProject(w http.ResponseWriter, r *http.Request, user, name string) {
	if _, ok := s.caller(w, r, user, false); !ok {
		return
	}
	dir, ok := checkedDir(w, name)
	if !ok {
		return
	}
	list, ok := s.list(w, r, user)
	if !ok {
		return
	}
	for _, p := range list {
		if p.Dir == dir {
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("%s has no project %q", user, dir))
}

// deleteProject answers DELETE {prefix}api/users/{user}/projects/{folder}: the project leaves the
// user's record and its folder is queued for deletion by the next server start (204; 202 with a
// message when a server of the user started meanwhile, see projects.KubeStore.Delete).
func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, user, name string) {
	id, ok := s.caller(w, r, user, true)
	if !ok {
		return
	}
	dir, ok := checkedDir(w, name)
	if !ok {
		return
	}
	err := s.cfg.Store.Delete(r.Context(), user, dir)
	if errors.Is(err, projects.ErrServerStarted) {
		// Queued, but a server started meanwhile: accepted, with what may still happen.
		s.log.Info("deleted a project while a server started", "user", user, "project", dir, "by", id.Name)
		writeJSON(w, http.StatusAccepted, apiError{Status: http.StatusAccepted, Message: err.Error()})
		return
	}
	if err != nil {
		s.storeError(w, err, "deleting a project of", user)
		return
	}
	s.log.Info("deleted a project", "user", user, "project", dir, "by", id.Name)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// updateProject answers POST {prefix}api/users/{user}/projects/{folder}/update: an update of the
// project to the commit of its next launch is queued (202, with what happens next): that launch's init
// container brings the new commit's files in and keeps the user's edits (docs/updates.md).
func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, user, name string) {
	id, ok := s.caller(w, r, user, true)
	if !ok {
		return
	}
	dir, ok := checkedDir(w, name)
	if !ok {
		return
	}
	if err := s.cfg.Store.RequestUpdate(r.Context(), user, dir); err != nil {
		s.storeError(w, err, "asking for an update of a project of", user)
		return
	}
	s.log.Info("asked for a project update", "user", user, "project", dir, "by", id.Name)
	writeJSON(w, http.StatusAccepted, apiError{Status: http.StatusAccepted, Message: fmt.Sprintf(
		"the next launch of %s updates it to the launched commit, keeping your changes (a file you changed that the commit changes too gets the commit's version beside it)", dir)})
}

// caller authenticates the request and checks that it may act on user's projects (and, for a
// state-changing request, its XSRF token); otherwise it answers with the reason and returns false.
func (s *Server) caller(w http.ResponseWriter, r *http.Request, user string, changesState bool) (identity, bool) {
	id, aerr := s.authenticate(r, changesState)
	if aerr == nil && changesState {
		aerr = s.checkXSRF(r, id)
	}
	if aerr == nil {
		aerr = authorize(id, user)
	}
	if aerr != nil {
		s.writeAuthError(w, r, aerr)
		return id, false
	}
	return id, true
}

// checkedDir is the folder name from the request's path, checked where it enters; it answers 400 and
// returns false when the name cannot be a project folder.
func checkedDir(w http.ResponseWriter, name string) (contract.ProjectDir, bool) {
	dir, err := contract.ParseProjectDir(name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return dir, true
}

// storeError answers with the status that the store's error means.
func (s *Server) storeError(w http.ResponseWriter, err error, doing, user string) {
	switch {
	case errors.Is(err, projects.ErrNoSuchProject), errors.Is(err, projects.ErrNotInTrash):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, projects.ErrServerRunning):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.log.Error(err, doing+" a user", "user", user)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("%s %s failed: %v", doing, user, err))
	}
}
