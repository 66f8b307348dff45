package report

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// box is a rectangle in the SVG's y-up drawing coordinates (points).
type box struct{ x0, y0, x1, y1 float64 }

func (a box) overlaps(b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }

type svgText struct {
	s    string
	b    box
	size float64
}

var (
	rectPath = regexp.MustCompile(`^M([\d.]+),([\d.]+)L([\d.]+),([\d.]+)L([\d.]+),([\d.]+)L([\d.]+),([\d.]+)Z$`)
	fontSize = regexp.MustCompile(`font-size:([\d.]+)px`)
	fillHex  = regexp.MustCompile(`fill:#([0-9A-Fa-f]{6})`)
)

// layout parses an SVG that vgsvg wrote (a y-flipped group, texts drawn at
// (x, -y) under scale(1, -1)) into its size, its texts' boxes and its filled
// rectangles. A text's box is measured with the chart's font, Liberation
// Sans, widened by legendSlack for a viewer whose fallback font runs wider.
func layout(t *testing.T, name string, data []byte) (w, h float64, texts []svgText, rects []box) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	var cur *svgText
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch e.Name.Local {
			case "svg":
				fmt.Sscanf(attr["viewBox"], "0 0 %g %g", &w, &h)
			case "path":
				m := rectPath.FindStringSubmatch(attr["d"])
				f := fillHex.FindStringSubmatch(attr["style"])
				if m == nil || f == nil || strings.EqualFold(f[1], "FFFFFF") {
					continue
				}
				var v [8]float64
				for i := range v {
					v[i], _ = strconv.ParseFloat(m[i+1], 64)
				}
				rects = append(rects, box{min(v[0], v[4]), min(v[1], v[5]), max(v[0], v[4]), max(v[1], v[5])})
			case "text":
				x, _ := strconv.ParseFloat(attr["x"], 64)
				y, _ := strconv.ParseFloat(attr["y"], 64)
				sz := fontSize.FindStringSubmatch(attr["style"])
				if sz == nil {
					t.Fatalf("%s: a text without a font size", name)
				}
				size, _ := strconv.ParseFloat(sz[1], 64)
				cur = &svgText{size: size, b: box{x0: x, y0: -y}}
			}
		case xml.CharData:
			if cur != nil {
				cur.s += string(e)
			}
		case xml.EndElement:
			if e.Name.Local == "text" && cur != nil {
				sty := text.Style{Font: font.From(plot.DefaultFont, vg.Length(cur.size)), Handler: plot.DefaultTextHandler}
				ext := sty.FontExtents()
				cur.b.x1 = cur.b.x0 + float64(sty.Width(cur.s))*legendSlack
				cur.b.y1 = cur.b.y0 + float64(ext.Ascent)
				cur.b.y0 -= float64(ext.Descent)
				texts = append(texts, *cur)
				cur = nil
			}
		}
	}
	if w == 0 || h == 0 {
		t.Fatalf("%s: no viewBox", name)
	}
	return w, h, texts, rects
}

// TestChartLayout: in every chart the title clears the top edge, the legend
// sits right of the plot area, and no legend text overlaps a legend swatch,
// another legend entry or the title, even set in a font a quarter wider.
func TestChartLayout(t *testing.T) {
	res, err := Stage12Files(stage12Input(t))
	if err != nil {
		t.Fatal(err)
	}
	files := res.Files
	st1, err := Stage1Files(Stage1Input{ModelDir: "/m/x", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Runs: []SweepRun{s1Run("1", 512, 64, 100, 10), s1Run("2", 512, 128, 100, 10), s1Run("3", 1024, 64, 250, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	charts := map[string]string{SplitRolloutSVG: TitleRollout, SplitPrefillStagesSVG: TitlePrefillStages,
		SplitDecodeStagesSVG: TitleDecodeStages, Stage1PrefillShareSVG: TitlePrefillShare}
	got := byName(t, append(files, st1...))
	for name, title := range charts {
		w, h, texts, rects := layout(t, name, got[name])
		var head *svgText
		var legend []svgText
		for i, tx := range texts {
			switch {
			case tx.s == title:
				head = &texts[i]
			case tx.b.x0 >= float64(chartW):
				legend = append(legend, tx)
			}
		}
		if head == nil {
			t.Fatalf("%s: no title text", name)
		}
		if gap := h - head.b.y1; gap < 6 {
			t.Errorf("%s: the title's top is %.1fpt from the top edge, want 6 or more", name, gap)
		}
		var swatches []box
		for _, r := range rects {
			if r.x0 >= float64(chartW) {
				swatches = append(swatches, r)
			}
		}
		// The line chart's legend shows lines and points, the bar charts' swatches.
		if len(legend) < 2 || (name != Stage1PrefillShareSVG && len(swatches) == 0) {
			t.Fatalf("%s: legend of %d texts and %d swatches right of the %vpt plot", name, len(legend), len(swatches), float64(chartW))
		}
		for i, a := range legend {
			if a.b.x1 > w {
				t.Errorf("%s: legend text %q runs past the right edge (%.1f > %.1f)", name, a.s, a.b.x1, w)
			}
			if a.b.overlaps(head.b) {
				t.Errorf("%s: legend text %q overlaps the title", name, a.s)
			}
			for _, s := range swatches {
				if a.b.overlaps(s) {
					t.Errorf("%s: legend text %q %v overlaps a swatch %v", name, a.s, a.b, s)
				}
			}
			for _, b := range legend[i+1:] {
				if a.b.overlaps(b.b) {
					t.Errorf("%s: legend texts %q and %q overlap", name, a.s, b.s)
				}
			}
		}
		if !strings.Contains(string(got[name]), "font-family:"+fontFallback+";") || strings.Contains(string(got[name]), "font-family:Liberation") {
			t.Errorf("%s: a font without the generic fallback", name)
		}
	}
}
