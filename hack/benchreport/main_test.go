package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Test CPU
BenchmarkServedAgainstFloor/patch=plan/c=16-2   2000  1264863 ns/op  28624 floor-p99-µs  2412 floor-req/s  1.20 p99-ratio  34387 p99-µs  2000 req/s  0.90 throughput-ratio
BenchmarkServedAgainstFloor/patch=plan/c=16-2   2000  1264863 ns/op  28624 floor-p99-µs  2412 floor-req/s  1.40 p99-ratio  34387 p99-µs  2000 req/s  0.70 throughput-ratio
BenchmarkServedAgainstFloor/patch=plan/c=16-2   2000  1264863 ns/op  28624 floor-p99-µs  2412 floor-req/s  1.10 p99-ratio  34387 p99-µs  2000 req/s  0.85 throughput-ratio
BenchmarkHandle/floor-2   9177  100000 ns/op  26464 B/op  344 allocs/op
BenchmarkHandle/patch=plan-2   9601  150000 ns/op  63677 B/op  480 allocs/op
`

func TestTablesShowMediansAndTheVerdict(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := res.tables()
	for _, want := range []string{
		"| plan | 16 | **0.85×** | **1.20×** |", // medians of three runs
		"**met**",
		"| Handle/patch=plan | 150000 | 1.50× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack %q:\n%s", want, got)
		}
	}
	res.bench["ServedAgainstFloor/patch=plan/c=16"]["p99-ratio"] = []float64{1.3}
	if got := res.tables(); !strings.Contains(got, "**NOT met**") {
		t.Errorf("a p99 ratio of 1.3 is reported as meeting the goal:\n%s", got)
	}
}

func TestWriteSectionReplacesOnlyBetweenTheMarkers(t *testing.T) {
	beginMarker, endMarker := markers(1)
	f := filepath.Join(t.TempDir(), "performance.md")
	if err := os.WriteFile(f, []byte("# head\n"+beginMarker+"\nold\n"+endMarker+"\n## 2. kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(f, 1, "new\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	if want := "# head\n" + beginMarker + "\n\nnew\n\n" + endMarker + "\n## 2. kept\n"; string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if err := os.WriteFile(f, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if writeSection(f, 1, "x") == nil {
		t.Error("a file without markers was written")
	}
}
