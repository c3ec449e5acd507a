package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/projects"
)

// maxProjects is the webhook's --max-projects as the harness runs it: the default, GESIS's 5.
const maxProjects = 5

func TestAUserWithFiveProjectsIsRefusedASixthWithAMessageNamingThemAndCanRelaunchAnyOfThem(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "fivefold"
	hostDir := userClaim(ctx, t, user)
	var want []contract.ProjectDir
	for i := 1; i <= maxProjects; i++ {
		r := projectRepo("limit", i)
		recordLaunch(ctx, t, user, r)
		want = append(want, r.ProjectDir)
	}
	reg := claimRegistry(ctx, t, user)
	if !sameSet(dirs(reg), want...) {
		t.Fatalf("the registry holds %v, want the %d launched projects %v", dirs(reg), maxProjects, want)
	}
	for _, p := range reg.Projects {
		if !strings.HasPrefix(p.RepoURL, "https://github.com/e2e-limit/") || p.Image != repoA.Image.Name || p.LastUsed.IsZero() {
			t.Errorf("the registry's record of %s is incomplete: %s", p.Dir, jsonString(p))
		}
	}
	sixth := projectRepo("limit", maxProjects+1)
	claimBefore := getClaim(ctx, t, user)

	t.Run("client-go: the create fails with 403 and the webhook's message", func(t *testing.T) {
		_, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, dynamicPod(t, user, sixth), metav1.CreateOptions{})
		if err == nil {
			stopServer(ctx, t, "jupyter-"+user)
			t.Fatalf("a sixth project was launched for a user with %d", maxProjects)
		}
		if !apierrors.IsForbidden(err) {
			t.Errorf("the refusal is not 403 Forbidden: %v (reason %s)", err, apierrors.ReasonForError(err))
		}
		assertLimitMessage(t, err.Error(), want, sixth.ProjectDir)
		t.Logf("refused: %v", err)
	})
	t.Run("kubectl: the message reaches the pod creator's stderr", func(t *testing.T) {
		manifest, err := yaml.Marshal(dynamicPod(t, user, sixth))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, testCluster.KubectlPath(), "create", "-f", "-")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+testCluster.Kubeconfig())
		cmd.Stdin = bytes.NewReader(manifest)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil {
			stopServer(ctx, t, "jupyter-"+user)
			t.Fatalf("kubectl created a sixth project: %s", stdout.String())
		}
		assertLimitMessage(t, stderr.String(), want, sixth.ProjectDir)
		if !strings.Contains(stderr.String(), "Forbidden") && !strings.Contains(stderr.String(), "forbidden") {
			t.Errorf("kubectl's error does not say forbidden:\n%s", stderr.String())
		}
	})
	t.Run("the refusals changed nothing", func(t *testing.T) {
		if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, "jupyter-"+user, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a refused pod exists: %v", err)
		}
		if after := getClaim(ctx, t, user); after.ResourceVersion != claimBefore.ResourceVersion {
			t.Errorf("the claim changed:\nbefore\n%s\nafter\n%s", registryAnnotations(claimBefore), registryAnnotations(after))
		}
		if _, err := os.Stat(filepath.Join(hostDir, string(sixth.ProjectDir))); !os.IsNotExist(err) {
			t.Errorf("the refused project has a folder: %v", err)
		}
	})
	t.Run("relaunching one of the five still works and updates its last use", func(t *testing.T) {
		third := projectRepo("limit", 3)
		before := reg.Projects[reg.Find(third.ProjectDir)].LastUsed
		_, running := launch(ctx, t, dynamicPod(t, user, third))
		if out := inNotebook(ctx, t, running.Name, `cat /home/jovyan/README.md`); !strings.Contains(out, "Repository A") {
			t.Errorf("the relaunched project's home:\n%s", out)
		}
		stopServer(ctx, t, running.Name)
		after := waitRegistry(ctx, t, user, "a newer last use of "+string(third.ProjectDir), 30*time.Second, func(r projects.Registry) bool {
			i := r.Find(third.ProjectDir)
			return i >= 0 && r.Projects[i].LastUsed.After(before)
		})
		if !sameSet(dirs(after), want...) {
			t.Errorf("after the relaunch the registry holds %v, want %v", dirs(after), want)
		}
	})
}

// assertLimitMessage: msg is the webhook's denial: it names every project, the refused one, and how
// to delete one.
func assertLimitMessage(t *testing.T, msg string, projectDirs []contract.ProjectDir, refused contract.ProjectDir) {
	t.Helper()
	for _, d := range projectDirs {
		if !strings.Contains(msg, string(d)) {
			t.Errorf("the refusal does not name project %s:\n%s", d, msg)
		}
	}
	for _, want := range []string{string(refused), "delete one", "DELETE /services/", "/projects/"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, msg)
		}
	}
}

// Deleting projects (issue 4), through the projects API (`binder-projects projects-service` on the host,
// with a stand-in hub: see projectsapi_test.go): refused while the server runs (409); else the project
// leaves the record and its folder is queued (204); a launch whose init container fails keeps the queue
// entry and the folder; the next successful launch, of any project, removes the folder and clears the
// entry.
func TestADeletedProjectIsRemovedByTheNextSuccessfulLaunchAndStaysQueuedWhileLaunchesFail(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "deleter"
	hostDir := userClaim(ctx, t, user)
	hub := newStandInHub(t)
	api := startProjectsService(ctx, t, hub)
	token := hub.userToken(user)
	a, b := repoA, repoB
	folderA := filepath.Join(hostDir, string(a.ProjectDir))
	deleteA := api + user + "/projects/" + string(a.ProjectDir)
	recordLaunch(ctx, t, user, a)
	if err := os.WriteFile(filepath.Join(folderA, "my-notes.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"while the user's server runs, deleting a project is refused with 409 and changes nothing", func(t *testing.T) {
			launch(ctx, t, dynamicPod(t, user, b))
			// B's launch is recorded once its init container succeeded; wait, so the claim is at rest.
			waitRegistry(ctx, t, user, "projects A and B", 30*time.Second, func(r projects.Registry) bool {
				return sameSet(dirs(r), a.ProjectDir, b.ProjectDir)
			})
			before := getClaim(ctx, t, user)
			reply := callAPI(ctx, t, http.MethodDelete, deleteA, token)
			if reply.Status != http.StatusConflict {
				t.Errorf("DELETE %s while jupyter-%s runs: %s, want 409", deleteA, user, reply)
			} else if msg := apiError(t, reply); !strings.Contains(msg, "stop your server") {
				t.Errorf("the refusal does not say which server to stop: %s", msg)
			}
			if after := getClaim(ctx, t, user); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the refused deletion changed the claim:\n%s", registryAnnotations(after))
			}
			stopServer(ctx, t, "jupyter-"+user)
		}},
		{"another user cannot delete the project (403)", func(t *testing.T) {
			reply := callAPI(ctx, t, http.MethodDelete, deleteA, hub.userToken("mallory"))
			if reply.Status != http.StatusForbidden {
				t.Errorf("DELETE %s as another user: %s, want 403", deleteA, reply)
			}
			apiError(t, reply)
			if r := claimRegistry(ctx, t, user); r.Find(a.ProjectDir) < 0 || len(r.Deletions) != 0 {
				t.Errorf("the refused deletion changed the registry: projects %v, queue %v", dirs(r), r.QueuedDirs())
			}
		}},
		{"with no server running, the deleted project leaves the record and its folder is queued", func(t *testing.T) {
			if reply := callAPI(ctx, t, http.MethodDelete, deleteA, token); reply.Status != http.StatusNoContent {
				t.Fatalf("DELETE %s: %s, want 204", deleteA, reply)
			}
			r := claimRegistry(ctx, t, user)
			if !sameSet(dirs(r), b.ProjectDir) || !sameSet(r.QueuedDirs(), a.ProjectDir) {
				t.Errorf("after deleting %s: projects %v, queue %v; want projects [%s], queue [%s]", a.ProjectDir, dirs(r), r.QueuedDirs(), b.ProjectDir, a.ProjectDir)
			}
			if _, err := os.Stat(folderA); err != nil {
				t.Errorf("the folder went before any launch: %v", err)
			}
			if reply := callAPI(ctx, t, http.MethodGet, api+user+"/projects", token); reply.Status != http.StatusOK ||
				strings.Contains(reply.Body, string(a.ProjectDir)) || !strings.Contains(reply.Body, string(b.ProjectDir)) {
				t.Errorf("GET the projects after the deletion: %s, want 200 with %s only", reply, b.ProjectDir)
			}
			if reply := callAPI(ctx, t, http.MethodDelete, deleteA, token); reply.Status != http.StatusNotFound {
				t.Errorf("DELETE %s a second time: %s, want 404", deleteA, reply)
			}
		}},
		{"a deletion the init container cannot do does not block the launch: the folder and its queue entry stay, and the pod says so", func(t *testing.T) {
			// The volume root stops being writable by the notebook's user (uid 1000, group 100): the
			// init script can neither rename nor remove the deleted project's folder.
			if err := os.Chmod(hostDir, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(hostDir, 0o775|os.ModeSetgid) })
			pod := dynamicPod(t, user, b)
			admitted, _ := launch(ctx, t, pod)
			if got, _ := initEnv(admitted, contract.EnvDelete); got != string(a.ProjectDir) {
				t.Errorf("the init container's %s = %q, want the queued %s", contract.EnvDelete, got, a.ProjectDir)
			}
			ev := waitEvent(ctx, t, pod.Name, controller.ReasonProjectWarning, 30*time.Second)
			if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, string(a.ProjectDir)) {
				t.Errorf("the pod's Event: %s %q, want a Warning naming %s", ev.Type, ev.Message, a.ProjectDir)
			}
			time.Sleep(2 * time.Second) // time for the controller to act, were it to clear the entry
			r := claimRegistry(ctx, t, user)
			if !sameSet(r.QueuedDirs(), a.ProjectDir) {
				t.Errorf("after a deletion that could not be done the queue is %v, want [%s]", r.QueuedDirs(), a.ProjectDir)
			}
			// The folder itself could not go (the user deleted the project, so the script may have
			// removed what it could inside it); it stays queued, so no launch ever takes it for a project.
			if fi, err := os.Stat(folderA); err != nil || !fi.IsDir() {
				t.Errorf("the folder that could not be deleted is not there: %v", err)
			}
			stopServer(ctx, t, pod.Name)
			if err := os.Chmod(hostDir, 0o775|os.ModeSetgid); err != nil {
				t.Fatal(err)
			}
		}},
		{"a launch whose init container fails keeps the queue entry, and the reason reaches the pod's Events", func(t *testing.T) {
			// A file stands where the launched project's folder would go.
			c := projectRepo("deleter", 3)
			inTheWay := filepath.Join(hostDir, string(c.ProjectDir))
			if err := os.WriteFile(inTheWay, []byte("not a folder\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			pod := dynamicPod(t, user, c)
			if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			term := waitInitContainerFailed(ctx, t, pod.Name, 60*time.Second)
			t.Logf("%s exited %d: %s", initContainerName, term.ExitCode, strings.TrimSpace(term.Message))
			ev := waitEvent(ctx, t, pod.Name, controller.ReasonProjectFailed, 30*time.Second)
			if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, string(c.ProjectDir)) || !strings.Contains(ev.Message, "in the way") {
				t.Errorf("the pod's Event: %s %q, want a Warning saying what is in the way", ev.Type, ev.Message)
			}
			time.Sleep(2 * time.Second) // time for the controller to act, were it to act on a failure
			if r := claimRegistry(ctx, t, user); !sameSet(r.QueuedDirs(), a.ProjectDir) || r.Find(c.ProjectDir) >= 0 {
				t.Errorf("after a failed init container: projects %v, queue %v; want the queue [%s] and no %s", dirs(r), r.QueuedDirs(), a.ProjectDir, c.ProjectDir)
			}
			stopServer(ctx, t, pod.Name)
			if err := os.Remove(inTheWay); err != nil {
				t.Fatal(err)
			}
		}},
		{"the next successful launch, of another project, removes the folder and clears the queue entry", func(t *testing.T) {
			admitted, running := launch(ctx, t, dynamicPod(t, user, b))
			if got, _ := initEnv(admitted, contract.EnvDelete); got != string(a.ProjectDir) {
				t.Errorf("the init container's %s = %q, want the queued %s", contract.EnvDelete, got, a.ProjectDir)
			}
			if _, err := os.Stat(folderA); !os.IsNotExist(err) {
				t.Errorf("the deleted project's folder is still on the volume: %v", err)
			}
			if out := inNotebook(ctx, t, running.Name, `ls -A /projects | tr '\n' ' '`); strings.Contains(out, string(a.ProjectDir)) || !strings.Contains(out, string(b.ProjectDir)) {
				t.Errorf("the notebook sees under /projects: %s", out)
			}
			r := waitRegistry(ctx, t, user, "an empty deletion queue", 30*time.Second, func(r projects.Registry) bool { return len(r.Deletions) == 0 })
			if !sameSet(dirs(r), b.ProjectDir) {
				t.Errorf("projects %v, want [%s]", dirs(r), b.ProjectDir)
			}
			stopServer(ctx, t, running.Name)
		}},
		{"launching the deleted project again starts it fresh from the image", func(t *testing.T) {
			launch(ctx, t, dynamicPod(t, user, a))
			assertProjectIsImageHome(t, folderA, a.Image)
			stopServer(ctx, t, "jupyter-"+user)
			waitRegistry(ctx, t, user, "projects A and B again", 30*time.Second, func(r projects.Registry) bool {
				return sameSet(dirs(r), a.ProjectDir, b.ProjectDir) && len(r.Deletions) == 0
			})
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.Fatalf("stopping: the later steps build on %q", s.name)
		}
	}
}

func TestADryRunAtAndBelowTheProjectLimitChangesNothing(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "dryrunner"
	hostDir := userClaim(ctx, t, user)
	var err error // the dry runs', in the subtests
	waitClaimBound(ctx, t, "claim-"+user)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	now := time.Now().UTC().Truncate(time.Second)
	queued := projectRepo("dry", 9).ProjectDir
	reg := projects.Registry{Deletions: []projects.Queued{{Dir: queued, QueuedAt: now}}}
	for i := 1; i < maxProjects; i++ {
		r := projectRepo("dry", i)
		reg.Projects = append(reg.Projects, projects.Project{Dir: r.ProjectDir, RepoURL: r.URL, Image: r.Image.Name, LastUsed: now})
	}
	// assertNothingChanged: after a dry run (and time for anything asynchronous to show), no pod, the
	// claim as before, the volume as before.
	assertNothingChanged := func(t *testing.T, before *corev1.PersistentVolumeClaim, volume []string) {
		t.Helper()
		time.Sleep(3 * time.Second)
		if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, "jupyter-"+user, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the dry-run pod exists: %v", err)
		}
		after := getClaim(ctx, t, user)
		if after.ResourceVersion != before.ResourceVersion || registryAnnotations(after) != registryAnnotations(before) {
			t.Errorf("the claim changed (resourceVersion %s → %s):\nbefore\n%s\nafter\n%s", before.ResourceVersion, after.ResourceVersion, registryAnnotations(before), registryAnnotations(after))
		}
		if got := listDir(t, hostDir); !sameSet(got, volume...) {
			t.Errorf("the volume changed: %v, was %v", got, volume)
		}
	}
	t.Run("below the limit, a new project's dry run is allowed, carries the queue, and changes nothing", func(t *testing.T) {
		before := seedRegistry(ctx, t, user, hostDir, reg)
		volume := listDir(t, hostDir)
		next := projectRepo("dry", maxProjects)
		var got *corev1.Pod
		// The webhook reads the registry from its cache: wait until the dry run shows the queue.
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err = testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, dynamicPod(t, user, next), dry)
			if err != nil {
				t.Fatalf("a dry run below the limit (%d projects) was refused: %v", len(reg.Projects), err)
			}
			if q, _ := initEnv(got, contract.EnvDelete); q == string(queued) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		assertMutated(t, got, string(next.ProjectDir))
		if q, _ := initEnv(got, contract.EnvDelete); q != string(queued) {
			t.Errorf("the dry-run pod's %s = %q, want the queued %s", contract.EnvDelete, q, queued)
		}
		assertNothingChanged(t, before, volume)
	})
	t.Run("at the limit, a new project's dry run is refused and a known one's allowed, and neither changes anything", func(t *testing.T) {
		fifth := projectRepo("dry", maxProjects)
		full := reg
		full.Projects = append(append([]projects.Project(nil), reg.Projects...), projects.Project{Dir: fifth.ProjectDir, RepoURL: fifth.URL, Image: fifth.Image.Name, LastUsed: now})
		before := seedRegistry(ctx, t, user, hostDir, full)
		volume := listDir(t, hostDir)
		sixth := projectRepo("dry", maxProjects+1)
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err = testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, dynamicPod(t, user, sixth), dry)
			if err != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err == nil {
			t.Fatalf("a dry run of a sixth project was allowed for a user with %d", maxProjects)
		}
		if !apierrors.IsForbidden(err) {
			t.Errorf("the refusal is not 403 Forbidden: %v", err)
		}
		assertLimitMessage(t, err.Error(), dirs(full), sixth.ProjectDir)
		got, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, dynamicPod(t, user, fifth), dry)
		if err != nil {
			t.Fatalf("a dry run relaunching a known project at the limit was refused: %v", err)
		}
		assertMutated(t, got, string(fifth.ProjectDir))
		assertNothingChanged(t, before, volume)
	})
}

// Two registry updates at the same moment, on the real API server: the store updates the claim with
// optimistic concurrency, so the loser of the race gets 409 Conflict, reads the claim again and retries.
// A barrier makes the race certain: both deletions read the claim (the same resourceVersion) before
// either writes.
func TestTwoConcurrentRegistryUpdatesBothLand(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "concurrent"
	hostDir := userClaim(ctx, t, user)
	waitClaimBound(ctx, t, "claim-"+user)
	now := time.Now().UTC().Truncate(time.Second)
	var reg projects.Registry
	var all []contract.ProjectDir
	for i := 1; i <= 4; i++ {
		r := projectRepo("race", i)
		reg.Projects = append(reg.Projects, projects.Project{Dir: r.ProjectDir, RepoURL: r.URL, Image: r.Image.Name, LastUsed: now})
		all = append(all, r.ProjectDir)
	}
	seedRegistry(ctx, t, user, hostDir, reg)

	// Every claim read of the first attempt waits until both deletions have read; conflicts are counted.
	var (
		mu        sync.Mutex
		reads     int
		conflicts int
		bothRead  = make(chan struct{})
	)
	c := interceptor.NewClient(kubeClient(t), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			err := c.Get(ctx, key, obj, opts...)
			// The registry is read as the claim's metadata (projects.ChangeRegistry); a typed read
			// counts too.
			if isClaim(obj) {
				mu.Lock()
				reads++
				if reads == 2 {
					close(bothRead)
				}
				first := reads <= 2
				mu.Unlock()
				if first {
					select {
					case <-bothRead:
					case <-time.After(20 * time.Second):
					}
				}
			}
			return err
		},
		// The registry is written as a merge patch carrying the claim's resourceVersion: a conflicting
		// write is refused by the API server.
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			err := c.Patch(ctx, obj, patch, opts...)
			if isClaim(obj) && apierrors.IsConflict(err) {
				mu.Lock()
				conflicts++
				mu.Unlock()
			}
			return err
		},
	})
	store := &projects.KubeStore{Client: c, Namespace: hubNamespace}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, dir := range all[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = store.Delete(ctx, user, contract.ProjectDir(dir))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("deleting %s: %v", all[i], err)
		}
	}
	r := claimRegistry(ctx, t, user)
	if !sameSet(dirs(r), all[2:]...) || !sameSet(r.QueuedDirs(), all[:2]...) {
		t.Errorf("after two concurrent deletions: projects %v (want %v), queue %v (want %v)", dirs(r), all[2:], r.QueuedDirs(), all[:2])
	}
	mu.Lock()
	defer mu.Unlock()
	if conflicts == 0 {
		t.Errorf("no write conflicted (%d claim reads): the two updates did not race", reads)
	}
	t.Logf("%d claim reads, %d conflicts retried", reads, conflicts)
}

// isClaim says whether obj is a claim, typed or as its metadata.
func isClaim(obj client.Object) bool {
	switch o := obj.(type) {
	case *corev1.PersistentVolumeClaim:
		return true
	case *metav1.PartialObjectMetadata:
		return o.Kind == "PersistentVolumeClaim"
	}
	return false
}
