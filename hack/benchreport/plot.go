package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"
)

type point struct {
	label   string
	value   float64
	samples []float64
}

type series struct {
	name   string
	points []point
}

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{30, 30, 30, 255}
	grey    = color.RGBA{200, 200, 200, 255}
	goalRed = color.RGBA{200, 40, 40, 255}
	palette = []color.RGBA{{40, 100, 190, 255}, {240, 150, 40, 255}, {90, 160, 90, 255}}
	dotGrey = color.RGBA{20, 20, 20, 255}
)

// chartOpts are what a chart's axis, labels and reference line say; ratioOpts are section 1's.
type chartOpts struct {
	w, h     int
	yLabel   func(float64) string // a tick of the value axis
	value    func(float64) string // the label above a bar or a point
	ref      float64              // a dashed line at ref, drawn when refLabel is set
	refLabel string
	// labelOverDots puts a bar's label above its highest dot rather than above the bar
	labelOverDots bool
}

func ratioOpts(goal float64) chartOpts {
	return chartOpts{
		w: 760, h: 440,
		yLabel:   func(v float64) string { return fmt.Sprintf("%.2fX", v) },
		value:    func(v float64) string { return fmt.Sprintf("%.2f", v) },
		ref:      goal,
		refLabel: fmt.Sprintf("GOAL - - %.2fX", goal),
	}
}

// barChart draws grouped bars: one group per point label, one bar per series, the median as the bar,
// every sample as a dot, and a dashed line at goal.
func barChart(title string, ss []series, goal float64) *image.RGBA {
	return bars(title, ss, ratioOpts(goal))
}

// axes are a chart's frame: the value axis from 0 to top with its ticks, and y mapping a value to a row.
type axes struct {
	left, right, top, bottom int
	topV                     float64
}

func (a axes) y(h int, v float64) int {
	return h - a.bottom - int(v/a.topV*float64(h-a.top-a.bottom))
}

// frame draws the background, the title, the value axis up to maxV (and o.ref) with its ticks and
// grid lines, and the two axes' lines.
func frame(img *image.RGBA, title string, maxV float64, o chartOpts) axes {
	w, h := o.w, o.h
	fill(img, img.Bounds(), white)
	text(img, 80, 18, title, black, 2)
	if o.refLabel != "" {
		maxV = math.Max(maxV, o.ref)
	}
	step := niceStep(maxV * 1.1 / 5)
	a := axes{left: 80, right: 20, top: 60, bottom: 70, topV: math.Ceil(maxV*1.1/step) * step}
	for v := 0.0; v <= a.topV+step/2; v += step {
		a.left = max(a.left, len([]rune(o.yLabel(v)))*12+20)
	}
	for v := 0.0; v <= a.topV+step/2; v += step {
		yy := a.y(h, v)
		hline(img, a.left, w-a.right, yy, grey)
		text(img, 8, yy-7, o.yLabel(v), black, 2)
	}
	vline(img, a.left, a.top, h-a.bottom, black)
	hline(img, a.left, w-a.right, h-a.bottom, black)
	return a
}

// refLine draws o's dashed reference line and its label, when it has one.
func refLine(img *image.RGBA, a axes, o chartOpts) {
	if o.refLabel == "" {
		return
	}
	w := o.w
	gy := a.y(o.h, o.ref)
	for x := a.left; x < w-a.right; x += 12 {
		fill(img, image.Rect(x, gy-1, min(x+7, w-a.right), gy+1), goalRed)
	}
	text(img, w-a.right-len([]rune(o.refLabel))*12+6, 40, o.refLabel, goalRed, 2)
}

// legend names the series under the chart (those that have a name).
func legend(img *image.RGBA, a axes, h int, ss []series) {
	lx := a.left
	for si, s := range ss {
		if s.name == "" {
			continue
		}
		fill(img, image.Rect(lx, h-28, lx+16, h-14), palette[si%len(palette)])
		text(img, lx+22, h-28, s.name, black, 2)
		lx += 22 + len(s.name)*12 + 30
	}
}

func bars(title string, ss []series, o chartOpts) *image.RGBA {
	w, h := o.w, o.h
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	maxV := 0.0
	for _, s := range ss {
		for _, p := range s.points {
			maxV = math.Max(maxV, p.value)
			for _, x := range p.samples {
				maxV = math.Max(maxV, x)
			}
		}
	}
	a := frame(img, title, maxV, o)
	y := func(v float64) int { return a.y(h, v) }

	var labels []string
	for _, s := range ss {
		for _, p := range s.points {
			if !slices.Contains(labels, p.label) {
				labels = append(labels, p.label)
			}
		}
	}
	gw := (w - a.left - a.right) / len(labels)
	bw := gw * 2 / (3 * len(ss))
	for g, label := range labels {
		gx := a.left + g*gw + gw/6
		for si, s := range ss {
			i := slices.IndexFunc(s.points, func(p point) bool { return p.label == label })
			if i < 0 {
				continue
			}
			p := s.points[i]
			x0 := gx + si*bw
			fill(img, image.Rect(x0+2, y(p.value), x0+bw-2, h-a.bottom), palette[si%len(palette)])
			top := p.value
			if o.labelOverDots && len(p.samples) > 0 {
				top = math.Max(top, slices.Max(p.samples))
			}
			text(img, x0+4, y(top)-18, o.value(p.value), black, 2)
			for _, v := range p.samples {
				fill(img, image.Rect(x0+bw/2-3, y(v)-3, x0+bw/2+3, y(v)+3), dotGrey)
			}
		}
		text(img, a.left+g*gw+gw/2-len(label)*6, h-a.bottom+10, label, black, 2)
	}
	refLine(img, a, o)
	legend(img, a, h, ss)
	return img
}

// lineChart draws one series of (x, value) points joined by lines, every point labelled with its
// value, over a linear x axis from 0 whose ticks xLabel writes.
func lineChart(title string, xs, vs []float64, xLabel func(float64) string, o chartOpts) *image.RGBA {
	w, h := o.w, o.h
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	a := frame(img, title, slices.Max(vs), o)
	maxX := slices.Max(xs)
	xstep := niceStep(maxX / 5)
	topX := math.Ceil(maxX/xstep) * xstep
	x := func(v float64) int { return a.left + int(v/topX*float64(w-a.left-a.right-20)) }
	for v := 0.0; v <= topX+xstep/2; v += xstep {
		vline(img, x(v), h-a.bottom, h-a.bottom+6, black)
		l := xLabel(v)
		text(img, x(v)-len(l)*6, h-a.bottom+12, l, black, 2)
	}
	for i := range xs {
		if i > 0 {
			line(img, x(xs[i-1]), a.y(h, vs[i-1]), x(xs[i]), a.y(h, vs[i]), palette[0])
		}
	}
	for i := range xs {
		px, py := x(xs[i]), a.y(h, vs[i])
		fill(img, image.Rect(px-4, py-4, px+5, py+5), dotGrey)
		l := o.value(vs[i])
		// above and to the left of the point (clear of a rising line), but right of the axis
		text(img, max(px-len(l)*12-6, a.left+4), py-24, l, black, 2)
	}
	refLine(img, a, o)
	return img
}

// line draws a straight line, 3 pixels thick.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		x := x0 + (x1-x0)*i/n
		y := y0 + (y1-y0)*i/n
		fill(img, image.Rect(x-1, y-1, x+2, y+2), c)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// tile lays charts out in rows of cols, on white.
func tile(cols int, imgs ...*image.RGBA) *image.RGBA {
	cw, ch := 0, 0
	for _, m := range imgs {
		cw, ch = max(cw, m.Bounds().Dx()), max(ch, m.Bounds().Dy())
	}
	rows := (len(imgs) + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, cw*min(cols, len(imgs)), ch*rows))
	fill(out, out.Bounds(), white)
	for i, m := range imgs {
		at := image.Pt(i%cols*cw, i/cols*ch)
		draw.Draw(out, m.Bounds().Add(at), m, image.Point{}, draw.Src)
	}
	return out
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fill(img, image.Rect(x0, y, x1, y+1), c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fill(img, image.Rect(x, y0, x+1, y1), c) }

// text writes s in a 5×7 pixel font at scale; letters are upper case only.
func text(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, r := range strings.ToUpper(s) {
		if g, ok := glyphs[r]; ok {
			for row, bits := range g {
				for col := 0; col < 5; col++ {
					if bits[col] == '#' {
						fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
					}
				}
			}
		}
		x += 6 * scale
	}
}

func writePNG(file string, img image.Image) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var glyphs = map[rune][7]string{
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'H': {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J': {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K': {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q': {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V': {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X': {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z': {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	'=': {".....", ".....", "#####", ".....", "#####", ".....", "....."},
	'/': {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	',': {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	'>': {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
}
