package cluster

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress prints one line per step, with how long the step took.
type Progress struct {
	mu  sync.Mutex
	w   io.Writer
	t0  time.Time
	log []Timing
}

// Timing is one finished step.
type Timing struct {
	Step     string
	Duration time.Duration
}

// NewProgress writes to w (os.Stderr when nil).
func NewProgress(w io.Writer) *Progress {
	if w == nil {
		w = os.Stderr
	}
	return &Progress{w: w, t0: time.Now()}
}

// Step prints a finished step that took no noticeable time.
func (p *Progress) Step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "e2e: "+format+"\n", args...)
}

// Start begins a step; the returned func ends it, printing one line with the duration.
func (p *Progress) Start(format string, args ...any) func(error) {
	msg := fmt.Sprintf(format, args...)
	t := time.Now()
	return func(err error) {
		d := time.Since(t).Round(100 * time.Millisecond)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.log = append(p.log, Timing{msg, d})
		if err != nil {
			fmt.Fprintf(p.w, "e2e: %s: FAILED after %s: %v\n", msg, d, err)
			return
		}
		fmt.Fprintf(p.w, "e2e: %s: %s\n", msg, d)
	}
}

// LongStart is Start for a step that takes a while: it also prints a line when the step begins.
func (p *Progress) LongStart(format string, args ...any) func(error) {
	p.Step(format+" ...", args...)
	return p.Start(format, args...)
}

// Timings returns the finished steps so far.
func (p *Progress) Timings() []Timing {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Timing(nil), p.log...)
}
