package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

const goldenSuffix = ".golden.yaml"

// TestGoldenPods sends every pod in testdata/ (the shared fixtures, most captured from a real
// KubeSpawner, and hand-made variants) through the real admission webhook, applies the returned
// patch to the input as the API server does, and compares the result with testdata/<case>.golden.yaml:
// the whole mutated pod, or the refusal. The mutated pod then goes through again, to prove that a
// second admission changes nothing, and through patch.Resolve and patch.Apply directly, to prove the core is
// idempotent without the status marker's help. No log line may carry a token. It runs once for each
// patch mode, against the same golden files, and the two modes' pods must be the same pod (samePod:
// what the API server decodes, and every member it would not).
func TestGoldenPods(t *testing.T) {
	inputs := goldenInputs(t)
	if len(inputs) == 0 {
		t.Fatal("no pods in testdata/")
	}
	results := map[string]map[PatchMode][]byte{}
	for _, mode := range []PatchMode{PatchPlan, PatchDiff} {
		for _, in := range inputs {
			name := strings.TrimSuffix(filepath.Base(in), ".yaml")
			t.Run(fmt.Sprintf("patch=%s/%s", mode, name), func(t *testing.T) {
				out := goldenCase(t, in, mode)
				if results[in] == nil {
					results[in] = map[PatchMode][]byte{}
				}
				results[in][mode] = out
			})
		}
	}
	for _, in := range inputs {
		if twin, ok := strings.CutSuffix(in, goldenOpenElsewhere+".yaml"); ok {
			var a, b map[string]any
			if err := json.Unmarshal(goldenInput(t, in), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(goldenInput(t, twin+".yaml"), &b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(b, a); diff != "" {
				t.Errorf("%s is not the same pod as its twin %s.yaml (-twin +case):\n%s", in, twin, diff)
			}
		}
		plan, diff := results[in][PatchPlan], results[in][PatchDiff]
		if plan == nil || diff == nil {
			continue
		}
		podJSON := goldenInput(t, in)
		if d := samePod(t, plan, diff); d != "" {
			t.Errorf("%s: the plan patch and the library diff make different pods:\n%s", in, d)
		}
		if bytes.Equal(plan, podJSON) != bytes.Equal(diff, podJSON) {
			t.Errorf("%s: one patch mode changed the pod and the other did not", in)
		}
	}
}

func goldenInput(t *testing.T, in string) []byte {
	t.Helper()
	raw, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	podJSON, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return podJSON
}

// goldenCase is one golden case in one patch mode; it returns the mutated pod's JSON (nil when
// refused).
func goldenCase(t *testing.T, in string, mode PatchMode) []byte {
	t.Helper()
	podJSON := goldenInput(t, in)
	var logs bytes.Buffer
	cfg := goldenConfig(in)
	opts := []Option{WithPatchMode(mode)}
	others := goldenServers(t, in, cfg)
	if others != nil {
		opts = append(opts, WithServers(podsInCache(others)))
	}
	wh := NewWebhook(cfg, funcr.NewJSON(func(s string) { logs.WriteString(s + "\n") }, funcr.Options{Verbosity: 10}), opts...)

	out, resp, err := Review(context.Background(), wh, podJSON)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	if resp.Allowed {
		got = renderPod(t, out)
	} else {
		got = fmt.Appendf(nil, "refused:\n  code: %d\n  reason: %s\n  message: %q\n", resp.Result.Code, resp.Result.Reason, resp.Result.Message)
	}
	golden := strings.TrimSuffix(in, ".yaml") + goldenSuffix
	if *update && mode == PatchPlan {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("no golden file for %s (run go test ./webhook -run TestGoldenPods -update): %v", in, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("webhook output differs from %s (-want +got):\n%s", golden, cmp.Diff(string(want), string(got)))
	}
	if strings.Contains(logs.String(), "sentinel-token") {
		t.Errorf("a token from the pod reached the log:\n%s", logs.String())
	}
	if strings.Contains(string(got), "sentinel-token-in-url") && !resp.Allowed {
		t.Errorf("the refusal repeats credentials from the URL: %s", resp.Result.Message)
	}
	if !resp.Allowed {
		return nil
	}
	if len(resp.Patch) == 0 {
		return out
	}

	again, resp2, err := Review(context.Background(), wh, out)
	if err != nil || !resp2.Allowed || len(resp2.Patch) != 0 {
		t.Fatalf("second admission of the mutated pod: err=%v allowed=%v patches=%v, want allowed with no patch", err, resp2.Allowed, string(resp2.Patch))
	}
	if !bytes.Equal(again, out) {
		t.Error("second admission changed the pod")
	}
	var mutated corev1.Pod
	if err := json.Unmarshal(out, &mutated); err != nil {
		t.Fatal(err)
	}
	var reg patch.Registered
	if others != nil {
		reg.OpenElsewhere = patch.OpenServers(&mutated, mutated.Annotations[contract.AnnotationClaim], others)
	}
	twice, errs := mutatePod(&mutated, cfg, reg)
	if len(errs) > 0 {
		t.Fatalf("the mutation refuses its own output: %v", errs)
	}
	if diff := cmp.Diff(&mutated, twice); diff != "" {
		t.Errorf("the mutation is not idempotent (-once +twice):\n%s", diff)
	}
	return out
}

// testConfig is the default configuration with the helper image that --helper-image must name.
func testConfig() patch.Config {
	cfg := patch.DefaultConfig()
	cfg.HelperImage = "registry.example.org/binder-projects:1.0"
	return cfg
}

// goldenHelperPrefixes start the names of the cases run in a named helper mode
// (patch.Config.HelperMode); every other case runs in the default mode.
var goldenHelperPrefixes = map[string]patch.HelperMode{
	"helper-image-volume-":   patch.HelperImageVolume,
	"helper-init-container-": patch.HelperInitContainer,
}

// goldenConfig is the configuration a case runs with: the default with testConfig's helper image, in
// the helper mode its name starts with (goldenHelperPrefixes). Any other name starting with "helper-"
// is a mistake (which mode?) and panics.
func goldenConfig(in string) patch.Config {
	cfg := testConfig()
	base := filepath.Base(in)
	for prefix, mode := range goldenHelperPrefixes {
		if strings.HasPrefix(base, prefix) {
			cfg.HelperMode = mode
			return cfg
		}
	}
	if strings.HasPrefix(base, "helper-") {
		panic(fmt.Sprintf("golden case %s: name the helper's mode (helper-image-volume- or helper-init-container-)", base))
	}
	return cfg
}

// goldenOpenElsewhere ends the names of the cases run while the webhook's cache holds another server
// of the same user with the same project open (goldenServers). Such a case's input is the same pod as
// its twin's, the case of the name without it (checked by TestGoldenPods), so that the two golden
// files show exactly what the open server changes; the offline mutate command, which sees no
// cluster, makes the twin's pod of it.
const goldenOpenElsewhere = "-open-elsewhere"

// goldenServers is what the webhook's cache holds of the user's other servers for a case whose name
// contains goldenOpenElsewhere: the input pod launched earlier as the named server "busy", mutated and
// Running. Other cases run without a look at other servers (nil).
func goldenServers(t *testing.T, in string, cfg patch.Config) []corev1.Pod {
	t.Helper()
	if !strings.HasSuffix(in, goldenOpenElsewhere+".yaml") {
		return nil
	}
	var busy corev1.Pod
	if err := json.Unmarshal(goldenInput(t, in), &busy); err != nil {
		t.Fatal(err)
	}
	busy.Name += "--busy"
	busy.Labels[contract.AnnotationHubServername] = "busy"
	busy.Annotations[contract.AnnotationHubServername] = "busy"
	delete(busy.Annotations, contract.AnnotationUpdate)
	mutated, errs := mutatePod(&busy, cfg, patch.Registered{})
	if len(errs) > 0 {
		t.Fatalf("the busy server: %v", errs)
	}
	mutated.Status.Phase = corev1.PodRunning
	return []corev1.Pod{*mutated}
}

// podsInCache is a UserPodLister over fixed pods: those of the asked user's label.
type podsInCache []corev1.Pod

func (c podsInCache) UserPods(_ context.Context, namespace, user string) ([]corev1.Pod, error) {
	var out []corev1.Pod
	for _, p := range c {
		if p.Namespace == namespace && slices.Contains(UserPodsIndexKeys(&p), user) {
			out = append(out, p)
		}
	}
	return out, nil
}

// renderPod is the pod as the API server reads it (decoded into a corev1.Pod and encoded again, so
// that the two patch modes, which differ only in members that decode to nothing, such as an added
// status: {}, render alike) as YAML.
func renderPod(t *testing.T, podJSON []byte) []byte {
	t.Helper()
	var typed corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(podJSON, &typed); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&typed)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// goldenInputs lists the input pods, and fails for every golden file whose input is gone (a stale
// golden proves nothing).
func goldenInputs(t *testing.T) []string {
	t.Helper()
	all, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	have := map[string]bool{}
	for _, f := range all {
		if !strings.HasSuffix(f, goldenSuffix) {
			inputs = append(inputs, f)
			have[f] = true
		}
	}
	for _, f := range all {
		if strings.HasSuffix(f, goldenSuffix) && !have[strings.TrimSuffix(f, goldenSuffix)+".yaml"] {
			t.Errorf("golden file %s has no input %s: delete it or restore the input", f, strings.TrimSuffix(f, goldenSuffix)+".yaml")
		}
	}
	return inputs
}

// mutatePod is what admission makes of in (patch.Resolve, then patch.Apply with reg), or every
// reason it is refused.
func mutatePod(in *corev1.Pod, cfg patch.Config, reg patch.Registered) (*corev1.Pod, field.ErrorList) {
	l, errs := patch.Resolve(in, cfg)
	if len(errs) > 0 {
		return nil, errs
	}
	return patch.Apply(in, cfg, l, reg), nil
}
