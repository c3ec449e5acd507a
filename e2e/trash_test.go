package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/e2e/cluster"
	"github.com/binder-projects/binder-projects/projects"
)

// Issue 16 §2, on the real cluster with the webhook's default of 7 trash days: a deleted project's
// folder goes into the volume's trash at the next start, with the user's files; a restore asked for is
// done by the next start of any project; the project's next launch finds the files again. Issue 16 §1:
// the sizes the init command reports and the registry keeps are those du gives of the folders.
func TestADeletedProjectGoesToTheTrashAndARestoreBringsItsFilesBack(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "trasher"
	hostDir := userClaim(ctx, t, user)
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

// Issue 16 §2 on a full volume: a new project's seed that does not fit deletes the trash's entries
// for good, oldest first, only as many as it takes, and the project is seeded. A real 128 MiB ext4
// holds a small project C, and project A filled by the user's results until the volume has less free
// than the home of repository "large-home" (B) takes. A and then D (small) are deleted; B's start
// moves both into the trash (renames: no new space), its seed fails for want of space, A's entry (the
// oldest, the user's results) is deleted for good, and the seed is tried again and fits. The user is
// told in a Warning Event on the pod; the report and the registry no longer list A; D stays in the
// trash, whole; C is untouched.
func TestAFullVolumeDeletesTheOldestOfItsTrashForGoodToSeedANewProject(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "crammed"
	const sizeMiB = 128
	hostDir := smallUserClaim(ctx, t, user, sizeMiB)
	a, b, c, d := repoA, repoLarge, projectRepo("crammed", 1), projectRepo("crammed", 2)
	recordLaunch(ctx, t, user, c)
	recordLaunch(ctx, t, user, a)
	recordLaunch(ctx, t, user, d)
	cBefore := treeOf(t, filepath.Join(hostDir, string(c.ProjectDir)))

	// The user's results in A: the volume keeps a third of what B's home holds free.
	need := homeBytes(b.Image)
	results := filepath.Join(hostDir, string(a.ProjectDir), "results.bin")
	allocate(t, results, freeBytes(t, hostDir)-need/3)
	free := freeBytes(t, hostDir)
	if free >= need {
		t.Fatalf("%d bytes free after filling the volume: B's home (%d bytes) would fit", free, need)
	}
	var delA, delD projects.Queued
	for _, del := range []struct {
		dir contract.ProjectDir
		q   *projects.Queued
	}{{a.ProjectDir, &delA}, {d.ProjectDir, &delD}} {
		changeRegistry(ctx, t, user, "deleting "+string(del.dir), func(r *projects.Registry) error {
			var err error
			*del.q, _, err = r.Delete(del.dir, time.Now().UTC())
			return err
		})
	}
	if !delA.QueuedAt.Before(delD.QueuedAt) {
		t.Fatalf("A's deletion (%s) is not older than D's (%s)", delA.QueuedAt, delD.QueuedAt)
	}

	pod := dynamicPod(t, user, b)
	waitHanded(ctx, t, pod, contract.EnvDelete, string(a.ProjectDir))
	waitHanded(ctx, t, pod, contract.EnvDelete, string(d.ProjectDir))
	launch(ctx, t, pod)
	project := filepath.Join(hostDir, string(b.ProjectDir))
	assertProjectIsImageHome(t, project, b.Image)
	if took := du(t, project); took <= free {
		t.Errorf("B takes %d bytes, and %d were free before its start: its seed did not need the trash's room", took, free)
	}

	// The report: B seeded, both deletions done, the trash holding D alone, and why A is gone.
	trash := filepath.Join(hostDir, contract.TrashFolder)
	entryA := filepath.Join(trash, strconv.FormatInt(contract.TrashID(delA), 10), string(a.ProjectDir))
	entryD := filepath.Join(trash, strconv.FormatInt(contract.TrashID(delD), 10), string(d.ProjectDir))
	rep := initReport(ctx, t, pod.Name)
	if rep.Project != contract.ProjectSeeded || len(rep.Deleted) != 2 || len(rep.Kept) != 0 {
		t.Errorf("the report: project %q, deleted %v, kept %v; want seeded, both deletions done", rep.Project, rep.Deleted, rep.Kept)
	}
	if len(rep.Trash) != 1 || rep.Trash[0].ID != contract.TrashID(delD) || rep.Trash[0].Dir != d.ProjectDir || !rep.TrashComplete {
		t.Errorf("the report's trash: %s (complete: %t), want only %s", jsonString(rep.Trash), rep.TrashComplete, contract.TrashEntryName(contract.TrashID(delD), d.ProjectDir))
	}
	madeRoom := func(msg string) bool {
		return strings.Contains(msg, "project "+string(a.ProjectDir)+", in the trash since") &&
			strings.Contains(msg, "was deleted for good to make room for project "+string(b.ProjectDir))
	}
	if !slices.ContainsFunc(rep.Warnings, madeRoom) {
		t.Errorf("no warning of the report says A was deleted for good to make room for B:\n  %s", strings.Join(rep.Warnings, "\n  "))
	}
	if _, err := os.Stat(entryA); !os.IsNotExist(err) {
		t.Errorf("A's trash entry is still there: %v", err)
	}
	assertProjectIsImageHome(t, entryD, d.Image)
	if diff := cmp.Diff(cBefore, treeOf(t, filepath.Join(hostDir, string(c.ProjectDir)))); diff != "" {
		t.Errorf("project C changed (-before +after):\n%s", diff)
	}

	// The registry: A's record gone with its entry, D's in the trash, B and C the projects.
	r := waitRegistry(ctx, t, user, "B recorded, A gone and D in the trash", 30*time.Second, func(r projects.Registry) bool {
		i := r.FindTrashed(delD)
		return r.Find(b.ProjectDir) >= 0 && len(r.Deletions) == 0 && r.FindTrashed(delA) < 0 && i >= 0 && r.Trash[i].InTrash
	})
	if !sameSet(dirs(r), b.ProjectDir, c.ProjectDir) || len(r.Trash) != 1 {
		t.Errorf("the registry's projects %v and trash %s, want B and C, and D alone", dirs(r), jsonString(r.Trash))
	}

	// The pod's Events tell the user.
	waitEvent(ctx, t, pod.Name, controller.ReasonProjectWarning, 30*time.Second)
	var warnings []string
	told := false
	for _, e := range eventsOf(ctx, t, pod.Name) {
		if e.Reason == controller.ReasonProjectWarning {
			warnings = append(warnings, e.Type+": "+e.Message)
			told = told || e.Type == corev1.EventTypeWarning && madeRoom(e.Message)
		}
	}
	if !told {
		t.Errorf("no Warning Event on %s says A was deleted for good to make room for B; its %s Events:\n  %s", pod.Name, controller.ReasonProjectWarning, strings.Join(warnings, "\n  "))
	}
	stopServer(ctx, t, pod.Name)
}

// homeBytes is what the files of img's home folder hold (a copy of them takes at least as much).
func homeBytes(img cluster.Image) int64 {
	var n int64
	for _, f := range img.Files {
		if strings.HasPrefix(f.Path, homeDir+"/") {
			n += f.Size + int64(len(f.Content))
		}
	}
	return n
}

// allocate makes the file p of the notebook's user (1000:100) taking size bytes of disk (fallocate),
// as a user's large results would.
func allocate(t *testing.T, p string, size int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("allocating %d bytes for %s: %v", size, p, err)
	}
	if err := f.Chown(1000, 100); err != nil {
		t.Fatal(err)
	}
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
