package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/e2e/cluster"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Scenarios 1 to 4 and 5: one user, bitnik, working on projects over several launches, in order.
func TestAUserWorkingOnProjectsAcrossLaunches(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "bitnik"
	hostDir := userClaim(ctx, t, user)
	projectA := filepath.Join(hostDir, string(repoA.ProjectDir))
	var projectAInode uint64
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"1 the first launch of project A copies the repository, which the notebook sees at its home and under /projects, and can write to", func(t *testing.T) {
			admitted, running := launch(ctx, t, dynamicPod(t, user, repoA))
			if got := admitted.Annotations[contract.AnnotationProjectDir]; got != string(repoA.ProjectDir) {
				t.Errorf("project-dir annotation = %q, want %q", got, repoA.ProjectDir)
			}
			assertProjectIsImageHome(t, projectA, repoA.Image)
			out := inNotebook(ctx, t, running.Name, `cd /home/jovyan && cat README.md .postbuild-ran && readlink latest.csv && ls -A /projects/`+string(repoA.ProjectDir)+` | sort | tr '\n' ' ' && id -u`)
			for _, want := range []string{"Repository A, commit 1", "postBuild ran (repository A, commit 1)", "analysis/data/measurements.csv", ".postbuild-ran README.md", "1000"} {
				if !strings.Contains(out, want) {
					t.Errorf("the notebook does not see %q in its home and /projects:\n%s", want, out)
				}
			}
			// The user works: a new file, a changed file, a deleted file.
			inNotebook(ctx, t, running.Name, `cd /home/jovyan && echo "my notes" > my-notes.txt && echo "edited by the user" >> README.md && rm requirements.txt`)
			if data, err := os.ReadFile(filepath.Join(projectA, "my-notes.txt")); err != nil || string(data) != "my notes\n" {
				t.Errorf("the file the notebook wrote is not in the project on the volume: %q, %v", data, err)
			}
			projectAInode = inode(t, projectA)
		}},
		{"5 the hub's own init container block-cloud-metadata still runs, and runs first", func(t *testing.T) {
			pod, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, "jupyter-"+user, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			assertHubInitContainerRanFirst(t, pod)
		}},
		{"2 after the pod is deleted, as culling does, a new launch finds the written file and copies nothing", func(t *testing.T) {
			deletePod(ctx, t, hubNamespace, "jupyter-"+user)
			_, running := launch(ctx, t, dynamicPod(t, user, repoA))
			out := inNotebook(ctx, t, running.Name, `cd /home/jovyan && cat my-notes.txt README.md; ls requirements.txt 2>&1 || true`)
			for _, want := range []string{"my notes", "edited by the user", "No such file"} {
				if !strings.Contains(out, want) {
					t.Errorf("the user's work did not survive the relaunch, missing %q:\n%s", want, out)
				}
			}
			if got := inode(t, projectA); got != projectAInode {
				t.Errorf("the project folder was replaced (inode %d, was %d): copied again", got, projectAInode)
			}
		}},
		{"3 launching project B puts B's files at home and keeps A's, with the written file, under /projects", func(t *testing.T) {
			deletePod(ctx, t, hubNamespace, "jupyter-"+user)
			admitted, running := launch(ctx, t, dynamicPod(t, user, repoB))
			if got := admitted.Annotations[contract.AnnotationProjectDir]; got != string(repoB.ProjectDir) {
				t.Errorf("project-dir annotation = %q, want %q", got, repoB.ProjectDir)
			}
			assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoB.ProjectDir)), repoB.Image)
			out := inNotebook(ctx, t, running.Name, `cat /home/jovyan/README.md /projects/`+string(repoA.ProjectDir)+`/my-notes.txt; ls /projects | tr '\n' ' '`)
			for _, want := range []string{"Repository B", "my notes", string(repoA.ProjectDir), string(repoB.ProjectDir)} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "Repository A") {
				t.Errorf("project A's files are at home while B is launched:\n%s", out)
			}
		}},
		{"4 launching A again with a new commit's image keeps the user's files", func(t *testing.T) {
			deletePod(ctx, t, hubNamespace, "jupyter-"+user)
			_, running := launch(ctx, t, dynamicPod(t, user, repoANewCommit))
			if got := running.Spec.Containers[0].Image; got != repoANewCommit.Image.Name {
				t.Errorf("notebook image = %q, want the new commit's %q", got, repoANewCommit.Image.Name)
			}
			out := inNotebook(ctx, t, running.Name, `cd /home/jovyan && cat my-notes.txt README.md; ls CHANGELOG.md 2>&1 || true`)
			for _, want := range []string{"my notes", "Repository A, commit 1", "edited by the user", "No such file"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q (the user's files must stay as they are):\n%s", want, out)
				}
			}
			if got := inode(t, projectA); got != projectAInode {
				t.Errorf("the project folder was replaced by the new commit (inode %d, was %d)", got, projectAInode)
			}
			deletePod(ctx, t, hubNamespace, "jupyter-"+user)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.Fatalf("stopping: the later steps build on %q", s.name)
		}
	}
}

func TestAnInitContainerKilledHalfwayThroughALargeCopyNeverLeavesAHalfProject(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "killed"
	hostDir := userClaim(ctx, t, user)
	pod := dynamicPod(t, user, repoLarge)
	project := filepath.Join(hostDir, string(repoLarge.ProjectDir))
	created, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the copy is under way (a temporary folder with files in it), then kill the whole init
	// container as the OOM killer would: every process of it, at once.
	tmp := ""
	for tmp == "" {
		if ctx.Err() != nil {
			t.Fatalf("the copy never started:\n%s", describePod(context.Background(), hubNamespace, pod.Name))
		}
		if _, err := os.Stat(project); err == nil {
			t.Fatal("the copy finished before it could be killed: the large image is too small for this machine")
		}
		matches, _ := filepath.Glob(filepath.Join(hostDir, ".binder-projects-tmp*", "*", "big", "part-00*"))
		if len(matches) > 0 {
			tmp = filepath.Dir(filepath.Dir(filepath.Dir(matches[0])))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := killPodProcesses(t, string(created.UID))
	if _, err := os.Stat(project); err == nil {
		t.Fatal("the copy finished before it could be killed: the large image is too small for this machine")
	}
	n := countFiles(tmp)
	if n == 0 || n >= cluster.LargeHomeFiles {
		t.Errorf("the kill was not halfway: %d files in the temporary folder", n)
	}
	t.Logf("killed %d processes of the init container mid-copy; %d files lay in %s, none in the project folder", killed, n, filepath.Base(tmp))
	// kubelet restarts the killed init container (restartPolicy OnFailure). Whenever the project folder
	// exists from now on, it must be complete.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(project); err == nil {
			t.Log("the restarted init container made the project")
			assertProjectIsImageHome(t, project, repoLarge.Image)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The next launch gives the complete project, and no leftovers of the killed copy.
	deletePod(ctx, t, hubNamespace, pod.Name)
	launch(ctx, t, pod)
	assertProjectIsImageHome(t, project, repoLarge.Image)
	if left := reservedLeftoversOn(t, hostDir); len(left) > 0 {
		t.Errorf("temporary folders of the killed copy are still there: %v", left)
	}
	deletePod(ctx, t, hubNamespace, pod.Name)
}

func TestAMigratedUsersFilesAtTheVolumeRootAreUntouchedAndVisibleUnderProjects(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "migrated"
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	// The user's old home from plain JupyterHub is the volume root.
	old := map[string]string{"old-notebook.ipynb": "{\"cells\": []}\n", ".bashrc": "export OLD=1\n", "thesis/chapter1.md": "# Chapter 1\n"}
	mtime := time.Date(2023, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, content := range old {
		p := filepath.Join(hostDir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 1000, 100)
		os.Chown(filepath.Dir(p), 1000, 100)
		os.Chtimes(p, mtime, mtime)
	}
	createClaim(ctx, t, user)
	_, running := launch(ctx, t, dynamicPod(t, user, repoA))
	for name, content := range old {
		p := filepath.Join(hostDir, name)
		data, err := os.ReadFile(p)
		if err != nil || string(data) != content {
			t.Errorf("%s changed: %q, %v", name, data, err)
		}
		if fi, err := os.Stat(p); err == nil && !fi.ModTime().Equal(mtime) {
			t.Errorf("%s was touched: mtime %s", name, fi.ModTime())
		}
	}
	out := inNotebook(ctx, t, running.Name, `cat /projects/old-notebook.ipynb /projects/thesis/chapter1.md /projects/.bashrc; ls -A /home/jovyan | tr '\n' ' '`)
	for _, want := range []string{"cells", "Chapter 1", "OLD=1", "README.md"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "old-notebook") && strings.Contains(out[strings.LastIndex(out, "\n")+1:], "old-notebook") {
		t.Errorf("the old home's files are at /home/jovyan instead of the project:\n%s", out)
	}
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoA.ProjectDir)), repoA.Image)
	deletePod(ctx, t, hubNamespace, running.Name)
}

func TestAPodWithoutStorageGetsTheClaimsVolumeAndWorks(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	const user = "dora"
	// The volume the cluster would provision for claim-dora; the claim itself is the controller's job.
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	pod := storageNonePod(t, user, repoA)
	if len(pod.Spec.Volumes) != 0 {
		t.Fatalf("the storage-none fixture has volumes: %v", pod.Spec.Volumes)
	}
	admitted, running := launch(ctx, t, pod)
	if !podUsesClaim(admitted, "claim-"+user) {
		t.Errorf("the admitted pod has no volume for claim-%s: %+v", user, admitted.Spec.Volumes)
	}
	pvc, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Get(ctx, "claim-"+user, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the claim was not created: %v", err)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim-%s is %s", user, pvc.Status.Phase)
	}
	assertProjectIsImageHome(t, filepath.Join(hostDir, string(repoA.ProjectDir)), repoA.Image)
	out := inNotebook(ctx, t, running.Name, `cat /home/jovyan/README.md && echo kept > /home/jovyan/kept.txt`)
	if !strings.Contains(out, "Repository A") {
		t.Errorf("home does not hold the project:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(hostDir, string(repoA.ProjectDir), "kept.txt")); err != nil {
		t.Errorf("the notebook's file is not on the volume: %v", err)
	}
	deletePod(ctx, t, hubNamespace, running.Name)
}

func TestWithTheWebhookStoppedOrdinaryPodsAreCreatedAndSingleuserPodsAreRefused(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	if err := testCluster.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testCluster.StartWebhook(context.Background()); err != nil {
			t.Errorf("restarting the webhook: %v", err)
		}
	})
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	ordinary := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ordinary", Namespace: hubNamespace, Labels: map[string]string{"component": "hub"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: cluster.RepoA.Name, ImagePullPolicy: corev1.PullNever}}},
	}
	if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, ordinary, dry); err != nil {
		t.Errorf("an ordinary pod in the hub namespace was refused: %v", err)
	}
	elsewhere := dynamicPod(t, "elsewhere", repoA)
	elsewhere.Namespace = "default"
	if _, err := testCluster.Client().CoreV1().Pods("default").Create(ctx, elsewhere, dry); err != nil {
		t.Errorf("a singleuser-labelled pod outside the hub namespace was refused: %v", err)
	}
	singleuser := dynamicPod(t, "refused", repoA)
	_, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, singleuser, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a singleuser pod was created without the webhook")
	}
	if msg := err.Error(); !strings.Contains(msg, `failed calling webhook "pods.binder-projects.io"`) {
		t.Errorf("the refusal does not say the webhook is unavailable: %v", err)
	} else {
		t.Logf("refused: %v", err)
	}
	if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, singleuser.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused pod exists: %v", err)
	}
}

func TestAServerSideDryRunReturnsTheMutatedPodAndChangesNothing(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	t.Run("with the user's claim", func(t *testing.T) {
		const user = "dryrun"
		hostDir := userClaim(ctx, t, user)
		waitClaimBound(ctx, t, "claim-"+user)
		claimBefore, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Get(ctx, "claim-"+user, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, dynamicPod(t, user, repoA), dry)
		if err != nil {
			t.Fatal(err)
		}
		assertMutated(t, got, string(repoA.ProjectDir))
		time.Sleep(3 * time.Second) // time for anything asynchronous to show
		if _, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, got.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the dry-run pod exists: %v", err)
		}
		claimAfter, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Get(ctx, "claim-"+user, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if claimAfter.ResourceVersion != claimBefore.ResourceVersion {
			t.Errorf("the claim changed: annotations before %v, after %v", claimBefore.Annotations, claimAfter.Annotations)
		}
		if entries, _ := os.ReadDir(hostDir); len(entries) != 0 {
			t.Errorf("the volume changed: %v", entries)
		}
	})
	t.Run("without storage, no claim is created", func(t *testing.T) {
		const user = "dryrun-none"
		got, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, storageNonePod(t, user, repoA), dry)
		if err != nil {
			t.Fatal(err)
		}
		assertMutated(t, got, string(repoA.ProjectDir))
		if !podUsesClaim(got, "claim-"+user) {
			t.Errorf("the dry-run pod has no volume for claim-%s", user)
		}
		time.Sleep(3 * time.Second)
		if _, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Get(ctx, "claim-"+user, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a dry run created claim-%s: %v", user, err)
		}
	})
}

// --- assertions ---

func assertMutated(t *testing.T, pod *corev1.Pod, projectDir string) {
	t.Helper()
	if got := pod.Annotations[contract.AnnotationProjectDir]; got != projectDir {
		t.Errorf("project-dir annotation = %q, want %q", got, projectDir)
	}
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	// (with --helper-image in init-container mode, the helper's init container comes right before ours)
	if want, withHelper := blockCloudMetadata+" "+initContainerName, blockCloudMetadata+" "+initContainerName+"-helper "+initContainerName; strings.Join(names, " ") != want && strings.Join(names, " ") != withHelper {
		t.Errorf("init containers = %v, want %s", names, want)
	}
	var mounts []string
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounts = append(mounts, m.MountPath+"("+m.SubPath+")")
	}
	got := strings.Join(mounts, " ")
	for _, want := range []string{homeDir + "(" + projectDir + ")", "/projects()"} {
		if !strings.Contains(got, want) {
			t.Errorf("notebook mounts %s, want %s among them", got, want)
		}
	}
}

func podUsesClaim(pod *corev1.Pod, claim string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

// assertHubInitContainerRanFirst: block-cloud-metadata (the stand-in) is the first init container, it
// ran and succeeded, and it finished before ours started.
func assertHubInitContainerRanFirst(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	st := pod.Status.InitContainerStatuses
	if len(st) != 2 || st[0].Name != blockCloudMetadata || st[1].Name != initContainerName {
		t.Fatalf("init container statuses %v, want %s then %s", statusNames(st), blockCloudMetadata, initContainerName)
	}
	hub, ours := st[0].State.Terminated, st[1].State.Terminated
	if hub == nil || hub.ExitCode != 0 || !strings.Contains(hub.Message, cluster.BlockCloudMetadataMessage) {
		t.Fatalf("%s did not run to success: %+v", blockCloudMetadata, st[0].State)
	}
	if ours == nil || ours.ExitCode != 0 {
		t.Fatalf("%s did not run to success: %+v", initContainerName, st[1].State)
	}
	if ours.StartedAt.Before(&hub.FinishedAt) {
		t.Errorf("%s started at %s, before %s finished at %s", initContainerName, ours.StartedAt, blockCloudMetadata, hub.FinishedAt)
	}
}

func statusNames(st []corev1.ContainerStatus) []string {
	var out []string
	for _, s := range st {
		out = append(out, s.Name)
	}
	return out
}

// assertProjectIsImageHome: the project folder on the volume holds exactly the image's home, with its
// contents, symlinks and owner.
func assertProjectIsImageHome(t *testing.T, dir string, img cluster.Image) {
	t.Helper()
	want := img.HomeFiles()
	got := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 1000) {
			t.Errorf("%s is owned by uid %d, want 1000", rel, st.Uid)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "-> " + target
		case fi.Mode().IsRegular():
			if _, isBig := want[rel]; isBig && strings.HasPrefix(want[rel], "<") {
				got[rel] = fmt.Sprintf("<%d bytes>", fi.Size())
			} else {
				data, _ := os.ReadFile(p)
				got[rel] = string(data)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("project folder %s: %v", dir, err)
	}
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("  %s: want %.60q, got %.60q", k, v, got[k]))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("  %s: not in the image", k))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("  ... and %d more", len(diffs)-20))
		}
		t.Errorf("project folder %s is not the image's home (-want +got):\n%s", filepath.Base(dir), strings.Join(diffs, "\n"))
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// killPodProcesses SIGKILLs every process of the pod except its sandbox (pause), found by the pod's
// cgroup on the host: what the OOM killer or a node failure does to a running container.
func killPodProcesses(t *testing.T, podUID string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	marker := "pod" + podUID
	killed := 0
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cg, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err != nil || !strings.Contains(string(cg), marker) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.TrimSpace(string(comm)) == "pause" {
			continue
		}
		var pid int
		fmt.Sscan(e.Name(), &pid)
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no process of the pod found to kill")
	}
	return killed
}

func waitClaimBound(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	for {
		pvc, err := testCluster.Client().CoreV1().PersistentVolumeClaims(hubNamespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && pvc.Status.Phase == corev1.ClaimBound {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("claim %s not bound", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
