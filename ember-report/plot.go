package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
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

const chartW, chartH = 8 * vg.Inch, 5 * vg.Inch

// svg renders p as an SVG document whose <title> element is the plot's title,
// so browsers and screen readers name the chart.
func svg(p *plot.Plot) ([]byte, error) {
	c := vgsvg.New(chartW, chartH)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	doc := b.Bytes()
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
	p.Legend.Top = true
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
// and raises the y axis above ymax so that a legend of legendRows entries in
// the top corner clears the data.
func frame(p *plot.Plot, n int, ymax float64, legendRows int) {
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	if ymax <= 0 {
		ymax = 1
	}
	p.Y.Max = ymax * (1.1 + 0.09*float64(legendRows))
	p.Legend.XOffs = -4
}

// emptyAxes gives a chart with no data a sane range and a note.
func emptyAxes(p *plot.Plot) {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Title.Text += " (no data)"
}

// splitCharts draws the stage 1.2 charts: rollout tok/s grouped by split with
// one bar per mode, and the prefill and decode stage breakdowns stacked per
// run.
func splitCharts(summary []SummaryRow, runs []Run) ([]File, error) {
	roll, err := rolloutChart(summary)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Run) int { return compareKeys(keyOf(a.Config()), keyOf(b.Config())) })
	pre, err := stagesChart(TitlePrefillStages, "ms", sorted, func(r Run) rows.StageRow { return r.Prefill })
	if err != nil {
		return nil, err
	}
	dec, err := stagesChart(TitleDecodeStages, "ms per token", sorted, func(r Run) rows.StageRow { return r.Decode })
	if err != nil {
		return nil, err
	}
	return []File{{SplitRolloutSVG, roll}, {SplitPrefillStagesSVG, pre}, {SplitDecodeStagesSVG, dec}}, nil
}

func rolloutChart(summary []SummaryRow) ([]byte, error) {
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
	for i, s := range series {
		vals := make(plotter.Values, len(splits))
		for _, r := range summary {
			if name(r) == s && !isNaN(r.RolloutTokS) {
				vals[slices.Index(splits, r.Split)] = r.RolloutTokS
				ymax = max(ymax, r.RolloutTokS)
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = colour(i)
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(s, bars)
	}
	p.NominalX(splits...)
	frame(p, len(splits), ymax, len(series))
	return svg(p)
}

func stagesChart(title, unit string, runs []Run, phase func(Run) rows.StageRow) ([]byte, error) {
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
	ymax, shown := 0.0, 0
	for _, r := range runs {
		ymax = max(ymax, phase(r).Sum())
	}
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
		shown++
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	p.NominalX(labels...)
	frame(p, len(runs), ymax, shown)
	return svg(p)
}

// prefillShareChart draws stage 1.1's prefill share against prompt length, one
// line per configuration (mode, decode steps, and GPUs/split when several).
func prefillShareChart(runs []Run) ([]byte, error) {
	p := newPlot(TitlePrefillShare, "prompt length (tokens)", "prefill share of rollout (%)")
	var lens []int
	type series struct {
		name string
		pts  map[int]float64
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
			ss = append(ss, &series{name: name, pts: map[int]float64{}})
			i = len(ss) - 1
		}
		if v := r.PrefillSharePct(); !isNaN(v) {
			ss[i].pts[c.PromptLen] = round(v, 2)
		}
	}
	if len(runs) == 0 {
		emptyAxes(p)
		return svg(p)
	}
	slices.Sort(lens)
	for i, s := range ss {
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
	names := make([]string, len(lens))
	for i, l := range lens {
		names[i] = itoa(l)
	}
	p.NominalX(names...)
	ymax := 0.0
	for _, s := range ss {
		for _, v := range s.pts {
			ymax = max(ymax, v)
		}
	}
	frame(p, len(lens), min(ymax, 100), len(ss))
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
