package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The two recorded runs of make bench-e2e that docs/performance.md's sections 2-4 come from.
const (
	run1 = "../../docs/performance-e2e-run1.txt"
	run2 = "../../docs/performance-e2e-run2.txt"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTheRecordedRunsGiveTheTablesOfSectionsTwoToFour(t *testing.T) {
	e, err := readE2E(run1, run2)
	if err != nil {
		t.Fatal(err)
	}
	got := e.tables()
	for _, want := range []string{
		"| relaunch of an existing project, pod create → Ready | 2.11 s | 1.05 s (the same pod without the webhook: its label removed) | **2.01×** | ≤ 1.15× |",
		"| the same relaunch | 2.11 s | 2.09 s (without the webhook, with an init container that runs `true`) | **1.01×** | |",
		"| relaunch of a 100,000-file project | 2.12 s | 2.11 s (a 10-file project) | **1.00×** | ≤ 1.5× |",
		"| first launch of a 1 GiB, 20,000-file home, create → Ready | 8.7 / 15.2 / 20.5 s | 8.2 / 18.2 / 25.1 s (a pod of the same image running `cp -a` of its home onto the same volume, create → Succeeded) | **0.83×** (median of the rounds' ratios 1.06, 0.83, 0.82) | ≤ 1.1× |",
		"Medians of 5 interleaved rounds (3 for the 1 GiB copy).",
		"| with the webhook (2 replicas) | 145 ms | 219 ms | 322 ms | 376 ms | 4.0 s | **0** |",
		"| without | 48 ms | 84 ms | 115 ms | 125 ms | 1.5 s | 0 |",
		"| ratio | 3.0× | | 2.8× | | 2.7× | |",
		// the scale benchmark's second run in run2 (after the memory fix), with its own baseline
		"| (baseline: 1) | 0.21 s | 39.8 MiB | 1.00× (8.2 ms) |",
		"| 1,000 | 0.21 s | 47.5 MiB | 1.28× |",
		"| 10,000 | 0.83 s | 105.2 MiB | 1.00× |",
		"| 50,000 | 4.5 s | 366.0 MiB | 1.26× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack\n%s\nin\n%s", want, got)
		}
	}
}

func TestTheRelaunchIsReadFromItsMetricsAndItsLog(t *testing.T) {
	e, err := readE2E(run2)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := e.relaunch()
	if !ok {
		t.Fatal("no relaunch in run2")
	}
	if !near(r.with, 2.111) || !near(r.without, 1.050) || !near(r.noop, 2.086) || !r.hasNoop {
		t.Errorf("medians with %v, without %v, no-op init %v (%v); want 2.111, 1.050, 2.086", r.with, r.without, r.noop, r.hasNoop)
	}
	if !near(r.ratio, 2.010) || !near(r.noopRatio, 1.012) || r.rounds != 5 || r.goal != "1.15" {
		t.Errorf("ratios %v, %v, rounds %d, goal %q; want 2.010, 1.012, 5, 1.15", r.ratio, r.noopRatio, r.rounds, r.goal)
	}
	if len(r.withRuns) != 5 || len(r.withoutRuns) != 5 || len(r.noops) != 5 ||
		!near(r.withRuns[0], 2.097434028) || !near(r.withoutRuns[0], 1.133328924) || !near(r.noops[2], 1.989815139) {
		t.Errorf("rounds with %v, without %v, no-op init %v", r.withRuns, r.withoutRuns, r.noops)
	}
}

func TestTheRelaunchOfRun1HasNoNoopInitContainer(t *testing.T) {
	e, err := readE2E(run1)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := e.relaunch()
	if !ok || r.hasNoop || !near(r.with, 2.104) || !near(r.withoutRuns[2], 2.097591731) {
		t.Errorf("run1's relaunch: %+v, %v", r, ok)
	}
	if s, _ := e.launchSection(); strings.Contains(s.table, "the same relaunch") {
		t.Errorf("a row for the no-op init container without one measured:\n%s", s.table)
	}
}

func TestTheFirstLaunchIsReadRoundByRound(t *testing.T) {
	e, err := readE2E(run1)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := e.firstLaunch()
	if !ok {
		t.Fatal("no first launch in run1")
	}
	if f.files != 20000 || f.mib != 1023 || f.size() != "1 GiB" || f.rounds != 3 || !near(f.ratio, 0.8321) || f.goal != "1.1" {
		t.Errorf("first launch %+v", f)
	}
	if !near(f.ours[0], 8.707986533) || !near(f.cp[2], 25.148018101) {
		t.Errorf("rounds ours %v, cp %v", f.ours, f.cp)
	}
}

func TestTheFirstLaunchIsReadAsTheBenchmarkLogsItNow(t *testing.T) {
	// e2e/bench_test.go logs the median of the rounds' ratios where run1 logged a ratio of medians
	const out = `BenchmarkFirstLaunchOfALargeHomeVersusCpA-2   1  100 ns/op  0.9 ours/cp-a
--- BENCH: BenchmarkFirstLaunchOfALargeHomeVersusCpA-2
    bench_test.go:236: first launch of a 20000-file, 1023 MiB home, median of 2: ours (create→Ready) 9s, cp -a (create→Succeeded) 10s; the median of the rounds' ratios 0.90× (goal ≤ 1.1×); ours [9s 9s], cp [10s 10s]
`
	e := &e2eResults{runs: map[string]*e2eRun{}, env: map[string]string{}}
	if err := e.add("now.txt", strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	f, ok := e.firstLaunch()
	if !ok || f.rounds != 2 || f.ours[1] != 9 || f.cp[0] != 10 || f.goal != "1.1" || !near(f.ratio, 0.9) {
		t.Errorf("first launch %+v, %v", f, ok)
	}
}

func TestTheBurstIsReadFromItsLogLine(t *testing.T) {
	e, err := readE2E(run2)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := e.burst()
	if !ok {
		t.Fatal("no burst in run2")
	}
	ms := time.Millisecond
	if b.n != 500 || b.inFlight != 20 || b.replicas() != " (2 replicas)" || b.errors != 0 {
		t.Errorf("burst %+v", b)
	}
	if b.with != [4]time.Duration{145 * ms, 219 * ms, 322 * ms, 376 * ms} || b.without != [4]time.Duration{48 * ms, 84 * ms, 115 * ms, 125 * ms} {
		t.Errorf("quantiles with %v, without %v", b.with, b.without)
	}
	if b.withWall != 4007*ms || b.withoutWall != 1462*ms || !near(b.p50Ratio, 3.019) || !near(b.p99Ratio, 2.794) {
		t.Errorf("walls %v, %v, ratios %v, %v", b.withWall, b.withoutWall, b.p50Ratio, b.p99Ratio)
	}
}

func TestTheSecondScaleRunInAFileReplacesTheFirst(t *testing.T) {
	e, err := readE2E(run2)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := e.scale()
	if !ok {
		t.Fatal("no scale in run2")
	}
	want := []scaleLevel{{1000, 47.52, 0.2095, 1.277}, {10000, 105.2, 0.8253, 1.001}, {50000, 366.0, 4.541, 1.260}}
	if len(s.levels) != len(want) {
		t.Fatalf("levels %+v", s.levels)
	}
	for i, l := range s.levels {
		if l.claims != want[i].claims || !near(l.mib, want[i].mib) || !near(l.ready, want[i].ready) || !near(l.admissionRatio, want[i].admissionRatio) {
			t.Errorf("level %+v, want %+v", l, want[i])
		}
	}
	// the baseline of the second run, which its ratios are against; not the first's (26 claims, 42.6 MiB)
	if !s.hasBase || s.baseClaims != 1 || s.baseReady != 211*time.Millisecond || !near(s.baseMiB, 39.8) || s.baseAdmit != 8200*time.Microsecond {
		t.Errorf("baseline %+v", s)
	}
}

func TestALaterFileReplacesAnEarlierFilesRunAndKeepsTheOthers(t *testing.T) {
	e, err := readE2E(run1, run2)
	if err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{
		benchRelaunch: run2, benchBurst: run2, benchScale: run2,
		benchLargeSmall: run1, benchFirstLaunch: run1,
	} {
		if r := e.runs[name]; r == nil || r.file != file {
			t.Errorf("%s read from %v, want %s", name, r, file)
		}
	}
	e, err = readE2E(run2, run1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := e.burst(); b.with[0] != 237*time.Millisecond || b.replicas() != " (1 replica)" {
		t.Errorf("run1 read last, the burst is %+v", b)
	}
	if _, ok := e.scale(); !ok {
		t.Error("run1 has no scale benchmark, but run2's was dropped")
	}
}

func TestLogsOfAFailedRunAndContinuationLinesAreNotRead(t *testing.T) {
	const out = `BenchmarkABurstOf500Launches-2   1  100 ns/op  0 errors
--- BENCH: BenchmarkABurstOf500Launches-2
    incluster_test.go:217: built the image in 5.7s:
        bench_test.go:1: a burst of 9 creates, 1 in flight, one replica on the host: with the webhook p50 1ms p90 1ms p99 1ms max 1ms (1s wall); without p50 1ms p90 1ms p99 1ms max 1ms (1s wall); 0 errors
    bench_test.go:355: a burst of 500 creates, 20 in flight, two replicas in the cluster: with the webhook p50 145ms p90 219ms p99 322ms max 376ms (4.007s wall); without p50 48ms p90 84ms p99 115ms max 125ms (1.462s wall); 0 errors
--- FAIL: BenchmarkABurstOf500Launches-2
    bench_test.go:355: a burst of 7 creates, 1 in flight, one replica on the host: with the webhook p50 2ms p90 2ms p99 2ms max 2ms (1s wall); without p50 1ms p90 1ms p99 1ms max 1ms (1s wall); 3 errors
`
	e := &e2eResults{runs: map[string]*e2eRun{}, env: map[string]string{}}
	if err := e.add("x.txt", strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	r := e.runs[benchBurst]
	if len(r.logs) != 3-1 { // "built the image" and the burst; not the indented continuation
		t.Errorf("logs %q", r.logs)
	}
	if b, _ := e.burst(); b.n != 500 || b.errors != 0 {
		t.Errorf("burst %+v", b)
	}
}

func TestTheReportWritesSectionsTwoToFourBetweenTheirMarkersAndThePlots(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "performance.md")
	var doc strings.Builder
	doc.WriteString("# Performance\n")
	for n := 2; n <= 4; n++ {
		begin, end := markers(n)
		doc.WriteString("prose before " + string(rune('0'+n)) + "\n" + begin + "\nold table\n" + end + "\nprose after\n")
	}
	if err := os.WriteFile(report, []byte(doc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := readE2E(run1, run2)
	if err != nil {
		t.Fatal(err)
	}
	wrote, err := e.writeE2E(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 3 {
		t.Errorf("wrote %v, want three plots", wrote)
	}
	for _, f := range []string{"performance-launch.png", "performance-burst.png", "performance-scale.png"} {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil || img.Bounds().Dx() < 600 {
			t.Errorf("%s: %v, %v", f, err, img)
		}
	}
	b, _ := os.ReadFile(report)
	got := string(b)
	for _, want := range []string{"prose before 2\n", "prose before 3\n", "prose before 4\n", "![performance-launch](performance-launch.png)",
		"![performance-burst](performance-burst.png)", "![performance-scale](performance-scale.png)",
		"From the saved output of `make bench-e2e` in [performance-e2e-run2.txt]("} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old table") || strings.Count(got, "prose after\n") != 3 {
		t.Errorf("the report:\n%s", got)
	}
}

func TestTheUsageRelaunchIsARowOfTheLaunchTable(t *testing.T) {
	const out = `BenchmarkRelaunchWithUsageReportingOnVersusOff-2   1  100 ns/op  1.01 on/off  2090 ms-on  2070 ms-off
--- BENCH: BenchmarkRelaunchWithUsageReportingOnVersusOff-2
    bench_test.go:200: relaunch create→Ready beside a 100000-file project, median of 5: usage reporting on (default budget) 2.09s, off 2.07s: 1.01× (goal: within noise); the 100000-file project measured whole within the budget at 0 of 5 starts with it on; on: [2.09s]; off: [2.07s]
`
	e := &e2eResults{runs: map[string]*e2eRun{}, env: map[string]string{}}
	if err := e.add("now.txt", strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	s, ok := e.launchSection()
	want := "| relaunch with usage reporting on (the default budget), beside a 100,000-file project | 2.09 s | 2.07 s (usage reporting off: `--usage-budget=0`), 5 rounds | **1.01×** | within noise |"
	if !ok || !strings.Contains(s.table, want) {
		t.Errorf("the launch section (%v) lacks\n%s\nin\n%s", ok, want, s.table)
	}
}
