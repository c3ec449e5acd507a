package patch

import (
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const deferDir = "gh_binder-examples_requirements"

// openServer is bitnik's named server `server` (dynamic storage, claim-bitnik) as the webhook's cache
// holds it: mutated, with deferDir open, Running. Server "" is a default server still in the cache
// under another name (jupyter-bitnik-old: the launched pod is jupyter-bitnik).
func openServer(t *testing.T, server string) *corev1.Pod {
	t.Helper()
	in := fixture(t, "z2jh4-binderhub-dynamic")
	in.Name = "jupyter-bitnik--" + server
	if server == "" {
		in.Name = "jupyter-bitnik-old"
	}
	in.Labels[contract.AnnotationHubServername] = server
	in.Annotations[contract.AnnotationHubServername] = server
	out, errs := mutate(in, testConfig(), Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out.Status.Phase = corev1.PodRunning
	return out
}

// launchBeside admits bitnik's default server launching deferDir at the fixture's commit, with the
// update asked for as ask says, while the cache holds others: OpenServers picks from them what
// Apply gets, as the webhook does.
func launchBeside(t *testing.T, ask string, others ...*corev1.Pod) (*corev1.Pod, Config, Registered) {
	t.Helper()
	in := fixture(t, "z2jh4-binderhub-dynamic")
	cfg, reg := askFor(in, ask)
	before := in.DeepCopy()
	var cached []corev1.Pod
	for _, o := range others {
		cached = append(cached, *o)
	}
	reg.OpenElsewhere = OpenServers(in, userClaim(in, cfg), cached)
	out, errs := mutate(in, cfg, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("the mutation modified its input (-before +after):\n%s", diff)
	}
	assertIdempotent(t, out, cfg, reg)
	return out, cfg, reg
}

var deferQueued = contract.QueueEntry{Dir: deferDir, QueuedAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}

// askFor asks for an update of in's project in one of the three ways: UpdateAskedQueue (a request
// queued on the claim), UpdateAskedAnnotation (the pod annotation), UpdateAskedOnLaunch (a recorded
// commit other than the launched one), or none ("").
func askFor(in *corev1.Pod, ask string) (Config, Registered) {
	cfg := testConfig()
	var reg Registered
	switch ask {
	case contract.UpdateAskedQueue:
		reg.Updates = []contract.QueueEntry{deferQueued}
	case contract.UpdateAskedAnnotation:
		in.Annotations[contract.AnnotationUpdate] = "true"
	case contract.UpdateAskedOnLaunch:
		cfg.UpdateOnLaunch = true
		reg.Commits = map[contract.ProjectDir]string{deferDir: "0000000old"}
	}
	return cfg, reg
}

func TestAnUpdateIsDeferredWhileTheProjectIsOpenInAnotherServerOfTheUser(t *testing.T) {
	for _, tc := range []struct {
		ask        string
		annotation string // the value of AnnotationUpdateDeferred
	}{
		{contract.UpdateAskedQueue, `{"asked":"queue","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}`},
		{contract.UpdateAskedAnnotation, `{"asked":"annotation","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}`},
		{contract.UpdateAskedOnLaunch, `{"asked":"update-on-launch","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}`},
	} {
		t.Run("asked for by "+tc.ask+": no update, nothing handed, the pod says which server has it open", func(t *testing.T) {
			got, cfg, _ := launchBeside(t, tc.ask, openServer(t, "busy"))
			// Exactly the pod of a launch that asked for nothing, with the deferral recorded (and the
			// launcher's own annotation, where it asked by annotation).
			want, errs := mutate(fixture(t, "z2jh4-binderhub-dynamic"), cfg, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if tc.ask == contract.UpdateAskedAnnotation {
				want.Annotations[contract.AnnotationUpdate] = "true"
			}
			want.Annotations[contract.AnnotationUpdateDeferred] = tc.annotation
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mutated pod (-want +got):\n%s", diff)
			}
			d, err := contract.DeferredUpdate(got.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&contract.UpdateDeferral{Asked: tc.ask, Open: []contract.OpenServer{{Pod: "jupyter-bitnik--busy", Server: "busy"}}}, d); diff != "" {
				t.Errorf("DeferredUpdate (-want +got):\n%s", diff)
			}
		})
		t.Run("asked for by "+tc.ask+" with no other server open: the update is handed, nothing deferred", func(t *testing.T) {
			got, cfg, reg := launchBeside(t, tc.ask)
			in := fixture(t, "z2jh4-binderhub-dynamic")
			askFor(in, tc.ask)
			want, errs := mutate(in, cfg, Registered{Updates: reg.Updates, Commits: reg.Commits})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mutated pod (-want +got):\n%s", diff)
			}
			if env, _ := initEnv(t, got, "binder-projects-init"); env[contract.EnvUpdate] != "1" {
				t.Errorf("%s=%q, want the update handed", contract.EnvUpdate, env[contract.EnvUpdate])
			}
			if _, ok := got.Annotations[contract.AnnotationUpdateDeferred]; ok {
				t.Errorf("%s is set with no other server open", contract.AnnotationUpdateDeferred)
			}
		})
	}

	t.Run("every server that has the project open is named, by pod name", func(t *testing.T) {
		got, _, _ := launchBeside(t, contract.UpdateAskedQueue, openServer(t, "zeta"), openServer(t, ""), openServer(t, "alpha"))
		want := `{"asked":"queue","open":[{"pod":"jupyter-bitnik--alpha","server":"alpha"},{"pod":"jupyter-bitnik--zeta","server":"zeta"},{"pod":"jupyter-bitnik-old","server":""}]}`
		if diff := cmp.Diff(want, got.Annotations[contract.AnnotationUpdateDeferred]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", contract.AnnotationUpdateDeferred, diff)
		}
	})

	t.Run("a server being deleted is named as still stopping", func(t *testing.T) {
		stopping := openServer(t, "busy")
		stopping.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
		got, _, _ := launchBeside(t, contract.UpdateAskedQueue, stopping)
		want := `{"asked":"queue","open":[{"pod":"jupyter-bitnik--busy","server":"busy","stopping":true}]}`
		if diff := cmp.Diff(want, got.Annotations[contract.AnnotationUpdateDeferred]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", contract.AnnotationUpdateDeferred, diff)
		}
	})

	t.Run("a launch that asks for no update records no deferral, whatever is open", func(t *testing.T) {
		got, _, _ := launchBeside(t, "", openServer(t, "busy"))
		if v, ok := got.Annotations[contract.AnnotationUpdateDeferred]; ok {
			t.Errorf("%s = %s, but no update was asked for", contract.AnnotationUpdateDeferred, v)
		}
	})
}

func TestOnlyTheUsersOwnLiveServersOnTheSameClaimWithTheSameProjectDeferAnUpdate(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		other    func(t *testing.T) *corev1.Pod
		defers   bool
	}{
		{"a running server of the user with the project open defers", func(t *testing.T) *corev1.Pod { return openServer(t, "busy") }, true},
		{"a server still starting (Pending) defers: it is about to open the project", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Status.Phase = corev1.PodPending
			return p
		}, true},
		{"a terminating server defers until it is gone: its kernels may still write", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
			return p
		}, true},
		{"a server that has ended (Succeeded) does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Status.Phase = corev1.PodSucceeded
			return p
		}, false},
		{"a server that has ended (Failed) does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Status.Phase = corev1.PodFailed
			return p
		}, false},
		{"another user's server on another claim, with the same project open, does not defer", func(t *testing.T) *corev1.Pod {
			in := fixture(t, "helper-image-volume-update-annotation") // dora, storage none: claim-dora
			delete(in.Annotations, contract.AnnotationUpdate)
			p, errs := mutate(in, testConfig(), Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if p.Annotations[contract.AnnotationProjectDir] != deferDir || userClaim(p, testConfig()) != "claim-dora" {
				t.Fatalf("dora's pod has %s on %s", p.Annotations[contract.AnnotationProjectDir], userClaim(p, testConfig()))
			}
			p.Status.Phase = corev1.PodRunning
			return p
		}, false},
		{"a pod with the user's label but another user's name does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Annotations[contract.AnnotationHubUsername] = "bitnik2"
			return p
		}, false},
		{"a server of the user on another claim (its own per-server claim) does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "claim-bitnik--busy"
			p.Annotations[contract.AnnotationClaim] = "claim-bitnik--busy"
			return p
		}, false},
		{"a server of the user with another project open does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Annotations[contract.AnnotationProjectDir] = "gh_bitnik_other"
			return p
		}, false},
		{"a pod the webhook did not mutate does not defer (it has no project open)", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			delete(p.Annotations, contract.AnnotationStatus)
			return p
		}, false},
		{"the launched pod itself does not defer (a reinvocation, or the same name still in the cache)", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Name = "jupyter-bitnik"
			return p
		}, false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			got, _, _ := launchBeside(t, contract.UpdateAskedQueue, tc.other(t))
			env, _ := initEnv(t, got, "binder-projects-init")
			handed, err := contract.HandedUpdate(got.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			_, deferred := got.Annotations[contract.AnnotationUpdateDeferred]
			if deferred != tc.defers || (env[contract.EnvUpdate] == "1") == tc.defers || (handed != nil) == tc.defers {
				t.Errorf("deferred: %v (%s), %s=%q, handed %+v; want deferred: %v", deferred, got.Annotations[contract.AnnotationUpdateDeferred], contract.EnvUpdate, env[contract.EnvUpdate], handed, tc.defers)
			}
		})
	}
}

func TestOpenServersNamesEachServerWithTheProjectItHasOpen(t *testing.T) {
	in := fixture(t, "z2jh4-binderhub-dynamic")
	other := openServer(t, "busy")
	other.Annotations[contract.AnnotationProjectDir] = "gh_bitnik_other"
	ended := openServer(t, "ended")
	ended.Status.Phase = corev1.PodSucceeded
	stopping := openServer(t, "b")
	stopping.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	got := OpenServers(in, "claim-bitnik", []corev1.Pod{*stopping, *ended, *other, *openServer(t, "")})
	want := []contract.OpenServer{
		{Pod: "jupyter-bitnik--b", Server: "b", Stopping: true, Dir: deferDir},
		{Pod: "jupyter-bitnik--busy", Server: "busy", Dir: "gh_bitnik_other"},
		{Pod: "jupyter-bitnik-old", Server: "", Dir: deferDir},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OpenServers (-want +got):\n%s", diff)
	}
	noLabel := in.DeepCopy()
	delete(noLabel.Labels, contract.AnnotationHubUsername)
	if got := OpenServers(noLabel, "claim-bitnik", []corev1.Pod{*openServer(t, "b")}); got != nil {
		t.Errorf("a pod without the username label found %+v, want nothing (whose servers would they be?)", got)
	}
}
