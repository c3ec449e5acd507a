package projects

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/patch"
)

// Listed is a project as the projects API and the CLI show it: with the claim (the server's storage)
// that holds it.
type Listed struct {
	Project
	Claim string `json:"claim"`
}

// Store is what the projects service and the CLI do with a user's projects. User names are
// JupyterHub's raw names (the claims' hub.jupyter.org/username annotation).
type Store interface {
	// List returns the user's projects on all their claims, most recently used first.
	List(ctx context.Context, user string) ([]Listed, error)
	// Delete removes the project in dir from the user's record and queues its folder for deletion by
	// the next init container. ErrServerRunning while a server pod of the user exists;
	// ErrNoSuchProject if no claim of the user records dir.
	Delete(ctx context.Context, user, dir string) error
}

// KubeStore is the Store on the Kubernetes API: the claims and pods in the hub's namespace.
type KubeStore struct {
	Client    client.Client
	Namespace string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ Store = (*KubeStore)(nil)

// List implements Store.
func (s *KubeStore) List(ctx context.Context, user string) ([]Listed, error) {
	claims, err := s.claims(ctx, user)
	if err != nil {
		return nil, err
	}
	var out []Listed
	for i := range claims {
		// A corrupt part reads as empty: the user sees what can be read; the next launch repairs it.
		r, _ := FromClaim(&claims[i])
		for _, p := range r.Projects {
			out = append(out, Listed{Project: p, Claim: claims[i].Name})
		}
	}
	slices.SortStableFunc(out, func(a, b Listed) int {
		if c := b.LastUsed.Compare(a.LastUsed); c != 0 {
			return c
		}
		return strings.Compare(a.Dir, b.Dir)
	})
	return out, nil
}

// Delete implements Store. Each claim is updated with optimistic concurrency: a conflicting write
// makes it read the claim again and retry, so no concurrent update is lost.
//
// A server may start between the check for running servers and the write. So the servers are looked
// at again after the write: one whose admission was handed the new queue entry deletes the folder
// itself (the deletion goes on); one that was not (it was admitted before the entry existed) would
// keep working in the folder, so the entry is taken back and the deletion refused like the first
// check's.
func (s *KubeStore) Delete(ctx context.Context, user, dir string) error {
	if err := patch.ValidateProjectDir(dir); err != nil {
		return fmt.Errorf("%w: %v", ErrNoSuchProject, err)
	}
	running, err := s.serverPods(ctx, user)
	if err != nil {
		return err
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: stop your server (pod %s) on the hub's home page first, then delete the project", ErrServerRunning, running[0].Name)
	}
	claims, err := s.claims(ctx, user)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	type queuedOn struct {
		claim   string
		entry   Queued
		project Project
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
			return fmt.Errorf("updating the registry on claim %s: %w", c.Name, err)
		default:
			q.claim = c.Name
			done = append(done, q)
		}
	}
	if len(done) == 0 {
		return fmt.Errorf("%w: %s has no project %q", ErrNoSuchProject, user, dir)
	}

	running, err = s.serverPods(ctx, user)
	if err != nil {
		return err
	}
	for _, pod := range running {
		handed, _ := patch.HandedDeletions(&pod)
		for _, q := range done {
			if slices.ContainsFunc(handed, q.entry.Same) {
				continue
			}
			for _, q := range done {
				if err := s.update(ctx, s.Namespace, q.claim, func(r *Registry) error {
					r.Unqueue(q.entry, q.project)
					return nil
				}); err != nil {
					return fmt.Errorf("server %s started while project %s was being deleted, and taking the deletion back failed on claim %s: %w", pod.Name, dir, q.claim, err)
				}
			}
			return fmt.Errorf("%w: server %s started while the project was being deleted; the project was not deleted. Stop the server on the hub's home page first, then delete the project", ErrServerRunning, pod.Name)
		}
	}
	return nil
}

// update applies change to the registry on the named claim and writes it, reading the claim again and
// retrying when another writer was faster.
func (s *KubeStore) update(ctx context.Context, namespace, name string, change func(*Registry) error) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pvc corev1.PersistentVolumeClaim
		if err := s.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &pvc); err != nil {
			return err
		}
		r, _ := FromClaim(&pvc) // a corrupt part reads as empty and is set aside by ToClaim
		if err := change(&r); err != nil {
			return err
		}
		if err := r.ToClaim(&pvc); err != nil {
			return err
		}
		return s.Client.Update(ctx, &pvc)
	})
}

// claims are the user's claims in the namespace, found by KubeSpawner's raw-username annotation.
func (s *KubeStore) claims(ctx context.Context, user string) ([]corev1.PersistentVolumeClaim, error) {
	var list corev1.PersistentVolumeClaimList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace)); err != nil {
		return nil, fmt.Errorf("listing claims: %w", err)
	}
	return slices.DeleteFunc(list.Items, func(c corev1.PersistentVolumeClaim) bool {
		return c.Annotations[patch.AnnotationHubUsername] != user
	}), nil
}

// serverPods are the user's singleuser pods that exist, in any phase.
func (s *KubeStore) serverPods(ctx context.Context, user string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace),
		client.MatchingLabels{patch.LabelComponent: patch.ComponentSingleuser}); err != nil {
		return nil, fmt.Errorf("listing server pods: %w", err)
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool {
		return p.Annotations[patch.AnnotationHubUsername] != user
	}), nil
}
