package controller

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/patch"
)

// quantities compares resource quantities by value ("10Gi" equals 10737418240).
var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// testConfig is the default configuration with the helper image that --helper-image must name.
func testConfig() patch.Config {
	cfg := patch.DefaultConfig()
	cfg.HelperImage = "registry.example.org/binder-projects:1.0"
	return cfg
}

// fixturePod reads a pod of webhook/testdata.
func fixturePod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	raw, err := os.ReadFile("../webhook/testdata/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &pod
}

// withoutStorage removes the user's volume and every mount of it, as BinderHub's storage type
// "none" submits the pod.
func withoutStorage(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out := pod.DeepCopy()
	if len(out.Spec.Volumes) != 1 {
		t.Fatalf("pod %s has %d volumes, want exactly the user's", pod.Name, len(out.Spec.Volumes))
	}
	vol := out.Spec.Volumes[0].Name
	out.Spec.Volumes = nil
	for i := range out.Spec.Containers {
		var keep []corev1.VolumeMount
		for _, m := range out.Spec.Containers[i].VolumeMounts {
			if m.Name != vol {
				keep = append(keep, m)
			}
		}
		out.Spec.Containers[i].VolumeMounts = keep
	}
	return out
}

// mutated is the pod as the webhook admits it.
func mutated(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, errs := mutatePod(pod, testConfig(), patch.Registered{})
	if len(errs) > 0 {
		t.Fatalf("mutating %s: %v", pod.Name, errs)
	}
	return out
}

func TestClaimFor(t *testing.T) {
	fast := "fast-ssd"
	tests := []struct {
		name   string
		pod    *corev1.Pod
		claims ClaimConfig
		want   *corev1.PersistentVolumeClaim
	}{
		{
			name:   "a mutated pod of a BinderHub without storage gets claim-<user> with the default size and the cluster's default class",
			pod:    mutated(t, fixturePod(t, "binderhub-storage-none")),
			claims: DefaultClaimConfig(),
			want: &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{
					Name:      "claim-dora",
					Namespace: "bhub",
					Labels: map[string]string{
						"component":                    "singleuser-storage",
						"app.kubernetes.io/managed-by": "binder-projects",
						"hub.jupyter.org/username":     "dora",
					},
					Annotations: map[string]string{"hub.jupyter.org/username": "dora"},
				},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					},
				},
			},
		},
		{
			name:   "an unusual user name gets the claim named from the pod name's slug, the label's shorter slug and the raw name, with the configured class, size and access mode",
			pod:    mutated(t, withoutStorage(t, fixturePod(t, "unusual-username"))),
			claims: ClaimConfig{Size: resource.MustParse("5Gi"), StorageClass: fast, AccessMode: corev1.ReadWriteMany},
			want: &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{
					Name:      "claim-anna-m-ller-uni-example---b22940a4",
					Namespace: "bhub",
					Labels: map[string]string{
						"component":                    "singleuser-storage",
						"app.kubernetes.io/managed-by": "binder-projects",
						"hub.jupyter.org/username":     "anna-m-ller-uni-examp---b22940a4",
					},
					Annotations: map[string]string{"hub.jupyter.org/username": "anna.müller@uni.example"},
				},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
					},
					StorageClassName: &fast,
				},
			},
		},
		{
			name:   "a mutated pod whose claim KubeSpawner made names that same claim",
			pod:    mutated(t, fixturePod(t, "z2jh4-binderhub-dynamic")),
			claims: DefaultClaimConfig(),
			want: &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{
					Name:      "claim-bitnik",
					Namespace: "bhub",
					Labels: map[string]string{
						"component":                    "singleuser-storage",
						"app.kubernetes.io/managed-by": "binder-projects",
						"hub.jupyter.org/username":     "bitnik",
					},
					Annotations: map[string]string{"hub.jupyter.org/username": "bitnik"},
				},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					},
				},
			},
		},
		{
			name:   "a pod that was not mutated gets no claim",
			pod:    fixturePod(t, "binderhub-storage-none"),
			claims: DefaultClaimConfig(),
			want:   nil,
		},
		{
			name:   "a pod from a plain JupyterHub spawn, which the webhook leaves alone, gets no claim",
			pod:    fixturePod(t, "plain-jupyterhub-spawn"),
			claims: DefaultClaimConfig(),
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.pod.DeepCopy()
			got := ClaimFor(tt.pod, tt.claims)
			if diff := cmp.Diff(tt.want, got, quantities); diff != "" {
				t.Errorf("ClaimFor (-want +got):\n%s", diff)
			}
			if got != nil && len(got.OwnerReferences) != 0 {
				t.Errorf("the claim is owned by %v: it would be deleted with the pod, and the user's projects with it", got.OwnerReferences)
			}
			if diff := cmp.Diff(before, tt.pod); diff != "" {
				t.Errorf("ClaimFor changed the pod (-before +after):\n%s", diff)
			}
		})
	}
}

func TestClaimReconciler(t *testing.T) {
	claims := ClaimConfig{Size: resource.MustParse("2Gi"), StorageClass: "standard", AccessMode: corev1.ReadWriteOnce}
	pending := func(pod *corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
		p := pod.DeepCopy()
		p.Status.Phase = phase
		return p
	}
	dora := mutated(t, fixturePod(t, "binderhub-storage-none"))
	doraClaim := ClaimFor(dora, claims)
	existing := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "claim-dora",
			Namespace:   "bhub",
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "kubespawner"},
			Annotations: map[string]string{"hub.jupyter.org/username": "dora"},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
			},
		},
	}
	doraKey := types.NamespacedName{Namespace: "bhub", Name: "jupyter-dora"}

	tests := []struct {
		name       string
		objects    []client.Object
		request    types.NamespacedName
		wantClaims []corev1.PersistentVolumeClaim
	}{
		{
			name:       "a pending mutated pod without its claim gets the claim",
			objects:    []client.Object{pending(dora, corev1.PodPending)},
			request:    doraKey,
			wantClaims: []corev1.PersistentVolumeClaim{*doraClaim},
		},
		{
			name:       "a mutated pod not yet given a phase gets the claim",
			objects:    []client.Object{pending(dora, "")},
			request:    doraKey,
			wantClaims: []corev1.PersistentVolumeClaim{*doraClaim},
		},
		{
			name:       "an existing claim is left exactly as it is",
			objects:    []client.Object{pending(dora, corev1.PodPending), existing.DeepCopy()},
			request:    doraKey,
			wantClaims: []corev1.PersistentVolumeClaim{*existing},
		},
		{
			name:       "a running pod gets no claim",
			objects:    []client.Object{pending(dora, corev1.PodRunning)},
			request:    doraKey,
			wantClaims: nil,
		},
		{
			name:       "a succeeded pod gets no claim",
			objects:    []client.Object{pending(dora, corev1.PodSucceeded)},
			request:    doraKey,
			wantClaims: nil,
		},
		{
			name:       "a pending pod the webhook did not mutate gets no claim",
			objects:    []client.Object{pending(fixturePod(t, "binderhub-storage-none"), corev1.PodPending)},
			request:    doraKey,
			wantClaims: nil,
		},
		{
			name:       "a pod that is gone is not an error and gets no claim",
			objects:    nil,
			request:    doraKey,
			wantClaims: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tt.objects...).Build()
			var before corev1.PersistentVolumeClaimList
			if err := c.List(context.Background(), &before); err != nil {
				t.Fatal(err)
			}
			r := &ClaimReconciler{Client: c, Claims: claims}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: tt.request})
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if diff := cmp.Diff(ctrl.Result{}, res); diff != "" {
				t.Errorf("Reconcile result (-want +got):\n%s", diff)
			}

			var after corev1.PersistentVolumeClaimList
			if err := c.List(context.Background(), &after); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantClaims, after.Items, quantities, cmpopts.EquateEmpty(),
				cmpopts.IgnoreFields(metav1.ObjectMeta{}, "ResourceVersion"), cmpopts.IgnoreFields(metav1.TypeMeta{}, "Kind", "APIVersion")); diff != "" {
				t.Errorf("claims after Reconcile (-want +got):\n%s", diff)
			}
			// Claims that existed before are untouched, to the resource version.
			for _, b := range before.Items {
				var now corev1.PersistentVolumeClaim
				if err := c.Get(context.Background(), client.ObjectKeyFromObject(&b), &now); err != nil {
					t.Fatalf("the claim %s is gone: %v", b.Name, err)
				}
				if diff := cmp.Diff(b, now, quantities, cmpopts.IgnoreFields(metav1.TypeMeta{}, "Kind", "APIVersion")); diff != "" {
					t.Errorf("Reconcile changed the existing claim %s (-before +after):\n%s", b.Name, diff)
				}
			}

			// A second reconcile of the same pod changes nothing more.
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: tt.request}); err != nil {
				t.Fatalf("second Reconcile: %v", err)
			}
			var again corev1.PersistentVolumeClaimList
			if err := c.List(context.Background(), &again); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(after.Items, again.Items, quantities, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("a second Reconcile changed the claims (-first +second):\n%s", diff)
			}
		})
	}
}

func TestClaimReconcilerReturnsAnErrorWhenTheClaimCannotBeCreatedSoThePodIsRetried(t *testing.T) {
	dora := mutated(t, fixturePod(t, "binderhub-storage-none"))
	dora.Status.Phase = corev1.PodPending
	refused := apierrors.NewForbidden(corev1.Resource("persistentvolumeclaims"), "claim-dora", errors.New("quota exceeded"))
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(dora).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return refused },
		}).Build()
	r := &ClaimReconciler{Client: c, Claims: DefaultClaimConfig()}

	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(dora)})
	if !errors.Is(err, refused) {
		t.Fatalf("Reconcile error = %v, want it to wrap %v", err, refused)
	}
	if want := "creating claim bhub/claim-dora for pod jupyter-dora: "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("Reconcile error %q does not name the claim and the pod (want prefix %q)", err, want)
	}
}

func TestClaimReconcilerReturnsAnErrorWhenThePodCannotBeRead(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("etcd is down")
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return unavailable
			},
		}).Build()
	r := &ClaimReconciler{Client: c, Claims: DefaultClaimConfig()}
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "bhub", Name: "jupyter-dora"}})
	if !errors.Is(err, unavailable) {
		t.Errorf("Reconcile error = %v, want %v", err, unavailable)
	}
}
