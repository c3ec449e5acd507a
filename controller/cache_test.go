package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
	"github.com/binder-projects/binder-projects/webhook"
)

// serve's cache keeps no pod spec (webhook.TransformPod): the controllers read a pod's metadata and
// status only, so each decides the same on a pod as the cache holds it as on the whole pod.
func TestTheControllersDecideTheSameOnAPodAsTheCacheHoldsIt(t *testing.T) {
	gone := projects.Queued{Dir: "gh_gone", QueuedAt: admitted.Add(-time.Minute)}
	handed := projects.Queued{Dir: launched.Dir, QueuedAt: admitted.Add(-time.Minute)}
	earlier := projects.Project{Dir: launched.Dir, Commit: "0123456789ab", LastUsed: admitted.Add(-time.Hour)}
	withUpdate := projects.Registry{Projects: []projects.Project{earlier}, Updates: []projects.Queued{handed}}
	trashedAt := projects.Queued{Dir: "gh_a_b", QueuedAt: admitted.Add(-time.Hour)}
	trash := []projects.Trashed{{Project: projects.Project{Dir: "gh_a_b"}, DeletedAt: trashedAt.QueuedAt, InTrash: true}}
	toRestore := projects.Registry{Trash: trash, Restores: []projects.Queued{trashedAt}}
	toPurge := projects.Registry{Trash: trash, Purges: []projects.Queued{trashedAt}}
	pending := mutated(t, fixturePod(t, "binderhub-storage-none"))
	pending.Status.Phase = corev1.PodPending
	for _, tc := range []struct {
		sentence string
		pod      *corev1.Pod
		registry projects.Registry
	}{
		{"a launch that seeded its project, deleted a folder and warned", launchedPod(t, 0, report(contract.Report{
			Deleted: []int{1}, Project: contract.ProjectSeeded, Warnings: []string{"a warning"}}), gone), projects.Registry{Deletions: []projects.Queued{gone}}},
		{"a failed init container", launchedPod(t, 1, "the end of its log"), projects.Registry{}},
		{"a launch that updated its project", updatedPod(t, 0, report(contract.Report{Project: contract.ProjectExisted, Update: &contract.UpdateReport{
			State: contract.UpdateUpdated, Commit: launched.Commit, From: earlier.Commit, Counted: true, Replaced: 1}}), &handed), withUpdate},
		{"a launch whose update was deferred", deferredPod(t, handed), withUpdate},
		{"a launch that restored a project and found the volume nearly full", launchedPodWith(t, 0, report(contract.Report{Project: contract.ProjectExisted,
			Restored: []contract.Restored{{At: 1, As: "gh_a_b"}}, Usage: &contract.Usage{Size: 100, Free: 1}}),
			patch.Registered{Restores: []contract.QueueEntry{trashedAt}}), toRestore},
		{"a launch that purged a project", launchedPodWith(t, 0, report(contract.Report{Project: contract.ProjectExisted, Purged: []int{1}}),
			patch.Registered{Purges: []contract.QueueEntry{trashedAt}}), toPurge},
		{"a pending pod without storage", pending, projects.Registry{}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			cachedObj, err := webhook.TransformPod(tc.pod.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			cached := cachedObj.(*corev1.Pod)
			if len(cached.Spec.Containers) != 0 {
				t.Fatal("the cached pod has a spec: this test would prove nothing")
			}
			run := func(pod *corev1.Pod) ([]recorded, projects.Registry) {
				c := fake.NewClientBuilder().WithObjects(pod, claimHolding(t, tc.registry)).Build()
				return reconcile(t, c, pod, 2), registryOn(t, c)
			}
			wantEvents, wantRegistry := run(tc.pod)
			gotEvents, gotRegistry := run(cached)
			if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
				t.Errorf("events (-from the pod +from the cache):\n%s", diff)
			}
			if diff := cmp.Diff(wantRegistry, gotRegistry); diff != "" {
				t.Errorf("registry (-from the pod +from the cache):\n%s", diff)
			}
			if diff := cmp.Diff(ClaimFor(tc.pod, DefaultClaimConfig()), ClaimFor(cached, DefaultClaimConfig()), quantities); diff != "" {
				t.Errorf("claim to create (-from the pod +from the cache):\n%s", diff)
			}
		})
	}
}
