package service

// The user's storage on the page and in the API: how full it is (the volume's usage as the last start
// of a server measured it, projects.Usage), each project's size and when it expires, and the recently
// deleted projects (projects.Trashed), which can be restored or deleted for good.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

const (
	// nearlyFullPercent is how full a storage is (used of its size, in whole percent) when the page
	// and the API warn, as the VolumeNearlyFull Event on the pod does.
	nearlyFullPercent = 90
	// largestNamed is how many of the largest folders the warning names, as the Event does.
	largestNamed = 3
	// expiryNotice is how long before a project expires that the page says so.
	expiryNotice = 14 * 24 * time.Hour
)

// storageUsage is the usage of a user's storage as the page and the API show it: the volume's size,
// free space and what is used of it (size - free), in bytes, as last measured.
type storageUsage struct {
	Claim string `json:"claim"`
	Size  int64  `json:"size"`
	Free  int64  `json:"free"`
	Used  int64  `json:"used"`
	// Percent is Used of Size in whole percent, rounded down (93 for 93.9).
	Percent int `json:"percent"`
	// Basis is projects.UsageFilesystem (the filesystem's) or projects.UsageClaim (on a shared
	// filesystem: what the projects and the trash take, against the claim's capacity).
	Basis string    `json:"basis"`
	At    time.Time `json:"at"`
	// Warning says, from nearlyFullPercent, how full it is, what to do and which folders take the most;
	// empty below.
	Warning string `json:"warning,omitempty"`
	// Largest are the measured folders that take the most, largest first.
	Largest []largestFolder `json:"largest"`
}

// Low and High are where the page's meter of u turns from good to worse (three quarters) and to
// bad (nearlyFullPercent).
func (u storageUsage) Low() int64  { return u.Size / 100 * 75 }
func (u storageUsage) High() int64 { return u.Size / 100 * nearlyFullPercent }

// largestFolder is a folder on the user's volume and what it takes: a project, or a recently deleted
// one in the trash.
type largestFolder struct {
	Dir   contract.ProjectDir `json:"dir"`
	Bytes int64               `json:"bytes"`
	// TrashID is the trash entry's id (projects.ListedTrash.ID) when the folder is a deleted project's.
	TrashID string `json:"trashId,omitempty"`
}

// usageOf is the usage of the fullest measured storage of storages (the service reads one claim, the
// default server's), worded for whose ("your", "bitnik's"); nil when none was measured.
func (s *Server) usageOf(storages []projects.Storage, whose string) *storageUsage {
	var out *storageUsage
	for _, st := range storages {
		u := st.Usage
		if u == nil || u.Size <= 0 {
			continue
		}
		used := min(max(u.Size-u.Free, 0), u.Size)
		v := &storageUsage{Claim: st.Claim, Size: u.Size, Free: u.Free, Used: used,
			Percent: int(math.Floor(float64(used) * 100 / float64(u.Size))), Basis: cmp.Or(u.Basis, projects.UsageFilesystem), At: u.At,
			Largest: []largestFolder{}}
		for _, f := range st.Largest[:min(largestNamed, len(st.Largest))] {
			l := largestFolder{Dir: f.Dir, Bytes: f.Bytes}
			if f.Trashed != nil {
				l.TrashID = strconv.FormatInt(contract.TrashID(*f.Trashed), 10)
			}
			v.Largest = append(v.Largest, l)
		}
		if out == nil || v.Percent > out.Percent {
			out = v
		}
	}
	if out != nil && out.Percent >= nearlyFullPercent {
		out.Warning = nearlyFullWarning(*out, whose, s.cfg.TrashDays)
	}
	return out
}

// nearlyFullWarning is the warning of a storage at least nearlyFullPercent full: how full, what to do,
// and the largest folders.
func nearlyFullWarning(u storageUsage, whose string, trashDays int) string {
	storage := "Your storage"
	if whose != "your" {
		storage = whose + " storage"
	}
	w := fmt.Sprintf("%s is %d %% full: delete projects you no longer need.", storage, u.Percent)
	if len(u.Largest) > 0 {
		names := make([]string, len(u.Largest))
		for i, f := range u.Largest {
			if f.TrashID != "" {
				names[i] = fmt.Sprintf("%s, recently deleted (%s)", f.Dir, projects.HumanBytes(f.Bytes))
			} else {
				names[i] = fmt.Sprintf("%s (%s)", f.Dir, projects.HumanBytes(f.Bytes))
			}
		}
		w += " The largest: " + strings.Join(names, ", ") + "."
	}
	if trashDays > 0 {
		w += fmt.Sprintf(" A deleted project keeps its space for %s under Recently deleted: Delete forever frees it at the next server start.", days(trashDays))
	}
	return w
}

// trashOf is the recently deleted projects on all of storages, most recently deleted first, each
// with when it goes for good (KeptUntil) while there is a trash.
func (s *Server) trashOf(storages []projects.Storage) []projects.ListedTrash {
	out := []projects.ListedTrash{}
	for _, st := range storages {
		for _, t := range st.Trash {
			if t.InTrash && s.cfg.TrashDays > 0 {
				until := t.DeletedAt.Add(time.Duration(s.cfg.TrashDays) * 24 * time.Hour).UTC()
				t.KeptUntil = &until
			}
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b projects.ListedTrash) int { return b.DeletedAt.Compare(a.DeletedAt) })
	return out
}

// expiryNote is what the page says of a project expiring within expiryNotice of now; "" otherwise.
func expiryNote(p projects.Listed, now time.Time) string {
	switch {
	case p.Expires == nil || p.Expires.Sub(now) > expiryNotice:
		return ""
	case !now.Before(*p.Expires):
		// The expiry controller sweeps hourly.
		return "removed within the hour unless you launch it"
	}
	return "removed on " + p.Expires.UTC().Format("2 Jan 2006") + " unless you launch it"
}

// days says n days: "1 day", "7 days".
func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// whoseFor words user's things for the caller: "your" for their own, "bitnik's" for a projects admin.
func whoseFor(id identity, user string) string {
	if user == id.Name {
		return "your"
	}
	return user + "'s"
}

// storageOf is the user's storages, what could be read and what could not (the trash and the usage
// annotations: unreadableIn).
func (s *Server) storageOf(ctx context.Context, user string) ([]projects.Storage, []*projects.Unreadable, error) {
	storages, err := s.cfg.Store.Storage(ctx, user)
	bad, err := s.unreadable(err, user, "storage records")
	return storages, unreadableIn(bad, contract.AnnotationClaimTrash, contract.AnnotationClaimUsage), err
}

// storage is the user's storages for an API answer: a Warning header says what could not be read.
// Another error is answered, and storage returns false.
func (s *Server) storage(w http.ResponseWriter, r *http.Request, user string) ([]projects.Storage, bool) {
	storages, unreadable, err := s.storageOf(r.Context(), user)
	warnUnreadable(w, unreadable)
	if err != nil {
		s.storeError(w, err, "reading the storage of", user)
		return nil, false
	}
	return storages, true
}

// getUsage answers GET {prefix}api/users/{user}/usage with how full the user's storage is (404 before
// a start of their server measured it).
func (s *Server) getUsage(w http.ResponseWriter, r *http.Request, user string) {
	id, ok := s.caller(w, r, user, false)
	if !ok {
		return
	}
	storages, ok := s.storage(w, r, user)
	if !ok {
		return
	}
	u := s.usageOf(storages, whoseFor(id, user))
	if u == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("the storage of %s has not been measured yet: each start of their server measures it", user))
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// listTrash answers GET {prefix}api/users/{user}/trash with the user's recently deleted projects.
func (s *Server) listTrash(w http.ResponseWriter, r *http.Request, user string) {
	if _, ok := s.caller(w, r, user, false); !ok {
		return
	}
	storages, ok := s.storage(w, r, user)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.trashOf(storages))
}

// getTrashed answers GET {prefix}api/users/{user}/trash/{id}/{folder} with one recently deleted project.
func (s *Server) getTrashed(w http.ResponseWriter, r *http.Request, user, idText, name string) {
	if _, ok := s.caller(w, r, user, false); !ok {
		return
	}
	entry, ok := checkedEntry(w, idText, name)
	if !ok {
		return
	}
	storages, ok := s.storage(w, r, user)
	if !ok {
		return
	}
	for _, t := range s.trashOf(storages) {
		if t.Entry().Same(entry) {
			writeJSON(w, http.StatusOK, t)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("%v: %s has no recently deleted project %s", projects.ErrNotInTrash, user, contract.TrashEntryName(contract.TrashID(entry), entry.Dir)))
}

// restoreTrashed answers POST {prefix}api/users/{user}/trash/{id}/{folder}/restore: 200 when the
// deletion had not happened yet and was simply taken back (the project is listed again), else 202:
// the next start of a server puts the folder back (projects.KubeStore.Restore).
func (s *Server) restoreTrashed(w http.ResponseWriter, r *http.Request, user, idText, name string) {
	id, entry, ok := s.trashRequest(w, r, user, idText, name)
	if !ok {
		return
	}
	back, err := s.cfg.Store.Restore(r.Context(), user, entry)
	if err != nil {
		s.storeError(w, err, "restoring a project of", user)
		return
	}
	s.log.Info("asked for a restore", "user", user, "project", entry.Dir, "deleted", entry.QueuedAt, "back", back, "by", id.Name)
	if back {
		writeJSON(w, http.StatusOK, apiError{Status: http.StatusOK, Message: fmt.Sprintf(
			"%s is back: its deletion had not happened yet, so its folder and files stayed where they were", entry.Dir)})
		return
	}
	writeJSON(w, http.StatusAccepted, apiError{Status: http.StatusAccepted, Message: fmt.Sprintf(
		"%s is restored at %s next server start, beside %s as %s if that name is taken again by then",
		entry.Dir, whoseFor(id, user), entry.Dir, contract.RestoredName(entry.Dir, contract.TrashID(entry)))})
}

// purgeTrashed answers DELETE {prefix}api/users/{user}/trash/{id}/{folder}: 202, the next start of a
// server deletes the folder for good.
func (s *Server) purgeTrashed(w http.ResponseWriter, r *http.Request, user, idText, name string) {
	id, entry, ok := s.trashRequest(w, r, user, idText, name)
	if !ok {
		return
	}
	if err := s.cfg.Store.Purge(r.Context(), user, entry); err != nil {
		s.storeError(w, err, "deleting for good a project of", user)
		return
	}
	s.log.Info("asked for a deletion for good", "user", user, "project", entry.Dir, "deleted", entry.QueuedAt, "by", id.Name)
	writeJSON(w, http.StatusAccepted, apiError{Status: http.StatusAccepted, Message: fmt.Sprintf(
		"%s is deleted for good at %s next server start", entry.Dir, whoseFor(id, user))})
}

// trashRequest is the caller of a request that changes the trash entry of user its path names, with
// the rules of deleting a project (caller), and the entry (checkedEntry); otherwise it answers with the
// reason and returns false.
func (s *Server) trashRequest(w http.ResponseWriter, r *http.Request, user, idText, name string) (identity, projects.Queued, bool) {
	id, ok := s.caller(w, r, user, true)
	if !ok {
		return id, projects.Queued{}, false
	}
	entry, ok := checkedEntry(w, idText, name)
	return id, entry, ok
}

// checkedEntry is the trash entry named by the request's path: the folder checked where it enters
// (checkedDir), the id as contract.ParseTrashEntryName reads it. It answers 400 and returns false when
// either cannot be one.
func checkedEntry(w http.ResponseWriter, idText, name string) (projects.Queued, bool) {
	dir, ok := checkedDir(w, name)
	if !ok {
		return projects.Queued{}, false
	}
	id, _, err := contract.ParseTrashEntryName(idText + "/" + string(dir))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v (the id of a recently deleted project, as its listing gives it: when it was deleted, in Unix nanoseconds)", err))
		return projects.Queued{}, false
	}
	return contract.TrashEntryOf(id, dir), true
}
