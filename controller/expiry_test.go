package controller

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
	"github.com/binder-projects/binder-projects/webhook"
)

const ninetyDays = 90 * 24 * time.Hour

// sweepTime is the expiry controller's fake clock in these tests.
var sweepTime = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// serverPod is the z2jh4 fixture as the webhook admitted it (on claim-bitnik, with
// gh_binder-examples_requirements open), in phase, as the manager's cache holds it (no spec).
func serverPod(t *testing.T, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	pod := launchedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted}))
	pod.Status.Phase = phase
	cached, err := webhook.TransformPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	return cached.(*corev1.Pod)
}

// expiryCluster is a fake API server holding objs, with the controller's index of pods by claim.
func expiryCluster(objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithObjects(objs...).WithIndex(&corev1.Pod{}, podsByClaim, podClaim).Build()
}

// expiry is the controller with After on the fake clock at sweepTime, over c, recording into log.
func expiry(c client.Client, after time.Duration, log *eventLog) *ExpiryController {
	return &ExpiryController{After: after, Namespace: "bhub", Pods: c, APIReader: c, Client: c, Recorder: log,
		Clock: clocktesting.NewFakeClock(sweepTime)}
}

func TestTheExpiryRule(t *testing.T) {
	dir := launched.Dir // the folder serverPod has open
	unusedFor := func(d time.Duration) projects.Project {
		return projects.Project{Dir: dir, RepoURL: launched.RepoURL, LastUsed: sweepTime.Add(-d)}
	}
	otherClaimsPod := func(t *testing.T) *corev1.Pod {
		pod := serverPod(t, corev1.PodRunning)
		pod.Name, pod.Annotations[contract.AnnotationClaim] = "jupyter-someone-else", "claim-someone-else"
		return pod
	}
	stopping := func(t *testing.T) *corev1.Pod {
		pod := serverPod(t, corev1.PodRunning)
		pod.DeletionTimestamp, pod.Finalizers = &metav1.Time{Time: sweepTime.Add(-time.Minute)}, []string{"example.org/keep"}
		return pod
	}
	for _, tc := range []struct {
		sentence string
		after    time.Duration
		project  projects.Project
		pod      func(*testing.T) *corev1.Pod // nil: no pod
		expired  bool
	}{
		{"a project last used a second more than the limit ago expires", ninetyDays, unusedFor(ninetyDays + time.Second), nil, true},
		{"a project last used a second less than the limit ago stays", ninetyDays, unusedFor(ninetyDays - time.Second), nil, false},
		{"a project open in a running server stays, however long ago it was launched", ninetyDays, unusedFor(2 * ninetyDays),
			func(t *testing.T) *corev1.Pod { return serverPod(t, corev1.PodRunning) }, false},
		{"a project open in a Pending server stays", ninetyDays, unusedFor(2 * ninetyDays),
			func(t *testing.T) *corev1.Pod { return serverPod(t, corev1.PodPending) }, false},
		{"a project open in a stopping server stays until the pod is gone", ninetyDays, unusedFor(2 * ninetyDays), stopping, false},
		{"a project whose server Succeeded expires", ninetyDays, unusedFor(2 * ninetyDays),
			func(t *testing.T) *corev1.Pod { return serverPod(t, corev1.PodSucceeded) }, true},
		{"a project whose server Failed expires", ninetyDays, unusedFor(2 * ninetyDays),
			func(t *testing.T) *corev1.Pod { return serverPod(t, corev1.PodFailed) }, true},
		{"a project of that folder open in a running server on another claim expires", ninetyDays, unusedFor(2 * ninetyDays), otherClaimsPod, true},
		{"a project whose last use is not recorded stays", ninetyDays, projects.Project{Dir: dir}, nil, false},
		{"with the flag off (0) nothing expires", 0, unusedFor(10 * ninetyDays), nil, false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			keep := projects.Project{Dir: "gh_recent_one", LastUsed: sweepTime.Add(-time.Hour)}
			queued := projects.Queued{Dir: "gh_old_deletion", QueuedAt: sweepTime.Add(-ninetyDays)}
			objs := []client.Object{claimHolding(t, projects.Registry{Projects: []projects.Project{tc.project, keep}, Deletions: []projects.Queued{queued}})}
			if tc.pod != nil {
				objs = append(objs, tc.pod(t))
			}
			c := expiryCluster(objs...)
			log := &eventLog{}
			before := testutil.ToFloat64(projectsExpired)
			n, err := expiry(c, tc.after, log).Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}

			wantProjects, wantQueue := []projects.Project{tc.project, keep}, []projects.Queued{queued}
			wantN := 0
			if tc.expired {
				wantProjects, wantQueue = []projects.Project{keep}, []projects.Queued{queued, {Dir: dir, QueuedAt: sweepTime}}
				wantN = 1
			}
			r := registryOn(t, c)
			if diff := cmp.Diff(wantProjects, r.Projects, cmpopts.SortSlices(func(a, b projects.Project) bool { return a.Dir < b.Dir })); diff != "" {
				t.Errorf("projects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantQueue, r.Deletions); diff != "" {
				t.Errorf("deletion queue (-want +got):\n%s", diff)
			}
			if n != wantN || len(log.events) != wantN || testutil.ToFloat64(projectsExpired)-before != float64(wantN) {
				t.Errorf("Sweep = %d, %d Events, the counter went up by %v; want %d of each", n, len(log.events),
					testutil.ToFloat64(projectsExpired)-before, wantN)
			}

			// A second sweep finds nothing more: an expired project left the projects.
			if n, err := expiry(c, tc.after, log).Sweep(context.Background()); err != nil || n != 0 {
				t.Errorf("a second sweep = %d, %v; want 0", n, err)
			}
		})
	}
}

func TestEachExpiredProjectIsAnEventOnTheClaimAndCounted(t *testing.T) {
	conda := projects.Project{Dir: "gh_binder-examples_conda", LastUsed: time.Date(2026, 11, 20, 10, 0, 5, 0, time.UTC)}
	julia := projects.Project{Dir: "gh_binder-examples_julia", LastUsed: time.Date(2026, 10, 1, 8, 30, 0, 0, time.UTC)}
	recent := projects.Project{Dir: "gh_binder-examples_r", LastUsed: sweepTime.Add(-time.Hour)}
	c := expiryCluster(claimHolding(t, projects.Registry{Projects: []projects.Project{conda, julia, recent}}))
	log := &eventLog{}
	before := testutil.ToFloat64(projectsExpired)
	if _, err := expiry(c, ninetyDays, log).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	note := func(p projects.Project, at string) string {
		return "binder-projects: project " + string(p.Dir) + " was last used at " + at + " and has not been used for 90 days, so it " +
			"expired: it was taken off the projects and its folder was queued for the trash (the next server start moves it there)"
	}
	want := []recorded{
		{"claim-bitnik", "Normal", ReasonProjectExpired, note(conda, "2026-11-20T10:00:05Z")},
		{"claim-bitnik", "Normal", ReasonProjectExpired, note(julia, "2026-10-01T08:30:00Z")},
	}
	if diff := cmp.Diff(want, log.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]projects.Project{recent}, registryOn(t, c).Projects); diff != "" {
		t.Errorf("projects left (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(projectsExpired) - before; got != 2 {
		t.Errorf("binder_projects_projects_expired_total went up by %v, want 2", got)
	}
	// It is served on /metrics: registered with controller-runtime's registry.
	if n, err := testutil.GatherAndCount(metrics.Registry, "binder_projects_projects_expired_total"); err != nil || n != 1 {
		t.Errorf("binder_projects_projects_expired_total in the manager's registry: %d, %v; want it there", n, err)
	}
}

func TestExpiryLooksOnlyAtClaimsWithAnExpiredProjectAndGoesOnPastAFailure(t *testing.T) {
	old := projects.Project{Dir: "gh_old_one", LastUsed: sweepTime.Add(-2 * ninetyDays)}
	recent := projects.Project{Dir: "gh_recent_one", LastUsed: sweepTime.Add(-time.Hour)}
	claim := func(name string, ps ...projects.Project) *corev1.PersistentVolumeClaim {
		pvc := claimHolding(t, projects.Registry{Projects: ps})
		pvc.Name = name
		return pvc
	}
	var gets []string
	c := fake.NewClientBuilder().WithObjects(claim("claim-a", old), claim("claim-b", recent), claim("claim-c", old), claim("claim-d")).
		WithIndex(&corev1.Pod{}, podsByClaim, podClaim).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gets = append(gets, key.Name)
			if key.Name == "claim-a" {
				return context.DeadlineExceeded
			}
			return cl.Get(ctx, key, obj, opts...)
		}}).Build()
	n, err := expiry(c, ninetyDays, &eventLog{}).Sweep(context.Background())
	if n != 1 || err == nil || !strings.Contains(err.Error(), "claim claim-a") {
		t.Errorf("Sweep = %d, %v; want claim-c's project expired and claim-a's failure named", n, err)
	}
	if diff := cmp.Diff([]string{"claim-a", "claim-c"}, gets); diff != "" {
		t.Errorf("claims read to be changed (-want +got):\n%s", diff)
	}
}

func TestExpirySweepsAtItsStartAndThenEveryInterval(t *testing.T) {
	// Not expired at the start; expired half an hour later.
	p := projects.Project{Dir: "gh_a_b", LastUsed: sweepTime.Add(-ninetyDays + 30*time.Minute)}
	var lists atomic.Int32
	c := fake.NewClientBuilder().WithObjects(claimHolding(t, projects.Registry{Projects: []projects.Project{p}})).
		WithIndex(&corev1.Pod{}, podsByClaim, podClaim).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*metav1.PartialObjectMetadataList); ok {
				lists.Add(1)
			}
			return cl.List(ctx, list, opts...)
		}}).Build()
	e := expiry(c, ninetyDays, &eventLog{})
	clock := e.Clock.(*clocktesting.FakeClock)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- e.Start(ctx) }()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the first sweep", func() bool { return lists.Load() == 1 && clock.HasWaiters() })
	if got := registryOn(t, c).Projects; len(got) != 1 {
		t.Errorf("projects after the first sweep = %+v, want the project kept", got)
	}
	clock.Step(59 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if lists.Load() != 1 {
		t.Errorf("%d sweeps before the hour is up, want 1", lists.Load())
	}
	clock.Step(time.Minute)
	waitFor("the project to expire at the next sweep", func() bool { return len(registryOn(t, c).Projects) == 0 })
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Start = %v, want nil when its context ends", err)
	}
}

func TestWithTheFlagOffTheControllerIsNotStarted(t *testing.T) {
	off := &ExpiryController{}
	// A nil manager: anything added to it would panic.
	if err := off.SetupWithManager(context.Background(), nil); err != nil {
		t.Errorf("SetupWithManager = %v", err)
	}
	// Nor does it read anything if started.
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			t.Error("expiry is off but the claims were listed")
			return nil
		}}).Build()
	off = &ExpiryController{Namespace: "bhub", Pods: c, APIReader: c, Client: c}
	if err := off.Start(context.Background()); err != nil {
		t.Errorf("Start = %v", err)
	}
}
