package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/contract/contracttest"
	"github.com/binder-projects/binder-projects/e2e/binderhub"
)

// unscheduled keeps an admitted pod Pending without running anything: no scheduler has this name.
const unscheduled = "binder-projects-e2e-no-scheduler"

// createAtOnce creates the pods through the API server at the same moment and returns the refusals,
// by pod name ("" for an admitted pod). The admitted pods are deleted when the test ends.
func createAtOnce(ctx context.Context, t *testing.T, pods []*corev1.Pod) map[string]error {
	t.Helper()
	pods_ := testCluster.Client().CoreV1().Pods(hubNamespace)
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := map[string]error{}
	start := make(chan struct{})
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := pods_.Create(ctx, p, metav1.CreateOptions{})
			mu.Lock()
			got[p.Name] = err
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	t.Cleanup(func() {
		zero := int64(0)
		for name, err := range got {
			if err == nil {
				_ = pods_.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			}
		}
	})
	return got
}

// Issue 15 §4: the project limit holds for launches at the same time. Six named servers of one user
// (BinderHub gives every launch a new server name), each launching a new repository, are created at
// the same moment through the real API server with a limit of five: the registry records a project only
// once its init container succeeded, so before the fix all six passed.
func TestSixNewProjectsLaunchedAtOnceOnNamedServersWithALimitOfFiveRefuseExactlyOne(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "sixfold"
	createClaim(ctx, t, user)
	var pods []*corev1.Pod
	for i := 1; i <= maxProjects+1; i++ {
		p := dynamicPod(t, user, projectRepo("six", i))
		server := fmt.Sprintf("binder-six-%d", i)
		p.Name += "--" + server
		p.Annotations[contract.AnnotationHubServername] = server
		p.Labels[contract.AnnotationHubServername] = server
		p.Spec.SchedulerName = unscheduled
		pods = append(pods, p)
	}
	got := createAtOnce(ctx, t, pods)
	var admitted, refused []string
	for name, err := range got {
		switch {
		case err == nil:
			admitted = append(admitted, name)
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "too many projects") && strings.Contains(err.Error(), "launching"):
			refused = append(refused, name)
		default:
			t.Errorf("%s: unexpected error: %v", name, err)
		}
	}
	if len(admitted) != maxProjects || len(refused) != 1 {
		t.Fatalf("admitted %d (%v), refused %d (%v); want %d admitted and exactly one refused", len(admitted), admitted, len(refused), refused, maxProjects)
	}
	t.Logf("admitted %v; refused %v: %v", admitted, refused, got[refused[0]])
}

// Issue 15 §4: a claim of another user. KubeSpawner's safe slug of a name that is not a slug carries
// 32 bits of a hash, so with names users choose two of them can give one claim name. The second user's
// launch (storage none: the webhook names the claim) is refused by the real API server with the
// webhook's 422, which says whose the claim is not and names no one else.
func TestALaunchOntoAClaimOfAnotherUserIsRefused(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	owner, intruder, slug := collidingUsers(t)
	pvc, err := binderhub.Claim("collide")
	if err != nil {
		t.Fatal(err)
	}
	pvc.Name = "claim-" + slug
	pvc.Annotations[contract.AnnotationHubUsername] = owner
	if _, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := storageNonePod(t, "collide", repoA)
	p.Name = "jupyter-" + slug
	p.Annotations[contract.AnnotationHubUsername] = intruder
	p.Spec.SchedulerName = unscheduled
	// The webhook reads claims from its cache, which follows the API server by a moment: until it
	// shows the new claim, the claim does not exist for it (and a pod would create it). Dry runs,
	// which change nothing, ask until it is seen.
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, p.DeepCopy(), dry); err != nil {
			break
		}
	}
	err = createAtOnce(ctx, t, []*corev1.Pod{p})[p.Name]
	if err == nil {
		t.Fatalf("%q's pod was admitted onto %s, the claim of %q", intruder, pvc.Name, owner)
	}
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), fmt.Sprintf("claim %s is not %q's", pvc.Name, intruder)) || strings.Contains(err.Error(), owner) {
		t.Errorf("refusal %v; want the webhook's 422 saying the claim is not %q's, naming no one else", err, intruder)
	}
}

// collidingUsers finds two user names whose KubeSpawner safe slugs are one (contracttest.CollidingNames).
func collidingUsers(t testing.TB) (first, second, slug string) {
	return contracttest.CollidingNames(t, func(name string) string { s, _, _ := contract.UserServerNames(contract.SlugSafe, name, ""); return s })
}
