package projects

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/binder-projects/binder-projects/contract"
)

func TestChangeRegistry(t *testing.T) {
	old := Registry{Projects: []Project{{Dir: "gh_a_b", LastUsed: t0}}}
	key := client.ObjectKey{Namespace: "bhub", Name: "claim-anna"}
	// build is a claim holding old (its spec set, as KubeSpawner makes it) and a client that counts the
	// writes and says what they were.
	build := func(t *testing.T, pvc *corev1.PersistentVolumeClaim) (client.Client, *[]string) {
		t.Helper()
		pvc.Spec = corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}
		var writes []string
		c := fake.NewClientBuilder().WithObjects(pvc).WithInterceptorFuncs(interceptor.Funcs{
			Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				writes = append(writes, string(patch.Type()))
				return cl.Patch(ctx, obj, patch, opts...)
			},
			Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				writes = append(writes, "update")
				return cl.Update(ctx, obj, opts...)
			},
		}).Build()
		return c, &writes
	}
	read := func(t *testing.T, c client.Client) *corev1.PersistentVolumeClaim {
		t.Helper()
		var pvc corev1.PersistentVolumeClaim
		if err := c.Get(context.Background(), key, &pvc); err != nil {
			t.Fatal(err)
		}
		return &pvc
	}

	t.Run("a change is written as a merge patch of the annotations, and the rest of the claim stays as it was", func(t *testing.T) {
		pvc := userClaim(t, key.Name, "anna", old)
		pvc.Annotations["other"] = "kept"
		c, writes := build(t, pvc)
		before := read(t, c)
		var owner string
		done, err := ChangeRegistry(context.Background(), c, c, key, func(claim metav1.Object, r *Registry) error {
			owner = Owner(claim)
			r.Record(Project{Dir: "gh_c_d", LastUsed: t0})
			return nil
		})
		if err != nil || done.Claim == nil || done.Corrupt != nil {
			t.Fatalf("ChangeRegistry = %+v, %v; want the claim written", done, err)
		}
		if owner != "anna" {
			t.Errorf("change saw the owner %q, want anna", owner)
		}
		if diff := cmp.Diff([]string{"application/merge-patch+json"}, *writes); diff != "" {
			t.Errorf("writes (-want +got):\n%s", diff)
		}
		after := read(t, c)
		got, err := FromClaim(after)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Registry{Projects: []Project{old.Projects[0], {Dir: "gh_c_d", LastUsed: t0}}}, got); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(before.Spec, after.Spec); diff != "" || after.Annotations["other"] != "kept" {
			t.Errorf("the rest of the claim changed: spec (-before +after):\n%s\nannotations %v", diff, after.Annotations)
		}
		if done.Claim.ResourceVersion != after.ResourceVersion || done.Claim.Kind != "PersistentVolumeClaim" {
			t.Errorf("Changed.Claim is %v at version %s, want the claim as written (version %s)", done.Claim.GroupVersionKind(), done.Claim.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("nothing is written when the change leaves the registry as it was", func(t *testing.T) {
		c, writes := build(t, userClaim(t, key.Name, "anna", old))
		done, err := ChangeRegistry(context.Background(), c, c, key, func(_ metav1.Object, r *Registry) error {
			r.Record(Project{Dir: "gh_a_b", LastUsed: t0.Add(-1)}) // older than recorded: no change
			return nil
		})
		if err != nil || done.Claim != nil || len(*writes) != 0 {
			t.Errorf("ChangeRegistry = %+v, %v with writes %v; want no write", done, err, *writes)
		}
	})

	t.Run("the change's error is returned as it is, and nothing is written", func(t *testing.T) {
		c, writes := build(t, userClaim(t, key.Name, "anna", old))
		_, err := ChangeRegistry(context.Background(), c, c, key, func(_ metav1.Object, r *Registry) error {
			_, _, err := r.Delete("gh_x_y", t0)
			return err
		})
		if !errors.Is(err, ErrNoSuchProject) || len(*writes) != 0 {
			t.Errorf("err = %v, writes %v; want ErrNoSuchProject and no write", err, *writes)
		}
	})

	t.Run("a corrupt part reads as empty, is set aside by the write, and is reported", func(t *testing.T) {
		pvc := userClaim(t, key.Name, "anna", old)
		pvc.Annotations[AnnotationDeleteQueue] = `[{"dir":`
		c, _ := build(t, pvc)
		done, err := ChangeRegistry(context.Background(), c, c, key, func(_ metav1.Object, r *Registry) error {
			if r.Deletions != nil {
				t.Errorf("the corrupt queue reads as %v, want empty", r.Deletions)
			}
			r.Record(Project{Dir: "gh_c_d", LastUsed: t0})
			return nil
		})
		if err != nil || done.Claim == nil || !errors.Is(done.Corrupt, ErrCorruptRegistry) {
			t.Fatalf("ChangeRegistry = %+v, %v; want the claim written and the corruption reported", done, err)
		}
		after := read(t, c)
		if after.Annotations[contract.AnnotationClaimDeleteQueueCorrupt] != `[{"dir":` || after.Annotations[AnnotationDeleteQueue] != "" {
			t.Errorf("annotations %v: want the bad queue set aside", after.Annotations)
		}
	})

	t.Run("a claim that does not exist is not found", func(t *testing.T) {
		c, _ := build(t, userClaim(t, "claim-bob", "bob", old))
		if _, err := ChangeRegistry(context.Background(), c, c, key, func(metav1.Object, *Registry) error { return nil }); !apierrors.IsNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	})
}
