package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/e2e/binderhub"
	"github.com/binder-projects/binder-projects/patch"
)

const (
	blockCloudMetadata = binderhub.BlockCloudMetadata
	homeDir            = "/home/jovyan"
)

// initContainerName is the init container the webhook appends (its default name, as the harness runs it).
var initContainerName = patch.DefaultConfig().InitContainerName

var (
	repoA          = binderhub.RepoA
	repoANewCommit = binderhub.RepoANewCommit
	repoB          = binderhub.RepoB
	repoLarge      = binderhub.RepoLarge
)

// dynamicPod is the captured z2jh dynamic-storage pod for user, launching r.
func dynamicPod(t testing.TB, user string, r binderhub.Repo) *corev1.Pod {
	t.Helper()
	pod, err := binderhub.Pod(binderhub.FixtureDynamic, binderhub.FixtureDynamicUser, user, r)
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// storageNonePod is the captured BinderHub-default (no storage) pod for user, launching r.
func storageNonePod(t *testing.T, user string, r binderhub.Repo) *corev1.Pod {
	t.Helper()
	pod, err := binderhub.Pod(binderhub.FixtureStorageNone, binderhub.FixtureNoneUser, user, r)
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// createClaim creates the user's PVC as KubeSpawner does before the pod (from the captured one).
func createClaim(ctx context.Context, t testing.TB, user string) {
	t.Helper()
	createClaimAsking(ctx, t, user, nil)
}

// userClaim makes the user's volume (UserStorage) and creates their claim (createClaim), and returns
// the volume's folder on the host.
func userClaim(ctx context.Context, t testing.TB, user string) string {
	t.Helper()
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	createClaim(ctx, t, user)
	return hostDir
}

// smallUserClaim is userClaim on a real ext4 of sizeMiB (SmallUserStorage, createSmallClaim).
func smallUserClaim(ctx context.Context, t testing.TB, user string, sizeMiB int) string {
	t.Helper()
	hostDir, err := testCluster.SmallUserStorage(ctx, hubNamespace, "claim-"+user, sizeMiB)
	if err != nil {
		t.Fatal(err)
	}
	createSmallClaim(ctx, t, user, sizeMiB)
	return hostDir
}

// createSmallClaim is createClaim for a volume of SmallUserStorage: the claim asks for the volume's
// sizeMiB (the captured claim asks for more than such a volume has, and would not bind to it).
func createSmallClaim(ctx context.Context, t testing.TB, user string, sizeMiB int) {
	t.Helper()
	size := resource.MustParse(fmt.Sprintf("%dMi", sizeMiB))
	createClaimAsking(ctx, t, user, &size)
}

// createClaimAsking creates the captured claim for user, asking for size when it is not nil.
func createClaimAsking(ctx context.Context, t testing.TB, user string, size *resource.Quantity) {
	t.Helper()
	pvc, err := binderhub.Claim(user)
	if err != nil {
		t.Fatal(err)
	}
	if size != nil {
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = *size
	}
	if _, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// launch creates the pod and waits until the notebook is Ready; it returns the pod as admitted
// (mutated) and as running.
func launch(ctx context.Context, t *testing.T, pod *corev1.Pod) (admitted, running *corev1.Pod) {
	t.Helper()
	t0 := time.Now()
	admitted, err := testCluster.Client().CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s: %v", pod.Name, err)
	}
	running = waitPodReady(ctx, t, pod.Namespace, pod.Name)
	t.Logf("%s Ready %s after create", pod.Name, time.Since(t0).Round(10*time.Millisecond))
	return admitted, running
}

// inNotebook runs a shell script in the notebook container, as the notebook's user.
func inNotebook(ctx context.Context, t *testing.T, podName, script string) string {
	t.Helper()
	out, err := testCluster.Kubectl(ctx, "-n", hubNamespace, "exec", podName, "-c", "notebook", "--", "sh", "-c", script)
	if err != nil {
		t.Fatalf("exec in %s: %v\n%s", podName, err, out)
	}
	return out
}
