package projects

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
