package contract

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAFolderNameIsCheckedWhereItIsDecoded(t *testing.T) {
	for _, bad := range []string{`{"dir":"../etc","queuedAt":"2026-01-01T00:00:00Z"}`, `{"dir":"","queuedAt":"2026-01-01T00:00:00Z"}`,
		`{"dir":".hidden","queuedAt":"2026-01-01T00:00:00Z"}`, `{"dir":"a/b","queuedAt":"2026-01-01T00:00:00Z"}`} {
		var q QueueEntry
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("%s decoded to %+v; a bad folder name must not decode", bad, q)
		}
	}
	var q QueueEntry
	if err := json.Unmarshal([]byte(`{"dir":"gh_o_r","queuedAt":"2026-01-01T00:00:00Z"}`), &q); err != nil || q.Dir != "gh_o_r" {
		t.Errorf("a good entry decoded to %+v, %v", q, err)
	}
}

func TestTheAnnotationsOfAMutatedPodReadBack(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	handed := []QueueEntry{{Dir: "gh_a_b", QueuedAt: at}}
	b, _ := json.Marshal(handed)
	u, _ := json.Marshal(handed[0])
	restores := []QueueEntry{{Dir: "gh_r_s", QueuedAt: at.Add(time.Nanosecond)}, {Dir: "gh_a_b", QueuedAt: at}}
	purges := []QueueEntry{{Dir: "gh_p_q", QueuedAt: at.Add(-time.Hour)}}
	rb, _ := json.Marshal(restores)
	pb, _ := json.Marshal(purges)
	ann := map[string]string{AnnotationDeletions: string(b), AnnotationUpdateHanded: string(u), AnnotationProjectDir: "gh_c_d",
		AnnotationUpdateDeferred: `{"asked":"queue","open":[{"pod":"jupyter-x","server":""}]}`,
		AnnotationRestores:       string(rb), AnnotationPurges: string(pb)}
	got, err := HandedDeletions(ann)
	if err != nil || !cmp.Equal(handed, got) {
		t.Errorf("HandedDeletions = %+v, %v; want %+v", got, err, handed)
	}
	if got, err := HandedRestores(ann); err != nil || !cmp.Equal(restores, got) {
		t.Errorf("HandedRestores = %+v, %v; want %+v, in order, to the nanosecond", got, err, restores)
	}
	if got, err := HandedPurges(ann); err != nil || !cmp.Equal(purges, got) {
		t.Errorf("HandedPurges = %+v, %v; want %+v", got, err, purges)
	}
	if got, err := HandedRestores(map[string]string{}); err != nil || got != nil {
		t.Errorf("HandedRestores of a pod handed none = %+v, %v; want none", got, err)
	}
	gotU, err := HandedUpdate(ann)
	if err != nil || gotU == nil || !gotU.Same(handed[0]) {
		t.Errorf("HandedUpdate = %+v, %v; want %+v", gotU, err, handed[0])
	}
	if d, err := LaunchedDir(ann); err != nil || d != "gh_c_d" {
		t.Errorf("LaunchedDir = %q, %v", d, err)
	}
	if d, err := DeferredUpdate(ann); err != nil || d == nil || d.Asked != UpdateAskedQueue || len(d.Open) != 1 {
		t.Errorf("DeferredUpdate = %+v, %v", d, err)
	}
	for key, read := range map[string]func(map[string]string) error{
		AnnotationDeletions:      func(a map[string]string) error { _, err := HandedDeletions(a); return err },
		AnnotationUpdateHanded:   func(a map[string]string) error { _, err := HandedUpdate(a); return err },
		AnnotationUpdateDeferred: func(a map[string]string) error { _, err := DeferredUpdate(a); return err },
		AnnotationProjectDir:     func(a map[string]string) error { _, err := LaunchedDir(a); return err },
		AnnotationRestores:       func(a map[string]string) error { _, err := HandedRestores(a); return err },
		AnnotationPurges:         func(a map[string]string) error { _, err := HandedPurges(a); return err },
	} {
		if err := read(map[string]string{key: `{"asked":`}); err == nil {
			t.Errorf("a value of %s that does not parse is accepted", key)
		}
	}
	if d, err := DeferredUpdate(nil); d != nil || err != nil {
		t.Errorf("DeferredUpdate of a pod without it = %+v, %v; want nil, nil", d, err)
	}
	if qs, err := HandedDeletions(nil); qs != nil || err != nil {
		t.Errorf("HandedDeletions of a pod without it = %+v, %v; want none", qs, err)
	}
}

func TestTheInitContainersDeletionsAreTheRequestedThenTheHandedOnes(t *testing.T) {
	at := time.Unix(1, 0)
	got := InitDeletions([]ProjectDir{"b", "a"}, []QueueEntry{{Dir: "a", QueuedAt: at}, {Dir: "c", QueuedAt: at}})
	if diff := cmp.Diff([]ProjectDir{"b", "a", "c"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	dirs, bad := RequestedDeletions(map[string]string{AnnotationDelete: " gh_a  ../x\tgh_b\n"})
	if diff := cmp.Diff([]ProjectDir{"gh_a", "gh_b"}, dirs); diff != "" || len(bad) != 1 || bad["../x"] == nil {
		t.Errorf("RequestedDeletions = %v, %v (-want +got dirs):\n%s", dirs, bad, diff)
	}
}
