package main

// The -e2e mode: saved outputs of `make bench-e2e` (e2e/bench_test.go, one run of each cluster
// benchmark: its ratios and medians as metrics, its raw times in its log) → sections 2-4 of
// docs/performance.md, their tables and plots.

import (
	"bufio"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// e2eRun is one run of one cluster benchmark: its metrics, the lines it logged, and the file it was
// read from.
type e2eRun struct {
	file    string
	metrics map[string]float64
	logs    []string
}

// e2eResults hold the last run of every benchmark read: a later file's run replaces an earlier
// file's, and a later run in the same file an earlier one.
type e2eResults struct {
	runs map[string]*e2eRun
	env  map[string]string
}

var (
	benchHeader = regexp.MustCompile(`^--- (BENCH|FAIL|SKIP): Benchmark(\S+?)(?:-\d+)?$`)
	logLine     = regexp.MustCompile(`^    (?:\S+\.go:\d+): (.*)$`) // a top-level benchmark's log line; its continuations are indented further
)

func readE2E(files ...string) (*e2eResults, error) {
	e := &e2eResults{runs: map[string]*e2eRun{}, env: map[string]string{}}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		err = e.add(f, fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
	}
	return e, nil
}

// add reads one file of go test -bench output. A benchmark's log (the indented lines after its
// "--- BENCH:" line) belongs to its result line just before.
func (e *e2eResults) add(file string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur *e2eRun
	for sc.Scan() {
		line := sc.Text()
		if m := benchLine.FindStringSubmatch(line); m != nil {
			fields := strings.Fields(m[3])
			if len(fields)%2 != 0 {
				return fmt.Errorf("cannot read %q", line)
			}
			run := &e2eRun{file: file, metrics: map[string]float64{}}
			for i := 0; i < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					return fmt.Errorf("cannot read %q: %v", line, err)
				}
				run.metrics[fields[i+1]] = v
			}
			e.runs[strings.TrimPrefix(m[1], "Benchmark")] = run
			cur = nil
			continue
		}
		if m := benchHeader.FindStringSubmatch(line); m != nil {
			cur = nil
			if run := e.runs[m[2]]; m[1] == "BENCH" && run != nil && run.file == file {
				cur = run
			}
			continue
		}
		if m := logLine.FindStringSubmatch(line); m != nil {
			if cur != nil {
				cur.logs = append(cur.logs, m[1])
			}
			continue
		}
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue // a log line's continuation
		}
		cur = nil
		for _, k := range []string{"goos", "goarch", "cpu"} {
			if v, ok := strings.CutPrefix(line, k+": "); ok {
				e.env[k] = v
			}
		}
	}
	return sc.Err()
}

// log finds the first line of a run's log that re matches, and its submatches.
func (r *e2eRun) log(re *regexp.Regexp) []string {
	if r == nil {
		return nil
	}
	for _, l := range r.logs {
		if m := re.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	return nil
}

func (r *e2eRun) metric(unit string) (float64, bool) {
	if r == nil {
		return 0, false
	}
	v, ok := r.metrics[unit]
	return v, ok
}

// The benchmarks of e2e/bench_test.go.
const (
	benchRelaunch    = "RelaunchWithVersusWithoutTheWebhook"
	benchLargeSmall  = "RelaunchOfALargeVersusASmallProject"
	benchUsage       = "RelaunchWithUsageReportingOnVersusOff"
	benchFirstLaunch = "FirstLaunchOfALargeHomeVersusCpA"
	benchBurst       = "ABurstOf500Launches"
	benchScale       = "ScaleWithManyClaims"
)

// What the benchmarks log (the log says what the metrics do not: rounds, goals, raw times).
var (
	reRounds      = regexp.MustCompile(`median of (\d+)`)
	reGoal        = regexp.MustCompile(`goal ≤ ([\d.]+)×`)
	reWith        = regexp.MustCompile(`with: \[([^\]]*)\]`)
	reWithout     = regexp.MustCompile(`without: \[([^\]]*)\]`)
	reNoop        = regexp.MustCompile(`no-op init: \[([^\]]*)\]`)
	reLargeSmall  = regexp.MustCompile(`median of \d+: (\d+)-file project (\S+), (\d+)-file project (\S+):`)
	reUsage       = regexp.MustCompile(`beside a (\d+)-file project, median of (\d+):`)
	reFirstLaunch = regexp.MustCompile(`first launch of a (\d+)-file, (\d+) MiB home, median of \d+:`)
	reOursCp      = regexp.MustCompile(`ours \[([^\]]*)\], cp \[([^\]]*)\]`)
	reBurst       = regexp.MustCompile(`a burst of (\d+) creates, (\d+) in flight, ([^:]+): with the webhook p50 (\S+) p90 (\S+) p99 (\S+) max (\S+) \((\S+) wall\); without p50 (\S+) p90 (\S+) p99 (\S+) max (\S+) \((\S+) wall\); (\d+) errors`)
	reBaseline    = regexp.MustCompile(`baseline \((\d+) claims of the other benchmarks\): webhook ready (\S+) after start, ([\d.]+) MiB resident, admission median (\S+)`)
)

func durations(s string) ([]time.Duration, error) {
	var ds []time.Duration
	for _, f := range strings.Fields(s) {
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func seconds(ds []time.Duration) []float64 {
	var xs []float64
	for _, d := range ds {
		xs = append(xs, d.Seconds())
	}
	return xs
}

func mustDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// thousands writes n with commas: 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// latency writes a latency as the tables do: 145 ms, 4.0 s.
func latency(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// twoDigits writes seconds to two significant digits: 0.21 s, 4.5 s, 12 s.
func twoDigits(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.2f s", s)
	case s < 10:
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.0f s", s)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// The values each section shows, read from the runs.

type relaunchRow struct {
	rounds                       int
	with, without, noop          float64 // seconds, medians
	ratio, noopRatio             float64
	hasNoop                      bool
	goal                         string
	withRuns, withoutRuns, noops []float64
}

func (e *e2eResults) relaunch() (relaunchRow, bool) {
	r := e.runs[benchRelaunch]
	var row relaunchRow
	var ok bool
	if row.with, ok = r.metric("ms-with"); !ok {
		return row, false
	}
	row.with /= 1000
	row.without, _ = r.metric("ms-without")
	row.without /= 1000
	row.ratio, _ = r.metric("with/without")
	row.noop, row.hasNoop = r.metric("ms-noop-init")
	row.noop /= 1000
	row.noopRatio, _ = r.metric("with/noop-init")
	if m := r.log(reRounds); m != nil {
		row.rounds = atoi(m[1])
	}
	if m := r.log(reGoal); m != nil {
		row.goal = m[1]
	}
	for _, x := range []struct {
		re  *regexp.Regexp
		out *[]float64
	}{{reWith, &row.withRuns}, {reWithout, &row.withoutRuns}, {reNoop, &row.noops}} {
		if m := r.log(x.re); m != nil {
			ds, _ := durations(m[1])
			*x.out = seconds(ds)
		}
	}
	return row, true
}

type firstLaunchRow struct {
	files, mib, rounds int
	ours, cp           []float64 // seconds, per round
	ratio              float64
	goal               string
}

func (e *e2eResults) firstLaunch() (firstLaunchRow, bool) {
	r := e.runs[benchFirstLaunch]
	var row firstLaunchRow
	var ok bool
	if row.ratio, ok = r.metric("ours/cp-a"); !ok {
		return row, false
	}
	m := r.log(reFirstLaunch)
	oc := r.log(reOursCp)
	if m == nil || oc == nil {
		return row, false
	}
	row.files, row.mib = atoi(m[1]), atoi(m[2])
	ours, err1 := durations(oc[1])
	cp, err2 := durations(oc[2])
	if err1 != nil || err2 != nil || len(ours) != len(cp) || len(ours) == 0 {
		return row, false
	}
	row.ours, row.cp, row.rounds = seconds(ours), seconds(cp), len(ours)
	if g := r.log(reGoal); g != nil {
		row.goal = g[1]
	}
	return row, true
}

// size writes a home's size: 1 GiB, 500 MiB.
func (f firstLaunchRow) size() string {
	if f.mib >= 1000 {
		return fmt.Sprintf("%.0f GiB", float64(f.mib)/1024)
	}
	return fmt.Sprintf("%d MiB", f.mib)
}

type burstRow struct {
	n, inFlight                   int
	where                         string // "two replicas in the cluster"
	with, without                 [4]time.Duration
	withWall, withoutWall         time.Duration
	errors                        int
	p50Ratio, p99Ratio, wallRatio float64
}

func (e *e2eResults) burst() (burstRow, bool) {
	r := e.runs[benchBurst]
	m := r.log(reBurst)
	if m == nil {
		return burstRow{}, false
	}
	b := burstRow{n: atoi(m[1]), inFlight: atoi(m[2]), where: m[3], errors: atoi(m[14])}
	for i := range 4 {
		b.with[i] = mustDuration(m[4+i])
		b.without[i] = mustDuration(m[9+i])
	}
	b.withWall, b.withoutWall = mustDuration(m[8]), mustDuration(m[13])
	b.p50Ratio, _ = r.metric("p50-with/without")
	b.p99Ratio, _ = r.metric("p99-with/without")
	if b.withoutWall > 0 {
		b.wallRatio = b.withWall.Seconds() / b.withoutWall.Seconds()
	}
	return b, true
}

var numberWords = map[string]string{"one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}

// replicas says how the webhook ran in the burst, from its log: "(2 replicas)".
func (b burstRow) replicas() string {
	f := strings.Fields(b.where)
	if len(f) >= 2 && strings.HasPrefix(f[1], "replica") {
		n := f[0]
		if d, ok := numberWords[n]; ok {
			n = d
		}
		return fmt.Sprintf(" (%s %s)", n, f[1])
	}
	return ""
}

type scaleLevel struct {
	claims         int
	mib, ready     float64
	admissionRatio float64
}

type scaleRows struct {
	baseClaims int
	baseReady  time.Duration
	baseMiB    float64
	baseAdmit  time.Duration
	hasBase    bool
	levels     []scaleLevel
}

func (e *e2eResults) scale() (scaleRows, bool) {
	r := e.runs[benchScale]
	var s scaleRows
	if r == nil {
		return s, false
	}
	for unit, v := range r.metrics {
		n, ok := strings.CutPrefix(unit, "MiB@")
		if !ok {
			continue
		}
		l := scaleLevel{claims: atoi(n), mib: v}
		l.ready = r.metrics["s-ready@"+n]
		l.admissionRatio = r.metrics["admission-ratio@"+n]
		s.levels = append(s.levels, l)
	}
	if len(s.levels) == 0 {
		return s, false
	}
	sort.Slice(s.levels, func(i, j int) bool { return s.levels[i].claims < s.levels[j].claims })
	if m := r.log(reBaseline); m != nil {
		s.hasBase = true
		s.baseClaims, s.baseReady = atoi(m[1]), mustDuration(m[2])
		s.baseMiB, _ = strconv.ParseFloat(m[3], 64)
		s.baseAdmit = mustDuration(m[4])
	}
	return s, true
}

// sources links the files the named benchmarks were read from, relative to dir.
func (e *e2eResults) sources(dir string, names ...string) string {
	var links []string
	for _, n := range names {
		r := e.runs[n]
		if r == nil {
			continue
		}
		rel, err := filepath.Rel(dir, r.file)
		if err != nil {
			rel = r.file
		}
		l := fmt.Sprintf("[%s](%s)", filepath.Base(r.file), filepath.ToSlash(rel))
		if !slices.Contains(links, l) {
			links = append(links, l)
		}
	}
	if len(links) == 0 {
		return ""
	}
	return "From the saved output of `make bench-e2e` in " + strings.Join(links, " and ") + ".\n\n"
}

// e2eSection is one generated section: its Markdown, and its plot (nil when nothing to draw).
type e2eSection struct {
	n     int
	table string
	plot  *image.RGBA
	file  string // the plot's file name
	about string // what the plot shows, under it
	names []string
}

func (e *e2eResults) sections() []e2eSection {
	var out []e2eSection
	if s, ok := e.launchSection(); ok {
		out = append(out, s)
	}
	if s, ok := e.burstSection(); ok {
		out = append(out, s)
	}
	if s, ok := e.scaleSection(); ok {
		out = append(out, s)
	}
	return out
}

// tables are the sections' tables, for the terminal.
func (e *e2eResults) tables() string {
	var b strings.Builder
	for _, s := range e.sections() {
		fmt.Fprintf(&b, "Section %d:\n\n%s\n", s.n, s.table)
	}
	return b.String()
}

// markdown is a section's text between its markers, with the plot's file relative to dir.
func (e *e2eResults) markdown(s e2eSection, dir string) string {
	var b strings.Builder
	b.WriteString(s.table)
	b.WriteString("\n")
	b.WriteString(e.sources(dir, s.names...))
	if s.plot != nil {
		fmt.Fprintf(&b, "![%s](%s)\n\n%s\n", strings.TrimSuffix(s.file, ".png"), s.file, s.about)
	}
	return b.String()
}

func (e *e2eResults) launchSection() (e2eSection, bool) {
	rel, okR := e.relaunch()
	first, okF := e.firstLaunch()
	large := e.runs[benchLargeSmall]
	lm := large.log(reLargeSmall)
	usage := e.runs[benchUsage]
	um := usage.log(reUsage)
	if !okR && !okF && lm == nil && um == nil {
		return e2eSection{}, false
	}
	s := e2eSection{n: 2, file: "performance-launch.png", names: []string{benchRelaunch, benchLargeSmall, benchUsage, benchFirstLaunch}}
	var b strings.Builder
	b.WriteString("| what | measured | baseline, same run | ratio | goal |\n")
	b.WriteString("|---|---:|---:|---:|---:|\n")
	goal := func(g string) string {
		if g == "" {
			return ""
		}
		return "≤ " + g + "×"
	}
	if okR {
		fmt.Fprintf(&b, "| relaunch of an existing project, pod create → Ready | %.2f s | %.2f s (the same pod without the webhook: its label removed) | **%.2f×** | %s |\n",
			rel.with, rel.without, rel.ratio, goal(rel.goal))
		if rel.hasNoop {
			fmt.Fprintf(&b, "| the same relaunch | %.2f s | %.2f s (without the webhook, with an init container that runs `true`) | **%.2f×** | |\n",
				rel.with, rel.noop, rel.noopRatio)
		}
	}
	largeRounds := 0
	if lm != nil {
		ratio, _ := large.metric("large/small")
		g := ""
		if m := large.log(reGoal); m != nil {
			g = m[1]
		}
		if m := large.log(reRounds); m != nil {
			largeRounds = atoi(m[1])
		}
		fmt.Fprintf(&b, "| relaunch of a %s-file project | %.2f s | %.2f s (a %s-file project) | **%.2f×** | %s |\n",
			thousands(atoi(lm[1])), mustDuration(lm[2]).Seconds(), mustDuration(lm[4]).Seconds(), thousands(atoi(lm[3])), ratio, goal(g))
	}
	if um != nil {
		on, _ := usage.metric("ms-on")
		off, _ := usage.metric("ms-off")
		ratio, _ := usage.metric("on/off")
		fmt.Fprintf(&b, "| relaunch with usage reporting on (the default budget), beside a %s-file project | %.2f s | %.2f s (usage reporting off: `--usage-budget=0`), %s rounds | **%.2f×** | within noise |\n",
			thousands(atoi(um[1])), on/1000, off/1000, um[2], ratio)
	}
	if okF {
		var ours, cp, ratios []string
		for i := range first.ours {
			ours = append(ours, fmt.Sprintf("%.1f", first.ours[i]))
			cp = append(cp, fmt.Sprintf("%.1f", first.cp[i]))
			ratios = append(ratios, fmt.Sprintf("%.2f", first.ours[i]/first.cp[i]))
		}
		fmt.Fprintf(&b, "| first launch of a %s, %s-file home, create → Ready | %s s | %s s (a pod of the same image running `cp -a` of its home onto the same volume, create → Succeeded) | **%.2f×** (median of the rounds' ratios %s) | %s |\n",
			first.size(), thousands(first.files), strings.Join(ours, " / "), strings.Join(cp, " / "), first.ratio, strings.Join(ratios, ", "), goal(first.goal))
	}
	rounds := rel.rounds
	if rounds == 0 {
		rounds = largeRounds
	}
	if rounds > 0 {
		fmt.Fprintf(&b, "\nMedians of %d interleaved rounds", rounds)
		if okF && first.rounds != rounds {
			fmt.Fprintf(&b, " (%d for the %s copy)", first.rounds, first.size())
		}
		b.WriteString(".\n")
	}
	s.table = b.String()

	var panels []*image.RGBA
	secs := chartOpts{w: 600, h: 420,
		yLabel:        func(v float64) string { return fmt.Sprintf("%.1f S", v) },
		value:         func(v float64) string { return fmt.Sprintf("%.2f", v) },
		labelOverDots: true}
	if okR {
		pts := []point{{label: "WITHOUT", value: rel.without, samples: rel.withoutRuns}}
		if rel.hasNoop {
			pts = append(pts, point{label: "NO-OP INIT", value: rel.noop, samples: rel.noops})
		}
		pts = append(pts, point{label: "WEBHOOK", value: rel.with, samples: rel.withRuns})
		panels = append(panels, bars("RELAUNCH, CREATE -> READY", []series{{points: pts}}, secs))
	}
	if okF {
		o := secs
		o.value = func(v float64) string { return fmt.Sprintf("%.1f", v) }
		panels = append(panels, bars(fmt.Sprintf("FIRST LAUNCH, %s: %.2fX CP -A", first.size(), first.ratio), []series{{points: []point{
			{label: "CP -A", value: median(first.cp), samples: first.cp},
			{label: "OURS", value: median(first.ours), samples: first.ours},
		}}}, o))
	}
	if len(panels) > 0 {
		s.plot = tile(2, panels...)
		s.about = "Seconds; each bar is the median, the dots are the single rounds."
	}
	return s, true
}

func (e *e2eResults) burstSection() (e2eSection, bool) {
	br, ok := e.burst()
	if !ok {
		return e2eSection{}, false
	}
	s := e2eSection{n: 3, file: "performance-burst.png", names: []string{benchBurst}}
	var b strings.Builder
	b.WriteString("| | p50 | p90 | p99 | max | wall time | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	withErr, withoutErr := fmt.Sprintf("**%d**", br.errors), "0"
	if br.errors > 0 {
		withErr, withoutErr = fmt.Sprintf("**%d** (both halves)", br.errors), ""
	}
	row := func(name string, q [4]time.Duration, wall time.Duration, errs string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", name,
			latency(q[0]), latency(q[1]), latency(q[2]), latency(q[3]), latency(wall), errs)
	}
	row("with the webhook"+br.replicas(), br.with, br.withWall, withErr)
	row("without", br.without, br.withoutWall, withoutErr)
	fmt.Fprintf(&b, "| ratio | %.1f× | | %.1f× | | %.1f× | |\n", br.p50Ratio, br.p99Ratio, br.wallRatio)
	s.table = b.String()

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	with := series{name: "WITH THE WEBHOOK" + strings.ToUpper(br.replicas())}
	without := series{name: "WITHOUT"}
	for i, q := range []string{"P50", "P90", "P99", "MAX"} {
		with.points = append(with.points, point{label: q, value: ms(br.with[i])})
		without.points = append(without.points, point{label: q, value: ms(br.without[i])})
	}
	s.plot = bars(fmt.Sprintf("A BURST OF %d CREATES, %d IN FLIGHT: LATENCY", br.n, br.inFlight), []series{with, without}, chartOpts{w: 760, h: 440,
		yLabel: func(v float64) string { return fmt.Sprintf("%.0f MS", v) },
		value:  func(v float64) string { return fmt.Sprintf("%.0f", v) }})
	s.about = fmt.Sprintf("Milliseconds from a create's request to its answer, over the %d creates with the webhook and the %d without.", br.n, br.n)
	return s, true
}

func (e *e2eResults) scaleSection() (e2eSection, bool) {
	sc, ok := e.scale()
	if !ok {
		return e2eSection{}, false
	}
	s := e2eSection{n: 4, file: "performance-scale.png", names: []string{benchScale}}
	var b strings.Builder
	b.WriteString("| claims | ready after start | resident memory | admission median vs baseline |\n")
	b.WriteString("|---:|---:|---:|---:|\n")
	if sc.hasBase {
		fmt.Fprintf(&b, "| (baseline: %s) | %s | %.1f MiB | 1.00× (%.1f ms) |\n", thousands(sc.baseClaims),
			twoDigits(sc.baseReady.Seconds()), sc.baseMiB, float64(sc.baseAdmit)/float64(time.Millisecond))
	}
	var xs, mib, ready []float64
	ratios := series{}
	for _, l := range sc.levels {
		fmt.Fprintf(&b, "| %s | %s | %.1f MiB | %.2f× |\n", thousands(l.claims), twoDigits(l.ready), l.mib, l.admissionRatio)
		xs, mib, ready = append(xs, float64(l.claims)), append(mib, l.mib), append(ready, l.ready)
		ratios.points = append(ratios.points, point{label: thousands(l.claims), value: l.admissionRatio})
	}
	s.table = b.String()

	claims := func(v float64) string { return thousands(int(v)) }
	o := func(unit string, ref float64, refLabel string, value string) chartOpts {
		return chartOpts{w: 760, h: 360,
			yLabel:   func(v float64) string { return fmt.Sprintf("%g %s", v, unit) },
			value:    func(v float64) string { return fmt.Sprintf(value, v) },
			ref:      ref,
			refLabel: refLabel}
	}
	memRef, readyRef := o("MIB", 0, "", "%.1f"), o("S", 0, "", "%.2f")
	if sc.hasBase {
		memRef = o("MIB", sc.baseMiB, fmt.Sprintf("BASELINE - - %.1f MIB", sc.baseMiB), "%.1f")
		readyRef = o("S", sc.baseReady.Seconds(), fmt.Sprintf("BASELINE - - %.2f S", sc.baseReady.Seconds()), "%.2f")
	}
	ratioO := o("X", 1, "BASELINE - - 1.00X", "%.2f")
	ratioO.yLabel = func(v float64) string { return fmt.Sprintf("%.2fX", v) }
	s.plot = tile(1,
		lineChart("RESIDENT MEMORY AGAINST CLAIMS", xs, mib, claims, memRef),
		lineChart("READY AFTER START AGAINST CLAIMS", xs, ready, claims, readyRef),
		bars("ADMISSION MEDIAN / BASELINE, BY CLAIMS", []series{ratios}, ratioO))
	s.about = "The webhook restarted at each number of claims: its resident memory once ready (MiB), the time until it is ready (seconds), and the median of its admissions against the same before the claims were made; the dashed lines are the baseline."
	return s, true
}

// writeE2E writes sections 2-4 of the report file between their markers and their plots beside it.
func (e *e2eResults) writeE2E(report string) ([]string, error) {
	dir := filepath.Dir(report)
	var wrote []string
	for _, s := range e.sections() {
		if s.plot != nil {
			f := filepath.Join(dir, s.file)
			if err := writePNG(f, s.plot); err != nil {
				return wrote, err
			}
			wrote = append(wrote, f)
		}
		if err := writeSection(report, s.n, e.markdown(s, dir)); err != nil {
			return wrote, err
		}
	}
	return wrote, nil
}
