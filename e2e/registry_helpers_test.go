package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/e2e/binderhub"
	"github.com/binder-projects/binder-projects/e2e/cluster"
	"github.com/binder-projects/binder-projects/projects"
)

// projectRepo is the i-th of a set of repositories that differ only in their URL (BINDER_REPO_URL and
// the BINDER_* env BinderHub derives from it); they all run repository A's image, which is all a
// project needs here: a folder of its own, named from the URL.
func projectRepo(set string, i int) binderhub.Repo {
	return binderhub.Repo{
		URL:        fmt.Sprintf("https://github.com/e2e-%s/project-%d", set, i),
		Commit:     fmt.Sprintf("%040d", i),
		Image:      cluster.RepoA,
		ProjectDir: contract.ProjectDir(fmt.Sprintf("gh_e2e-%s_project-%d", set, i)),
	}
}

var (
	crClientOnce sync.Once
	crClient     client.WithWatch
	crClientErr  error
)

// kubeClient is a controller-runtime client on the cluster, as the projects service and the CLI use.
func kubeClient(t *testing.T) client.WithWatch {
	t.Helper()
	crClientOnce.Do(func() {
		// controller-runtime's client logs through its global logger; the tests read its errors.
		ctrllog.SetLogger(logr.Discard())
		scheme := runtime.NewScheme()
		if crClientErr = clientgoscheme.AddToScheme(scheme); crClientErr != nil {
			return
		}
		crClient, crClientErr = client.NewWithWatch(testCluster.RESTConfig(), client.Options{Scheme: scheme})
	})
	if crClientErr != nil {
		t.Fatal(crClientErr)
	}
	return crClient
}

// getClaim reads the user's claim from the API server.
func getClaim(ctx context.Context, t testing.TB, user string) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Get(ctx, "claim-"+user, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading claim-%s: %v", user, err)
	}
	return pvc
}

// claimRegistry reads the registry on the user's claim.
func claimRegistry(ctx context.Context, t *testing.T, user string) projects.Registry {
	t.Helper()
	pvc := getClaim(ctx, t, user)
	r, err := projects.FromClaim(pvc)
	if err != nil {
		t.Fatalf("the registry on claim-%s cannot be read: %v\n%s", user, err, registryAnnotations(pvc))
	}
	return r
}

// registryAnnotations shows the claim's registry annotations for failure messages.
func registryAnnotations(pvc *corev1.PersistentVolumeClaim) string {
	return fmt.Sprintf("  %s: %s\n  %s: %s", projects.AnnotationProjects, pvc.Annotations[projects.AnnotationProjects],
		projects.AnnotationDeleteQueue, pvc.Annotations[projects.AnnotationDeleteQueue])
}

// waitRegistry waits (at most within) until the registry on the user's claim satisfies cond, described
// by what for the failure message.
func waitRegistry(ctx context.Context, t testing.TB, user, what string, within time.Duration, cond func(projects.Registry) bool) projects.Registry {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pvc := getClaim(ctx, t, user)
		r, err := projects.FromClaim(pvc)
		if err == nil && cond(r) {
			return r
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("after %s, the registry on claim-%s does not show %s (err %v):\n%s", within, user, what, err, registryAnnotations(pvc))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// changeRegistry changes the registry on the user's claim as the projects service does
// (projects.ChangeRegistry: read anew, changed by fn, written, and again on a conflict); what names the
// change for the failure message.
func changeRegistry(ctx context.Context, t *testing.T, user, what string, fn func(r *projects.Registry) error) {
	t.Helper()
	c := kubeClient(t)
	key := client.ObjectKey{Namespace: hubNamespace, Name: "claim-" + user}
	if _, err := projects.ChangeRegistry(ctx, c, c, key, func(_ metav1.Object, r *projects.Registry) error { return fn(r) }); err != nil {
		t.Fatalf("%s on claim-%s: %v", what, user, err)
	}
}

// dirs are the registry's project folders.
func dirs(r projects.Registry) []contract.ProjectDir {
	var out []contract.ProjectDir
	for _, p := range r.Projects {
		out = append(out, p.Dir)
	}
	slices.Sort(out)
	return out
}

func sameSet[S ~string](got []S, want ...S) bool {
	g := slices.Sorted(slices.Values(got))
	w := slices.Sorted(slices.Values(want))
	return slices.Equal(g, w)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stopServer deletes a server pod with a short grace period (the stand-in server stops at once on
// SIGTERM) and waits until it is gone.
func stopServer(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	err := testCluster.Client().CoreV1().Pods(hubNamespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	deletePod(ctx, t, hubNamespace, name)
}

// recordLaunch launches r for user as BinderHub would (dynamic storage), waits until the notebook is
// Ready, stops the server as culling does, and waits until the controller has recorded the project on
// the claim.
func recordLaunch(ctx context.Context, t *testing.T, user string, r binderhub.Repo) {
	t.Helper()
	pod := dynamicPod(t, user, r)
	admitted, _ := launch(ctx, t, pod)
	if got := admitted.Annotations[contract.AnnotationProjectDir]; got != string(r.ProjectDir) {
		t.Fatalf("%s annotation = %q, want %q", contract.AnnotationProjectDir, got, r.ProjectDir)
	}
	stopServer(ctx, t, pod.Name)
	waitRegistry(ctx, t, user, "project "+string(r.ProjectDir), 30*time.Second, func(reg projects.Registry) bool { return reg.Find(r.ProjectDir) >= 0 })
}

// initEnv is the value of an env var of our init container in pod.
func initEnv(pod *corev1.Pod, name string) (string, bool) {
	for _, c := range pod.Spec.InitContainers {
		if c.Name != initContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value, true
			}
		}
	}
	return "", false
}

// waitInitContainerFailed waits until our init container has exited non-zero at least once (kubelet
// then restarts it after a back-off: the pod stays Pending) and returns that termination.
func waitInitContainerFailed(ctx context.Context, t *testing.T, name string, within time.Duration) corev1.ContainerStateTerminated {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pod, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, st := range pod.Status.InitContainerStatuses {
				if st.Name != initContainerName {
					continue
				}
				for _, term := range []*corev1.ContainerStateTerminated{st.State.Terminated, st.LastTerminationState.Terminated} {
					if term != nil && term.ExitCode != 0 {
						return *term
					}
					if term != nil && term.ExitCode == 0 {
						t.Fatalf("%s of pod %s succeeded, want it to fail:\n%s", initContainerName, name, describePod(ctx, hubNamespace, name))
					}
				}
			}
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					t.Fatalf("pod %s is Ready, want its %s to fail", name, initContainerName)
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("after %s, %s of pod %s has not failed:\n%s", within, initContainerName, name, describePod(context.Background(), hubNamespace, name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listDir lists a host folder's entries (names), for comparing the volume before and after.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// seedRegistry writes a registry onto the user's claim, the way the controller keeps it (JSON in the
// claim's annotations, through projects.Registry.ToClaim), for tests that need a user's history without
// launching every project; each project gets a folder on the volume, as its launch would have left.
func seedRegistry(ctx context.Context, t *testing.T, user, hostDir string, reg projects.Registry) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := getClaim(ctx, t, user)
	if err := reg.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	out, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Update(ctx, pvc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("writing the registry on claim-%s: %v", user, err)
	}
	for _, d := range append(dirs(reg), reg.QueuedDirs()...) {
		p := hostDir + "/" + string(d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+"/notes.txt", []byte("work in "+d+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 1000, 100)
		os.Chown(p+"/notes.txt", 1000, 100)
	}
	return out
}

// jsonString is v as JSON, for messages.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
