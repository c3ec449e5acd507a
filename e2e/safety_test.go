package e2e

// Nothing lost, nobody locked out, on every BinderHub configuration: named servers, concurrent starts,
// full volumes, deletions racing launches, corrupt registries, and what the user is told.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/e2e/binderhub"
	"github.com/binder-projects/binder-projects/projects"
)

// namedServerPod is BinderHub's default-storage (none) pod for user's named server `server`.
func namedServerPod(t *testing.T, user, server string, r binderhub.Repo) *corev1.Pod {
	t.Helper()
	return binderhub.NamedServer(storageNonePod(t, user, r), server)
}

// launchAll creates the pods at once and waits until every notebook is Ready.
func launchAll(ctx context.Context, t *testing.T, pods ...*corev1.Pod) []*corev1.Pod {
	t.Helper()
	admitted := make([]*corev1.Pod, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			admitted[i], errs[i] = testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, p, metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creating %s: %v", pods[i].Name, err)
		}
	}
	for _, p := range pods {
		waitPodReady(ctx, t, hubNamespace, p.Name)
	}
	return admitted
}

// eventsOf lists the Events about the named object in the hub's namespace (core/v1, as KubeSpawner
// reads them for the spawn progress that BinderHub's launch log shows).
func eventsOf(ctx context.Context, t *testing.T, name string) []corev1.Event {
	t.Helper()
	list, err := testCluster.Client().CoreV1().Events(hubNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// waitEvent waits until an Event of the reason about the named object exists, and returns it.
func waitEvent(ctx context.Context, t *testing.T, name, reason string, within time.Duration) corev1.Event {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, e := range eventsOf(ctx, t, name) {
			if e.Reason == reason {
				return e
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var got []string
			for _, e := range eventsOf(context.Background(), t, name) {
				got = append(got, e.Type+" "+e.Reason+": "+e.Message)
			}
			t.Fatalf("after %s, no %s Event about %s; its Events:\n  %s", within, reason, name, strings.Join(got, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reservedLeftoversOn lists what the init command left at the volume root under its reserved names,
// but for what is meant to stay: its record of carried-out deletions (.binder-projects-done), the
// records of what projects were seeded with (.binder-projects-seeds) and the updates folder with its
// lock (.binder-projects-updates/.lock; anything else in it is an update's work folder, a leftover).
func reservedLeftoversOn(t *testing.T, hostDir string) []string {
	t.Helper()
	var out []string
	for _, name := range listDir(t, hostDir) {
		switch {
		case name == ".binder-projects-done", name == ".binder-projects-seeds":
		case name == ".binder-projects-updates":
			for _, in := range listDir(t, filepath.Join(hostDir, name)) {
				if in != ".lock" {
					out = append(out, name+"/"+in)
				}
			}
		case strings.HasPrefix(name, ".binder-projects-"):
			out = append(out, name)
		}
	}
	return out
}

// kubeStore is the projects service's store, as the projects API and the admin CLI use it.
func kubeStore(t *testing.T) *projects.KubeStore {
	return &projects.KubeStore{Client: kubeClient(t), Namespace: hubNamespace}
}

func TestNamedServersOfOneUserRunSideBySideOnTheUsersOneClaim(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "nadia"
	claim := "claim-" + user
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, claim)
	if err != nil {
		t.Fatal(err)
	}
	// BinderHub's launcher names each server from the repository and random characters.
	a := namedServerPod(t, user, "binder-examples-requirements-k3j9x0qa", repoA)
	b := namedServerPod(t, user, "binder-examples-conda-7fz2m1pd", repoB)
	admitted := launchAll(ctx, t, a, b)
	for _, p := range admitted {
		if !podUsesClaim(p, claim) {
			t.Errorf("%s does not mount %s:\n%s", p.Name, claim, jsonString(p.Spec.Volumes))
		}
		aff := p.Spec.Affinity
		if aff == nil || aff.PodAffinity == nil || len(aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
			aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels[contract.AnnotationHubUsername] != user {
			t.Errorf("%s has no required pod affinity to the user's other servers: %s", p.Name, jsonString(aff))
		}
	}
	// Both projects sit side by side on the one volume, each server sees its own at the home and both
	// under /projects.
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoA.ProjectDir)), repoA.Image)
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoB.ProjectDir)), repoB.Image)
	for _, p := range []struct {
		pod  *corev1.Pod
		home string
	}{{a, string(repoA.ProjectDir)}, {b, string(repoB.ProjectDir)}} {
		out := inNotebook(ctx, t, p.pod.Name, `echo "from $(hostname)" > /home/jovyan/written-by-server.txt; ls -A /projects | tr '\n' ' '`)
		if !strings.Contains(out, string(repoA.ProjectDir)) || !strings.Contains(out, string(repoB.ProjectDir)) {
			t.Errorf("%s sees under /projects: %s; want both projects", p.pod.Name, out)
		}
		if data, err := os.ReadFile(filepath.Join(hostDir, p.home, "written-by-server.txt")); err != nil || !strings.Contains(string(data), p.pod.Name) {
			t.Errorf("%s's home is not its project folder %s on the user's claim: %q, %v", p.pod.Name, p.home, data, err)
		}
	}
	var list corev1.PersistentVolumeClaimList
	if err := kubeClient(t).List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	var claims []string
	for _, c := range list.Items {
		if c.Annotations[contract.AnnotationHubUsername] == user {
			claims = append(claims, c.Name)
		}
	}
	if !sameSet(claims, claim) {
		t.Errorf("claims of %s: %v, want only %s", user, claims, claim)
	}
	// The registry on the one claim records both launches, and each pod was told its project is ready.
	waitRegistry(ctx, t, user, "both projects", 30*time.Second, func(r projects.Registry) bool {
		return sameSet(dirs(r), repoA.ProjectDir, repoB.ProjectDir)
	})
	for _, p := range admitted {
		ev := waitEvent(ctx, t, p.Name, controller.ReasonProjectReady, 30*time.Second)
		if !strings.Contains(ev.Message, p.Annotations[contract.AnnotationProjectDir]) {
			t.Errorf("%s's %s Event: %q", p.Name, ev.Reason, ev.Message)
		}
	}
	for _, p := range admitted {
		stopServer(ctx, t, p.Name)
	}

	// The next launch, under yet another server name, finds the user's files again.
	c := namedServerPod(t, user, "binder-examples-requirements-q8w2e4rt", repoA)
	launch(ctx, t, c)
	if out := inNotebook(ctx, t, c.Name, `cat /home/jovyan/written-by-server.txt`); !strings.Contains(out, a.Name) {
		t.Errorf("a later named server of the same project does not find the files: %q", out)
	}
	stopServer(ctx, t, c.Name)
}

func TestANamedServerOnAClaimOfItsOwnIsRefusedWithTheValueToSet(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	const user = "nemo"
	pod := binderhub.NamedServer(dynamicPod(t, user, repoA), "analysis")
	for i := range pod.Spec.Volumes {
		if pvc := pod.Spec.Volumes[i].PersistentVolumeClaim; pvc != nil {
			pvc.ClaimName = "claim-" + user + "--analysis" // z2jh's per-server pvcNameTemplate
		}
	}
	_, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, pod, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("the pod was admitted")
	}
	for _, want := range []string{"is invalid", "claim-nemo--analysis", "singleuser.storage.dynamic.pvcNameTemplate: claim-{username}", "--allow-per-server-claims"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal the hub shows, %q, does not say %q", err, want)
		}
	}
}

func TestConcurrentStartsOnOneClaimAllGetACompleteProjectAndLeaveNothingBehind(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "concha"
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	// Two servers of the large project and one of another start together: three init containers copy
	// onto one volume at once, two of them into the same project.
	pods := []*corev1.Pod{
		namedServerPod(t, user, "large-1", repoLarge),
		namedServerPod(t, user, "large-2", repoLarge),
		namedServerPod(t, user, "other", repoB),
	}
	launchAll(ctx, t, pods...)
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoLarge.ProjectDir)), repoLarge.Image)
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoB.ProjectDir)), repoB.Image)
	for _, p := range pods {
		logs, _ := testCluster.Kubectl(ctx, "-n", hubNamespace, "logs", p.Name, "-c", initContainerName)
		t.Logf("%s:\n%s", p.Name, strings.TrimSpace(logs))
		stopServer(ctx, t, p.Name)
	}
	// The next start removes whatever the three left (none of them is running any more).
	next := namedServerPod(t, user, "after", repoB)
	launch(ctx, t, next)
	if left := reservedLeftoversOn(t, hostDir); len(left) > 0 {
		t.Errorf("after the next start, the volume still holds %v", left)
	}
	stopServer(ctx, t, next.Name)
}

func TestAFullSmallVolumeWithAQueuedDeletionStillLaunchesAndTheDeletionFreesTheSpace(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "fiona"
	const sizeMiB = 16
	hostDir := smallUserClaim(ctx, t, user, sizeMiB)
	// The user works in project A until the volume is full, then stops and deletes A.
	podA := dynamicPod(t, user, repoA)
	launch(ctx, t, podA)
	// Fill every last block: big writes, then small ones, then folders until not even one more fits.
	inNotebook(ctx, t, podA.Name, `cd /home/jovyan; dd if=/dev/zero of=results.bin bs=64k 2>/dev/null; dd if=/dev/zero of=rest.bin bs=1k 2>/dev/null; i=0; while mkdir "run-$i" 2>/dev/null; do i=$((i+1)); done; sync; true`)
	stopServer(ctx, t, podA.Name)
	waitRegistry(ctx, t, user, "project A", 30*time.Second, func(r projects.Registry) bool { return r.Find(repoA.ProjectDir) >= 0 })
	if free := freeBytes(t, hostDir); free > 64<<10 {
		t.Fatalf("the volume is not full: %d bytes free", free)
	}
	if err := os.Mkdir(filepath.Join(hostDir, ".probe"), 0o755); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("creating a folder on the full volume: %v, want ENOSPC (the old init script failed right there)", err)
	}
	if err := kubeStore(t).Delete(ctx, user, repoA.ProjectDir); err != nil {
		t.Fatal(err)
	}

	// Launching project B: the queued deletion needs no new space, frees it, and B is seeded.
	podB := dynamicPod(t, user, repoB)
	launch(ctx, t, podB)
	if _, err := os.Stat(filepath.Join(hostDir, string(repoA.ProjectDir))); !os.IsNotExist(err) {
		t.Errorf("the deleted project A is still on the volume: %v", err)
	}
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoB.ProjectDir)), repoB.Image)
	if free := freeBytes(t, hostDir); free < (sizeMiB/2)<<20 {
		t.Errorf("only %d bytes free after A's deletion", free)
	}
	r := waitRegistry(ctx, t, user, "B recorded and nothing queued", 30*time.Second, func(r projects.Registry) bool {
		return len(r.Deletions) == 0 && r.Find(repoB.ProjectDir) >= 0
	})
	if !sameSet(dirs(r), repoB.ProjectDir) {
		t.Errorf("projects %v, want [%s]", dirs(r), repoB.ProjectDir)
	}
	if left := reservedLeftoversOn(t, hostDir); len(left) > 0 {
		t.Errorf("the volume holds %v", left)
	}
	stopServer(ctx, t, podB.Name)
}

// freeBytes is what the file system of dir has free.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

func TestARelaunchRightAfterADeletionKeepsTheFilesWrittenSince(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "rapid"
	hostDir := userClaim(ctx, t, user)
	recordLaunch(ctx, t, user, repoA)
	project := filepath.Join(hostDir, string(repoA.ProjectDir))
	if err := os.WriteFile(filepath.Join(project, "old.txt"), []byte("before the deletion\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Delete, and relaunch the same project at once, as fast as a client can.
	if err := kubeStore(t).Delete(ctx, user, repoA.ProjectDir); err != nil {
		t.Fatal(err)
	}
	pod := dynamicPod(t, user, repoA)
	admitted, running := launch(ctx, t, pod)
	handed, _ := contract.HandedDeletions(admitted.Annotations)
	t.Logf("the relaunch was handed %d queue entries (the webhook's cache may not have seen the deletion yet)", len(handed))
	inNotebook(ctx, t, running.Name, `echo "written after the relaunch" > /home/jovyan/new.txt`)
	stopServer(ctx, t, pod.Name)
	r := waitRegistry(ctx, t, user, "A recorded and nothing queued", 30*time.Second, func(r projects.Registry) bool {
		return len(r.Deletions) == 0 && r.Find(repoA.ProjectDir) >= 0
	})
	t.Logf("registry after the relaunch: %s", jsonString(r))

	// The next launch must not delete what the user wrote after relaunching.
	_, running = launch(ctx, t, dynamicPod(t, user, repoA))
	if out := inNotebook(ctx, t, running.Name, `cat /home/jovyan/new.txt`); !strings.Contains(out, "written after the relaunch") {
		t.Errorf("the file written after the relaunch is gone: %q", out)
	}
	stopServer(ctx, t, running.Name)
}

func TestACorruptRegistryDoesNotBlockALaunchAndIsWrittenAnew(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	const user = "broken"
	if _, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user); err != nil {
		t.Fatal(err)
	}
	createClaim(ctx, t, user)
	waitClaimBound(ctx, t, "claim-"+user)
	pvc := getClaim(ctx, t, user)
	const bad = `[{"dir":"gh_binder-examples_conda","lastUsed":"2026-11-2` // a truncated write
	pvc.Annotations[projects.AnnotationProjects] = bad
	if _, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := dynamicPod(t, user, repoA)
	launch(ctx, t, pod)
	r := waitRegistry(ctx, t, user, "a good registry with project A", 30*time.Second, func(r projects.Registry) bool { return r.Find(repoA.ProjectDir) >= 0 })
	if !sameSet(dirs(r), repoA.ProjectDir) {
		t.Errorf("projects %v, want [%s]", dirs(r), repoA.ProjectDir)
	}
	if got := getClaim(ctx, t, user).Annotations[contract.AnnotationClaimProjectsCorrupt]; got != bad {
		t.Errorf("the bad value is not kept beside: %s = %q", contract.AnnotationClaimProjectsCorrupt, got)
	}
	ev := waitEvent(ctx, t, "claim-"+user, controller.ReasonRegistryCorrupt, 30*time.Second)
	if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, projects.AnnotationProjects) {
		t.Errorf("the claim's Event: %s %s", ev.Type, ev.Message)
	}
	stopServer(ctx, t, pod.Name)
}
