package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/patch"
	"github.com/binder-projects/binder-projects/projects"
)

const gib = int64(1) << 30

// tookBack is p remembering its deletion q as taken back (a restore while q was queued).
func tookBack(p projects.Project, q projects.Queued) projects.Project {
	p.DeletionTakenBack = &q
	return p
}

// sizedAt is p measured at bytes when the launch finished.
func sizedAt(p projects.Project, bytes int64) projects.Project {
	p.Size = &projects.Size{Bytes: bytes, At: finished}
	return p
}

func TestTheControllerRecordsTheTrashAndTheVolumeFromTheReportAndTellsThePod(t *testing.T) {
	thesis := projects.Project{Dir: "gh_bitnik_thesis", RepoURL: "https://github.com/bitnik/thesis", LastUsed: admitted.Add(-48 * time.Hour)}
	delThesis := projects.Queued{Dir: "gh_bitnik_thesis", QueuedAt: time.Date(2026, 11, 18, 9, 30, 0, 0, time.UTC)}
	old := projects.Project{Dir: "gh_old_one", LastUsed: admitted.Add(-72 * time.Hour)}
	delOld := projects.Queued{Dir: "gh_old_one", QueuedAt: admitted.Add(-70 * time.Hour)}
	inTrash := func(p projects.Project, q projects.Queued) projects.Trashed {
		return projects.Trashed{Project: p, DeletedAt: q.QueuedAt, InTrash: true}
	}
	ready := recorded{"jupyter-bitnik", "Normal", ReasonProjectReady, "binder-projects: project " + string(launched.Dir) + " found with your files"}
	beside := contract.RestoredName("gh_bitnik_thesis", contract.TrashID(delThesis))
	usage := func(size, free int64, measured ...contract.Measured) *contract.Usage {
		return &contract.Usage{Size: size, Free: free, Projects: measured}
	}
	claimOf := func(capacity, request string) func(*corev1.PersistentVolumeClaim) {
		return func(pvc *corev1.PersistentVolumeClaim) {
			if request != "" {
				pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}
			}
			if capacity != "" {
				pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
			}
		}
	}
	for _, tc := range []struct {
		sentence string
		before   projects.Registry
		claim    func(*corev1.PersistentVolumeClaim)
		handed   patch.Registered
		report   contract.Report
		want     projects.Registry
		events   []recorded
	}{{
		sentence: "a restore done leaves the queue and the trash, the project is recorded again, and the pod says it is back under its own name",
		before:   projects.Registry{Trash: []projects.Trashed{inTrash(thesis, delThesis)}, Restores: []projects.Queued{delThesis}},
		handed:   patch.Registered{Restores: []contract.QueueEntry{delThesis}},
		report: contract.Report{Project: contract.ProjectExisted, Restored: []contract.Restored{{At: 1, As: "gh_bitnik_thesis"}},
			Trash: nil, TrashComplete: true},
		want: projects.Registry{Projects: []projects.Project{launched, thesis}},
		events: []recorded{ready, {"jupyter-bitnik", "Normal", ReasonProjectRestored,
			"binder-projects: project gh_bitnik_thesis, deleted on 2026-11-18 09:30 UTC, is back under its own name, gh_bitnik_thesis"}},
	}, {
		sentence: "a project restored beside the one that took its name is recorded under its new name, and the pod names both",
		before: projects.Registry{Projects: []projects.Project{{Dir: "gh_bitnik_thesis", LastUsed: admitted.Add(-time.Hour)}},
			Trash: []projects.Trashed{inTrash(thesis, delThesis)}, Restores: []projects.Queued{delThesis}},
		handed: patch.Registered{Restores: []contract.QueueEntry{delThesis}},
		report: contract.Report{Project: contract.ProjectExisted, Restored: []contract.Restored{{At: 1, As: beside}}},
		want: projects.Registry{Projects: []projects.Project{launched, {Dir: "gh_bitnik_thesis", LastUsed: admitted.Add(-time.Hour)},
			{Dir: beside, RepoURL: thesis.RepoURL, LastUsed: thesis.LastUsed}}},
		events: []recorded{ready, {"jupyter-bitnik", "Normal", ReasonProjectRestored,
			"binder-projects: project gh_bitnik_thesis, deleted on 2026-11-18 09:30 UTC, is back as " + string(beside) +
				", beside gh_bitnik_thesis: that name was taken by a project launched since, which keeps it"}},
	}, {
		sentence: "a restore queued after the pod was admitted stays queued, and nothing is said of it",
		before:   projects.Registry{Trash: []projects.Trashed{inTrash(thesis, delThesis)}, Restores: []projects.Queued{delThesis}},
		report:   contract.Report{Project: contract.ProjectExisted},
		want: projects.Registry{Projects: []projects.Project{launched}, Trash: []projects.Trashed{inTrash(thesis, delThesis)},
			Restores: []projects.Queued{delThesis}},
		events: []recorded{ready},
	}, {
		sentence: "a deletion taken back that the pod was handed before and carried out all the same: the folder's restore is queued, and the claim says so once",
		before:   projects.Registry{Projects: []projects.Project{tookBack(thesis, delThesis)}},
		handed:   patch.Registered{Deletions: []contract.QueueEntry{delThesis}},
		report: contract.Report{Project: contract.ProjectExisted, Deleted: []int{1},
			Trash: []contract.Trashed{{ID: contract.TrashID(delThesis), Dir: "gh_bitnik_thesis", Bytes: 2 * gib}}, TrashComplete: true},
		want: projects.Registry{Projects: []projects.Project{launched, tookBack(thesis, delThesis)},
			Trash: []projects.Trashed{inTrash(sizedAt(thesis, 2*gib), delThesis)}, Restores: []projects.Queued{delThesis}},
		events: []recorded{{"claim-bitnik", "Normal", ReasonRestoreQueued,
			"binder-projects: project gh_bitnik_thesis was deleted on 2026-11-18 09:30 UTC and restored before its folder went to the trash, " +
				"but the start of pod jupyter-bitnik, already under way, moved it there all the same; the next server start puts it back, " +
				"under its own name, or as " + string(beside) + " if that name is taken by then"}, ready},
	}, {
		sentence: "a purge done leaves the queue and the trash",
		before: projects.Registry{Trash: []projects.Trashed{inTrash(old, delOld), inTrash(thesis, delThesis)},
			Purges: []projects.Queued{delOld}},
		handed: patch.Registered{Purges: []contract.QueueEntry{delOld}},
		report: contract.Report{Project: contract.ProjectExisted, Purged: []int{1}},
		want:   projects.Registry{Projects: []projects.Project{launched}, Trash: []projects.Trashed{inTrash(thesis, delThesis)}},
		events: []recorded{ready},
	}, {
		sentence: "a complete trash list keeps what it holds, with its size, and what it does not hold is gone",
		before:   projects.Registry{Trash: []projects.Trashed{inTrash(old, delOld), inTrash(thesis, delThesis)}},
		report: contract.Report{Project: contract.ProjectExisted,
			Trash: []contract.Trashed{{ID: contract.TrashID(delThesis), Dir: "gh_bitnik_thesis", Bytes: 2 * gib}}, TrashComplete: true},
		want: projects.Registry{Projects: []projects.Project{launched},
			Trash: []projects.Trashed{inTrash(sizedAt(thesis, 2*gib), delThesis)}},
		events: []recorded{ready},
	}, {
		sentence: "the usage is recorded with each measured project's size, and a volume less than 90% used tells nothing",
		before:   projects.Registry{Projects: []projects.Project{old}},
		claim:    claimOf("10Gi", "10Gi"),
		report: contract.Report{Project: contract.ProjectExisted, Usage: usage(10*gib, gib+1,
			contract.Measured{Dir: launched.Dir, Bytes: 6 * gib}, contract.Measured{Dir: "gh_old_one", Bytes: 3 * gib})},
		want: projects.Registry{Projects: []projects.Project{sizedAt(launched, 6*gib), sizedAt(old, 3*gib)},
			Usage: &projects.Usage{Size: 10 * gib, Free: gib + 1, At: finished, Basis: projects.UsageFilesystem}},
		events: []recorded{ready},
	}, {
		sentence: "a volume 90% used gets a Warning saying how full and which projects and deleted ones take the most",
		before: projects.Registry{Projects: []projects.Project{sizedAt(old, gib/2), {Dir: "gh_tiny", LastUsed: admitted}},
			Trash: []projects.Trashed{inTrash(sizedAt(thesis, 2*gib), delThesis)}},
		claim: claimOf("10Gi", "10Gi"),
		report: contract.Report{Project: contract.ProjectExisted, Usage: usage(10*gib, gib,
			contract.Measured{Dir: launched.Dir, Bytes: 6 * gib}, contract.Measured{Dir: "gh_tiny", Bytes: 3000})},
		want: projects.Registry{Projects: []projects.Project{sizedAt(launched, 6*gib), sizedAt(old, gib/2), sizedAt(projects.Project{Dir: "gh_tiny", LastUsed: admitted}, 3000)},
			Trash: []projects.Trashed{inTrash(sizedAt(thesis, 2*gib), delThesis)},
			Usage: &projects.Usage{Size: 10 * gib, Free: gib, At: finished, Basis: projects.UsageFilesystem}},
		events: []recorded{ready, {"jupyter-bitnik", "Warning", ReasonVolumeNearlyFull,
			"binder-projects: your volume is 90% full: 9.0 of 10.0 GiB used, 1.0 GiB free. To make room, delete projects you no longer need on the projects page, " +
				"and delete for good those under recently deleted. The largest: " + string(launched.Dir) + " (6.0 GiB); gh_bitnik_thesis, recently deleted (2.0 GiB); gh_old_one (0.5 GiB)."}},
	}, {
		sentence: "a report without usage records nothing new and tells nothing of the volume, however full it was",
		before:   projects.Registry{Usage: &projects.Usage{Size: 10 * gib, At: admitted}},
		report:   contract.Report{Project: contract.ProjectExisted},
		want:     projects.Registry{Projects: []projects.Project{launched}, Usage: &projects.Usage{Size: 10 * gib, At: admitted}},
		events:   []recorded{ready},
	}, {
		sentence: "on a shared filesystem (more than twice the claim's capacity) the projects are counted against the claim, and the Warning says so",
		claim:    claimOf("10Gi", "5Gi"),
		report: contract.Report{Project: contract.ProjectExisted, Usage: usage(1000*gib, 600*gib,
			contract.Measured{Dir: launched.Dir, Bytes: 9*gib + gib/2})},
		want: projects.Registry{Projects: []projects.Project{sizedAt(launched, 9*gib+gib/2)},
			Usage: &projects.Usage{Size: 10 * gib, Free: gib / 2, At: finished, Basis: projects.UsageClaim}},
		events: []recorded{ready, {"jupyter-bitnik", "Warning", ReasonVolumeNearlyFull,
			"binder-projects: your projects and recently deleted ones take 95% of your volume: 9.5 of its 10.0 GiB (it is on a shared filesystem, so this counts what was measured of your folders). " +
				"To make room, delete projects you no longer need on the projects page, and delete for good those under recently deleted. The largest: " + string(launched.Dir) + " (9.5 GiB)."}},
	}, {
		sentence: "the claim's request stands for its capacity while its status has none",
		claim:    claimOf("", "10Gi"),
		report:   contract.Report{Project: contract.ProjectExisted, Usage: usage(1000*gib, 600*gib, contract.Measured{Dir: launched.Dir, Bytes: gib})},
		want: projects.Registry{Projects: []projects.Project{sizedAt(launched, gib)},
			Usage: &projects.Usage{Size: 10 * gib, Free: 9 * gib, At: finished, Basis: projects.UsageClaim}},
		events: []recorded{ready},
	}, {
		sentence: "a filesystem twice the claim's capacity is the claim's own: the filesystem's usage is recorded",
		claim:    claimOf("10Gi", "10Gi"),
		report:   contract.Report{Project: contract.ProjectExisted, Usage: usage(20*gib, 19*gib)},
		want: projects.Registry{Projects: []projects.Project{launched},
			Usage: &projects.Usage{Size: 20 * gib, Free: 19 * gib, At: finished, Basis: projects.UsageFilesystem}},
		events: []recorded{ready},
	}} {
		t.Run(tc.sentence, func(t *testing.T) {
			pod := launchedPodWith(t, 0, report(tc.report), tc.handed)
			pvc := claimHolding(t, tc.before)
			if tc.claim != nil {
				tc.claim(pvc)
			}
			c := fake.NewClientBuilder().WithObjects(pod, pvc).Build()
			evs := reconcile(t, c, pod, 2)
			if diff := cmp.Diff(tc.want, registryOn(t, c), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.events, evs); diff != "" {
				t.Errorf("events over two reconciles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTheNearlyFullNoteSaysHowFullFromNinetyPercent(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		u        projects.Usage
		want     bool
	}{
		{"just under 90% used is not nearly full", projects.Usage{Size: 1000, Free: 101}, false},
		{"90% used is nearly full", projects.Usage{Size: 1000, Free: 100}, true},
		{"a full volume is nearly full", projects.Usage{Size: 1000, Free: 0}, true},
		{"an unknown size tells nothing", projects.Usage{}, false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if _, got := nearlyFullNote(tc.u, nil); got != tc.want {
				t.Errorf("nearlyFullNote(%+v) = %v, want %v", tc.u, got, tc.want)
			}
		})
	}
}
