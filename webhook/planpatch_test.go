package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

// The property: for every pod, the plan patch applied to the request gives the same pod as the
// library's diff of Mutate's output applied to it. "The same pod" (samePod) is what an API server
// makes of it: the same corev1.Pod when decoded (apiequality.Semantic, as the API server compares
// quantities and times), and the same members that our k8s.io/api does not know, at the same
// places with the same values (a newer API server knows them). The two patches may differ only in
// members that decode to nothing: the library re-sends what json.Marshal writes for an empty struct
// (status: {}, resources: {}) and drops nothing else.

// samePod returns "" when a and b (pods as JSON) are the same pod, else what differs.
func samePod(t testing.TB, a, b []byte) string {
	t.Helper()
	pa, pb := decodeTestPod(t, a), decodeTestPod(t, b)
	if !apiequality.Semantic.DeepEqual(pa, pb) {
		return "decoded pods differ (-a +b):\n" + cmp.Diff(pa, pb)
	}
	ra, rb := unknownMembers(t, a), unknownMembers(t, b)
	if !reflect.DeepEqual(ra, rb) {
		return "members unknown to k8s.io/api differ (-a +b):\n" + cmp.Diff(ra, rb)
	}
	return ""
}

// decodeTestPod is the pod as an API server keeps it: decoded, encoded and decoded again (so that
// times and quantities are in their canonical form, which the library's diff writes back as a side
// effect and the plan patch leaves as the request had them).
func decodeTestPod(t testing.TB, podJSON []byte) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(podJSON, &p); err != nil {
		t.Fatalf("not a pod: %v", err)
	}
	j, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	var canonical corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &canonical); err != nil {
		t.Fatal(err)
	}
	return &canonical
}

// unknownMembers is every member of doc, except nulls, that decoding into a corev1.Pod drops (what a newer API
// server may know, and empty values json.Marshal omits), by JSON pointer, with its value.
func unknownMembers(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	typed, err := json.Marshal(decodeTestPod(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := jsonpatch.CreatePatch(doc, typed)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, o := range ops {
		if o.Operation != "remove" {
			continue
		}
		// A member whose value is null decodes as an absent one, for any API server.
		if v := pointerGet(t, tree, o.Path); v != nil {
			out[o.Path] = v
		}
	}
	return out
}

func pointerGet(t testing.TB, v any, pointer string) any {
	t.Helper()
	for _, tok := range strings.Split(pointer, "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i >= len(x) {
				t.Fatalf("pointer %s: no element %q", pointer, tok)
			}
			v = x[i]
		default:
			t.Fatalf("pointer %s: %q inside a scalar", pointer, tok)
		}
	}
	return v
}

// fakeRegistry hands every claim the same deletion queue.
type fakeRegistry struct{ queue []projects.Queued }

func (f fakeRegistry) Registry(context.Context, string, string) (projects.Registry, string, error) {
	return projects.Registry{Deletions: f.queue}, "", nil
}

var (
	webhooksMu sync.Mutex
	webhooks   = map[string]*admission.Webhook{}
)

// propertyConfigs are the configurations the property is checked with: the helper in each mode (its
// volume, mount and commit; in init-container mode, its init container).
var propertyConfigs = func() []patch.Config {
	imageVolume := testConfig()
	imageVolume.HelperMode = patch.HelperImageVolume
	initContainer := imageVolume
	initContainer.HelperMode = patch.HelperInitContainer
	return []patch.Config{imageVolume, initContainer}
}()

// webhookFor is the webhook with cfg in mode whose registry holds queue (built once: a scheme is
// costly).
func webhookFor(cfg patch.Config, queue []projects.Queued, mode PatchMode) *admission.Webhook {
	key := fmt.Sprint(cfg, queue, mode)
	webhooksMu.Lock()
	defer webhooksMu.Unlock()
	if wh, ok := webhooks[key]; ok {
		return wh
	}
	opts := []Option{WithPatchMode(mode)}
	if queue != nil {
		opts = append(opts, WithRegistry(fakeRegistry{queue}, 0))
	}
	webhooks[key] = NewWebhook(cfg, logr.Discard(), opts...)
	return webhooks[key]
}

// propertyCase checks the property on one request pod with testConfig.
func propertyCase(t testing.TB, podJSON []byte, queue []projects.Queued) bool {
	t.Helper()
	return propertyCaseWith(t, testConfig(), podJSON, queue)
}

// propertyCaseWith checks the property on one request pod with cfg. It returns whether Mutate
// rewrote the pod.
func propertyCaseWith(t testing.TB, cfg patch.Config, podJSON []byte, queue []projects.Queued) bool {
	t.Helper()
	m := &PodMutator{Config: cfg}
	if queue != nil {
		m.Registry = fakeRegistry{queue}
	}
	var in corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(podJSON, &in); err != nil {
		t.Fatalf("the generated pod does not decode: %v", err)
	}
	inCopy := in.DeepCopy()
	out, err := m.mutate(context.Background(), &in)
	if err != nil || out == nil {
		return false
	}
	if !reflect.DeepEqual(&in, inCopy) {
		t.Fatal("mutate changed its input")
	}
	plan, err := planPatch(podJSON, &in, out)
	if err != nil {
		t.Fatalf("the plan patch does not cover this pod: %v\npod: %s", err, podJSON)
	}
	checkDisjoint(t, plan)

	library := reviewPatch(t, webhookFor(cfg, queue, PatchDiff), podJSON)
	fromPlan, fromLibrary := applyJSONPatch(t, podJSON, plan), applyJSONPatch(t, podJSON, library)
	if d := samePod(t, fromPlan, fromLibrary); d != "" {
		t.Fatalf("the plan patch makes another pod than the library's diff:\n%s\npod: %s\nplan: %s\nlibrary: %s", d, podJSON, string(plan), string(library))
	}
	// And the handler answers with the plan patch (no fallback to the library: a replaced init
	// container's operations come from a diff of maps, in no fixed order).
	served := reviewPatch(t, webhookFor(cfg, queue, PatchPlan), podJSON)
	checkDisjoint(t, served)
	if !bytes.Equal(applyJSONPatch(t, podJSON, served), fromPlan) {
		t.Fatalf("the served patch is not the plan patch:\n%s\nwant %s", string(served), string(plan))
	}
	return true
}

// reviewPatch is the JSON patch wh answers for a CREATE of podJSON (nil: none).
func reviewPatch(t testing.TB, wh *admission.Webhook, podJSON []byte) []byte {
	t.Helper()
	resp := wh.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "property", Operation: admissionv1.Create, Namespace: "bhub",
		Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Object: runtime.RawExtension{Raw: podJSON},
	}})
	if !resp.Allowed {
		t.Fatalf("refused: %v", resp.Result)
	}
	return resp.Patch
}

func applyJSONPatch(t testing.TB, doc, p []byte) []byte {
	t.Helper()
	if p == nil {
		return doc
	}
	dp, err := jsonpatchv4.DecodePatch(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := dp.Apply(doc)
	if err != nil {
		t.Fatalf("the patch does not apply: %v\npatch: %s\ndoc: %s", err, string(p), doc)
	}
	return out
}

// checkDisjoint fails unless no operation of p writes a path that another operation writes, or
// one inside or around it (vault-k8s's failure: add /spec/volumes, add /spec/volumes/-, add
// /spec/volumes again), and no path appends with "-".
func checkDisjoint(t testing.TB, p []byte) {
	t.Helper()
	var ops []struct{ Op, Path string }
	if err := json.Unmarshal(p, &ops); err != nil {
		t.Fatalf("not a JSON patch: %v", err)
	}
	for i, a := range ops {
		if strings.HasSuffix(a.Path, "/-") {
			t.Errorf("operation %d appends with -: %s %s", i, a.Op, a.Path)
		}
		for j, b := range ops[:i] {
			if a.Path == b.Path || strings.HasPrefix(a.Path, b.Path+"/") || strings.HasPrefix(b.Path, a.Path+"/") {
				t.Errorf("operations %d (%s %s) and %d (%s %s) overlap", j, b.Op, b.Path, i, a.Op, a.Path)
			}
		}
	}
}

func TestPatchBuilderRefusesOverlappingOperations(t *testing.T) {
	for _, tt := range []struct {
		sentence string
		first    string
		second   string
	}{
		{"an array created whole is not appended to", "/spec/volumes", "/spec/volumes/1"},
		{"an array appended to is not created whole afterwards (vault-k8s)", "/spec/volumes/1", "/spec/volumes"},
		{"a path is not written twice", "/metadata/annotations/a", "/metadata/annotations/a"},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			var b patchBuilder
			if err := b.add(tt.first, 1); err != nil {
				t.Fatal(err)
			}
			if err := b.add(tt.second, 2); err == nil {
				t.Errorf("add %s after add %s was accepted", tt.second, tt.first)
			}
		})
	}
	t.Run("appending with - is refused", func(t *testing.T) {
		var b patchBuilder
		if err := b.add("/spec/volumes/-", 1); err == nil {
			t.Error("add /spec/volumes/- was accepted")
		}
	})
	t.Run("siblings are fine", func(t *testing.T) {
		var b patchBuilder
		for _, p := range []string{"/spec/volumes/1", "/spec/volumes/2", "/spec/volumesX"} {
			if err := b.add(p, 1); err != nil {
				t.Error(err)
			}
		}
	})
}

func TestPointerEscape(t *testing.T) {
	for in, want := range map[string]string{
		"binder-projects.io/status": "binder-projects.io~1status",
		"a~b/c":                     "a~0b~1c",
		"~1":                        "~01",
		"plain":                     "plain",
	} {
		if got := pointerEscape(in); got != want {
			t.Errorf("pointerEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlanPatchOnFixtures: every captured fixture (testdata holds byte-for-byte copies of the shared
// ones: TestTheFixturesAreTheSharedOnes) and every golden input whose pod is mutated.
func TestPlanPatchOnFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	mutated := 0
	for _, f := range files {
		if strings.HasSuffix(f, goldenSuffix) {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		podJSON, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(f, func(t *testing.T) {
			for _, queue := range [][]projects.Queued{nil, {{Dir: "gh_old_project", QueuedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}}} {
				for _, cfg := range propertyConfigs {
					if propertyCaseWith(t, cfg, podJSON, queue) {
						mutated++
					}
				}
			}
		})
	}
	if mutated < 10 {
		t.Errorf("only %d fixture cases were mutated: the property was hardly tested", mutated)
	}
}

// TestPlanPatchOnGeneratedPods: the property on seeded random pods of every shape the plan must get
// right (genPod).
func TestPlanPatchOnGeneratedPods(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	mutated := 0
	mutatedBy := make([]int, len(propertyConfigs))
	shapes := map[string]int{}
	for seed := range uint64(n) {
		podJSON, queue, shape := genPod(seed)
		c := seed % uint64(len(propertyConfigs))
		if propertyCaseWith(t, propertyConfigs[c], podJSON, queue) {
			mutated++
			mutatedBy[c]++
			for _, s := range shape {
				shapes[s]++
			}
		}
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
	if mutated < n/3 {
		t.Errorf("only %d of %d generated pods were mutated", mutated, n)
	}
	for c, k := range mutatedBy {
		if k < n/10 {
			t.Errorf("only %d generated pods were mutated with the configuration %+v", k, propertyConfigs[c])
		}
	}
	for _, s := range genShapes {
		if shapes[s] < 5 {
			t.Errorf("shape %q was mutated only %d times", s, shapes[s])
		}
	}
	t.Logf("%d of %d mutated; shapes: %v", mutated, n, shapes)
}

func FuzzPlanPatchGenerated(f *testing.F) {
	for seed := range uint64(20) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		podJSON, queue, _ := genPod(seed)
		propertyCaseWith(t, propertyConfigs[seed%uint64(len(propertyConfigs))], podJSON, queue)
	})
}

var fuzzDecoder = func() admission.Decoder {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	return admission.NewDecoder(scheme)
}()

// FuzzPlanPatchRaw mutates the request's bytes themselves (seeded with the fixtures): any JSON object
// without duplicate member names that decodes into a pod Mutate rewrites.
func FuzzPlanPatchRaw(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		if strings.HasSuffix(file, goldenSuffix) {
			continue
		}
		raw, _ := os.ReadFile(file)
		if j, err := yaml.YAMLToJSON(raw); err == nil {
			f.Add(j)
		}
	}
	for seed := range uint64(10) {
		j, _, _ := genPod(seed)
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, podJSON []byte) {
		var tree map[string]any
		strict, err := sigsjson.UnmarshalStrict(podJSON, &tree, sigsjson.DisallowDuplicateFields)
		if err != nil || len(strict) > 0 {
			return // not a JSON object, or one with duplicate member names
		}
		var p corev1.Pod
		if sigsjson.UnmarshalCaseSensitivePreserveInts(podJSON, &p) != nil {
			return
		}
		var library corev1.Pod
		if fuzzDecoder.DecodeRaw(runtime.RawExtension{Raw: podJSON}, &library) != nil {
			return // controller-runtime refuses it (400) in both modes
		}
		propertyCase(t, podJSON, nil)
	})
}

// genShapes are the shapes genPod covers; the test checks each was mutated several times.
var genShapes = []string{
	"no volumes", "volumes: null", "volumes: []", "other volumes",
	"no initContainers", "initContainers: null", "initContainers of others", "stale init container of our name",
	"no volumeMounts", "volumeMounts: null", "home mount", "home mount with our subPath", "projects mount",
	"no annotations", "annotations: null", "annotations: {}", "stale deletions annotation", "queued deletions",
	"no affinity", "affinity: null", "affinity: {}", "node affinity", "other pod affinity terms", "our affinity term",
	"unknown fields", "sidecar container", "no labels for affinity",
}

// genPod makes a BinderHub-shaped singleuser pod from seed, as an API server would send it (the JSON
// encoding of a pod, with members our k8s.io/api does not know and explicit nulls and empty arrays
// where the shape says), the registry's deletion queue, and the shapes it has.
func genPod(seed uint64) ([]byte, []projects.Queued, []string) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var shape []string
	has := func(s string) { shape = append(shape, s) }
	user := []string{"bitnik", "alice", "user-1", "jo.ann"}[r.IntN(4)]
	pick := func(p float64) bool { return r.Float64() < p }

	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "jupyter-" + user, Namespace: "bhub", Labels: map[string]string{contract.LabelComponent: contract.ComponentSingleuser}},
	}
	if pick(0.8) {
		pod.Labels[contract.AnnotationHubUsername] = user
	} else {
		has("no labels for affinity")
	}
	annotations := map[string]string{}
	if pick(0.7) {
		annotations[contract.AnnotationHubUsername] = user
	}
	if pick(0.2) {
		annotations["example.org/with~tilde"] = "x"
	}
	if pick(0.2) {
		annotations[contract.AnnotationDeletions] = `[{"dir":"gh_stale","queuedAt":"2025-01-01T00:00:00Z"}]`
		has("stale deletions annotation")
	}
	if pick(0.15) {
		annotations[contract.AnnotationProjectDir] = "gh_something_else"
	}
	nb := corev1.Container{
		Name:  "notebook",
		Image: "registry.example/binder-" + user + ":abc",
		Env: []corev1.EnvVar{
			{Name: "JUPYTERHUB_API_TOKEN", Value: "sentinel-token"},
			{Name: contract.EnvPersistentRequest, Value: "v2/gh/binder-examples/requirements/1234abcd"},
		},
	}
	repo := "https://github.com/binder-examples/requirements"
	if pick(0.2) {
		annotations[contract.AnnotationRepoURL] = repo
	} else {
		nb.Env = append(nb.Env, corev1.EnvVar{Name: contract.EnvRepoURL, Value: repo})
	}
	dir := "gh_binder-examples_requirements"
	if pick(0.5) {
		nb.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1G")}}
	}
	if pick(0.5) {
		uid := int64(1000)
		nb.SecurityContext = &corev1.SecurityContext{RunAsUser: &uid}
	}
	volName, claim := "volume-"+user, "claim-"+user
	var volumes []corev1.Volume
	if pick(0.3) {
		volumes = append(volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		has("other volumes")
	}
	if pick(0.6) { // storage dynamic: the claim is mounted at the home
		volumes = append(volumes, corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
		sub := ""
		if pick(0.3) {
			sub = dir
			has("home mount with our subPath")
		}
		nb.VolumeMounts = append(nb.VolumeMounts, corev1.VolumeMount{Name: volName, MountPath: "/home/jovyan", SubPath: sub})
		has("home mount")
		if pick(0.3) {
			nb.VolumeMounts = append(nb.VolumeMounts, corev1.VolumeMount{Name: volName, MountPath: "/projects"})
			has("projects mount")
		}
	} else {
		annotations[contract.AnnotationHubUsername] = user // storage none: the claim is named from the user
	}
	if pick(0.3) {
		nb.VolumeMounts = append(nb.VolumeMounts, corev1.VolumeMount{Name: "scratch-or-token", MountPath: "/var/run/x", ReadOnly: true})
		if !slices.ContainsFunc(volumes, func(v corev1.Volume) bool { return v.Name == "scratch" }) {
			volumes = append(volumes, corev1.Volume{Name: "scratch-or-token", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		} else {
			nb.VolumeMounts[len(nb.VolumeMounts)-1].Name = "scratch"
		}
	}
	if len(nb.VolumeMounts) == 0 {
		has("no volumeMounts")
	}
	pod.Spec.Volumes = volumes
	containers := []corev1.Container{nb}
	if pick(0.25) {
		side := corev1.Container{Name: "sidecar", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "x", MountPath: "/x"}}}
		if pick(0.5) {
			containers = append([]corev1.Container{side}, containers...)
		} else {
			containers = append(containers, side)
		}
		has("sidecar container")
	}
	pod.Spec.Containers = containers
	var inits []corev1.Container
	if pick(0.4) {
		inits = append(inits, corev1.Container{Name: "block-cloud-metadata", Image: "busybox", Command: []string{"iptables"}})
		has("initContainers of others")
	}
	if pick(0.2) {
		stale := corev1.Container{Name: patch.DefaultConfig().InitContainerName, Image: "old-image", Command: []string{"/bin/sh", "-c", "old script"},
			Env: []corev1.EnvVar{{Name: "OLD", Value: "1"}, {Name: contract.EnvProject, Value: "gh_old"}}}
		if pick(0.5) {
			inits = append([]corev1.Container{stale}, inits...)
		} else {
			inits = append(inits, stale)
		}
		has("stale init container of our name")
	}
	pod.Spec.InitContainers = inits
	term := corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
		contract.LabelComponent: contract.ComponentSingleuser, contract.AnnotationHubUsername: user}}, TopologyKey: contract.LabelHostname}
	switch r.IntN(6) {
	case 0, 1:
		has("no affinity")
	case 2:
		pod.Spec.Affinity = &corev1.Affinity{}
		has("affinity: {}")
	case 3:
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "hub.jupyter.org/node-purpose", Operator: corev1.NodeSelectorOpIn, Values: []string{"user"}}}}}}}}
		has("node affinity")
	case 4:
		pod.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution:  []corev1.PodAffinityTerm{{TopologyKey: "topology.kubernetes.io/zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "x"}}}}}
		has("other pod affinity terms")
	case 5:
		pod.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}}
		has("our affinity term")
	}
	if len(annotations) > 0 || pick(0.2) {
		pod.Annotations = annotations
		if len(annotations) == 0 {
			has("annotations: {}")
		}
	} else {
		has("no annotations")
	}
	var queue []projects.Queued
	if pick(0.2) {
		queue = []projects.Queued{{Dir: "gh_deleted_one", QueuedAt: time.Date(2026, 3, 1, 2, 3, 4, 5, time.UTC)}}
		has("queued deletions")
	}

	b, err := json.Marshal(pod)
	if err != nil {
		panic(err)
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		panic(err)
	}
	spec := tree["spec"].(map[string]any)
	meta := tree["metadata"].(map[string]any)
	nbIndex := slices.IndexFunc(containers, func(c corev1.Container) bool { return c.Name == "notebook" })
	nbJSON := spec["containers"].([]any)[nbIndex].(map[string]any)

	// Explicit nulls and empty arrays where the encoding has nothing.
	nullOr := func(obj map[string]any, key, name string, empty any) {
		if _, ok := obj[key]; ok {
			return
		}
		switch r.IntN(3) {
		case 0:
			obj[key] = nil
			has(name + ": null")
		case 1:
			if empty != nil {
				obj[key] = empty
				has(name + ": []")
			} else if name == "volumes" {
				has("no volumes")
			}
		default:
			switch name {
			case "volumes":
				has("no volumes")
			case "initContainers":
				has("no initContainers")
			}
		}
	}
	nullOr(spec, "volumes", "volumes", []any{})
	nullOr(spec, "initContainers", "initContainers", []any{})
	nullOr(nbJSON, "volumeMounts", "volumeMounts", []any{})
	nullOr(meta, "annotations", "annotations", nil)
	nullOr(spec, "affinity", "affinity", nil)

	// Members our k8s.io/api does not know, everywhere the plan writes next to or inside.
	if pick(0.6) {
		has("unknown fields")
		unknown := func(obj map[string]any, key string) {
			if pick(0.6) {
				obj[key] = map[string]any{"from": "a newer API server", "n": float64(r.IntN(100))}
			}
		}
		unknown(tree, "futurePodField")
		unknown(meta, "futureMetaField")
		unknown(spec, "futureSpecField")
		unknown(nbJSON, "futureContainerField")
		for _, list := range []any{spec["volumes"], nbJSON["volumeMounts"], spec["initContainers"]} {
			if l, ok := list.([]any); ok {
				for _, e := range l {
					unknown(e.(map[string]any), "futureElementField")
				}
			}
		}
		if ics, ok := spec["initContainers"].([]any); ok {
			for _, ic := range ics {
				c := ic.(map[string]any)
				if sc, ok := c["securityContext"].(map[string]any); ok {
					unknown(sc, "futureSecurityField")
				}
				if env, ok := c["env"].([]any); ok && len(env) > 0 {
					unknown(env[0].(map[string]any), "futureEnvField")
				}
			}
		}
		if aff, ok := spec["affinity"].(map[string]any); ok {
			unknown(aff, "futureAffinityField")
			if pa, ok := aff["podAffinity"].(map[string]any); ok {
				unknown(pa, "futurePodAffinityField")
				if terms, ok := pa["requiredDuringSchedulingIgnoredDuringExecution"].([]any); ok {
					unknown(terms[0].(map[string]any), "futureTermField")
				}
			}
		}
	}
	out, err := json.Marshal(tree)
	if err != nil {
		panic(err)
	}
	return out, queue, shape
}

// TestGenPodIsDeterministic: a failing seed can be replayed.
func TestGenPodIsDeterministic(t *testing.T) {
	for seed := range uint64(20) {
		a, _, _ := genPod(seed)
		b, _, _ := genPod(seed)
		if !bytes.Equal(a, b) {
			t.Fatalf("genPod(%d) differs between calls", seed)
		}
	}
}

// TestSamePodTellsPodsApart: the comparison the property rests on is not blind.
func TestSamePodTellsPodsApart(t *testing.T) {
	base := `{"metadata":{"name":"a","futureMetaField":{"x":1}},"spec":{"containers":[{"name":"c","image":"i"}]}}`
	for _, tt := range []struct{ sentence, other string }{
		{"an unknown member dropped", `{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"i"}]}}`},
		{"an unknown member changed", `{"metadata":{"name":"a","futureMetaField":{"x":2}},"spec":{"containers":[{"name":"c","image":"i"}]}}`},
		{"a known field changed", `{"metadata":{"name":"b","futureMetaField":{"x":1}},"spec":{"containers":[{"name":"c","image":"i"}]}}`},
		{"an empty volume source dropped", `{"metadata":{"name":"a","futureMetaField":{"x":1}},"spec":{"containers":[{"name":"c","image":"i"}],"volumes":[{"name":"v"}]}}`},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			a, b := []byte(base), []byte(tt.other)
			if tt.sentence == "an empty volume source dropped" {
				a = []byte(`{"metadata":{"name":"a","futureMetaField":{"x":1}},"spec":{"containers":[{"name":"c","image":"i"}],"volumes":[{"name":"v","emptyDir":{}}]}}`)
			}
			if samePod(t, a, b) == "" {
				t.Errorf("samePod does not tell apart\n%s\n%s", a, b)
			}
		})
	}
	t.Run("what decodes to nothing is the same pod", func(t *testing.T) {
		b := `{"metadata":{"name":"a","futureMetaField":{"x":1},"creationTimestamp":null},"spec":{"containers":[{"name":"c","image":"i","resources":{}}]},"status":{}}`
		if d := samePod(t, []byte(base), []byte(b)); d != "" {
			t.Error(d)
		}
	})
}

func init() {
	// controller-runtime's log, never set in these tests, otherwise complains with a stack trace.
	crlog.SetLogger(logr.Discard())
}

// TestTheAdmissionPatchOfALaunchCarriesTheShortInitCommandAndStaysSmall: our init container runs
// the helper's binary with "init", written in the patch as it is (no encoding of its own), so the
// patch of the shared fixture stays a few kilobytes (with the embedded init script it was about 29 KB),
// in both helper modes and both patch modes.
func TestTheAdmissionPatchOfALaunchCarriesTheShortInitCommandAndStaysSmall(t *testing.T) {
	const limit = 4096
	raw, err := os.ReadFile("testdata/z2jh4-binderhub-dynamic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	podJSON, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range propertyConfigs {
		for _, mode := range []PatchMode{PatchPlan, PatchDiff} {
			t.Run(fmt.Sprintf("%s/patch=%s", cfg.HelperMode, mode), func(t *testing.T) {
				p := reviewPatch(t, webhookFor(cfg, nil, mode), podJSON)
				command, err := json.Marshal(cfg.InitCommand())
				if err != nil {
					t.Fatal(err)
				}
				if want := `"command":` + string(command); !strings.Contains(string(p), want) {
					t.Errorf("the patch does not carry %s:\n%s", want, p)
				}
				if len(p) > limit {
					t.Errorf("the patch is %d bytes, want at most %d:\n%s", len(p), limit, p)
				}
			})
		}
	}
}

// TestDecodePodDecodesAsControllerRuntime: the plan handler's decoding gives the pod
// controller-runtime's decoder gives, and leaves to it what does not name itself a v1 Pod.
func TestDecodePodDecodesAsControllerRuntime(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	dec := admission.NewDecoder(scheme)
	var inputs [][]byte
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		if strings.HasSuffix(f, goldenSuffix) {
			continue
		}
		raw, _ := os.ReadFile(f)
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, j)
	}
	for seed := range uint64(50) {
		j, _, _ := genPod(seed)
		inputs = append(inputs, j)
	}
	for _, raw := range inputs {
		var fast, library corev1.Pod
		if !decodePod(raw, &fast) {
			t.Fatalf("decodePod refuses a pod an API server sends: %s", raw)
		}
		if err := dec.DecodeRaw(runtime.RawExtension{Raw: raw}, &library); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&library, &fast); diff != "" {
			t.Errorf("decodePod differs from controller-runtime's decoder (-library +fast):\n%s", diff)
		}
	}
	for _, raw := range []string{
		`{"spec":{"containers":[]}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment"}`,
		`{"apiVersion":"v1","kind":"Service"}`,
		`{"apiVersion":"v1","kind":"Pod","spec":"a string"}`,
		` ["not an object"]`,
		``,
	} {
		var p corev1.Pod
		if decodePod([]byte(raw), &p) {
			t.Errorf("decodePod takes %s, which the library decoder must judge", raw)
		}
	}
}

// sharedFixtures is the shared folder's fixtures, reached by its path relative to the repository
// (../shared from the repository's root).
var sharedFixtures = filepath.Join("..", "..", "shared", "fixtures")

// TestTheFixturesAreTheSharedOnes: each pod captured from a real KubeSpawner (the shared fixtures) is
// in testdata byte for byte, so the tests that read testdata test exactly them. A checkout without the
// shared folder beside it has only the copies, and says so.
func TestTheFixturesAreTheSharedOnes(t *testing.T) {
	shared, err := filepath.Glob(filepath.Join(sharedFixtures, "*.yaml"))
	if err != nil || len(shared) == 0 {
		t.Skipf("no shared fixtures at %s (a checkout without ../shared beside it): the copies in testdata are tested alone", sharedFixtures)
	}
	for _, f := range shared {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", filepath.Base(f)))
		if err != nil {
			t.Errorf("the shared fixture %s has no copy in testdata: %v", filepath.Base(f), err)
			continue
		}
		if !bytes.Equal(want, got) {
			t.Errorf("testdata/%s differs from the shared fixture %s: copy it again", filepath.Base(f), f)
		}
	}
}
