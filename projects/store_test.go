package projects

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// serversFunc is Servers from a function. The projects service's Servers asks the real JupyterHub
// (service.HubServers, tested against the hub in service/); this package's unit tests need answers in a
// chosen order, a server that appears between two questions and a hub that cannot be asked, so they
// script the answers.
type serversFunc func(call int, user string) ([]string, error)

type scriptedServers struct {
	f     serversFunc
	calls int
}

func (s *scriptedServers) Active(_ context.Context, user string) ([]string, error) {
	s.calls++
	return s.f(s.calls, user)
}

// TestKubeStoreAskingTheHub is the store as the projects service configures it: the hub says whether
// a server runs (Servers) and the user's claim is read by its name (ClaimName). It never lists claims
// and never reads pods.
func TestKubeStoreAskingTheHub(t *testing.T) {
	mine := Registry{Projects: []Project{{Dir: "gh_a_old", LastUsed: t0}, {Dir: "gh_a_new", LastUsed: t0.Add(time.Hour)}}}
	const anna = "anna.müller@uni.example"
	claimName := func(user string) (string, error) {
		if user == anna {
			return "claim-anna", nil
		}
		return "claim-" + user, nil
	}
	build := func(t *testing.T, servers serversFunc) (*KubeStore, *scriptedServers) {
		t.Helper()
		c := fake.NewClientBuilder().WithObjects(
			userClaim(t, "claim-anna", anna, mine),
			// Another claim annotated with anna's name: the service reads only the one ClaimName names.
			userClaim(t, "claim-anna--analysis", anna, Registry{Projects: []Project{{Dir: "gh_named_server", LastUsed: t0}}}),
			// A claim named like bob's, but KubeSpawner made it for someone else.
			userClaim(t, "claim-bob", "bob@elsewhere", Registry{Projects: []Project{{Dir: "gh_x_y", LastUsed: t0}}}),
		).WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			t.Errorf("the store listed %T; it may only get the user's claim", list)
			return errors.New("listing is not allowed")
		}, Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if m, ok := obj.(*metav1.PartialObjectMetadata); !ok || m.Kind != "PersistentVolumeClaim" {
				t.Errorf("the store read a %T %v; it may read only a claim's metadata", obj, obj.GetObjectKind().GroupVersionKind())
			}
			return cl.Get(ctx, key, obj, opts...)
		}}).Build()
		ss := &scriptedServers{f: servers}
		return &KubeStore{Client: c, Namespace: "bhub", Servers: ss, ClaimName: claimName, Now: func() time.Time { return t0 }}, ss
	}
	none := func(int, string) ([]string, error) { return nil, nil }
	registry := func(t *testing.T, s *KubeStore) Registry {
		t.Helper()
		pvc := ClaimMetadata()
		if err := s.Client.Get(context.Background(), client.ObjectKey{Namespace: "bhub", Name: "claim-anna"}, pvc); err != nil {
			t.Fatal(err)
		}
		r, err := FromClaim(pvc)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	unchanged := mine

	t.Run("a user's projects are those on the claim ClaimName names", func(t *testing.T) {
		s, _ := build(t, none)
		got, err := s.List(context.Background(), anna)
		if err != nil {
			t.Fatal(err)
		}
		want := []Listed{
			{Project: Project{Dir: "gh_a_new", LastUsed: t0.Add(time.Hour)}, Claim: "claim-anna"},
			{Project: Project{Dir: "gh_a_old", LastUsed: t0}, Claim: "claim-anna"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("a claim by that name that KubeSpawner made for another user is not the user's", func(t *testing.T) {
		s, _ := build(t, none)
		if got, err := s.List(context.Background(), "bob"); err != nil || len(got) != 0 {
			t.Errorf("List(bob) = %v, %v; want nothing", got, err)
		}
		if err := s.Delete(context.Background(), "bob", "gh_x_y"); !errors.Is(err, ErrNoSuchProject) {
			t.Errorf("Delete: %v, want ErrNoSuchProject", err)
		}
	})

	t.Run("a user without a claim has no projects", func(t *testing.T) {
		s, _ := build(t, none)
		if got, err := s.List(context.Background(), "carol"); err != nil || len(got) != 0 {
			t.Errorf("List(carol) = %v, %v; want nothing", got, err)
		}
	})

	t.Run("while the hub lists a server of the user, deleting is refused and nothing changes", func(t *testing.T) {
		s, ss := build(t, func(int, string) ([]string, error) { return []string{"", "gpu"}, nil })
		err := s.Delete(context.Background(), anna, "gh_a_old")
		if !errors.Is(err, ErrServerRunning) || !strings.Contains(err.Error(), `stop your server and your server "gpu" on the hub's home page first`) {
			t.Fatalf("err = %v, want ErrServerRunning naming both servers", err)
		}
		if diff := cmp.Diff(unchanged, registry(t, s)); diff != "" {
			t.Errorf("the registry changed (-want +got):\n%s", diff)
		}
		if ss.calls != 1 {
			t.Errorf("the hub was asked %d times, want once", ss.calls)
		}
	})

	t.Run("with no server, the project leaves the record and is queued; the hub is asked before and after", func(t *testing.T) {
		s, ss := build(t, none)
		if err := s.Delete(context.Background(), anna, "gh_a_old"); err != nil {
			t.Fatal(err)
		}
		want := Registry{Projects: []Project{mine.Projects[1]}, Deletions: []Queued{{Dir: "gh_a_old", QueuedAt: t0}},
			Trash: []Trashed{{Project: mine.Projects[0], DeletedAt: t0}}}
		if diff := cmp.Diff(want, registry(t, s)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if ss.calls != 2 {
			t.Errorf("the hub was asked %d times, want twice", ss.calls)
		}
	})

	t.Run("a server the hub lists only after the write leaves the deletion queued: ErrServerStarted", func(t *testing.T) {
		s, _ := build(t, func(call int, _ string) ([]string, error) {
			if call == 1 {
				return nil, nil
			}
			return []string{""}, nil
		})
		err := s.Delete(context.Background(), anna, "gh_a_old")
		if !errors.Is(err, ErrServerStarted) || errors.Is(err, ErrServerRunning) || !strings.Contains(err.Error(), "The deletion stays queued") {
			t.Fatalf("err = %v, want ErrServerStarted saying the deletion stays queued", err)
		}
		want := Registry{Projects: []Project{mine.Projects[1]}, Deletions: []Queued{{Dir: "gh_a_old", QueuedAt: t0}},
			Trash: []Trashed{{Project: mine.Projects[0], DeletedAt: t0}}}
		if diff := cmp.Diff(want, registry(t, s)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("when the hub cannot be asked, nothing is deleted", func(t *testing.T) {
		s, _ := build(t, func(int, string) ([]string, error) { return nil, fmt.Errorf("connection refused") })
		err := s.Delete(context.Background(), anna, "gh_a_old")
		if err == nil || errors.Is(err, ErrServerRunning) || !strings.Contains(err.Error(), "asking the hub whether") {
			t.Fatalf("err = %v, want the hub's error", err)
		}
		if diff := cmp.Diff(unchanged, registry(t, s)); diff != "" {
			t.Errorf("the registry changed (-want +got):\n%s", diff)
		}
	})

	t.Run("a project on another claim of the user is not the service's to delete", func(t *testing.T) {
		s, _ := build(t, none)
		if err := s.Delete(context.Background(), anna, "gh_named_server"); !errors.Is(err, ErrNoSuchProject) {
			t.Errorf("err = %v, want ErrNoSuchProject", err)
		}
	})
}

// TestTheStoresTrashAndUsage: Storage lists each claim's usage, largest folders and recently deleted
// projects (with what is asked of them); Restore and Purge ask for a recently deleted project on every
// claim of the user whose trash holds it, through the registry's rules.
func TestTheStoresTrashAndUsage(t *testing.T) {
	const anna = "anna.müller@uni.example"
	old := Project{Dir: "gh_a_old", RepoURL: "https://github.com/a/old", LastUsed: t0.Add(-48 * time.Hour), Size: &Size{Bytes: 300, At: t0}}
	pending := Project{Dir: "gh_a_pending", LastUsed: t0.Add(-24 * time.Hour)}
	kept := Project{Dir: "gh_a_kept", LastUsed: t0, Size: &Size{Bytes: 500, At: t0}}
	usage := &Usage{Size: 1000, Free: 100, At: t0, Basis: UsageFilesystem}
	oldDeleted, pendingDeleted := t0.Add(-time.Hour), t0.Add(-time.Minute)
	mine := Registry{
		Projects:  []Project{kept},
		Deletions: []Queued{{Dir: pending.Dir, QueuedAt: pendingDeleted}},
		Trash: []Trashed{{Project: old, DeletedAt: oldDeleted, InTrash: true},
			{Project: pending, DeletedAt: pendingDeleted}},
		Usage: usage,
	}
	inTrash, stillQueued := mine.Trash[0].Entry(), mine.Trash[1].Entry()
	build := func(t *testing.T, objs ...client.Object) *KubeStore {
		t.Helper()
		objs = append(objs, userClaim(t, "claim-anna", anna, mine), userClaim(t, "claim-bob", "bob", mine))
		return &KubeStore{Client: fake.NewClientBuilder().WithObjects(objs...).Build(), Namespace: "bhub", Now: func() time.Time { return t0 }}
	}
	registry := func(t *testing.T, s *KubeStore, name string) Registry {
		t.Helper()
		pvc := ClaimMetadata()
		if err := s.Client.Get(context.Background(), client.ObjectKey{Namespace: "bhub", Name: name}, pvc); err != nil {
			t.Fatal(err)
		}
		r, err := FromClaim(pvc)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	id := func(q Queued) string { return fmt.Sprint(q.QueuedAt.UnixNano()) }

	t.Run("Storage lists the claim's usage, its largest folders and its recently deleted projects, most recently deleted first", func(t *testing.T) {
		s := build(t)
		if err := s.Purge(context.Background(), anna, inTrash); err != nil {
			t.Fatal(err)
		}
		got, err := s.Storage(context.Background(), anna)
		if err != nil {
			t.Fatal(err)
		}
		want := []Storage{{Claim: "claim-anna", Usage: usage,
			Largest: []Folder{{Dir: kept.Dir, Bytes: 500}, {Dir: old.Dir, Bytes: 300, Trashed: &inTrash}},
			Trash: []ListedTrash{
				{Trashed: mine.Trash[1], ID: id(stillQueued), Claim: "claim-anna"},
				{Trashed: mine.Trash[0], ID: id(inTrash), Claim: "claim-anna", Purging: true},
			}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("Storage says how many starts a restore or a deletion for good waits, a start doing the oldest asked for", func(t *testing.T) {
		var many Registry
		for i := range contract.MaxRestoresPerStart + 2 {
			p := Project{Dir: contract.ProjectDir(fmt.Sprintf("gh_a_%d", i))}
			many.Trash = append(many.Trash, Trashed{Project: p, DeletedAt: t0.Add(time.Duration(i) * time.Minute), InTrash: true})
			many.Restores = append(many.Restores, many.Trash[i].Entry())
		}
		s := &KubeStore{Client: fake.NewClientBuilder().WithObjects(userClaim(t, "claim-anna", anna, many)).Build(), Namespace: "bhub", Now: func() time.Time { return t0 }}
		got, err := s.Storage(context.Background(), anna)
		if err != nil || len(got) != 1 || len(got[0].Trash) != len(many.Trash) {
			t.Fatalf("Storage = %+v, %v", got, err)
		}
		waits := map[contract.ProjectDir]int{}
		for _, l := range got[0].Trash {
			if !l.Restoring {
				t.Errorf("%s: not restoring", l.Dir)
			}
			waits[l.Dir] = l.StartsBefore
		}
		want := map[contract.ProjectDir]int{"gh_a_0": 0, "gh_a_1": 0, "gh_a_2": 0, "gh_a_3": 0, "gh_a_4": 1, "gh_a_5": 1}
		if diff := cmp.Diff(want, waits); diff != "" {
			t.Errorf("starts before each restore (-want +got):\n%s", diff)
		}
	})

	t.Run("restoring a project whose deletion is still queued takes the deletion back: back, and the project is recorded again", func(t *testing.T) {
		s := build(t)
		back, err := s.Restore(context.Background(), anna, stillQueued)
		if err != nil || !back {
			t.Fatalf("Restore = %v, %v; want back", back, err)
		}
		remembering := pending
		remembering.DeletionTakenBack = &stillQueued
		want := Registry{Projects: []Project{kept, remembering}, Trash: mine.Trash[:1], Usage: usage}
		if diff := cmp.Diff(want, registry(t, s, "claim-anna")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		listed, err := s.List(context.Background(), anna)
		if err != nil {
			t.Fatal(err)
		}
		wantListed := []Listed{{Project: kept, Claim: "claim-anna"}, {Project: pending, Claim: "claim-anna"}}
		if diff := cmp.Diff(wantListed, listed); diff != "" {
			t.Errorf("listed, without the registry's memory of the deletion (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(mine, registry(t, s, "claim-bob")); diff != "" {
			t.Errorf("another user's claim changed (-want +got):\n%s", diff)
		}
	})

	t.Run("restoring a project in the trash queues the restore for the next start, and drops a purge asked for it", func(t *testing.T) {
		s := build(t)
		if err := s.Purge(context.Background(), anna, inTrash); err != nil {
			t.Fatal(err)
		}
		back, err := s.Restore(context.Background(), anna, inTrash)
		if err != nil || back {
			t.Fatalf("Restore = %v, %v; want queued", back, err)
		}
		want := mine
		want.Restores = []Queued{inTrash}
		if diff := cmp.Diff(want, registry(t, s, "claim-anna")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("a restore beyond the per-user limit is not refused: the limit counts launches of new projects only", func(t *testing.T) {
		s := build(t)
		if _, err := s.Restore(context.Background(), anna, stillQueued); err != nil {
			t.Fatal(err)
		}
		r := registry(t, s, "claim-anna")
		if err := r.Admit(pending.Dir, 1, nil); err != nil {
			t.Errorf("launching the restored project with a limit of 1: %v", err)
		}
	})

	t.Run("deleting for good queues a purge for the next start, and drops a restore asked for it", func(t *testing.T) {
		s := build(t)
		if _, err := s.Restore(context.Background(), anna, inTrash); err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(context.Background(), anna, inTrash); err != nil {
			t.Fatal(err)
		}
		want := mine
		want.Purges = []Queued{inTrash}
		if diff := cmp.Diff(want, registry(t, s, "claim-anna")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("an entry the user's trash does not hold is ErrNotInTrash, named, and nothing changes", func(t *testing.T) {
		s := build(t)
		other := Queued{Dir: old.Dir, QueuedAt: oldDeleted.Add(time.Second)}
		if _, err := s.Restore(context.Background(), anna, other); !errors.Is(err, ErrNotInTrash) || !strings.Contains(err.Error(), id(other)+"/gh_a_old") {
			t.Errorf("Restore: %v, want ErrNotInTrash naming the entry", err)
		}
		if err := s.Purge(context.Background(), "carol", inTrash); !errors.Is(err, ErrNotInTrash) {
			t.Errorf("Purge of a user without a claim: %v, want ErrNotInTrash", err)
		}
		if diff := cmp.Diff(mine, registry(t, s, "claim-anna")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("an entry on two claims of the user is restored on both; back only if both took it back", func(t *testing.T) {
		second := mine
		second.Deletions = nil
		s := build(t, userClaim(t, "claim-anna--gpu", anna, second))
		back, err := s.Restore(context.Background(), anna, stillQueued)
		if err != nil || back {
			t.Fatalf("Restore = %v, %v; want queued on the second claim", back, err)
		}
		if r := registry(t, s, "claim-anna"); r.Find(pending.Dir) < 0 || len(r.Deletions) != 0 {
			t.Errorf("claim-anna: %+v, want the deletion taken back", r)
		}
		if r := registry(t, s, "claim-anna--gpu"); !cmp.Equal(r.Restores, []Queued{stillQueued}) {
			t.Errorf("claim-anna--gpu restores %v, want the entry queued", r.Restores)
		}
	})
}
