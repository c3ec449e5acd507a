package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/projects"
)

// Issue 16 §2, on the real cluster with the webhook's default of 7 trash days: a deleted project's
// folder goes into the volume's trash at the next start, with the user's files; a restore asked for is
// done by the next start of any project; the project's next launch finds the files again. Issue 16 §1:
// the sizes the init command reports and the registry keeps are those du gives of the folders.
func TestADeletedProjectGoesToTheTrashAndARestoreBringsItsFilesBack(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "trasher"
	hostDir, err := testCluster.UserStorage(ctx, hubNamespace, "claim-"+user)
	if err != nil {
		t.Fatal(err)
	}
	createClaim(ctx, t, user)
	a, b := repoA, repoB
	recordLaunch(ctx, t, user, a)
	notes := filepath.Join(hostDir, string(a.ProjectDir), "my-notes.txt")
	if err := os.WriteFile(notes, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Delete A (no server runs), then launch B: its init container moves A into the trash.
	var deletion projects.Queued
	changeRegistry(ctx, t, user, "deleting "+string(a.ProjectDir), func(r *projects.Registry) error {
		var err error
		deletion, _, err = r.Delete(a.ProjectDir, time.Now().UTC())
		return err
	})
	pod := dynamicPod(t, user, b)
	waitHanded(ctx, t, pod, contract.EnvDelete, string(a.ProjectDir))
	launch(ctx, t, pod)
	r := waitRegistry(ctx, t, user, "A in the trash", 30*time.Second, func(r projects.Registry) bool {
		i := r.FindTrashed(deletion)
		return i >= 0 && r.Trash[i].InTrash && len(r.Deletions) == 0
	})
	inTrash := filepath.Join(hostDir, contract.TrashFolder, strconv.FormatInt(contract.TrashID(deletion), 10), string(a.ProjectDir))
	if b, err := os.ReadFile(filepath.Join(inTrash, "my-notes.txt")); err != nil || string(b) != "mine\n" {
		t.Fatalf("the user's file in the trash: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, string(a.ProjectDir))); !os.IsNotExist(err) {
		t.Errorf("the deleted project's folder is still at the volume's root: %v", err)
	}
	if r.Find(a.ProjectDir) >= 0 {
		t.Errorf("the deleted project is still among the projects: %v", dirs(r))
	}

	// The sizes the registry keeps are du's.
	if r.Usage == nil || r.Usage.Size <= 0 || r.Usage.Free <= 0 || r.Usage.Free > r.Usage.Size {
		t.Errorf("the registry's usage: %+v", r.Usage)
	}
	if i := r.Find(b.ProjectDir); i < 0 || r.Projects[i].Size == nil || r.Projects[i].Size.Bytes != du(t, filepath.Join(hostDir, string(b.ProjectDir))) {
		t.Errorf("the launched project's recorded size differs from du -s -B1 (%d): %+v", du(t, filepath.Join(hostDir, string(b.ProjectDir))), r.Projects)
	}
	if i := r.FindTrashed(deletion); r.Trash[i].Size == nil || r.Trash[i].Size.Bytes != du(t, inTrash) {
		t.Errorf("the trashed project's recorded size differs from du -s -B1 (%d): %+v", du(t, inTrash), r.Trash[i])
	}
	stopServer(ctx, t, pod.Name)

	// Restore A: the next start, of B, puts it back; A's next launch finds the user's file.
	changeRegistry(ctx, t, user, "restoring "+string(a.ProjectDir), func(r *projects.Registry) error {
		_, err := r.RequestRestore(deletion)
		return err
	})
	pod = dynamicPod(t, user, b)
	waitHanded(ctx, t, pod, contract.EnvRestore, contract.TrashEntryName(contract.TrashID(deletion), a.ProjectDir))
	launch(ctx, t, pod)
	waitRegistry(ctx, t, user, "A restored", 30*time.Second, func(r projects.Registry) bool {
		return r.Find(a.ProjectDir) >= 0 && r.FindTrashed(deletion) < 0 && len(r.Restores) == 0
	})
	ev := waitEvent(ctx, t, pod.Name, controller.ReasonProjectRestored, 30*time.Second)
	if ev.Type != corev1.EventTypeNormal || !strings.Contains(ev.Message, string(a.ProjectDir)) {
		t.Errorf("the pod's Event: %s %q, want a Normal ProjectRestored naming %s", ev.Type, ev.Message, a.ProjectDir)
	}
	stopServer(ctx, t, pod.Name)
	_, running := launch(ctx, t, dynamicPod(t, user, a))
	if out := inNotebook(ctx, t, running.Name, `cat /home/jovyan/my-notes.txt`); !strings.Contains(out, "mine") {
		t.Errorf("the restored project's home has not the user's file:\n%s", out)
	}
	stopServer(ctx, t, running.Name)
}

// waitHanded waits until the webhook hands what the registry queued to pod's init container (env
// name holds want): the webhook reads the registry from its cache, which follows the API server by a
// moment. It asks with server-side dry runs, which change nothing.
func waitHanded(ctx context.Context, t *testing.T, pod *corev1.Pod, name, want string) {
	t.Helper()
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := testCluster.Client().CoreV1().Pods(pod.Namespace).Create(ctx, pod.DeepCopy(), dry)
		if err != nil {
			t.Fatalf("a dry run of %s: %v", pod.Name, err)
		}
		if v, _ := initEnv(got, name); strings.Contains(v, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the webhook still does not hand %s %q to %s's init container", name, want, pod.Name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// du is `du -s -B1` of dir: the bytes of disk its files use.
func du(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-s", "-B1", dir).Output()
	if err != nil {
		t.Fatalf("du %s: %v", dir, err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
