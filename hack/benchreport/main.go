// Command benchreport reads `go test -bench` output (several -count runs) and prints the medians as
// Markdown tables; with -report it also writes section 1 of docs/performance.md (between its markers,
// leaving the rest of the file alone) and draws the plots as PNG files next to it. With -e2e it reads
// instead saved outputs of `make bench-e2e` (the cluster benchmarks; a later file's run of a benchmark,
// and a later run in the same file, replaces an earlier one) and does the same for sections 2-4. It
// imports only the standard library. `make bench`, `make bench-report`, `make bench-e2e-report` and
// `make bench-e2e-plots` run it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	report := flag.String("report", "", "write section 1 (with -e2e: sections 2-4) of this Markdown file, between their markers, and the plots beside it")
	e2e := flag.Bool("e2e", false, "read saved outputs of make bench-e2e (the files named, in order: later runs win) for sections 2-4")
	flag.Parse()
	if *e2e {
		if err := mainE2E(*report, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		return
	}
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		var buf bytes.Buffer
		for _, f := range flag.Args() {
			b, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchreport:", err)
				os.Exit(1)
			}
			buf.Write(b)
		}
		in = &buf
	}
	res, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	if len(res.bench) == 0 {
		fmt.Fprintln(os.Stderr, "benchreport: no benchmark results in the input")
		os.Exit(1)
	}
	tables := res.tables()
	fmt.Print(tables)
	if *report == "" {
		return
	}
	dir := filepath.Dir(*report)
	plots, err := res.plots(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	if err := writeSection(*report, 1, res.section(tables, plots)); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// results are every sample of every metric of every benchmark, in the order first seen.
type results struct {
	names []string
	bench map[string]map[string][]float64 // name → unit → samples
	env   map[string]string               // goos, goarch, cpu, pkg lines
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

func parse(r io.Reader) (*results, error) {
	res := &results{bench: map[string]map[string][]float64{}, env: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"goos", "goarch", "cpu"} {
			if v, ok := strings.CutPrefix(line, k+": "); ok {
				res.env[k] = v
			}
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := strings.TrimPrefix(m[1], "Benchmark")
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("cannot read %q", line)
		}
		if res.bench[name] == nil {
			res.bench[name] = map[string][]float64{}
			res.names = append(res.names, name)
		}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("cannot read %q: %v", line, err)
			}
			res.bench[name][fields[i+1]] = append(res.bench[name][fields[i+1]], v)
		}
	}
	return res, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// med is the median of a benchmark's metric, and how many samples it has.
func (r *results) med(name, unit string) (float64, int) {
	xs := r.bench[name][unit]
	return median(xs), len(xs)
}

// Goal of issue 10 §1, at c=16: throughput at least 0.8× the floor's, p99 at most 1.25× its p99.
const (
	goalThroughput = 0.8
	goalP99        = 1.25
)

var concurrencies = []int{1, 16, 64}

func servedName(mode string, c int) string {
	return fmt.Sprintf("ServedAgainstFloor/patch=%s/c=%d", mode, c)
}

func (r *results) tables() string {
	var b strings.Builder
	if _, ok := r.bench[servedName("plan", 16)]; ok {
		b.WriteString("Served over HTTPS against the floor (a no-op typed Defaulter[*corev1.Pod] on the same server, same client, interleaved rounds); medians of N runs:\n\n")
		b.WriteString("| patch | c | throughput ratio | p99 ratio | req/s | floor req/s | p99 | floor p99 | N |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, mode := range []string{"plan", "diff", "floor-with-our-patch"} {
			for _, c := range concurrencies {
				n := servedName(mode, c)
				if _, ok := r.bench[n]; !ok {
					continue
				}
				tr, runs := r.med(n, "throughput-ratio")
				pr, _ := r.med(n, "p99-ratio")
				rps, _ := r.med(n, "req/s")
				frps, _ := r.med(n, "floor-req/s")
				p99, _ := r.med(n, "p99-µs")
				fp99, _ := r.med(n, "floor-p99-µs")
				fmt.Fprintf(&b, "| %s | %d | **%.2f×** | **%.2f×** | %.0f | %.0f | %s | %s | %d |\n",
					mode, c, tr, pr, rps, frps, micros(p99), micros(fp99), runs)
			}
		}
		if tr, _ := r.med(servedName("plan", 16), "throughput-ratio"); tr > 0 {
			pr, _ := r.med(servedName("plan", 16), "p99-ratio")
			verdict := "met"
			if tr < goalThroughput || pr > goalP99 {
				verdict = "NOT met"
			}
			fmt.Fprintf(&b, "\nGoal at c=16 (throughput ≥ %.2f×, p99 ≤ %.2f× the floor's), patch=plan: %.2f×, %.2f×: **%s**.\n\n",
				goalThroughput, goalP99, tr, pr, verdict)
			if ftr, _ := r.med(servedName("floor-with-our-patch", 16), "throughput-ratio"); ftr > 0 {
				fpr, _ := r.med(servedName("floor-with-our-patch", 16), "p99-ratio")
				fmt.Fprintf(&b, "The floor with our patch attached (the least any webhook making this mutation costs, the client applying the patch as the API server does) serves %.2f× the floor's throughput at c=16, p99 %.2f×: patch=plan serves **%.2f×** of that.\n\n",
					ftr, fpr, tr/ftr)
			}
		}
	}
	var inproc []string
	for _, n := range r.names {
		if !strings.HasPrefix(n, "ServedAgainstFloor") {
			inproc = append(inproc, n)
		}
	}
	if len(inproc) > 0 {
		b.WriteString("In process (no network), medians of N runs; ratio: ns/op against the floor of the same group:\n\n")
		b.WriteString("| benchmark | ns/op | ratio to floor | B/op | allocs/op | N |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|\n")
		for _, n := range inproc {
			ns, runs := r.med(n, "ns/op")
			bop, _ := r.med(n, "B/op")
			al, _ := r.med(n, "allocs/op")
			ratio := "—"
			if i := strings.LastIndex(n, "/"); i >= 0 {
				if f, _ := r.med(n[:i]+"/floor", "ns/op"); f > 0 {
					ratio = fmt.Sprintf("%.2f×", ns/f)
				}
			}
			fmt.Fprintf(&b, "| %s | %.0f | %s | %.0f | %.0f | %d |\n", n, ns, ratio, bop, al, runs)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func micros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.1f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// plots draws the served ratios and returns the files' names, relative to dir.
func (r *results) plots(dir string) ([]string, error) {
	var files []string
	for _, p := range []struct {
		file, title, unit string
		goal              float64
	}{
		{"performance-throughput.png", "THROUGHPUT / FLOOR (HIGHER IS BETTER)", "throughput-ratio", goalThroughput},
		{"performance-p99.png", "P99 LATENCY / FLOOR (LOWER IS BETTER)", "p99-ratio", goalP99},
	} {
		var all []series
		for _, mode := range []string{"plan", "diff", "floor-with-our-patch"} {
			s := series{name: "PATCH=" + strings.ToUpper(mode)}
			for _, c := range concurrencies {
				v, n := r.med(servedName(mode, c), p.unit)
				if n == 0 {
					continue
				}
				s.points = append(s.points, point{label: fmt.Sprintf("C=%d", c), value: v, samples: r.bench[servedName(mode, c)][p.unit]})
			}
			if len(s.points) > 0 {
				all = append(all, s)
			}
		}
		if len(all) == 0 {
			continue
		}
		img := barChart(p.title, all, p.goal)
		if err := writePNG(filepath.Join(dir, p.file), img); err != nil {
			return nil, err
		}
		files = append(files, p.file)
	}
	return files, nil
}

func mainE2E(report string, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("-e2e needs the files of saved make bench-e2e output")
	}
	e, err := readE2E(files...)
	if err != nil {
		return err
	}
	if len(e.sections()) == 0 {
		return fmt.Errorf("no cluster benchmark results in %s", strings.Join(files, ", "))
	}
	fmt.Print(e.tables())
	if report == "" {
		return nil
	}
	wrote, err := e.writeE2E(report)
	for _, f := range wrote {
		fmt.Println("wrote", f)
	}
	return err
}

// markers are the lines between which section n of the report is generated.
func markers(n int) (begin, end string) {
	by := "make bench-report"
	if n > 1 {
		by = "make bench-e2e-report or make bench-e2e-plots"
	}
	return fmt.Sprintf("<!-- benchreport: begin section %d (generated by %s; do not edit) -->", n, by),
		fmt.Sprintf("<!-- benchreport: end section %d -->", n)
}

func (r *results) section(tables string, plots []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s (%s/%s, %s); every number below is the median of the N runs in its row.\n\n",
		time.Now().UTC().Format("2006-01-02"), r.env["cpu"], r.env["goos"], r.env["goarch"], cores())
	b.WriteString(tables)
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(p, ".png"), p)
	}
	b.WriteString("Each bar is the median; the dots are the single runs; the dashed line is the goal.\n")
	return b.String()
}

func cores() string {
	return fmt.Sprintf("%d cores, shared with other work", runtime.NumCPU())
}

// writeSection replaces what lies between section n's markers in file with body; a file without
// them gets an error (the text around them is written by hand).
func writeSection(file string, n int, body string) error {
	beginMarker, endMarker := markers(n)
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	i := bytes.Index(old, []byte(beginMarker))
	j := bytes.Index(old, []byte(endMarker))
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q markers to write between", file, beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(old[:i+len(beginMarker)])
	out.WriteString("\n\n")
	out.WriteString(body)
	out.WriteString("\n")
	out.Write(old[j:])
	return os.WriteFile(file, out.Bytes(), 0o644)
}
