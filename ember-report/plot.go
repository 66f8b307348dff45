package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ember-infer/ember/ember-core/rows"
)

// Chart titles, also the SVG files' visible titles.
const (
	// TitleRollout is the title of SplitRolloutSVG.
	TitleRollout = "Rollout tok/s by split and mode"
	// TitlePrefillStages is the title of SplitPrefillStagesSVG.
	TitlePrefillStages = "Prefill stage breakdown by split (ms)"
	// TitleDecodeStages is the title of SplitDecodeStagesSVG.
	TitleDecodeStages = "Decode stage breakdown per token by split (ms)"
	// TitlePrefillShare is the title of Stage1PrefillShareSVG.
	TitlePrefillShare = "Prefill share of rollout by prompt length"
)

// The plot area of every chart; the legend gets a column of its own to the
// right, as wide as its longest entry needs.
const chartW, chartH = 8 * vg.Inch, 5 * vg.Inch

// Layout margins: space above the title, between the plot and the legend
// column, and the legend's own slack for a viewer whose fallback font runs
// wider than Liberation Sans (whose metrics lay the chart out).
const (
	topMargin    = 0.2 * vg.Inch
	legendGap    = 0.15 * vg.Inch
	legendSlack  = 1.25
	rightMargin  = 0.1 * vg.Inch
	fontFallback = "'Liberation Sans',Arimo,Arial,Helvetica,sans-serif"
)

func init() {
	// Sans serif: it reads better at chart sizes, and its metric twins
	// (Arimo, Arial) are where viewers without Liberation fall back.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
}

// svg renders p as an SVG document: the title clear of the top edge, the
// legend in a column right of the plot (swatch first, text after it, so no
// font makes them overlap), every font naming generic fallbacks, and a
// <title> element naming the chart for browsers and screen readers.
func svg(p *plot.Plot) ([]byte, error) {
	leg := p.Legend
	p.Legend = plot.NewLegend() // drawn below, outside the plot
	legendW := vg.Length(0)
	if leg.Rectangle(draw.Canvas{}).Size().X > 0 {
		legendW = leg.Rectangle(draw.Canvas{}).Size().X*legendSlack + legendGap + rightMargin
	}
	c := vgsvg.New(chartW+legendW, chartH+topMargin)
	dc := draw.New(c)
	dc.SetColor(color.White) // the whole canvas, legend column and margin included
	dc.Fill(dc.Rectangle.Path())
	p.BackgroundColor = nil
	plotC := draw.Crop(dc, 0, -legendW, 0, -topMargin)
	p.Draw(plotC)
	if legendW > 0 {
		top := plotC.Max.Y
		if p.Title.Text != "" {
			top -= p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
		}
		leg.Left, leg.Top, leg.XOffs, leg.YOffs = true, true, 0, 0
		leg.Padding = 0.06 * vg.Inch
		leg.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: chartW + legendGap, Y: dc.Min.Y},
			Max: vg.Point{X: chartW + legendW - rightMargin, Y: top},
		}})
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	doc := bytes.ReplaceAll(b.Bytes(), []byte("font-family:Liberation Sans;"), []byte("font-family:"+fontFallback+";"))
	open := bytes.Index(doc, []byte("<svg"))
	end := bytes.IndexByte(doc[max(open, 0):], '>')
	if open < 0 || end < 0 {
		return nil, fmt.Errorf("chart %q: the SVG writer gave no <svg> element", p.Title.Text)
	}
	at := open + end + 1
	var title bytes.Buffer
	title.WriteString("\n<title>")
	xml.EscapeText(&title, []byte(p.Title.Text))
	title.WriteString("</title>")
	return slices.Concat(doc[:at], title.Bytes(), doc[at:]), nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Min = 0
	p.Title.Padding = 0.15 * vg.Inch
	p.Add(plotter.NewGrid())
	return p
}

// palette is the tab10 palette: ten colours that stay apart, one per stage.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff},
	{0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

func colour(i int) color.Color { return palette[i%len(palette)] }

// frame pads a nominal x axis of n categories by half a category on each side
// and leaves a tenth of headroom above ymax (the legend is outside the plot).
func frame(p *plot.Plot, n int, ymax float64) {
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	if ymax <= 0 {
		ymax = 1
	}
	p.Y.Max = ymax * 1.1
}

// emptyAxes gives a chart with no data a sane range and a note.
func emptyAxes(p *plot.Plot) {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Title.Text += " (no data)"
}

// splitCharts draws the stage 1.2 charts: rollout tok/s grouped by split with
// one bar per mode, and the prefill and decode stage breakdowns stacked per
// run with the wall time marked apart. Where per-iteration samples exist,
// rollout bars and wall marks are their medians, with 95% intervals.
func splitCharts(summary []SummaryRow, runs []Run, samples []rows.SampleRow) ([]File, error) {
	st := sampleStats(samples)
	roll, err := rolloutChart(summary, st)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Run) int { return compareKeys(keyOf(a.Config()), keyOf(b.Config())) })
	pre, err := stagesChart(TitlePrefillStages, "ms", sorted, func(r Run) rows.StageRow { return r.Prefill }, st)
	if err != nil {
		return nil, err
	}
	dec, err := stagesChart(TitleDecodeStages, "ms per token", sorted, func(r Run) rows.StageRow { return r.Decode }, st)
	if err != nil {
		return nil, err
	}
	return []File{{SplitRolloutSVG, roll}, {SplitPrefillStagesSVG, pre}, {SplitDecodeStagesSVG, dec}}, nil
}

func rolloutChart(summary []SummaryRow, st runStats) ([]byte, error) {
	p := newPlot(TitleRollout, "split (layers per device)", "rollout tok/s (est.)")
	var splits, series []string
	combos := map[[2]int]bool{}
	for _, r := range summary {
		combos[[2]int{r.PromptLen, r.DecodeSteps}] = true
	}
	name := func(r SummaryRow) string {
		if len(combos) > 1 {
			return fmt.Sprintf("%s p%d d%d", r.Mode, r.PromptLen, r.DecodeSteps)
		}
		return r.Mode
	}
	for _, r := range summary {
		if !slices.Contains(splits, r.Split) {
			splits = append(splits, r.Split)
		}
		if !slices.Contains(series, name(r)) {
			series = append(series, name(r))
		}
	}
	if len(summary) == 0 {
		emptyAxes(p)
		return svg(p)
	}
	slices.SortFunc(splits, CompareSplits)
	w := vg.Points(min(40, 360/float64(len(series)*len(splits))))
	ymax := 0.0
	ci := &whiskers{}
	for i, s := range series {
		vals := make(plotter.Values, len(splits))
		off := vg.Length(float64(i)-float64(len(series)-1)/2) * w
		for _, r := range summary {
			if name(r) != s || isNaN(r.RolloutTokS) {
				continue
			}
			x := slices.Index(splits, r.Split)
			vals[x] = r.RolloutTokS
			if m, ok := st.rollout[sampleSummaryKey(r)]; ok {
				vals[x] = m.Center
				ymax = max(ymax, ci.add(float64(x), off, m))
			}
			ymax = max(ymax, vals[x])
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = colour(i)
		bars.LineStyle.Width = 0
		bars.Offset = off
		p.Add(bars)
		p.Legend.Add(s, bars)
	}
	if len(ci.pts) > 0 {
		ci.width = w / 2
		p.Add(ci)
		p.Legend.Add("median, 95% CI", ci)
	}
	p.NominalX(splits...)
	frame(p, len(splits), ymax)
	return svg(p)
}

func stagesChart(title, unit string, runs []Run, phase func(Run) rows.StageRow, st runStats) ([]byte, error) {
	p := newPlot(title, "split / mode (pipe = no overlap)", unit)
	if len(runs) == 0 {
		emptyAxes(p)
		return svg(p)
	}
	labels := make([]string, len(runs))
	multi := map[[2]int]bool{}
	for _, r := range runs {
		multi[[2]int{r.Prefill.PromptLen, r.Prefill.DecodeSteps}] = true
	}
	for i, r := range runs {
		c := r.Config()
		labels[i] = c.Split + "\n" + shortMode(c.Mode)
		if len(multi) > 1 {
			labels[i] += fmt.Sprintf("\np%d d%d", c.PromptLen, c.DecodeSteps)
		}
	}
	w := vg.Points(min(40, 300/float64(len(runs))))
	var below *plotter.BarChart
	ymax := 0.0
	wall := &whiskers{mark: true, width: w * 1.4}
	for i, r := range runs {
		row := phase(r)
		ymax = max(ymax, row.Sum(), row.WallMS)
		m, ok := st.wall[row.Config]
		if !ok {
			m = benchmath.Summary{Center: row.WallMS, Lo: math.Inf(-1), Hi: math.Inf(1)}
		}
		ymax = max(ymax, wall.add(float64(i), 0, m))
	}
	type entry struct {
		name string
		bars *plotter.BarChart
	}
	var legend []entry
	for s, name := range rows.StageNames {
		vals := make(plotter.Values, len(runs))
		any := false
		for i, r := range runs {
			vals[i] = phase(r).Values()[s]
			any = any || vals[i] != 0
		}
		if !any {
			continue // keep the legend to stages that took time
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = colour(s)
		bars.LineStyle.Width = 0
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		legend = append(legend, entry{name, bars})
	}
	p.Add(wall)
	// The legend lists the stack top down, as the bars show it, under the
	// wall mark: stages on one device can overlap another's, so their sum
	// may exceed the wall time.
	label := "wall time (mean)"
	if len(st.wall) > 0 {
		label = "wall time (median, 95% CI)"
	}
	p.Legend.Add(label, wall)
	for i := len(legend) - 1; i >= 0; i-- {
		p.Legend.Add(legend[i].name, legend[i].bars)
	}
	p.NominalX(labels...)
	frame(p, len(runs), ymax)
	return svg(p)
}

// prefillShareChart draws stage 1.1's prefill share against prompt length, one
// line per configuration (mode, decode steps, and GPUs/split when several);
// where per-iteration samples exist, points are their medians with 95%
// intervals.
func prefillShareChart(runs []Run, samples []rows.SampleRow) ([]byte, error) {
	st := sampleStats(samples)
	p := newPlot(TitlePrefillShare, "prompt length (tokens)", "prefill share of rollout (%)")
	var lens []int
	type series struct {
		name string
		pts  map[int]float64
		ci   map[int]benchmath.Summary
	}
	var ss []*series
	layouts := map[string]bool{}
	for _, r := range runs {
		layouts[fmt.Sprintf("%s/%s", r.Prefill.GPUs, r.Prefill.Split)] = true
	}
	for _, r := range runs {
		c := r.Config()
		if !slices.Contains(lens, c.PromptLen) {
			lens = append(lens, c.PromptLen)
		}
		name := fmt.Sprintf("%s, %d steps", c.Mode, c.DecodeSteps)
		if c.DecodeSampling {
			name += ", sampling"
		}
		if len(layouts) > 1 {
			name = fmt.Sprintf("GPUs %s split %s %s", c.GPUs, c.Split, name)
		}
		i := slices.IndexFunc(ss, func(s *series) bool { return s.name == name })
		if i < 0 {
			ss = append(ss, &series{name: name, pts: map[int]float64{}, ci: map[int]benchmath.Summary{}})
			i = len(ss) - 1
		}
		if m, ok := st.share[r.Config()]; ok {
			ss[i].pts[c.PromptLen] = m.Center
			ss[i].ci[c.PromptLen] = m
		} else if v := r.PrefillSharePct(); !isNaN(v) {
			ss[i].pts[c.PromptLen] = round(v, 2)
		}
	}
	if len(runs) == 0 {
		emptyAxes(p)
		return svg(p)
	}
	slices.Sort(lens)
	ci := &whiskers{width: vg.Points(8)}
	ymax := 0.0
	for i, s := range ss {
		off := vg.Points(4 * (float64(i) - float64(len(ss)-1)/2)) // whiskers of series at one x apart
		for x, l := range lens {
			if m, ok := s.ci[l]; ok {
				ymax = max(ymax, ci.add(float64(x), off, m))
				ci.pts[len(ci.pts)-1].c = colour(i)
			}
		}
		var xys plotter.XYs
		for x, l := range lens {
			if v, ok := s.pts[l]; ok {
				xys = append(xys, plotter.XY{X: float64(x), Y: v})
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		line.Color = colour(i)
		points.Color = colour(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	if len(ci.pts) > 0 {
		p.Add(ci)
		p.Legend.Add("median, 95% CI", ci)
	}
	names := make([]string, len(lens))
	for i, l := range lens {
		names[i] = itoa(l)
	}
	p.NominalX(names...)
	for _, s := range ss {
		for _, v := range s.pts {
			ymax = max(ymax, v)
		}
	}
	frame(p, len(lens), min(ymax, 100))
	return svg(p)
}

// shortMode abbreviates a mode for a category label under a bar, where the
// full names of neighbouring bars would run into each other.
func shortMode(mode string) string {
	switch mode {
	case rows.ModeNoOverlap:
		return "pipe"
	case rows.ModeOverlap:
		return "overlap"
	}
	return mode
}

func isNaN(v float64) bool { return v != v }

// runStats are the medians and 95% intervals of the per-iteration samples:
// the wall time of each phase of a run (keyed by its stage row's config) and
// each run's rollout tok/s (keyed as its summary row).
type runStats struct {
	wall    map[rows.Config]benchmath.Summary
	rollout map[string]benchmath.Summary
	share   map[rows.Config]benchmath.Summary // prefill share of rollout (%), keyed by the run's config
}

func sampleSummaryKey(r SummaryRow) string {
	return fmt.Sprintf("%s|%s|%d|%d", r.Split, r.Mode, r.PromptLen, r.DecodeSteps)
}

// sampleStats summarises samples. A run's rollout tok/s of iteration i pairs
// its prefill and decode samples of iteration i.
func sampleStats(samples []rows.SampleRow) runStats {
	st := runStats{wall: map[rows.Config]benchmath.Summary{}, rollout: map[string]benchmath.Summary{}, share: map[rows.Config]benchmath.Summary{}}
	walls := map[rows.Config][]float64{}
	iters := map[rows.Config]map[int][2]float64{} // run → iter → prefill, decode
	for _, s := range samples {
		walls[s.Config] = append(walls[s.Config], s.WallMS)
		run := s.Config.Run()
		if iters[run] == nil {
			iters[run] = map[int][2]float64{}
		}
		v := iters[run][s.Iter]
		if s.Phase == rows.PhasePrefill {
			v[0] = s.WallMS
		} else {
			v[1] = s.WallMS
		}
		iters[run][s.Iter] = v
	}
	for c, ws := range walls {
		st.wall[c] = summarise(ws)
	}
	for run, byIter := range iters {
		var toks, shares []float64
		for _, v := range byIter {
			if total := v[0] + v[1]*float64(run.DecodeSteps); v[0] > 0 && v[1] > 0 && total > 0 {
				toks = append(toks, float64(run.DecodeSteps)*1000/total)
				shares = append(shares, v[0]*100/total)
			}
		}
		if len(toks) > 0 {
			st.rollout[fmt.Sprintf("%s|%s|%d|%d", run.Split, run.Mode, run.PromptLen, run.DecodeSteps)] = summarise(toks)
			st.share[run] = summarise(shares)
		}
	}
	return st
}

func summarise(vals []float64) benchmath.Summary {
	th := benchmath.DefaultThresholds
	return benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(vals), &th), Confidence)
}

// whiskers draws 95% intervals (a vertical line with caps, where the
// interval is finite) and, with mark, a horizontal line at each centre: the
// wall time set apart from the stage stack under it.
type whiskers struct {
	pts   []whisker
	width vg.Length
	mark  bool
}

type whisker struct {
	x   float64   // category
	off vg.Length // offset of the bar within its category
	m   benchmath.Summary
	c   color.Color // nil: black
}

// add records one interval and returns the highest value it draws.
func (w *whiskers) add(x float64, off vg.Length, m benchmath.Summary) float64 {
	w.pts = append(w.pts, whisker{x: x, off: off, m: m})
	if math.IsInf(m.Hi, 0) || isNaN(m.Hi) {
		return m.Center
	}
	return max(m.Center, m.Hi)
}

func (w *whiskers) style() draw.LineStyle {
	return draw.LineStyle{Color: color.Black, Width: vg.Points(1.5)}
}

// Plot implements plot.Plotter.
func (w *whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ls := w.style()
	for _, pt := range w.pts {
		x := trX(pt.x) + pt.off
		if w.mark {
			y := trY(pt.m.Center)
			c.StrokeLine2(ls, x-w.width/2, y, x+w.width/2, y)
		}
		if math.IsInf(pt.m.Lo, 0) || math.IsInf(pt.m.Hi, 0) || isNaN(pt.m.Lo) || isNaN(pt.m.Hi) {
			continue
		}
		thin := ls
		thin.Width = vg.Points(1)
		if pt.c != nil {
			thin.Color = pt.c
		}
		lo, hi := trY(pt.m.Lo), trY(pt.m.Hi)
		c.StrokeLine2(thin, x, lo, x, hi)
		c.StrokeLine2(thin, x-w.width/4, lo, x+w.width/4, lo)
		c.StrokeLine2(thin, x-w.width/4, hi, x+w.width/4, hi)
	}
}

// Thumbnail implements plot.Thumbnailer.
func (w *whiskers) Thumbnail(c *draw.Canvas) {
	ls := w.style()
	mx, my := (c.Min.X+c.Max.X)/2, (c.Min.Y+c.Max.Y)/2
	if w.mark {
		c.StrokeLine2(ls, c.Min.X, my, c.Max.X, my)
	}
	ls.Width = vg.Points(1)
	c.StrokeLine2(ls, mx, c.Min.Y, mx, c.Max.Y)
}
