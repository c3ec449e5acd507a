package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/contract/contracttest"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// collidingUsers finds two user names whose KubeSpawner safe slugs are one (contracttest.CollidingNames).
func collidingUsers(t testing.TB) (first, second, slug string) {
	return contracttest.CollidingNames(t, func(name string) string { s, _, _ := contract.UserServerNames(contract.SlugSafe, name, ""); return s })
}

// podForUser is the storage-none fixture (BinderHub's default) launched by user on the named server
// server (the default server for ""), of the repository repo.
func podForUser(t *testing.T, user, server, repo string) *corev1.Pod {
	t.Helper()
	p := fixturePod(t, "binderhub-storage-none")
	slug, _, _ := contract.UserServerNames(contract.SlugSafe, user, server)
	p.Name = "jupyter-" + slug
	if server != "" {
		p.Name += "--" + server
	}
	p.Annotations[contract.AnnotationHubUsername] = user
	p.Annotations[contract.AnnotationHubServername] = server
	p.Labels[contract.AnnotationHubUsername] = slug
	p.Labels[contract.AnnotationHubServername] = server
	if repo != "" {
		p.Annotations[contract.AnnotationRepoURL] = repo
	}
	return p
}

func TestAClaimOfAnotherUserIsRefusedAndNamesNoOneElse(t *testing.T) {
	owner, intruder, slug := collidingUsers(t)
	claim := "claim-" + slug
	if c, _ := testConfig().ClaimName(intruder, ""); c != claim {
		t.Fatalf("the search found %q and %q, but %q names %s, not %s", owner, intruder, intruder, c, claim)
	}
	theirs := claimWith(t, registryOf("gh_owner_secret-thesis"))
	theirs.Name = claim
	theirs.Annotations[contract.AnnotationHubUsername] = owner
	reader := ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(theirs).Build()}
	review := func(t *testing.T, r RegistryReader, pod *corev1.Pod) admission.Response {
		t.Helper()
		raw, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		_, resp, err := Review(context.Background(), NewWebhook(testConfig(), logr.Discard(), WithRegistry(r, 5)), raw)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	for _, tc := range []struct {
		sentence string
		pod      func(t *testing.T) *corev1.Pod
		field    string
	}{
		{"storage none: the claim the template names for the user is another user's", func(t *testing.T) *corev1.Pod {
			return podForUser(t, intruder, "", "")
		}, "metadata.annotations[hub.jupyter.org/username]"},
		{"a named server of storage none: the same claim", func(t *testing.T) *corev1.Pod {
			return podForUser(t, intruder, "analysis", "")
		}, "metadata.annotations[hub.jupyter.org/username]"},
		{"storage dynamic: KubeSpawner mounts the claim it named, which is another user's", func(t *testing.T) *corev1.Pod {
			p := fixturePod(t, "z2jh4-binderhub-dynamic")
			p.Annotations[contract.AnnotationHubUsername] = intruder
			p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = claim
			return p
		}, "spec.volumes[0].persistentVolumeClaim.claimName"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			resp := review(t, reader, tc.pod(t))
			if resp.Allowed {
				t.Fatalf("%q's pod was admitted onto %s, the claim of %q", intruder, claim, owner)
			}
			msg := resp.Result.Message
			if resp.Result.Code != http.StatusUnprocessableEntity || !strings.Contains(msg, tc.field) ||
				!strings.Contains(msg, fmt.Sprintf("claim %s is not %q's", claim, intruder)) {
				t.Errorf("refusal %d %q; want 422 on %s saying the claim is not %q's", resp.Result.Code, msg, tc.field, intruder)
			}
			if strings.Contains(msg, owner) || strings.Contains(msg, "secret-thesis") {
				t.Errorf("the refusal %q tells %q whose claim it is or what is on it", msg, intruder)
			}
		})
	}

	t.Run("the owner launches as before", func(t *testing.T) {
		if resp := review(t, reader, podForUser(t, owner, "", "")); !resp.Allowed {
			t.Fatalf("the owner's launch: %+v", resp.Result)
		}
	})

	t.Run("a claim that names no user (made by hand, or by an older KubeSpawner) is used", func(t *testing.T) {
		anyones := theirs.DeepCopy()
		delete(anyones.Annotations, contract.AnnotationHubUsername)
		r := ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(anyones).Build()}
		if resp := review(t, r, podForUser(t, intruder, "", "")); !resp.Allowed {
			t.Fatalf("%+v", resp.Result)
		}
	})
}

// launchAtOnce sends the pods through one webhook at the same moment and returns how many were
// admitted and the refusals.
func launchAtOnce(t *testing.T, pods []*corev1.Pod, opts ...Option) (admitted int, refusals []string) {
	t.Helper()
	w := NewWebhook(testConfig(), logr.Discard(), opts...)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, p := range pods {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, resp, err := Review(context.Background(), w, raw)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				refusals = append(refusals, err.Error())
			case resp.Allowed:
				admitted++
			default:
				refusals = append(refusals, fmt.Sprintf("%d %s", resp.Result.Code, resp.Result.Message))
			}
		}()
	}
	close(start)
	wg.Wait()
	return admitted, refusals
}

func TestSixNewProjectsLaunchedAtOnceOnNamedServersWithALimitOfFiveAdmitFive(t *testing.T) {
	const user = "dora"
	var pods []*corev1.Pod
	for i := 1; i <= 6; i++ {
		pods = append(pods, podForUser(t, user, fmt.Sprintf("binder-%d", i), fmt.Sprintf("https://github.com/org/repo-%d", i)))
	}
	own := claimWith(t, projects.Registry{})
	own.Name = "claim-dora"
	own.Annotations[contract.AnnotationHubUsername] = user
	reader := func() RegistryReader {
		return ClaimRegistry{Reader: fake.NewClientBuilder().WithObjects(own.DeepCopy()).Build()}
	}

	check := func(t *testing.T, admitted int, refusals []string) {
		t.Helper()
		if admitted != 5 || len(refusals) != 1 {
			t.Fatalf("admitted %d, refused %d (%q); want exactly five admitted and one refused", admitted, len(refusals), refusals)
		}
		if !strings.HasPrefix(refusals[0], "403 ") || !strings.Contains(refusals[0], "your other servers are launching 5 more") {
			t.Errorf("the refusal %q does not say that the other servers are launching five projects", refusals[0])
		}
	}

	t.Run("the pod cache shows none of them yet: the webhook counts what it admitted", func(t *testing.T) {
		admitted, refusals := launchAtOnce(t, pods, WithRegistry(reader(), 5), WithServers(podsInCache(nil)))
		check(t, admitted, refusals)
	})

	t.Run("the pod cache shows the other five (another replica admitted them, or this one restarted)", func(t *testing.T) {
		var cached podsInCache
		for _, p := range pods[:5] {
			out, errs := mutatePod(p, testConfig(), patch.Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			out.Status.Phase = corev1.PodPending
			cached = append(cached, *out)
		}
		admitted, refusals := launchAtOnce(t, pods[5:], WithRegistry(reader(), 5), WithServers(cached))
		if admitted != 0 || len(refusals) != 1 || !strings.Contains(refusals[0], "launching 5 more") {
			t.Fatalf("admitted %d, refused %q; want the sixth refused, the five in the cache counted", admitted, refusals)
		}
	})

	t.Run("a dry run launches nothing and does not count", func(t *testing.T) {
		w := NewWebhook(testConfig(), logr.Discard(), WithRegistry(reader(), 5), WithServers(podsInCache(nil)))
		dryRun := true
		for _, p := range pods {
			raw, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			resp := w.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: types.UID("dry-" + p.Name), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: p.Name, Namespace: p.Namespace,
				Operation: admissionv1.Create, DryRun: &dryRun, Object: runtime.RawExtension{Raw: raw}}})
			if !resp.Allowed {
				t.Fatalf("dry run of %s refused: %+v", p.Name, resp.Result)
			}
		}
	})
}
