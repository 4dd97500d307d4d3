package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
)

// FieldManager is the server-side apply field manager of every change
// certwave makes.
const FieldManager = "certwave"

// defaultPollInterval paces gates, soaks and stop-rule checks.
const defaultPollInterval = 10 * time.Second

// ErrKilled is returned by Run when Options.StopAfterStep ends the run at a
// step boundary, after the progress is saved.
var ErrKilled = errors.New("run killed at a step boundary")

// Options configure an Engine.
type Options struct {
	// DryRun prints each change as a diff to Out and the ACME orders the
	// steps would spend, and changes nothing.
	DryRun bool
	// Store keeps the progress; default an in-memory store.
	Store Store
	// Actuator makes the changes; default server-side apply through the
	// World's client.
	Actuator Actuator
	// Out receives diffs and progress lines; default discarded.
	Out io.Writer
	Log *slog.Logger
	// Until stops the run after the last step of a phase: "phase2",
	// "phase-2" or "2".
	Until string
	// NextWave stops the run after the steps of the next wave (the phase
	// and wave of the first step not done).
	NextWave bool
	// StopAfterStep, when it returns true for a step just saved as done,
	// makes Run return ErrKilled. Tests use it to simulate a kill.
	StopAfterStep func(stepID string) bool
	// PollInterval paces gates, soaks and stop-rule checks; default 10s.
	PollInterval time.Duration
	// AcceptFindings are IDs of blocker findings the operator accepted;
	// the preflight step stops on any other blocker.
	AcceptFindings []string
	// PlanFile is the plan's path, used in the commands a Stop suggests;
	// default the placeholder PLAN.
	PlanFile string
	// ResumeCommand is the command line that resumes this run, with the
	// flags it was started with, for the Next of a Stop. Default:
	// certwave run --plan PlanFile --resume, which leaves out the context,
	// GitOps and other flags.
	ResumeCommand string
	// Stager, when set, makes this a GitOps run: steps that change objects
	// are staged as manifest edits. Before a step that reads the cluster,
	// the staged edits are committed, and the run stops until the commit
	// is merged and applied (see stager.go).
	Stager Stager
	// ConvergeTimeout is how long a resumed GitOps run waits for the
	// cluster to show the merged commit; default 1h.
	ConvergeTimeout time.Duration
	// Progress, when set, receives the engine's activity each time it
	// changes: a step starts acting, waits for its start time, soaks or
	// waits for a gate. It runs on the engine's goroutine and must return
	// quickly.
	Progress func(Activity)
}

// Result is the outcome of Run.
type Result struct {
	// Completed are the IDs of all steps done so far, in order.
	Completed []string `json:"completed"`
	// Stopped is set when a stop rule ended the run.
	Stopped *Stop     `json:"stopped,omitempty"`
	Ledger  Ledger    `json:"ledger"`
	End     time.Time `json:"end"`
}

// Engine executes one plan against one world.
type Engine struct {
	world    World
	client   client.Client
	clock    Clock
	plan     *plan.Plan
	opts     Options
	index    *planIndex
	digest   string
	log      *slog.Logger
	out      io.Writer
	actuator Actuator
	// untilPhase is the last phase to run, or -1 for all.
	untilPhase int
	// phase is the phase of the step running or last run, for the
	// rollback command a Stop suggests.
	phase int
	// preview is the dry run's actuator while a dry run is in progress.
	preview *previewActuator
	// activity is the activity last passed to Options.Progress, and
	// running the step in progress.
	activity Activity
	running  *plan.Step
	// certificates is the last Certificate list read from a client that
	// implements listVersioner, and certificatesVersion its ListVersion
	// at that read.
	certificates        *cmv1.CertificateList
	certificatesVersion string
	// settledVersion is the certificatesVersion at which certificateRules
	// last found every Certificate settled and nothing to report, and
	// settledUntil the earliest notAfter of those Certificates: until then
	// an unchanged list gives the same result.
	settledVersion string
	settledUntil   time.Time
}

// runState is the state of one Run or Rollback call.
type runState struct {
	prog      *Progress
	completed map[string]bool
	// seen is when this run first saw each Certificate that carries no
	// time of its own.
	seen map[string]time.Time
}

// New checks the plan and options and returns an Engine.
func New(w World, p *plan.Plan, opts Options) (*Engine, error) {
	if w == nil || p == nil {
		return nil, errors.New("engine: world and plan are required")
	}
	seen := map[string]bool{}
	for _, s := range p.Steps {
		if s.ID == "" || seen[s.ID] {
			return nil, fmt.Errorf("invalid plan: step ID %q is empty or repeated", s.ID)
		}
		seen[s.ID] = true
	}

	untilPhase, err := parseUntil(opts.Until)
	if err != nil {
		return nil, err
	}
	index, err := newPlanIndex(p)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		world: w, client: w.Client(), clock: w.Clock(), plan: p, opts: opts,
		index: index, digest: p.Digest(),
		log: opts.Log, out: opts.Out, actuator: opts.Actuator, untilPhase: untilPhase,
	}
	if e.opts.Store == nil {
		e.opts.Store = &MemoryStore{}
	}
	if e.opts.PollInterval <= 0 {
		e.opts.PollInterval = defaultPollInterval
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.out == nil {
		e.out = io.Discard
	}
	if e.actuator == nil {
		e.actuator = NewServerSideApply(e.client)
	}
	return e, nil
}

func parseUntil(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(s), "phase"), "-")
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid until %q: expected a phase such as phase2", s)
	}
	return n, nil
}

// Run executes the steps not yet done, in plan order, saving the progress
// after each step. It returns with Result.Stopped set when a stop rule
// fires; the next Run acknowledges that stop and resumes at the same step.
func (e *Engine) Run(ctx context.Context) (Result, error) {
	st, err := e.load(ctx)
	if err != nil {
		return Result{}, err
	}
	now := e.clock.Now()
	resumed := st.prog.LastStop != nil
	if last := st.prog.LastStop; last != nil {
		e.log.Info("resuming after stop", "rule", last.Rule, "step", last.Step)
		st.prog.Acknowledged = append(st.prog.Acknowledged, last.Keys...)
		if st.prog.InFlight != nil {
			// The operator decided to go on, so the stopped step's
			// timeouts start again.
			st.prog.InFlight.StartedAt = now
		}
		st.prog.LastStop = nil
	}
	if st.prog.ACMESince.IsZero() {
		st.prog.ACMESince = now
	}
	if resumed {
		// ACME refusals between the stop and this resume belong to the
		// incident the operator has just acknowledged: the ledger records
		// them, and the stop rules do not fire on them again.
		if _, err := e.ingestACME(ctx, st); err != nil {
			return Result{}, err
		}
	}
	if e.opts.DryRun {
		return e.dryRun(ctx, st)
	}
	if e.opts.Stager != nil {
		if err := e.restage(ctx, st); err != nil {
			return Result{}, err
		}
	}

	for _, step := range e.stepsToRun(st) {
		stop, err := e.runStep(ctx, st, step)
		if stop != nil {
			st.prog.LastStop = stop
			e.log.Warn("run stopped", "rule", stop.Rule, "step", step.ID, "reason", stop.Reason)
			fmt.Fprintf(e.out, "STOP %s\nnext: %s\n", stop, stop.Next)
			return e.result(st, stop), e.save(ctx, st)
		}
		if err != nil {
			if saveErr := e.save(ctx, st); saveErr != nil {
				e.log.Error("saving progress after a failed step failed", "step", step.ID, "error", saveErr)
			}
			return e.result(st, nil), err
		}
		if err := e.save(ctx, st); err != nil {
			return e.result(st, nil), err
		}
		if e.opts.StopAfterStep != nil && e.opts.StopAfterStep(step.ID) {
			return e.result(st, nil), ErrKilled
		}
	}
	if e.opts.Stager != nil {
		// Steps staged last, or a commit merged after the last step, are
		// committed or awaited here.
		var sig *stopSignal
		if err := e.syncGitOps(ctx, st, nil); errors.As(err, &sig) {
			st.prog.LastStop = sig.stop
			fmt.Fprintf(e.out, "STOP %s\nnext: %s\n", sig.stop, sig.stop.Next)
			return e.result(st, sig.stop), e.save(ctx, st)
		} else if err != nil {
			return e.result(st, nil), err
		}
	}
	return e.result(st, nil), nil
}

// runStep waits for the step's start time, executes it and records the
// outcome. A stop rule that fires comes back as a Stop, not an error.
func (e *Engine) runStep(ctx context.Context, st *runState, step *plan.Step) (*Stop, error) {
	e.phase, e.running = step.Phase, step
	if step.At.After(e.clock.Now()) {
		e.report(step, ActivityStartTime, step.At)
	}
	if err := e.waitUntil(ctx, st, step.At); err != nil {
		return e.stepFailed(st, step, e.clock.Now(), err)
	}
	now := e.clock.Now()
	if st.prog.InFlight == nil || st.prog.InFlight.Step != step.ID {
		// A step in flight may have placed its orders already, so only a
		// step about to start checks the budget.
		if stop, err := e.checkWaveBudget(ctx, st, step); stop != nil || err != nil {
			return stop, err
		}
		st.prog.InFlight = &InFlight{Step: step.ID, StartedAt: now}
		if err := e.save(ctx, st); err != nil {
			return nil, err
		}
	}
	wave := st.prog.Ledger.wave(waveKey(step), step.Phase, step.Wave, now)
	st.prog.Wave = wave.Key
	e.log.Info("step started", "step", step.ID, "kind", step.Kind)
	if step.Description != "" {
		fmt.Fprintf(e.out, "step %s (%s): %s\n", step.ID, step.Kind, step.Description)
	} else {
		fmt.Fprintf(e.out, "step %s (%s)\n", step.ID, step.Kind)
	}

	e.report(step, string(step.Kind), time.Time{})
	if err := e.execute(ctx, st, step); err != nil {
		return e.stepFailed(st, step, st.prog.InFlight.StartedAt, err)
	}
	end := e.clock.Now()
	wave = st.prog.Ledger.find(waveKey(step))
	wave.Steps = append(wave.Steps, StepResult{
		ID: step.ID, Kind: string(step.Kind), Started: st.prog.InFlight.StartedAt, Ended: end, Outcome: OutcomeDone,
	})
	wave.Ended = end
	st.prog.Completed = append(st.prog.Completed, step.ID)
	st.completed[step.ID] = true
	st.prog.InFlight = nil
	e.log.Info("step done", "step", step.ID)
	return nil, nil
}

// stepFailed records a step that stopped or failed and splits the two.
func (e *Engine) stepFailed(st *runState, step *plan.Step, started time.Time, err error) (*Stop, error) {
	wave := st.prog.Ledger.wave(waveKey(step), step.Phase, step.Wave, started)
	result := StepResult{ID: step.ID, Kind: string(step.Kind), Started: started, Ended: e.clock.Now()}
	var sig *stopSignal
	if errors.As(err, &sig) {
		sig.stop.Step = step.ID
		result.Outcome, result.Detail = OutcomeStopped, sig.stop.Rule+": "+sig.stop.Reason
		wave.Steps = append(wave.Steps, result)
		return sig.stop, nil
	}
	result.Outcome, result.Detail = OutcomeFailed, err.Error()
	wave.Steps = append(wave.Steps, result)
	e.log.Error("step failed", "step", step.ID, "error", err)
	return nil, fmt.Errorf("step %s: %w", step.ID, err)
}

func (e *Engine) load(ctx context.Context) (*runState, error) {
	prog, err := e.opts.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load progress: %w", err)
	}
	if prog == nil {
		prog = &Progress{PlanDigest: e.digest}
	}
	if prog.PlanDigest != e.digest {
		return nil, fmt.Errorf("saved progress belongs to another plan (%s; this plan is %s): run with the plan it was saved for, or start a new progress file", prog.PlanDigest, e.digest)
	}
	st := &runState{prog: prog, completed: map[string]bool{}}
	for _, id := range prog.Completed {
		st.completed[id] = true
	}
	return st, nil
}

func (e *Engine) save(ctx context.Context, st *runState) error {
	if e.opts.DryRun {
		return nil
	}
	if err := e.opts.Store.Save(ctx, st.prog); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	return nil
}

func (e *Engine) result(st *runState, stop *Stop) Result {
	return Result{
		Completed: append([]string(nil), st.prog.Completed...),
		Stopped:   stop,
		Ledger:    st.prog.Ledger,
		End:       e.clock.Now(),
	}
}

func (e *Engine) currentPhase() int { return e.phase }

// stepsToRun returns the plan's steps not done yet, in order, cut after
// Options.Until's phase or, with Options.NextWave, after the wave of the
// first step not done.
func (e *Engine) stepsToRun(st *runState) []*plan.Step {
	var out []*plan.Step
	targetWave := ""
	for i := range e.plan.Steps {
		step := &e.plan.Steps[i]
		if st.completed[step.ID] {
			continue
		}
		if e.untilPhase >= 0 && step.Phase > e.untilPhase {
			break
		}
		if e.opts.NextWave {
			if targetWave == "" {
				targetWave = waveKey(step)
			} else if waveKey(step) != targetWave {
				break
			}
		}
		out = append(out, step)
	}
	return out
}
