package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// asCached is objs as serve's cache holds them: claims read as metadata and transformed by
// TransformClaim, pods transformed by TransformPod. The inputs are left as they are.
func asCached(t *testing.T, objs ...client.Object) []client.Object {
	t.Helper()
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		var cached any
		var err error
		switch o := o.(type) {
		case *corev1.PersistentVolumeClaim:
			m := projects.ClaimMetadata()
			o.ObjectMeta.DeepCopyInto(&m.ObjectMeta)
			cached, err = TransformClaim(m)
		case *corev1.Pod:
			cached, err = TransformPod(o.DeepCopy())
		default:
			t.Fatalf("serve's cache holds no %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cached.(client.Object))
	}
	return out
}

// kubeSpawnersClaim is claim-bitnik holding r, with the labels, annotations and finalizer a claim
// KubeSpawner made has on the API server.
func kubeSpawnersClaim(t *testing.T, r projects.Registry) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := claimWith(t, r)
	pvc.Labels = map[string]string{"app": "jupyterhub", "component": "singleuser-storage", contract.AnnotationHubUsername: "bitnik"}
	pvc.Annotations["hub.jupyter.org/kubespawner-version"] = "7.0.0"
	pvc.Finalizers = []string{"kubernetes.io/pvc-protection"}
	pvc.UID = "uid-claim"
	pvc.ResourceVersion = "42"
	pvc.ManagedFields = managedBy("kubespawner")
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	return pvc
}

// managedBy is managed fields that name manager.
func managedBy(manager string) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}}}
}

func TestTheClaimCacheKeepsWhatAdmissionReads(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	full := projects.Registry{
		Projects: []projects.Project{
			{Dir: "gh_a_b", RepoURL: "https://github.com/a/b", Image: "registry.example.org/binder-a-2db:" + strings.Repeat("c", 40),
				Commit: strings.Repeat("c", 40), LastUsed: at, LastUpdate: &projects.Update{Commit: strings.Repeat("c", 40), At: at, Kept: 3}},
			{Dir: "gh_d_e", RepoURL: "https://github.com/d/e", Image: "registry.example.org/binder-d-2de:1", LastUsed: at},
		},
		Deletions: []projects.Queued{{Dir: "gh_gone", QueuedAt: at}},
		Updates:   []projects.Queued{{Dir: "gh_a_b", QueuedAt: at}},
	}
	read := func(t *testing.T, objs ...client.Object) (projects.Registry, string, error) {
		t.Helper()
		return ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(objs...).Build()}.Registry(context.Background(), "bhub", "claim-bitnik")
	}

	t.Run("of a claim, the cache keeps its name, namespace, version, owner and the annotations binder-projects owns, of each project its folder and commit, and nothing else", func(t *testing.T) {
		pvc := kubeSpawnersClaim(t, full)
		pvc.Annotations[contract.AnnotationClaimDeleteQueueCorrupt] = "[{"
		cached := asCached(t, pvc)[0].(*metav1.PartialObjectMetadata)
		slim, err := json.Marshal([]cachedProject{{Dir: "gh_a_b", Commit: strings.Repeat("c", 40)}, {Dir: "gh_d_e"}})
		if err != nil {
			t.Fatal(err)
		}
		want := projects.ClaimMetadata()
		want.Name, want.Namespace, want.ResourceVersion = "claim-bitnik", "bhub", "42"
		want.Annotations = map[string]string{contract.AnnotationHubUsername: "bitnik", projects.AnnotationProjects: string(slim),
			projects.AnnotationDeleteQueue:             claimWith(t, full).Annotations[projects.AnnotationDeleteQueue],
			projects.AnnotationUpdateQueue:             claimWith(t, full).Annotations[projects.AnnotationUpdateQueue],
			contract.AnnotationClaimDeleteQueueCorrupt: "[{"}
		if diff := cmp.Diff(want, cached); diff != "" {
			t.Errorf("cached claim (-want +got):\n%s", diff)
		}
		again, err := TransformClaim(cached.DeepCopy())
		if err != nil || !cmp.Equal(again, cached) {
			t.Errorf("transforming the cached claim again changed it: %v", cmp.Diff(cached, again))
		}
	})

	t.Run("a claim already as the cache holds it is returned itself, not a copy, since client-go transforms every claim of the initial list twice", func(t *testing.T) {
		cached := asCached(t, kubeSpawnersClaim(t, full))[0]
		again, err := TransformClaim(cached)
		if err != nil || again != any(cached) {
			t.Errorf("TransformClaim of a cached claim returned %p (error %v), want the claim itself, %p", again, err, cached)
		}
		if v := cached.GetAnnotations()[projects.AnnotationProjects]; !isSlimProjects(v) {
			t.Errorf("isSlimProjects(%s) = false: each cached claim's projects are decoded again to find it cached", v)
		}
	})

	t.Run("a claim that holds no more than the cache keeps but a projects annotation not yet slim is transformed in full", func(t *testing.T) {
		// claimWith's claim has no uid, labels or finalizers: only its projects annotation tells it apart
		pvc := claimWith(t, full)
		m := projects.ClaimMetadata()
		pvc.ObjectMeta.DeepCopyInto(&m.ObjectMeta)
		got, err := TransformClaim(m)
		if err != nil {
			t.Fatal(err)
		}
		if got == any(m) {
			t.Fatal("TransformClaim returned the claim itself, with its full projects annotation")
		}
		want := asCached(t, kubeSpawnersClaim(t, full))[0].(*metav1.PartialObjectMetadata).Annotations[projects.AnnotationProjects]
		if diff := cmp.Diff(want, got.(*metav1.PartialObjectMetadata).Annotations[projects.AnnotationProjects]); diff != "" {
			t.Errorf("cached projects annotation (-want +got):\n%s", diff)
		}
	})

	t.Run("admission reads the same registry and owner from the cached claim as from the claim", func(t *testing.T) {
		wantReg, wantOwner, wantErr := read(t, kubeSpawnersClaim(t, full))
		gotReg, gotOwner, gotErr := read(t, asCached(t, kubeSpawnersClaim(t, full))...)
		if wantErr != nil || gotErr != nil {
			t.Fatalf("errors: %v from the claim, %v from the cache", wantErr, gotErr)
		}
		if diff := cmp.Diff(wantReg, gotReg); diff != "" || gotOwner != wantOwner {
			t.Errorf("owner %q, want %q; registry (-claim +cache):\n%s", gotOwner, wantOwner, diff)
		}
		want := projects.Registry{Projects: []projects.Project{{Dir: "gh_a_b", Commit: strings.Repeat("c", 40)}, {Dir: "gh_d_e"}},
			Deletions: full.Deletions, Updates: full.Updates}
		if diff := cmp.Diff(want, gotReg); diff != "" {
			t.Errorf("ClaimRegistry returns more or less than admission reads (-want +got):\n%s", diff)
		}
	})

	t.Run("a corrupt registry annotation is cached as it is, so admission finds it corrupt as before", func(t *testing.T) {
		pvc := kubeSpawnersClaim(t, full)
		pvc.Annotations[projects.AnnotationProjects] = `[{"dir":"gh_a_b","lastUs`
		pvc.Annotations[projects.AnnotationUpdateQueue] = `[{"dir":"../x"}]`
		wantReg, _, wantErr := read(t, pvc)
		gotReg, _, gotErr := read(t, asCached(t, pvc)...)
		if !errors.Is(gotErr, projects.ErrCorruptRegistry) || gotErr.Error() != wantErr.Error() {
			t.Errorf("error from the cache %v, want %v", gotErr, wantErr)
		}
		if diff := cmp.Diff(wantReg, gotReg); diff != "" {
			t.Errorf("registry (-claim +cache):\n%s", diff)
		}
	})
}

// FuzzASlimProjectsAnnotationIsRecognizedOnlyWhenTheTransformLeavesItAsItIs checks isSlimProjects,
// which spares a claim already cached a second transform: a projects annotation it recognizes is one
// that slimProjects leaves as it is (or that does not parse, and is kept as it is). The seeds are what
// it must recognize, the transform's own output, and near misses it must leave to slimProjects.
func FuzzASlimProjectsAnnotationIsRecognizedOnlyWhenTheTransformLeavesItAsItIs(f *testing.F) {
	recognized := []string{
		`[{"dir":"gh_a_b","commit":"` + strings.Repeat("c", 40) + `"},{"dir":"gh_d_e"}]`,
		`[{"dir":"gh_a_b"}]`,
		`[{"dir":"../x"}]`, // a folder name that is not valid: the annotation does not parse
		`[{"dir":""}]`,
	}
	for _, v := range recognized {
		if !isSlimProjects(v) {
			f.Errorf("isSlimProjects(%s) = false, want true: a cached claim would be transformed again", v)
		}
		f.Add(v)
	}
	for _, v := range []string{
		``, `[]`, `null`, `[{"dir":"gh_a_b","commit":""}]`, `[{"commit":"c","dir":"gh_a_b"}]`, `[{"dir":"gh_a_b"} ]`,
		`[{"dir":"gh_a_b","commit":"c","image":"i"}]`, `[{"dir":"gh_a\u0026b"}]`, `[{"dir":"gh_a&b"}]`, `[{"dir":"gh_é"}]`,
		`[{"dir":"gh_a_b"},]`, `[{"dir":"gh_a_b"}`, `[{"dir":"gh_a_b"}]]`, `[{"dir":"gh_a_b","lastUsed":"2026-11-01T00:00:00Z"}]`,
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !isSlimProjects(v) {
			return
		}
		if slim, parsed, err := slimProjects(v); err != nil || parsed && slim != v {
			t.Errorf("isSlimProjects(%q) = true, but the transform makes it %q (error %v)", v, slim, err)
		}
	})
}

func TestThePodCacheKeepsNoSpecAndSoNoToken(t *testing.T) {
	running := serverOf(t, "z2jh4-binderhub-dynamic", "busy", corev1.PodRunning)
	running.ManagedFields = managedBy("kubelet")
	stopping := running.DeepCopy()
	stopping.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	for _, in := range []*corev1.Pod{running, stopping} {
		before := in.DeepCopy()
		cached := asCached(t, in)[0].(*corev1.Pod)
		if diff := cmp.Diff(before, in); diff != "" {
			t.Errorf("asCached changed its input (-before +after):\n%s", diff)
		}
		want := before.DeepCopy()
		want.Spec, want.ManagedFields = corev1.PodSpec{}, nil
		if diff := cmp.Diff(want, cached); diff != "" {
			t.Errorf("cached pod (-want +got):\n%s", diff)
		}
		if b, _ := json.Marshal(before); !strings.Contains(string(b), "sentinel-token") {
			t.Fatal("the fixture holds no API token: the check below would prove nothing")
		}
		if b, _ := json.Marshal(cached); strings.Contains(string(b), "sentinel-token") {
			t.Errorf("the cached pod holds the user's API token: %s", b)
		}
		if diff := cmp.Diff(patch.OpenServers(fixturePod(t, "z2jh4-binderhub-dynamic"), "claim-bitnik", []corev1.Pod{*before}),
			patch.OpenServers(fixturePod(t, "z2jh4-binderhub-dynamic"), "claim-bitnik", []corev1.Pod{*cached})); diff != "" {
			t.Errorf("the open servers differ (-from the pod +from the cache):\n%s", diff)
		}
	}
}
