package patch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// fixture reads a pod from the webhook's testdata (copies of ../shared/fixtures and variants).
func fixture(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &pod
}

// testConfig is the default configuration with the helper image it needs (--helper-image is
// required), in the default helper mode, an image volume.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HelperImage = "registry.example.org/binder-projects:1.0"
	return cfg
}

// helperImageVolume is the volume that carries our binary in image-volume mode (testConfig): its
// image, pulled only if the node lacks it.
func helperImageVolume() corev1.Volume {
	return corev1.Volume{Name: "binder-projects-helper", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{
		Reference: "registry.example.org/binder-projects:1.0", PullPolicy: corev1.PullIfNotPresent}}}
}

// fixtureCommit is the commit at the end of the fixtures' BINDER_PERSISTENT_REQUEST.
const fixtureCommit = "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d"

// seedContainer is the init container Mutate is expected to append with testConfig: our binary's init
// command from the helper's image volume, the helper mounted read-only, and the commit.
func seedContainer(image, volume, dir, deletions, commit string, nb corev1.Container) corev1.Container {
	return corev1.Container{
		Name:    "binder-projects-init",
		Image:   image,
		Command: []string{"/binder-projects-helper/usr/local/bin/binder-projects", "init"},
		Env: []corev1.EnvVar{
			{Name: contract.EnvRoot, Value: "/projects"},
			{Name: contract.EnvProject, Value: dir},
			{Name: contract.EnvSource, Value: "/home/jovyan"},
			{Name: contract.EnvDelete, Value: deletions},
			{Name: contract.EnvDeleteIDs, Value: strings.TrimSpace(strings.Repeat("0 ", len(strings.Fields(deletions))))},
			{Name: contract.EnvReport, Value: "/dev/termination-log"},
			{Name: contract.EnvPod, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: contract.EnvTrashDays, Value: "7"},
			{Name: contract.EnvUsageBudget, Value: "200"},
			{Name: contract.EnvCommit, Value: commit},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volume, MountPath: "/projects"},
			{Name: "binder-projects-helper", MountPath: "/binder-projects-helper", ReadOnly: true},
		},
		Resources:                nb.Resources,
		SecurityContext:          nb.SecurityContext,
		ImagePullPolicy:          nb.ImagePullPolicy,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// coLocated is p with the pod affinity that puts a user's servers on one node.
func coLocated(p *corev1.Pod) *corev1.Pod {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			"component": "singleuser-server", "hub.jupyter.org/username": p.Labels["hub.jupyter.org/username"]}},
		TopologyKey: "kubernetes.io/hostname",
	}}}
	return p
}

func TestMutate(t *testing.T) {
	tests := []struct {
		sentence string
		in       func(t *testing.T) *corev1.Pod
		want     func(in *corev1.Pod) *corev1.Pod
	}{{
		sentence: "a BinderHub pod with dynamic storage gets its home from the project folder, every project at /projects, and the seeding init container after z2jh's",
		in:       func(t *testing.T) *corev1.Pod { return fixture(t, "z2jh4-binderhub-dynamic") },
		want: func(in *corev1.Pod) *corev1.Pod {
			p := in.DeepCopy()
			p.Annotations[contract.AnnotationProjectDir] = "gh_binder-examples_requirements"
			p.Annotations[contract.AnnotationRepoURL] = "https://github.com/binder-examples/requirements"
			p.Annotations[contract.AnnotationStatus] = contract.StatusInjected
			p.Annotations[contract.AnnotationCommit] = fixtureCommit
			p.Annotations[contract.AnnotationClaim] = "claim-bitnik"
			p.Annotations[contract.AnnotationImage] = p.Spec.Containers[0].Image
			nb := &p.Spec.Containers[0]
			nb.VolumeMounts = []corev1.VolumeMount{
				{Name: "volume-bitnik", MountPath: "/home/jovyan", SubPath: "gh_binder-examples_requirements"},
				{Name: "volume-bitnik", MountPath: "/projects"},
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers,
				seedContainer(nb.Image, "volume-bitnik", "gh_binder-examples_requirements", "", fixtureCommit, *nb))
			p.Spec.Volumes = append(p.Spec.Volumes, helperImageVolume())
			return p
		},
	}, {
		sentence: "a pod without storage gets the user's claim, named from the pod name's slug as KubeSpawner names it, not from the shorter username label",
		in: func(t *testing.T) *corev1.Pod {
			p := fixture(t, "unusual-username")
			p.Spec.Volumes = nil
			p.Spec.Containers[0].VolumeMounts = nil
			return p
		},
		want: func(in *corev1.Pod) *corev1.Pod {
			p := in.DeepCopy()
			const slug = "anna-m-ller-uni-example---b22940a4"
			p.Annotations[contract.AnnotationProjectDir] = "gh_binder-examples_requirements"
			p.Annotations[contract.AnnotationRepoURL] = "https://github.com/binder-examples/requirements"
			p.Annotations[contract.AnnotationStatus] = contract.StatusInjected
			p.Annotations[contract.AnnotationCommit] = fixtureCommit
			p.Annotations[contract.AnnotationClaim] = "claim-" + slug
			p.Annotations[contract.AnnotationImage] = p.Spec.Containers[0].Image
			p.Spec.Volumes = []corev1.Volume{{Name: "volume-" + slug, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-" + slug}}}}
			nb := &p.Spec.Containers[0]
			nb.VolumeMounts = []corev1.VolumeMount{
				{Name: "volume-" + slug, MountPath: "/home/jovyan", SubPath: "gh_binder-examples_requirements"},
				{Name: "volume-" + slug, MountPath: "/projects"},
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers,
				seedContainer(nb.Image, "volume-"+slug, "gh_binder-examples_requirements", "", fixtureCommit, *nb))
			p.Spec.Volumes = append(p.Spec.Volumes, helperImageVolume())
			return p
		},
	}, {
		sentence: "the init container runs with the notebook's security context and memory, the explicit image, and the queued deletions",
		in: func(t *testing.T) *corev1.Pod {
			p := fixture(t, "memory-limits")
			p.Annotations[contract.AnnotationImage] = "registry.example.org/seed:1"
			p.Annotations[contract.AnnotationProject] = "my-analysis"
			p.Annotations[contract.AnnotationDelete] = "gh_a_b\ngl_c_d"
			return p
		},
		want: func(in *corev1.Pod) *corev1.Pod {
			p := in.DeepCopy()
			p.Annotations[contract.AnnotationProjectDir] = "my-analysis"
			p.Annotations[contract.AnnotationRepoURL] = "https://github.com/binder-examples/requirements"
			p.Annotations[contract.AnnotationStatus] = contract.StatusInjected
			p.Annotations[contract.AnnotationCommit] = fixtureCommit
			p.Annotations[contract.AnnotationClaim] = "claim-memtest"
			nb := &p.Spec.Containers[0]
			nb.VolumeMounts = []corev1.VolumeMount{
				{Name: "volume-memtest", MountPath: "/home/jovyan", SubPath: "my-analysis"},
				{Name: "volume-memtest", MountPath: "/projects"},
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers,
				seedContainer("registry.example.org/seed:1", "volume-memtest", "my-analysis", "gh_a_b gl_c_d", fixtureCommit, *nb))
			p.Spec.Volumes = append(p.Spec.Volumes, helperImageVolume())
			return p
		},
	}}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			in := tt.in(t)
			before := in.DeepCopy()
			got, errs := mutate(in, testConfig(), Registered{})
			if len(errs) > 0 {
				t.Fatalf("Mutate: %v", errs)
			}
			if diff := cmp.Diff(coLocated(tt.want(before)), got); diff != "" {
				t.Errorf("mutated pod (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("Mutate modified its input (-before +after):\n%s", diff)
			}
			if want := got.Spec.Containers[0].Resources; want.Limits != nil {
				if q := got.Spec.InitContainers[len(got.Spec.InitContainers)-1].Resources.Limits[corev1.ResourceMemory]; q.Cmp(want.Limits[corev1.ResourceMemory]) != 0 {
					t.Errorf("init container memory limit %v, want the notebook's %v", q.String(), want.Limits.Memory())
				}
			}
		})
	}
}

func TestMutateNeverModifiesItsInputAndIsIdempotentForEveryFixture(t *testing.T) {
	perServer := testConfig()
	perServer.AllowPerServerClaims = true // named-server mounts claim-bitnik--analysis
	for _, name := range []string{"z2jh4-binderhub-dynamic", "unusual-username", "named-server", "memory-limits",
		"binderhub-storage-none", "gitlab-long-url", "z2jh3-kubespawner6-dynamic"} {
		t.Run(name, func(t *testing.T) {
			in := fixture(t, name)
			before := in.DeepCopy()
			once, errs := mutate(in, perServer, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("input modified (-before +after):\n%s", diff)
			}
			assertIdempotent(t, once, perServer, Registered{})
			if first := once.Spec.InitContainers[0].Name; first != "block-cloud-metadata" {
				t.Errorf("first init container is %q, want z2jh's block-cloud-metadata to stay first", first)
			}
		})
	}
}

func TestMutateReportsEveryConflictAtOnceWithItsFieldPath(t *testing.T) {
	pod := fixture(t, "z2jh4-binderhub-dynamic")
	pod.Annotations[contract.AnnotationProject] = ".hidden"
	pod.Annotations[contract.AnnotationDelete] = "ok ../x"
	pod.Spec.Containers[0].VolumeMounts[0].SubPath = "elsewhere"
	_, errs := mutate(pod, testConfig(), Registered{})
	var got []string
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	want := []string{
		string(field.ErrorTypeInvalid) + " metadata.annotations[binder-projects.io/project]",
		string(field.ErrorTypeInvalid) + " metadata.annotations[binder-projects.io/delete]",
		string(field.ErrorTypeInvalid) + " spec.containers[0].volumeMounts[0].subPath",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("field errors (-want +got):\n%s\nfull: %v", diff, errs)
	}
}

func TestMutateRefusesAPodWithoutStorageAndWithoutAUserName(t *testing.T) {
	pod := fixture(t, "binderhub-storage-none")
	delete(pod.Annotations, contract.AnnotationHubUsername)
	_, errs := mutate(pod, testConfig(), Registered{})
	if len(errs) != 1 || errs[0].Field != "metadata.annotations[hub.jupyter.org/username]" || errs[0].Type != field.ErrorTypeRequired {
		t.Fatalf("errors = %v, want one: the username annotation is required to name the claim", errs)
	}
}

// storageNone is the storage-none fixture as KubeSpawner would make it for the raw user and server.
func storageNone(t *testing.T, user, server string) *corev1.Pod {
	pod := fixture(t, "binderhub-storage-none")
	pod.Annotations[contract.AnnotationHubUsername] = user
	if server != "" {
		pod.Annotations[contract.AnnotationHubServername] = server
	}
	return pod
}

func TestEveryServerOfAUserGetsTheUsersOneClaimNamedAsKubeSpawnerNamesIt(t *testing.T) {
	withTemplate := func(claim, volume string) Config {
		c := testConfig()
		c.ClaimNameTemplate, c.VolumeNameTemplate = claim, volume
		return c
	}
	escape := testConfig()
	escape.SlugScheme = contract.SlugEscape
	for _, tt := range []struct {
		sentence, user, server string
		cfg                    Config
		claim, volume          string
	}{
		{"the default server of a plain user name", "dora", "", testConfig(), "claim-dora", "volume-dora"},
		{"a named server from BinderHub's launcher shares the default server's claim", "dora", "binder-examples-conda-k3j9x0qa", testConfig(), "claim-dora", "volume-dora"},
		{"a user name with capitals and a dot gets KubeSpawner's hashed slug", "Bob.Smith", "work", testConfig(), "claim-bob-smith---274c9d19", "volume-bob-smith---274c9d19"},
		{"an e-mail address as user name", "sam@lab.example.org", "My Analysis", testConfig(), "claim-sam-lab-example-org---aeb23abf", "volume-sam-lab-example-org---aeb23abf"},
		{"a user name with unicode", "ülrich", "", testConfig(), "claim-lrich---c3db44ca", "volume-lrich---c3db44ca"},
		{"a 55-character user name is cut and hashed", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "work", testConfig(),
			"claim-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c", "volume-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c"},
		{"{user_server} is the joined slug, hashed when the two are too long together", "Bob.Smith", "binder-examples-conda-k3j9x0qa",
			withTemplate("claim-{user_server}", "volume-{user_server}"), "claim-bob-smith--binder-examples-c---78e9d220", "volume-bob-smith--binder-examples-c---78e9d220"},
		{"KubeSpawner's older escape scheme", "Bob.Smith", "", escape, "claim--42ob-2e-53mith", "volume--42ob-2e-53mith"},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			cfg := tt.cfg
			cfg.AllowPerServerClaims = true
			got, errs := mutate(storageNone(t, tt.user, tt.server), cfg, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			want := corev1.Volume{Name: tt.volume, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: tt.claim}}}
			if diff := cmp.Diff([]corev1.Volume{want, helperImageVolume()}, got.Spec.Volumes); diff != "" {
				t.Errorf("volumes (-want +got):\n%s", diff)
			}
			if c := userClaim(storageNone(t, tt.user, tt.server), cfg); c != tt.claim {
				t.Errorf("the launch's claim = %q, want %q", c, tt.claim)
			}
		})
	}
}

func TestANamedServerWithAClaimOfItsOwnIsRefusedWithTheFix(t *testing.T) {
	_, errs := mutate(fixture(t, "named-server"), testConfig(), Registered{})
	if len(errs) != 1 || errs[0].Field != "spec.volumes[0].persistentVolumeClaim.claimName" {
		t.Fatalf("errors = %v, want one on the claim name", errs)
	}
	for _, want := range []string{"claim-bitnik--analysis", "singleuser.storage.dynamic.pvcNameTemplate: claim-{username}", "claim-bitnik", "--allow-per-server-claims"} {
		if !strings.Contains(errs.ToAggregate().Error(), want) {
			t.Errorf("the message %q does not say %q", errs.ToAggregate().Error(), want)
		}
	}

	shared := fixture(t, "named-server")
	shared.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "claim-bitnik"
	if _, errs := mutate(shared, testConfig(), Registered{}); len(errs) > 0 {
		t.Errorf("a named server on the user's claim was refused: %v", errs)
	}
	allowed := testConfig()
	allowed.AllowPerServerClaims = true
	if _, errs := mutate(fixture(t, "named-server"), allowed, Registered{}); len(errs) > 0 {
		t.Errorf("with --allow-per-server-claims the named server was refused: %v", errs)
	}
	// The default server is never refused for its claim's name: its name does not change per launch.
	custom := fixture(t, "z2jh4-binderhub-dynamic")
	custom.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "home-bitnik"
	if _, errs := mutate(custom, testConfig(), Registered{}); len(errs) > 0 {
		t.Errorf("a default server on a claim of another name was refused: %v", errs)
	}
}

func TestMutateKeepsCredentialsInARepoURLOutOfTheAnnotation(t *testing.T) {
	pod := fixture(t, "z2jh4-binderhub-dynamic")
	pod.Annotations[contract.AnnotationRepoURL] = "https://sentinel-token-x@github.com/binder-examples/requirements"
	got, errs := mutate(pod, testConfig(), Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if u := got.Annotations[contract.AnnotationRepoURL]; u != "https://github.com/binder-examples/requirements" {
		t.Errorf("repo-url annotation = %q, want it without user information", u)
	}
	if d := got.Annotations[contract.AnnotationProjectDir]; d != "gh_binder-examples_requirements" {
		t.Errorf("project dir = %q: credentials must not change the project", d)
	}
}

func TestShouldMutate(t *testing.T) {
	tests := []struct {
		sentence   string
		pod        func(t *testing.T) *corev1.Pod
		want       bool
		wantReason string
	}{
		{"a BinderHub launch is ours", func(t *testing.T) *corev1.Pod { return fixture(t, "z2jh4-binderhub-dynamic") }, true, ""},
		{"a spawn from the hub's home page without Binder is left alone", func(t *testing.T) *corev1.Pod { return fixture(t, "plain-jupyterhub-spawn") }, false, ReasonNoProjectSource},
		{"a pod that is not a singleuser server is left alone", func(t *testing.T) *corev1.Pod {
			p := fixture(t, "z2jh4-binderhub-dynamic")
			p.Labels[contract.LabelComponent] = "hub"
			return p
		}, false, ReasonNotSingleuser},
		{"a pod already mutated is left alone", func(t *testing.T) *corev1.Pod {
			p := fixture(t, "z2jh4-binderhub-dynamic")
			p.Annotations[contract.AnnotationStatus] = contract.StatusInjected
			p.Annotations[contract.AnnotationCommit] = "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d"
			return p
		}, false, ReasonAlreadyMutated},
		{"a plain spawn with an explicit project annotation is ours", func(t *testing.T) *corev1.Pod {
			p := fixture(t, "plain-jupyterhub-spawn")
			p.Annotations[contract.AnnotationProject] = "scratch"
			return p
		}, true, ""},
		{"an empty BINDER_REPO_URL (sent without a value key) is no project", func(t *testing.T) *corev1.Pod {
			p := fixture(t, "plain-jupyterhub-spawn")
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: contract.EnvRepoURL})
			return p
		}, false, ReasonNoProjectSource},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			got, reason := ShouldMutate(tt.pod(t), testConfig())
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("ShouldMutate = %v, %q; want %v, %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestConfigValidateNamesEveryBadSetting(t *testing.T) {
	c := testConfig()
	c.ProjectsMountPath = "/home/jovyan/projects"
	c.ClaimNameTemplate = "claim-shared"
	c.VolumeNameTemplate = "volume-{userid}"
	c.NotebookContainer = ""
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken configuration")
	}
	for _, want := range []string{"--notebook-container", "must not contain one another", `--claim-name-template="claim-shared" must contain {username}`, `--volume-name-template="volume-{userid}"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("the default configuration with a helper image is invalid: %v", err)
	}
	c = testConfig()
	c.SlugScheme = "Safe"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--slug-scheme") {
		t.Errorf("Validate(slug scheme %q) = %v, want an error naming --slug-scheme", c.SlugScheme, err)
	}
}

func TestConfigValidateRefusesAnEmptyHelperImageNamingTheFlag(t *testing.T) {
	for _, mode := range []HelperMode{HelperImageVolume, HelperInitContainer} {
		t.Run(string(mode), func(t *testing.T) {
			c := DefaultConfig()
			c.HelperMode = mode
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted a configuration without --helper-image: our init container would have no binary to run")
			}
			// The only complaint (errors.Join puts one a line), and it names the flag.
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "--helper-image ") {
				t.Errorf("Validate() = %q, want one error that starts with the flag --helper-image", msg)
			}
			c.HelperImage = "registry.example.org/binder-projects:1.0"
			if err := c.Validate(); err != nil {
				t.Errorf("with --helper-image: %v", err)
			}
		})
	}
}

func TestTheClaimNamesAloneAreCheckedForTheProjectsService(t *testing.T) {
	// The projects service has no --helper-image (it names claims, it makes no pods).
	if err := DefaultConfig().ClaimNames.Validate(); err != nil {
		t.Errorf("the default configuration without a helper image: %v", err)
	}
	c := DefaultConfig()
	c.ClaimNameTemplate = "claim-shared"
	c.SlugScheme = "Safe"
	err := c.ClaimNames.Validate()
	if err == nil || !strings.Contains(err.Error(), "--slug-scheme") {
		t.Errorf("ClaimNames.Validate(slug scheme %q) = %v, want an error naming --slug-scheme", c.SlugScheme, err)
	}
	c.SlugScheme = contract.SlugSafe
	c.VolumeNameTemplate = ""
	err = c.ClaimNames.Validate()
	for _, want := range []string{`--claim-name-template="claim-shared" must contain {username}`, "--volume-name-template must not be empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ClaimNames.Validate() = %v, want an error saying %q", err, want)
		}
	}
	// Validate says the same, besides the rest.
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `--claim-name-template="claim-shared" must contain {username}`) ||
		!strings.Contains(err.Error(), "--volume-name-template must not be empty") || !strings.Contains(err.Error(), "--helper-image") {
		t.Errorf("Validate() = %v, want the claim's errors and the missing --helper-image", err)
	}
}

func TestMutateRefusesAHomePathThatIsNotWhereTheUsersClaimIsMounted(t *testing.T) {
	cfg := testConfig()
	cfg.HomeMountPath = "/home/user"
	_, errs := mutate(fixture(t, "z2jh4-binderhub-dynamic"), cfg, Registered{})
	if len(errs) != 1 || errs[0].Field != "spec.containers[0].volumeMounts[0].mountPath" ||
		!strings.Contains(errs[0].Detail, "--home-mount-path") {
		t.Fatalf("errors = %v, want one on the claim's mount that names --home-mount-path (else the home would be the volume root)", errs)
	}
}

func TestMutateMergesTheRegistrysDeletionQueueAfterTheAnnotationsWithoutDuplicates(t *testing.T) {
	pod := fixture(t, "z2jh4-binderhub-dynamic")
	pod.Annotations[contract.AnnotationDelete] = "gh_a_b"
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	queue := []contract.QueueEntry{{Dir: "gh_c_d", QueuedAt: at}, {Dir: "gh_a_b", QueuedAt: at.Add(time.Nanosecond)},
		{Dir: "gh_binder-examples_requirements", QueuedAt: at.Add(time.Second)}}
	got, errs := mutate(pod, testConfig(), Registered{Deletions: queue})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ic := got.Spec.InitContainers[len(got.Spec.InitContainers)-1]
	want := corev1.EnvVar{Name: contract.EnvDelete, Value: "gh_a_b gh_c_d gh_binder-examples_requirements"}
	if diff := cmp.Diff(want, ic.Env[3]); diff != "" {
		t.Errorf("deletions (-want +got):\n%s", diff)
	}
	// gh_a_b is named by the annotation and queued: the queue entry's id goes with it, so the script's
	// record of carried-out deletions covers it.
	wantIDs := corev1.EnvVar{Name: contract.EnvDeleteIDs, Value: fmt.Sprintf("%d %d %d", at.UnixNano()+1, at.UnixNano(), at.Add(time.Second).UnixNano())}
	if diff := cmp.Diff(wantIDs, ic.Env[4]); diff != "" {
		t.Errorf("deletion ids (-want +got):\n%s", diff)
	}
	handed, err := contract.HandedDeletions(got.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(queue, handed); diff != "" {
		t.Errorf("the queue entries recorded on the pod, to the nanosecond (-want +got):\n%s", diff)
	}
}

func TestTheLaunchsClaimIsTheClaimTheMutationMounts(t *testing.T) {
	for name, want := range map[string]string{
		"z2jh4-binderhub-dynamic":    "claim-bitnik",
		"binderhub-storage-none":     "claim-dora",
		"named-server":               "claim-bitnik--analysis",
		"z2jh3-kubespawner6-dynamic": "claim-bitnik",
		"home-not-a-claim":           "",
	} {
		if got := userClaim(fixture(t, name), testConfig()); got != want {
			t.Errorf("userClaim(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestCommitIsTheRefAtTheEndOfABinderRequest(t *testing.T) {
	for in, want := range map[string]string{
		"v2/gh/binder-examples/requirements/1d3b4f2e": "1d3b4f2e",
		"v2/gl/gesis%2Fmethods/main":                  "main",
		"v2/gh/a/b/":                                  "",
		"https://github.com/a/b":                      "",
		"":                                            "",
	} {
		if got := commitOf(in); got != want {
			t.Errorf("commitOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCoLocationKeepsTheSchedulingRulesAPodHasAndAddsOneTermOnce(t *testing.T) {
	pod := fixture(t, "named-server")
	pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "claim-bitnik"
	theirs := corev1.PodAffinityTerm{TopologyKey: "topology.kubernetes.io/zone",
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}}
	pod.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{theirs}}}
	got, errs := mutate(pod, testConfig(), Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []corev1.PodAffinityTerm{theirs, {TopologyKey: "kubernetes.io/hostname",
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server", "hub.jupyter.org/username": "bitnik"}}}}
	if diff := cmp.Diff(want, got.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution); diff != "" {
		t.Errorf("pod affinity (-want +got):\n%s", diff)
	}
	got.Annotations[contract.AnnotationStatus] = "" // let Mutate run over its own output once more
	again, errs := mutate(got, testConfig(), Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(want, again.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution); diff != "" {
		t.Errorf("a second Mutate added the term again (-want +got):\n%s", diff)
	}

	off := testConfig()
	off.CoLocateUserServers = false
	off.AllowPerServerClaims = true
	plain, errs := mutate(fixture(t, "named-server"), off, Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if plain.Spec.Affinity != nil && plain.Spec.Affinity.PodAffinity != nil {
		t.Errorf("with co-location off the pod got %v", plain.Spec.Affinity.PodAffinity)
	}

	unlabelled := fixture(t, "z2jh4-binderhub-dynamic")
	delete(unlabelled.Labels, "hub.jupyter.org/username")
	if got, errs := mutate(unlabelled, testConfig(), Registered{}); len(errs) > 0 || (got.Spec.Affinity != nil && got.Spec.Affinity.PodAffinity != nil) {
		t.Errorf("a pod without the username label got pod affinity %v (errors %v); there is nothing to select its siblings by", got.Spec.Affinity, errs)
	}
}

func initContainerHelperConfig() Config {
	cfg := testConfig()
	cfg.HelperMode = HelperInitContainer
	return cfg
}

// initEnv is the env of the pod's init container named name, as a map, and whether it mounts the
// helper read-only.
func initEnv(t *testing.T, pod *corev1.Pod, name string) (map[string]string, bool) {
	t.Helper()
	i := findContainer(pod.Spec.InitContainers, name)
	if i < 0 {
		t.Fatalf("no init container %s", name)
	}
	env := map[string]string{}
	for _, e := range pod.Spec.InitContainers[i].Env {
		env[e.Name] = e.Value
	}
	mounted := false
	for _, m := range pod.Spec.InitContainers[i].VolumeMounts {
		mounted = mounted || m.Name == HelperVolumeName && m.MountPath == HelperMountPath && m.ReadOnly
	}
	return env, mounted
}

// helperFixtures are the fixtures the helper's modes are tried on, each with the claim volume Mutate
// adds when the pod has none (nil if it has its own).
var helperFixtures = []struct {
	name  string
	claim *corev1.Volume
}{
	{"z2jh4-binderhub-dynamic", nil},
	{"binderhub-storage-none", &corev1.Volume{Name: "volume-dora", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-dora"}}}},
	{"memory-limits", nil},
	{"named-server-user-claim", nil},
}

func TestInInitContainerModeTheHelperRunsBeforeOurInitContainerWhichRunsItsCopyOfTheBinaryWithTheCommit(t *testing.T) {
	cfg := initContainerHelperConfig()
	for _, fx := range helperFixtures {
		t.Run(fx.name, func(t *testing.T) {
			in := fixture(t, fx.name)
			before := in.DeepCopy()
			out, errs := mutate(in, cfg, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("input modified (-before +after):\n%s", diff)
			}
			inits := out.Spec.InitContainers
			if diff := cmp.Diff(append(containerNames(in.Spec.InitContainers), "binder-projects-init-helper", "binder-projects-init"), containerNames(inits)); diff != "" {
				t.Fatalf("init containers (-want +got), want the pod's own, then the helper's right before ours, ours last:\n%s", diff)
			}
			n := len(inits)
			nb := out.Spec.Containers[0]
			h := inits[n-2]
			want := corev1.Container{
				Name: "binder-projects-init-helper", Image: cfg.HelperImage,
				Command:                  []string{"/usr/local/bin/binder-projects", "install-helper", "--to", "/binder-projects-helper"},
				VolumeMounts:             []corev1.VolumeMount{{Name: "binder-projects-helper", MountPath: "/binder-projects-helper"}},
				Resources:                nb.Resources,
				SecurityContext:          nb.SecurityContext,
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("the helper's init container (-want +got):\n%s", diff)
			}
			wantVols := slices.Clone(in.Spec.Volumes)
			if fx.claim != nil {
				wantVols = append(wantVols, *fx.claim)
			}
			wantVols = append(wantVols, corev1.Volume{Name: "binder-projects-helper", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			if diff := cmp.Diff(wantVols, out.Spec.Volumes); diff != "" {
				t.Errorf("volumes (-want +got), want the helper's emptyDir last:\n%s", diff)
			}
			ic := inits[n-1]
			if diff := cmp.Diff([]string{"/binder-projects-helper/binder-projects", "init"}, ic.Command); diff != "" {
				t.Errorf("our init container's command (-want +got), want the copy of the binary in the emptyDir:\n%s", diff)
			}
			wantMount := corev1.VolumeMount{Name: "binder-projects-helper", MountPath: "/binder-projects-helper", ReadOnly: true}
			if m := len(ic.VolumeMounts); m == 0 || !cmp.Equal(wantMount, ic.VolumeMounts[m-1]) {
				t.Errorf("our init container's mounts %+v, want the last one %+v", ic.VolumeMounts, wantMount)
			}
			env, _ := initEnv(t, out, "binder-projects-init")
			if env[contract.EnvCommit] != fixtureCommit || out.Annotations[contract.AnnotationCommit] != fixtureCommit {
				t.Errorf("%s=%q and annotation %q, want the commit %q", contract.EnvCommit, env[contract.EnvCommit], out.Annotations[contract.AnnotationCommit], fixtureCommit)
			}
			if _, ok := env[contract.EnvUpdate]; ok {
				t.Errorf("%s is set, but no update was asked for", contract.EnvUpdate)
			}
			assertIdempotent(t, out, cfg, Registered{})
		})
	}
}

func TestInImageVolumeModeOurInitContainerRunsTheBinaryFromTheImageWithNoContainerAdded(t *testing.T) {
	cfg := testConfig()
	if cfg.HelperMode != HelperImageVolume {
		t.Fatalf("the default helper mode is %q, want %q", cfg.HelperMode, HelperImageVolume)
	}
	for _, fx := range helperFixtures {
		t.Run(fx.name, func(t *testing.T) {
			in := fixture(t, fx.name)
			before := in.DeepCopy()
			out, errs := mutate(in, cfg, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("input modified (-before +after):\n%s", diff)
			}
			// Exactly the pod's own init containers and ours: no extra container start.
			if diff := cmp.Diff(append(containerNames(in.Spec.InitContainers), "binder-projects-init"), containerNames(out.Spec.InitContainers)); diff != "" {
				t.Errorf("init containers (-want +got):\n%s", diff)
			}
			wantVols := slices.Clone(in.Spec.Volumes)
			if fx.claim != nil {
				wantVols = append(wantVols, *fx.claim)
			}
			wantVols = append(wantVols, helperImageVolume())
			if diff := cmp.Diff(wantVols, out.Spec.Volumes); diff != "" {
				t.Errorf("volumes (-want +got), want the helper's image volume last:\n%s", diff)
			}
			ic := out.Spec.InitContainers[findContainer(out.Spec.InitContainers, "binder-projects-init")]
			// hack/image puts the binary at /usr/local/bin/binder-projects: the image's root is the mount.
			if diff := cmp.Diff([]string{"/binder-projects-helper/usr/local/bin/binder-projects", "init"}, ic.Command); diff != "" {
				t.Errorf("our init container's command (-want +got), want the binary inside the mounted image:\n%s", diff)
			}
			wantMount := corev1.VolumeMount{Name: "binder-projects-helper", MountPath: "/binder-projects-helper", ReadOnly: true}
			if n := len(ic.VolumeMounts); n == 0 || !cmp.Equal(wantMount, ic.VolumeMounts[n-1]) {
				t.Errorf("our init container's mounts %+v, want the last one %+v", ic.VolumeMounts, wantMount)
			}
			env, _ := initEnv(t, out, "binder-projects-init")
			if env[contract.EnvCommit] != fixtureCommit || out.Annotations[contract.AnnotationCommit] != fixtureCommit {
				t.Errorf("%s=%q and annotation %q, want the commit %q", contract.EnvCommit, env[contract.EnvCommit], out.Annotations[contract.AnnotationCommit], fixtureCommit)
			}
			if _, ok := env[contract.EnvUpdate]; ok {
				t.Errorf("%s is set, but no update was asked for", contract.EnvUpdate)
			}
			// Everything else is as in init-container mode: the same pod less the helper's container,
			// with another volume source and binary path.
			viaInit, errs := mutate(in, initContainerHelperConfig(), Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			viaInit.Spec.InitContainers = slices.DeleteFunc(viaInit.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "binder-projects-init-helper" })
			viaInit.Spec.Volumes[findVolume(viaInit.Spec.Volumes, HelperVolumeName)] = helperImageVolume()
			vic := &viaInit.Spec.InitContainers[findContainer(viaInit.Spec.InitContainers, "binder-projects-init")]
			vic.Command = []string{"/binder-projects-helper/usr/local/bin/binder-projects", "init"}
			if diff := cmp.Diff(viaInit, out); diff != "" {
				t.Errorf("the two modes differ beyond the helper's delivery (-init-container mode, adjusted +image-volume mode):\n%s", diff)
			}
			assertIdempotent(t, out, cfg, Registered{})
		})
	}
}

func TestOurInitContainerRunsExactlyTheHelpersInitCommandInBothModes(t *testing.T) {
	for _, tc := range []struct {
		mode HelperMode
		want []string
	}{
		{HelperImageVolume, []string{"/binder-projects-helper/usr/local/bin/binder-projects", "init"}},
		{HelperInitContainer, []string{"/binder-projects-helper/binder-projects", "init"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			cfg := testConfig()
			cfg.HelperMode = tc.mode
			if diff := cmp.Diff(tc.want, cfg.InitCommand()); diff != "" {
				t.Errorf("InitCommand() (-want +got):\n%s", diff)
			}
			out, errs := mutate(fixture(t, "z2jh4-binderhub-dynamic"), cfg, Registered{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			i := findContainer(out.Spec.InitContainers, "binder-projects-init")
			if i < 0 {
				t.Fatal("no init container binder-projects-init")
			}
			ic := out.Spec.InitContainers[i]
			if diff := cmp.Diff(tc.want, ic.Command); diff != "" {
				t.Errorf("the init container's command (-want +got):\n%s", diff)
			}
			if ic.Args != nil {
				t.Errorf("the init container has args %q; the command is all it runs", ic.Args)
			}
		})
	}
}

func TestAVolumeOfTheHelpersNameIsKeptOnlyIfItIsWhatWeWouldAdd(t *testing.T) {
	image := func(ref string, policy corev1.PullPolicy) corev1.VolumeSource {
		return corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: ref, PullPolicy: policy}}
	}
	emptyDir := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	const ours = "registry.example.org/binder-projects:1.0"
	for _, tc := range []struct {
		sentence string
		cfg      Config
		source   corev1.VolumeSource
		refused  string // a part of the message; "" for kept
	}{
		{"image-volume mode keeps exactly our image volume", testConfig(), image(ours, corev1.PullIfNotPresent), ""},
		{"image-volume mode refuses another image (it would run another binary)", testConfig(), image("registry.example.org/other:1", corev1.PullIfNotPresent), "an image volume (image " + ours + ", pullPolicy IfNotPresent)"},
		{"image-volume mode refuses our image with another pull policy", testConfig(), image(ours, corev1.PullAlways), "an image volume"},
		{"image-volume mode refuses an emptyDir", testConfig(), emptyDir, "an image volume"},
		{"init-container mode keeps an emptyDir", initContainerHelperConfig(), emptyDir, ""},
		{"init-container mode refuses an image volume", initContainerHelperConfig(), image(ours, corev1.PullIfNotPresent), "an emptyDir"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			pod := fixture(t, "z2jh4-binderhub-dynamic")
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: HelperVolumeName, VolumeSource: tc.source})
			out, errs := mutate(pod, tc.cfg, Registered{})
			if tc.refused == "" {
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				if n := len(pod.Spec.Volumes); len(out.Spec.Volumes) != n || !cmp.Equal(pod.Spec.Volumes[n-1], out.Spec.Volumes[n-1]) {
					t.Errorf("volumes %+v, want the pod's own kept, none added", out.Spec.Volumes)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != fmt.Sprintf("spec.volumes[%d].name", len(pod.Spec.Volumes)-1) ||
				!strings.Contains(errs[0].Error(), tc.refused) {
				t.Errorf("errors %v, want one for the volume saying binder-projects adds %s", errs, tc.refused)
			}
		})
	}
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestARefThatIsNoValidCommitIsNotHandedToTheInitCommandWhichStillRunsFromTheHelper(t *testing.T) {
	pod := fixture(t, "z2jh4-binderhub-dynamic")
	nb := &pod.Spec.Containers[0]
	nb.Env[findEnv(nb.Env, contract.EnvPersistentRequest)].Value = "v2/gh/binder-examples/requirements/v1+build"
	out, errs := mutate(pod, testConfig(), Registered{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	env, mounted := initEnv(t, out, "binder-projects-init")
	if v, ok := env[contract.EnvCommit]; ok {
		t.Errorf("%s=%q: a ref with + is no commit the init command takes (it becomes part of file names)", contract.EnvCommit, v)
	}
	if !mounted || findVolume(out.Spec.Volumes, HelperVolumeName) < 0 {
		t.Error("without a valid commit the helper's volume and mount were left out; the init command runs from them")
	}
	if got := out.Annotations[contract.AnnotationCommit]; got != "v1+build" {
		t.Errorf("commit annotation %q, want the ref as launched", got)
	}
}

func TestAnUpdateIsHandedOnlyToALaunchOfItsProjectAndOnlyWhenAskedFor(t *testing.T) {
	const dir = "gh_binder-examples_requirements"
	const commit = "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d"
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	mine := contract.QueueEntry{Dir: dir, QueuedAt: t0.Add(time.Hour)}
	other := contract.QueueEntry{Dir: "gh_someone_else", QueuedAt: t0}
	onLaunch := testConfig()
	onLaunch.UpdateOnLaunch = true
	for _, tc := range []struct {
		sentence   string
		cfg        Config
		annotation string // binder-projects.io/update; "" for none
		reg        Registered
		wantUpdate bool
		wantHanded *contract.QueueEntry
	}{
		{sentence: "no request: no update", cfg: testConfig()},
		{sentence: "the launcher's annotation asks for one", cfg: testConfig(), annotation: "true", wantUpdate: true},
		{sentence: "the annotation false asks for none", cfg: testConfig(), annotation: "false"},
		{sentence: "a queued request for another project is not handed", cfg: testConfig(), reg: Registered{Updates: []contract.QueueEntry{other}}},
		{sentence: "the queued request of the launched project is handed and recorded on the pod, the newest one",
			cfg: testConfig(), reg: Registered{Updates: []contract.QueueEntry{other, {Dir: dir, QueuedAt: t0}, mine}}, wantUpdate: true, wantHanded: &mine},
		{sentence: "a queued request is handed in init-container mode too",
			cfg: initContainerHelperConfig(), reg: Registered{Updates: []contract.QueueEntry{mine}}, wantUpdate: true, wantHanded: &mine},
		{sentence: "update on launch: a commit other than the recorded one updates", cfg: onLaunch,
			reg: Registered{Commits: map[contract.ProjectDir]string{dir: "0000000old"}}, wantUpdate: true},
		{sentence: "update on launch: the recorded commit does not", cfg: onLaunch, reg: Registered{Commits: map[contract.ProjectDir]string{dir: commit}}},
		{sentence: "update on launch: a project the registry does not know (new) does not", cfg: onLaunch, reg: Registered{Commits: map[contract.ProjectDir]string{"gh_x_y": "0000000old"}}},
		{sentence: "a changed commit without update on launch does not", cfg: testConfig(), reg: Registered{Commits: map[contract.ProjectDir]string{dir: "0000000old"}}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			in := fixture(t, "z2jh4-binderhub-dynamic")
			if tc.annotation != "" {
				in.Annotations[contract.AnnotationUpdate] = tc.annotation
			}
			out, errs := mutate(in, tc.cfg, tc.reg)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			env, _ := initEnv(t, out, "binder-projects-init")
			if got := env[contract.EnvUpdate] == "1"; got != tc.wantUpdate {
				t.Errorf("%s=%q, want an update: %v", contract.EnvUpdate, env[contract.EnvUpdate], tc.wantUpdate)
			}
			handed, err := contract.HandedUpdate(out.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantHanded, handed); diff != "" {
				t.Errorf("handed update (-want +got):\n%s", diff)
			}
			assertIdempotent(t, out, tc.cfg, tc.reg)
		})
	}
}

func TestABadUpdateAnnotationOrAVolumeInTheHelpersWayIsRefused(t *testing.T) {
	pod := fixture(t, "z2jh4-binderhub-dynamic")
	pod.Annotations[contract.AnnotationUpdate] = "yes"
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: HelperVolumeName, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}})
	_, errs := mutate(pod, testConfig(), Registered{})
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	want := []string{"metadata.annotations[binder-projects.io/update]", fmt.Sprintf("spec.volumes[%d].name", len(pod.Spec.Volumes)-1)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refused fields (-want +got):\n%s\nerrors: %v", diff, errs)
	}
}

func TestConfigRefusesAHelperMountedWhereTheProjectsAre(t *testing.T) {
	cfg := testConfig()
	cfg.ProjectsMountPath = HelperMountPath
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--projects-mount-path") {
		t.Errorf("Validate() = %v, want an error naming --projects-mount-path", err)
	}
	cfg = testConfig()
	cfg.HelperImage = "two words"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--helper-image") {
		t.Errorf("Validate() = %v, want an error naming --helper-image", err)
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("the default configuration with a helper image: %v", err)
	}
	if err := initContainerHelperConfig().Validate(); err != nil {
		t.Errorf("the default configuration with the helper's init container: %v", err)
	}
	cfg = testConfig()
	cfg.HelperMode = "sidecar"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--helper-mode") {
		t.Errorf("Validate() = %v, want an error naming --helper-mode", err)
	}
	for _, s := range []string{"image-volume", "init-container"} {
		if m, err := ParseHelperMode(s); err != nil || string(m) != s {
			t.Errorf("ParseHelperMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseHelperMode(""); err == nil {
		t.Error("ParseHelperMode accepts an empty mode")
	}
}

// assertIdempotent mutates the mutated pod again, with the same configuration and registry: a second
// admission must change nothing.
func assertIdempotent(t *testing.T, once *corev1.Pod, cfg Config, reg Registered) {
	t.Helper()
	twice, errs := mutate(once, cfg, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(once, twice); diff != "" {
		t.Errorf("not idempotent (-once +twice):\n%s", diff)
	}
}

// mutate is Resolve and then Apply, as the webhook runs them: the pod, or every reason it is refused.
func mutate(in *corev1.Pod, cfg Config, reg Registered) (*corev1.Pod, field.ErrorList) {
	l, errs := Resolve(in, cfg)
	if len(errs) > 0 {
		return nil, errs
	}
	return Apply(in, cfg, l, reg), nil
}

// userClaim is the claim Resolve finds for pod, "" when it finds none.
func userClaim(pod *corev1.Pod, cfg Config) string {
	l, _ := Resolve(pod, cfg)
	return l.Claim
}
