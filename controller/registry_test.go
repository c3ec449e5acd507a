package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

var (
	admitted = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	finished = admitted.Add(5 * time.Second)
)

// report is r as the init command writes it to its termination message.
func report(r contract.Report) string { return string(r.Encode()) }

// launchedPod is the mutated z2jh4 fixture, admitted at `admitted` with the queue entries `handed`,
// whose init container ended with exitCode and wrote message as its termination message.
func launchedPod(t *testing.T, exitCode int32, message string, handed ...projects.Queued) *corev1.Pod {
	t.Helper()
	return launchedPodWith(t, exitCode, message, patch.Registered{Deletions: handed})
}

// launchedPodWith is launchedPod admitted with what reg holds (queue entries handed to it).
func launchedPodWith(t *testing.T, exitCode int32, message string, reg patch.Registered) *corev1.Pod {
	t.Helper()
	in := fixturePod(t, "z2jh4-binderhub-dynamic")
	pod, errs := mutatePod(in, testConfig(), reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pod.UID = "uid-1"
	pod.CreationTimestamp = metav1.NewTime(admitted)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "block-cloud-metadata", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "binder-projects-init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, FinishedAt: metav1.NewTime(finished), ContainerID: "containerd://1", Message: message}}},
	}
	return pod
}

// recorded is an Event the reconciler recorded.
type recorded struct{ Object, Type, Reason, Note string }

// eventLog records Events in memory.
type eventLog struct {
	mu     sync.Mutex
	events []recorded
}

func (l *eventLog) Eventf(regarding runtime.Object, _ runtime.Object, eventtype, reason, _ string, note string, args ...interface{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := ""
	if o, ok := regarding.(client.Object); ok {
		name = o.GetName()
	}
	l.events = append(l.events, recorded{name, eventtype, reason, fmt.Sprintf(note, args...)})
}

func (l *eventLog) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, eventtype, reason, action, note string, args ...interface{}) {
	l.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (l *eventLog) WithLogger(klog.Logger) events.EventRecorderLogger { return l }

func claimHolding(t *testing.T, r projects.Registry) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-bitnik", Namespace: "bhub",
		Annotations: map[string]string{contract.AnnotationHubUsername: "bitnik"}}}
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

// reconcile runs one reconciler over pod the given number of times (a pod's status changes many times
// over its life) and returns the Events it recorded.
func reconcile(t *testing.T, c client.Client, pod *corev1.Pod, times ...int) []recorded {
	t.Helper()
	log := &eventLog{}
	r := &RegistryReconciler{Client: c, APIReader: c, InitContainer: testConfig().InitContainerName, Recorder: log}
	n := 1
	if len(times) > 0 {
		n = times[0]
	}
	for range n {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	return log.events
}

var launched = projects.Project{
	Dir:      "gh_binder-examples_requirements",
	RepoURL:  "https://github.com/binder-examples/requirements",
	Image:    "registry.example.org/binder-binder-2dexamples-2drequirements-55ab5c:1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d",
	Commit:   "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d",
	LastUsed: finished,
}

func TestRegistryReconciler(t *testing.T) {
	gone := projects.Queued{Dir: "gh_gone", QueuedAt: admitted.Add(-time.Minute)}

	t.Run("a successful init container records the project and clears exactly the entries it was handed and reported deleted", func(t *testing.T) {
		old := projects.Registry{Projects: []projects.Project{{Dir: "gh_a_b", LastUsed: admitted.Add(-time.Hour)}},
			Deletions: []projects.Queued{gone}}
		pod := launchedPod(t, 0, report(contract.Report{Deleted: []int{1}, Project: contract.ProjectSeeded}), gone)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, old)).Build()
		evs := reconcile(t, c, pod, 3)
		want := projects.Registry{Projects: []projects.Project{{Dir: "gh_a_b", LastUsed: admitted.Add(-time.Hour)}, launched}}
		if diff := cmp.Diff(want, registryOn(t, c)); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
		wantEvs := []recorded{{pod.Name, "Normal", ReasonProjectReady, "binder-projects: new project gh_binder-examples_requirements copied from the image's home folder"}}
		if diff := cmp.Diff(wantEvs, evs); diff != "" {
			t.Errorf("events over three reconciles (-want +got):\n%s", diff)
		}
	})

	t.Run("a failed init container changes nothing, the queue keeps the folder, and its reason becomes one Warning on the pod", func(t *testing.T) {
		old := projects.Registry{Deletions: []projects.Queued{gone}}
		pod := launchedPod(t, 1, report(contract.Report{Deleted: []int{1}, Project: contract.ProjectFailed,
			Error: "a file named gh_binder-examples_requirements is in the way of the project folder"}), gone)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, old)).Build()
		evs := reconcile(t, c, pod, 2)
		if diff := cmp.Diff(old, registryOn(t, c)); diff != "" {
			t.Errorf("registry changed (-want +got):\n%s", diff)
		}
		if len(evs) != 1 || evs[0].Type != "Warning" || evs[0].Reason != ReasonProjectFailed ||
			!strings.Contains(evs[0].Note, "a file named gh_binder-examples_requirements is in the way") ||
			!strings.Contains(evs[0].Note, "kubectl logs "+pod.Name+" -c binder-projects-init") {
			t.Errorf("events = %+v, want one Warning %s carrying the init command's reason and where its log is", evs, ReasonProjectFailed)
		}
	})

	t.Run("a failed run whose termination message is the end of its log still gives its last line", func(t *testing.T) {
		pod := launchedPod(t, 1, "binder-projects: copying\nbinder-projects: error: could not copy the image's home folder\n")
		pod.Status.InitContainerStatuses[1].LastTerminationState = pod.Status.InitContainerStatuses[1].State
		pod.Status.InitContainerStatuses[1].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{})).Build()
		evs := reconcile(t, c, pod)
		if len(evs) != 1 || !strings.Contains(evs[0].Note, "could not copy the image's home folder") {
			t.Errorf("events = %+v, want the log's last line", evs)
		}
	})

	t.Run("an entry handed but reported kept stays queued, and the warning reaches the pod", func(t *testing.T) {
		pod := launchedPod(t, 0, report(contract.Report{Kept: []int{1}, Project: contract.ProjectExisted,
			Warnings: []string{"could not delete project gh_gone; it stays queued"}}), gone)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Deletions: []projects.Queued{gone}})).Build()
		evs := reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Queued{gone}, registryOn(t, c).Deletions); diff != "" {
			t.Errorf("queue (-want +got):\n%s", diff)
		}
		want := []recorded{
			{pod.Name, "Normal", ReasonProjectReady, "binder-projects: project gh_binder-examples_requirements found with your files"},
			{pod.Name, "Warning", ReasonProjectWarning, "binder-projects: could not delete project gh_gone; it stays queued"},
		}
		if diff := cmp.Diff(want, evs); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("an init container without a report clears nothing from the queue", func(t *testing.T) {
		pod := launchedPod(t, 0, "", gone)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Deletions: []projects.Queued{gone}})).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Queued{gone}, registryOn(t, c).Deletions); diff != "" {
			t.Errorf("queue (-want +got):\n%s", diff)
		}
	})

	t.Run("a folder queued again in the same second the pod was admitted, not handed to it, stays queued", func(t *testing.T) {
		handed := projects.Queued{Dir: "gh_gone", QueuedAt: admitted.Add(100 * time.Millisecond)}
		queuedLater := projects.Queued{Dir: "gh_gone", QueuedAt: admitted.Add(900 * time.Millisecond)}
		pod := launchedPod(t, 0, report(contract.Report{Deleted: []int{1}, Project: contract.ProjectExisted}), handed)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Deletions: []projects.Queued{handed, queuedLater}})).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Queued{queuedLater}, registryOn(t, c).Deletions); diff != "" {
			t.Errorf("queue (-want +got):\n%s", diff)
		}
	})

	t.Run("a launch of a project whose deletion raced with it keeps the project: the deletion is cancelled and the pod says so", func(t *testing.T) {
		raced := projects.Queued{Dir: launched.Dir, QueuedAt: admitted.Add(time.Millisecond)}
		pod := launchedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted}))
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Deletions: []projects.Queued{raced}})).Build()
		evs := reconcile(t, c, pod)
		want := projects.Registry{Projects: []projects.Project{launched}}
		if diff := cmp.Diff(want, registryOn(t, c)); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
		if len(evs) != 2 || evs[1].Reason != ReasonDeletionCancelled || !strings.Contains(evs[1].Note, string(launched.Dir)) {
			t.Errorf("events = %+v, want a %s naming the project", evs, ReasonDeletionCancelled)
		}
	})

	t.Run("a corrupt registry is written anew from the launch, the bad value kept beside, and the claim gets a Warning", func(t *testing.T) {
		pvc := claimHolding(t, projects.Registry{Deletions: []projects.Queued{gone}})
		pvc.Annotations[projects.AnnotationProjects] = `[{"dir":"gh_a_b","lastUs`
		pod := launchedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted}))
		c := fake.NewClientBuilder().WithObjects(pod, pvc).Build()
		evs := reconcile(t, c, pod)
		want := projects.Registry{Projects: []projects.Project{launched}, Deletions: []projects.Queued{gone}}
		if diff := cmp.Diff(want, registryOn(t, c)); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
		var got corev1.PersistentVolumeClaim
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(pvc), &got); err != nil {
			t.Fatal(err)
		}
		if got.Annotations[contract.AnnotationClaimProjectsCorrupt] != `[{"dir":"gh_a_b","lastUs` {
			t.Errorf("annotations %v: the bad value is not kept beside", got.Annotations)
		}
		var onClaim []recorded
		for _, e := range evs {
			if e.Object == "claim-bitnik" {
				onClaim = append(onClaim, e)
			}
		}
		if len(onClaim) != 1 || onClaim[0].Reason != ReasonRegistryCorrupt || onClaim[0].Type != "Warning" {
			t.Errorf("events on the claim = %+v, want one Warning %s", onClaim, ReasonRegistryCorrupt)
		}
	})

	t.Run("a newer launch already recorded is not undone by an older pod observed late", func(t *testing.T) {
		newer := launched
		newer.LastUsed = finished.Add(time.Hour)
		newer.Commit = "newer"
		pod := launchedPod(t, 0, "")
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Projects: []projects.Project{newer}})).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Project{newer}, registryOn(t, c).Projects); diff != "" {
			t.Errorf("projects (-want +got):\n%s", diff)
		}
	})

	t.Run("a concurrent update of the claim is not lost: the write that conflicts reads again and retries", func(t *testing.T) {
		pod := launchedPod(t, 0, "")
		competitor := projects.Project{Dir: "gh_other_one", LastUsed: admitted}
		raced := false
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{})).
			WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if err := cl.Get(ctx, key, obj, opts...); err != nil {
					return err
				}
				if _, isPod := obj.(*corev1.Pod); isPod || raced {
					return nil
				}
				// Another writer (the projects service, another replica) lands between the
				// reconciler's read of the claim and its write.
				raced = true
				var pvc corev1.PersistentVolumeClaim
				if err := cl.Get(ctx, key, &pvc); err != nil {
					return err
				}
				r := projects.Registry{Projects: []projects.Project{competitor}}
				if err := r.ToClaim(&pvc); err != nil {
					return err
				}
				return cl.Update(ctx, &pvc)
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
		pod := launchedPod(t, 0, "")
		pod.Status.InitContainerStatuses[1].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{})).Build()
		reconcile(t, c, pod)
		if got := registryOn(t, c); len(got.Projects) != 0 {
			t.Errorf("recorded %v for a pod whose init container has not finished", got.Projects)
		}
	})
}

// updatedPod is launchedPod with the update request handed (nil: none) and message as its termination
// message.
func updatedPod(t *testing.T, exitCode int32, message string, handed *projects.Queued) *corev1.Pod {
	t.Helper()
	in := fixturePod(t, "z2jh4-binderhub-dynamic")
	reg := patch.Registered{}
	if handed != nil {
		reg.Updates = []contract.QueueEntry{*handed}
	}
	pod, errs := mutatePod(in, testConfig(), reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if h, err := contract.HandedUpdate(pod.Annotations); err != nil || (h == nil) != (handed == nil) {
		t.Fatalf("the webhook handed %+v (%v), want %+v", h, err, handed)
	}
	pod.UID = "uid-1"
	pod.CreationTimestamp = metav1.NewTime(admitted)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "block-cloud-metadata", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "binder-projects-init-helper", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "binder-projects-init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, FinishedAt: metav1.NewTime(finished), ContainerID: "containerd://1", Message: message}}},
	}
	return pod
}

func TestRegistryReconcilerRecordsUpdatesAndClearsTheHandedRequest(t *testing.T) {
	const dir = "gh_binder-examples_requirements"
	updated := report(contract.Report{Project: contract.ProjectExisted, Update: &contract.UpdateReport{State: contract.UpdateUpdated,
		Commit: "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d", From: "0123456789ab", Counted: true, Replaced: 2, Added: 1, Kept: 1, Beside: 1}})
	handed := projects.Queued{Dir: dir, QueuedAt: admitted.Add(-time.Minute)}
	later := projects.Queued{Dir: dir, QueuedAt: admitted.Add(time.Second)}
	other := projects.Queued{Dir: "gh_a_b", QueuedAt: admitted.Add(-time.Hour)}
	earlier := projects.Project{Dir: dir, Commit: "0123456789ab", LastUsed: admitted.Add(-time.Hour)}
	lastUpdate := &projects.Update{Commit: launched.Commit, From: "0123456789ab", At: finished, Replaced: 2, Added: 1, Kept: 1, Beside: 1}

	t.Run("an update done is recorded on the project, its handed request cleared, a later one and another project's kept, and an Event gives the counts", func(t *testing.T) {
		pod := updatedPod(t, 0, updated, &handed)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Projects: []projects.Project{earlier},
			Updates: []projects.Queued{other, handed, later}})).Build()
		evs := reconcile(t, c, pod, 2)
		want := launched
		want.LastUpdate = lastUpdate
		if diff := cmp.Diff(projects.Registry{Projects: []projects.Project{want}, Updates: []projects.Queued{other, later}}, registryOn(t, c)); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
		wantEvs := []recorded{
			{pod.Name, "Normal", ReasonProjectReady, "binder-projects: project " + dir + " found with your files"},
			{pod.Name, "Normal", ReasonProjectUpdated, "binder-projects: project " + dir + " updated from commit 0123456789ab to commit " + launched.Commit +
				": 2 files replaced, 1 added, 0 removed, 1 of yours kept, 0 left deleted, 0 modes changed; 1 files you changed have the commit's version beside them, named NAME.1d3b4f2.EXT (kubectl logs " + pod.Name + " -c binder-projects-init lists them)"},
		}
		if diff := cmp.Diff(wantEvs, evs); diff != "" {
			t.Errorf("events over two reconciles (-want +got):\n%s", diff)
		}

		// The next launch without an update keeps the record of the last one.
		next := launchedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted}))
		next.Name, next.UID = "jupyter-bitnik-2", "uid-2"
		next.Status.InitContainerStatuses[1].State.Terminated.FinishedAt = metav1.NewTime(finished.Add(time.Hour))
		if err := c.Create(context.Background(), next); err != nil {
			t.Fatal(err)
		}
		reconcile(t, c, next)
		if got := registryOn(t, c).Projects[0].LastUpdate; !cmp.Equal(lastUpdate, got) {
			t.Errorf("after a launch without an update, the last update is %+v, want %+v", got, lastUpdate)
		}
	})

	t.Run("a failed update clears its request too (it ran), records no update, and its warning reaches the pod", func(t *testing.T) {
		pod := updatedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted, Update: &contract.UpdateReport{State: contract.UpdateFailed},
			Warnings: []string{"could not update project " + dir + " to commit x (read-only); project " + dir + " starts unchanged"}}), &handed)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Projects: []projects.Project{earlier}, Updates: []projects.Queued{handed}})).Build()
		evs := reconcile(t, c, pod)
		if diff := cmp.Diff(projects.Registry{Projects: []projects.Project{launched}}, registryOn(t, c)); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
		if len(evs) != 2 || evs[1].Reason != ReasonProjectWarning || !strings.Contains(evs[1].Note, "could not update project") {
			t.Errorf("events %+v, want ProjectReady and the warning", evs)
		}
	})

	t.Run("a failed init container (an update not rolled back) keeps the request for the next launch", func(t *testing.T) {
		pod := updatedPod(t, 1, report(contract.Report{Project: contract.ProjectFailed, Update: &contract.UpdateReport{State: contract.UpdateUnfinished},
			Error: "the update of project " + dir + " failed and could not be rolled back"}), &handed)
		reg := projects.Registry{Projects: []projects.Project{earlier}, Updates: []projects.Queued{handed}}
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, reg)).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff(reg, registryOn(t, c)); diff != "" {
			t.Errorf("registry changed (-want +got):\n%s", diff)
		}
	})

	t.Run("a report without an update (the init command did not run one) keeps the request", func(t *testing.T) {
		pod := updatedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted}), &handed)
		c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, projects.Registry{Projects: []projects.Project{earlier}, Updates: []projects.Queued{handed}})).Build()
		reconcile(t, c, pod)
		if diff := cmp.Diff([]projects.Queued{handed}, registryOn(t, c).Updates); diff != "" {
			t.Errorf("update queue (-want +got):\n%s", diff)
		}
	})
}

// deferredPod is the z2jh4 fixture admitted with a queued update of its project while bitnik's
// server "busy" has the project open: the update deferred. Its init container has not run yet.
func deferredPod(t *testing.T, queued projects.Queued) *corev1.Pod {
	t.Helper()
	cfg := patch.DefaultConfig()
	cfg.HelperImage = "registry.example.org/binder-projects:1.0"
	pod, errs := mutatePod(fixturePod(t, "z2jh4-binderhub-dynamic"), cfg, patch.Registered{
		Updates:       []contract.QueueEntry{queued},
		OpenElsewhere: []contract.OpenServer{{Pod: "jupyter-bitnik--busy", Server: "busy", Dir: launched.Dir}},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if d, err := contract.DeferredUpdate(pod.Annotations); err != nil || d == nil {
		t.Fatalf("the webhook did not defer the update: %+v, %v", d, err)
	}
	pod.UID = "uid-1"
	pod.CreationTimestamp = metav1.NewTime(admitted)
	pod.Status.Phase = corev1.PodPending
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "block-cloud-metadata", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "binder-projects-init", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
	}
	return pod
}

func TestAnUpdateDeferredBecauseTheProjectIsOpenElsewhereIsToldOnThePodAndStaysQueued(t *testing.T) {
	queued := projects.Queued{Dir: launched.Dir, QueuedAt: admitted.Add(-time.Minute)}
	earlier := projects.Project{Dir: launched.Dir, Commit: "0123456789ab", LastUsed: admitted.Add(-time.Hour)}
	old := projects.Registry{Projects: []projects.Project{earlier}, Updates: []projects.Queued{queued}}
	pod := deferredPod(t, queued)
	c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, old)).Build()
	log := &eventLog{}
	r := &RegistryReconciler{Client: c, APIReader: c, InitContainer: patch.DefaultConfig().InitContainerName, Recorder: log}
	run := func() {
		t.Helper()
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}}); err != nil {
			t.Fatal(err)
		}
	}

	// While the pod starts (the launch log shows its Events then): one Warning, however often the pod
	// is seen, and nothing recorded yet.
	run()
	run()
	wantDeferred := recorded{pod.Name, "Warning", ReasonUpdateDeferred, "binder-projects: project " + string(launched.Dir) + " was not updated to commit " + launched.Commit +
		` because it is open in your server "busy" (pod jupyter-bitnik--busy), and an update would change its files under the notebooks running there. ` +
		"This server starts on the project as it is. The update you asked for stays queued: stop that server and this one on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again."}
	if diff := cmp.Diff([]recorded{wantDeferred}, log.events); diff != "" {
		t.Errorf("events while the pod starts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(old, registryOn(t, c)); diff != "" {
		t.Errorf("registry changed before the init container ended (-want +got):\n%s", diff)
	}

	// Once the init container succeeded (it ran no update): the launch is recorded at the commit the
	// files still have, and the request stays queued for a later launch.
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.InitContainerStatuses[1].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, FinishedAt: metav1.NewTime(finished), ContainerID: "containerd://1", Message: report(contract.Report{Project: contract.ProjectExisted})}}
	if err := c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	run()
	run()
	want := launched
	want.Commit = earlier.Commit
	if diff := cmp.Diff(projects.Registry{Projects: []projects.Project{want}, Updates: []projects.Queued{queued}}, registryOn(t, c)); diff != "" {
		t.Errorf("registry after the launch (-want +got):\n%s", diff)
	}
	wantEvs := []recorded{wantDeferred, {pod.Name, "Normal", ReasonProjectReady, "binder-projects: project " + string(launched.Dir) + " found with your files"}}
	if diff := cmp.Diff(wantEvs, log.events); diff != "" {
		t.Errorf("events over the pod's life (-want +got):\n%s", diff)
	}
}

func TestTheUpdateDeferredNoteSaysWhatToDoForEachWayOfAsking(t *testing.T) {
	busy := contract.OpenServer{Pod: "jupyter-bitnik--busy", Server: "busy"}
	def := contract.OpenServer{Pod: "jupyter-bitnik", Server: "", Stopping: true}
	const start = "binder-projects: project gh_a_b was not updated to "
	const cause = ", and an update would change its files under the notebooks running there. This server starts on the project as it is. "
	for _, tc := range []struct {
		sentence string
		commit   string
		d        contract.UpdateDeferral
		want     string
	}{
		{"a queued request stays queued", "c0ffee", contract.UpdateDeferral{Asked: contract.UpdateAskedQueue, Open: []contract.OpenServer{busy}},
			start + `commit c0ffee because it is open in your server "busy" (pod jupyter-bitnik--busy)` + cause +
				"The update you asked for stays queued: stop that server and this one on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again."},
		{"the launcher's annotation: launch again with the update asked for; a server still stopping says so", "c0ffee", contract.UpdateDeferral{Asked: contract.UpdateAskedAnnotation, Open: []contract.OpenServer{def}},
			start + "commit c0ffee because it is open in your default server (pod jupyter-bitnik, still stopping)" + cause +
				"To update it, stop that server and this one on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again with the update asked for."},
		{"update on launch: the next launch updates it; every open server is named, one still stopping; no commit known", "", contract.UpdateDeferral{Asked: contract.UpdateAskedOnLaunch, Open: []contract.OpenServer{busy, def}},
			start + `the launched commit because it is open in your server "busy" (pod jupyter-bitnik--busy) and your default server (pod jupyter-bitnik, still stopping)` + cause +
				"To update it, stop those servers and this one on the hub's home page (File > Hub Control Panel in JupyterLab), then launch this project again: that launch updates it."},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, deferralNote("gh_a_b", tc.commit, tc.d)); diff != "" {
				t.Errorf("note (-want +got):\n%s", diff)
			}
		})
	}
}

// mutatePod is what admission makes of in (patch.Resolve, then patch.Apply with reg), or every
// reason it is refused.
func mutatePod(in *corev1.Pod, cfg patch.Config, reg patch.Registered) (*corev1.Pod, field.ErrorList) {
	l, errs := patch.Resolve(in, cfg)
	if len(errs) > 0 {
		return nil, errs
	}
	return patch.Apply(in, cfg, l, reg), nil
}

func TestALaunchIsNeverRecordedOnAClaimOfAnotherUser(t *testing.T) {
	// A pod that names claim-bitnik, launched by another user whose name gives the same claim name
	// (admission refuses such a pod; one admitted by an older version, or by hand, is never adopted).
	pod := launchedPod(t, 0, report(contract.Report{Project: contract.ProjectSeeded}))
	pod.Annotations[contract.AnnotationHubUsername] = "Bitnik!"
	theirs := claimHolding(t, projects.Registry{Projects: []projects.Project{{Dir: "gh_bitnik_thesis", LastUsed: admitted}}})
	c := fake.NewClientBuilder().WithObjects(pod, theirs).Build()
	before := registryOn(t, c)
	reconcile(t, c, pod)
	if diff := cmp.Diff(before, registryOn(t, c)); diff != "" {
		t.Errorf("another user's launch changed bitnik's registry (-before +after):\n%s", diff)
	}

	// The owner's own launch is recorded as always.
	own := launchedPod(t, 0, report(contract.Report{Project: contract.ProjectSeeded}))
	own.Name, own.UID = "jupyter-bitnik-2", "uid-2"
	if err := c.Create(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	reconcile(t, c, own)
	if r := registryOn(t, c); r.Find(launched.Dir) < 0 {
		t.Errorf("bitnik's own launch was not recorded: %+v", r)
	}
}
