package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func TestTheRegistryRoundTripsThroughTheClaimsAnnotations(t *testing.T) {
	r := Registry{
		Projects:  []Project{{Dir: "gh_a_b", RepoURL: "https://github.com/a/b", Image: "img:1", Commit: "abc", LastUsed: t0}},
		Deletions: []Queued{{Dir: "gh_c_d", QueuedAt: t0}},
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-x", Annotations: map[string]string{"other": "kept"}}}
	if err := r.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	got, err := FromClaim(pvc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if pvc.Annotations["other"] != "kept" {
		t.Error("ToClaim dropped an annotation that is not the registry's")
	}
	if err := (Registry{}).ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"other": "kept"}, pvc.Annotations); diff != "" {
		t.Errorf("an empty registry leaves annotations behind (-want +got):\n%s", diff)
	}
}

func TestARegistryWrittenBeforeDeletionsTakenBackWereRememberedReadsAndWritesAsBefore(t *testing.T) {
	const projectsJSON = `[{"dir":"gh_a_b","repoURL":"https://github.com/a/b","lastUsed":"2026-11-20T10:00:00Z"}]`
	const trashJSON = `[{"dir":"gh_c_d","lastUsed":"2026-11-20T10:00:00Z","deletedAt":"2026-11-20T10:00:00Z","inTrash":true}]`
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-x", Annotations: map[string]string{
		AnnotationProjects: projectsJSON, contract.AnnotationClaimTrash: trashJSON}}}
	got, err := FromClaim(pvc)
	if err != nil {
		t.Fatal(err)
	}
	want := Registry{Projects: []Project{{Dir: "gh_a_b", RepoURL: "https://github.com/a/b", LastUsed: t0}},
		Trash: []Trashed{{Project: Project{Dir: "gh_c_d", LastUsed: t0}, DeletedAt: t0, InTrash: true}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
	if err := got.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	if pvc.Annotations[AnnotationProjects] != projectsJSON || pvc.Annotations[contract.AnnotationClaimTrash] != trashJSON {
		t.Errorf("written back as\n%s\n%s\nwant them as they were", pvc.Annotations[AnnotationProjects], pvc.Annotations[contract.AnnotationClaimTrash])
	}

	got.Projects[0].DeletionTakenBack = &Queued{Dir: "gh_a_b", QueuedAt: t0}
	if err := got.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	const remembering = `[{"dir":"gh_a_b","repoURL":"https://github.com/a/b","lastUsed":"2026-11-20T10:00:00Z",` +
		`"deletionTakenBack":{"dir":"gh_a_b","queuedAt":"2026-11-20T10:00:00Z"}}]`
	if v := pvc.Annotations[AnnotationProjects]; v != remembering {
		t.Errorf("a project remembering a deletion taken back is written as\n%s\nwant\n%s", v, remembering)
	}
	again, err := FromClaim(pvc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestACorruptRegistryIsAnErrorNamingTheClaim(t *testing.T) {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-x", Annotations: map[string]string{AnnotationDeleteQueue: "[{"}}}
	_, err := FromClaim(pvc)
	if !errors.Is(err, ErrCorruptRegistry) || !strings.Contains(err.Error(), "claim-x") || !strings.Contains(err.Error(), AnnotationDeleteQueue) {
		t.Fatalf("err = %v, want ErrCorruptRegistry naming claim-x and the annotation", err)
	}
}

func TestACorruptPartReadsAsEmptyKeepsTheRestAndIsSetAsideWhenWritten(t *testing.T) {
	good := `[{"dir":"gh_c_d","queuedAt":"2026-11-20T10:00:00Z"}]`
	for _, tt := range []struct {
		sentence, projects, queue string
		want                      Registry
	}{{
		sentence: "a truncated project list reads as no projects, and the queue is kept",
		projects: `[{"dir":"gh_a_b","lastUs`, queue: good,
		want: Registry{Deletions: []Queued{{Dir: "gh_c_d", QueuedAt: t0}},
			Corrupt: map[string]string{AnnotationProjects: `[{"dir":"gh_a_b","lastUs`}},
	}, {
		sentence: "a hand-edited queue naming a path outside the volume reads as nothing queued, so nothing is deleted on its account",
		projects: `[{"dir":"gh_a_b","lastUsed":"2026-11-20T10:00:00Z"}]`, queue: `[{"dir":"../../etc","queuedAt":"2026-11-20T10:00:00Z"}]`,
		want: Registry{Projects: []Project{{Dir: "gh_a_b", LastUsed: t0}},
			Corrupt: map[string]string{AnnotationDeleteQueue: `[{"dir":"../../etc","queuedAt":"2026-11-20T10:00:00Z"}]`}},
	}, {
		sentence: "a registry that is not JSON at all reads as empty",
		projects: `{`, queue: `nonsense`,
		want: Registry{Corrupt: map[string]string{AnnotationProjects: `{`, AnnotationDeleteQueue: `nonsense`}},
	}} {
		t.Run(tt.sentence, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-x",
				Annotations: map[string]string{AnnotationProjects: tt.projects, AnnotationDeleteQueue: tt.queue}}}
			got, err := FromClaim(pvc)
			if !errors.Is(err, ErrCorruptRegistry) {
				t.Fatalf("err = %v, want ErrCorruptRegistry", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
			got.Record(Project{Dir: "gh_new_one", LastUsed: t0})
			if err := got.ToClaim(pvc); err != nil {
				t.Fatal(err)
			}
			for key, bad := range tt.want.Corrupt {
				if pvc.Annotations[key+"-corrupt"] != bad {
					t.Errorf("%s-corrupt = %q, want the bad value %q kept beside", key, pvc.Annotations[key+"-corrupt"], bad)
				}
			}
			again, err := FromClaim(pvc)
			if err != nil {
				t.Fatalf("the registry written after a repair does not read: %v", err)
			}
			if again.Find("gh_new_one") < 0 {
				t.Errorf("the repaired registry lost the new launch: %+v", again)
			}
		})
	}
}

func TestOneUnreadableEntryHidesOnlyItselfAndIsKeptBesideWhenWritten(t *testing.T) {
	const at = `"2026-11-20T10:00:00Z"`
	p := func(dir string) string { return `{"dir":"` + dir + `","lastUsed":` + at + `}` }
	q := func(dir string) string { return `{"dir":"` + dir + `","queuedAt":` + at + `}` }
	tr := func(dir string) string { return `{"dir":"` + dir + `","lastUsed":` + at + `,"deletedAt":` + at + `}` }
	list := func(entries ...string) string { return "[" + strings.Join(entries, ",") + "]" }
	for _, tt := range []struct {
		sentence, key, value string
		want                 Registry
		entries, of          int
	}{{
		sentence: "a project whose folder name a hand edit broke hides only itself",
		key:      AnnotationProjects, value: list(p("gh_a_b"), p("../../etc"), p("gh_c_d")),
		want:    Registry{Projects: []Project{{Dir: "gh_a_b", LastUsed: t0}, {Dir: "gh_c_d", LastUsed: t0}}},
		entries: 1, of: 3,
	}, {
		sentence: "two projects of the wrong shape and a null hide only themselves",
		key:      AnnotationProjects, value: list(`"gh_a_b"`, p("gh_c_d"), `{"dir":"gh_e_f","lastUsed":5}`, `null`),
		want:    Registry{Projects: []Project{{Dir: "gh_c_d", LastUsed: t0}}},
		entries: 3, of: 4,
	}, {
		sentence: "a project whose remembered deletion a hand edit broke hides only itself",
		key:      AnnotationProjects, value: list(p("gh_a_b"), `{"dir":"gh_c_d","lastUsed":`+at+`,"deletionTakenBack":`+q("../x")+`}`),
		want:    Registry{Projects: []Project{{Dir: "gh_a_b", LastUsed: t0}}},
		entries: 1, of: 2,
	}, {
		sentence: "a deletion queue entry naming a path outside the volume is not deleted, the others are",
		key:      AnnotationDeleteQueue, value: list(q("../.."), q("gh_c_d")),
		want:    Registry{Deletions: []Queued{{Dir: "gh_c_d", QueuedAt: t0}}},
		entries: 1, of: 2,
	}, {
		sentence: "an unreadable update request hides only itself",
		key:      AnnotationUpdateQueue, value: list(q("gh_a_b"), `{"dir":"gh_c_d","queuedAt":"yesterday"}`),
		want:    Registry{Updates: []Queued{{Dir: "gh_a_b", QueuedAt: t0}}},
		entries: 1, of: 2,
	}, {
		sentence: "an unreadable trash entry hides only itself",
		key:      contract.AnnotationClaimTrash, value: list(tr("gh_a_b"), tr("gh a b")),
		want:    Registry{Trash: []Trashed{{Project: Project{Dir: "gh_a_b", LastUsed: t0}, DeletedAt: t0}}},
		entries: 1, of: 2,
	}, {
		sentence: "an unreadable restore request hides only itself",
		key:      contract.AnnotationClaimRestoreQueue, value: list(q(""), q("gh_a_b")),
		want:    Registry{Restores: []Queued{{Dir: "gh_a_b", QueuedAt: t0}}},
		entries: 1, of: 2,
	}, {
		sentence: "an unreadable purge request is not carried out, the others are",
		key:      contract.AnnotationClaimPurgeQueue, value: list(q("gh_a_b"), q("/etc")),
		want:    Registry{Purges: []Queued{{Dir: "gh_a_b", QueuedAt: t0}}},
		entries: 1, of: 2,
	}, {
		sentence: "a list none of whose entries can be read reads as empty",
		key:      AnnotationProjects, value: list(p(".."), p(".")),
		entries: 2, of: 2,
	}, {
		sentence: "a value that is not a JSON list at all is wholly unreadable, as before",
		key:      AnnotationProjects, value: p("gh_a_b"),
	}, {
		sentence: "a usage that does not decode is wholly unreadable",
		key:      contract.AnnotationClaimUsage, value: `{"size":"big"}`,
	}} {
		t.Run(tt.sentence, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-x",
				Annotations: map[string]string{tt.key: tt.value, "other": "kept"}}}
			got, err := FromClaim(pvc)
			var bad *Unreadable
			if !errors.Is(err, ErrCorruptRegistry) || !errors.As(err, &bad) {
				t.Fatalf("err = %v, want an *Unreadable wrapping ErrCorruptRegistry", err)
			}
			if bad.Claim != "claim-x" || bad.Annotation != tt.key || bad.Entries != tt.entries || bad.Of != tt.of {
				t.Errorf("unreadable = %+v, want claim-x, %s, %d of %d entries", bad, tt.key, tt.entries, tt.of)
			}
			if tt.entries > 0 {
				var what string
				if tt.entries == 1 {
					what = fmt.Sprintf("1 entry of %d could not be read and is left out", tt.of)
				} else {
					what = fmt.Sprintf("%d entries of %d could not be read and are left out", tt.entries, tt.of)
				}
				if msg := err.Error(); !strings.Contains(msg, "claim claim-x, annotation "+tt.key+": "+what) {
					t.Errorf("err = %q, want it to say %q", msg, what)
				}
			}
			tt.want.Corrupt = map[string]string{tt.key: tt.value}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}

			// The registry controller writes back what it read: the entries that could be read stay
			// where they were, the whole value goes beside, and the next read is clean.
			if err := got.ToClaim(pvc); err != nil {
				t.Fatal(err)
			}
			if kept := pvc.Annotations[tt.key+"-corrupt"]; kept != tt.value {
				t.Errorf("%s-corrupt = %q, want the whole value %q", tt.key, kept, tt.value)
			}
			again, err := FromClaim(pvc)
			if err != nil {
				t.Fatalf("the registry written back does not read: %v", err)
			}
			tt.want.Corrupt = nil
			if diff := cmp.Diff(tt.want, again); diff != "" {
				t.Errorf("registry written back (-want +got):\n%s", diff)
			}
			if err := again.ToClaim(pvc); err != nil {
				t.Fatal(err)
			}
			if pvc.Annotations[tt.key+"-corrupt"] != tt.value || pvc.Annotations["other"] != "kept" {
				t.Errorf("a second write lost what was set aside: %v", pvc.Annotations)
			}
		})
	}
}

func TestRegistryOperations(t *testing.T) {
	t.Run("deleting a project removes it from the record and queues its folder once", func(t *testing.T) {
		r := Registry{Projects: []Project{{Dir: "a", Commit: "c1"}, {Dir: "b"}}}
		q, p, err := r.Delete("a", t0)
		if err != nil {
			t.Fatal(err)
		}
		if !q.Same(Queued{Dir: "a", QueuedAt: t0}) || p.Commit != "c1" {
			t.Errorf("Delete returned %+v, %+v; want the new entry and the project as recorded", q, p)
		}
		if _, _, err := r.Delete("a", t0.Add(time.Minute)); !errors.Is(err, ErrNoSuchProject) {
			t.Errorf("second delete: err = %v, want ErrNoSuchProject", err)
		}
		want := Registry{Projects: []Project{{Dir: "b"}}, Deletions: []Queued{{Dir: "a", QueuedAt: t0}},
			Trash: []Trashed{{Project: Project{Dir: "a", Commit: "c1"}, DeletedAt: t0}}}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("an init container's deletions clear exactly the entries it was handed, to the nanosecond", func(t *testing.T) {
		handed := Queued{Dir: "a", QueuedAt: t0.Add(100 * time.Millisecond)}
		sameSecondLater := Queued{Dir: "b", QueuedAt: t0.Add(900 * time.Millisecond)}
		handedB := Queued{Dir: "b", QueuedAt: t0.Add(800 * time.Millisecond)}
		r := Registry{Deletions: []Queued{handed, sameSecondLater, {Dir: "c", QueuedAt: t0}}}
		r.Deleted([]Queued{handed, handedB, {Dir: "c", QueuedAt: t0}}, []contract.ProjectDir{"a", "b"})
		want := []Queued{sameSecondLater, {Dir: "c", QueuedAt: t0}}
		if diff := cmp.Diff(want, r.Deletions); diff != "" {
			t.Errorf("queue (-want +got): an entry not handed, or handed but not reported done, must stay\n%s", diff)
		}
	})
	t.Run("a launch of a folder whose deletion it was not handed cancels that deletion, and only that", func(t *testing.T) {
		raced := Queued{Dir: "a", QueuedAt: t0}
		handed := Queued{Dir: "a", QueuedAt: t0.Add(-time.Hour)}
		other := Queued{Dir: "b", QueuedAt: t0}
		r := Registry{Deletions: []Queued{handed, raced, other}}
		got := r.Launched("a", []Queued{handed})
		if diff := cmp.Diff([]Queued{raced}, got); diff != "" {
			t.Errorf("cancelled (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]Queued{handed, other}, r.Deletions); diff != "" {
			t.Errorf("queue (-want +got):\n%s", diff)
		}
	})
	t.Run("taking a deletion back removes exactly its entry and its trash record and records the project again", func(t *testing.T) {
		r := Registry{Projects: []Project{{Dir: "b"}}}
		q, p, err := r.Delete("b", t0)
		if err != nil {
			t.Fatal(err)
		}
		r.Deletions = append(r.Deletions, Queued{Dir: "z", QueuedAt: t0})
		r.Unqueue(q, p)
		want := Registry{Projects: []Project{{Dir: "b"}}, Deletions: []Queued{{Dir: "z", QueuedAt: t0}}}
		if diff := cmp.Diff(want, r, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a relaunch updates the record in place and never moves last use back", func(t *testing.T) {
		r := Registry{}
		r.Record(Project{Dir: "b", LastUsed: t0})
		r.Record(Project{Dir: "a", LastUsed: t0})
		r.Record(Project{Dir: "a", Commit: "new", LastUsed: t0.Add(time.Hour)})
		r.Record(Project{Dir: "a", Commit: "old", LastUsed: t0.Add(time.Minute)})
		want := []Project{{Dir: "a", Commit: "new", LastUsed: t0.Add(time.Hour)}, {Dir: "b", LastUsed: t0}}
		if diff := cmp.Diff(want, r.Projects); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("the limit counts recorded projects and lets a recorded one launch again", func(t *testing.T) {
		r := Registry{Projects: []Project{{Dir: "a"}, {Dir: "b"}}}
		if err := r.Admit("a", 2, nil); err != nil {
			t.Errorf("relaunch refused: %v", err)
		}
		if err := r.Admit("c", 3, nil); err != nil {
			t.Errorf("below the limit refused: %v", err)
		}
		if err := r.Admit("c", 0, nil); err != nil {
			t.Errorf("no limit refused: %v", err)
		}
		err := r.Admit("c", 2, nil)
		if !errors.Is(err, ErrTooManyProjects) || !strings.Contains(err.Error(), "a, b") {
			t.Errorf("err = %v, want ErrTooManyProjects naming a, b", err)
		}
	})
	t.Run("the limit counts the new projects the user's other servers are launching, once each", func(t *testing.T) {
		r := Registry{Projects: []Project{{Dir: "a"}, {Dir: "b"}}}
		if err := r.Admit("c", 4, []contract.ProjectDir{"d", "d", "a"}); err != nil {
			t.Errorf("a, b recorded, d launching twice, a relaunched: c is the fourth, refused: %v", err)
		}
		if err := r.Admit("c", 4, []contract.ProjectDir{"c", "c"}); err != nil {
			t.Errorf("c launching elsewhere too is one project, refused: %v", err)
		}
		err := r.Admit("c", 4, []contract.ProjectDir{"d", "e"})
		if !errors.Is(err, ErrTooManyProjects) || !strings.Contains(err.Error(), "launching 2 more (d, e)") {
			t.Errorf("err = %v, want ErrTooManyProjects naming the launching d, e", err)
		}
		if err := r.Admit("a", 2, []contract.ProjectDir{"d", "e"}); err != nil {
			t.Errorf("a recorded project is always launched again, refused: %v", err)
		}
	})
}

func userClaim(t *testing.T, name, user string, r Registry) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bhub",
		Annotations: map[string]string{contract.AnnotationHubUsername: user}}}
	if err := r.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	return pvc
}

func TestKubeStore(t *testing.T) {
	mine := Registry{Projects: []Project{{Dir: "gh_a_old", LastUsed: t0}, {Dir: "gh_a_new", LastUsed: t0.Add(time.Hour)}}}
	named := Registry{Projects: []Project{{Dir: "gh_a_old", LastUsed: t0.Add(time.Minute)}}}
	theirs := Registry{Projects: []Project{{Dir: "gh_x_y", LastUsed: t0}}}
	build := func(objs ...client.Object) *KubeStore {
		objs = append(objs, userClaim(t, "claim-anna", "anna.müller@uni.example", mine),
			userClaim(t, "claim-anna--analysis", "anna.müller@uni.example", named),
			userClaim(t, "claim-bob", "bob", theirs))
		return &KubeStore{Client: fake.NewClientBuilder().WithObjects(objs...).Build(), Namespace: "bhub", Now: func() time.Time { return t0 }}
	}

	t.Run("a user's projects on all their claims are listed, most recently used first", func(t *testing.T) {
		got, err := build().List(context.Background(), "anna.müller@uni.example")
		if err != nil {
			t.Fatal(err)
		}
		want := []Listed{
			{Project: Project{Dir: "gh_a_new", LastUsed: t0.Add(time.Hour)}, Claim: "claim-anna"},
			{Project: Project{Dir: "gh_a_old", LastUsed: t0.Add(time.Minute)}, Claim: "claim-anna--analysis"},
			{Project: Project{Dir: "gh_a_old", LastUsed: t0}, Claim: "claim-anna"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("an unreadable entry hides only itself: the rest is listed, and ListReadable says what could not be read", func(t *testing.T) {
		broken := userClaim(t, "claim-anna--broken", "anna.müller@uni.example", Registry{})
		broken.Annotations[AnnotationProjects] = `[{"dir":"gh_a_b","lastUsed":"2026-11-20T10:00:00Z"},{"dir":"../x"}]`
		s := build(broken)
		got, err := s.ListReadable(context.Background(), "anna.müller@uni.example")
		var bad *Unreadable
		if !errors.As(err, &bad) || bad.Claim != "claim-anna--broken" || bad.Annotation != AnnotationProjects || bad.Entries != 1 {
			t.Errorf("err = %v, want 1 unreadable entry of %s on claim-anna--broken", err, AnnotationProjects)
		}
		if len(got) != 4 || !slices.ContainsFunc(got, func(l Listed) bool { return l.Dir == "gh_a_b" && l.Claim == "claim-anna--broken" }) {
			t.Errorf("listed %+v, want anna's three projects and gh_a_b of claim-anna--broken", got)
		}
		listed, err := s.List(context.Background(), "anna.müller@uni.example")
		if err != nil || !cmp.Equal(listed, got) {
			t.Errorf("List = %+v, %v; want the same projects and no error", listed, err)
		}
	})

	t.Run("Read is ListReadable and Storage from one read of the claims, with the same error", func(t *testing.T) {
		broken := userClaim(t, "claim-anna--broken", "anna.müller@uni.example", Registry{})
		broken.Annotations[AnnotationProjects] = `[{"dir":"gh_a_b","lastUsed":"2026-11-20T10:00:00Z"},{"dir":"../x"}]`
		s := build(broken)
		ctx := context.Background()
		wantList, wantListErr := s.ListReadable(ctx, "anna.müller@uni.example")
		wantStorage, _ := s.Storage(ctx, "anna.müller@uni.example")
		list, storages, err := s.Read(ctx, "anna.müller@uni.example")
		if diff := cmp.Diff(wantList, list); diff != "" {
			t.Errorf("projects (-ListReadable +Read):\n%s", diff)
		}
		if diff := cmp.Diff(wantStorage, storages); diff != "" {
			t.Errorf("storages (-Storage +Read):\n%s", diff)
		}
		if fmt.Sprint(err) != fmt.Sprint(wantListErr) || !errors.Is(err, ErrCorruptRegistry) {
			t.Errorf("err = %v, want %v", err, wantListErr)
		}
	})

	t.Run("deleting queues the folder on every claim of the user that holds it, and no one else's", func(t *testing.T) {
		s := build()
		if err := s.Delete(context.Background(), "anna.müller@uni.example", "gh_a_old"); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"claim-anna", "claim-anna--analysis"} {
			var pvc corev1.PersistentVolumeClaim
			if err := s.Client.Get(context.Background(), client.ObjectKey{Namespace: "bhub", Name: name}, &pvc); err != nil {
				t.Fatal(err)
			}
			r, _ := FromClaim(&pvc)
			if r.Find("gh_a_old") >= 0 || !cmp.Equal(r.QueuedDirs(), []contract.ProjectDir{"gh_a_old"}) {
				t.Errorf("%s: %+v, want gh_a_old gone from the record and queued", name, r)
			}
		}
		if got, _ := s.List(context.Background(), "bob"); len(got) != 1 {
			t.Errorf("bob's projects changed: %v", got)
		}
	})

	t.Run("deleting while a server pod of the user exists is refused", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "jupyter-anna", Namespace: "bhub",
			Labels:      map[string]string{contract.LabelComponent: contract.ComponentSingleuser},
			Annotations: map[string]string{contract.AnnotationHubUsername: "anna.müller@uni.example"}}}
		err := build(pod).Delete(context.Background(), "anna.müller@uni.example", "gh_a_old")
		if !errors.Is(err, ErrServerRunning) || !strings.Contains(err.Error(), "jupyter-anna") {
			t.Fatalf("err = %v, want ErrServerRunning naming the pod", err)
		}
	})

	// A server that starts between the first check and the write: the service looks again after the
	// write. startServer creates the pod from inside the claim update, exactly in that window.
	raceServer := func(t *testing.T, handed []Queued) (*KubeStore, error) {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "jupyter-anna", Namespace: "bhub",
			Labels:      map[string]string{contract.LabelComponent: contract.ComponentSingleuser},
			Annotations: map[string]string{contract.AnnotationHubUsername: "anna.müller@uni.example"}}}
		if handed != nil {
			b, _ := json.Marshal(handed)
			pod.Annotations[contract.AnnotationDeletions] = string(b)
		}
		started := false
		c := fake.NewClientBuilder().WithObjects(userClaim(t, "claim-anna", "anna.müller@uni.example", mine)).
			WithInterceptorFuncs(interceptor.Funcs{Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if err := cl.Patch(ctx, obj, patch, opts...); err != nil {
					return err
				}
				if !started {
					started = true
					return cl.Create(ctx, pod.DeepCopy())
				}
				return nil
			}}).Build()
		s := &KubeStore{Client: c, Namespace: "bhub", Now: func() time.Time { return t0 }}
		err := s.Delete(context.Background(), "anna.müller@uni.example", "gh_a_old")
		if !started {
			t.Fatal("the server never started in the window")
		}
		return s, err
	}
	claimRegistry := func(t *testing.T, s *KubeStore) Registry {
		var pvc corev1.PersistentVolumeClaim
		if err := s.Client.Get(context.Background(), client.ObjectKey{Namespace: "bhub", Name: "claim-anna"}, &pvc); err != nil {
			t.Fatal(err)
		}
		r, err := FromClaim(&pvc)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("a server that started between the check and the write, without the deletion, takes the deletion back", func(t *testing.T) {
		s, err := raceServer(t, nil)
		if !errors.Is(err, ErrServerRunning) || !strings.Contains(err.Error(), "not deleted") {
			t.Fatalf("err = %v, want ErrServerRunning saying the project was not deleted", err)
		}
		want := Registry{Projects: []Project{mine.Projects[1], mine.Projects[0]}} // sorted by folder, as recorded
		if diff := cmp.Diff(want, claimRegistry(t, s)); diff != "" {
			t.Errorf("the registry is not as before the deletion (-want +got):\n%s", diff)
		}
	})

	t.Run("a server that started after the write and was handed the deletion lets it go on", func(t *testing.T) {
		s, err := raceServer(t, []Queued{{Dir: "gh_a_old", QueuedAt: t0}})
		if err != nil {
			t.Fatalf("err = %v, want the deletion to stand: that server's init container deletes the folder", err)
		}
		if got := claimRegistry(t, s); got.Find("gh_a_old") >= 0 || !cmp.Equal(got.QueuedDirs(), []contract.ProjectDir{"gh_a_old"}) {
			t.Errorf("registry %+v, want gh_a_old off the record and queued", got)
		}
	})

	t.Run("an unknown or invalid folder is no such project", func(t *testing.T) {
		for _, dir := range []contract.ProjectDir{"gh_x_y", "../etc", ""} {
			if err := build().Delete(context.Background(), "anna.müller@uni.example", dir); !errors.Is(err, ErrNoSuchProject) {
				t.Errorf("Delete(%q): err = %v, want ErrNoSuchProject", dir, err)
			}
		}
	})
}

func TestUpdateRequestsAreQueuedOncePerProjectClearedExactlyAndGoWithTheProject(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Registry{Projects: []Project{{Dir: "gh_a_b"}, {Dir: "gh_c_d"}}}
	if _, err := r.RequestUpdate("gh_x_y", t0); !errors.Is(err, ErrNoSuchProject) {
		t.Errorf("an update of an unknown project: %v, want ErrNoSuchProject", err)
	}
	first, err := r.RequestUpdate("gh_a_b", t0)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.RequestUpdate("gh_a_b", t0.Add(time.Minute))
	if again != first || len(r.Updates) != 1 {
		t.Errorf("asked twice: %+v then %+v, queue %+v; want the first request once", first, again, r.Updates)
	}
	other, _ := r.RequestUpdate("gh_c_d", t0)

	// Through the claim and back.
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.ToClaim(pvc); err != nil {
		t.Fatal(err)
	}
	back, err := FromClaim(pvc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Updates, back.Updates); diff != "" {
		t.Errorf("update queue through the claim (-want +got):\n%s", diff)
	}

	// A request made after the one handed stays.
	r.UpdateRan(Queued{Dir: "gh_a_b", QueuedAt: t0.Add(-time.Second)})
	if len(r.Updates) != 2 {
		t.Errorf("a request that was not handed was cleared: %+v", r.Updates)
	}
	r.UpdateRan(first)
	if diff := cmp.Diff([]Queued{other}, r.Updates); diff != "" {
		t.Errorf("after the handed request ran (-want +got):\n%s", diff)
	}
	if _, _, err := r.Delete("gh_c_d", t0); err != nil {
		t.Fatal(err)
	}
	if len(r.Updates) != 0 {
		t.Errorf("a deleted project's update request stays queued: %+v", r.Updates)
	}

	// A corrupt update queue reads as empty and is set aside.
	pvc = &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "claim-x", Annotations: map[string]string{AnnotationUpdateQueue: "[{"}}}
	got, err := FromClaim(pvc)
	if !errors.Is(err, ErrCorruptRegistry) || got.Updates != nil {
		t.Errorf("a corrupt update queue: %+v, %v", got.Updates, err)
	}
	if err := got.ToClaim(pvc); err != nil || pvc.Annotations[contract.AnnotationClaimUpdateQueueCorrupt] != "[{" {
		t.Errorf("the corrupt value is not set aside: %v %v", err, pvc.Annotations)
	}
}
