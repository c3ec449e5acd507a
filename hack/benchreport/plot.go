package main

import (
	"fmt"
	"image"
	"image/color"
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

// barChart draws grouped bars: one group per point label, one bar per series, the median as the bar,
// every sample as a dot, and a dashed line at goal.
func barChart(title string, ss []series, goal float64) *image.RGBA {
	const w, h, left, right, top, bottom = 760, 440, 80, 20, 60, 70
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), white)
	text(img, left, 18, title, black, 2)

	maxV := goal
	for _, s := range ss {
		for _, p := range s.points {
			maxV = math.Max(maxV, p.value)
			for _, x := range p.samples {
				maxV = math.Max(maxV, x)
			}
		}
	}
	step := niceStep(maxV * 1.1 / 5)
	top_ := math.Ceil(maxV*1.1/step) * step
	y := func(v float64) int { return h - bottom - int(v/top_*float64(h-top-bottom)) }

	for v := 0.0; v <= top_+step/2; v += step {
		yy := y(v)
		hline(img, left, w-right, yy, grey)
		text(img, 8, yy-7, fmt.Sprintf("%.2fX", v), black, 2)
	}
	vline(img, left, top, h-bottom, black)
	hline(img, left, w-right, h-bottom, black)

	var labels []string
	for _, s := range ss {
		for _, p := range s.points {
			if !slices.Contains(labels, p.label) {
				labels = append(labels, p.label)
			}
		}
	}
	gw := (w - left - right) / len(labels)
	bw := gw * 2 / (3 * len(ss))
	for g, label := range labels {
		gx := left + g*gw + gw/6
		for si, s := range ss {
			i := slices.IndexFunc(s.points, func(p point) bool { return p.label == label })
			if i < 0 {
				continue
			}
			p := s.points[i]
			x0 := gx + si*bw
			fill(img, image.Rect(x0+2, y(p.value), x0+bw-2, h-bottom), palette[si%len(palette)])
			text(img, x0+4, y(p.value)-18, fmt.Sprintf("%.2f", p.value), black, 2)
			for _, v := range p.samples {
				fill(img, image.Rect(x0+bw/2-3, y(v)-3, x0+bw/2+3, y(v)+3), dotGrey)
			}
		}
		text(img, left+g*gw+gw/2-len(label)*6, h-bottom+10, label, black, 2)
	}
	gy := y(goal)
	for x := left; x < w-right; x += 12 {
		fill(img, image.Rect(x, gy-1, min(x+7, w-right), gy+1), goalRed)
	}
	text(img, w-right-162, 40, fmt.Sprintf("GOAL - - %.2fX", goal), goalRed, 2)
	lx := left
	for si, s := range ss {
		fill(img, image.Rect(lx, h-28, lx+16, h-14), palette[si%len(palette)])
		text(img, lx+22, h-28, s.name, black, 2)
		lx += 22 + len(s.name)*12 + 30
	}
	return img
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
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
}
