package engine

import (
	"time"

	"github.com/certwave/certwave/plan"
)

// Activity is the engine's current task, for a progress display.
type Activity struct {
	// Step is the ID of the step in progress, Kind its kind.
	Step string
	Kind plan.StepKind
	// Description is "waiting for the step's start time", "soak",
	// "waiting for the gate", or the step's kind while it acts.
	Description string
	// Until is when the wait ends: a start time, the end of a soak, or a
	// gate's deadline. It is zero while the step acts.
	Until time.Time
}

// Activities the engine reports besides a step's kind.
const (
	ActivityStartTime = "waiting for the step's start time"
	ActivitySoak      = "soak"
	ActivityGate      = "waiting for the gate"
)

// report passes an activity to Options.Progress when it differs from the
// last one reported.
func (e *Engine) report(step *plan.Step, description string, until time.Time) {
	if e.opts.Progress == nil {
		return
	}
	a := Activity{Step: step.ID, Kind: step.Kind, Description: description, Until: until}
	if a == e.activity {
		return
	}
	e.activity = a
	e.opts.Progress(a)
}
