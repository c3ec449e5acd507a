package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
)

// fixtureDir holds the webhook's golden pods: <case>.yaml in, <case>.golden.yaml out (or a refusal).
const fixtureDir = "../../webhook/testdata"

// helperImageFlag names the helper image (required) as the webhook's golden test names it
// (webhook/golden_test.go's testConfig).
const helperImageFlag = "--helper-image=registry.example.org/binder-projects:1.0"

// testConfig is the default configuration with the helper image helperImageFlag names.
func testConfig() patch.Config {
	cfg := patch.DefaultConfig()
	cfg.HelperImage = "registry.example.org/binder-projects:1.0"
	return cfg
}

// result is what one run of the command did.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

// runCommand runs the command in-process, with stdin as its standard input.
func runCommand(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// fixture is one input pod of webhook/testdata with its golden file.
type fixture struct {
	Name   string
	Input  string
	Golden []byte
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var fs []fixture
	for _, f := range all {
		if strings.HasSuffix(f, ".golden.yaml") {
			continue
		}
		golden, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden.yaml")
		if err != nil {
			t.Fatalf("fixture %s has no golden file: %v", f, err)
		}
		fs = append(fs, fixture{Name: strings.TrimSuffix(filepath.Base(f), ".yaml"), Input: f, Golden: golden})
	}
	if len(fs) == 0 {
		t.Fatalf("no fixtures in %s", fixtureDir)
	}
	return fs
}

// refusal is a golden file that records a refused pod.
type refusal struct {
	Refused struct {
		Code    int32  `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"refused"`
}

func (f fixture) refused() bool { return bytes.HasPrefix(f.Golden, []byte("refused:")) }

// yamlObject reads a pod's YAML as a generic object, as the API server reads the pod and as the
// golden files show it: decoded into a corev1.Pod and encoded again (the webhook's two patch modes
// differ only in members that decode to nothing, such as status: {}; webhook.TestGoldenPods proves
// that they keep the same fields our k8s.io/api does not know).
func yamlObject(t *testing.T, what string, y []byte) map[string]any {
	t.Helper()
	var pod corev1.Pod
	if err := yaml.Unmarshal(y, &pod); err != nil {
		t.Fatalf("%s is not a pod: %v\n%s", what, err, y)
	}
	y, err := yaml.Marshal(&pod)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(y, &obj); err != nil {
		t.Fatalf("%s is not a YAML object: %v\n%s", what, err, y)
	}
	if obj == nil {
		t.Fatalf("%s is empty", what)
	}
	return obj
}

const unchangedNote = "binder-projects mutate: the webhook leaves this pod unchanged\n"

func TestMutatePrintsWhatTheWebhookMakesOfEveryFixture(t *testing.T) {
	seen := map[string]int{}
	for _, f := range fixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			args := []string{"mutate", helperImageFlag, "-f", f.Input}
			// The webhook's golden test runs these cases in the helper mode the name gives
			// (goldenConfig).
			for _, mode := range []string{"image-volume", "init-container"} {
				if strings.HasPrefix(f.Name, "helper-"+mode+"-") {
					args = append(args, "--helper-mode="+mode)
				}
			}
			got := runCommand(t, "", args...)

			if twin, ok := strings.CutSuffix(f.Input, "-open-elsewhere.yaml"); ok {
				// Offline, no other server of the user can be seen: the pod is its twin's (the same
				// input, webhook/golden_test.go), as the webhook makes it with nothing open elsewhere.
				golden, err := os.ReadFile(twin + ".golden.yaml")
				if err != nil {
					t.Fatal(err)
				}
				f.Golden = golden
			}
			if f.refused() {
				seen["refused"]++
				var r refusal
				if err := yaml.UnmarshalStrict(f.Golden, &r); err != nil {
					t.Fatalf("reading the refusal in the golden file: %v", err)
				}
				want := result{Code: 1, Stderr: fmt.Sprintf("binder-projects mutate: the webhook refuses this pod (%d): %s\n", r.Refused.Code, r.Refused.Message)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("mutate -f %s (-want +got):\n%s", f.Input, diff)
				}
				return
			}

			if got.Code != 0 {
				t.Fatalf("mutate -f %s exited %d, want 0; stderr:\n%s", f.Input, got.Code, got.Stderr)
			}
			in, err := os.ReadFile(f.Input)
			if err != nil {
				t.Fatal(err)
			}
			wantPod := yamlObject(t, "the golden file", f.Golden)
			wantStderr := ""
			if cmp.Equal(yamlObject(t, "the input", in), wantPod) {
				seen["unchanged"]++
				wantStderr = unchangedNote
			} else {
				seen["mutated"]++
			}
			if diff := cmp.Diff(wantPod, yamlObject(t, "the output", []byte(got.Stdout))); diff != "" {
				t.Errorf("mutate -f %s printed a pod that differs from the golden file (-want +got):\n%s", f.Input, diff)
			}
			if got.Stderr != wantStderr {
				t.Errorf("mutate -f %s: stderr = %q, want %q", f.Input, got.Stderr, wantStderr)
			}
		})
	}
	// Every kind of outcome must have been checked, or a misread golden file went unnoticed.
	for _, kind := range []string{"mutated", "refused", "unchanged"} {
		if seen[kind] == 0 {
			t.Errorf("no fixture was %s: %v", kind, seen)
		}
	}
}

func TestMutateReadsThePodFromStandardInputWithDashF(t *testing.T) {
	for _, name := range []string{"z2jh4-binderhub-dynamic", "binderhub-storage-none", "plain-jupyterhub-spawn", "conflicting-mounts"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(fixtureDir, name+".yaml")
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fromFile := runCommand(t, "", "mutate", helperImageFlag, "-f", file)
			fromStdin := runCommand(t, string(in), "mutate", helperImageFlag, "-f", "-")
			if diff := cmp.Diff(fromFile, fromStdin); diff != "" {
				t.Errorf("mutate -f - differs from mutate -f %s (-file +stdin):\n%s", file, diff)
			}
		})
	}
}

func TestMutateAcceptsThePodAsJSON(t *testing.T) {
	file := filepath.Join(fixtureDir, "z2jh4-binderhub-dynamic.yaml")
	y, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	jsonFile := filepath.Join(t.TempDir(), "pod.json")
	if err := os.WriteFile(jsonFile, j, 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runCommand(t, "", "mutate", helperImageFlag, "-f", file), runCommand(t, "", "mutate", helperImageFlag, "-f", jsonFile)); diff != "" {
		t.Errorf("the pod as JSON gives another result than as YAML (-yaml +json):\n%s", diff)
	}
}

func TestMutateFailsWithAClearMessageOnBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing.yaml")
	broken := write("broken.yaml", "kind: Pod\nmetadata: [oops\n")
	scalar := write("scalar.yaml", "just some words\n")
	service := write("service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: hub, namespace: bhub}\n")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr []string // each must appear in stderr
	}{
		{
			name:       "a file that does not exist is named in the error",
			args:       []string{"mutate", helperImageFlag, "-f", missing},
			wantCode:   1,
			wantStderr: []string{"binder-projects mutate: open " + missing + ": no such file or directory"},
		},
		{
			name:       "a file that is not YAML is named as not YAML or JSON",
			args:       []string{"mutate", helperImageFlag, "-f", broken},
			wantCode:   1,
			wantStderr: []string{"binder-projects mutate: " + broken + " is not YAML or JSON: "},
		},
		{
			name:       "YAML that is not an object is refused as not a pod",
			args:       []string{"mutate", helperImageFlag, "-f", scalar},
			wantCode:   1,
			wantStderr: []string{"binder-projects mutate: reading the pod: "},
		},
		{
			name:       "an object of another kind is refused as undecodable into a pod",
			args:       []string{"mutate", helperImageFlag, "-f", service},
			wantCode:   1,
			wantStderr: []string{"binder-projects mutate: the webhook refuses this pod (400): ", "Kind=Service into *v1.Pod"},
		},
		{
			name:       "without -f the command says how to give the pod",
			args:       []string{"mutate", helperImageFlag},
			wantCode:   2,
			wantStderr: []string{"binder-projects mutate: give the pod with -f FILE (or -f - for standard input)\n"},
		},
		{
			name:       "-f without a value is a usage error that lists the flags",
			args:       []string{"mutate", helperImageFlag, "-f"},
			wantCode:   2,
			wantStderr: []string{"flag needs an argument: -f", "Usage of mutate:", "-home-mount-path"},
		},
		{
			name:       "an argument besides -f is a usage error",
			args:       []string{"mutate", helperImageFlag, "-f", service, "extra"},
			wantCode:   2,
			wantStderr: []string{"binder-projects mutate: give the pod with -f FILE (or -f - for standard input)\n"},
		},
		{
			name:       "an unknown flag is a usage error",
			args:       []string{"mutate", helperImageFlag, "--no-such-flag", "-f", service},
			wantCode:   2,
			wantStderr: []string{"flag provided but not defined: -no-such-flag"},
		},
		{
			name:       "a claim name template without the placeholder is an invalid configuration naming the flag",
			args:       []string{"mutate", helperImageFlag, "--claim-name-template=claim-x", "-f", filepath.Join(fixtureDir, "binderhub-storage-none.yaml")},
			wantCode:   2,
			wantStderr: []string{"binder-projects mutate: --claim-name-template=\"claim-x\" must contain {username} (or {user_server})"},
		},
		{
			name:       "without --helper-image the configuration is invalid, naming the flag: the init container runs the helper's binary",
			args:       []string{"mutate", "-f", filepath.Join(fixtureDir, "z2jh4-binderhub-dynamic.yaml")},
			wantCode:   2,
			wantStderr: []string{"binder-projects mutate: --helper-image must name the image of binder-projects itself (the chart sets its own image): the project's init container runs its binary\n"},
		},
		{
			name:     "every invalid setting is named at once, before the file is read",
			args:     []string{"mutate", "--home-mount-path=relative", "--projects-mount-path=", "-f", missing},
			wantCode: 2,
			wantStderr: []string{
				"--home-mount-path=\"relative\" must be a clean absolute path other than /",
				"--projects-mount-path must not be empty",
				"--helper-image must name the image of binder-projects itself",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCommand(t, "", tt.args...)
			if got.Code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", got.Code, tt.wantCode)
			}
			if got.Stdout != "" {
				t.Errorf("stdout = %q, want nothing", got.Stdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(got.Stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, got.Stderr)
				}
			}
		})
	}
}

// TestMutateRefusesAnEmptyFile: an empty file (or one of comments only) is YAML for "null", not a
// pod; the command must not print "null" and report success.
func TestMutateRefusesAnEmptyFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.yaml": "", "comments.yaml": "# nothing here\n"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			got := runCommand(t, "", "mutate", helperImageFlag, "-f", p)
			if got.Code == 0 || got.Stdout != "" || got.Stderr == "" {
				t.Errorf("mutate -f of a file with no pod: exit %d, stdout %q, stderr %q; want a non-zero exit, no output and a message", got.Code, got.Stdout, got.Stderr)
			}
		})
	}
}

func TestMutateFlagsReachTheMutation(t *testing.T) {
	file := filepath.Join(fixtureDir, "binderhub-storage-none.yaml")
	got := runCommand(t, "", "mutate", helperImageFlag, "--home-mount-path=/home/user", "-f", file)
	if got.Code != 0 || got.Stderr != "" {
		t.Fatalf("mutate --home-mount-path=/home/user: exit %d, stderr:\n%s", got.Code, got.Stderr)
	}
	var gotPod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(got.Stdout), &gotPod); err != nil {
		t.Fatal(err)
	}

	// Expected: the default output, with the home (the notebook's mount of the project, and the
	// init container's source) at /home/user instead of /home/jovyan.
	def := runCommand(t, "", "mutate", helperImageFlag, "-f", file)
	if def.Code != 0 {
		t.Fatalf("mutate with the defaults: exit %d, stderr:\n%s", def.Code, def.Stderr)
	}
	var want corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(def.Stdout), &want); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i := range want.Spec.Containers[0].VolumeMounts {
		if m := &want.Spec.Containers[0].VolumeMounts[i]; m.MountPath == "/home/jovyan" {
			m.MountPath = "/home/user"
			changed++
		}
	}
	for i := range want.Spec.InitContainers {
		for j := range want.Spec.InitContainers[i].Env {
			if e := &want.Spec.InitContainers[i].Env[j]; e.Value == "/home/jovyan" {
				e.Value = "/home/user"
				changed++
			}
		}
	}
	if changed != 2 {
		t.Fatalf("the default output has %d places with /home/jovyan, want 2 (the home mount and the init container's source):\n%s", changed, def.Stdout)
	}
	if diff := cmp.Diff(want, gotPod); diff != "" {
		t.Errorf("mutate --home-mount-path=/home/user (-want +got):\n%s", diff)
	}
}

func TestProjectDir(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want result
	}{
		{
			name: "a GitHub repository is gh_<owner>_<repo>",
			args: []string{"project-dir", "https://github.com/binder-examples/requirements"},
			want: result{Code: 0, Stdout: "gh_binder-examples_requirements\n"},
		},
		{
			name: "a GitLab .git URL with subgroups is gl_ and every group, without .git",
			args: []string{"project-dir", "https://gitlab.com/gesis/methods/summer-school-2024/day-3/network-analysis.git"},
			want: result{Code: 0, Stdout: "gl_gesis_methods_summer-school-2024_day-3_network-analysis\n"},
		},
		{
			name: "a URL with no repository path fails with the reason",
			args: []string{"project-dir", "https://github.com/binder-examples"},
			want: result{Code: 1, Stderr: "binder-projects project-dir: no repository path in URL \"https://github.com/binder-examples\": give the repository's URL, ending in /<owner>/<repo>\n"},
		},
		{
			name: "no URL is a usage error",
			args: []string{"project-dir"},
			want: result{Code: 2, Stderr: "usage: binder-projects project-dir URL\n\nPrints the folder, on the user's volume, of the project launched from the repository URL.\n"},
		},
		{
			name: "two URLs are a usage error",
			args: []string{"project-dir", "https://github.com/a/b", "https://github.com/c/d"},
			want: result{Code: 2, Stderr: "usage: binder-projects project-dir URL\n\nPrints the folder, on the user's volume, of the project launched from the repository URL.\n"},
		},
		{
			name: "-h prints the usage and succeeds",
			args: []string{"project-dir", "-h"},
			want: result{Code: 0, Stderr: "usage: binder-projects project-dir URL\n\nPrints the folder, on the user's volume, of the project launched from the repository URL.\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runCommand(t, "", tt.args...)); diff != "" {
				t.Errorf("binder-projects %s (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
}

// TestProjectDirAgreesWithTheWebhook: for every fixture whose project comes from BINDER_REPO_URL,
// project-dir of that URL prints the folder the webhook recorded in the golden pod.
func TestProjectDirAgreesWithTheWebhook(t *testing.T) {
	checked := 0
	for _, f := range fixtures(t) {
		raw, err := os.ReadFile(f.Input)
		if err != nil {
			t.Fatal(err)
		}
		var pod corev1.Pod
		if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
			t.Fatalf("%s: %v", f.Input, err)
		}
		url, ok := "", false
		for _, c := range pod.Spec.Containers {
			for _, e := range c.Env {
				if c.Name == patch.DefaultConfig().NotebookContainer && e.Name == contract.EnvRepoURL {
					url, ok = e.Value, true
				}
			}
		}
		// The annotations take precedence over the env var; those fixtures test other things.
		_, project := pod.Annotations[contract.AnnotationProject]
		_, repoURL := pod.Annotations[contract.AnnotationRepoURL]
		if !ok || project || repoURL || f.refused() {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			var golden corev1.Pod
			if err := yaml.UnmarshalStrict(f.Golden, &golden); err != nil {
				t.Fatal(err)
			}
			dir := golden.Annotations[contract.AnnotationProjectDir]
			if dir == "" {
				t.Fatalf("the golden pod has no %s annotation", contract.AnnotationProjectDir)
			}
			want := result{Code: 0, Stdout: dir + "\n"}
			if diff := cmp.Diff(want, runCommand(t, "", "project-dir", url)); diff != "" {
				t.Errorf("project-dir %s (-want +got):\n%s", url, diff)
			}
		})
		checked++
	}
	if checked < 2 {
		t.Errorf("only %d fixtures take their project from %s; the fixtures or this test's reading of them changed", checked, contract.EnvRepoURL)
	}
}

func TestTheCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want result
	}{
		{
			name: "no command prints the usage and fails",
			args: nil,
			want: result{Code: 2, Stderr: usage},
		},
		{
			name: "help prints the usage and succeeds",
			args: []string{"help"},
			want: result{Code: 0, Stdout: usage},
		},
		{
			name: "--help prints the usage and succeeds",
			args: []string{"--help"},
			want: result{Code: 0, Stdout: usage},
		},
		{
			name: "an unknown command is named and the usage printed",
			args: []string{"frobnicate"},
			want: result{Code: 2, Stderr: "binder-projects: unknown command \"frobnicate\"\n\n" + usage},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runCommand(t, "", tt.args...)); diff != "" {
				t.Errorf("binder-projects %s (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
	for _, cmd := range []string{"mutate", "project-dir", "serve"} {
		if !strings.Contains(usage, "binder-projects "+cmd) {
			t.Errorf("the usage does not list the command %s:\n%s", cmd, usage)
		}
	}
}

func TestTheBuiltBinaryMutatesAFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "binder-projects")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	file := filepath.Join(fixtureDir, "z2jh4-binderhub-dynamic.yaml")
	outFile := filepath.Join(dir, "mutated.yaml")
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "mutate", helperImageFlag, "-f", file)
	cmd.Stdout, cmd.Stderr = out, &stderr
	runErr := cmd.Run()
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if runErr != nil || stderr.Len() != 0 {
		t.Fatalf("binder-projects mutate -f %s: %v; stderr:\n%s", file, runErr, stderr.String())
	}

	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join(fixtureDir, "z2jh4-binderhub-dynamic.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(yamlObject(t, "the golden file", golden), yamlObject(t, "the binary's output", got)); diff != "" {
		t.Errorf("the binary's output differs from the golden file (-want +got):\n%s", diff)
	}
	if want := runCommand(t, "", "mutate", helperImageFlag, "-f", file).Stdout; string(got) != want {
		t.Errorf("the binary prints other bytes than run() in-process (-want +got):\n%s", cmp.Diff(want, string(got)))
	}
}
