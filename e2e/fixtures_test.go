package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/e2e/cluster"
)

// The shared fixtures (testdata/, copied from ../shared/fixtures) are pods captured from a real
// KubeSpawner. A launch changes only what this cluster cannot run: the images (local ones), the
// scheduler (z2jh's user scheduler does not run here) and block-cloud-metadata's image (a stand-in).
// Another user is the same capture with the user name replaced; another repository is what BinderHub
// sends for it (the BINDER_* env, the image).

const (
	fixtureDynamic     = "z2jh4-binderhub-dynamic.yaml" // user bitnik, storage dynamic
	fixtureStorageNone = "binderhub-storage-none.yaml"  // user dora, no storage
	fixtureClaim       = "claim-bitnik.yaml"
	initContainerName  = "binder-projects-init"
	blockCloudMetadata = "block-cloud-metadata"
	homeDir            = "/home/jovyan"
)

// repo is a repository as BinderHub launches it.
type repo struct {
	url, commit string
	image       cluster.Image
	projectDir  string // what DESIGN.md's naming gives (GESIS-compatible)
}

var (
	repoA          = repo{"https://github.com/binder-examples/requirements", "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d", cluster.RepoA, "gh_binder-examples_requirements"}
	repoANewCommit = repo{"https://github.com/binder-examples/requirements", "2e4c5a3f7d1b0c9e8f7a6b5c4d3e2f1a0b9c8d7e", cluster.RepoANewCommit, "gh_binder-examples_requirements"}
	repoB          = repo{"https://github.com/binder-examples/conda", "9f8e7d6c5b4a39281706f5e4d3c2b1a098f7e6d5", cluster.RepoB, "gh_binder-examples_conda"}
	repoLarge      = repo{"https://github.com/binder-examples/large-home", "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", cluster.RepoLarge, "gh_binder-examples_large-home"}
)

// fixturePod reads a captured pod with the user name replaced everywhere.
func fixturePod(t *testing.T, file, fixtureUser, user string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(strings.ReplaceAll(string(data), fixtureUser, user)), &pod); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &pod
}

// forRepo makes the pod what BinderHub sends for r, runnable here.
func forRepo(pod *corev1.Pod, r repo) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.Spec.SchedulerName = "" // z2jh's user scheduler does not run here; the API server defaults it
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == blockCloudMetadata {
			pod.Spec.InitContainers[i].Image = cluster.NetworkToolsStandIn.Name
		}
	}
	spec := strings.TrimPrefix(r.url, "https://github.com/")
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Name != "notebook" {
			continue
		}
		c.Image = r.image.Name
		for j := range c.Env {
			e := &c.Env[j]
			switch e.Name {
			case "BINDER_REPO_URL":
				e.Value = r.url
			case "BINDER_REF_URL":
				e.Value = r.url + "/tree/" + r.commit
			case "BINDER_REQUEST":
				e.Value = "v2/gh/" + spec + "/HEAD"
			case "BINDER_PERSISTENT_REQUEST":
				e.Value = "v2/gh/" + spec + "/" + r.commit
			case "JUPYTER_IMAGE", "JUPYTER_IMAGE_SPEC":
				e.Value = r.image.Name
			}
		}
	}
	return pod
}

// createClaim creates the user's PVC as KubeSpawner does before the pod (from the captured one).
func createClaim(ctx context.Context, t *testing.T, user string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixtureClaim))
	if err != nil {
		t.Fatal(err)
	}
	var pvc corev1.PersistentVolumeClaim
	if err := yaml.UnmarshalStrict([]byte(strings.ReplaceAll(string(data), "bitnik", user)), &pvc); err != nil {
		t.Fatal(err)
	}
	if _, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Create(ctx, &pvc, metav1.CreateOptions{}); err != nil {
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
