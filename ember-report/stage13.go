package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Stage13Header is the CSV header of one prefix-cache run, as upstream's
// ember_prefix_cache_benchmark prints it.
var Stage13Header = []string{"gpus", "split", "mode", "prompt_len", "prefix_len", "suffix_len", "num_docs", "iters", "warmup",
	"no_cache_total_ms", "with_cache_total_ms", "cache_prefix_once_ms", "cache_suffix_total_ms",
	"no_cache_per_doc_ms", "with_cache_per_doc_ms", "speedup_x", "savings_pct", "theoretical_savings_pct"}

// Stage13Run is one prefix length's measurement: the mean over the measured
// iterations of the time to prefill NumDocs prompts without the cache, and
// with it (the prefix once, then every doc's suffix).
type Stage13Run struct {
	GPUs, Split, Mode                            string // "0+1", "9+27", "overlap"
	PromptLen, PrefixLen, NumDocs, Iters, Warmup int
	NoCacheTotalMS, WithCacheTotalMS             float64
	CachePrefixOnceMS, CacheSuffixTotalMS        float64
}

// CSV is the run's raw file (stage13_raw_NNN_prefix_P.csv): the header and one
// row, derived values computed as upstream does, every float with three
// decimals, "\n" line ends.
func (r Stage13Run) CSV() []byte {
	docs := float64(r.NumDocs)
	speedup, savings, theory := 0.0, 0.0, 0.0
	if r.WithCacheTotalMS > 0 {
		speedup = r.NoCacheTotalMS / r.WithCacheTotalMS
	}
	if r.NoCacheTotalMS > 0 {
		savings = (r.NoCacheTotalMS - r.WithCacheTotalMS) / r.NoCacheTotalMS * 100
	}
	if r.PromptLen > 0 {
		theory = float64(r.PrefixLen) * float64(r.NumDocs-1) / (docs * float64(r.PromptLen)) * 100
	}
	cells := []string{r.GPUs, r.Split, r.Mode, itoa(r.PromptLen), itoa(r.PrefixLen), itoa(r.PromptLen - r.PrefixLen), itoa(r.NumDocs), itoa(r.Iters), itoa(r.Warmup)}
	for _, v := range []float64{r.NoCacheTotalMS, r.WithCacheTotalMS, r.CachePrefixOnceMS, r.CacheSuffixTotalMS,
		r.NoCacheTotalMS / docs, r.WithCacheTotalMS / docs, speedup, savings, theory} {
		cells = append(cells, pyFixed(v, 3))
	}
	return []byte(strings.Join(Stage13Header, ",") + "\n" + strings.Join(cells, ",") + "\n")
}

// Stage13Failure is a prefix length whose run failed.
type Stage13Failure struct {
	PrefixLen  int
	ReturnCode string // the exit status, or "empty_csv"
	LogPath    string
}

// Stage13Row is the first row of a run's raw CSV, read back: its header and cells.
type Stage13Row struct {
	Header []string
	Cells  []string
}

func (r Stage13Row) get(key string) string {
	for i, h := range r.Header {
		if h == key && i < len(r.Cells) {
			return r.Cells[i]
		}
	}
	return ""
}

func (r Stage13Row) prefixLen() int {
	n, _ := pyIntOK(r.get("prefix_len"))
	return n
}

// Stage13Input is a finished stage 1.3 sweep.
type Stage13Input struct {
	ModelDir  string // the resolved snapshot directory
	PromptLen int
	NumDocs   int
	Overlap   bool
	Rows      []Stage13Row // one per successful run, in run order
	Failures  []Stage13Failure
	Now       time.Time
}

// Stage13 returns upstream's stage 1.3 files: stage13_failures.csv always;
// stage13_prefix_cache_sweep.csv (the runs' rows sorted by prefix_len, cells
// as the runs printed them), stage13_prefix_cache_summary.md and
// stage13_p1_input.md when a run succeeded.
func Stage13(in Stage13Input) []File {
	rows := slices.Clone(in.Rows)
	slices.SortStableFunc(rows, func(a, b Stage13Row) int { return a.prefixLen() - b.prefixLen() })
	var files []File
	if len(rows) > 0 {
		var cells [][]string
		for _, r := range rows {
			cells = append(cells, r.Cells)
		}
		files = append(files, File{"stage13_prefix_cache_sweep.csv", pyCSV(rows[0].Header, cells)})

		best := rows[0]
		for _, r := range rows[1:] {
			if safeFloat(r.get("savings_pct"), 0) > safeFloat(best.get("savings_pct"), 0) {
				best = r
			}
		}
		var mid *Stage13Row
		for _, want := range []int{1000, 1024} {
			for i := range rows {
				if mid == nil && rows[i].prefixLen() == want {
					mid = &rows[i]
				}
			}
		}
		var md strings.Builder
		md.WriteString("# Stage 1.3 Prefix Cache Sweep\n\n")
		fmt.Fprintf(&md, "- Model: `%s`\n- Prompt length: `%d`\n- Docs per run: `%d`\n- Generated at: `%s`\n\n", in.ModelDir, in.PromptLen, in.NumDocs, pyNow(in.Now))
		md.WriteString("| prefix_len | suffix_len | no_cache_total_ms | with_cache_total_ms | speedup_x | savings_% | theoretical_savings_% |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range rows {
			fmt.Fprintf(&md, "| %s |\n", strings.Join([]string{r.get("prefix_len"), r.get("suffix_len"), r.get("no_cache_total_ms"), r.get("with_cache_total_ms"),
				r.get("speedup_x"), r.get("savings_pct"), r.get("theoretical_savings_pct")}, " | "))
		}
		md.WriteString("\n## Key Point\n")
		fmt.Fprintf(&md, "- Best measured savings: prefix_len=%s -> `%s%%` (`%sx`).\n", best.get("prefix_len"), best.get("savings_pct"), best.get("speedup_x"))
		if mid != nil {
			fmt.Fprintf(&md, "- Shared-prefix ~1k tokens result: savings `%s%%`, speedup `%sx`.\n", mid.get("savings_pct"), mid.get("speedup_x"))
		}
		files = append(files, File{"stage13_prefix_cache_summary.md", []byte(md.String())})

		var key *Stage13Row
		for i := range rows {
			if p := rows[i].prefixLen(); key == nil && (p == 1000 || p == 1024) {
				key = &rows[i]
			}
		}
		mode := "no_overlap"
		if in.Overlap {
			mode = "overlap"
		}
		var p1 strings.Builder
		fmt.Fprintf(&p1, "# Stage1.3 P1 Input (%s)\n\nModel: %s\nSetting: prompt_len=%d, num_docs=%d, mode=%s\n\n", pyToday(in.Now), in.ModelDir, in.PromptLen, in.NumDocs, mode)
		fmt.Fprintf(&p1, "## Best point\n- prefix_len=%s, savings=%s%%, speedup=%sx\n", best.get("prefix_len"), best.get("savings_pct"), best.get("speedup_x"))
		if key != nil {
			fmt.Fprintf(&p1, "\n## Shared prefix ~1k tokens\n- prefix_len=%s, savings=%s%%, speedup=%sx\n- no_cache_total_ms=%s, with_cache_total_ms=%s\n",
				key.get("prefix_len"), key.get("savings_pct"), key.get("speedup_x"), key.get("no_cache_total_ms"), key.get("with_cache_total_ms"))
		}
		files = append(files, File{"stage13_p1_input.md", []byte(p1.String())})
	}
	var fails [][]string
	for _, f := range in.Failures {
		fails = append(fails, []string{itoa(f.PrefixLen), f.ReturnCode, f.LogPath})
	}
	files = append(files, File{"stage13_failures.csv", pyCSV([]string{"prefix_len", "return_code", "log_path"}, fails)})
	return files
}
