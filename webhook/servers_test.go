package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

const launchedDir = "gh_binder-examples_requirements"

// serversConfig is the configuration with the helper, as updates need it.
func serversConfig() patch.Config {
	cfg := patch.DefaultConfig()
	cfg.HelperImage = "registry.example.org/binder-projects:1.0"
	return cfg
}

// fixturePod is a webhook testdata pod, decoded.
func fixturePod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal(podOf(t, name), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// serverOf is a pod of the fixture launched earlier as the named server `server`, as the cache holds
// it: mutated (its project: the fixture's), in phase.
func serverOf(t *testing.T, fixture, server string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	in := fixturePod(t, fixture)
	in.Name += "--" + server
	in.Labels[contract.AnnotationHubServername] = server
	in.Annotations[contract.AnnotationHubServername] = server
	delete(in.Annotations, contract.AnnotationUpdate)
	out, errs := mutatePod(in, serversConfig(), patch.Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out.Status.Phase = phase
	return out
}

// queuedUpdate is the registry on claim-bitnik: the launched project recorded at an older commit, and
// an update of it queued (the projects page's "Update").
func queuedUpdate() projects.Registry {
	r := projects.Registry{Projects: []projects.Project{{Dir: launchedDir, Commit: "0000000old", LastUsed: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}}
	if _, err := r.RequestUpdate(launchedDir, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		panic(err)
	}
	return r
}

// cacheHolding is a client as the manager's cache in serve: pods indexed by user, the claims, each as
// the cache holds it (asCached).
func cacheHolding(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	return fake.NewClientBuilder().WithObjects(asCached(t, objs...)...).WithIndex(&corev1.Pod{}, UserPodsIndex, UserPodsIndexKeys).Build()
}

// reviewRequest is the CREATE of the z2jh4 fixture (bitnik's default server, claim-bitnik), as the API
// server sends it, a dry run or not.
func reviewRequest(t *testing.T, dryRun bool) admission.Request {
	t.Helper()
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("review"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      "jupyter-bitnik",
		Namespace: "bhub",
		Operation: admissionv1.Create,
		DryRun:    &dryRun,
		Object:    runtime.RawExtension{Raw: podOf(t, "z2jh4-binderhub-dynamic")},
	}}
}

func TestAdmissionDefersAnUpdateWhileTheProjectIsOpenInAnotherServerOfTheUser(t *testing.T) {
	cfg := serversConfig()
	// admitBeside sends the launch through the real adapters (ClaimRegistry, CachedUserPods) on c.
	admitBeside := func(t *testing.T, c client.Client) *corev1.Pod {
		t.Helper()
		wh := NewWebhook(cfg, logr.Discard(), WithRegistry(ClaimRegistry{Reader: c}, 5), WithServers(CachedUserPods{Reader: c}))
		out, resp, err := Review(context.Background(), wh, podOf(t, "z2jh4-binderhub-dynamic"))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Allowed {
			t.Fatalf("refused (%d): %s; a launch is never refused because its project is open elsewhere", resp.Result.Code, resp.Result.Message)
		}
		var got corev1.Pod
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	// want is the pure core's pod for the launch, given what the cache should have yielded.
	want := func(t *testing.T, open ...contract.OpenServer) *corev1.Pod {
		t.Helper()
		reg := queuedUpdate()
		pod, errs := mutatePod(fixturePod(t, "z2jh4-binderhub-dynamic"), cfg,
			patch.Registered{Updates: reg.Updates, Commits: reg.Commits(), OpenElsewhere: open})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return pod
	}

	t.Run("a running named server of the user with the project open: the launch goes ahead, the queued update is not handed and stays queued, and the pod names that server", func(t *testing.T) {
		claim := claimWith(t, queuedUpdate())
		c := cacheHolding(t, claim, serverOf(t, "z2jh4-binderhub-dynamic", "busy", corev1.PodRunning))
		got := admitBeside(t, c)
		if diff := cmp.Diff(want(t, contract.OpenServer{Pod: "jupyter-bitnik--busy", Server: "busy", Dir: launchedDir}), got); diff != "" {
			t.Errorf("admitted pod (-want +got):\n%s", diff)
		}
		if v := got.Annotations[contract.AnnotationUpdateDeferred]; v != `{"asked":"queue","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}` {
			t.Errorf("%s = %s", contract.AnnotationUpdateDeferred, v)
		}
		if _, ok := got.Annotations[contract.AnnotationUpdateHanded]; ok {
			t.Errorf("the queued update was handed: %s", got.Annotations[contract.AnnotationUpdateHanded])
		}
		var after corev1.PersistentVolumeClaim
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(claim), &after); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(asCached(t, claim)[0].GetAnnotations(), after.Annotations); diff != "" {
			t.Errorf("admission changed the claim's registry (-before +after):\n%s", diff)
		}
	})

	t.Run("with no other server, the queued update is handed", func(t *testing.T) {
		got := admitBeside(t, cacheHolding(t, claimWith(t, queuedUpdate())))
		if diff := cmp.Diff(want(t), got); diff != "" {
			t.Errorf("admitted pod (-want +got):\n%s", diff)
		}
		if _, ok := got.Annotations[contract.AnnotationUpdateHanded]; !ok {
			t.Error("the queued update was not handed")
		}
	})

	for _, tc := range []struct {
		sentence string
		other    func(t *testing.T) *corev1.Pod
	}{
		{"another user's server with the same project open, on that user's claim, does not defer", func(t *testing.T) *corev1.Pod {
			return serverOf(t, "helper-image-volume-update-annotation", "busy", corev1.PodRunning) // dora, claim-dora
		}},
		{"a server of the user that has ended does not defer", func(t *testing.T) *corev1.Pod {
			return serverOf(t, "z2jh4-binderhub-dynamic", "done", corev1.PodSucceeded)
		}},
		{"a server of the user with another project open does not defer", func(t *testing.T) *corev1.Pod {
			p := serverOf(t, "z2jh4-binderhub-dynamic", "other", corev1.PodRunning)
			p.Annotations[contract.AnnotationProjectDir] = "gh_bitnik_other"
			return p
		}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			other := tc.other(t)
			got := admitBeside(t, cacheHolding(t, claimWith(t, queuedUpdate()), other))
			if diff := cmp.Diff(want(t), got); diff != "" {
				t.Errorf("admitted pod (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a dry run answers exactly as the real admission and changes nothing", func(t *testing.T) {
		claim := claimWith(t, queuedUpdate())
		busy := serverOf(t, "z2jh4-binderhub-dynamic", "busy", corev1.PodRunning)
		c := cacheHolding(t, claim, busy)
		wh := NewWebhook(cfg, logr.Discard(), WithRegistry(ClaimRegistry{Reader: c}, 5), WithServers(CachedUserPods{Reader: c}))
		dry := wh.Handle(context.Background(), reviewRequest(t, true))
		real := wh.Handle(context.Background(), reviewRequest(t, false))
		if !dry.Allowed || !real.Allowed {
			t.Fatalf("allowed: dry run %v, real %v", dry.Allowed, real.Allowed)
		}
		if diff := cmp.Diff(string(real.Patch), string(dry.Patch)); diff != "" {
			t.Errorf("the dry run's patch differs (-real +dry run):\n%s", diff)
		}
		var pods corev1.PodList
		if err := c.List(context.Background(), &pods); err != nil {
			t.Fatal(err)
		}
		var after corev1.PersistentVolumeClaim
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(claim), &after); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 1 || pods.Items[0].ResourceVersion != "999" || after.ResourceVersion != "999" {
			t.Errorf("the cache's objects changed: pods %d (resourceVersion %s), claim resourceVersion %s", len(pods.Items), pods.Items[0].ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("servers that cannot be listed refuse the pod with 503 rather than update under a running server", func(t *testing.T) {
		c := cacheHolding(t, claimWith(t, queuedUpdate()))
		wh := NewWebhook(cfg, logr.Discard(), WithRegistry(ClaimRegistry{Reader: c}, 5), WithServers(failingServers{}))
		_, resp, err := Review(context.Background(), wh, podOf(t, "z2jh4-binderhub-dynamic"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Allowed || resp.Result.Code != http.StatusServiceUnavailable {
			t.Errorf("allowed %v, result %+v; want 503", resp.Allowed, resp.Result)
		}
	})
}

func TestCachedUserPodsListsOnlyTheUsersOwnPods(t *testing.T) {
	bitnik := serverOf(t, "z2jh4-binderhub-dynamic", "a", corev1.PodRunning)
	dora := serverOf(t, "helper-image-volume-update-annotation", "b", corev1.PodRunning)
	elsewhere := serverOf(t, "z2jh4-binderhub-dynamic", "c", corev1.PodRunning)
	elsewhere.Namespace = "another-hub"
	got, err := CachedUserPods{Reader: cacheHolding(t, bitnik, dora, elsewhere)}.UserPods(context.Background(), "bhub", "bitnik")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if diff := cmp.Diff([]string{"bhub/jupyter-bitnik--a"}, names); diff != "" {
		t.Errorf("bitnik's pods (-want +got):\n%s", diff)
	}
}

// failingServers stands for a cache that cannot answer.
type failingServers struct{}

func (failingServers) UserPods(context.Context, string, string) ([]corev1.Pod, error) {
	return nil, errors.New("the cache is not synced")
}
