package projects

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/binder-projects/binder-projects/contract"
)

// trashed is p's pending record in the trash, deleted at `at`.
func trashed(p Project, at time.Time) Trashed { return Trashed{Project: p, DeletedAt: at} }

// inTrash is the record once the init container moved it into the trash.
func inTrash(p Project, at time.Time) Trashed {
	return Trashed{Project: p, DeletedAt: at, InTrash: true}
}

// tookBack is p remembering its deletion q as taken back.
func tookBack(p Project, q Queued) Project {
	p.DeletionTakenBack = &q
	return p
}

// sized is p with its size measured at `at`.
func sized(p Project, bytes int64, at time.Time) Project {
	p.Size = &Size{Bytes: bytes, At: at}
	return p
}

const gib = int64(1) << 30

func TestTrashRequests(t *testing.T) {
	a := Project{Dir: "gh_a_b", RepoURL: "https://github.com/a/b", Commit: "c1", LastUsed: t0.Add(-time.Hour)}
	c := Project{Dir: "gh_c_d", LastUsed: t0.Add(-2 * time.Hour)}
	del := Queued{Dir: "gh_a_b", QueuedAt: t0}
	old := Queued{Dir: "gh_c_d", QueuedAt: t0.Add(-24 * time.Hour)}
	for _, tt := range []struct {
		sentence string
		before   Registry
		do       func(r *Registry) error
		want     Registry
		wantErr  error
	}{{
		sentence: "deleting a project keeps its record in the trash, pending, named by the deletion's queue entry",
		before:   Registry{Projects: []Project{a, c}},
		do:       func(r *Registry) error { _, _, err := r.Delete("gh_a_b", t0); return err },
		want:     Registry{Projects: []Project{c}, Deletions: []Queued{del}, Trash: []Trashed{trashed(a, t0)}},
	}, {
		sentence: "deleting a project whose folder is queued already keeps one record, named by the queued entry",
		before:   Registry{Projects: []Project{a}, Deletions: []Queued{del}},
		do:       func(r *Registry) error { _, _, err := r.Delete("gh_a_b", t0.Add(time.Minute)); return err },
		want:     Registry{Deletions: []Queued{del}, Trash: []Trashed{trashed(a, t0)}},
	}, {
		sentence: "the trash keeps the oldest deletion first, and a project deleted twice has two records",
		before:   Registry{Projects: []Project{a}, Trash: []Trashed{inTrash(a, t0.Add(-48*time.Hour)), inTrash(c, old.QueuedAt)}},
		do:       func(r *Registry) error { _, _, err := r.Delete("gh_a_b", t0); return err },
		want: Registry{Deletions: []Queued{del},
			Trash: []Trashed{inTrash(a, t0.Add(-48*time.Hour)), inTrash(c, old.QueuedAt), trashed(a, t0)}},
	}, {
		sentence: "restoring a deletion still queued takes it back: the project is recorded again, remembering it, and its trash record goes",
		before:   Registry{Projects: []Project{c}, Deletions: []Queued{del}, Trash: []Trashed{trashed(a, t0)}, Purges: []Queued{del}},
		do:       func(r *Registry) error { _, err := r.RequestRestore(del); return err },
		want:     Registry{Projects: []Project{tookBack(a, del), c}},
	}, {
		sentence: "deleting again a project that remembers a deletion taken back forgets it, and drops the restore queued for its folder",
		before: Registry{Projects: []Project{tookBack(a, old), c}, Trash: []Trashed{inTrash(a, old.QueuedAt)},
			Restores: []Queued{old}},
		do: func(r *Registry) error { _, _, err := r.Delete("gh_a_b", t0); return err },
		want: Registry{Projects: []Project{c}, Deletions: []Queued{del},
			Trash: []Trashed{inTrash(a, old.QueuedAt), trashed(a, t0)}},
	}, {
		sentence: "a relaunch keeps the deletion taken back that the project remembers",
		before:   Registry{Projects: []Project{tookBack(a, old)}},
		do: func(r *Registry) error {
			r.Record(Project{Dir: "gh_a_b", Commit: "c2", LastUsed: t0})
			return nil
		},
		want: Registry{Projects: []Project{tookBack(Project{Dir: "gh_a_b", Commit: "c2", LastUsed: t0}, old)}},
	}, {
		sentence: "restoring a project in the trash queues the request for the next init container",
		before:   Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}},
		do:       func(r *Registry) error { _, err := r.RequestRestore(old); return err },
		want:     Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Restores: []Queued{old}},
	}, {
		sentence: "restoring a project whose deletion was done while its record is still pending queues the request too",
		before:   Registry{Trash: []Trashed{trashed(a, t0)}},
		do:       func(r *Registry) error { _, err := r.RequestRestore(del); return err },
		want:     Registry{Trash: []Trashed{trashed(a, t0)}, Restores: []Queued{del}},
	}, {
		sentence: "a restore already waiting stays as it is",
		before:   Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Restores: []Queued{old}},
		do:       func(r *Registry) error { _, err := r.RequestRestore(old); return err },
		want:     Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Restores: []Queued{old}},
	}, {
		sentence: "restoring takes back a purge asked for before: the last request wins",
		before:   Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Purges: []Queued{old}},
		do:       func(r *Registry) error { _, err := r.RequestRestore(old); return err },
		want:     Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Restores: []Queued{old}},
	}, {
		sentence: "restoring what is not in the trash is refused and changes nothing",
		before:   Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}},
		do: func(r *Registry) error {
			_, err := r.RequestRestore(Queued{Dir: "gh_c_d", QueuedAt: old.QueuedAt.Add(time.Nanosecond)})
			return err
		},
		want:    Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}},
		wantErr: ErrNotInTrash,
	}, {
		sentence: "deleting for good queues the request, once, and takes back a restore asked for before",
		before:   Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Restores: []Queued{old}},
		do: func(r *Registry) error {
			if err := r.RequestPurge(old); err != nil {
				return err
			}
			return r.RequestPurge(old)
		},
		want: Registry{Trash: []Trashed{inTrash(c, old.QueuedAt)}, Purges: []Queued{old}},
	}, {
		sentence: "deleting for good a deletion still queued queues the request beside the deletion",
		before:   Registry{Deletions: []Queued{del}, Trash: []Trashed{trashed(a, t0)}},
		do:       func(r *Registry) error { return r.RequestPurge(del) },
		want:     Registry{Deletions: []Queued{del}, Trash: []Trashed{trashed(a, t0)}, Purges: []Queued{del}},
	}, {
		sentence: "deleting for good what is not in the trash is refused",
		before:   Registry{Projects: []Project{a}},
		do:       func(r *Registry) error { return r.RequestPurge(del) },
		want:     Registry{Projects: []Project{a}},
		wantErr:  ErrNotInTrash,
	}, {
		sentence: "taking a deletion back (Unqueue) removes its trash record and the purge asked for it",
		before:   Registry{Deletions: []Queued{del, old}, Trash: []Trashed{trashed(c, old.QueuedAt), trashed(a, t0)}, Purges: []Queued{del}},
		do:       func(r *Registry) error { r.Unqueue(del, a); return nil },
		want:     Registry{Projects: []Project{a}, Deletions: []Queued{old}, Trash: []Trashed{trashed(c, old.QueuedAt)}},
	}, {
		sentence: "a launch that cancels a raced deletion removes that deletion's trash record, and only that",
		before:   Registry{Projects: []Project{a}, Deletions: []Queued{del}, Trash: []Trashed{inTrash(a, t0.Add(-time.Hour)), trashed(a, t0)}},
		do:       func(r *Registry) error { r.Launched("gh_a_b", nil); return nil },
		want:     Registry{Projects: []Project{a}, Trash: []Trashed{inTrash(a, t0.Add(-time.Hour))}},
	}} {
		t.Run(tt.sentence, func(t *testing.T) {
			r := tt.before
			err := tt.do(&r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, r, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRestoringADeletionStillQueuedSaysTheProjectIsBackAtOnce(t *testing.T) {
	r := Registry{Projects: []Project{{Dir: "gh_a_b"}}}
	q, _, err := r.Delete("gh_a_b", t0)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := r.RequestRestore(q); err != nil || !back {
		t.Errorf("RequestRestore of a queued deletion = %v, %v; want back at once", back, err)
	}
	if _, _, err := r.Delete("gh_a_b", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.Deleted(r.Deletions, []contract.ProjectDir{"gh_a_b"})
	if back, err := r.RequestRestore(Queued{Dir: "gh_a_b", QueuedAt: t0.Add(time.Minute)}); err != nil || back {
		t.Errorf("RequestRestore of a deletion done = %v, %v; want it queued, not back", back, err)
	}
}

func TestTrashedProjectsNeverCountAgainstTheLimit(t *testing.T) {
	r := Registry{Projects: []Project{{Dir: "a"}}}
	for _, d := range []contract.ProjectDir{"b", "c"} {
		r.Record(Project{Dir: d})
		if _, _, err := r.Delete(d, t0); err != nil {
			t.Fatal(err)
		}
	}
	r.Trash = append(r.Trash, inTrash(Project{Dir: "d"}, t0.Add(-time.Hour)))
	if err := r.Admit("e", 2, nil); err != nil {
		t.Errorf("one project and three deleted ones, limit 2: a new one is refused: %v", err)
	}
	if err := r.Admit("e", 1, nil); !errors.Is(err, ErrTooManyProjects) {
		t.Errorf("one project, limit 1: err = %v, want ErrTooManyProjects", err)
	}
}

func TestObserved(t *testing.T) {
	at := t0.Add(time.Hour) // when the init container finished
	a := Project{Dir: "gh_a_b", RepoURL: "https://github.com/a/b", Commit: "c1", LastUsed: t0.Add(-time.Hour),
		Size: &Size{Bytes: 5, At: t0.Add(-time.Hour)}}
	c := Project{Dir: "gh_c_d", LastUsed: t0.Add(-2 * time.Hour)}
	x := Project{Dir: "gh_x_y", LastUsed: t0.Add(-3 * time.Hour)}
	delA := Queued{Dir: "gh_a_b", QueuedAt: t0}
	delC := Queued{Dir: "gh_c_d", QueuedAt: t0.Add(-24 * time.Hour)}
	delX := Queued{Dir: "gh_x_y", QueuedAt: t0.Add(-48 * time.Hour)}
	listed := func(q Queued, bytes int64) contract.Trashed {
		return contract.Trashed{ID: contract.TrashID(q), Dir: q.Dir, Bytes: bytes}
	}
	restoredAs := contract.RestoredName("gh_a_b", contract.TrashID(delA))
	for _, tt := range []struct {
		sentence    string
		before      Registry
		o           Observation
		want        Registry
		wantRestore []Restore
		// wantCarriedOut are the deletions taken back whose folders a start moved all the same.
		wantCarriedOut []Queued
	}{{
		sentence: "a report without usage, restores, purges or trash changes nothing",
		before:   Registry{Projects: []Project{a}, Trash: []Trashed{inTrash(c, delC.QueuedAt)}, Usage: &Usage{Size: 10, Free: 5, At: t0}},
		o:        Observation{Report: contract.Report{Project: contract.ProjectExisted}, At: at},
		want:     Registry{Projects: []Project{a}, Trash: []Trashed{inTrash(c, delC.QueuedAt)}, Usage: &Usage{Size: 10, Free: 5, At: t0}},
	}, {
		sentence: "a report older than the usage recorded (read again as its pod's status changes, after a later start's) brings back no trash record restored since and no older size",
		before:   Registry{Projects: []Project{sized(a, 7, at.Add(time.Minute))}, Usage: &Usage{Size: 10, Free: 4, At: at.Add(time.Minute)}},
		o: Observation{Report: contract.Report{Usage: &contract.Usage{Size: 10, Free: 5, Projects: []contract.Measured{{Dir: "gh_a_b", Bytes: 3}}},
			Trash: []contract.Trashed{listed(delA, 2)}, TrashComplete: true}, At: at},
		want: Registry{Projects: []Project{sized(a, 7, at.Add(time.Minute))}, Usage: &Usage{Size: 10, Free: 4, At: at.Add(time.Minute)}},
	}, {
		sentence: "a report older than the usage recorded still has its restores recorded",
		before: Registry{Projects: []Project{x}, Trash: []Trashed{inTrash(a, delA.QueuedAt)}, Restores: []Queued{delA},
			Usage: &Usage{Size: 10, Free: 4, At: at.Add(time.Minute)}},
		o: Observation{Report: contract.Report{Restored: []contract.Restored{{At: 1, As: "gh_a_b"}}, Trash: []contract.Trashed{listed(delC, 2)}, TrashComplete: true},
			Restores: []Queued{delA}, At: at},
		want:        Registry{Projects: []Project{a, x}, Usage: &Usage{Size: 10, Free: 4, At: at.Add(time.Minute)}},
		wantRestore: []Restore{{Entry: delA, As: "gh_a_b"}},
	}, {
		sentence: "the usage is recorded from the filesystem, with each measured project's size; a project not measured keeps its last size",
		before:   Registry{Projects: []Project{a, c}},
		o: Observation{Report: contract.Report{Usage: &contract.Usage{Size: 10 * gib, Free: 4 * gib,
			Projects: []contract.Measured{{Dir: "gh_c_d", Bytes: 3 * gib}, {Dir: "not_a_project", Bytes: 1}}}}, Capacity: 10 * gib, At: at},
		want: Registry{Projects: []Project{a, sized(c, 3*gib, at)}, Usage: &Usage{Size: 10 * gib, Free: 4 * gib, At: at, Basis: UsageFilesystem}},
	}, {
		sentence: "a filesystem at most twice the claim's capacity is the claim's own: its statfs is recorded",
		before:   Registry{Projects: []Project{c}},
		o:        Observation{Report: contract.Report{Usage: &contract.Usage{Size: 20 * gib, Free: 19 * gib}}, Capacity: 10 * gib, At: at},
		want:     Registry{Projects: []Project{c}, Usage: &Usage{Size: 20 * gib, Free: 19 * gib, At: at, Basis: UsageFilesystem}},
	}, {
		sentence: "on a shared filesystem (more than twice the claim's capacity) the projects and the trash are counted against the claim",
		before:   Registry{Projects: []Project{c, x}, Trash: []Trashed{inTrash(a, delA.QueuedAt)}},
		o: Observation{Report: contract.Report{Usage: &contract.Usage{Size: 20*gib + 1, Free: 15 * gib,
			Projects: []contract.Measured{{Dir: "gh_c_d", Bytes: 3 * gib}}},
			Trash: []contract.Trashed{listed(delA, 2*gib)}, TrashComplete: true}, Capacity: 10 * gib, At: at},
		want: Registry{Projects: []Project{sized(c, 3*gib, at), x}, Trash: []Trashed{inTrash(sized(a, 2*gib, at), delA.QueuedAt)},
			Usage: &Usage{Size: 10 * gib, Free: 5 * gib, At: at, Basis: UsageClaim}},
	}, {
		sentence: "on a shared filesystem that is fuller than the claim, the share's free space is what is left",
		before:   Registry{Projects: []Project{c}},
		o: Observation{Report: contract.Report{Usage: &contract.Usage{Size: 1000 * gib, Free: gib,
			Projects: []contract.Measured{{Dir: "gh_c_d", Bytes: 3 * gib}}}}, Capacity: 10 * gib, At: at},
		want: Registry{Projects: []Project{sized(c, 3*gib, at)}, Usage: &Usage{Size: 10 * gib, Free: gib, At: at, Basis: UsageClaim}},
	}, {
		sentence: "without the claim's capacity the filesystem's usage is recorded, however large",
		before:   Registry{},
		o:        Observation{Report: contract.Report{Usage: &contract.Usage{Size: 1000 * gib, Free: gib}}, At: at},
		want:     Registry{Usage: &Usage{Size: 1000 * gib, Free: gib, At: at, Basis: UsageFilesystem}},
	}, {
		sentence: "a handed restore reported done leaves the queue and the trash, and the project is recorded again as it was",
		before:   Registry{Projects: []Project{x}, Trash: []Trashed{inTrash(c, delC.QueuedAt), inTrash(a, delA.QueuedAt)}, Restores: []Queued{delC, delA}},
		o: Observation{Report: contract.Report{Restored: []contract.Restored{{At: 2, As: "gh_a_b"}}},
			Restores: []Queued{delC, delA}, At: at},
		want:        Registry{Projects: []Project{a, x}, Trash: []Trashed{inTrash(c, delC.QueuedAt)}, Restores: []Queued{delC}},
		wantRestore: []Restore{{Entry: delA, As: "gh_a_b"}},
	}, {
		sentence: "a project restored beside the one that took its name is recorded under its new folder, and the other is kept",
		before:   Registry{Projects: []Project{{Dir: "gh_a_b", LastUsed: t0}}, Trash: []Trashed{inTrash(a, delA.QueuedAt)}, Restores: []Queued{delA}},
		o: Observation{Report: contract.Report{Restored: []contract.Restored{{At: 1, As: restoredAs}}},
			Restores: []Queued{delA}, At: at},
		want: Registry{Projects: []Project{{Dir: "gh_a_b", LastUsed: t0},
			{Dir: restoredAs, RepoURL: a.RepoURL, Commit: a.Commit, LastUsed: a.LastUsed, Size: a.Size}}},
		wantRestore: []Restore{{Entry: delA, As: restoredAs}},
	}, {
		sentence: "a restore observed again (a later status of the same pod) records nothing anew: a project deleted since stays deleted",
		before:   Registry{Deletions: []Queued{{Dir: "gh_a_b", QueuedAt: at}}, Trash: []Trashed{trashed(a, at)}},
		o: Observation{Report: contract.Report{Restored: []contract.Restored{{At: 1, As: "gh_a_b"}}},
			Restores: []Queued{delA}, At: at.Add(time.Hour)},
		want: Registry{Deletions: []Queued{{Dir: "gh_a_b", QueuedAt: at}}, Trash: []Trashed{trashed(a, at)}},
	}, {
		sentence: "a restore queued after the pod was admitted, or handed and not reported done, stays queued",
		before:   Registry{Trash: []Trashed{inTrash(c, delC.QueuedAt), inTrash(a, delA.QueuedAt)}, Restores: []Queued{delC, delA}},
		o:        Observation{Report: contract.Report{Restored: []contract.Restored{{At: 7, As: "gh_c_d"}}}, Restores: []Queued{delC}, At: at},
		want:     Registry{Trash: []Trashed{inTrash(c, delC.QueuedAt), inTrash(a, delA.QueuedAt)}, Restores: []Queued{delC, delA}},
	}, {
		sentence: "a handed purge reported done leaves the queue and the trash; one not reported stays",
		before:   Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), inTrash(c, delC.QueuedAt)}, Purges: []Queued{delX, delC}},
		o:        Observation{Report: contract.Report{Purged: []int{2}}, Purges: []Queued{delX, delC}, At: at},
		want:     Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt)}, Purges: []Queued{delX}},
	}, {
		sentence: "a complete trash list marks what it holds in the trash with its size, and what it does not hold that was in the trash is gone",
		before:   Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), inTrash(c, delC.QueuedAt), trashed(a, delA.QueuedAt)}},
		o: Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delC, -1), listed(delA, 7)}, TrashComplete: true},
			At: at},
		want: Registry{Trash: []Trashed{inTrash(c, delC.QueuedAt), inTrash(sized(a, 7, at), delA.QueuedAt)}},
	}, {
		sentence: "an incomplete trash list marks what it holds and removes nothing",
		before:   Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), trashed(a, delA.QueuedAt)}},
		o:        Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delA, 7)}}, At: at},
		want:     Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), inTrash(sized(a, 7, at), delA.QueuedAt)}},
	}, {
		sentence: "a pending record whose deletion is done and which a complete trash list does not hold was deleted at once, and goes",
		before:   Registry{Trash: []Trashed{trashed(a, delA.QueuedAt)}},
		o:        Observation{Report: contract.Report{Deleted: []int{1}, TrashComplete: true}, At: at},
		want:     Registry{},
	}, {
		sentence: "a pending record whose deletion is still queued stays, whatever the trash list",
		before:   Registry{Deletions: []Queued{delA}, Trash: []Trashed{trashed(a, delA.QueuedAt)}},
		o:        Observation{Report: contract.Report{Kept: []int{1}, TrashComplete: true}, At: at},
		want:     Registry{Deletions: []Queued{delA}, Trash: []Trashed{trashed(a, delA.QueuedAt)}},
	}, {
		sentence: "while the deletion queue does not parse, a complete trash list removes no record",
		before: Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), trashed(a, delA.QueuedAt)},
			Corrupt: map[string]string{AnnotationDeleteQueue: "[{"}},
		o: Observation{Report: contract.Report{TrashComplete: true}, At: at},
		want: Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), trashed(a, delA.QueuedAt)},
			Corrupt: map[string]string{AnnotationDeleteQueue: "[{"}},
	}, {
		sentence: "an entry in the trash without a record gets one of its folder, so that it can be restored or purged",
		before:   Registry{},
		o:        Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delC, 3)}, TrashComplete: true}, At: at},
		want:     Registry{Trash: []Trashed{inTrash(sized(Project{Dir: "gh_c_d"}, 3, at), delC.QueuedAt)}},
	}, {
		sentence: "restore and purge requests whose record is gone leave their queues",
		before: Registry{Trash: []Trashed{inTrash(x, delX.QueuedAt), inTrash(c, delC.QueuedAt)},
			Restores: []Queued{delX}, Purges: []Queued{delC}},
		o:    Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delC, 3)}, TrashComplete: true}, At: at},
		want: Registry{Trash: []Trashed{inTrash(sized(c, 3, at), delC.QueuedAt)}, Purges: []Queued{delC}},
	}, {
		sentence: "a deletion taken back that a start handed it carried out all the same: the folder's record is the project's, and its restore is queued",
		before:   Registry{Projects: []Project{tookBack(a, delA), c}},
		o: Observation{Report: contract.Report{Deleted: []int{1}, Trash: []contract.Trashed{listed(delA, 7)}, TrashComplete: true},
			At: at},
		want: Registry{Projects: []Project{tookBack(a, delA), c}, Trash: []Trashed{inTrash(sized(a, 7, at), delA.QueuedAt)},
			Restores: []Queued{delA}},
		wantCarriedOut: []Queued{delA},
	}, {
		sentence: "that report observed again (a later status of the same pod) queues nothing anew",
		before: Registry{Projects: []Project{tookBack(a, delA), c}, Trash: []Trashed{inTrash(sized(a, 7, at), delA.QueuedAt)},
			Restores: []Queued{delA}},
		o: Observation{Report: contract.Report{Deleted: []int{1}, Trash: []contract.Trashed{listed(delA, 7)}, TrashComplete: true},
			At: at},
		want: Registry{Projects: []Project{tookBack(a, delA), c}, Trash: []Trashed{inTrash(sized(a, 7, at), delA.QueuedAt)},
			Restores: []Queued{delA}},
	}, {
		sentence: "the restore of that folder done, the project forgets the deletion",
		before:   Registry{Projects: []Project{tookBack(a, delA)}, Trash: []Trashed{inTrash(a, delA.QueuedAt)}, Restores: []Queued{delA}},
		o: Observation{Report: contract.Report{Restored: []contract.Restored{{At: 1, As: "gh_a_b"}}},
			Restores: []Queued{delA}, At: at},
		want:        Registry{Projects: []Project{a}},
		wantRestore: []Restore{{Entry: delA, As: "gh_a_b"}},
	}, {
		sentence: "a folder in the trash by another deletion than the one taken back is an ordinary record, and nothing is queued",
		before:   Registry{Projects: []Project{tookBack(a, delA)}},
		o:        Observation{Report: contract.Report{Trash: []contract.Trashed{listed(Queued{Dir: "gh_a_b", QueuedAt: delX.QueuedAt}, 3)}}, At: at},
		want: Registry{Projects: []Project{tookBack(a, delA)},
			Trash: []Trashed{inTrash(sized(Project{Dir: "gh_a_b"}, 3, at), delX.QueuedAt)}},
	}, {
		sentence: "a folder a start moved by a deletion taken back, of a project deleted again since, is an ordinary record, and nothing is queued",
		before:   Registry{Deletions: []Queued{{Dir: "gh_a_b", QueuedAt: at}}, Trash: []Trashed{trashed(a, at)}},
		o:        Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delA, 3)}, TrashComplete: true}, At: at},
		want: Registry{Deletions: []Queued{{Dir: "gh_a_b", QueuedAt: at}},
			Trash: []Trashed{inTrash(sized(Project{Dir: "gh_a_b"}, 3, at), delA.QueuedAt), trashed(a, at)}},
	}, {
		sentence: "a complete trash list without the folder of a deletion taken back makes the project forget it",
		before:   Registry{Projects: []Project{tookBack(a, delA), tookBack(c, delC)}},
		o:        Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delC, 3)}, TrashComplete: true}, At: at},
		want: Registry{Projects: []Project{a, tookBack(c, delC)},
			Trash: []Trashed{inTrash(sized(c, 3, at), delC.QueuedAt)}, Restores: []Queued{delC}},
		wantCarriedOut: []Queued{delC},
	}, {
		sentence: "an incomplete trash list makes no project forget a deletion taken back",
		before:   Registry{Projects: []Project{tookBack(a, delA)}},
		o:        Observation{Report: contract.Report{Trash: []contract.Trashed{listed(delC, 3)}}, At: at},
		want: Registry{Projects: []Project{tookBack(a, delA)},
			Trash: []Trashed{inTrash(sized(Project{Dir: "gh_c_d"}, 3, at), delC.QueuedAt)}},
	}, {
		sentence: "while the deletion queue does not parse, no project forgets a deletion taken back",
		before:   Registry{Projects: []Project{tookBack(a, delA)}, Corrupt: map[string]string{AnnotationDeleteQueue: "[{"}},
		o:        Observation{Report: contract.Report{TrashComplete: true}, At: at},
		want:     Registry{Projects: []Project{tookBack(a, delA)}, Corrupt: map[string]string{AnnotationDeleteQueue: "[{"}},
	}} {
		t.Run(tt.sentence, func(t *testing.T) {
			r := tt.before
			got, carriedOut := r.Observed(tt.o)
			if diff := cmp.Diff(tt.want, r, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRestore, got); diff != "" {
				t.Errorf("restores (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCarriedOut, carriedOut); diff != "" {
				t.Errorf("deletions taken back and carried out (-want +got):\n%s", diff)
			}
		})
	}
}

// throughTheTerminationMessage is the report as the controller reads it from the pod: encoded, the
// last 4096 bytes kubelet reads of the file, the first 3072 of those its status manager keeps for a
// pod of four containers (--helper-mode=init-container), decoded.
func throughTheTerminationMessage(t *testing.T, r contract.Report) contract.Report {
	t.Helper()
	msg := r.Encode()
	msg = msg[max(0, len(msg)-4096):]
	got, err := contract.DecodeReport(string(msg[:min(len(msg), 12288/4)]))
	if err != nil || !got.Present {
		t.Fatalf("the controller reads no report (%v) of %d bytes", err, len(msg))
	}
	return got
}

func TestRestoresCutFromAReportAreRecordedFromTheNextStartsReport(t *testing.T) {
	// Twenty projects of long names in the trash, all asked back: more than one report holds.
	var reg Registry
	for i := range 20 {
		dir := contract.ProjectDir(fmt.Sprintf("gh_org_%02d_%s", i, strings.Repeat("x", 200)))
		reg.Trash = append(reg.Trash, inTrash(Project{Dir: dir, RepoURL: "https://github.com/org/" + string(dir), LastUsed: t0}, t0.Add(time.Duration(i))))
		reg.Restores = append(reg.Restores, reg.Trash[i].Entry())
	}
	want := make([]Project, len(reg.Trash))
	for i, tr := range reg.Trash {
		want[i] = tr.Project
	}
	// A start handed every restore asked for puts each back under its own name (as a later start
	// finds it put back by its record), and finds the trash empty.
	start := func(handed []Queued) contract.Report {
		r := contract.Report{Project: contract.ProjectExisted, TrashComplete: true}
		for i, q := range handed {
			r.Restored = append(r.Restored, contract.Restored{At: i + 1, As: q.Dir})
		}
		return r
	}

	handed := slices.Clone(reg.Restores)
	back, _ := reg.Observed(Observation{Report: throughTheTerminationMessage(t, start(handed)), Restores: handed, At: t0.Add(time.Hour)})
	if len(back) == 0 || len(back) == len(handed) {
		t.Fatalf("%d of %d restores recorded from the first report: want some, and not all (it cannot hold them)", len(back), len(handed))
	}
	for _, q := range handed {
		recorded := reg.Find(q.Dir) >= 0
		queued := reg.FindTrashed(q) >= 0 && slices.ContainsFunc(reg.Restores, q.Same)
		if recorded == queued {
			t.Errorf("restore %s: recorded %v, still queued with its record in the trash %v: want one or the other", q.Dir, recorded, queued)
		}
	}

	handed = slices.Clone(reg.Restores)
	reg.Observed(Observation{Report: throughTheTerminationMessage(t, start(handed)), Restores: handed, At: t0.Add(2 * time.Hour)})
	if diff := cmp.Diff(Registry{Projects: want}, reg, cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b Project) bool { return a.Dir < b.Dir })); diff != "" {
		t.Errorf("after the next start, the registry (-want +got): every project restored, no trash, no request left\n%s", diff)
	}
}

func TestLargestListsTheMeasuredProjectsAndTrashEntriesLargestFirst(t *testing.T) {
	delC := Queued{Dir: "gh_c_d", QueuedAt: t0}
	r := Registry{
		Projects: []Project{sized(Project{Dir: "small"}, 1, t0), {Dir: "unmeasured"}, sized(Project{Dir: "big"}, 9, t0)},
		Trash:    []Trashed{inTrash(sized(Project{Dir: "gh_c_d"}, 5, t0), t0), trashed(sized(Project{Dir: "pending"}, 100, t0), t0)},
	}
	want := []Folder{{Dir: "big", Bytes: 9}, {Dir: "gh_c_d", Bytes: 5, Trashed: &delC}}
	if diff := cmp.Diff(want, r.Largest(2)); diff != "" {
		t.Errorf("Largest(2) (-want +got):\n%s", diff)
	}
	if got := r.Taken(); got != 15 {
		t.Errorf("Taken() = %d, want 15: the measured projects and what is in the trash, not a pending deletion's folder twice", got)
	}
}

// A start admitted while a deletion was queued was handed it; a restore that takes the deletion back
// afterwards cannot stop that start from moving the folder into the trash. These follow the registry
// through the operations the projects service and the registry controller apply, in their order.
func TestADeletionTakenBackThatAStartCarriedOutComesBackAtTheNextStart(t *testing.T) {
	p := Project{Dir: "gh_a_b", RepoURL: "https://github.com/a/b", Commit: "c1", LastUsed: t0.Add(-time.Hour)}
	other := Project{Dir: "gh_c_d", LastUsed: t0.Add(-2 * time.Hour)}
	at := t0.Add(time.Minute) // when a start's init container finished
	listed := func(q Queued) contract.Trashed {
		return contract.Trashed{ID: contract.TrashID(q), Dir: q.Dir, Bytes: 7}
	}
	// start is what the registry controller does with a launch of launched that was handed the
	// deletions and restores given and reported rep.
	start := func(r *Registry, launched Project, deletions, restores []Queued, rep contract.Report) ([]Restore, []Queued) {
		r.Record(launched)
		var gone []contract.ProjectDir
		for _, i := range rep.Deleted {
			gone = append(gone, deletions[i-1].Dir)
		}
		r.Deleted(deletions, gone)
		r.Launched(launched.Dir, deletions)
		return r.Observed(Observation{Report: rep, Restores: restores, At: launched.LastUsed})
	}
	deleteThenRestore := func(t *testing.T, r *Registry) (q Queued, handed []Queued) {
		t.Helper()
		q, _, err := r.Delete(p.Dir, t0)
		if err != nil {
			t.Fatal(err)
		}
		handed = slices.Clone(r.Deletions) // a start admitted now is handed the deletion
		if back, err := r.RequestRestore(q); err != nil || !back {
			t.Fatalf("RequestRestore = %v, %v; want the deletion taken back", back, err)
		}
		return q, handed
	}
	check := func(t *testing.T, want, got Registry) {
		t.Helper()
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("registry (-want +got):\n%s", diff)
		}
	}

	t.Run("the project stays listed, its folder waits in Restores, and the project's own launch brings it back before seeding it", func(t *testing.T) {
		r := Registry{Projects: []Project{p, other}}
		q, handed := deleteThenRestore(t, &r)
		otherLaunched := Project{Dir: other.Dir, LastUsed: at}
		_, carriedOut := start(&r, otherLaunched, handed, nil,
			contract.Report{Deleted: []int{1}, Trash: []contract.Trashed{listed(q)}, TrashComplete: true})
		if diff := cmp.Diff([]Queued{q}, carriedOut); diff != "" {
			t.Errorf("carried out (-want +got):\n%s", diff)
		}
		check(t, Registry{Projects: []Project{tookBack(p, q), otherLaunched},
			Trash: []Trashed{inTrash(sized(p, 7, at), q.QueuedAt)}, Restores: []Queued{q}}, r)
		if err := r.Admit(p.Dir, 2, nil); err != nil {
			t.Errorf("the project is recorded: its launch must be admitted, got %v", err)
		}
		if err := r.Admit("gh_new_one", 3, nil); err != nil {
			t.Errorf("the project and its folder in the trash count once: a third project is admitted below 3, got %v", err)
		}
		if err := r.Admit("gh_new_one", 2, nil); !errors.Is(err, ErrTooManyProjects) {
			t.Errorf("two projects, limit 2: err = %v, want ErrTooManyProjects", err)
		}

		pLaunched := Project{Dir: p.Dir, RepoURL: p.RepoURL, Commit: p.Commit, LastUsed: at.Add(time.Hour)}
		restored, carriedOut := start(&r, pLaunched, nil, slices.Clone(r.Restores),
			contract.Report{Project: contract.ProjectExisted, Restored: []contract.Restored{{At: 1, As: p.Dir}}, TrashComplete: true})
		if diff := cmp.Diff([]Restore{{Entry: q, As: p.Dir}}, restored); diff != "" || carriedOut != nil {
			t.Errorf("restored (-want +got):\n%s\ncarried out: %v, want none", diff, carriedOut)
		}
		check(t, Registry{Projects: []Project{pLaunched, otherLaunched}}, r)
	})

	t.Run("the project's own launch had the deletion: it moves the folder and seeds the project anew, and the next start brings the folder back beside it", func(t *testing.T) {
		r := Registry{Projects: []Project{p}}
		q, handed := deleteThenRestore(t, &r)
		pLaunched := Project{Dir: p.Dir, RepoURL: p.RepoURL, Commit: p.Commit, LastUsed: at}
		_, carriedOut := start(&r, pLaunched, handed, nil, contract.Report{Project: contract.ProjectSeeded, Deleted: []int{1},
			Trash: []contract.Trashed{listed(q)}, TrashComplete: true})
		if diff := cmp.Diff([]Queued{q}, carriedOut); diff != "" {
			t.Errorf("carried out (-want +got):\n%s", diff)
		}
		check(t, Registry{Projects: []Project{tookBack(pLaunched, q)}, Trash: []Trashed{inTrash(sized(pLaunched, 7, at), q.QueuedAt)},
			Restores: []Queued{q}}, r)

		beside := contract.RestoredName(p.Dir, contract.TrashID(q))
		otherLaunched := Project{Dir: other.Dir, LastUsed: at.Add(time.Hour)}
		start(&r, otherLaunched, nil, slices.Clone(r.Restores),
			contract.Report{Project: contract.ProjectExisted, Restored: []contract.Restored{{At: 1, As: beside}}, TrashComplete: true})
		besideRecord := sized(pLaunched, 7, at)
		besideRecord.Dir = beside
		check(t, Registry{Projects: []Project{pLaunched, besideRecord, otherLaunched}}, r)
	})

	t.Run("the start that had the deletion did not move the folder: the next complete trash list forgets it", func(t *testing.T) {
		r := Registry{Projects: []Project{p}}
		_, handed := deleteThenRestore(t, &r)
		_, carriedOut := start(&r, Project{Dir: other.Dir, LastUsed: at}, handed, nil, contract.Report{Kept: []int{1}, TrashComplete: true})
		if carriedOut != nil {
			t.Errorf("carried out: %v, want none", carriedOut)
		}
		check(t, Registry{Projects: []Project{p, {Dir: other.Dir, LastUsed: at}}}, r)
	})

	t.Run("deleted again after the restore, the start handed the new deletion moves the folder: an ordinary trash record, nothing comes back", func(t *testing.T) {
		r := Registry{Projects: []Project{p}}
		deleteThenRestore(t, &r)
		q2, _, err := r.Delete(p.Dir, t0.Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_, carriedOut := start(&r, Project{Dir: other.Dir, LastUsed: at}, []Queued{q2}, nil,
			contract.Report{Deleted: []int{1}, Trash: []contract.Trashed{listed(q2)}, TrashComplete: true})
		if carriedOut != nil {
			t.Errorf("carried out: %v, want none", carriedOut)
		}
		check(t, Registry{Projects: []Project{{Dir: other.Dir, LastUsed: at}}, Trash: []Trashed{inTrash(sized(p, 7, at), q2.QueuedAt)}}, r)
	})

	t.Run("deleted again while the start handed the first deletion still runs, the folder it moves stays in the trash", func(t *testing.T) {
		r := Registry{Projects: []Project{p}}
		q, handed := deleteThenRestore(t, &r)
		q2, _, err := r.Delete(p.Dir, t0.Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_, carriedOut := start(&r, Project{Dir: other.Dir, LastUsed: at}, handed, nil,
			contract.Report{Deleted: []int{1}, Trash: []contract.Trashed{listed(q)}, TrashComplete: true})
		if carriedOut != nil {
			t.Errorf("carried out: %v, want none", carriedOut)
		}
		check(t, Registry{Projects: []Project{{Dir: other.Dir, LastUsed: at}}, Deletions: []Queued{q2},
			Trash: []Trashed{inTrash(sized(Project{Dir: p.Dir}, 7, at), q.QueuedAt), trashed(p, q2.QueuedAt)}}, r)
	})

	t.Run("deleted again while its folder waits to come back, the folder stays in the trash", func(t *testing.T) {
		r := Registry{Projects: []Project{p}}
		q, handed := deleteThenRestore(t, &r)
		start(&r, Project{Dir: other.Dir, LastUsed: at}, handed, nil,
			contract.Report{Deleted: []int{1}, Trash: []contract.Trashed{listed(q)}, TrashComplete: true})
		q2, _, err := r.Delete(p.Dir, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		check(t, Registry{Projects: []Project{{Dir: other.Dir, LastUsed: at}}, Deletions: []Queued{q2},
			Trash: []Trashed{inTrash(sized(p, 7, at), q.QueuedAt), trashed(p, q2.QueuedAt)}}, r)
	})
}
