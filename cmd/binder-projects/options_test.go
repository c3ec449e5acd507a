package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/webhook"
)

// wantErrors checks that err says each of want, one error a line, and nothing else (no want: no
// error).
func wantErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("Validate() = %v, want no error", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate() = nil, want errors saying %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() does not say %q:\n%v", w, err)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("Validate() reports %d errors, want %d:\n%v", len(lines), len(want), err)
	}
}

// validateCase is one case of an options type's Validate: a change to valid options, and what
// Validate then says, one error each (none: valid).
type validateCase[O any] struct {
	name   string
	change func(*O)
	want   []string
}

// testValidate runs the cases, each on the valid options valid returns.
func testValidate[O interface{ Validate() error }](t *testing.T, valid func() O, cases []validateCase[O]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.change(&o)
			wantErrors(t, o.Validate(), tt.want)
		})
	}
}

// validServeOptions are serve's defaults with the helper image the chart sets (the one required flag).
func validServeOptions() serveOptions {
	o := newServeOptions()
	o.Mutation = testConfig()
	return o
}

func TestServeOptionsValidate(t *testing.T) {
	testValidate(t, validServeOptions, []validateCase[serveOptions]{
		{name: "the defaults, with the helper image the chart sets, are valid", change: func(*serveOptions) {}},
		{name: "without a helper image the options are refused, naming --helper-image",
			change: func(o *serveOptions) { o.Mutation.HelperImage = "" },
			want:   []string{"--helper-image must name the image of binder-projects itself"}},
		{name: "no project limit (0) is valid", change: func(o *serveOptions) { o.Webhook.MaxProjects = 0 }},
		{name: "a negative project limit is refused, naming --max-projects",
			change: func(o *serveOptions) { o.Webhook.MaxProjects = -1 },
			want:   []string{"--max-projects=-1 must be 0 (no limit) or more"}},
		{name: "the diff patch mode is valid", change: func(o *serveOptions) { o.Webhook.Patch = webhook.PatchDiff }},
		{name: "a patch mode other than plan or diff is refused, naming --patch",
			change: func(o *serveOptions) { o.Webhook.Patch = "both" },
			want:   []string{`--patch: "both" is not a patch mode: want plan or diff`}},
		{name: "projects that expire after 90 days are valid", change: func(o *serveOptions) { o.ExpireAfter = 90 * 24 * time.Hour }},
		{name: "a negative expiry is refused, naming --expire-projects-after",
			change: func(o *serveOptions) { o.ExpireAfter = -24 * time.Hour },
			want:   []string{"--expire-projects-after=-1d must be 0 (never) or more"}},
		{name: "a claim size that is no quantity is refused, naming --claim-size",
			change: func(o *serveOptions) { o.Claims.Size = "lots" },
			want:   []string{`--claim-size="lots": quantities must match`}},
		{name: "a slug scheme other than safe or escape is refused, naming --slug-scheme",
			change: func(o *serveOptions) { o.Mutation.SlugScheme = "pretty" },
			want:   []string{`--slug-scheme: invalid slug scheme: "pretty"`}},
		{name: "a helper mode other than image-volume or init-container is refused, naming --helper-mode",
			change: func(o *serveOptions) { o.Mutation.HelperMode = "sidecar" },
			want:   []string{`--helper-mode: "sidecar" is not a helper mode`}},
		{name: "a claim name template without the user's name is refused, naming --claim-name-template",
			change: func(o *serveOptions) { o.Mutation.ClaimNameTemplate = "claim-shared" },
			want:   []string{`--claim-name-template="claim-shared" must contain {username}`}},
		{name: "0 trash days (delete at once) and no usage budget are valid",
			change: func(o *serveOptions) { o.Mutation.TrashDays, o.Mutation.UsageBudget = 0, 0 }},
		{name: "ten years of trash and a minute of measuring are valid",
			change: func(o *serveOptions) { o.Mutation.TrashDays, o.Mutation.UsageBudget = 3650, time.Minute }},
		{name: "trash days beyond ten years are refused, naming --trash-days",
			change: func(o *serveOptions) { o.Mutation.TrashDays = 3651 },
			want:   []string{"--trash-days=3651 must be 0 (delete at once) to 3650"}},
		{name: "negative trash days are refused, naming --trash-days",
			change: func(o *serveOptions) { o.Mutation.TrashDays = -1 },
			want:   []string{"--trash-days=-1 must be 0 (delete at once) to 3650"}},
		{name: "a usage budget over a minute is refused, naming --usage-budget",
			change: func(o *serveOptions) { o.Mutation.UsageBudget = 2 * time.Minute },
			want:   []string{"--usage-budget=2m0s must be whole milliseconds from 0 (measure nothing) to 1m0s"}},
		{name: "every bad value is reported at once, each named by its flag",
			change: func(o *serveOptions) {
				o.Mutation.HelperImage = ""
				o.Mutation.HelperMode = "sidecar"
				o.Mutation.HomeMountPath = "relative"
				o.Mutation.VolumeNameTemplate = ""
				o.Webhook.MaxProjects = -1
				o.Webhook.Patch = "both"
				o.Claims.Size = "lots"
				o.Mutation.TrashDays = -7
				o.Mutation.UsageBudget = -time.Second
			},
			want: []string{
				`--home-mount-path="relative" must be a clean absolute path other than /`,
				"--helper-image must name the image of binder-projects itself",
				`--helper-mode: "sidecar" is not a helper mode`,
				"--trash-days=-7",
				"--usage-budget=-1s",
				"--volume-name-template must not be empty",
				`--patch: "both" is not a patch mode`,
				"--max-projects=-1 must be 0 (no limit) or more",
				`--claim-size="lots": quantities must match`,
			}},
	})
}

func TestServiceOptionsValidate(t *testing.T) {
	testValidate(t, func() serviceOptions { return newServiceOptions(envOf(nil)) }, []validateCase[serviceOptions]{
		{name: "the defaults are valid", change: func(*serviceOptions) {}},
		{name: "the escape slug scheme of older KubeSpawners is valid", change: func(o *serviceOptions) { o.Claims.SlugScheme = contract.SlugEscape }},
		{name: "a claim name template without the user's name is refused, naming --claim-name-template",
			change: func(o *serviceOptions) { o.Claims.ClaimNameTemplate = "claim-shared" },
			want:   []string{`--claim-name-template="claim-shared" must contain {username}`}},
		{name: "a slug scheme other than safe or escape is refused, naming --slug-scheme",
			change: func(o *serviceOptions) { o.Claims.SlugScheme = "pretty" },
			want:   []string{`--slug-scheme: invalid slug scheme: "pretty"`}},
		{name: "a negative expiry is refused, naming --expire-projects-after",
			change: func(o *serviceOptions) { o.ExpireAfter = -36 * time.Hour },
			want:   []string{"--expire-projects-after=-36h0m0s must be 0 (never) or more"}},
		{name: "0 trash days (deleted projects go at once) are valid", change: func(o *serviceOptions) { o.TrashDays = 0 }},
		{name: "trash days beyond ten years are refused, naming --trash-days, as serve refuses them",
			change: func(o *serviceOptions) { o.TrashDays = 3651 },
			want:   []string{"--trash-days=3651 must be 0 (delete at once) to 3650"}},
		{name: "every bad value is reported at once, each named by its flag",
			change: func(o *serviceOptions) {
				o.Claims.ClaimNameTemplate, o.Claims.SlugScheme, o.ExpireAfter, o.TrashDays = "", "pretty", -time.Hour, -1
			},
			want: []string{"--claim-name-template must not be empty", `--slug-scheme: invalid slug scheme: "pretty"`,
				"--expire-projects-after=-1h0m0s must be 0 (never) or more", "--trash-days=-1"}},
	})
}

func TestMutateOptionsValidate(t *testing.T) {
	testValidate(t, func() mutateOptions { return mutateOptions{Mutation: testConfig(), File: "pod.yaml"} }, []validateCase[mutateOptions]{
		{name: "a pod file and the helper image are all it needs", change: func(*mutateOptions) {}},
		{name: "standard input (-f -) is a pod file", change: func(o *mutateOptions) { o.File = "-" }},
		{name: "without -f it asks for the pod", change: func(o *mutateOptions) { o.File = "" },
			want: []string{"give the pod with -f FILE (or -f - for standard input)"}},
		{name: "every bad value is reported at once: the missing pod with the mutation's settings",
			change: func(o *mutateOptions) { o.File, o.Mutation.HelperImage, o.Mutation.ProjectsMountPath = "", "", "" },
			want: []string{"give the pod with -f FILE", "--projects-mount-path must not be empty",
				"--helper-image must name the image of binder-projects itself"}},
	})
}

// parse binds o's flags onto a new flag set and parses args.
func parse(t *testing.T, o interface{ AddFlags(*flag.FlagSet) }, args ...string) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		t.Fatalf("parsing %q: %v, arguments left %q", args, err, fs.Args())
	}
}

// TestEveryChartFlagReachesTheOptions parses the command lines the chart writes (e2e/chart's
// TestEveryFlagValueReachesTheCommandLine) into the options.
func TestEveryChartFlagReachesTheOptions(t *testing.T) {
	gotServe := newServeOptions()
	parse(t, &gotServe, "--namespace=bhub", "--port=10443", "--cert-dir=/etc/binder-projects/tls",
		"--metrics-bind-address=0", "--health-probe-bind-address=:8081", "--leader-elect=false",
		"--leader-election-id=binder-projects", "--max-projects=9", "--claim-name-template=home-{username}",
		"--slug-scheme=escape", "--volume-name-template=home-{username}", "--home-mount-path=/home/user",
		"--projects-mount-path=/work", "--notebook-container=nb", "--init-container-name=seed",
		"--allow-per-server-claims=true", "--co-locate-user-servers=false",
		"--helper-image=registry.example.org/helper:2", "--helper-mode=init-container", "--update-on-launch=true",
		"--trash-days=30", "--usage-budget=1.5s", "--claim-size=1Gi", "--claim-storage-class=fast", "--claim-access-mode=ReadWriteMany",
		"--expire-projects-after=90d", "-v=2", "--bind-address=127.0.0.1", "--patch=diff", "--kubeconfig=/etc/kubeconfig")
	want := serveOptions{
		Mutation: patch.Config{NotebookContainer: "nb", InitContainerName: "seed", HomeMountPath: "/home/user", ProjectsMountPath: "/work",
			ClaimNames:           contract.ClaimNames{ClaimNameTemplate: "home-{username}", VolumeNameTemplate: "home-{username}", SlugScheme: contract.SlugEscape},
			AllowPerServerClaims: true, HelperImage: "registry.example.org/helper:2", HelperMode: patch.HelperInitContainer, UpdateOnLaunch: true,
			TrashDays: 30, UsageBudget: 1500 * time.Millisecond},
		Webhook: webhookOptions{ServerOptions: webhook.ServerOptions{Host: "127.0.0.1", Port: 10443, CertDir: "/etc/binder-projects/tls"},
			Patch: webhook.PatchDiff, MaxProjects: 9},
		Manager: managerOptions{Kubeconfig: "/etc/kubeconfig", Namespace: "bhub", MetricsBindAddress: "0", HealthProbeBindAddress: ":8081",
			LeaderElectionID: "binder-projects"},
		Claims:      claimOptions{Size: "1Gi", StorageClass: "fast", AccessMode: corev1.ReadWriteMany},
		Verbosity:   2,
		ExpireAfter: 90 * 24 * time.Hour,
	}
	if diff := cmp.Diff(want, gotServe); diff != "" {
		t.Errorf("serve's options (-want +got):\n%s", diff)
	}
	if err := gotServe.Validate(); err != nil {
		t.Errorf("the chart's serve flags are invalid: %v", err)
	}

	gotService := newServiceOptions(envOf(map[string]string{"POD_NAMESPACE": "from-env", "BINDERHUB_URL": "https://env.example.org/"}))
	parse(t, &gotService, "--listen=:9000", "--namespace=bhub", "--claim-name-template=home-{username}",
		"--slug-scheme=escape", "--trash-days=30", "--binderhub-url=https://b.example.org/", "-v=1", "--kubeconfig=/etc/kubeconfig", "--expire-projects-after=90d")
	wantService := serviceOptions{Listen: ":9000", Namespace: "bhub", Kubeconfig: "/etc/kubeconfig", BinderHubURL: "https://b.example.org/",
		Claims:    contract.ClaimNames{ClaimNameTemplate: "home-{username}", VolumeNameTemplate: contract.DefaultClaimNames().VolumeNameTemplate, SlugScheme: contract.SlugEscape},
		TrashDays: 30, Verbosity: 1, ExpireAfter: 90 * 24 * time.Hour}
	if diff := cmp.Diff(wantService, gotService); diff != "" {
		t.Errorf("projects-service's options (-want +got):\n%s", diff)
	}
	if err := gotService.Validate(); err != nil {
		t.Errorf("the chart's projects-service flags are invalid: %v", err)
	}
}

func TestTheServiceTakesItsDefaultsFromTheEnvironment(t *testing.T) {
	o := newServiceOptions(envOf(map[string]string{"POD_NAMESPACE": "hub-ns", "BINDERHUB_URL": "https://b.example.org/"}))
	parse(t, &o)
	if o.Namespace != "hub-ns" || o.BinderHubURL != "https://b.example.org/" {
		t.Errorf("namespace %q, BinderHub URL %q; want $POD_NAMESPACE and $BINDERHUB_URL", o.Namespace, o.BinderHubURL)
	}
}

// flagHelp is the entry of flag name in a command's -h output: its line and the lines of its text.
func flagHelp(t *testing.T, help, name string) string {
	t.Helper()
	var entry []string
	for _, l := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(l, "  -"+name+" ") || l == "  -"+name:
			entry = append(entry, l)
		case len(entry) > 0 && strings.HasPrefix(l, "    \t"):
			entry = append(entry, l)
		case len(entry) > 0:
			return strings.Join(entry, "\n")
		}
	}
	if len(entry) == 0 {
		t.Fatalf("the help does not list -%s:\n%s", name, help)
	}
	return strings.Join(entry, "\n")
}

// TestTheFlagsOfSharedSettingsAreDeclaredOnce: the settings that several commands share, and must be
// given equal to each, have one declaration, one help text and one default in every command's -h:
// the flags that name the user's claim (addClaimNameFlags: serve, mutate and projects-service),
// --expire-projects-after (addExpireAfterFlag: serve expires projects, projects-service tells users
// when) and --trash-days (addRetentionFlags: serve's init containers delete by it, mutate shows it,
// projects-service says when a deleted project goes for good).
func TestTheFlagsOfSharedSettingsAreDeclaredOnce(t *testing.T) {
	for _, tc := range []struct {
		flags    []string // the flags declare binds, in the flag package's order
		declare  func(*flag.FlagSet)
		commands []string
	}{
		{[]string{"claim-name-template", "slug-scheme"}, func(fs *flag.FlagSet) { names := contract.DefaultClaimNames(); addClaimNameFlags(fs, &names) },
			[]string{"serve", "mutate", "projects-service"}},
		{[]string{"expire-projects-after"}, func(fs *flag.FlagSet) { var d time.Duration; addExpireAfterFlag(fs, &d) }, []string{"serve", "projects-service"}},
		{[]string{"trash-days"}, func(fs *flag.FlagSet) { days := patch.DefaultConfig().TrashDays; addRetentionFlags(fs, &days) },
			[]string{"serve", "mutate", "projects-service"}},
	} {
		t.Run(strings.Join(tc.flags, ","), func(t *testing.T) {
			var declared bytes.Buffer
			fs := flag.NewFlagSet("declared", flag.ContinueOnError)
			fs.SetOutput(&declared)
			tc.declare(fs)
			fs.PrintDefaults()
			var shared []string
			fs.VisitAll(func(f *flag.Flag) { shared = append(shared, f.Name) })
			if diff := cmp.Diff(tc.flags, shared); diff != "" {
				t.Errorf("the shared flags (-want +got):\n%s", diff)
			}
			for _, cmd := range tc.commands {
				got := runCommand(t, "", cmd, "-h")
				for _, name := range tc.flags {
					if diff := cmp.Diff(flagHelp(t, declared.String(), name), flagHelp(t, got.Stdout+got.Stderr, name)); diff != "" {
						t.Errorf("%s -h shows -%s otherwise than its one declaration (-want +got):\n%s", cmd, name, diff)
					}
				}
			}
		})
	}
}

// TestDeletedProjectsStayAWeekInEveryCommandByDefault: serve's and projects-service's defaults of
// --trash-days are one.
func TestDeletedProjectsStayAWeekInEveryCommandByDefault(t *testing.T) {
	if serve, service := newServeOptions().Mutation.TrashDays, newServiceOptions(envOf(nil)).TrashDays; serve != 7 || service != serve {
		t.Errorf("--trash-days defaults to %d in serve and %d in projects-service, want 7 in both", serve, service)
	}
}

func TestADurationFlagTakesDaysAndGoDurations(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: as String prints it back
		d        time.Duration
	}{
		{"90d", "90d", 90 * 24 * time.Hour},
		{"1d", "1d", 24 * time.Hour},
		{"0", "0", 0},
		{"0d", "0", 0},
		{"36h", "36h0m0s", 36 * time.Hour},
		{"48h", "2d", 48 * time.Hour},
		{"90m", "1h30m0s", 90 * time.Minute},
		{"-2d", "-2d", -48 * time.Hour},
	} {
		var d dayDuration
		if err := d.Set(tc.in); err != nil || time.Duration(d) != tc.d || d.String() != tc.want {
			t.Errorf("Set(%q) = %v, %v, printed %q; want %v, printed %q", tc.in, time.Duration(d), err, d.String(), tc.d, tc.want)
		}
	}
	for _, bad := range []string{"soon", "1.5d", "d", "90 d", "90days", "99999999999999d", ""} {
		var d dayDuration
		if err := d.Set(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("Set(%q) = %v, want an error naming the value", bad, err)
		}
	}
}

// TestServeReportsEveryBadValueAtOnce: a bad command line is refused before anything starts, with
// every bad value named by its flag.
func TestServeReportsEveryBadValueAtOnce(t *testing.T) {
	got := runCommand(t, "", "serve", "--slug-scheme=pretty", "--helper-mode=sidecar", "--patch=both", "--max-projects=-1", "--claim-size=lots",
		"--expire-projects-after=-1d")
	if got.Code != 2 || got.Stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 2 and nothing on stdout", got.Code, got.Stdout)
	}
	for _, w := range []string{
		"binder-projects serve: ", "--helper-image must name", `--helper-mode: "sidecar"`, `--slug-scheme: invalid slug scheme: "pretty"`,
		`--patch: "both"`, "--max-projects=-1", `--claim-size="lots"`, "--expire-projects-after=-1d",
	} {
		if !strings.Contains(got.Stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, got.Stderr)
		}
	}
}
