package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/projects"
)

// Issue 14 §3 on the real cluster: a named server holds project A open (running) while a second named
// server launches A at a newer commit with an update queued by the projects page. The second pod
// starts, nothing in A changes (files and the record of the seed), the request stays queued on the
// claim, and the pod has the UpdateDeferred Event naming the first server. Once both servers have
// stopped, the next launch gets the update: the request is handed, the project updated, the queue
// emptied.
func TestAnUpdateWaitsWhileTheProjectIsOpenInAnotherNamedServerAndIsDoneOnceBothStopped(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "deferrer"
	webhookWithHelper(ctx, t, "image-volume")
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(hostDir, string(repoA.ProjectDir))
	seedRecord := filepath.Join(hostDir, ".binder-projects-seeds", string(repoA.ProjectDir))

	// The first server opens project A at commit 1, seeds it, and keeps running.
	first := namedServerPod(t, user, "binder-examples-requirements-h4p7q2ls", repoA)
	launch(ctx, t, first)
	assertProjectIsImageHome(t, project, repoA.Image)
	waitRegistry(ctx, t, user, "commit 1 recorded", 30*time.Second, func(r projects.Registry) bool {
		i := r.Find(repoA.ProjectDir)
		return i >= 0 && r.Projects[i].Commit == repoA.Commit
	})

	// The projects page's "Update to the latest commit".
	if err := kubeStore(t).RequestUpdate(ctx, user, repoA.ProjectDir); err != nil {
		t.Fatal(err)
	}
	queued := claimRegistry(ctx, t, user).Updates
	if len(queued) != 1 || queued[0].Dir != repoA.ProjectDir {
		t.Fatalf("the update queue after the request: %+v", queued)
	}
	treeBefore := treeOf(t, project)
	seedBefore, err := os.ReadFile(seedRecord)
	if err != nil {
		t.Fatalf("no record of the seed: %v", err)
	}

	// The second server launches A at commit 2 while the first runs: it starts, without the update.
	second := namedServerPod(t, user, "binder-examples-requirements-z8m1c5rw", repoANewCommit)
	admitted, _ := launch(ctx, t, second)
	if v, ok := initEnv(admitted, contract.EnvUpdate); ok {
		t.Errorf("the second launch was handed the update: %s=%q", contract.EnvUpdate, v)
	}
	if v, ok := admitted.Annotations[contract.AnnotationUpdateHanded]; ok {
		t.Errorf("the second launch records a handed request: %s", v)
	}
	deferral, err := contract.DeferredUpdate(admitted.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	wantDeferral := &contract.UpdateDeferral{Asked: contract.UpdateAskedQueue, Open: []contract.OpenServer{{Pod: first.Name, Server: "binder-examples-requirements-h4p7q2ls"}}}
	if diff := cmp.Diff(wantDeferral, deferral); diff != "" {
		t.Errorf("%s (-want +got):\n%s", contract.AnnotationUpdateDeferred, diff)
	}
	if report := initReport(ctx, t, second.Name); report.Update != nil {
		t.Errorf("the second launch's init container reported an update: %+v", *report.Update)
	}
	if diff := cmp.Diff(treeBefore, treeOf(t, project)); diff != "" {
		t.Errorf("the project changed under the first server (-before +after):\n%s", diff)
	}
	if seed, err := os.ReadFile(seedRecord); err != nil || string(seed) != string(seedBefore) {
		t.Errorf("the record of the seed changed (%v):\n%s", err, seed)
	}
	ev := waitEvent(ctx, t, second.Name, controller.ReasonUpdateDeferred, 30*time.Second)
	for _, want := range []string{first.Name, `"binder-examples-requirements-h4p7q2ls"`, "stays queued", "stop that server and this one", "launch this project again"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("the %s Event does not say %q: %q", ev.Reason, want, ev.Message)
		}
	}
	if ev.Type != corev1.EventTypeWarning {
		t.Errorf("the %s Event is of type %s, want Warning", ev.Reason, ev.Type)
	}
	// The second launch is recorded (its image), at the commit the files still have, with the request
	// still queued.
	waitRegistry(ctx, t, user, "the second launch recorded and the request still queued", 30*time.Second, func(r projects.Registry) bool {
		i := r.Find(repoA.ProjectDir)
		return i >= 0 && r.Projects[i].Image == repoANewCommit.Image.Name && r.Projects[i].Commit == repoA.Commit &&
			len(r.Updates) == 1 && r.Updates[0].Same(queued[0])
	})

	// Both servers stop (the second has the project open as well); the next launch updates it.
	stopServer(ctx, t, second.Name)
	stopServer(ctx, t, first.Name)
	third := namedServerPod(t, user, "binder-examples-requirements-k2v9n6xt", repoANewCommit)
	admitted, _ = launch(ctx, t, third)
	if v, _ := initEnv(admitted, contract.EnvUpdate); v != "1" {
		t.Errorf("the launch after both servers stopped: %s=%q, want the update handed", contract.EnvUpdate, v)
	}
	if v, ok := admitted.Annotations[contract.AnnotationUpdateDeferred]; ok {
		t.Errorf("the launch after both servers stopped was deferred: %s", v)
	}
	report := initReport(ctx, t, third.Name)
	if report.Update == nil || report.Update.State != contract.UpdateUpdated || report.Update.From != repoA.Commit || report.Update.Commit != repoANewCommit.Commit {
		t.Fatalf("the init container's report on the update: %+v, want updated from %s to %s", report.Update, repoA.Commit, repoANewCommit.Commit)
	}
	if got := treeOf(t, project)["CHANGELOG.md"]; got != repoANewCommit.Image.HomeFiles()["CHANGELOG.md"] {
		t.Errorf("the commit's new file is not in the project after the update: %q", got)
	}
	waitEvent(ctx, t, third.Name, controller.ReasonProjectUpdated, 30*time.Second)
	waitRegistry(ctx, t, user, "the update recorded and the queue empty", 30*time.Second, func(r projects.Registry) bool {
		i := r.Find(repoA.ProjectDir)
		return i >= 0 && r.Projects[i].Commit == repoANewCommit.Commit && r.Projects[i].LastUpdate != nil && len(r.Updates) == 0
	})
	stopServer(ctx, t, third.Name)
}

// webhookWithHelper restarts the host's webhook with the helper (our image, imported into containerd)
// in mode, and back without it when the test ends.
func webhookWithHelper(ctx context.Context, t *testing.T, mode string) {
	t.Helper()
	importOurImage(ctx, t)
	webhookWith(ctx, t, "--helper-image="+inClusterImageRepo+":"+inClusterImageTag, "--helper-mode="+mode)
}
