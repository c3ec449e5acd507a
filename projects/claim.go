package projects

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClaimMetadata is an empty claim to read a claim's metadata into: the registry is annotations, so
// its readers and writers never need a claim's spec or status (the webhook's cache holds claims this
// way, and ChangeRegistry reads and writes them this way).
func ClaimMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"))
	return m
}

// Changed is what ChangeRegistry did.
type Changed struct {
	// Claim is the claim's metadata as written; nil when the change left the registry as it was, so
	// nothing was written.
	Claim *metav1.PartialObjectMetadata
	// Corrupt is, when a part of the registry did not parse at the last read, FromClaim's error
	// (wrapping ErrCorruptRegistry); a write sets the bad value aside. Nil otherwise.
	Corrupt error
}

// ChangeRegistry is the one read-modify-write of a claim's registry. It reads the claim's metadata
// with read (an API reader, not a cache, so that a retry sees the newest version), applies change to
// the registry on it (a corrupt part reads as empty), and writes the registry's annotations back as a
// merge patch that carries the claim's resourceVersion: a write that conflicts with another writer's
// is refused by the API server, and the whole is done again from a new read, so no concurrent change
// is lost. Nothing is written when the annotations come out as they were. change is given a copy of
// the claim as read (to look at, e.g. its Owner) and may return an error to stop: that error is
// returned as it is, and nothing is written.
func ChangeRegistry(ctx context.Context, read client.Reader, write client.Writer, key client.ObjectKey,
	change func(claim metav1.Object, r *Registry) error) (Changed, error) {
	var done Changed
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		done = Changed{}
		claim := ClaimMetadata()
		if err := read.Get(ctx, key, claim); err != nil {
			return err
		}
		r, err := FromClaim(claim)
		if err != nil && !errors.Is(err, ErrCorruptRegistry) {
			return err
		}
		done.Corrupt = err
		if err := change(claim.DeepCopy(), &r); err != nil {
			return err
		}
		before := claim.DeepCopy()
		if err := r.ToClaim(claim); err != nil {
			return err
		}
		if maps.Equal(before.Annotations, claim.Annotations) {
			return nil
		}
		if err := write.Patch(ctx, claim, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		done.Claim = claim
		return nil
	})
	return done, err
}

// claimPageSize is how many claims ListClaims asks the API server for at a time.
const claimPageSize = 500

// ListClaims lists the metadata of every claim in namespace with read, page by page (claimPageSize
// at a time: a hub's namespace may hold a claim for each of its many thousand users), and hands each
// page to page, in order. The items are page's to keep.
func ListClaims(ctx context.Context, read client.Reader, namespace string, page func([]metav1.PartialObjectMetadata) error) error {
	cont := ""
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaimList"))
		if err := read.List(ctx, list, client.InNamespace(namespace), client.Limit(claimPageSize), client.Continue(cont)); err != nil {
			return fmt.Errorf("listing the claims of namespace %s: %w", namespace, err)
		}
		if err := page(list.Items); err != nil {
			return err
		}
		if cont = list.Continue; cont == "" {
			return nil
		}
	}
}
