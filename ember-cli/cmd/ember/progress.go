package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal; progress lines are drawn only
// there, so that logs and pipes get none of their carriage returns. A
// character device is not enough (/dev/null is one): the file must answer
// the terminal ioctl.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is one line on stderr, redrawn in place while long work runs: a
// spinner, what is being done, the latest detail and the seconds elapsed.
// It draws nothing unless stderr is a terminal, and nothing under -q.
type progress struct {
	w      io.Writer
	label  string
	start  time.Time
	active bool

	mu     sync.Mutex
	detail string
	frame  int
	drawn  time.Time
	line   []byte // draw's buffer, kept so that a redraw allocates nothing
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startProgress(c *cli.Context, label string) *progress {
	p := &progress{w: c.App.ErrWriter, label: label, start: time.Now()}
	if c.Bool("quiet") || !isTerminal(p.w) {
		return p
	}
	p.active = true
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
	p.mu.Lock()
	p.draw()
	p.mu.Unlock()
	return p
}

// Set replaces the detail (e.g. "writing model.safetensors, 45% of 1.40 GiB")
// and redraws: at once when the part before its first comma changes (a new
// step), else at most ten times a second.
func (p *progress) Set(detail string) {
	if !p.active {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	step, _, _ := strings.Cut(detail, ",")
	prev, _, _ := strings.Cut(p.detail, ",")
	p.detail = detail
	if step != prev || time.Since(p.drawn) >= 100*time.Millisecond {
		p.draw()
	}
}

// draw writes the line. It allocates nothing once its buffer has grown, so
// that the ticker's redraws do not count in what ember bench measures of the
// decode steps (their allocations per step).
func (p *progress) draw() {
	const spin = `|/-\`
	p.frame++
	b := append(p.line[:0], "\r\033[Kember: "...)
	b = append(b, spin[p.frame%len(spin)], ' ')
	b = append(b, p.label...)
	if p.detail != "" {
		b = append(b, ": "...)
		b = append(b, p.detail...)
	}
	b = append(b, " ("...)
	b = strconv.AppendFloat(b, time.Since(p.start).Seconds(), 'f', 0, 64)
	b = append(b, "s)"...)
	p.line = b
	p.w.Write(b)
	p.drawn = time.Now()
}

// Stop ends the line, leaving the terminal where it was before, and
// returns the time since the start.
func (p *progress) Stop() time.Duration {
	if p.active {
		close(p.stop)
		p.wg.Wait()
		p.active = false
		fmt.Fprint(p.w, "\r\033[K")
	}
	return time.Since(p.start)
}
