package patch

import (
	"testing"
	"time"

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
	in.Labels[AnnotationHubServername] = server
	in.Annotations[AnnotationHubServername] = server
	out, errs := Mutate(in, testConfig())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out.Status.Phase = corev1.PodRunning
	return out
}

// launchBeside admits bitnik's default server launching deferDir at the fixture's commit, with the
// update asked for as ask says, while the cache holds others: OpenServers picks from them what
// MutateWith gets, as the webhook does.
func launchBeside(t *testing.T, ask string, others ...*corev1.Pod) (*corev1.Pod, Config, Registered) {
	t.Helper()
	in := fixture(t, "z2jh4-binderhub-dynamic")
	cfg, reg := askFor(in, ask)
	before := in.DeepCopy()
	var cached []corev1.Pod
	for _, o := range others {
		cached = append(cached, *o)
	}
	reg.OpenElsewhere = OpenServers(in, UserClaim(in, cfg), cfg, cached)
	out, errs := MutateWith(in, cfg, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("MutateWith modified its input (-before +after):\n%s", diff)
	}
	assertIdempotent(t, out, cfg, reg)
	return out, cfg, reg
}

var deferQueued = QueuedUpdate{Dir: deferDir, QueuedAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}

// askFor asks for an update of in's project in one of the three ways: UpdateAskedQueue (a request
// queued on the claim), UpdateAskedAnnotation (the pod annotation), UpdateAskedOnLaunch (a recorded
// commit other than the launched one), or none ("").
func askFor(in *corev1.Pod, ask string) (Config, Registered) {
	cfg := testConfig()
	var reg Registered
	switch ask {
	case UpdateAskedQueue:
		reg.Updates = []QueuedUpdate{deferQueued}
	case UpdateAskedAnnotation:
		in.Annotations[AnnotationUpdate] = "true"
	case UpdateAskedOnLaunch:
		cfg.UpdateOnLaunch = true
		reg.Commits = map[string]string{deferDir: "0000000old"}
	}
	return cfg, reg
}

func TestAnUpdateIsDeferredWhileTheProjectIsOpenInAnotherServerOfTheUser(t *testing.T) {
	for _, tc := range []struct {
		ask        string
		annotation string // the value of AnnotationUpdateDeferred
	}{
		{UpdateAskedQueue, `{"asked":"queue","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}`},
		{UpdateAskedAnnotation, `{"asked":"annotation","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}`},
		{UpdateAskedOnLaunch, `{"asked":"update-on-launch","open":[{"pod":"jupyter-bitnik--busy","server":"busy"}]}`},
	} {
		t.Run("asked for by "+tc.ask+": no update, nothing handed, the pod says which server has it open", func(t *testing.T) {
			got, cfg, _ := launchBeside(t, tc.ask, openServer(t, "busy"))
			// Exactly the pod of a launch that asked for nothing, with the deferral recorded (and the
			// launcher's own annotation, where it asked by annotation).
			want, errs := MutateWith(fixture(t, "z2jh4-binderhub-dynamic"), cfg, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if tc.ask == UpdateAskedAnnotation {
				want.Annotations[AnnotationUpdate] = "true"
			}
			want.Annotations[AnnotationUpdateDeferred] = tc.annotation
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mutated pod (-want +got):\n%s", diff)
			}
			d, err := DeferredUpdate(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&UpdateDeferral{Asked: tc.ask, Open: []OpenServer{{Pod: "jupyter-bitnik--busy", Server: "busy"}}}, d); diff != "" {
				t.Errorf("DeferredUpdate (-want +got):\n%s", diff)
			}
		})
		t.Run("asked for by "+tc.ask+" with no other server open: the update is handed, nothing deferred", func(t *testing.T) {
			got, cfg, reg := launchBeside(t, tc.ask)
			in := fixture(t, "z2jh4-binderhub-dynamic")
			askFor(in, tc.ask)
			want, errs := MutateWith(in, cfg, Registered{Updates: reg.Updates, Commits: reg.Commits})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mutated pod (-want +got):\n%s", diff)
			}
			if env, _ := initEnv(t, got, "binder-projects-init"); env[EnvUpdate] != "1" {
				t.Errorf("%s=%q, want the update handed", EnvUpdate, env[EnvUpdate])
			}
			if _, ok := got.Annotations[AnnotationUpdateDeferred]; ok {
				t.Errorf("%s is set with no other server open", AnnotationUpdateDeferred)
			}
		})
	}

	t.Run("every server that has the project open is named, by pod name", func(t *testing.T) {
		got, _, _ := launchBeside(t, UpdateAskedQueue, openServer(t, "zeta"), openServer(t, ""), openServer(t, "alpha"))
		want := `{"asked":"queue","open":[{"pod":"jupyter-bitnik--alpha","server":"alpha"},{"pod":"jupyter-bitnik--zeta","server":"zeta"},{"pod":"jupyter-bitnik-old","server":""}]}`
		if diff := cmp.Diff(want, got.Annotations[AnnotationUpdateDeferred]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", AnnotationUpdateDeferred, diff)
		}
	})

	t.Run("a server being deleted is named as still stopping", func(t *testing.T) {
		stopping := openServer(t, "busy")
		stopping.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
		got, _, _ := launchBeside(t, UpdateAskedQueue, stopping)
		want := `{"asked":"queue","open":[{"pod":"jupyter-bitnik--busy","server":"busy","stopping":true}]}`
		if diff := cmp.Diff(want, got.Annotations[AnnotationUpdateDeferred]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", AnnotationUpdateDeferred, diff)
		}
	})

	t.Run("a launch that asks for no update records no deferral, whatever is open", func(t *testing.T) {
		got, _, _ := launchBeside(t, "", openServer(t, "busy"))
		if v, ok := got.Annotations[AnnotationUpdateDeferred]; ok {
			t.Errorf("%s = %s, but no update was asked for", AnnotationUpdateDeferred, v)
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
			delete(in.Annotations, AnnotationUpdate)
			p, errs := Mutate(in, testConfig())
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if p.Annotations[AnnotationProjectDir] != deferDir || UserClaim(p, testConfig()) != "claim-dora" {
				t.Fatalf("dora's pod has %s on %s", p.Annotations[AnnotationProjectDir], UserClaim(p, testConfig()))
			}
			p.Status.Phase = corev1.PodRunning
			return p
		}, false},
		{"a pod with the user's label but another user's name does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Annotations[AnnotationHubUsername] = "bitnik2"
			return p
		}, false},
		{"a server of the user on another claim (its own per-server claim) does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "claim-bitnik--busy"
			return p
		}, false},
		{"a server of the user with another project open does not defer", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Annotations[AnnotationProjectDir] = "gh_bitnik_other"
			return p
		}, false},
		{"a pod the webhook did not mutate does not defer (it has no project open)", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			delete(p.Annotations, AnnotationStatus)
			return p
		}, false},
		{"the launched pod itself does not defer (a reinvocation, or the same name still in the cache)", func(t *testing.T) *corev1.Pod {
			p := openServer(t, "busy")
			p.Name = "jupyter-bitnik"
			return p
		}, false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			got, _, _ := launchBeside(t, UpdateAskedQueue, tc.other(t))
			env, _ := initEnv(t, got, "binder-projects-init")
			handed, err := HandedUpdate(got)
			if err != nil {
				t.Fatal(err)
			}
			_, deferred := got.Annotations[AnnotationUpdateDeferred]
			if deferred != tc.defers || (env[EnvUpdate] == "1") == tc.defers || (handed != nil) == tc.defers {
				t.Errorf("deferred: %v (%s), %s=%q, handed %+v; want deferred: %v", deferred, got.Annotations[AnnotationUpdateDeferred], EnvUpdate, env[EnvUpdate], handed, tc.defers)
			}
		})
	}
}

func TestOpenServersNamesEachServerWithTheProjectItHasOpen(t *testing.T) {
	in := fixture(t, "z2jh4-binderhub-dynamic")
	other := openServer(t, "busy")
	other.Annotations[AnnotationProjectDir] = "gh_bitnik_other"
	ended := openServer(t, "ended")
	ended.Status.Phase = corev1.PodSucceeded
	stopping := openServer(t, "b")
	stopping.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	got := OpenServers(in, "claim-bitnik", testConfig(), []corev1.Pod{*stopping, *ended, *other, *openServer(t, "")})
	want := []OpenServer{
		{Pod: "jupyter-bitnik--b", Server: "b", Stopping: true, Dir: deferDir},
		{Pod: "jupyter-bitnik--busy", Server: "busy", Dir: "gh_bitnik_other"},
		{Pod: "jupyter-bitnik-old", Server: "", Dir: deferDir},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OpenServers (-want +got):\n%s", diff)
	}
	noLabel := in.DeepCopy()
	delete(noLabel.Labels, AnnotationHubUsername)
	if got := OpenServers(noLabel, "claim-bitnik", testConfig(), []corev1.Pod{*openServer(t, "b")}); got != nil {
		t.Errorf("a pod without the username label found %+v, want nothing (whose servers would they be?)", got)
	}
}

func TestABadDeferralAnnotationIsAnError(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationUpdateDeferred: `{"asked":`}}}
	if _, err := DeferredUpdate(pod); err == nil {
		t.Error("DeferredUpdate accepts a value that does not parse")
	}
	if d, err := DeferredUpdate(&corev1.Pod{}); d != nil || err != nil {
		t.Errorf("DeferredUpdate of a pod without it = %+v, %v; want nil, nil", d, err)
	}
}
