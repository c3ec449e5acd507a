// Package projects is the registry of a user's projects. It lives on the user's claim, as
// annotations, so the record lives and dies with the data: each project's folder, repository, image,
// commit and last use, and the folders queued for deletion. The pure operations here decide; the
// claim controller, the admission webhook, the projects service and the CLI apply them.
package projects

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/binder-projects/binder-projects/patch"
)

// Annotations on the user's claim that hold the registry (documented with the others in
// patch/annotations.go's README table).
const (
	// AnnotationProjects is the JSON list of the claim's projects.
	AnnotationProjects = patch.AnnotationClaimProjects
	// AnnotationDeleteQueue is the JSON list of folders queued for deletion.
	AnnotationDeleteQueue = patch.AnnotationClaimDeleteQueue
)

// Project is one project on a user's claim.
type Project struct {
	// Dir is the project's folder on the claim.
	Dir string `json:"dir"`
	// RepoURL is the repository it was launched from (without credentials).
	RepoURL string `json:"repoURL,omitempty"`
	// Image is the image of its last launch.
	Image string `json:"image,omitempty"`
	// Commit is the ref BinderHub resolved for its last launch, when known.
	Commit string `json:"commit,omitempty"`
	// LastUsed is when its last launch's init container finished.
	LastUsed time.Time `json:"lastUsed"`
}

// Queued is a folder waiting for an init container to delete it.
type Queued struct {
	Dir      string    `json:"dir"`
	QueuedAt time.Time `json:"queuedAt"`
}

// Registry is what one claim records.
type Registry struct {
	Projects  []Project
	Deletions []Queued
}

// Sentinel errors; match them with errors.Is.
var (
	// ErrNoSuchProject: the folder is not a project of the user.
	ErrNoSuchProject = errors.New("no such project")
	// ErrTooManyProjects: launching a new project would pass the per-user limit.
	ErrTooManyProjects = errors.New("too many projects")
	// ErrServerRunning: the user's server is running, so its projects cannot be deleted now.
	ErrServerRunning = errors.New("the user's server is running")
	// ErrCorruptRegistry: the claim's annotations cannot be read.
	ErrCorruptRegistry = errors.New("the projects registry on the claim cannot be read")
)

// FromClaim reads the registry from a claim's annotations. A claim without them has an empty registry.
func FromClaim(pvc *corev1.PersistentVolumeClaim) (Registry, error) {
	var r Registry
	if s := pvc.Annotations[AnnotationProjects]; s != "" {
		if err := json.Unmarshal([]byte(s), &r.Projects); err != nil {
			return Registry{}, fmt.Errorf("%w: claim %s, annotation %s: %v", ErrCorruptRegistry, pvc.Name, AnnotationProjects, err)
		}
	}
	if s := pvc.Annotations[AnnotationDeleteQueue]; s != "" {
		if err := json.Unmarshal([]byte(s), &r.Deletions); err != nil {
			return Registry{}, fmt.Errorf("%w: claim %s, annotation %s: %v", ErrCorruptRegistry, pvc.Name, AnnotationDeleteQueue, err)
		}
	}
	return r, nil
}

// ToClaim writes the registry into the claim's annotations, removing those that would be empty.
func (r Registry) ToClaim(pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Annotations == nil {
		pvc.Annotations = map[string]string{}
	}
	for key, v := range map[string]any{AnnotationProjects: r.Projects, AnnotationDeleteQueue: r.Deletions} {
		if b, err := json.Marshal(v); err != nil {
			return err
		} else if string(b) == "null" || string(b) == "[]" {
			delete(pvc.Annotations, key)
		} else {
			pvc.Annotations[key] = string(b)
		}
	}
	return nil
}

// Find returns the index of the project in dir, or -1.
func (r Registry) Find(dir string) int {
	return slices.IndexFunc(r.Projects, func(p Project) bool { return p.Dir == dir })
}

// QueuedDirs are the folders waiting for deletion, in queue order.
func (r Registry) QueuedDirs() []string {
	dirs := make([]string, 0, len(r.Deletions))
	for _, q := range r.Deletions {
		dirs = append(dirs, q.Dir)
	}
	return dirs
}

// Record notes a successful launch of p: a new project is added, a known one updated. LastUsed never
// goes back, so an old launch observed late does not undo a newer one.
func (r *Registry) Record(p Project) {
	i := r.Find(p.Dir)
	if i < 0 {
		r.Projects = append(r.Projects, p)
		r.sort()
		return
	}
	if p.LastUsed.Before(r.Projects[i].LastUsed) {
		return
	}
	r.Projects[i] = p
}

// Delete removes the project in dir from the record and queues its folder for deletion.
func (r *Registry) Delete(dir string, now time.Time) error {
	i := r.Find(dir)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNoSuchProject, dir)
	}
	r.Projects = slices.Delete(r.Projects, i, i+1)
	if !slices.Contains(r.QueuedDirs(), dir) {
		r.Deletions = append(r.Deletions, Queued{Dir: dir, QueuedAt: now})
	}
	return nil
}

// Deleted takes off the queue the folders an init container deleted, if they were queued before
// that pod was admitted (a folder queued again later must wait for the next init container).
func (r *Registry) Deleted(dirs []string, admitted time.Time) {
	r.Deletions = slices.DeleteFunc(r.Deletions, func(q Queued) bool {
		return slices.Contains(dirs, q.Dir) && !q.QueuedAt.After(admitted)
	})
}

// Admit decides whether a pod may launch the project in dir, with at most max projects per claim
// (0: no limit). A project already recorded may always be launched again; a new one only below the
// limit, else ErrTooManyProjects with a message that names the projects and how to delete one.
func (r Registry) Admit(dir string, max int) error {
	if max <= 0 || r.Find(dir) >= 0 || len(r.Projects) < max {
		return nil
	}
	names := make([]string, 0, len(r.Projects))
	for _, p := range r.Projects {
		names = append(names, p.Dir)
	}
	return fmt.Errorf("%w: you have %d projects (%s), the most allowed; delete one on the projects page or with "+
		"DELETE /services/<projects service>/api/users/<you>/projects/<folder>, then launch %s again",
		ErrTooManyProjects, len(r.Projects), strings.Join(names, ", "), dir)
}

func (r *Registry) sort() {
	slices.SortStableFunc(r.Projects, func(a, b Project) int { return strings.Compare(a.Dir, b.Dir) })
}
