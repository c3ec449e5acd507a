package projects

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func TestAProjectExpiresOnceUnusedForTheLimit(t *testing.T) {
	const after = 90 * 24 * time.Hour
	for _, tc := range []struct {
		sentence string
		lastUsed time.Time
		after    time.Duration
		want     bool
		wantAt   time.Time
	}{
		{"a project last used a second more than the limit ago has expired", t0.Add(-after - time.Second), after, true, t0.Add(-time.Second)},
		{"a project last used exactly the limit ago has expired", t0.Add(-after), after, true, t0},
		{"a project last used a second less than the limit ago has not", t0.Add(-after + time.Second), after, false, t0.Add(time.Second)},
		{"with expiry off nothing expires", t0.Add(-10 * after), 0, false, time.Time{}},
		{"a project whose last use is not recorded never expires", time.Time{}, after, false, time.Time{}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			p := Project{Dir: "gh_a_b", LastUsed: tc.lastUsed}
			if got := p.Expired(tc.after, t0); got != tc.want {
				t.Errorf("Expired = %v, want %v", got, tc.want)
			}
			if got := p.ExpiresAt(tc.after); !got.Equal(tc.wantAt) {
				t.Errorf("ExpiresAt = %v, want %v", got, tc.wantAt)
			}
		})
	}
}

func TestListClaimsGoesOverEveryPageWithTheContinueToken(t *testing.T) {
	var objs []client.Object
	for i := range 5 {
		objs = append(objs, userClaim(t, fmt.Sprintf("claim-%d", i), fmt.Sprintf("user%d", i), Registry{}))
	}
	objs = append(objs, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}})
	// The fake client does not paginate: this one serves two claims a page, and records what was asked.
	var asked []string
	c := fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			o := (&client.ListOptions{}).ApplyOptions(opts)
			asked = append(asked, fmt.Sprintf("limit=%d continue=%q", o.Limit, o.Continue))
			if err := cl.List(ctx, list, opts...); err != nil {
				return err
			}
			l := list.(*metav1.PartialObjectMetadataList)
			start := 0
			if o.Continue != "" {
				fmt.Sscan(o.Continue, &start)
			}
			l.Items = l.Items[start:min(start+2, len(l.Items))]
			if start+2 < 5 {
				l.Continue = fmt.Sprint(start + 2)
			}
			return nil
		},
	}).Build()
	var got [][]string
	err := ListClaims(context.Background(), c, "bhub", func(page []metav1.PartialObjectMetadata) error {
		var names []string
		for _, m := range page {
			names = append(names, m.Name+"="+Owner(&m))
		}
		got = append(got, names)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"claim-0=user0", "claim-1=user1"}, {"claim-2=user2", "claim-3=user3"}, {"claim-4=user4"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	wantAsked := []string{`limit=500 continue=""`, `limit=500 continue="2"`, `limit=500 continue="4"`}
	if diff := cmp.Diff(wantAsked, asked); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
