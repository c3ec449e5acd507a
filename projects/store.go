package projects

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Listed is a project as the projects API and the CLI show it: with the claim (the server's storage)
// that holds it.
type Listed struct {
	Project
	Claim string `json:"claim"`
	// Expires is when the project expires unless it is launched again (Project.ExpiresAt), set by the
	// projects service while projects expire; nil otherwise, and always from the store.
	Expires *time.Time `json:"expiresAt,omitempty"`
}

// Storage is what one claim of a user records of its volume beyond the projects: its usage, the
// folders that take the most, and the recently deleted projects.
type Storage struct {
	Claim string
	// Usage is the volume's size and free space as last measured, nil before the first measure.
	Usage *Usage
	// Largest are the measured folders, projects and deleted ones in the trash, largest first
	// (Registry.Largest).
	Largest []Folder
	// Trash are the claim's recently deleted projects, most recently deleted first.
	Trash []ListedTrash
}

// ListedTrash is a recently deleted project as the projects API shows it: with its trash entry's id,
// the claim that holds it and what is asked of it.
type ListedTrash struct {
	Trashed
	// ID is the trash entry's id (contract.TrashID of its deletion, DeletedAt in Unix nanoseconds), in
	// decimal: a JSON number that large loses digits in JavaScript.
	ID    string `json:"id"`
	Claim string `json:"claim"`
	// Restoring and Purging say that a restore, or a deletion for good, waits for the next init
	// container (Registry.Restores, Registry.Purges).
	Restoring bool `json:"restoring,omitempty"`
	Purging   bool `json:"purging,omitempty"`
	// StartsBefore is, for a restore or a deletion for good that waits, how many server starts come
	// before the one that does it: a start is handed the oldest contract.MaxRestoresPerStart restores
	// and contract.MaxPurgesPerStart purges, the others wait for the next. 0: the next start.
	StartsBefore int `json:"startsBefore,omitempty"`
	// KeptUntil is when its folder is deleted for good at the latest: the first start of a server
	// after it (DeletedAt and the trash days). Set by the projects service for an entry in the trash
	// while there is one; nil otherwise, and always from the store.
	KeptUntil *time.Time `json:"keptUntil,omitempty"`
}

// Store is what the projects service and the CLI do with a user's projects. User names are
// JupyterHub's raw names (the claims' hub.jupyter.org/username annotation).
type Store interface {
	// List returns the user's projects on all their claims, most recently used first.
	List(ctx context.Context, user string) ([]Listed, error)
	// ListReadable is List that says what it could not read: the projects that could be read, and,
	// when a registry entry of the user's could not be, an error wrapping ErrCorruptRegistry (FromClaim's
	// *Unreadable, one per claim and annotation). List leaves that error out.
	ListReadable(ctx context.Context, user string) ([]Listed, error)
	// Delete removes the project in dir from the user's record and queues its folder for deletion by
	// the next init container. ErrServerRunning while a server of the user exists; ErrNoSuchProject if
	// no claim of the user records dir; ErrServerStarted (the deletion queued) if a server started
	// meanwhile and the store cannot tell whether it was handed the deletion.
	Delete(ctx context.Context, user string, dir contract.ProjectDir) error
	// RequestUpdate queues an update of the project in dir for its next launch, on every claim of the
	// user that records it (the webhook hands it to that launch; docs/updates.md). ErrNoSuchProject if
	// no claim of the user records dir. A request already waiting stays as it is.
	RequestUpdate(ctx context.Context, user string, dir contract.ProjectDir) error
	// Storage returns, for each of the user's claims, the volume's usage, the largest folders and the
	// recently deleted projects; like ListReadable, what could be read, and an error wrapping
	// ErrCorruptRegistry for what could not.
	Storage(ctx context.Context, user string) ([]Storage, error)
	// Read is ListReadable and Storage from one read of the user's claims (the projects page shows
	// both), with their error.
	Read(ctx context.Context, user string) ([]Listed, []Storage, error)
	// Restore asks for the recently deleted project named by entry (its deletion) back, on every claim
	// of the user whose trash holds it (Registry.RequestRestore): back says the deletion was still
	// queued on each and was simply taken back (the project is recorded again now); otherwise the
	// restore waits for the next init container. ErrNotInTrash if no claim of the user holds entry.
	Restore(ctx context.Context, user string, entry Queued) (back bool, err error)
	// Purge asks for the recently deleted project named by entry to be deleted for good by the next
	// init container, on every claim of the user whose trash holds it (Registry.RequestPurge).
	// ErrNotInTrash if no claim of the user holds entry.
	Purge(ctx context.Context, user string, entry Queued) error
}

// ErrServerStarted: a server of the user started while a project was being deleted. The deletion stays
// queued (see KubeStore.Delete).
var ErrServerStarted = errors.New("a server of the user started while the project was being deleted")

// Servers says which servers of a user exist: the projects service asks the hub.
type Servers interface {
	// Active returns the names of the user's servers that are starting, running or stopping ("" is the
	// default server); none when the user has no server or is unknown.
	Active(ctx context.Context, user string) ([]string, error)
}

// KubeStore is the Store on the Kubernetes API: the users' claims in the hub's namespace, and whether
// their servers run.
type KubeStore struct {
	Client    client.Client
	Namespace string
	// Servers, when set, says whether a user's server runs (the projects service asks the hub, and
	// reads no pods). When nil, the user's singleuser pods are listed (the admin CLI, which has a
	// kubeconfig).
	Servers Servers
	// ClaimName, when set, names the user's one claim (KubeSpawner's name template): only that claim is
	// read. When nil, every claim in the namespace is listed and the user's are those whose
	// hub.jupyter.org/username annotation names the user.
	ClaimName func(user string) (string, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ Store = (*KubeStore)(nil)

// List implements Store.
func (s *KubeStore) List(ctx context.Context, user string) ([]Listed, error) {
	out, err := s.ListReadable(ctx, user)
	if errors.Is(err, ErrCorruptRegistry) {
		return out, nil
	}
	return out, err
}

// ListReadable implements Store.
func (s *KubeStore) ListReadable(ctx context.Context, user string) ([]Listed, error) {
	regs, unreadable := s.registries(ctx, user)
	return listed(regs), unreadable
}

// Storage implements Store.
func (s *KubeStore) Storage(ctx context.Context, user string) ([]Storage, error) {
	regs, unreadable := s.registries(ctx, user)
	return storages(regs), unreadable
}

// Read implements Store.
func (s *KubeStore) Read(ctx context.Context, user string) ([]Listed, []Storage, error) {
	regs, unreadable := s.registries(ctx, user)
	return listed(regs), storages(regs), unreadable
}

// listed is the projects of regs, most recently used first (ListReadable).
func listed(regs []claimRegistry) []Listed {
	var out []Listed
	for _, r := range regs {
		for _, p := range r.Projects {
			// The registry's own bookkeeping (Observed), not the user's concern.
			p.DeletionTakenBack = nil
			out = append(out, Listed{Project: p, Claim: r.claim})
		}
	}
	slices.SortStableFunc(out, func(a, b Listed) int {
		if c := b.LastUsed.Compare(a.LastUsed); c != 0 {
			return c
		}
		return cmp.Compare(a.Dir, b.Dir)
	})
	return out
}

// storages is the Storage of each of regs (Storage).
func storages(regs []claimRegistry) []Storage {
	var out []Storage
	for _, r := range regs {
		st := Storage{Claim: r.claim, Usage: r.Usage, Largest: r.Largest(-1)}
		for _, t := range r.Trash {
			e := t.Entry()
			l := ListedTrash{Trashed: t, ID: strconv.FormatInt(contract.TrashID(e), 10), Claim: r.claim}
			if i := slices.IndexFunc(r.Restores, e.Same); i >= 0 {
				l.Restoring, l.StartsBefore = true, i/contract.MaxRestoresPerStart
			}
			if i := slices.IndexFunc(r.Purges, e.Same); i >= 0 {
				l.Purging, l.StartsBefore = true, i/contract.MaxPurgesPerStart
			}
			st.Trash = append(st.Trash, l)
		}
		slices.SortStableFunc(st.Trash, func(a, b ListedTrash) int {
			return cmp.Or(b.DeletedAt.Compare(a.DeletedAt), cmp.Compare(a.Dir, b.Dir))
		})
		out = append(out, st)
	}
	return out
}

// claimRegistry is the registry read from one claim.
type claimRegistry struct {
	Registry
	claim string
}

// registries reads the registry of each of the user's claims. An unreadable entry hides only itself:
// the user sees what can be read, and the next write sets the bad value aside. The error is any error
// reading the claims, or FromClaim's of each (wrapping ErrCorruptRegistry), joined.
func (s *KubeStore) registries(ctx context.Context, user string) ([]claimRegistry, error) {
	claims, err := s.claims(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []claimRegistry
	var unreadable []error
	for i := range claims {
		r, err := FromClaim(&claims[i])
		unreadable = append(unreadable, err)
		out = append(out, claimRegistry{Registry: r, claim: claims[i].Name})
	}
	return out, errors.Join(unreadable...)
}

// Delete implements Store. Each claim is updated with optimistic concurrency: a conflicting write
// makes it read the claim again and retry, so no concurrent update is lost.
//
// A server may start between the check for running servers and the write, so the servers are looked
// at again after the write. With pods (Servers is nil), a server pod whose admission was handed the
// new queue entry deletes the folder itself (the deletion goes on); one that was not (it was admitted
// before the entry existed) would keep working in the folder, so the entry is taken back and the
// deletion refused like the first check's (ErrServerRunning).
//
// Asking the hub (Servers), the store cannot see whether that server's pod was handed the entry. Taking
// the entry back could then undo the record of a deletion that the pod's init container carries out
// anyway, so the entry stays queued and Delete returns ErrServerStarted: if that server launched this
// very project without the entry, the registry controller cancels the deletion when the launch
// succeeds (no file written after the launch is lost, and an Event on the pod says so); otherwise the
// folder goes at this start or the next.
func (s *KubeStore) Delete(ctx context.Context, user string, dir contract.ProjectDir) error {
	if s.Servers != nil {
		return s.deleteAskingTheHub(ctx, user, dir)
	}
	running, err := s.serverPods(ctx, user)
	if err != nil {
		return err
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: stop your server (pod %s) on the hub's home page first, then delete the project", ErrServerRunning, running[0].Name)
	}
	done, err := s.queue(ctx, user, dir)
	if err != nil {
		return err
	}

	running, err = s.serverPods(ctx, user)
	if err != nil {
		return err
	}
	for _, pod := range running {
		handed, _ := contract.HandedDeletions(pod.Annotations)
		for _, q := range done {
			if slices.ContainsFunc(handed, q.entry.Same) {
				continue
			}
			if err := s.unqueue(ctx, done); err != nil {
				return fmt.Errorf("server %s started while project %s was being deleted, and taking the deletion back failed: %w", pod.Name, dir, err)
			}
			return fmt.Errorf("%w: server %s started while the project was being deleted; the project was not deleted. Stop the server on the hub's home page first, then delete the project", ErrServerRunning, pod.Name)
		}
	}
	return nil
}

// deleteAskingTheHub is Delete with the hub saying whether the user's servers run.
func (s *KubeStore) deleteAskingTheHub(ctx context.Context, user string, dir contract.ProjectDir) error {
	active, err := s.Servers.Active(ctx, user)
	if err != nil {
		return fmt.Errorf("asking the hub whether %s's server runs: %w", user, err)
	}
	if len(active) > 0 {
		return fmt.Errorf("%w: stop %s on the hub's home page first, then delete the project", ErrServerRunning, serverNames(active))
	}
	if _, err := s.queue(ctx, user, dir); err != nil {
		return err
	}
	active, err = s.Servers.Active(ctx, user)
	if err != nil {
		return fmt.Errorf("project %s was deleted, but asking the hub again whether %s's server runs failed: %w", dir, user, err)
	}
	if len(active) > 0 {
		return fmt.Errorf("%w (%s). The deletion stays queued: if that server was started for %s, it keeps the project and its files and cancels the deletion (its launch log says so); otherwise the folder is deleted when a server starts", ErrServerStarted, serverNames(active), dir)
	}
	return nil
}

// serverNames names servers for a person: "your server", "your server \"gpu\"", ...
func serverNames(names []string) string {
	var out []string
	for _, n := range names {
		if n == "" {
			out = append(out, "your server")
		} else {
			out = append(out, fmt.Sprintf("your server %q", n))
		}
	}
	return strings.Join(out, " and ")
}

// RequestUpdate implements Store. A running server does not stop it: the request waits for the
// project's next launch.
func (s *KubeStore) RequestUpdate(ctx context.Context, user string, dir contract.ProjectDir) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	found, err := s.changeEach(ctx, user, ErrNoSuchProject, func(_ string, r *Registry) error {
		_, err := r.RequestUpdate(dir, now().UTC())
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: %s has no project %q", ErrNoSuchProject, user, dir)
	}
	return err
}

// Restore implements Store. A running server does not stop it: the restore waits for the next start
// (a deletion still queued is taken back at once, as Registry.RequestRestore does). A restore that
// brings a project back beyond the per-user limit is not refused: the limit counts launches of new
// projects only.
func (s *KubeStore) Restore(ctx context.Context, user string, entry Queued) (bool, error) {
	// Whether each claim took the deletion back, as its last try did (ChangeRegistry tries again
	// after a conflicting write).
	backOn := map[string]bool{}
	found, err := s.changeEach(ctx, user, ErrNotInTrash, func(claim string, r *Registry) error {
		back, err := r.RequestRestore(entry)
		backOn[claim] = back && err == nil
		return err
	})
	if err == nil && !found {
		err = notInTrash(user, entry)
	}
	if err != nil {
		return false, err
	}
	for _, back := range backOn {
		if !back {
			return false, nil
		}
	}
	return true, nil
}

// Purge implements Store. A running server does not stop it: the deletion for good waits for the
// next start.
func (s *KubeStore) Purge(ctx context.Context, user string, entry Queued) error {
	found, err := s.changeEach(ctx, user, ErrNotInTrash, func(_ string, r *Registry) error { return r.RequestPurge(entry) })
	if err == nil && !found {
		err = notInTrash(user, entry)
	}
	return err
}

// notInTrash is ErrNotInTrash for the user's trash entry named by entry.
func notInTrash(user string, entry Queued) error {
	return fmt.Errorf("%w: %s has no recently deleted project %s", ErrNotInTrash, user, contract.TrashEntryName(contract.TrashID(entry), entry.Dir))
}

// changeEach applies change to the registry on each of the user's claims, named (ChangeRegistry:
// again after a conflicting write). A claim where change returns an error wrapping absent (the
// project or entry is not there) is left as it was; found says whether change succeeded on any claim.
// Any other error stops it.
func (s *KubeStore) changeEach(ctx context.Context, user string, absent error, change func(claim string, r *Registry) error) (found bool, err error) {
	claims, err := s.claims(ctx, user)
	if err != nil {
		return false, err
	}
	for _, c := range claims {
		err := s.update(ctx, c.Namespace, c.Name, func(r *Registry) error { return change(c.Name, r) })
		switch {
		case errors.Is(err, absent):
		case err != nil:
			return found, fmt.Errorf("updating the registry on claim %s: %w", c.Name, err)
		default:
			found = true
		}
	}
	return found, nil
}

// queuedOn is a deletion queued on one claim: its queue entry and the project as it was recorded.
type queuedOn struct {
	claim   string
	entry   Queued
	project Project
}

// queue takes dir off the record of each of the user's claims that has it and queues its folder.
func (s *KubeStore) queue(ctx context.Context, user string, dir contract.ProjectDir) ([]queuedOn, error) {
	claims, err := s.claims(ctx, user)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var done []queuedOn
	for _, c := range claims {
		var q queuedOn
		err := s.update(ctx, c.Namespace, c.Name, func(r *Registry) error {
			var err error
			q.entry, q.project, err = r.Delete(dir, now().UTC())
			return err
		})
		switch {
		case errors.Is(err, ErrNoSuchProject):
		case err != nil:
			return nil, fmt.Errorf("updating the registry on claim %s: %w", c.Name, err)
		default:
			q.claim = c.Name
			done = append(done, q)
		}
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("%w: %s has no project %q", ErrNoSuchProject, user, dir)
	}
	return done, nil
}

// unqueue undoes queue.
func (s *KubeStore) unqueue(ctx context.Context, done []queuedOn) error {
	for _, q := range done {
		if err := s.update(ctx, s.Namespace, q.claim, func(r *Registry) error {
			r.Unqueue(q.entry, q.project)
			return nil
		}); err != nil {
			return fmt.Errorf("on claim %s: %w", q.claim, err)
		}
	}
	return nil
}

// update applies change to the registry on the named claim and writes it (ChangeRegistry: reading the
// claim again and retrying when another writer was faster).
func (s *KubeStore) update(ctx context.Context, namespace, name string, change func(*Registry) error) error {
	_, err := ChangeRegistry(ctx, s.Client, s.Client, client.ObjectKey{Namespace: namespace, Name: name},
		func(_ metav1.Object, r *Registry) error { return change(r) })
	return err
}

// claims are the user's claims in the namespace (their metadata: the registry is annotations): the one
// ClaimName names, else those KubeSpawner's raw-username annotation gives the user.
func (s *KubeStore) claims(ctx context.Context, user string) ([]metav1.PartialObjectMetadata, error) {
	if s.ClaimName != nil {
		name, err := s.ClaimName(user)
		if err != nil {
			return nil, fmt.Errorf("the name of %s's claim: %w", user, err)
		}
		pvc := ClaimMetadata()
		err = s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, pvc)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading claim %s: %w", name, err)
		}
		if u, ok := pvc.Annotations[contract.AnnotationHubUsername]; ok && u != user {
			return nil, nil // another user's claim by that name: not this user's
		}
		return []metav1.PartialObjectMetadata{*pvc}, nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaimList"))
	if err := s.Client.List(ctx, list, client.InNamespace(s.Namespace)); err != nil {
		return nil, fmt.Errorf("listing claims: %w", err)
	}
	return slices.DeleteFunc(list.Items, func(c metav1.PartialObjectMetadata) bool {
		return c.Annotations[contract.AnnotationHubUsername] != user
	}), nil
}

// serverPods are the user's singleuser pods that exist, in any phase.
func (s *KubeStore) serverPods(ctx context.Context, user string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace),
		client.MatchingLabels{contract.LabelComponent: contract.ComponentSingleuser}); err != nil {
		return nil, fmt.Errorf("listing server pods: %w", err)
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool {
		return p.Annotations[contract.AnnotationHubUsername] != user
	}), nil
}
