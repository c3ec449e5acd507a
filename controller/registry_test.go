package controller

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

var (
	admitted = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	finished = admitted.Add(5 * time.Second)
)

// launchedPod is the mutated z2jh4 fixture, admitted at `admitted`, whose init container deleted
// `deleted` and ended with exitCode.
func launchedPod(t *testing.T, exitCode int32, deleted ...string) *corev1.Pod {
	t.Helper()
	in := fixturePod(t, "z2jh4-binderhub-dynamic")
	pod, errs := patch.Mutate(in, patch.DefaultConfig(), deleted...)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pod.CreationTimestamp = metav1.NewTime(admitted)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "block-cloud-metadata", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "binder-projects-init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, FinishedAt: metav1.NewTime(finished)}}},
	}
	return pod
}

func claimHolding(t *testing.T, r projects.Registry) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-bitnik", Namespace: "bhub",
		Annotations: map[string]string{patch.AnnotationHubUsername: "bitnik"}}}
	if err := r.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	return pvc
}

func registryOn(t *testing.T, c client.Client) projects.Registry {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "bhub", Name: "claim-bitnik"}, &pvc); err != nil {
		t.Fatal(err)
	}
	r, err := projects.FromClaim(&pvc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reconcile(t *testing.T, c client.Client, pod *corev1.Pod) {
	t.Helper()
	r := &RegistryReconciler{Client: c, APIReader: c, Config: patch.DefaultConfig()}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}}); err != nil {
		t.Fatal(err)
	}
}

var launched = projects.Project{
	Dir:      "gh_binder-examples_requirements",
	RepoURL:  "https://github.com/binder-examples/requirements",
	Image:    "registry.example.org/binder-binder-2dexamples-2drequirements-55ab5c:1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d",
	Commit:   "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d",
	LastUsed: finished,
}

func TestRegistryReconciler(t *testing.T) {
	t.Run("a successful init container records the project and takes the folders it deleted off the queue", func(t *testing.T) {
		old := projects.Registry{Projects: []projects.Project{{Dir: "gh_a_b", LastUsed: admitted.Add(-time.Hour)}},
			Deletions: []projects.Queued{{Dir: "gh_gone", QueuedAt: admitted.Add(-time.Minute)}}}
		pod := launchedPod(t, 0, "gh_gone")
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, old)).Build()
		reconcile(t, c, pod)
		want := projects.Registry{Projects: []projects.Project{{Dir: "gh_a_b", LastUsed: admitted.Add(-time.Hour)}, launched}}
		if diff := cmp.Diff(want, registryOn(t, c)); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
	})

	t.Run("a failed init container changes nothing: the queue keeps the folder", func(t *testing.T) {
		old := projects.Registry{Deletions: []projects.Queued{{Dir: "gh_gone", QueuedAt: admitted.Add(-time.Minute)}}}
		pod := launchedPod(t, 1, "gh_gone")
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, old)).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff(old, registryOn(t, c)); diff != "" {
			t.Errorf("registry changed (-want +got):\n%s", diff)
		}
	})

	t.Run("a folder queued again after the pod was admitted stays queued for the next init container", func(t *testing.T) {
		queuedLater := projects.Queued{Dir: "gh_gone", QueuedAt: admitted.Add(time.Minute)}
		pod := launchedPod(t, 0, "gh_gone")
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Deletions: []projects.Queued{queuedLater}})).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Queued{queuedLater}, registryOn(t, c).Deletions); diff != "" {
			t.Errorf("queue (-want +got):\n%s", diff)
		}
	})

	t.Run("a newer launch already recorded is not undone by an older pod observed late", func(t *testing.T) {
		newer := launched
		newer.LastUsed = finished.Add(time.Hour)
		newer.Commit = "newer"
		pod := launchedPod(t, 0)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Projects: []projects.Project{newer}})).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Project{newer}, registryOn(t, c).Projects); diff != "" {
			t.Errorf("projects (-want +got):\n%s", diff)
		}
	})

	t.Run("a concurrent update of the claim is not lost: the write that conflicts reads again and retries", func(t *testing.T) {
		pod := launchedPod(t, 0)
		competitor := projects.Project{Dir: "gh_other_one", LastUsed: admitted}
		raced := false
		var c client.Client
		c = fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{})).
			WithInterceptorFuncs(interceptor.Funcs{Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				if !raced {
					// Another writer (the projects service, another replica) lands first.
					raced = true
					var pvc corev1.PersistentVolumeClaim
					if err := cl.Get(ctx, client.ObjectKeyFromObject(obj), &pvc); err != nil {
						return err
					}
					r := projects.Registry{Projects: []projects.Project{competitor}}
					if err := r.ToClaim(&pvc); err != nil {
						return err
					}
					if err := cl.Update(ctx, &pvc); err != nil {
						return err
					}
				}
				return cl.Update(ctx, obj, opts...)
			}}).Build()
		reconcile(t, c, pod)
		if !raced {
			t.Fatal("the competing update never happened")
		}
		want := []projects.Project{launched, competitor}
		if diff := cmp.Diff(want, registryOn(t, c).Projects); diff != "" {
			t.Errorf("projects (-want +got):\n%s", diff)
		}
	})

	t.Run("a pod whose init container is still running records nothing", func(t *testing.T) {
		pod := launchedPod(t, 0)
		pod.Status.InitContainerStatuses[1].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{})).Build()
		reconcile(t, c, pod)
		if got := registryOn(t, c); len(got.Projects) != 0 {
			t.Errorf("recorded %v for a pod whose init container has not finished", got.Projects)
		}
	})
}
