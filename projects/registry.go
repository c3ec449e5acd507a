// Package projects is the registry of a user's projects. It lives on the user's claim, as
// annotations, so the record lives and dies with the data: each project's folder, repository, image,
// commit and last use, and the folders queued for deletion. The pure operations here decide; the
// claim controller, the admission webhook, the projects service and the CLI apply them.
package projects

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
)

// Annotations on the user's claim that hold the registry (documented with the others in
// contract/annotations.go, whose table is docs/annotations.md).
const (
	// AnnotationProjects is the JSON list of the claim's projects.
	AnnotationProjects = contract.AnnotationClaimProjects
	// AnnotationDeleteQueue is the JSON list of folders queued for deletion.
	AnnotationDeleteQueue = contract.AnnotationClaimDeleteQueue
	// AnnotationUpdateQueue is the JSON list of projects whose next launch updates them.
	AnnotationUpdateQueue = contract.AnnotationClaimUpdateQueue
)

// Project is one project on a user's claim.
type Project struct {
	// Dir is the project's folder on the claim.
	Dir contract.ProjectDir `json:"dir"`
	// RepoURL is the repository it was launched from (without credentials).
	RepoURL string `json:"repoURL,omitempty"`
	// Image is the image of its last launch.
	Image string `json:"image,omitempty"`
	// Commit is the ref BinderHub resolved for its last launch, when known.
	Commit string `json:"commit,omitempty"`
	// LastUsed is when its last launch's init container finished.
	LastUsed time.Time `json:"lastUsed"`
	// LastUpdate is the last update of the project to a newer commit that changed it (or found
	// nothing to change), nil if it was never updated.
	LastUpdate *Update `json:"lastUpdate,omitempty"`
	// Size is the folder's size as last measured (contract.Usage), nil before the first measure.
	Size *Size `json:"size,omitempty"`
	// DeletionTakenBack is the deletion of this project that a restore took back while it was still
	// queued (RequestRestore), nil for none. A start admitted before the restore may have been handed
	// that deletion and still move the folder into the trash; when a report shows it did, Observed
	// queues the folder's restore. It is forgotten once the folder is back, once a complete trash list
	// shows it did not go, and when the project is deleted again (Delete): so it never brings back a
	// folder of a later deletion. Internal to the registry: the projects API leaves it out.
	DeletionTakenBack *Queued `json:"deletionTakenBack,omitempty"`
}

// tookBack reports whether p remembers the deletion entry as taken back (DeletionTakenBack).
func (p Project) tookBack(entry Queued) bool {
	return p.DeletionTakenBack != nil && p.DeletionTakenBack.Same(entry)
}

// Size is a folder's size in bytes of disk used, and when it was measured.
type Size struct {
	Bytes int64     `json:"bytes"`
	At    time.Time `json:"at"`
}

// HumanBytes says n bytes for a person, in binary units: "812 B", "1.5 KiB", "5.1 GiB" (the page,
// Events and the admin CLI).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Trashed is a recently deleted project (contract.AnnotationClaimTrash): its record as it was, and
// its deletion. While the deletion is queued its folder is where it was; the next init container
// moves it into the volume's trash (contract.TrashFolder), where it stays for the trash days, unless
// it is restored or deleted for good first.
type Trashed struct {
	Project
	// DeletedAt is its deletion queue entry's time: the trash entry is named by that entry
	// (contract.TrashEntryOf(contract.TrashID(entry), dir)).
	DeletedAt time.Time `json:"deletedAt"`
	// InTrash says an init container moved the folder into the trash (its report listed it).
	InTrash bool `json:"inTrash,omitempty"`
}

// Entry is the deletion queue entry that names the trash entry.
func (t Trashed) Entry() Queued { return Queued{Dir: t.Dir, QueuedAt: t.DeletedAt} }

// Usage is the volume's size and free space as last measured (contract.AnnotationClaimUsage).
type Usage struct {
	Size int64     `json:"size"`
	Free int64     `json:"free"`
	At   time.Time `json:"at"`
	// Basis says what Size and Free are: UsageFilesystem (the filesystem's, statfs) or UsageClaim
	// (the claim's capacity, and what the projects and the trash take of it: on a shared filesystem,
	// such as NFS, statfs tells the share's size, not the user's). Empty in a record written before
	// it was kept: the filesystem's.
	Basis string `json:"basis,omitempty"`
}

// The bases of Usage.
const (
	UsageFilesystem = "filesystem"
	UsageClaim      = "claim"
)

// Update is what an update of a project did (contract.UpdateReport, docs/updates.md's rules).
type Update struct {
	// Commit is the commit the project was updated to, From the one its record of the seed had (""
	// when the project had no record: every file counted as the user's).
	Commit string `json:"commit"`
	From   string `json:"from,omitempty"`
	// At is when the init container that updated it finished.
	At time.Time `json:"at"`
	// The counts of the update; zero when the init container did not report them.
	Replaced      int `json:"replaced"`
	Added         int `json:"added"`
	Removed       int `json:"removed"`
	Kept          int `json:"kept"`
	Beside        int `json:"beside"`
	StayedDeleted int `json:"stayedDeleted"`
	Modes         int `json:"modes"`
}

// UpdateOf is the registry's record of the update an init container reported, or nil when it
// reported none that ran to its end.
func UpdateOf(r *contract.UpdateReport, at time.Time) *Update {
	if r == nil || r.State != contract.UpdateUpdated {
		return nil
	}
	return &Update{Commit: r.Commit, From: r.From, At: at, Replaced: r.Replaced, Added: r.Added, Removed: r.Removed,
		Kept: r.Kept, Beside: r.Beside, StayedDeleted: r.StayedDeleted, Modes: r.Modes}
}

// Queued is a folder waiting for an init container to delete it, or a project waiting for its next
// launch to update it; its folder and time identify it.
type Queued = contract.QueueEntry

// Registry is what one claim records.
type Registry struct {
	Projects  []Project
	Deletions []Queued
	// Updates are the update requests waiting for the next launch of their project.
	Updates []Queued
	// Trash are the recently deleted projects, oldest first; Restores and Purges the trash entries
	// waiting for the next init container to put them back or delete them for good.
	Trash    []Trashed
	Restores []Queued
	Purges   []Queued
	// Usage is the volume's size and free space as last measured, nil before the first measure.
	Usage *Usage
	// Corrupt holds the registry annotations of the claim that could not be read whole (an entry, or
	// all of it), by key, with their whole values: ToClaim sets them aside (contract.AnnotationClaimProjectsCorrupt, contract.AnnotationClaimDeleteQueueCorrupt) for
	// inspection.
	Corrupt map[string]string
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

// corruptKeys maps each registry annotation to the one its unparsable value is set aside in.
var corruptKeys = map[string]string{
	AnnotationProjects:                   contract.AnnotationClaimProjectsCorrupt,
	AnnotationDeleteQueue:                contract.AnnotationClaimDeleteQueueCorrupt,
	AnnotationUpdateQueue:                contract.AnnotationClaimUpdateQueueCorrupt,
	contract.AnnotationClaimTrash:        contract.AnnotationClaimTrashCorrupt,
	contract.AnnotationClaimRestoreQueue: contract.AnnotationClaimRestoreQueueCorrupt,
	contract.AnnotationClaimPurgeQueue:   contract.AnnotationClaimPurgeQueueCorrupt,
	contract.AnnotationClaimUsage:        contract.AnnotationClaimUsage + "-corrupt",
}

// parts are the registry's annotations and where each is decoded to.
func (r *Registry) parts() map[string]any {
	return map[string]any{AnnotationProjects: &r.Projects, AnnotationDeleteQueue: &r.Deletions, AnnotationUpdateQueue: &r.Updates,
		contract.AnnotationClaimTrash: &r.Trash, contract.AnnotationClaimRestoreQueue: &r.Restores,
		contract.AnnotationClaimPurgeQueue: &r.Purges, contract.AnnotationClaimUsage: &r.Usage}
}

// FromClaim reads the registry from a claim's annotations. A claim without them has an empty registry.
// A value that does not parse (a hand edit, a truncated write) never makes the rest unreadable. A list
// is read entry by entry: an entry that does not decode (a bad folder name, a wrong type) hides only
// itself, and the registry holds the list's other entries. A value that is not a JSON list at all (or
// the usage, when it does not decode) reads as empty: no projects, or nothing queued, so nothing is ever
// deleted on its account. Either way the error wraps ErrCorruptRegistry, with one *Unreadable per
// annotation that names the claim, the annotation and how many of its entries could not be read, and
// the registry keeps the annotation's whole value in Corrupt, which ToClaim sets aside in the
// annotation's -corrupt twin: writing the registry back from what was read loses nothing.
func FromClaim(pvc metav1.Object) (Registry, error) {
	var r Registry
	var errs []error
	for key, dst := range r.parts() {
		s := pvc.GetAnnotations()[key]
		if s == "" {
			continue
		}
		bad := decodePart(s, dst)
		if bad == nil {
			continue
		}
		bad.Claim, bad.Annotation = pvc.GetName(), key
		if r.Corrupt == nil {
			r.Corrupt = map[string]string{}
		}
		r.Corrupt[key] = s
		errs = append(errs, bad)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return r, errors.Join(errs...)
}

// Unreadable is what FromClaim could not read in one annotation of a claim. It wraps
// ErrCorruptRegistry and the first decoding error.
type Unreadable struct {
	Claim, Annotation string
	// Entries is how many entries of the annotation's JSON list could not be read, of Of; 0 when the
	// whole value could not be read (it is not a JSON list, or not the annotation's JSON).
	Entries, Of int
	Err         error
}

func (u *Unreadable) Error() string {
	if u.Entries == 0 {
		return fmt.Sprintf("%v: claim %s, annotation %s: %v", ErrCorruptRegistry, u.Claim, u.Annotation, u.Err)
	}
	entries, verb := fmt.Sprintf("%d entries", u.Entries), "are"
	if u.Entries == 1 {
		entries, verb = "1 entry", "is"
	}
	return fmt.Sprintf("%v: claim %s, annotation %s: %s of %d could not be read and %s left out (%v)",
		ErrCorruptRegistry, u.Claim, u.Annotation, entries, u.Of, verb, u.Err)
}

func (u *Unreadable) Unwrap() []error { return []error{ErrCorruptRegistry, u.Err} }

// decodePart decodes an annotation's value s into dst, one of parts(): a list entry by entry, keeping
// those that decode (a JSON null is no entry); anything else whole. It returns what could not be read,
// nil when everything could.
func decodePart(s string, dst any) *Unreadable {
	v := reflect.ValueOf(dst).Elem()
	if v.Kind() != reflect.Slice {
		if err := json.Unmarshal([]byte(s), dst); err != nil {
			v.SetZero()
			return &Unreadable{Err: err}
		}
		return nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(s), &entries); err != nil {
		return &Unreadable{Err: err}
	}
	bad := &Unreadable{Of: len(entries)}
	for i, raw := range entries {
		e := reflect.New(v.Type().Elem())
		err := json.Unmarshal(raw, e.Interface())
		if err == nil && string(raw) == "null" {
			err = errors.New("null is not an entry")
		}
		if err != nil {
			bad.Entries++
			if bad.Err == nil {
				bad.Err = fmt.Errorf("entry %d: %w", i+1, err)
			}
			continue
		}
		v.Set(reflect.Append(v, e.Elem()))
	}
	if bad.Entries == 0 {
		return nil
	}
	return bad
}

// ToClaim writes the registry into the claim's annotations, removing those that would be empty. A
// value that did not parse when the registry was read is kept beside, in its -corrupt annotation.
func (r Registry) ToClaim(pvc metav1.Object) error {
	annotations := maps.Clone(pvc.GetAnnotations())
	if annotations == nil {
		annotations = map[string]string{}
	}
	defer pvc.SetAnnotations(annotations)
	for key, bad := range r.Corrupt {
		annotations[corruptKeys[key]] = bad
	}
	for key, v := range r.parts() {
		if b, err := json.Marshal(v); err != nil {
			return err
		} else if string(b) == "null" || string(b) == "[]" {
			delete(annotations, key)
		} else {
			annotations[key] = string(b)
		}
	}
	return nil
}

// Owner is the JupyterHub user a claim belongs to: its hub.jupyter.org/username annotation, which
// KubeSpawner and binder-projects set on the claims they create; "" when the claim does not say.
func Owner(pvc metav1.Object) string { return pvc.GetAnnotations()[contract.AnnotationHubUsername] }

// Find returns the index of the project in dir, or -1.
func (r Registry) Find(dir contract.ProjectDir) int {
	return slices.IndexFunc(r.Projects, func(p Project) bool { return p.Dir == dir })
}

// Commits maps each project's folder to the commit its registry entry records (projects without one
// are left out), for patch.Config.UpdateOnLaunch.
func (r Registry) Commits() map[contract.ProjectDir]string {
	m := map[contract.ProjectDir]string{}
	for _, p := range r.Projects {
		if p.Commit != "" {
			m[p.Dir] = p.Commit
		}
	}
	return m
}

// QueuedDirs are the folders waiting for deletion, in queue order.
func (r Registry) QueuedDirs() []contract.ProjectDir {
	dirs := make([]contract.ProjectDir, 0, len(r.Deletions))
	for _, q := range r.Deletions {
		dirs = append(dirs, q.Dir)
	}
	return dirs
}

// Record notes a successful launch of p: a new project is added, a known one updated. LastUsed never
// goes back, so an old launch observed late does not undo a newer one. A launch that did not update
// the project (p.LastUpdate nil) keeps the record of its last update, and a launch keeps the deletion
// taken back that the project remembers: the launch may be the very start that moved its folder.
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
	if p.LastUpdate == nil {
		p.LastUpdate = r.Projects[i].LastUpdate
	}
	if p.DeletionTakenBack == nil {
		p.DeletionTakenBack = r.Projects[i].DeletionTakenBack
	}
	r.Projects[i] = p
}

// RequestUpdate queues an update of the project in dir for its next launch (the webhook hands it to
// that launch's init container). It returns the request that stands for it: a new one, or the one
// already waiting.
func (r *Registry) RequestUpdate(dir contract.ProjectDir, now time.Time) (Queued, error) {
	if r.Find(dir) < 0 {
		return Queued{}, fmt.Errorf("%w: %q", ErrNoSuchProject, dir)
	}
	if j := slices.IndexFunc(r.Updates, func(q Queued) bool { return q.Dir == dir }); j >= 0 {
		return r.Updates[j], nil
	}
	q := Queued{Dir: dir, QueuedAt: now}
	r.Updates = append(r.Updates, q)
	return q, nil
}

// UpdateRan takes off the queue exactly the request handed to an init container that reported the
// update's result (whatever it was). A request made later (not handed) stays for the next launch.
func (r *Registry) UpdateRan(handed Queued) {
	r.Updates = slices.DeleteFunc(r.Updates, handed.Same)
}

// Delete removes the project in dir from the record and queues its folder for deletion. It returns
// the queue entry that stands for the deletion (a new one, or the one already queued) and the project
// as it was recorded. The project's record is kept in Trash, pending (not InTrash), named by that
// entry, whatever the trash days: the init container's report says whether the folder went to the
// volume's trash or was deleted at once (Observed). A deletion taken back that the project remembers
// is forgotten, and the restore Observed queued for it, if any, is dropped: the user deleted the
// project since, so a folder a start moved into the trash by that deletion stays there, as a recently
// deleted project.
func (r *Registry) Delete(dir contract.ProjectDir, now time.Time) (Queued, Project, error) {
	i := r.Find(dir)
	if i < 0 {
		return Queued{}, Project{}, fmt.Errorf("%w: %q", ErrNoSuchProject, dir)
	}
	p := r.Projects[i]
	if back := p.DeletionTakenBack; back != nil {
		r.Restores = slices.DeleteFunc(r.Restores, back.Same)
		p.DeletionTakenBack = nil
	}
	r.Projects = slices.Delete(r.Projects, i, i+1)
	r.Updates = slices.DeleteFunc(r.Updates, func(q Queued) bool { return q.Dir == dir })
	q := Queued{Dir: dir, QueuedAt: now}
	if j := slices.IndexFunc(r.Deletions, func(q Queued) bool { return q.Dir == dir }); j >= 0 {
		q = r.Deletions[j]
	} else {
		r.Deletions = append(r.Deletions, q)
	}
	r.trash(Trashed{Project: p, DeletedAt: q.QueuedAt})
	return q, p, nil
}

// Deleted takes off the queue exactly the entries that were handed to an init container and whose
// folders it reported gone. An entry queued later for the same folder (not handed) stays for the next
// init container.
func (r *Registry) Deleted(handed []Queued, gone []contract.ProjectDir) {
	r.Deletions = slices.DeleteFunc(r.Deletions, func(q Queued) bool {
		return slices.Contains(gone, q.Dir) && slices.ContainsFunc(handed, q.Same)
	})
}

// Launched takes off the queue the entries for dir, the folder a pod just launched, that were not
// handed to its init container: that pod's admission did not see them (they raced with the launch),
// so the user now works in the folder as it was, and deleting it later would destroy that work. A
// cancelled deletion's pending record leaves Trash (the folder never went). It returns the entries it
// cancelled.
func (r *Registry) Launched(dir contract.ProjectDir, handed []Queued) []Queued {
	var cancelled []Queued
	r.Deletions = slices.DeleteFunc(r.Deletions, func(q Queued) bool {
		if q.Dir != dir || slices.ContainsFunc(handed, q.Same) {
			return false
		}
		cancelled = append(cancelled, q)
		return true
	})
	for _, q := range cancelled {
		r.untrash(q)
	}
	return cancelled
}

// Unqueue takes the exact entry q off the queue, and its pending record off Trash, and, if p is not
// recorded, records it again: the undoing of a Delete that must not happen.
func (r *Registry) Unqueue(q Queued, p Project) {
	r.Deletions = slices.DeleteFunc(r.Deletions, q.Same)
	r.untrash(q)
	if r.Find(p.Dir) < 0 {
		r.Projects = append(r.Projects, p)
		r.sort()
	}
}

// Admit decides whether a pod may launch the project in dir, with at most max projects per claim
// (0: no limit), while the user's other pods on the claim launch the projects in launching (those not
// recorded yet count as projects: a project is recorded only once its init container succeeded).
// Recently deleted projects (Trash) never count, whether their folders are in the trash yet or not. A
// project already recorded may always be launched again; a new one only below the limit, else
// ErrTooManyProjects with a message that names the projects and how to delete one.
func (r Registry) Admit(dir contract.ProjectDir, max int, launching []contract.ProjectDir) error {
	if max <= 0 || r.Find(dir) >= 0 {
		return nil
	}
	var others []string
	for _, d := range launching {
		if d != dir && r.Find(d) < 0 && !slices.Contains(others, string(d)) {
			others = append(others, string(d))
		}
	}
	if len(r.Projects)+len(others) < max {
		return nil
	}
	names := make([]string, 0, len(r.Projects))
	for _, p := range r.Projects {
		names = append(names, string(p.Dir))
	}
	have := fmt.Sprintf("you have %d projects (%s)", len(r.Projects), strings.Join(names, ", "))
	if len(others) > 0 {
		slices.Sort(others)
		have += fmt.Sprintf(" and your other servers are launching %d more (%s)", len(others), strings.Join(others, ", "))
	}
	return fmt.Errorf("%w: %s, the most allowed is %d; delete one on the projects page or with "+
		"DELETE /services/<projects service>/api/users/<you>/projects/<folder>, then launch %s again",
		ErrTooManyProjects, have, max, dir)
}

func (r *Registry) sort() {
	slices.SortStableFunc(r.Projects, func(a, b Project) int { return cmp.Compare(a.Dir, b.Dir) })
}
