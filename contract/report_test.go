package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
	got := encodeDecode(t, r)
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

func TestEncodeCutsProjectSizesThenTrashEntriesThenWarningsThenWhatWasDone(t *testing.T) {
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
	t.Run("the measured projects go first, from the end, and All becomes false; the trash and the warnings stay", func(t *testing.T) {
		r := full
		r.Trash, r.Warnings = trash[:5], ws[:3]
		got := encodeDecode(t, r)
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
		got := encodeDecode(t, r)
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
	t.Run("then the warnings, counted; the positions, the restores and the volume's size stay", func(t *testing.T) {
		r := full
		long := make([]string, 50)
		for i := range long {
			long[i] = strings.Repeat("v", 200)
		}
		r.Warnings = long
		got := encodeDecode(t, r)
		if len(got.Usage.Projects) != 0 || len(got.Trash) != 0 || got.TrashComplete || got.Usage.All {
			t.Errorf("projects and trash entries must go before warnings: %+v", got)
		}
		if last := got.Warnings[len(got.Warnings)-1]; !strings.HasSuffix(last, "more warnings are only in the log") {
			t.Errorf("the last warning %q does not count the ones left out", last)
		}
		if diff := cmp.Diff(full.Restored, got.Restored); diff != "" || len(got.Deleted) != 1 || len(got.Purged) != 1 || got.Usage.Size != 1<<30 {
			t.Errorf("what goes after the warnings was cut: %+v (-want +got restored):\n%s", got, diff)
		}
	})
	positions := func(from, to int) []int {
		var ps []int
		for p := from; p <= to; p++ {
			ps = append(ps, p)
		}
		return ps
	}
	var restored []Restored
	for i := range 20 {
		restored = append(restored, Restored{At: i + 1, As: dir("gh_r", i) + ProjectDir(strings.Repeat("r", 150))})
	}
	t.Run("then the deletions kept, then those done, then the purges, each from the end: the next start reports them again", func(t *testing.T) {
		r := full
		r.Warnings, r.Kept, r.Deleted, r.Purged = ws[:3], positions(1000, 1099), positions(2000, 2599), positions(1, 300)
		got := encodeDecode(t, r)
		n := len(got.Deleted)
		if len(got.Kept) != 0 || n == 0 || n == 600 {
			t.Fatalf("%d of 100 kept and %d of 600 deleted positions: want none kept and some deleted", len(got.Kept), n)
		}
		if diff := cmp.Diff(r.Deleted[:n], got.Deleted); diff != "" {
			t.Errorf("the deletions kept are not the first ones (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"3 more warnings are only in the log"}, got.Warnings); diff != "" {
			t.Errorf("warnings (-want +got): they go before the positions\n%s", diff)
		}
		if diff := cmp.Diff(r.Purged, got.Purged); diff != "" || !cmp.Equal(r.Restored, got.Restored) {
			t.Errorf("purges (-want +got), or restores %v, were cut before the deletions:\n%s", got.Restored, diff)
		}
	})
	t.Run("last the restores, from the end, and TrashComplete becomes false even for an empty trash: the controller then keeps a restore not reported queued", func(t *testing.T) {
		r := Report{Deleted: positions(1, 50), Restored: restored, Purged: positions(1, 50), Project: ProjectExisted, TrashComplete: true,
			Warnings: []string{"one"}}
		got := encodeDecode(t, r)
		n := len(got.Restored)
		if n == 0 || n == len(restored) || got.TrashComplete {
			t.Fatalf("%d of %d restores kept, trash complete %v: want some, and not complete", n, len(restored), got.TrashComplete)
		}
		if diff := cmp.Diff(restored[:n], got.Restored); diff != "" {
			t.Errorf("the restores kept are not the first ones, as they were (-want +got):\n%s", diff)
		}
		if len(got.Deleted)+len(got.Purged) != 0 || !cmp.Equal([]string{"1 more warnings are only in the log"}, got.Warnings) {
			t.Errorf("deletions %v, purges %v and warnings %q must go before restores", got.Deleted, got.Purged, got.Warnings)
		}
	})
	if len(full.Usage.Projects) != 40 || !full.Usage.All || len(full.Trash) != 40 || !full.TrashComplete {
		t.Error("Encode changed the report it was called on")
	}
}

func TestEncodeMeasuresEachMessageAsJSONWritesIt(t *testing.T) {
	for _, tc := range []struct{ sentence, msg string }{
		{"< > & take 6 bytes each", strings.Repeat("<>&", 333)},
		{"a control character takes 6", strings.Repeat("\x01", 999)},
		{"a byte that is not UTF-8 takes 6", strings.Repeat("\xff", 999)},
		{"a quote and a backslash take 2", strings.Repeat(`"\`, 499)},
		{"a line separator takes 6 (3 as UTF-8)", strings.Repeat("\u2028", 333)},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			r := Report{Project: ProjectFailed, Error: tc.msg, Warnings: []string{tc.msg, tc.msg, tc.msg, tc.msg}}
			got := encodeDecode(t, r)
			kept := reportLine(tc.msg)
			if n := jsonLen(kept); n > messageLimit || n < messageLimit-6 || !strings.HasSuffix(kept, " ...") ||
				!strings.HasPrefix(tc.msg, strings.TrimSuffix(kept, " ...")) {
				t.Errorf("the message takes %d bytes as JSON, want its start, what fits of it in %d, then \" ...\": %q", n, messageLimit, kept)
			}
			var want string // as JSON brings it back (a byte that is not UTF-8 as U+FFFD)
			if data, err := json.Marshal(kept); err != nil || json.Unmarshal(data, &want) != nil {
				t.Fatal(err)
			}
			if got.Error != want || len(got.Warnings) < 2 || got.Warnings[0] != want {
				t.Errorf("the report holds %q and %q, want %q", got.Error, got.Warnings, want)
			}
		})
	}
}

// largestReport is the largest report a start handed the given numbers of restores and purges can
// write: every field at its largest, every folder name of MaxProjectDirLen bytes, the error of
// characters JSON writes as six bytes, and far more deletions, project sizes, trash entries and
// warnings than fit.
func largestReport(restores, purges int) Report {
	name := func(prefix string, i int) ProjectDir {
		p := fmt.Sprintf("%s_%05d_", prefix, i)
		return ProjectDir(p + strings.Repeat("x", MaxProjectDirLen-len(p)))
	}
	r := Report{Project: ProjectSeededEmpty, TrashComplete: true,
		Usage: &Usage{Size: math.MaxInt64, Free: math.MaxInt64, All: true},
		Update: &UpdateReport{State: UpdateUpdated, Commit: strings.Repeat("c", MaxCommitLen), From: strings.Repeat("f", MaxCommitLen),
			Counted: true, Replaced: math.MaxInt, Added: math.MaxInt, Removed: math.MaxInt, Kept: math.MaxInt, Beside: math.MaxInt,
			StayedDeleted: math.MaxInt, Modes: math.MaxInt, Recovered: "rolled-back"},
		Error: strings.Repeat("<\x01", 600)}
	for i := range restores {
		r.Restored = append(r.Restored, Restored{At: restores - i, As: name("gh_r", i)})
	}
	for i := range purges {
		r.Purged = append(r.Purged, purges-i)
	}
	for i := range 2000 {
		r.Deleted = append(r.Deleted, 100000+i)
		r.Kept = append(r.Kept, 200000+i)
		r.Usage.Projects = append(r.Usage.Projects, Measured{Dir: name("gh_p", i), Bytes: math.MaxInt64})
		r.Trash = append(r.Trash, Trashed{ID: math.MaxInt64 - int64(i), Dir: name("gh_t", i), Bytes: math.MaxInt64})
	}
	for i := range 100000 { // a few long, the others short: the count of those cut is the longest
		w := "w"
		if i < 10 {
			w = strings.Repeat("\"\x7f", 600)
		}
		r.Warnings = append(r.Warnings, w)
	}
	return r
}

// encodeDecode is r as the controller reads it: encoded, checked to be within the limit, and decoded.
func encodeDecode(t *testing.T, r Report) Report {
	t.Helper()
	msg := r.Encode()
	if len(msg) > reportLimit {
		t.Fatalf("Encode() is %d bytes, want at most %d (kubelet keeps 3072 in a pod of four containers)", len(msg), reportLimit)
	}
	got, err := DecodeReport(string(msg))
	if err != nil {
		t.Fatalf("DecodeReport(Encode()): %v", err)
	}
	return got
}

// checkLargest checks what must be kept of a largest report r, as decoded from its encoding: the
// state, the update, the error (what fits of it), the volume's size, and the count of the warnings.
func checkLargest(t *testing.T, r Report) Report {
	t.Helper()
	got := encodeDecode(t, r)
	if diff := cmp.Diff(r.Update, got.Update); diff != "" || got.Project != r.Project || got.Usage.Size != r.Usage.Size || got.Usage.Free != r.Usage.Free {
		t.Errorf("the state, the update or the volume's size were cut: %+v (-want +got update):\n%s", got, diff)
	}
	if n := jsonLen(got.Error); n > messageLimit || n < messageLimit-6 || !strings.HasSuffix(got.Error, " ...") {
		t.Errorf("the error takes %d bytes as JSON, want what fits of it in %d: %q", n, messageLimit, got.Error)
	}
	if want := []string{"100000 more warnings are only in the log"}; !cmp.Equal(want, got.Warnings) {
		t.Errorf("warnings %q, want %q", got.Warnings, want)
	}
	if got.TrashComplete || got.Usage.All || len(got.Trash)+len(got.Usage.Projects)+len(got.Kept) != 0 ||
		len(got.Deleted) == len(r.Deleted) || !cmp.Equal(r.Deleted[:len(got.Deleted)], got.Deleted, cmpopts.EquateEmpty()) {
		t.Errorf("the trash list, the sizes and the deletions were not cut first: %+v", got)
	}
	return got
}

func TestTheLargestReportOfAStartFitsEveryRestoreAndPurgeItWasHanded(t *testing.T) {
	r := largestReport(MaxRestoresPerStart, MaxPurgesPerStart)
	got := checkLargest(t, r)
	if diff := cmp.Diff(r.Restored, got.Restored); diff != "" {
		t.Errorf("restores were cut (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(r.Purged, got.Purged); diff != "" {
		t.Errorf("purges were cut (-want +got):\n%s", diff)
	}
	// The bound is the most that fits: one restore more is cut.
	if got := checkLargest(t, largestReport(MaxRestoresPerStart+1, MaxPurgesPerStart)); len(got.Restored) > MaxRestoresPerStart {
		t.Errorf("%d restores of the longest names fit: MaxRestoresPerStart could be more", len(got.Restored))
	}
}

func TestEvenAStartHandedFarMoreRestoresAndPurgesThanFitWritesAReportThatFits(t *testing.T) {
	r := largestReport(50, 5000)
	got := checkLargest(t, r)
	n := len(got.Restored)
	if n == 0 || n == 50 || len(got.Purged) != 0 {
		t.Fatalf("%d of 50 restores and %d of 5000 purges kept: want some restores and no purges", n, len(got.Purged))
	}
	if diff := cmp.Diff(r.Restored[:n], got.Restored); diff != "" {
		t.Errorf("the restores kept are not the first ones (-want +got):\n%s", diff)
	}
}

// FuzzEncode: every report fits in reportLimit bytes and decodes; what is cut of it is cut from the
// end of its lists, in Encode's order (a list is cut only once every list before it is empty), and
// says so (Usage.All, TrashComplete, the count of the warnings left out); the rest is kept whole.
func FuzzEncode(f *testing.F) {
	f.Add(uint16(3), uint16(2), uint16(4), uint16(1), uint16(5), uint16(6), uint16(2), uint8(40), uint8(0xff), "could not delete", "the volume is full")
	f.Add(uint16(20), uint16(2000), uint16(0), uint16(0), uint16(0), uint16(0), uint16(0), uint8(254), uint8(0xff), "", "")
	f.Add(uint16(0), uint16(0), uint16(900), uint16(900), uint16(40), uint16(40), uint16(40), uint8(200), uint8(0x03), strings.Repeat("<\x01\"", 400), strings.Repeat("\xff", 1200))
	f.Fuzz(func(t *testing.T, restores, purges, deleted, kept, projects, trash, warnings uint16, nameLen, flags uint8, warning, errMsg string) {
		name := func(prefix string, i int) ProjectDir {
			p := fmt.Sprintf("%s%d_", prefix, i)
			if n := 1 + int(nameLen)%MaxProjectDirLen; n > len(p) {
				p += strings.Repeat("x", n-len(p))
			}
			return ProjectDir(p)
		}
		r := Report{Project: ProjectExisted, TrashComplete: flags&1 != 0, Error: errMsg}
		for i := range int(restores % 100) {
			r.Restored = append(r.Restored, Restored{At: i + 1, As: name("r", i)})
		}
		for i := range int(purges % 3000) {
			r.Purged = append(r.Purged, i+1)
		}
		for i := range int(deleted % 3000) {
			r.Deleted = append(r.Deleted, i+1)
		}
		for i := range int(kept % 3000) {
			r.Kept = append(r.Kept, int(deleted%3000)+i+1)
		}
		if flags&2 != 0 {
			r.Usage = &Usage{Size: int64(nameLen) << 40, Free: int64(flags), All: flags&4 != 0}
			for i := range int(projects % 100) {
				r.Usage.Projects = append(r.Usage.Projects, Measured{Dir: name("p", i), Bytes: int64(i)})
			}
		}
		for i := range int(trash % 100) {
			r.Trash = append(r.Trash, Trashed{ID: int64(i + 1), Dir: name("t", i), Bytes: -1})
		}
		for i := range int(warnings % 100) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%d %s", i, warning))
		}
		if flags&8 != 0 {
			r.Update = &UpdateReport{State: UpdateUpdated, Commit: strings.Repeat("c", 1+int(nameLen)%MaxCommitLen), Counted: true, Added: int(purges)}
		}

		msg := r.Encode()
		if len(msg) > reportLimit || strings.ContainsAny(string(msg), "\r\n") {
			t.Fatalf("Encode() is %d bytes, want one line of at most %d", len(msg), reportLimit)
		}
		got, err := DecodeReport(string(msg))
		if err != nil || !got.Present {
			t.Fatalf("DecodeReport(Encode()) = %v, %v", got.Present, err)
		}
		asJSONBringsItBack := func(s string) string {
			data, _ := json.Marshal(s)
			var back string
			_ = json.Unmarshal(data, &back)
			return back
		}
		if got.Project != r.Project || !cmp.Equal(r.Update, got.Update) || got.Error != asJSONBringsItBack(reportLine(r.Error)) {
			t.Errorf("the state, the update or the error changed: %+v", got)
		}
		// Each list of the report, in the order Encode cuts them: how many it held, and holds now.
		var all, now []Measured
		if r.Usage != nil {
			all, now = r.Usage.Projects, got.Usage.Projects
			if got.Usage.Size != r.Usage.Size || got.Usage.Free != r.Usage.Free {
				t.Errorf("usage %+v, want size and free of %+v", got.Usage, r.Usage)
			}
		}
		wantWarnings := make([]string, len(r.Warnings))
		for i, w := range r.Warnings {
			wantWarnings[i] = asJSONBringsItBack(reportLine(w))
		}
		keptWarnings := len(got.Warnings)
		if keptWarnings > 0 && strings.HasSuffix(got.Warnings[keptWarnings-1], " more warnings are only in the log") &&
			len(got.Warnings) <= len(wantWarnings) && !cmp.Equal(wantWarnings, got.Warnings) {
			keptWarnings--
			if want := fmt.Sprintf("%d more warnings are only in the log", len(wantWarnings)-keptWarnings); got.Warnings[keptWarnings] != want {
				t.Errorf("the last warning is %q, want %q", got.Warnings[keptWarnings], want)
			}
		}
		lists := []struct {
			name      string
			was, kept int
			prefix    bool
		}{
			{"project sizes", len(all), len(now), cmp.Equal(all[:min(len(now), len(all))], now, cmpopts.EquateEmpty())},
			{"trash entries", len(r.Trash), len(got.Trash), cmp.Equal(r.Trash[:min(len(got.Trash), len(r.Trash))], got.Trash, cmpopts.EquateEmpty())},
			{"warnings", len(wantWarnings), keptWarnings, cmp.Equal(wantWarnings[:min(keptWarnings, len(wantWarnings))], got.Warnings[:keptWarnings], cmpopts.EquateEmpty())},
			{"deletions kept", len(r.Kept), len(got.Kept), cmp.Equal(r.Kept[:min(len(got.Kept), len(r.Kept))], got.Kept, cmpopts.EquateEmpty())},
			{"deletions done", len(r.Deleted), len(got.Deleted), cmp.Equal(r.Deleted[:min(len(got.Deleted), len(r.Deleted))], got.Deleted, cmpopts.EquateEmpty())},
			{"purges", len(r.Purged), len(got.Purged), cmp.Equal(r.Purged[:min(len(got.Purged), len(r.Purged))], got.Purged, cmpopts.EquateEmpty())},
			{"restores", len(r.Restored), len(got.Restored), cmp.Equal(r.Restored[:min(len(got.Restored), len(r.Restored))], got.Restored, cmpopts.EquateEmpty())},
		}
		for i, l := range lists {
			if l.kept > l.was || !l.prefix {
				t.Errorf("the %s kept (%d of %d) are not the first ones, as they were", l.name, l.kept, l.was)
			}
			if l.kept < l.was {
				for _, before := range lists[:i] {
					if before.kept != 0 {
						t.Errorf("%d of %d %s were cut while %d %s, which go first, were kept", l.was-l.kept, l.was, l.name, before.kept, before.name)
					}
				}
			}
		}
		if r.Usage != nil && got.Usage.All != (r.Usage.All && len(now) == len(all)) {
			t.Errorf("usage says all %v, with %d of %d project sizes (all %v before)", got.Usage.All, len(now), len(all), r.Usage.All)
		}
		if complete := r.TrashComplete && len(got.Trash) == len(r.Trash) && len(got.Restored) == len(r.Restored); got.TrashComplete != complete {
			t.Errorf("trash complete %v with %d of %d trash entries and %d of %d restores (complete %v before)",
				got.TrashComplete, len(got.Trash), len(r.Trash), len(got.Restored), len(r.Restored), r.TrashComplete)
		}
	})
}

func TestTheReportFitsWhatKubeletKeepsOfAMessageInOurPods(t *testing.T) {
	// Kubelet reads the last 4096 bytes of the file, and keeps the first 12288 / n of the message of
	// each of a pod's n containers: BinderHub's pod under z2jh has three (the notebook, z2jh's
	// block-cloud-metadata, ours), four with --helper-mode=init-container.
	for _, n := range []int{3, 4} {
		if keeps := min(4096, 12288/n); reportLimit > keeps {
			t.Errorf("a report of %d bytes is cut to %d in a pod of %d containers, and no longer decodes", reportLimit, keeps, n)
		}
	}
}
