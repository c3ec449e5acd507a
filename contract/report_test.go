package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestAReportSurvivesTheTerminationMessage(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		r        Report
	}{
		{"a start that seeded the project after deleting and keeping queued folders, with warnings",
			Report{Deleted: []int{1, 3}, Kept: []int{2}, Project: ProjectSeeded, Warnings: []string{"could not delete project gh_b: no", "second one"}}},
		{"a start that found the project there and had nothing queued", Report{Project: ProjectExisted}},
		{"a failed start with its error; a message may hold = : and quotes",
			Report{Deleted: []int{1}, Project: ProjectFailed, Error: `a file named "x" is in the way: a=b`}},
		{"an image without a home folder gives an empty project and a warning",
			Report{Project: ProjectSeededEmpty, Warnings: []string{"the image has no home folder at /home/jovyan, so the project is empty"}}},
		{"an update with its counts, from a recorded commit, after finishing an interrupted one",
			Report{Project: ProjectExisted, Update: &UpdateReport{State: UpdateUpdated, Commit: "bbbbbbb", From: "aaaaaaa", Counted: true,
				Replaced: 1, Added: 2, Removed: 3, Kept: 4, Beside: 5, StayedDeleted: 6, Modes: 7, Recovered: "finished"}}},
		{"an update of a project without a record of its seed, without counts",
			Report{Project: ProjectExisted, Update: &UpdateReport{State: UpdateUpdated, Commit: "bbbbbbb"}}},
		{"an update not needed: the project was seeded now", Report{Project: ProjectSeeded, Update: &UpdateReport{State: UpdateNotNeeded}}},
		{"an update unavailable", Report{Project: ProjectExisted, Update: &UpdateReport{State: UpdateUnavailable}, Warnings: []string{"no valid commit"}}},
		{"an update that failed and left the project as it was", Report{Project: ProjectExisted, Update: &UpdateReport{State: UpdateFailed}}},
		{"an update that could not be rolled back fails the start",
			Report{Project: ProjectFailed, Update: &UpdateReport{State: UpdateUnfinished}, Error: "the update could not be rolled back"}},
		{"an update deferred while the project is open elsewhere", Report{Project: ProjectExisted, Update: &UpdateReport{State: UpdateDeferred}}},
		{"unicode in messages", Report{Project: ProjectSeeded, Warnings: []string{"ünïcode 名前 ✓"}}},
		{"a start with trash: deletions moved into the trash, restores, purges, the trash after it and the volume's usage",
			Report{Deleted: []int{1}, Restored: []Restored{{At: 2, As: "gh_o_r-restored-20261206-101112"}, {At: 1, As: "gh_a"}}, Purged: []int{3, 1},
				Usage: &Usage{Size: 10 << 30, Free: 1 << 30, Projects: []Measured{{Dir: "gh_a", Bytes: 4096}, {Dir: "gh_b", Bytes: 0}}, All: true},
				Trash: []Trashed{{ID: 1, Dir: "gh_old", Bytes: -1}, {ID: 1765015872000000000, Dir: "gh_b", Bytes: 8192}}, TrashComplete: true,
				Project: ProjectSeeded}},
		{"a usage without projects, an empty trash listed completely", Report{Project: ProjectExisted, Usage: &Usage{Size: 1, Free: 0, All: true}, TrashComplete: true}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			msg := tc.r.Encode()
			if len(msg) > reportLimit || !json.Valid(msg) || strings.ContainsAny(string(msg), "\r\n") {
				t.Errorf("Encode() = %q, want one line of JSON of at most %d bytes", msg, reportLimit)
			}
			got, err := DecodeReport(string(msg))
			if err != nil {
				t.Fatalf("DecodeReport(%q): %v", msg, err)
			}
			want := tc.r
			want.Present = true
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeReportReadsWhatKubeletKeeps(t *testing.T) {
	for _, tc := range []struct {
		sentence, in string
		want         Report
	}{
		{"an empty termination message holds no report", "", Report{}},
		{"a message of white space holds no report", " \n\t\n", Report{}},
		{"the end of a log, which kubelet uses for a failed container without a message, holds no report",
			"binder-projects: copying the image's home folder into new project gh_x\nbinder-projects: error: could not copy\n", Report{}},
		{"the end of a log that holds JSON further down is still no report",
			"panic: runtime error\n{\"project\":\"seeded\"}\n", Report{}},
		{"white space around the object and inside it is fine; positions keep their order",
			"\n  { \"deleted\" : [ 2 , 1 ] ,\n \"project\" : \"existed\" }\n\n", Report{Deleted: []int{2, 1}, Project: ProjectExisted, Present: true}},
		{"a field a newer init command adds is ignored",
			`{"project":"existed","future":{"a":1}}`, Report{Project: ProjectExisted, Present: true}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			got, err := DecodeReport(tc.in)
			if err != nil {
				t.Fatalf("DecodeReport(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeReport(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestDecodeReportRefusesEveryMalformedReport(t *testing.T) {
	updated := func(fields string) string {
		return `{"project":"existed","update":{"state":"updated","commit":"bbbbbbb"` + fields + `}}`
	}
	for _, tc := range []struct{ sentence, in string }{
		{"a report cut short (kubelet keeps 4096 bytes)", `{"project":"seeded","warnings":["could not del`},
		{"two objects", `{"project":"seeded"}{"project":"seeded"}`},
		{"text after the object", `{"project":"seeded"} and more`},
		{"an object without a project state", `{}`},
		{"an unknown project state", `{"project":"copied"}`},
		{"a project state that is not a string", `{"project":1}`},
		{"a position that is not a number", `{"deleted":[1,"two"],"project":"seeded"}`},
		{"a position 0 (positions start at 1)", `{"kept":[0],"project":"seeded"}`},
		{"a negative position", `{"deleted":[-1],"project":"seeded"}`},
		{"a fractional position", `{"deleted":[1.5],"project":"seeded"}`},
		{"a position listed twice", `{"deleted":[1,1],"project":"seeded"}`},
		{"a position both deleted and kept", `{"deleted":[1],"kept":[1],"project":"seeded"}`},
		{"deletions that are not a list", `{"deleted":"1 2","project":"seeded"}`},
		{"warnings that are not a list of strings", `{"project":"seeded","warnings":[1]}`},
		{"an update without a state", `{"project":"existed","update":{}}`},
		{"an unknown update state", `{"project":"existed","update":{"state":"done"}}`},
		{"an update that is not an object", `{"project":"existed","update":"updated"}`},
		{"an update without its commit", `{"project":"existed","update":{"state":"updated"}}`},
		{"an update to a commit that starts with a dash", `{"project":"existed","update":{"state":"updated","commit":"-b"}}`},
		{"an update to a commit with a slash", `{"project":"existed","update":{"state":"updated","commit":"a/b"}}`},
		{"an update from a commit that starts with a dot", updated(`,"from":".x"`)},
		{"an update with a negative count", updated(`,"counted":true,"replaced":-1`)},
		{"an update with a count that is not a whole number", updated(`,"counted":true,"added":1.5`)},
		{"an update with an unknown state of recovery", updated(`,"recovered":"maybe"`)},
		{"a restored position 0", `{"restored":[{"at":0,"as":"gh_a"}],"project":"seeded"}`},
		{"a restored position listed twice", `{"restored":[{"at":1,"as":"gh_a"},{"at":1,"as":"gh_b"}],"project":"seeded"}`},
		{"a restore to a folder name that is not valid", `{"restored":[{"at":1,"as":"../gh_a"}],"project":"seeded"}`},
		{"a restore to no folder", `{"restored":[{"at":1}],"project":"seeded"}`},
		{"a negative purged position", `{"purged":[-2],"project":"seeded"}`},
		{"a purged position listed twice", `{"purged":[2,2],"project":"seeded"}`},
		{"a negative volume size", `{"usage":{"size":-1,"free":0},"project":"seeded"}`},
		{"a negative free space", `{"usage":{"size":1,"free":-1},"project":"seeded"}`},
		{"a project measured at a negative size (-1 is only for trash entries)", `{"usage":{"size":1,"free":0,"projects":[{"dir":"gh_a","bytes":-1}]},"project":"seeded"}`},
		{"a project measured twice", `{"usage":{"size":1,"free":0,"projects":[{"dir":"gh_a","bytes":1},{"dir":"gh_a","bytes":2}]},"project":"seeded"}`},
		{"a measured folder that is not a project folder name", `{"usage":{"size":1,"free":0,"projects":[{"dir":".binder-projects-seeds","bytes":1}]},"project":"seeded"}`},
		{"a trash entry without an id", `{"trash":[{"dir":"gh_a","bytes":1}],"project":"seeded"}`},
		{"a trash entry with a negative id", `{"trash":[{"id":-5,"dir":"gh_a","bytes":1}],"project":"seeded"}`},
		{"a trash entry of a size below -1", `{"trash":[{"id":5,"dir":"gh_a","bytes":-2}],"project":"seeded"}`},
		{"a trash entry whose folder name is not valid", `{"trash":[{"id":5,"dir":"a/b","bytes":1}],"project":"seeded"}`},
		{"a trash entry listed twice", `{"trash":[{"id":5,"dir":"gh_a","bytes":1},{"id":5,"dir":"gh_a","bytes":-1}],"project":"seeded"}`},
		{"a trash that is not a list", `{"trash":{"id":5},"project":"seeded"}`},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			got, err := DecodeReport(tc.in)
			if !errors.Is(err, ErrBadReport) {
				t.Errorf("DecodeReport(%q) = %+v, %v; want an error wrapping ErrBadReport", tc.in, got, err)
			}
			if !cmp.Equal(Report{}, got) {
				t.Errorf("DecodeReport(%q) refused the report but returned %+v; want nothing of it", tc.in, got)
			}
		})
	}
}

func TestEncodeKeepsTheReportWithinTheTerminationMessageCountingTheWarningsLeftOut(t *testing.T) {
	const n = 50
	var ws []string
	for i := range n {
		ws = append(ws, fmt.Sprintf("warning %02d: %s", i, strings.Repeat("x", 200)))
	}
	r := Report{Deleted: []int{1, 2}, Kept: []int{3}, Project: ProjectFailed, Warnings: ws, Error: "the volume is full",
		Update: &UpdateReport{State: UpdateFailed}}
	msg := r.Encode()
	if len(msg) > reportLimit {
		t.Fatalf("Encode() is %d bytes, want at most %d (kubelet keeps 4096)", len(msg), reportLimit)
	}
	got, err := DecodeReport(string(msg))
	if err != nil {
		t.Fatalf("DecodeReport(Encode()): %v", err)
	}
	kept := len(got.Warnings) - 1
	if kept < 1 || kept >= n {
		t.Fatalf("%d warnings kept of %d, want some but not all: %q", kept, n, got.Warnings)
	}
	wantWarnings := append(ws[:kept:kept], fmt.Sprintf("%d more warnings are only in the log", n-kept))
	want := Report{Deleted: []int{1, 2}, Kept: []int{3}, Project: ProjectFailed, Warnings: wantWarnings, Error: "the volume is full",
		Update: &UpdateReport{State: UpdateFailed}, Present: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded report (-want +got): everything but the last warnings, in order, and their count:\n%s", diff)
	}
	// As many as fit: one more would not have.
	more := want
	more.Present = false
	more.Warnings = append(ws[:kept+1:kept+1], fmt.Sprintf("%d more warnings are only in the log", n-kept-1))
	if b, err := json.Marshal(more); err != nil || len(b) <= reportLimit {
		t.Errorf("with %d warnings the report is %d bytes (%v): it would have fit, but Encode kept %d", kept+1, len(b), err, kept)
	}
	if r.Warnings[n-1] != ws[n-1] || len(r.Warnings) != n {
		t.Error("Encode changed the report it was called on")
	}
}

func TestEncodeMakesEveryMessageOneShortLine(t *testing.T) {
	long := "a" + strings.Repeat("ü", 800) // 1601 bytes; a cut at an even offset would split a rune
	r := Report{Project: ProjectFailed,
		Warnings: []string{"could not delete project gh_a\nb: no", "a\r\nb\rc", long},
		Error:    "a file named x\ny is in the way"}
	got, err := DecodeReport(string(r.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"could not delete project gh_a b: no", "a b c"}, got.Warnings[:2]); diff != "" {
		t.Errorf("warnings with line breaks (-want +got):\n%s", diff)
	}
	if want := "a file named x y is in the way"; got.Error != want {
		t.Errorf("error %q, want %q", got.Error, want)
	}
	cut := got.Warnings[2]
	if len(cut) > messageLimit || !strings.HasSuffix(cut, " ...") || !utf8.ValidString(cut) ||
		!strings.HasPrefix(long, strings.TrimSuffix(cut, " ...")) || len(cut) < messageLimit-4 {
		t.Errorf("a %d-byte warning became %d bytes %q, want at most %d: its start, whole runes, then \" ...\"", len(long), len(cut), cut, messageLimit)
	}
}

func TestEncodeCutsProjectSizesThenTrashEntriesThenWarnings(t *testing.T) {
	dir := func(prefix string, i int) ProjectDir {
		return ProjectDir(fmt.Sprintf("%s_%03d_%s", prefix, i, strings.Repeat("x", 60)))
	}
	var projects []Measured
	var trash []Trashed
	for i := range 40 {
		projects = append(projects, Measured{Dir: dir("gh_p", i), Bytes: int64(i) << 20})
		trash = append(trash, Trashed{ID: int64(i + 1), Dir: dir("gh_t", i), Bytes: -1})
	}
	var ws []string
	for i := range 20 {
		ws = append(ws, fmt.Sprintf("warning %02d: %s", i, strings.Repeat("w", 100)))
	}
	full := Report{Deleted: []int{1}, Restored: []Restored{{At: 1, As: "gh_r"}}, Purged: []int{1}, Project: ProjectSeeded,
		Usage: &Usage{Size: 1 << 30, Free: 1 << 20, Projects: projects, All: true}, Trash: trash, TrashComplete: true}
	decode := func(t *testing.T, r Report) Report {
		t.Helper()
		msg := r.Encode()
		if len(msg) > reportLimit {
			t.Fatalf("Encode() is %d bytes, want at most %d", len(msg), reportLimit)
		}
		got, err := DecodeReport(string(msg))
		if err != nil {
			t.Fatalf("DecodeReport(Encode()): %v", err)
		}
		return got
	}
	t.Run("the measured projects go first, from the end, and All becomes false; the trash and the warnings stay", func(t *testing.T) {
		r := full
		r.Trash, r.Warnings = trash[:5], ws[:3]
		got := decode(t, r)
		n := len(got.Usage.Projects)
		if n == 0 || n == len(projects) || got.Usage.All {
			t.Fatalf("%d of %d projects kept, All %v: want some cut, and All false", n, len(projects), got.Usage.All)
		}
		if diff := cmp.Diff(projects[:n], got.Usage.Projects); diff != "" {
			t.Errorf("the projects kept are not the first ones (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(trash[:5], got.Trash); diff != "" || !got.TrashComplete || len(got.Warnings) != 3 {
			t.Errorf("the trash (-want +got):\n%s\ncomplete %v, %d warnings", diff, got.TrashComplete, len(got.Warnings))
		}
		if got.Usage.Size != 1<<30 || got.Usage.Free != 1<<20 {
			t.Errorf("the volume's size and free space are lost: %+v", got.Usage)
		}
	})
	t.Run("then the trash entries, from the end, and TrashComplete becomes false; the warnings stay", func(t *testing.T) {
		r := full
		r.Warnings = ws[:3]
		got := decode(t, r)
		n := len(got.Trash)
		if len(got.Usage.Projects) != 0 || got.Usage.All || n == 0 || n == len(trash) || got.TrashComplete {
			t.Fatalf("%d projects, All %v, %d of %d trash entries, complete %v: want no projects, some trash entries, not complete",
				len(got.Usage.Projects), got.Usage.All, n, len(trash), got.TrashComplete)
		}
		if diff := cmp.Diff(trash[:n], got.Trash); diff != "" {
			t.Errorf("the trash entries kept are not the first (oldest) ones (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(ws[:3], got.Warnings); diff != "" {
			t.Errorf("warnings were cut before the trash (-want +got):\n%s", diff)
		}
	})
	t.Run("then the warnings, counted; positions, restores and the volume's size are never cut", func(t *testing.T) {
		r := full
		long := make([]string, 50)
		for i := range long {
			long[i] = strings.Repeat("v", 200)
		}
		r.Warnings = long
		got := decode(t, r)
		if len(got.Usage.Projects) != 0 || len(got.Trash) != 0 || got.TrashComplete || got.Usage.All {
			t.Errorf("projects and trash entries must go before warnings: %+v", got)
		}
		if last := got.Warnings[len(got.Warnings)-1]; !strings.HasSuffix(last, "more warnings are only in the log") {
			t.Errorf("the last warning %q does not count the ones left out", last)
		}
		if diff := cmp.Diff(full.Restored, got.Restored); diff != "" || len(got.Deleted) != 1 || len(got.Purged) != 1 || got.Usage.Size != 1<<30 {
			t.Errorf("what must never be cut was: %+v (-want +got restored):\n%s", got, diff)
		}
	})
	if len(full.Usage.Projects) != 40 || !full.Usage.All || len(full.Trash) != 40 || !full.TrashComplete {
		t.Error("Encode changed the report it was called on")
	}
}
