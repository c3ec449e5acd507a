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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/controller"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// Issue 11 on the real cluster: the webhook with the helper (our image, imported into containerd as
// the operator's image would be pulled). Commit 1 of repository A is seeded and its manifest recorded;
// the user edits a file, adds one, deletes one; commit 2 is launched with an update asked for (the
// pod annotation other launchers set): exactly the three-way result, the new version of the edited
// file beside it; the report, the registry's lastUpdate and the ProjectUpdated Event say so; a relaunch
// without an update changes nothing.
//
// Both ways of handing the helper to the init container: our image mounted as an image volume (the
// default), and an extra init container copying the binary into an emptyDir.
func TestAProjectUpdatedToANewerCommitKeepsTheUsersEditsAndTakesTheRest(t *testing.T) {
	for _, mode := range []string{"image-volume", "init-container"} {
		t.Run(mode, func(t *testing.T) { updateScenario(t, mode, "updater-"+strings.Split(mode, "-")[0]) })
	}
}

func updateScenario(t *testing.T, mode, user string) {
	ctx := testContext(t, 10*time.Minute)
	importOurImage(ctx, t)
	webhookWith(ctx, t, "--helper-mode="+mode)

	hostDir := userClaim(ctx, t, user)
	waitClaimBound(ctx, t, "claim-"+user)
	project := filepath.Join(hostDir, string(repoA.ProjectDir))

	// Commit 1, seeded: the image's home, and the record of what was seeded.
	admitted, running := launch(ctx, t, dynamicPod(t, user, repoA))
	assertMutated(t, admitted, string(repoA.ProjectDir))
	assertProjectIsImageHome(t, project, repoA.Image)
	if _, err := os.Stat(filepath.Join(hostDir, ".binder-projects-seeds", string(repoA.ProjectDir))); err != nil {
		t.Fatalf("no record of the seed: %v", err)
	}
	stopServer(ctx, t, running.Name)
	waitRegistry(ctx, t, user, "commit 1 recorded", 30*time.Second, func(r projects.Registry) bool {
		i := r.Find(repoA.ProjectDir)
		return i >= 0 && r.Projects[i].Commit == repoA.Commit
	})

	// The user's work (as the notebook's uid): README.md edited, notes.txt added, analysis/report.md
	// deleted; requirements.txt and the rest untouched.
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(project, rel)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 1000, 100)
	}
	write("README.md", "# requirements\nRepository A, commit 1\n\nMy notes on the analysis.\n")
	write("notes.txt", "my own file\n")
	if err := os.Remove(filepath.Join(project, "analysis", "report.md")); err != nil {
		t.Fatal(err)
	}

	// Commit 2, with an update asked for.
	pod := dynamicPod(t, user, repoANewCommit)
	pod.Annotations[contract.AnnotationUpdate] = "true"
	admitted, running = launch(ctx, t, pod)
	var names []string
	for _, c := range admitted.Spec.InitContainers {
		names = append(names, c.Name)
	}
	wantHelper := mode == "init-container"
	if got := contains(names, patch.DefaultConfig().InitContainerName+"-helper"); got != wantHelper {
		t.Errorf("in %s mode the init containers are %v", mode, names)
	}
	imageVolume := false
	for _, v := range admitted.Spec.Volumes {
		imageVolume = imageVolume || v.Image != nil && v.Image.Reference == inClusterImageRepo+":"+inClusterImageTag
	}
	if imageVolume != !wantHelper {
		t.Errorf("in %s mode the pod has an image volume of our image: %v", mode, imageVolume)
	}
	report := initReport(ctx, t, running.Name)
	if report.Update == nil || report.Update.State != contract.UpdateUpdated || report.Update.Commit != repoANewCommit.Commit || report.Update.From != repoA.Commit {
		t.Fatalf("the init container's report on the update: %+v, want updated from %s to %s", report.Update, repoA.Commit, repoANewCommit.Commit)
	}
	short := repoANewCommit.Commit[:7]
	v2 := repoANewCommit.Image.HomeFiles()
	want := map[string]string{
		// edited by the user and changed by the commit: the user's kept, the new one beside
		"README.md":               "# requirements\nRepository A, commit 1\n\nMy notes on the analysis.\n",
		"README." + short + ".md": v2["README.md"],
		"notes.txt":               "my own file\n",        // the user's own
		"requirements.txt":        v2["requirements.txt"], // untouched by the user: replaced
		".postbuild-ran":          v2[".postbuild-ran"],
		"CHANGELOG.md":            v2["CHANGELOG.md"], // new in the commit
		"binder/postBuild":        v2["binder/postBuild"],
		"binder/":                 "",
		// removed by the commit and untouched by the user: removed (index.ipynb, .gitignore,
		// latest.csv, analysis/data/measurements.csv); analysis/report.md: deleted by the user, stays so
	}
	got := treeOf(t, project)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("the project after the update (-want +got):\n%s", d)
	}
	if c := report.Update; c.Replaced < 2 || c.Added != 1 || c.Beside != 1 {
		t.Errorf("the update's counts %+v: want at least 2 replaced, 1 added, 1 beside", *c)
	}
	ev := waitEvent(ctx, t, running.Name, controller.ReasonProjectUpdated, 30*time.Second)
	if !strings.Contains(ev.Message, short) && !strings.Contains(ev.Message, repoANewCommit.Commit) {
		t.Errorf("the ProjectUpdated Event does not name the commit: %q", ev.Message)
	}
	stopServer(ctx, t, running.Name)
	reg := waitRegistry(ctx, t, user, "the update recorded", 30*time.Second, func(r projects.Registry) bool {
		i := r.Find(repoA.ProjectDir)
		return i >= 0 && r.Projects[i].LastUpdate != nil && r.Projects[i].Commit == repoANewCommit.Commit
	})
	if u := reg.Projects[reg.Find(repoA.ProjectDir)].LastUpdate; u.Commit != repoANewCommit.Commit || u.From != repoA.Commit {
		t.Errorf("the registry's lastUpdate %+v, want from %s to %s", *u, repoA.Commit, repoANewCommit.Commit)
	}

	// A relaunch of commit 2 without an update changes nothing.
	_, running = launch(ctx, t, dynamicPod(t, user, repoANewCommit))
	if report := initReport(ctx, t, running.Name); report.Update != nil {
		t.Errorf("a relaunch without an update reported one: %+v", *report.Update)
	}
	if d := cmp.Diff(want, treeOf(t, project)); d != "" {
		t.Errorf("a relaunch without an update changed the project (-want +got):\n%s", d)
	}
	stopServer(ctx, t, running.Name)
}

// initReport is the report our init container wrote into its termination message.
func initReport(ctx context.Context, t *testing.T, podName string) contract.Report {
	t.Helper()
	p, err := testCluster.Client().CoreV1().Pods(hubNamespace).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name != patch.DefaultConfig().InitContainerName {
			continue
		}
		var term *corev1.ContainerStateTerminated
		if term = s.State.Terminated; term == nil {
			term = s.LastTerminationState.Terminated
		}
		if term == nil {
			t.Fatalf("our init container of %s has not terminated: %+v", podName, s.State)
		}
		r, err := contract.DecodeReport(term.Message)
		if err != nil {
			t.Fatalf("our init container's report %q: %v", term.Message, err)
		}
		return r
	}
	t.Fatalf("%s has no init container %s", podName, patch.DefaultConfig().InitContainerName)
	return contract.Report{}
}

// treeOf maps every entry under dir to its content (files), "-> target" (links) or "" (folders,
// with a trailing slash), by path relative to dir.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		case fi.IsDir():
			out[rel+"/"] = ""
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
