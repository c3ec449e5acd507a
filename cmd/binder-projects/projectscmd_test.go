package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// The claims and pods are the service's test fixtures: what KubeSpawner 7 creates (copies of the
// shared fixtures).
const serviceTestdata = "../../service/testdata/"

var (
	cliConda = projects.Project{Dir: "gh_binder-examples_conda", RepoURL: "https://github.com/binder-examples/conda",
		Commit: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", LastUsed: time.Date(2026, 4, 28, 9, 5, 0, 0, time.UTC)}
	cliRequirements = projects.Project{Dir: "gh_binder-examples_requirements", RepoURL: "https://github.com/binder-examples/requirements",
		Commit: "1d3b4f2e6c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d", LastUsed: time.Date(2026, 5, 3, 16, 20, 0, 0, time.UTC)}
	cliThesis = projects.Project{Dir: "gh_anna_thesis", RepoURL: "https://github.com/anna/thesis",
		LastUsed: time.Date(2026, 5, 1, 7, 30, 0, 0, time.UTC)}
)

func readObject[T client.Object](t *testing.T, file string, obj T) T {
	t.Helper()
	b, err := os.ReadFile(serviceTestdata + file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func claimRecording(t *testing.T, file string, ps ...projects.Project) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := readObject(t, file, &corev1.PersistentVolumeClaim{})
	if err := (projects.Registry{Projects: ps}).ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	return pvc
}

// cluster is a fake API server: bitnik with two projects and no server; anna with one project and
// a server pod that exists.
func cluster(t *testing.T) client.Client {
	return fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(
		claimRecording(t, "claim-bitnik.yaml", cliConda, cliRequirements),
		claimRecording(t, "claim-unusual-username.yaml", cliThesis),
		readObject(t, "pod-unusual-username.yaml", &corev1.Pod{}),
	).Build()
}

// fakeClient is the kubeClientFunc of the tests; the kubeconfig selects namespace bhub.
func fakeClient(c client.Client) kubeClientFunc {
	return func(string) (client.Client, string, error) { return c, "bhub", nil }
}

func runProjects(t *testing.T, c client.Client, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := projectsCmd(context.Background(), args, &stdout, &stderr, fakeClient(c))
	return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func registryOn(t *testing.T, c client.Client, claim string) projects.Registry {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "bhub", Name: claim}, &pvc); err != nil {
		t.Fatal(err)
	}
	r, err := projects.FromClaim(&pvc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestProjectsList(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, unless empty
		stderr string // contained
	}{
		{name: "the table shows a user's projects, most recently used first",
			args: []string{"list", "--user", "bitnik"},
			stdout: "FOLDER                           REPOSITORY                                       COMMIT        LAST USED             CLAIM\n" +
				"gh_binder-examples_requirements  https://github.com/binder-examples/requirements  1d3b4f2e6c0a  2026-05-03 16:20 UTC  claim-bitnik\n" +
				"gh_binder-examples_conda         https://github.com/binder-examples/conda         0a1b2c3d4e5f  2026-04-28 09:05 UTC  claim-bitnik\n"},
		{name: "a user name with non-ASCII characters and an @ is found by its raw JupyterHub name",
			args: []string{"list", "--user", "anna.müller@uni.example", "--namespace", "bhub"},
			stdout: "FOLDER          REPOSITORY                      COMMIT  LAST USED             CLAIM\n" +
				"gh_anna_thesis  https://github.com/anna/thesis  -       2026-05-01 07:30 UTC  claim-anna-m-ller-uni-example---b22940a4\n"},
		{name: "a user without projects is told so", args: []string{"list", "--user", "nobody"},
			stdout: "nobody has no projects in namespace bhub\n"},
		{name: "another namespace holds nothing of theirs", args: []string{"list", "--user", "bitnik", "--namespace", "elsewhere"},
			stdout: "bitnik has no projects in namespace elsewhere\n"},
		{name: "--user or --all is required", args: []string{"list"}, code: 2, stderr: "--user or --all is required"},
		{name: "--user and --all are exclusive", args: []string{"list", "--user", "bitnik", "--all"}, code: 2, stderr: "--user and --all are exclusive"},
		{name: "an output format other than table or json is a usage error", args: []string{"list", "--all", "-o", "yaml"}, code: 2,
			stderr: `-o "yaml": want table or json`},
		{name: "--unused-for takes days or a Go duration", args: []string{"list", "--all", "--unused-for", "soon"}, code: 2,
			stderr: `"soon" is not a duration`},
		{name: "a negative --unused-for is a usage error", args: []string{"list", "--all", "--unused-for=-1d"}, code: 2,
			stderr: "--unused-for=-1d must be 0"},
		{name: "a negative --expire-projects-after is a usage error", args: []string{"list", "--all", "--expire-projects-after=-1d"}, code: 2,
			stderr: "--expire-projects-after=-1d must be 0"},
		{name: "--all is list's only", args: []string{"delete", "--all", "gh_x"}, code: 2, stderr: "flag provided but not defined: -all"},
		{name: "an unknown subcommand is a usage error", args: []string{"remove", "--user", "bitnik"}, code: 2, stderr: `unknown command "remove"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRun(t, runProjects(t, cluster(t), tt.args...), tt.code, tt.stdout, tt.stderr)
		})
	}
}

func TestProjectsListAsJSONIsTheAPIsFormat(t *testing.T) {
	for _, flags := range [][]string{{"-o", "json"}, {"--json"}} {
		got := runProjects(t, cluster(t), append([]string{"list", "--user", "bitnik"}, flags...)...)
		if got.Code != 0 {
			t.Fatalf("%s: exit %d: %s", flags, got.Code, got.Stderr)
		}
		var list []projects.Listed
		if err := json.Unmarshal([]byte(got.Stdout), &list); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", flags, err, got.Stdout)
		}
		want := []projects.Listed{{Project: cliRequirements, Claim: "claim-bitnik"}, {Project: cliConda, Claim: "claim-bitnik"}}
		if diff := cmp.Diff(want, list); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", flags, diff)
		}
		if got := runProjects(t, cluster(t), append([]string{"list", "--user", "nobody"}, flags...)...); strings.TrimSpace(got.Stdout) != "[]" {
			t.Errorf("%s: no projects as JSON = %q, want []", flags, got.Stdout)
		}
	}
}

// allCluster is cluster with sizes measured, a claim that names no user, and a claim in another
// namespace.
func allCluster(t *testing.T) client.Client {
	conda := cliConda
	conda.Size = &projects.Size{Bytes: 1610612736, At: conda.LastUsed}
	orphan := claimRecording(t, "claim-bitnik.yaml", projects.Project{Dir: "gh_old_one", LastUsed: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		Size: &projects.Size{Bytes: 512}})
	orphan.Name = "claim-orphan"
	delete(orphan.Annotations, contract.AnnotationHubUsername)
	elsewhere := claimRecording(t, "claim-bitnik.yaml", cliThesis)
	elsewhere.Namespace = "other"
	return fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(
		claimRecording(t, "claim-bitnik.yaml", conda, cliRequirements),
		claimRecording(t, "claim-unusual-username.yaml", cliThesis),
		orphan, elsewhere,
	).Build()
}

// unusedSinceApril30 is --unused-for for the projects not used since 2026-04-30 12:00 UTC (conda and
// gh_old_one), to the hour, from now.
func unusedSinceApril30() string {
	return fmt.Sprintf("%dh", time.Since(time.Date(2026, 4, 30, 12, 0, 0, 0, time.UTC))/time.Hour)
}

func TestProjectsListAll(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdout string
	}{
		{name: "the table shows every claim's projects with their users, sizes and last use, the least recently used first",
			args: []string{"list", "--all"},
			stdout: "USER                     CLAIM                                     FOLDER                           SIZE     LAST USED\n" +
				"-                        claim-orphan                              gh_old_one                       512 B    2026-03-01 08:00 UTC\n" +
				"bitnik                   claim-bitnik                              gh_binder-examples_conda         1.5 GiB  2026-04-28 09:05 UTC\n" +
				"anna.müller@uni.example  claim-anna-m-ller-uni-example---b22940a4  gh_anna_thesis                   -        2026-05-01 07:30 UTC\n" +
				"bitnik                   claim-bitnik                              gh_binder-examples_requirements  -        2026-05-03 16:20 UTC\n"},
		{name: "--unused-for keeps those not used for that long",
			args: []string{"list", "--all", "--unused-for", unusedSinceApril30()},
			stdout: "USER    CLAIM         FOLDER                    SIZE     LAST USED\n" +
				"-       claim-orphan  gh_old_one                512 B    2026-03-01 08:00 UTC\n" +
				"bitnik  claim-bitnik  gh_binder-examples_conda  1.5 GiB  2026-04-28 09:05 UTC\n"},
		{name: "--unused-for takes days",
			args: []string{"list", "--all", "--unused-for=36500d", "--namespace", "bhub"}, stdout: "no projects unused for 36500d in namespace bhub\n"},
		{name: "--unused-for keeps a user's projects too",
			args: []string{"list", "--user", "bitnik", "--unused-for", unusedSinceApril30()},
			stdout: "FOLDER                    REPOSITORY                                COMMIT        LAST USED             CLAIM\n" +
				"gh_binder-examples_conda  https://github.com/binder-examples/conda  0a1b2c3d4e5f  2026-04-28 09:05 UTC  claim-bitnik\n"},
		{name: "--expire-projects-after shows when each project expires, as serve's would have it",
			args: []string{"list", "--all", "--expire-projects-after", "90d", "--unused-for", unusedSinceApril30()},
			stdout: "USER    CLAIM         FOLDER                    SIZE     LAST USED             EXPIRES\n" +
				"-       claim-orphan  gh_old_one                512 B    2026-03-01 08:00 UTC  2026-05-30\n" +
				"bitnik  claim-bitnik  gh_binder-examples_conda  1.5 GiB  2026-04-28 09:05 UTC  2026-07-27\n"},
		{name: "a namespace without claims has no projects", args: []string{"list", "--all", "--namespace", "empty"},
			stdout: "no projects in namespace empty\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRun(t, runProjects(t, allCluster(t), tt.args...), 0, tt.stdout, "")
		})
	}
}

func TestProjectsListAllAsJSONHasStableFieldNames(t *testing.T) {
	got := runProjects(t, allCluster(t), "list", "--all", "-o", "json", "--unused-for", unusedSinceApril30())
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	// The names docs/flags.md gives: the projects API's, with user and claim.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(got.Stdout), &raw); err != nil {
		t.Fatalf("not a JSON list: %v\n%s", err, got.Stdout)
	}
	want := []map[string]any{
		{"user": "", "claim": "claim-orphan", "dir": "gh_old_one", "lastUsed": "2026-03-01T08:00:00Z",
			"size": map[string]any{"bytes": 512.0, "at": "0001-01-01T00:00:00Z"}},
		{"user": "bitnik", "claim": "claim-bitnik", "dir": "gh_binder-examples_conda", "repoURL": "https://github.com/binder-examples/conda",
			"commit": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "lastUsed": "2026-04-28T09:05:00Z",
			"size": map[string]any{"bytes": 1610612736.0, "at": "2026-04-28T09:05:00Z"}},
	}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = runProjects(t, allCluster(t), "list", "--all", "-o", "json", "--unused-for", unusedSinceApril30(), "--expire-projects-after", "90d")
	raw = nil
	if err := json.Unmarshal([]byte(got.Stdout), &raw); err != nil || len(raw) != 2 {
		t.Fatalf("with --expire-projects-after: %v\n%s%s", err, got.Stdout, got.Stderr)
	}
	if raw[0]["expiresAt"] != "2026-05-30T08:00:00Z" || raw[1]["expiresAt"] != "2026-07-27T09:05:00Z" {
		t.Errorf("with --expire-projects-after 90d, expiresAt = %v, %v; want 90 days after each last use", raw[0]["expiresAt"], raw[1]["expiresAt"])
	}
	if got := runProjects(t, allCluster(t), "list", "--all", "-o", "json", "--namespace", "empty"); strings.TrimSpace(got.Stdout) != "[]" {
		t.Errorf("no projects as JSON = %q, want []", got.Stdout)
	}
}

func TestProjectsDelete(t *testing.T) {
	bitnikBefore := projects.Registry{Projects: []projects.Project{cliConda, cliRequirements}}
	annaBefore := projects.Registry{Projects: []projects.Project{cliThesis}}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, unless empty
		stderr string // contained
		claim  string
		// check: the registry's projects after, and which folders are queued.
		projects []projects.Project
		queued   []contract.ProjectDir
	}{
		{name: "a project is removed from the record and its folder queued",
			args:   []string{"delete", "--user", "bitnik", string(string(cliConda.Dir))},
			stdout: "deleted project gh_binder-examples_conda of bitnik: its folder and all its files are deleted the next time bitnik's server starts\n",
			claim:  "claim-bitnik", projects: []projects.Project{cliRequirements}, queued: []contract.ProjectDir{cliConda.Dir}},
		{name: "flags may follow the folder",
			args:  []string{"delete", string(string(cliConda.Dir)), "--user", "bitnik", "--namespace", "bhub"},
			claim: "claim-bitnik", projects: []projects.Project{cliRequirements}, queued: []contract.ProjectDir{cliConda.Dir}},
		{name: "while the user's server pod exists it is refused, exit 1, nothing changes",
			args: []string{"delete", "--user", "anna.müller@uni.example", string(cliThesis.Dir)}, code: 1,
			stderr: "the user's server is running: stop your server (pod jupyter-anna-m-ller-uni-example---b22940a4)",
			claim:  "claim-anna-m-ller-uni-example---b22940a4", projects: annaBefore.Projects},
		{name: "a folder that is not a project of the user is refused, exit 1",
			args: []string{"delete", "--user", "bitnik", "gh_someone_else"}, code: 1,
			stderr: `no such project: bitnik has no project "gh_someone_else"`,
			claim:  "claim-bitnik", projects: bitnikBefore.Projects},
		{name: "a folder name that cannot be a project folder is a usage error",
			args: []string{"delete", "--user", "bitnik", "../etc"}, code: 2,
			stderr: "uses only A-Z, a-z, 0-9",
			claim:  "claim-bitnik", projects: bitnikBefore.Projects},
		{name: "no folder is a usage error", args: []string{"delete", "--user", "bitnik"}, code: 2,
			stderr: "give exactly one project FOLDER", claim: "claim-bitnik", projects: bitnikBefore.Projects},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t)
			checkRun(t, runProjects(t, c, tt.args...), tt.code, tt.stdout, tt.stderr)
			r := registryOn(t, c, tt.claim)
			if diff := cmp.Diff(tt.projects, r.Projects); diff != "" {
				t.Errorf("projects on %s (-want +got):\n%s", tt.claim, diff)
			}
			if diff := cmp.Diff(tt.queued, r.QueuedDirs(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("queued on %s (-want +got):\n%s", tt.claim, diff)
			}
		})
	}
}

func TestProjectsReportsAnUnreachableCluster(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := projectsCmd(context.Background(), []string{"list", "--user", "bitnik"}, &stdout, &stderr,
		func(string) (client.Client, string, error) {
			return nil, "", errors.New("loading the kubeconfig: no configuration")
		})
	if code != 1 || !strings.Contains(stderr.String(), "loading the kubeconfig: no configuration") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestTheCommandListsTheProjectsCommands(t *testing.T) {
	got := runCommand(t, "", "help")
	for _, want := range []string{"binder-projects projects list|delete", "binder-projects projects trash|restore|purge", "binder-projects projects-service"} {
		if !strings.Contains(got.Stdout, want) {
			t.Errorf("usage does not mention %q", want)
		}
	}
	if got := runCommand(t, "", "projects"); got.Code != 2 || !strings.Contains(got.Stderr, "binder-projects projects delete --user USER") {
		t.Errorf("projects without a subcommand: exit %d, stderr %q", got.Code, got.Stderr)
	}
}

var (
	// Bitnik's recently deleted projects: conda in the trash, measured; gh_old_one deleted but not
	// moved yet (its deletion still queued); gh_bitnik_notes in the trash with a restore asked.
	condaDeletedAt = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	oldDeletedAt   = time.Date(2026, 5, 5, 12, 30, 0, 0, time.UTC)
	notesDeletedAt = time.Date(2026, 4, 20, 8, 15, 0, 0, time.UTC)
	cliOldOne      = projects.Project{Dir: "gh_old_one", RepoURL: "https://github.com/bitnik/old-one", LastUsed: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	trashedConda   = projects.Trashed{Project: cliConda, DeletedAt: condaDeletedAt, InTrash: true}
	trashedOld     = projects.Trashed{Project: cliOldOne, DeletedAt: oldDeletedAt}
	trashedNotes   = projects.Trashed{Project: projects.Project{Dir: "gh_bitnik_notes"}, DeletedAt: notesDeletedAt, InTrash: true}
)

func init() {
	trashedConda.Size = &projects.Size{Bytes: 1610612736, At: condaDeletedAt}
}

// trashEntry is the trash entry name of t, as restore and purge take it.
func trashEntry(t projects.Trashed) string {
	return contract.TrashEntryName(contract.TrashID(t.Entry()), t.Dir)
}

// trashCluster is a fake API server where bitnik has one project and three recently deleted ones
// (trashedConda, trashedOld, trashedNotes), and anna one project, nothing deleted, and a server pod.
func trashCluster(t *testing.T) client.Client {
	t.Helper()
	bitnik := readObject(t, "claim-bitnik.yaml", &corev1.PersistentVolumeClaim{})
	r := projects.Registry{
		Projects:  []projects.Project{cliRequirements},
		Deletions: []projects.Queued{trashedOld.Entry()},
		Trash:     []projects.Trashed{trashedNotes, trashedConda, trashedOld},
		Restores:  []projects.Queued{trashedNotes.Entry()},
	}
	if err := r.ToClaim(bitnik); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(
		bitnik,
		claimRecording(t, "claim-unusual-username.yaml", cliThesis),
		readObject(t, "pod-unusual-username.yaml", &corev1.Pod{}),
	).Build()
}

func TestProjectsTrash(t *testing.T) {
	condaID, oldID, notesID := contract.TrashID(trashedConda.Entry()), contract.TrashID(trashedOld.Entry()), contract.TrashID(trashedNotes.Entry())
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, unless empty
		stderr string // contained
	}{
		{name: "the table shows a user's recently deleted projects, the most recently deleted first, in the trash or still queued",
			args: []string{"trash", "--user", "bitnik"},
			stdout: fmt.Sprintf("FOLDER                    ID                   SIZE     DELETED AT            STATE                        CLAIM\n"+
				"gh_old_one                %d  -        2026-05-05 12:30 UTC  queued                       claim-bitnik\n"+
				"gh_binder-examples_conda  %d  1.5 GiB  2026-05-04 10:00 UTC  in the trash                 claim-bitnik\n"+
				"gh_bitnik_notes           %d  -        2026-04-20 08:15 UTC  in the trash, restore asked  claim-bitnik\n",
				oldID, condaID, notesID)},
		{name: "flags may follow the subcommand's name in any order", args: []string{"trash", "--namespace", "bhub", "--user", "anna.müller@uni.example"},
			stdout: "anna.müller@uni.example has no recently deleted projects in namespace bhub\n"},
		{name: "a user without claims has nothing in the trash", args: []string{"trash", "--user", "nobody"},
			stdout: "nobody has no recently deleted projects in namespace bhub\n"},
		{name: "trash needs --user", args: []string{"trash"}, code: 2, stderr: "--user is required"},
		{name: "trash takes no argument", args: []string{"trash", "--user", "bitnik", "gh_x"}, code: 2, stderr: `unexpected argument "gh_x"`},
		{name: "an output format other than table or json is a usage error", args: []string{"trash", "--user", "bitnik", "-o", "yaml"}, code: 2,
			stderr: `-o "yaml": want table or json`},
		{name: "--all is list's only", args: []string{"trash", "--all"}, code: 2, stderr: "flag provided but not defined: -all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRun(t, runProjects(t, trashCluster(t), tt.args...), tt.code, tt.stdout, tt.stderr)
		})
	}
}

func TestProjectsTrashAsJSONIsTheAPIsFormat(t *testing.T) {
	for _, flags := range [][]string{{"-o", "json"}, {"--json"}} {
		got := runProjects(t, trashCluster(t), append([]string{"trash", "--user", "bitnik"}, flags...)...)
		if got.Code != 0 {
			t.Fatalf("%s: exit %d: %s", flags, got.Code, got.Stderr)
		}
		var list []projects.ListedTrash
		if err := json.Unmarshal([]byte(got.Stdout), &list); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", flags, err, got.Stdout)
		}
		id := func(tr projects.Trashed) string { return fmt.Sprint(contract.TrashID(tr.Entry())) }
		want := []projects.ListedTrash{
			{Trashed: trashedOld, ID: id(trashedOld), Claim: "claim-bitnik"},
			{Trashed: trashedConda, ID: id(trashedConda), Claim: "claim-bitnik"},
			{Trashed: trashedNotes, ID: id(trashedNotes), Claim: "claim-bitnik", Restoring: true},
		}
		if diff := cmp.Diff(want, list); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", flags, diff)
		}
		// The id is a JSON string: a number that large loses digits in JavaScript.
		if !strings.Contains(got.Stdout, `"id": "`+id(trashedConda)+`"`) {
			t.Errorf("%s: the id is not a JSON string:\n%s", flags, got.Stdout)
		}
		if got := runProjects(t, trashCluster(t), append([]string{"trash", "--user", "nobody"}, flags...)...); strings.TrimSpace(got.Stdout) != "[]" {
			t.Errorf("%s: an empty trash as JSON = %q, want []", flags, got.Stdout)
		}
	}
}

func TestProjectsRestoreAndPurge(t *testing.T) {
	const claim = "claim-bitnik"
	dirs := func(ts []projects.Trashed) []contract.ProjectDir {
		var out []contract.ProjectDir
		for _, t := range ts {
			out = append(out, t.Dir)
		}
		return out
	}
	// state is the registry on claim-bitnik after a run: the folders of its projects and of its trash.
	type state struct {
		projects  []contract.ProjectDir
		deletions []projects.Queued
		trash     []contract.ProjectDir
		restores  []projects.Queued
		purges    []projects.Queued
	}
	allTrash := []contract.ProjectDir{"gh_bitnik_notes", "gh_binder-examples_conda", "gh_old_one"}
	// unchanged is trashCluster's registry, as a refused request leaves it.
	unchanged := state{projects: []contract.ProjectDir{cliRequirements.Dir}, deletions: []projects.Queued{trashedOld.Entry()}, trash: allTrash,
		restores: []projects.Queued{trashedNotes.Entry()}}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, unless empty
		stderr string // contained
		after  state
	}{
		{name: "a project in the trash is restored at the next server start",
			args: []string{"restore", "--user", "bitnik", trashEntry(trashedConda)},
			stdout: "restore of " + trashEntry(trashedConda) + " asked: restored at the next server start of bitnik (as " +
				string(contract.RestoredName(cliConda.Dir, contract.TrashID(trashedConda.Entry()))) + ", beside gh_binder-examples_conda, if that name is taken again)\n",
			after: state{projects: []contract.ProjectDir{cliRequirements.Dir}, deletions: []projects.Queued{trashedOld.Entry()}, trash: allTrash,
				restores: []projects.Queued{trashedNotes.Entry(), trashedConda.Entry()}}},
		{name: "a deletion that has not happened yet is taken back at once",
			args:   []string{"restore", trashEntry(trashedOld), "--user", "bitnik", "--namespace", "bhub"},
			stdout: "restored " + trashEntry(trashedOld) + ": taken back, the deletion had not happened yet; gh_old_one is a project of bitnik again\n",
			after: state{projects: []contract.ProjectDir{cliRequirements.Dir, cliOldOne.Dir}, trash: []contract.ProjectDir{"gh_bitnik_notes", "gh_binder-examples_conda"},
				restores: []projects.Queued{trashedNotes.Entry()}}},
		{name: "a project in the trash is purged at the next server start",
			args:   []string{"purge", "--user", "bitnik", trashEntry(trashedConda)},
			stdout: "purge of " + trashEntry(trashedConda) + " asked: its folder and all its files are deleted for good at the next server start of bitnik\n",
			after: state{projects: []contract.ProjectDir{cliRequirements.Dir}, deletions: []projects.Queued{trashedOld.Entry()}, trash: allTrash,
				restores: []projects.Queued{trashedNotes.Entry()}, purges: []projects.Queued{trashedConda.Entry()}}},
		{name: "a purge replaces the restore asked before it",
			args: []string{"purge", "--user", "bitnik", trashEntry(trashedNotes)},
			after: state{projects: []contract.ProjectDir{cliRequirements.Dir}, deletions: []projects.Queued{trashedOld.Entry()}, trash: allTrash,
				purges: []projects.Queued{trashedNotes.Entry()}}},
		{name: "an entry not in the user's trash is refused, exit 1, nothing changes",
			args: []string{"restore", "--user", "bitnik", "1777888999000000000/gh_binder-examples_conda"}, code: 1,
			stderr: "no such project in the trash: bitnik has no recently deleted project 1777888999000000000/gh_binder-examples_conda", after: unchanged},
		{name: "another user's entry is not in this user's trash",
			args: []string{"purge", "--user", "anna.müller@uni.example", trashEntry(trashedConda)}, code: 1,
			stderr: "see `binder-projects projects trash --user anna.müller@uni.example`", after: unchanged},
		{name: "a folder alone is not a trash entry: a usage error",
			args: []string{"restore", "--user", "bitnik", "gh_binder-examples_conda"}, code: 2, stderr: "is not <id>/<folder>", after: unchanged},
		{name: "an entry whose folder cannot be a project folder is a usage error",
			args: []string{"purge", "--user", "bitnik", "1777888999000000000/../etc"}, code: 2, stderr: `invalid project folder name "../etc"`, after: unchanged},
		{name: "no entry is a usage error", args: []string{"purge", "--user", "bitnik"}, code: 2, stderr: "give exactly one trash entry ID/FOLDER", after: unchanged},
		{name: "restore needs --user", args: []string{"restore", trashEntry(trashedConda)}, code: 2, stderr: "--user is required", after: unchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := trashCluster(t)
			checkRun(t, runProjects(t, c, tt.args...), tt.code, tt.stdout, tt.stderr)
			r := registryOn(t, c, claim)
			var ps []contract.ProjectDir
			for _, p := range r.Projects {
				ps = append(ps, p.Dir)
			}
			slices.Sort(ps)
			for _, check := range []struct {
				what      string
				want, got any
			}{
				{"projects", slices.Sorted(slices.Values(tt.after.projects)), ps},
				{"deletions", tt.after.deletions, r.Deletions},
				{"trash", tt.after.trash, dirs(r.Trash)},
				{"restores", tt.after.restores, r.Restores},
				{"purges", tt.after.purges, r.Purges},
			} {
				if diff := cmp.Diff(check.want, check.got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s on %s (-want +got):\n%s", check.what, claim, diff)
				}
			}
		})
	}
}

// checkRun checks a run's exit code, its whole stdout (when want is not empty) and that its stderr holds
// wantErr.
func checkRun(t *testing.T, got result, code int, want, wantErr string) {
	t.Helper()
	if got.Code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", got.Code, code, got.Stdout, got.Stderr)
	}
	if want != "" {
		if diff := cmp.Diff(want, got.Stdout); diff != "" {
			t.Errorf("stdout (-want +got):\n%s", diff)
		}
	}
	if !strings.Contains(got.Stderr, wantErr) {
		t.Errorf("stderr %q does not contain %q", got.Stderr, wantErr)
	}
}

func TestTrashStateSaysHowManyStartsARequestWaits(t *testing.T) {
	for _, tt := range []struct {
		t    projects.ListedTrash
		want string
	}{
		{projects.ListedTrash{}, "queued"},
		{projects.ListedTrash{Trashed: projects.Trashed{InTrash: true}, Restoring: true}, "in the trash, restore asked"},
		{projects.ListedTrash{Trashed: projects.Trashed{InTrash: true}, Restoring: true, StartsBefore: 1}, "in the trash, restore asked (after 1 more server start)"},
		{projects.ListedTrash{Trashed: projects.Trashed{InTrash: true}, Purging: true, StartsBefore: 3}, "in the trash, purge asked (after 3 more server starts)"},
	} {
		if got := trashState(tt.t); got != tt.want {
			t.Errorf("trashState(%+v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
