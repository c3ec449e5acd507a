package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// Issue 16 §3 on the real cluster: the webhook restarted with --expire-projects-after=90d sweeps at
// its start. Of three projects nobody used for 100 days, the one no server has open expires (taken
// off the projects, its folder queued for the trash, a ProjectExpired Event on the claim, counted in
// binder_projects_projects_expired_total); the one open in a running server and the one open in a
// server still starting stay. The next start, of another project, moves the expired one's folder into
// the volume's trash and leaves the others' folders as they were.
//
// The server still starting (held Pending by a node selector no node has) is the one that tells for
// certain that an open project is kept because it is open: the restarted webhook's registry
// controller records the running server's launch again, which moves that project's last use up to the
// launch's end, and that races with the sweep; a starting server's launch is recorded only once its
// init container has ended.
func TestAProjectNotUsedForLongerThanTheExpiryGoesToTheTrashButNoneAServerHasOpen(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	const user = "expirer"
	hostDir := userClaim(ctx, t, user)
	// A: not open. B: open in a running server. D: open in a server still starting. C: launched at
	// the end.
	a, b, d, c := repoA, repoB, projectRepo("expiry", 1), projectRepo("expiry", 2)
	recordLaunch(ctx, t, user, a)
	recordLaunch(ctx, t, user, d)
	running := dynamicPod(t, user, b)
	launch(ctx, t, running)
	waitRegistry(ctx, t, user, "project "+string(b.ProjectDir), 30*time.Second, func(r projects.Registry) bool { return r.Find(b.ProjectDir) >= 0 })
	notes := filepath.Join(hostDir, string(b.ProjectDir), "my-notes.txt")
	if err := os.WriteFile(notes, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(notes, 1000, 100); err != nil {
		t.Fatal(err)
	}
	starting := namedServerPod(t, user, "starting", d)
	starting.Spec.NodeSelector = map[string]string{"binder-projects.e2e/no-such-node": "true"}
	admitted, err := testCluster.Client().CoreV1().Pods(hubNamespace).Create(ctx, starting, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s: %v", starting.Name, err)
	}
	if got := admitted.Annotations[contract.AnnotationProjectDir]; got != string(d.ProjectDir) {
		t.Fatalf("the starting server's %s = %q, want %q", contract.AnnotationProjectDir, got, d.ProjectDir)
	}
	kept := map[contract.ProjectDir]map[string]string{
		b.ProjectDir: treeOf(t, filepath.Join(hostDir, string(b.ProjectDir))),
		d.ProjectDir: treeOf(t, filepath.Join(hostDir, string(d.ProjectDir))),
	}

	// Nobody used any of them for 100 days; the webhook restarts with a 90-day expiry.
	lastUsed := time.Now().Add(-100 * 24 * time.Hour).UTC().Truncate(time.Second)
	changeRegistry(ctx, t, user, "making every project unused for 100 days", func(r *projects.Registry) error {
		for i := range r.Projects {
			r.Projects[i].LastUsed = lastUsed
		}
		return nil
	})
	webhookWith(ctx, t, "--expire-projects-after=90d")

	// A expires: off the projects, queued for the trash, pending there. B and D stay, not queued.
	r := waitRegistry(ctx, t, user, string(a.ProjectDir)+" expired", 90*time.Second, func(r projects.Registry) bool {
		return r.Find(a.ProjectDir) < 0
	})
	if len(r.Deletions) != 1 || r.Deletions[0].Dir != a.ProjectDir {
		t.Fatalf("the deletion queue after the sweep: %s, want only %s", jsonString(r.Deletions), a.ProjectDir)
	}
	expired := r.Deletions[0]
	if i := r.FindTrashed(expired); i < 0 || r.Trash[i].InTrash {
		t.Errorf("the trash records after the sweep: %s, want %s pending (not in the trash yet)", jsonString(r.Trash), a.ProjectDir)
	}
	if !sameSet(dirs(r), b.ProjectDir, d.ProjectDir) {
		t.Errorf("the projects after the sweep: %v, want the two open ones, %s and %s", dirs(r), b.ProjectDir, d.ProjectDir)
	}
	// D's last use is still the one set above: the sweep found it expired, and kept it for its server.
	if i := r.Find(d.ProjectDir); i >= 0 && !r.Projects[i].LastUsed.Equal(lastUsed) {
		t.Errorf("%s's last use is %s after the sweep, want %s (its starting server's launch is not recorded yet)", d.ProjectDir, r.Projects[i].LastUsed, lastUsed)
	}
	if i := r.Find(b.ProjectDir); i >= 0 {
		t.Logf("%s's last use after the sweep: %s (the restarted registry controller recorded its running server's launch again: %t)",
			b.ProjectDir, r.Projects[i].LastUsed, !r.Projects[i].LastUsed.Equal(lastUsed))
	}
	ev := waitEvent(ctx, t, "claim-"+user, controller.ReasonProjectExpired, 30*time.Second)
	for _, want := range []string{string(a.ProjectDir), lastUsed.Format(time.RFC3339), "90 days", "queued for the trash"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("the claim's %s Event does not say %q: %q", ev.Reason, want, ev.Message)
		}
	}
	if ev.Type != corev1.EventTypeNormal {
		t.Errorf("the claim's %s Event is of type %s, want Normal", ev.Reason, ev.Type)
	}
	var expiredEvents []string
	for _, e := range eventsOf(ctx, t, "claim-"+user) {
		if e.Reason == controller.ReasonProjectExpired {
			expiredEvents = append(expiredEvents, e.Message)
		}
	}
	if len(expiredEvents) != 1 {
		t.Errorf("the claim has %d %s Events, want 1:\n  %s", len(expiredEvents), controller.ReasonProjectExpired, strings.Join(expiredEvents, "\n  "))
	}
	// The webhook's metrics, of the process just started: the one project it expired.
	body, code := get(t, "http://"+cluster.WebhookMetricsAddr+"/metrics")
	if m := regexp.MustCompile(`(?m)^binder_projects_projects_expired_total (\S+)$`).FindStringSubmatch(body); code != http.StatusOK || m == nil || m[1] != "1" {
		t.Errorf("binder_projects_projects_expired_total after the sweep: %v (GET /metrics = %d), want 1", m, code)
	}

	// Both servers stop; the next start, of C, is handed A's deletion and moves A into the trash.
	stopServer(ctx, t, running.Name)
	stopServer(ctx, t, starting.Name)
	next := dynamicPod(t, user, c)
	waitHanded(ctx, t, next, contract.EnvDelete, string(a.ProjectDir))
	launch(ctx, t, next)
	r = waitRegistry(ctx, t, user, string(a.ProjectDir)+" in the trash", 30*time.Second, func(r projects.Registry) bool {
		i := r.FindTrashed(expired)
		return i >= 0 && r.Trash[i].InTrash && len(r.Deletions) == 0 && r.Find(c.ProjectDir) >= 0
	})
	inTrash := filepath.Join(hostDir, contract.TrashFolder, strconv.FormatInt(contract.TrashID(expired), 10), string(a.ProjectDir))
	assertProjectIsImageHome(t, inTrash, a.Image)
	if _, err := os.Stat(filepath.Join(hostDir, string(a.ProjectDir))); !os.IsNotExist(err) {
		t.Errorf("the expired project's folder is still at the volume's root: %v", err)
	}
	if !sameSet(dirs(r), b.ProjectDir, d.ProjectDir, c.ProjectDir) {
		t.Errorf("the projects after the next start: %v, want %s, %s and %s", dirs(r), b.ProjectDir, d.ProjectDir, c.ProjectDir)
	}
	for dir, before := range kept {
		if diff := cmp.Diff(before, treeOf(t, filepath.Join(hostDir, string(dir)))); diff != "" {
			t.Errorf("the folder of %s, which a server had open, changed (-before +after):\n%s", dir, diff)
		}
	}
	if data, err := os.ReadFile(notes); err != nil || string(data) != "mine\n" {
		t.Errorf("the user's file in %s: %q, %v", b.ProjectDir, data, err)
	}
	stopServer(ctx, t, next.Name)
}
