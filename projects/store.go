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
		r, err := FromClaim(&claims[i])
		if err != nil {
			return nil, err
		}
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
func (s *KubeStore) Delete(ctx context.Context, user, dir string) error {
	if err := patch.ValidateProjectDir(dir); err != nil {
		return fmt.Errorf("%w: %v", ErrNoSuchProject, err)
	}
	running, err := s.serverPods(ctx, user)
	if err != nil {
		return err
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: stop your server (pod %s) on the hub's home page first, then delete the project", ErrServerRunning, running[0])
	}
	claims, err := s.claims(ctx, user)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	deleted := false
	for _, c := range claims {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var pvc corev1.PersistentVolumeClaim
			if err := s.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Name}, &pvc); err != nil {
				return err
			}
			r, err := FromClaim(&pvc)
			if err != nil {
				return err
			}
			if err := r.Delete(dir, now().UTC()); err != nil {
				return err
			}
			if err := r.ToClaim(&pvc); err != nil {
				return err
			}
			return s.Client.Update(ctx, &pvc)
		})
		switch {
		case errors.Is(err, ErrNoSuchProject):
		case err != nil:
			return fmt.Errorf("updating the registry on claim %s: %w", c.Name, err)
		default:
			deleted = true
		}
	}
	if !deleted {
		return fmt.Errorf("%w: %s has no project %q", ErrNoSuchProject, user, dir)
	}
	return nil
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

// serverPods are the names of the user's singleuser pods that exist, in any phase.
func (s *KubeStore) serverPods(ctx context.Context, user string) ([]string, error) {
	var list corev1.PodList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace),
		client.MatchingLabels{patch.LabelComponent: patch.ComponentSingleuser}); err != nil {
		return nil, fmt.Errorf("listing server pods: %w", err)
	}
	var names []string
	for _, p := range list.Items {
		if p.Annotations[patch.AnnotationHubUsername] == user {
			names = append(names, p.Name)
		}
	}
	return names, nil
}
