package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-cli/internal/sweep"
	"github.com/ember-infer/ember/ember-core/hub"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/snapshot"
	report "github.com/ember-infer/ember/ember-report"
)

// sweepModel is what a sweep needs to know of its model before any run.
type sweepModel struct {
	Dir    string // the resolved snapshot ("" for a preset with no files)
	Layers int
	MaxPos int // max_position_embeddings: the longest prompt + decode a run can take
}

// openSweepModel reads the layer count and context from the snapshot, or
// from a preset when there is no snapshot.
func openSweepModel(model string) (sweepModel, error) {
	res, err := hub.Resolve(model, hub.OSEnv())
	if err == nil {
		s, err := snapshot.Open(res.Dir)
		if err != nil {
			return sweepModel{}, err
		}
		defer s.Close()
		return sweepModel{Dir: res.Dir, Layers: s.Config.NumHiddenLayers, MaxPos: s.Config.MaxPositionEmbeddings}, nil
	}
	if p, ok := memplan.LookupPreset(model); ok {
		return sweepModel{Layers: p.Config.NumHiddenLayers, MaxPos: p.Config.MaxPositionEmbeddings}, nil
	}
	return sweepModel{}, err
}

// checkSweepFlags refuses, before the first run, every flag value that would
// only make each run fail one by one.
func checkSweepFlags(c *cli.Context, m sweepModel, prompts, steps []int) error {
	for _, f := range []struct {
		name string
		min  int
		want string
	}{
		{"iters", 1, "at least 1"},
		{"warmup", 0, "0 or more"},
		{"chunk-len", 0, "0 (whole prompt) or more"},
		{"min-chunk-len", 1, "at least 1"},
		{"retry-runtime-unavailable", 0, "0 or more"},
	} {
		if v := c.Int(f.name); v < f.min {
			return fmt.Errorf("--%s %d: want %s", f.name, v, f.want)
		}
	}
	if err := checkThreads(c.Int("threads")); err != nil {
		return err
	}
	if _, err := kvDType(c); err != nil {
		return err
	}
	if s := c.String("device-mem"); s != "" {
		for _, part := range strings.Split(s, ",") {
			if _, err := memplan.ParseSize(strings.TrimSpace(part)); err != nil {
				return fmt.Errorf("--device-mem %q: %v", s, err)
			}
		}
	}
	for _, p := range prompts {
		if p < 1 {
			return fmt.Errorf("--prompt-lens %q: prompt length %d, want at least 1", c.String("prompt-lens"), p)
		}
	}
	for _, d := range steps {
		if d < 1 {
			return fmt.Errorf("--decode-steps %q: %d decode steps, want at least 1", c.String("decode-steps"), d)
		}
	}
	if m.MaxPos > 0 {
		p, d := slices.Max(prompts), slices.Max(steps)
		if p > m.MaxPos-d {
			return fmt.Errorf("--prompt-lens %q with --decode-steps %q: prompt %d + %d decode steps exceed the model's context of %d positions (max_position_embeddings)",
				c.String("prompt-lens"), c.String("decode-steps"), p, d, m.MaxPos)
		}
	}
	return nil
}

// loadReferences reads --baseline-summary and --anchor-summary before the
// sweep, so that a missing or malformed one costs nothing to find out.
func loadReferences(c *cli.Context) (baseline, anchor *report.Reference, err error) {
	load := func(flag, labelFlag string) (*report.Reference, error) {
		p := c.String(flag)
		if p == "" {
			return nil, nil
		}
		ref, err := report.LoadReference(p, c.String(labelFlag))
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %v", flag, p, err)
		}
		warnReferences(c.App.ErrWriter, ref)
		return &ref, nil
	}
	if c.Command.Name != "split" {
		return nil, nil, nil
	}
	if baseline, err = load("baseline-summary", "baseline-label"); err != nil {
		return nil, nil, err
	}
	if anchor, err = load("anchor-summary", "anchor-label"); err != nil {
		return nil, nil, err
	}
	return baseline, anchor, nil
}

// sweepIdentity is what every run of the sweep shares beyond its flags: the
// model's files and the binary that measures. A change in either re-runs
// every run.
func sweepIdentity(m sweepModel, exe string) (sweep.Identity, error) {
	id := sweep.Identity{}
	if m.Dir != "" {
		fp, err := sweep.ModelFingerprint(m.Dir)
		if err != nil {
			return nil, fmt.Errorf("fingerprinting the model %s: %v", m.Dir, err)
		}
		id = append(id, sweep.Field{Key: "model-fingerprint", Value: fp})
	}
	fp, err := sweep.ExeFingerprint(exe)
	if err != nil {
		return nil, fmt.Errorf("fingerprinting the ember binary %s: %v", exe, err)
	}
	return append(id, sweep.Field{Key: "ember", Value: fp}), nil
}

// profileExe is the binary the sweep's children run (see sweepRunner).
func profileExe(exe string) string {
	if e := os.Getenv("EMBER_PROFILE_EXE"); e != "" {
		return e
	}
	return exe
}

// lockSweep takes the --out-dir lock for this sweep.
func lockSweep(c *cli.Context, out string, now time.Time) (*sweep.FolderLock, error) {
	return sweep.Lock(out, sweep.Holder(invocation(c), now.Format(time.RFC3339)))
}

// interruptible returns a context that SIGINT and SIGTERM end; the sweep
// passes the end on to its child's process group.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// resumeHint tells how to finish an interrupted sweep: the same command with
// the same --out-dir reuses every finished run.
func resumeHint(w io.Writer, c *cli.Context, out string, finished, total int) {
	args := invocation(c)
	hasOut := false
	for _, a := range args {
		if a == "--out-dir" || strings.HasPrefix(a, "--out-dir=") {
			hasOut = true
		}
	}
	if !hasOut {
		args = append(slices.Clone(args), "--out-dir", out)
	}
	fmt.Fprintf(w, "ember: interrupted after %d of %d runs; the finished ones are kept. Resume with:\n  %s\n", finished, total, report.ShellQuote(args))
}

// warnReferences prints each reference's warning (samples that could not be
// used) on stderr.
func warnReferences(w io.Writer, refs ...report.Reference) {
	for _, r := range refs {
		if r.Warning != "" {
			fmt.Fprintln(w, "ember: warning:", r.Warning)
		}
	}
}
