package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/certwave/certwave/engine"
)

// Refresh periods of the progress display.
const (
	// terminalRefresh redraws the bar on a terminal.
	terminalRefresh = time.Second
	// logRefresh repeats the current activity when stderr is a file or a
	// pipe, such as a CronJob's log, so that a wait of hours still shows
	// the run is alive.
	logRefresh = 10 * time.Minute
	barWidth   = 24
)

// progressDisplay shows a long run's progress on stderr: a bar of steps
// done and the current activity with the time left. On a terminal it
// redraws one line every second; elsewhere it prints a line when the
// activity changes and every 10 minutes while it lasts.
type progressDisplay struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	now      func() time.Time
	done     int
	total    int
	activity engine.Activity
	drawn    bool // a bar line is on screen (terminal only)
	stop     chan struct{}
	stopped  sync.WaitGroup
}

// newProgressDisplay starts the display. now is the run's clock.
func newProgressDisplay(w io.Writer, done, total int, now func() time.Time) *progressDisplay {
	p := &progressDisplay{w: w, now: now, done: done, total: total, stop: make(chan struct{})}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	refresh := logRefresh
	if p.terminal {
		refresh = terminalRefresh
	}
	p.stopped.Go(func() {
		tick := time.NewTicker(refresh)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	})
	return p
}

// Activity records what the engine does now and shows it.
func (p *progressDisplay) Activity(a engine.Activity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.activity = a
	p.draw()
}

// StepDone counts a finished step and prints it on a line of its own.
func (p *progressDisplay) StepDone(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.clear()
	fmt.Fprintf(p.w, "[%d/%d steps, %d%%] done %s\n", p.done, p.total, p.done*100/max(p.total, 1), id)
	p.activity = engine.Activity{}
}

// Close stops the redraws and leaves the cursor on a new line.
func (p *progressDisplay) Close() {
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// clear removes the bar line from a terminal.
func (p *progressDisplay) clear() {
	if p.terminal && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// draw shows the bar and the activity: on a terminal in place, elsewhere
// as a new line. Nothing is shown before the first activity.
func (p *progressDisplay) draw() {
	if p.activity.Step == "" {
		return
	}
	line := progressLine(p.done, p.total, p.activity, p.now())
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// progressLine renders the bar, the step count and the activity, with the
// time left when the activity has an end.
func progressLine(done, total int, a engine.Activity, now time.Time) string {
	filled := 0
	if total > 0 {
		filled = min(barWidth, done*barWidth/total)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %d/%d steps | %s: %s", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), done, total, a.Step, a.Description)
	if !a.Until.IsZero() {
		left := a.Until.Sub(now)
		if left < 0 {
			left = 0
		}
		verb := "left"
		if a.Description == engine.ActivityGate {
			verb = "before it times out"
		}
		fmt.Fprintf(&b, ", %s %s (until %s)", formatLeft(left), verb, a.Until.UTC().Format("2006-01-02 15:04 MST"))
	}
	return b.String()
}

// formatLeft renders a remaining time in days, hours and minutes, or
// seconds under a minute.
func formatLeft(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	d = d.Round(time.Minute)
	days, hours, minutes := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm", days, hours, minutes)
	case hours > 0:
		return fmt.Sprintf("%dh%dm", hours, minutes)
	default:
		return fmt.Sprintf("%dm", minutes)
	}
}
