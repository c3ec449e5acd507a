package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// claimWith is claim-bitnik in bhub, as KubeSpawner makes it, holding the given registry.
func claimWith(t *testing.T, r projects.Registry) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Name: "claim-bitnik", Namespace: "bhub",
		Annotations: map[string]string{contract.AnnotationHubUsername: "bitnik"},
	}}
	if err := r.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	return pvc
}

func registryOf(dirs ...contract.ProjectDir) projects.Registry {
	var r projects.Registry
	for i, d := range dirs {
		r.Record(projects.Project{Dir: d, LastUsed: time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC)})
	}
	return r
}

// admit sends the z2jh4 fixture through the webhook with the registry read from a client holding pvc.
func admit(t *testing.T, reader RegistryReader, max int, edit func(*corev1.Pod)) (*corev1.Pod, int32, string) {
	t.Helper()
	pod := podOf(t, "z2jh4-binderhub-dynamic")
	if edit != nil {
		var p corev1.Pod
		if err := json.Unmarshal(pod, &p); err != nil {
			t.Fatal(err)
		}
		edit(&p)
		var err error
		if pod, err = json.Marshal(&p); err != nil {
			t.Fatal(err)
		}
	}
	out, resp, err := Review(context.Background(), NewWebhook(testConfig(), logr.Discard(), WithRegistry(reader, max)), pod)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Allowed {
		return nil, resp.Result.Code, resp.Result.Message
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return &got, http.StatusOK, ""
}

func deletionsOf(pod *corev1.Pod) string {
	for _, ic := range pod.Spec.InitContainers {
		for _, e := range ic.Env {
			if e.Name == contract.EnvDelete {
				return e.Value
			}
		}
	}
	return "<no init container>"
}

func TestAdmissionWithTheRegistry(t *testing.T) {
	five := registryOf("gh_a_1", "gh_a_2", "gh_a_3", "gh_a_4", "gh_a_5")
	fromClaim := func(r projects.Registry) RegistryReader {
		return ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(claimWith(t, r)).Build()}
	}

	t.Run("a new project beyond the limit is denied with 403, naming the user's projects and how to delete one", func(t *testing.T) {
		_, code, msg := admit(t, fromClaim(five), 5, nil)
		if code != http.StatusForbidden {
			t.Fatalf("code = %d (%s), want 403", code, msg)
		}
		for _, want := range []string{"gh_a_1", "gh_a_5", "delete one", "gh_binder-examples_requirements"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not mention %q", msg, want)
			}
		}
	})

	t.Run("relaunching a recorded project is allowed even at the limit", func(t *testing.T) {
		r := registryOf("gh_a_1", "gh_a_2", "gh_a_3", "gh_a_4", "gh_binder-examples_requirements")
		if _, code, msg := admit(t, fromClaim(r), 5, nil); code != http.StatusOK {
			t.Fatalf("code = %d (%s), want allowed", code, msg)
		}
	})

	t.Run("a limit of 0 means no limit", func(t *testing.T) {
		if _, code, msg := admit(t, fromClaim(five), 0, nil); code != http.StatusOK {
			t.Fatalf("code = %d (%s), want allowed", code, msg)
		}
	})

	t.Run("a new project below the limit is allowed and a user without a claim yet has no projects", func(t *testing.T) {
		if _, code, msg := admit(t, fromClaim(registryOf("gh_a_1")), 5, nil); code != http.StatusOK {
			t.Fatalf("code = %d (%s), want allowed", code, msg)
		}
		empty := ClaimRegistry{Reader: fake.NewClientBuilder().Build()}
		if _, code, msg := admit(t, empty, 1, nil); code != http.StatusOK {
			t.Fatalf("no claim: code = %d (%s), want allowed", code, msg)
		}
	})

	t.Run("the queued deletions reach the init container, the launched project's own among them", func(t *testing.T) {
		r := registryOf("gh_a_1")
		if _, _, err := r.Delete("gh_a_1", time.Now()); err != nil {
			t.Fatal(err)
		}
		r.Deletions = append(r.Deletions, projects.Queued{Dir: "gh_binder-examples_requirements", QueuedAt: time.Now()})
		pod, code, msg := admit(t, fromClaim(r), 5, nil)
		if code != http.StatusOK {
			t.Fatalf("code = %d (%s)", code, msg)
		}
		if got, want := deletionsOf(pod), "gh_a_1 gh_binder-examples_requirements"; got != want {
			t.Errorf("init container deletions = %q, want %q", got, want)
		}
		handed, err := contract.HandedDeletions(pod.Annotations)
		if err != nil {
			t.Fatal(err)
		}
		if len(handed) != 2 || !handed[0].Same(r.Deletions[0]) || !handed[1].Same(r.Deletions[1]) {
			t.Errorf("the pod records handed entries %+v, want exactly the queue %+v", handed, r.Deletions)
		}
	})

	t.Run("the queued restores and purges reach the init container through the claim, and deleted projects do not count against the limit", func(t *testing.T) {
		r := registryOf("gh_a_1", "gh_a_2", "gh_a_3")
		at := time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)
		for i, d := range []contract.ProjectDir{"gh_a_2", "gh_a_3"} {
			if _, _, err := r.Delete(d, at.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		r.Deleted(r.Deletions, []contract.ProjectDir{"gh_a_2", "gh_a_3"})
		if _, err := r.RequestRestore(r.Trash[0].Entry()); err != nil {
			t.Fatal(err)
		}
		if err := r.RequestPurge(r.Trash[1].Entry()); err != nil {
			t.Fatal(err)
		}
		pod, code, msg := admit(t, fromClaim(r), 2, nil)
		if code != http.StatusOK {
			t.Fatalf("one project and two deleted ones, limit 2: code = %d (%s), want allowed", code, msg)
		}
		env := map[string]string{}
		for _, e := range pod.Spec.InitContainers[len(pod.Spec.InitContainers)-1].Env {
			env[e.Name] = e.Value
		}
		want := map[string]string{
			contract.EnvRestore: contract.TrashEntryName(contract.TrashID(r.Restores[0]), "gh_a_2"),
			contract.EnvPurge:   contract.TrashEntryName(contract.TrashID(r.Purges[0]), "gh_a_3"),
		}
		for name, v := range want {
			if env[name] != v {
				t.Errorf("%s = %q, want %q", name, env[name], v)
			}
		}
		restores, err := contract.HandedRestores(pod.Annotations)
		if err != nil || len(restores) != 1 || !restores[0].Same(r.Restores[0]) {
			t.Errorf("the pod records handed restores %+v (%v), want exactly the queue %+v", restores, err, r.Restores)
		}
		purges, err := contract.HandedPurges(pod.Annotations)
		if err != nil || len(purges) != 1 || !purges[0].Same(r.Purges[0]) {
			t.Errorf("the pod records handed purges %+v (%v), want exactly the queue %+v", purges, err, r.Purges)
		}
	})

	t.Run("a registry that cannot be read refuses the pod with 503 rather than guessing", func(t *testing.T) {
		_, code, msg := admit(t, failingRegistry{}, 5, nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(msg, "claim-bitnik") {
			t.Fatalf("code = %d (%s), want 503 naming the claim", code, msg)
		}
	})

	t.Run("a corrupt registry never blocks a launch: what parsed is used, a corrupt part reads as empty", func(t *testing.T) {
		before := testutil.ToFloat64(corruptRegistries)
		// Five projects recorded, but the list was cut off by a bad hand edit: the limit cannot be
		// counted, so it does not hold; the queue still parses and still reaches the init container.
		r := registryOf()
		r.Deletions = []projects.Queued{{Dir: "gh_old_one", QueuedAt: time.Now()}}
		pvc := claimWith(t, r)
		pvc.Annotations[projects.AnnotationProjects] = `[{"dir":"gh_a_1"},{"dir":"gh_a_2"},{"dir":"gh_a_3"},{"dir":"gh_a_4"},{"dir":"gh_a_5"},{"di`
		pod, code, msg := admit(t, ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(pvc).Build()}, 5, nil)
		if code != http.StatusOK {
			t.Fatalf("code = %d (%s), want the launch to go on", code, msg)
		}
		if got := deletionsOf(pod); got != "gh_old_one" {
			t.Errorf("init container deletions = %q, want the queue that parsed", got)
		}
		if got := testutil.ToFloat64(corruptRegistries) - before; got != 1 {
			t.Errorf("binder_projects_registry_corrupt_total grew by %v, want 1", got)
		}

		// A corrupt queue hands nothing to delete.
		pvc = claimWith(t, registryOf("gh_a_1"))
		pvc.Annotations[projects.AnnotationDeleteQueue] = `[{"dir":"gh_a_1","queuedAt":`
		pod, code, msg = admit(t, ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(pvc).Build()}, 5, nil)
		if code != http.StatusOK {
			t.Fatalf("corrupt queue: code = %d (%s), want the launch to go on", code, msg)
		}
		if got := deletionsOf(pod); got != "" {
			t.Errorf("a corrupt queue handed %q to the init container, want nothing", got)
		}
	})
}

// failingRegistry stands for an API server that does not answer.
type failingRegistry struct{}

func (failingRegistry) Registry(context.Context, string, string) (projects.Registry, string, error) {
	return projects.Registry{}, "", errors.New("connection refused")
}
