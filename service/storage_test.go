package service

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// The storage fixture: bitnik's five projects as the init container of a start an hour before testNow
// measured them (hostile's size not measured: no time was left), the volume 93 % full, and two
// recently deleted projects: julia, in the trash since 1 May, and notes, deleted half an hour ago and
// still queued (no server started since).
var (
	measured = testNow.Add(-time.Hour)
	gib      = func(tenths int64) int64 { return tenths * (1 << 30) / 10 }

	sizedConda        = withSize(conda, gib(31))
	sizedGitlab       = withSize(gitlab, gib(20))
	sizedRequirements = withSize(requirements, gib(12))
	sizedScriptLink   = withSize(scriptLink, 40<<10)

	julia = projects.Trashed{Project: withSize(projects.Project{Dir: "gh_binder-examples_julia-python", RepoURL: "https://github.com/binder-examples/julia-python",
		Commit: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", LastUsed: time.Date(2026, 4, 30, 11, 0, 0, 0, time.UTC)}, gib(25)),
		DeletedAt: time.Date(2026, 5, 1, 15, 30, 0, 0, time.UTC), InTrash: true}
	notes = projects.Trashed{Project: projects.Project{Dir: "gh_bitnik_old-notes", RepoURL: "https://github.com/bitnik/old-notes",
		Commit: "HEAD", LastUsed: time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)}, DeletedAt: testNow.Add(-30 * time.Minute)}

	// 10 GiB, of which 700 MiB free: 93.16 % used.
	fullUsage = &projects.Usage{Size: 10 << 30, Free: 700 << 20, At: measured, Basis: projects.UsageFilesystem}

	storageRegistry = projects.Registry{
		Projects:  []projects.Project{sizedConda, sizedGitlab, hostile, sizedRequirements, sizedScriptLink},
		Deletions: []projects.Queued{notes.Entry()},
		Trash:     []projects.Trashed{julia, notes},
		Usage:     fullUsage,
	}
)

// fullAdvice is what the warning of the storage fixture says after how full it is.
const fullAdvice = "delete projects you no longer need. The largest: gh_binder-examples_conda (3.1 GiB), gh_binder-examples_julia-python, recently deleted (2.5 GiB), " +
	"gl_gesis_notebooks_analysis (2.0 GiB). A deleted project keeps its space for 7 days under Recently deleted: Delete forever frees it at the next server start."

func withSize(p projects.Project, bytes int64) projects.Project {
	p.Size = &projects.Size{Bytes: bytes, At: measured}
	return p
}

// trashID is a trash entry's id as the API gives it.
func trashID(t projects.Trashed) string { return strconv.FormatInt(contract.TrashID(t.Entry()), 10) }

// storageObjects are fixtureObjects with bitnik's claim holding r.
func storageObjects(t *testing.T, r projects.Registry) []client.Object {
	t.Helper()
	objs := fixtureObjects(t)
	pvc := objs[0].(*corev1.PersistentVolumeClaim)
	if err := r.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	return objs
}

// withTrashAndExpiry is the service as serve and projects-service run it by default with
// --expire-projects-after=100d, at testNow: deleted projects stay 7 days in the trash.
func withTrashAndExpiry(c *Config) {
	c.TrashDays = 7
	c.ExpireAfter = 100 * 24 * time.Hour
	c.Now = func() time.Time { return testNow }
}

// annotationsOf are a claim's annotations, as the fake API server holds them.
func (w *world) annotationsOf(t *testing.T, claim string) map[string]string {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: claim}, &pvc); err != nil {
		t.Fatal(err)
	}
	return pvc.Annotations
}

// trashPath is the API path of user's trash (and of one entry, with t).
func (w *world) trashPath(user string, t ...projects.Trashed) string {
	p := strings.TrimSuffix(w.projectsPath(user), "projects") + "trash"
	for _, e := range t {
		p += "/" + trashID(e) + "/" + string(e.Dir)
	}
	return p
}

func TestTheStoragesUsage(t *testing.T) {
	w := newWorldConfigured(t, hubKind{base: "/"}, withTrashAndExpiry, storageObjects(t, storageRegistry)...)
	bitnik, annas, adas := w.token(t, "bitnik"), w.token(t, anna), w.token(t, projectsAdmin)
	largest := []largestFolder{{Dir: conda.Dir, Bytes: gib(31)}, {Dir: julia.Dir, Bytes: gib(25), TrashID: trashID(julia)}, {Dir: gitlab.Dir, Bytes: gib(20)}}
	full := storageUsage{Claim: "claim-bitnik", Size: 10 << 30, Free: 700 << 20, Used: 10<<30 - 700<<20, Percent: 93, Basis: projects.UsageFilesystem,
		At: measured, Largest: largest}
	mine, bitniks := full, full
	mine.Warning = "Your storage is 93 % full: " + fullAdvice
	bitniks.Warning = "bitnik's storage is 93 % full: " + fullAdvice

	tests := []struct {
		name, user, auth, method string
		status                   int
		want                     storageUsage // on 200
		message                  string       // on an error
	}{
		{name: "a user sees how full their storage is, with a warning from 90 % that names the largest folders", user: "bitnik", auth: bitnik,
			status: http.StatusOK, want: mine},
		{name: "a projects admin sees anyone's, the warning naming whose it is", user: "bitnik", auth: adas, status: http.StatusOK, want: bitniks},
		{name: "a storage never measured is 404, saying when it will be", user: anna, auth: annas, status: http.StatusNotFound,
			message: "the storage of anna.müller@uni.example has not been measured yet: each start of their server measures it"},
		{name: "someone else's is refused with 403", user: "bitnik", auth: annas, status: http.StatusForbidden, message: "needs the scope custom:projects:admin"},
		{name: "without credentials: 401", user: "bitnik", status: http.StatusUnauthorized, message: "not logged in"},
		{name: "POST is not allowed: 405", user: "bitnik", auth: bitnik, method: http.MethodPost, status: http.StatusMethodNotAllowed, message: "use GET or HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := ""
			if tt.auth != "" {
				auth = "token " + tt.auth
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			resp, body := w.call(t, method, strings.TrimSuffix(w.projectsPath(tt.user), "projects")+"usage", auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusOK {
				checkErrorBody(t, resp, body, tt.status, tt.message)
				return
			}
			var got storageUsage
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, body)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("the answer's JSON has the documented fields", func(t *testing.T) {
		_, body := w.call(t, http.MethodGet, strings.TrimSuffix(w.projectsPath("bitnik"), "projects")+"usage", "token "+bitnik)
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"claim", "size", "free", "used", "percent", "basis", "at", "warning", "largest"} {
			if _, ok := got[k]; !ok {
				t.Errorf("the answer has no %q: %s", k, body)
			}
		}
	})
}

func TestTheUsageSaysItsBasisAndWarnsFrom90Percent(t *testing.T) {
	s := &Server{cfg: Config{TrashDays: 0}}
	at := storageRegistry.Usage.At
	for _, tt := range []struct {
		sentence string
		usage    projects.Usage
		percent  int
		warning  string
	}{
		{"89.9 % is no warning", projects.Usage{Size: 1000, Free: 101, At: at}, 89, ""},
		{"90 % warns, and without a trash says nothing of one", projects.Usage{Size: 1000, Free: 100, At: at}, 90,
			"Your storage is 90 % full: delete projects you no longer need."},
		{"more free than the size (a measure of a shared filesystem) is 0 %", projects.Usage{Size: 1000, Free: 5000, At: at}, 0, ""},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			got := s.usageOf([]projects.Storage{{Claim: "c", Usage: &tt.usage}}, "your")
			if got.Percent != tt.percent || got.Warning != tt.warning || got.Basis != projects.UsageFilesystem {
				t.Errorf("usage = %+v, want %d %% and the warning %q, on the filesystem's basis (the default of an older record)", got, tt.percent, tt.warning)
			}
		})
	}
	t.Run("the fullest of two claims is shown; none measured is nil", func(t *testing.T) {
		half := &projects.Usage{Size: 1000, Free: 500, At: at, Basis: projects.UsageClaim}
		got := s.usageOf([]projects.Storage{{Claim: "a", Usage: half}, {Claim: "b", Usage: fullUsage}, {Claim: "c"}}, "your")
		if got.Claim != "b" {
			t.Errorf("shown: %+v, want claim b's", got)
		}
		if got := s.usageOf([]projects.Storage{{Claim: "c"}}, "your"); got != nil {
			t.Errorf("nothing measured: %+v, want nil", got)
		}
	})
}

func TestListingRecentlyDeletedProjects(t *testing.T) {
	w := newWorldConfigured(t, hubKind{base: "/"}, withTrashAndExpiry, storageObjects(t, storageRegistry)...)
	bitnik := "token " + w.token(t, "bitnik")
	keptUntil := time.Date(2026, 5, 8, 15, 30, 0, 0, time.UTC)
	wantJulia := projects.ListedTrash{Trashed: julia, ID: trashID(julia), Claim: "claim-bitnik", KeptUntil: &keptUntil}
	wantNotes := projects.ListedTrash{Trashed: notes, ID: trashID(notes), Claim: "claim-bitnik"}

	t.Run("the list is the most recently deleted first: a deletion still queued has no date of going for good yet", func(t *testing.T) {
		resp, body := w.call(t, http.MethodGet, w.trashPath("bitnik"), bitnik)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d\n%s", resp.StatusCode, body)
		}
		var got []projects.ListedTrash
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("not a JSON list: %v\n%s", err, body)
		}
		if diff := cmp.Diff([]projects.ListedTrash{wantNotes, wantJulia}, got); diff != "" {
			t.Errorf("trash (-want +got):\n%s", diff)
		}
		if !strings.Contains(string(body), `"id": "`+trashID(julia)+`"`) {
			t.Errorf("the id is not a JSON string (JavaScript would lose its last digits): %s", body)
		}
	})

	t.Run("a user without recently deleted projects gets an empty list, not null", func(t *testing.T) {
		_, body := w.call(t, http.MethodGet, w.trashPath(anna), "token "+w.token(t, anna))
		if strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("anna's trash = %s, want []", body)
		}
	})

	for _, tt := range []struct {
		name, path, auth string
		status           int
		want             projects.ListedTrash
		message          string
	}{
		{name: "one entry, by its id and folder", path: w.trashPath("bitnik", julia), auth: bitnik, status: http.StatusOK, want: wantJulia},
		{name: "an id that names no deletion is 404", path: w.trashPath("bitnik", projects.Trashed{Project: julia.Project, DeletedAt: julia.DeletedAt.Add(time.Nanosecond)}),
			auth: bitnik, status: http.StatusNotFound, message: "bitnik has no recently deleted project " + strconv.FormatInt(julia.DeletedAt.UnixNano()+1, 10) + "/gh_binder-examples_julia-python"},
		{name: "an id that is not a number is 400", path: w.trashPath("bitnik") + "/yesterday/" + string(julia.Dir), auth: bitnik,
			status: http.StatusBadRequest, message: "the id must be a positive decimal number"},
		{name: "a folder that cannot be a project folder is 400", path: w.trashPath("bitnik") + "/" + trashID(julia) + "/gh%20a", auth: bitnik,
			status: http.StatusBadRequest, message: "uses only A-Z, a-z, 0-9"},
		{name: "someone else's is refused with 403", path: w.trashPath("bitnik", julia), auth: "token " + w.token(t, anna),
			status: http.StatusForbidden, message: "needs the scope custom:projects:admin"},
		{name: "PUT is not allowed: 405", path: w.trashPath("bitnik", julia), auth: bitnik, status: http.StatusMethodNotAllowed, message: "use GET or HEAD or DELETE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			if tt.status == http.StatusMethodNotAllowed {
				method = http.MethodPut
			}
			resp, body := w.call(t, method, tt.path, tt.auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusOK {
				checkErrorBody(t, resp, body, tt.status, tt.message)
				return
			}
			var got projects.ListedTrash
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("the projects carry their sizes, and expiresAt while projects expire", func(t *testing.T) {
		_, body := w.call(t, http.MethodGet, w.projectsPath("bitnik"), bitnik)
		var got []projects.Listed
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		var want []projects.Listed
		for _, p := range []projects.Project{sizedRequirements, sizedConda, sizedGitlab, hostile, sizedScriptLink} {
			at := p.LastUsed.Add(100 * 24 * time.Hour)
			want = append(want, projects.Listed{Project: p, Claim: "claim-bitnik", Expires: &at})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("projects (-want +got):\n%s", diff)
		}
		if !strings.Contains(string(body), `"expiresAt": "2026-05-12T08:00:00Z"`) || !strings.Contains(string(body), `"size": {`) {
			t.Errorf("the JSON has no expiresAt or size:\n%s", body)
		}
	})

	t.Run("without expiry the projects carry no expiresAt", func(t *testing.T) {
		w := newWorld(t, storageObjects(t, storageRegistry)...)
		_, body := w.call(t, http.MethodGet, w.projectsPath("bitnik"), "token "+w.token(t, "bitnik"))
		if strings.Contains(string(body), "expiresAt") {
			t.Errorf("the JSON has expiresAt:\n%s", body)
		}
	})
}

// TestRestoringAndDeletingForGood: POST .../trash/{id}/{folder}/restore and DELETE .../trash/{id}/{folder}
// ask for a recently deleted project back or gone for good at the next start, on the claim; a deletion
// still queued is simply taken back. The rules of who may are those of deleting a project.
func TestRestoringAndDeletingForGood(t *testing.T) {
	restoreJulia, purgeJulia, purgeNotes := storageRegistry, storageRegistry, storageRegistry
	restoreJulia.Restores = []projects.Queued{julia.Entry()}
	purgeJulia.Purges = []projects.Queued{julia.Entry()}
	purgeNotes.Purges = []projects.Queued{notes.Entry()}
	notesBack := storageRegistry
	// The project remembers the deletion taken back, in case a start already under way moves its
	// folder all the same (projects.Registry.Observed then puts it back).
	notesRemembering, notesEntry := notes.Project, notes.Entry()
	notesRemembering.DeletionTakenBack = &notesEntry
	notesBack.Projects = []projects.Project{hostile, sizedConda, sizedRequirements, notesRemembering, sizedScriptLink, sizedGitlab}
	notesBack.Deletions, notesBack.Trash = nil, []projects.Trashed{julia}

	tests := []struct {
		name, method string
		entry        projects.Trashed
		path         string // instead of entry's
		by           string // whose token ("": none)
		status       int
		message      string
		want         projects.Registry // on the claim afterwards
	}{
		{name: "restoring a project in the trash is 202: it comes back at the next start, beside its name if that is taken",
			method: http.MethodPost, entry: julia, by: "bitnik", status: http.StatusAccepted,
			message: "gh_binder-examples_julia-python is restored at your next server start, beside gh_binder-examples_julia-python as gh_binder-examples_julia-python-restored-20260501-153000 if that name is taken again by then",
			want:    restoreJulia},
		{name: "restoring a project whose deletion is still queued is 200: the deletion is taken back, the project listed again",
			method: http.MethodPost, entry: notes, by: "bitnik", status: http.StatusOK,
			message: "gh_bitnik_old-notes is back: its deletion had not happened yet", want: notesBack},
		{name: "deleting for good is 202: at the next start", method: http.MethodDelete, entry: julia, by: "bitnik", status: http.StatusAccepted,
			message: "gh_binder-examples_julia-python is deleted for good at your next server start", want: purgeJulia},
		{name: "deleting for good a deletion still queued is 202 too: that start moves it to the trash and deletes it",
			method: http.MethodDelete, entry: notes, by: "bitnik", status: http.StatusAccepted, message: "deleted for good at your next server start", want: purgeNotes},
		{name: "a projects admin restores someone else's", method: http.MethodPost, entry: julia, by: projectsAdmin, status: http.StatusAccepted,
			message: "is restored at bitnik's next server start", want: restoreJulia},
		{name: "a hub admin without the projects-admin role is refused with 403", method: http.MethodDelete, entry: julia, by: hubAdmin,
			status: http.StatusForbidden, message: "needs the scope custom:projects:admin", want: storageRegistry},
		{name: "a user restoring someone else's is refused with 403", method: http.MethodPost, entry: julia, by: anna,
			status: http.StatusForbidden, message: `managing "bitnik"'s needs the scope`, want: storageRegistry},
		{name: "without credentials: 401", method: http.MethodPost, entry: julia, status: http.StatusUnauthorized, message: "not logged in", want: storageRegistry},
		{name: "an entry that is not in the trash is 404", method: http.MethodDelete, by: "bitnik", status: http.StatusNotFound,
			entry:   projects.Trashed{Project: projects.Project{Dir: conda.Dir}, DeletedAt: julia.DeletedAt},
			message: "no such project in the trash: bitnik has no recently deleted project " + trashID(julia) + "/gh_binder-examples_conda", want: storageRegistry},
		{name: "a folder that cannot be a project folder is 400", method: http.MethodPost, by: "bitnik", status: http.StatusBadRequest,
			path: "/" + trashID(julia) + "/.ssh/restore", message: `does not start with "."`, want: storageRegistry},
		{name: "an id with a sign is 400", method: http.MethodDelete, by: "bitnik", status: http.StatusBadRequest,
			path: "/+" + trashID(julia) + "/" + string(julia.Dir), message: "the id must be a positive decimal number", want: storageRegistry},
		{name: "GET on restore is 405", method: http.MethodGet, entry: julia, by: "bitnik", status: http.StatusMethodNotAllowed,
			message: "use POST", want: storageRegistry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorldConfigured(t, hubKind{base: "/"}, withTrashAndExpiry, storageObjects(t, storageRegistry)...)
			auth := ""
			if tt.by != "" {
				auth = "token " + w.token(t, tt.by)
			}
			path := w.trashPath("bitnik", tt.entry)
			if tt.path != "" {
				path = w.trashPath("bitnik") + tt.path
			} else if tt.method != http.MethodDelete {
				path += "/restore"
			}
			resp, body := w.call(t, tt.method, path, auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			checkErrorBody(t, resp, body, tt.status, tt.message)
			if diff := cmp.Diff(tt.want, w.registryOf(t, "claim-bitnik")); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a restore and then a deletion for good of the same entry: the last request wins", func(t *testing.T) {
		w := newWorldConfigured(t, hubKind{base: "/"}, withTrashAndExpiry, storageObjects(t, storageRegistry)...)
		auth := "token " + w.token(t, "bitnik")
		w.call(t, http.MethodPost, w.trashPath("bitnik", julia)+"/restore", auth)
		resp, body := w.call(t, http.MethodDelete, w.trashPath("bitnik", julia), auth)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status = %d\n%s", resp.StatusCode, body)
		}
		annotations := w.annotationsOf(t, "claim-bitnik")
		if _, ok := annotations[contract.AnnotationClaimRestoreQueue]; ok {
			t.Errorf("the restore is still queued: %s", annotations[contract.AnnotationClaimRestoreQueue])
		}
		if got, want := annotations[contract.AnnotationClaimPurgeQueue], `[{"dir":"gh_binder-examples_julia-python","queuedAt":"2026-05-01T15:30:00Z"}]`; got != want {
			t.Errorf("%s = %s, want %s", contract.AnnotationClaimPurgeQueue, got, want)
		}
	})
}
