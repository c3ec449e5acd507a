package contract

import (
	"strings"
	"testing"
	"time"
)

func TestATrashEntryIsNamedByItsDeletion(t *testing.T) {
	q := QueueEntry{Dir: "gh_o_r", QueuedAt: time.Date(2026, 12, 6, 10, 11, 12, 13, time.UTC)}
	name := TrashEntryName(TrashID(q), q.Dir)
	id, dir, err := ParseTrashEntryName(name)
	if err != nil || dir != q.Dir || !TrashEntryOf(id, dir).Same(q) {
		t.Fatalf("%q read back as %d %q %v; want the deletion %+v", name, id, dir, err, q)
	}
	for _, bad := range []string{"", "gh_o_r", "0/gh_o_r", "-1/gh_o_r", "01/gh_o_r", "1/../x", "1/", "x/gh_o_r", "1/a/b"} {
		if _, _, err := ParseTrashEntryName(bad); err == nil {
			t.Errorf("%q is accepted as a trash entry", bad)
		}
	}
}

func TestARestoredNameIsAValidFolderBesideTheTakenOne(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 11, 12, 0, time.UTC).UnixNano()
	if got := RestoredName("gh_o_r", at); got != "gh_o_r-restored-20261206-101112" {
		t.Errorf("RestoredName = %q", got)
	}
	long := ProjectDir(strings.Repeat("a", MaxProjectDirLen))
	for _, id := range []int64{at, at + 7} {
		got := RestoredName(long, id)
		if err := ValidateProjectDir(string(got)); err != nil || got == long {
			t.Errorf("RestoredName of a 255-byte name = %q (%d bytes): %v", got, len(got), err)
		}
	}
	if RestoredName("gh_o_r", at) == RestoredName("gh_o_r", at+7) {
		t.Error("two deletions in one second are restored to one name")
	}
}
