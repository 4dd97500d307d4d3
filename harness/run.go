package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/certwave/certwave/engine"
	fixturesdir "github.com/certwave/certwave/internal/fixtures"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/topology"
)

// DefaultStart is the plan start of scenarios that do not set one.
var DefaultStart = time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)

// settleAfterRollback is how long the harness lets the world run after a
// rollback before it counts the rollback's ACME orders: long enough for a
// DNS01 issuance (about a minute) and one failure backoff.
const settleAfterRollback = 2 * time.Hour

// Options configure a scenario run.
type Options struct {
	World string
	// Seed is used unless the scenario sets its own.
	Seed int64
	// Log receives the world's log; nil discards it.
	Log io.Writer
	// Trace, when set, receives each scenario's world trace, one event a
	// line after a "# scenario" header.
	Trace io.Writer
	// Suite is the folder the scenario came from, empty for the built-in
	// scenarios; the replay command names it.
	Suite string
	// Fixtures is the folder $CERTWAVE_FIXTURES stands for in scenario
	// paths.
	Fixtures string
	// Parallel is how many scenarios RunSuite runs at once on the model
	// world; 0 means one per CPU. Other worlds run one at a time.
	Parallel int
	// Cluster selects the existing cluster of the cluster world.
	Cluster ClusterOptions
	// Status, when set, receives what a scenario is doing: the world
	// opening, then each activity of the engine. The CLI shows it on the
	// worlds that run in real time.
	Status func(scenario, status string)
	// ReplayArgs are command-line flags the replay command repeats, such
	// as the cluster world's --kubeconfig and --context.
	ReplayArgs []string
	// outcome, when set, receives what the run left behind (Conform).
	outcome *Outcome
}

// run is the state of one scenario run.
type run struct {
	s       *scenarios.Scenario
	opts    Options
	inv     *topology.Inventory
	plan    *plan.Plan
	world   World
	clock   *actionClock
	start   time.Time
	result  *Result
	stop    *engine.Stop
	stops   []string
	engine  engine.Result
	kills   int
	before  map[string]bool // Certificates and Secrets before the run
	kept    bool            // every object of before still existed at the stop
	end     time.Time       // when the engine finished
	rbCost  int
	planErr error
	// treeDir is the topology's GitOps tree, and gitops the Git copy a
	// GitOps run commits to.
	treeDir string
	gitops  *gitopsRun
	// recorder is the world when it wants the engine's activity.
	recorder activityRecorder
	// preset is the plan to rehearse as it is, instead of one planned from
	// the scenario's topology (see RehearsePlan).
	preset *plan.Plan
	// scale divides the plan's waits and the harness's sleeps on worlds
	// with a wall clock (worldTimeScale); 1 on the model.
	scale int
	// closer stops the world's servers when the run ends.
	closer io.Closer
}

// virtualSpan is how much plan time the scenario covers: the unscaled
// plan, then the waits the harness adds.
func (r *run) virtualSpan() time.Duration {
	span := time.Duration(0)
	if r.plan != nil {
		span = time.Duration(r.scale) * r.plan.End.Sub(r.plan.Options.Start)
	}
	rs := r.s.Run
	return span + rs.ResumeAfter.D() + rs.RollbackAfter.D() + rs.ObserveFor.D()
}

// sleep waits d of plan time on the world's clock, divided by the time
// scale.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	if r.scale > 1 {
		d /= time.Duration(r.scale)
	}
	return r.world.Clock().Sleep(ctx, d)
}

// Run rehearses one scenario and judges it. Errors of planning, of the
// world or of the engine end up in the Result as failures.
func Run(ctx context.Context, s *scenarios.Scenario, opts Options) Result {
	return runScenario(ctx, s, opts, nil)
}

// runScenario is Run with an optional preset plan.
func runScenario(ctx context.Context, s *scenarios.Scenario, opts Options, preset *plan.Plan) (res Result) {
	wallStart := time.Now()
	seed := opts.Seed
	if s.Seed != 0 {
		seed = s.Seed
	}
	res = Result{Scenario: s.Name, File: s.File, World: opts.World, Seed: seed, Suite: opts.Suite, MinAvailability: 1, replayArgs: opts.ReplayArgs}
	r := &run{s: s, opts: opts, result: &res, preset: preset, scale: 1}
	r.opts.Seed = seed
	defer func() {
		if r.closer != nil {
			if err := r.closer.Close(); err != nil {
				res.Notes = append(res.Notes, "stopping the world: "+err.Error())
			}
		}
	}()

	if err := r.execute(ctx); err != nil {
		var unsupported *unsupportedError
		if errors.As(err, &unsupported) {
			res.Verdict = VerdictUnsupported
			res.Unsupported = unsupported.reason
		} else {
			res.Verdict = VerdictFail
			res.Failures = append(res.Failures, err.Error())
		}
	} else {
		res.Failures = r.judge(ctx)
		res.Verdict = VerdictPass
		if len(res.Failures) > 0 {
			res.Verdict = VerdictFail
		}
	}
	if r.world != nil {
		res.Ran = true
		res.ACMEOrders = r.world.ACMEOrders()
		host, min := lowest(r.availability())
		res.MinAvailability = min
		if min < 1 {
			res.Notes = append(res.Notes, fmt.Sprintf("lowest availability: %s at %.4f", host, min))
		}
		res.VirtualDuration = r.world.Clock().Now().Sub(r.start)
	}
	var breach *plan.BreachError
	switch {
	case r.stop != nil:
		res.Stop = r.stop.Rule
	case errors.As(r.planErr, &breach):
		// The planner rejected the plan before any step, which the table's
		// stop column shows instead of "-".
		res.Stop = StopPlanRejected
	}
	if opts.outcome != nil {
		if o, err := r.outcome(ctx); err != nil {
			res.Notes = append(res.Notes, "reading the outcome: "+err.Error())
		} else {
			*opts.outcome = *o
		}
	}
	if opts.Trace != nil && r.world != nil {
		fmt.Fprintf(opts.Trace, "# %s (world %s, seed %d)\n", s.Name, opts.World, seed)
		for _, ev := range r.world.Trace() {
			fmt.Fprintf(opts.Trace, "%s %s %s %s\n", ev.At.Format(time.RFC3339), ev.Kind, ev.Object, ev.Detail)
		}
	}
	res.Wall = time.Since(wallStart)
	return res
}

type unsupportedError struct{ reason string }

func (e *unsupportedError) Error() string { return "unsupported: " + e.reason }

func (r *run) execute(ctx context.Context) error {
	if r.preset != nil {
		return r.executePreset(ctx)
	}
	inv, err := r.inventory()
	if err != nil {
		return err
	}
	r.inv = inv

	opts, err := r.planOptions()
	if err != nil {
		return err
	}
	r.start = opts.Start
	p, err := plan.New(inv, opts)
	if err != nil {
		r.planErr = err
		var breach *plan.BreachError
		if errors.As(err, &breach) {
			return nil
		}
		return fmt.Errorf("planning: %w", err)
	}
	r.plan = p
	if r.s.Run.PlanOnly {
		return nil
	}
	if r.scale = worldTimeScale(r.opts); r.scale > 1 {
		if r.plan, err = plan.Scale(p, r.scale); err != nil {
			return err
		}
	}
	return r.openAndDrive(ctx)
}

// status passes a status line to Options.Status.
func (r *run) status(format string, args ...any) {
	if r.opts.Status != nil {
		r.opts.Status(r.s.Name, fmt.Sprintf(format, args...))
	}
}

// activity passes the engine's activity to the world when it records it,
// and to Options.Status.
func (r *run) activity(a engine.Activity) {
	if r.recorder != nil {
		r.recorder.RecordActivity(a)
	}
	if r.opts.Status == nil {
		return
	}
	if a.Description == string(a.Kind) {
		r.status("step %s: %s", a.Step, a.Kind)
		return
	}
	until := ""
	if !a.Until.IsZero() {
		until = " until " + a.Until.UTC().Format(time.DateTime) + " UTC"
	}
	r.status("step %s (%s): %s%s", a.Step, a.Kind, a.Description, until)
}

// openAndDrive opens the world for r.inv and drives the engine through
// r.plan.
func (r *run) openAndDrive(ctx context.Context) error {
	// Check what the scenario needs before opening the world: the local
	// world takes a minute to start.
	needs := append(append([]string(nil), r.s.Needs...), implicitNeeds(r.s, r.virtualSpan(), r.scale)...)
	for _, need := range needs {
		if reason := worldUnsupported(r.opts, need); reason != "" {
			return &unsupportedError{reason: fmt.Sprintf("in world %s: %s: %s", r.opts.World, need, reason)}
		}
	}
	r.status("opening the %s world", r.opts.World)
	w, err := openWorld(ctx, r.opts, r.inv, r.s, r.start)
	if err != nil {
		return fmt.Errorf("opening world %s: %w", r.opts.World, err)
	}
	r.closer, _ = w.(io.Closer)
	r.clock = newActionClock(w, r.start, r.scale, r.s.Actions)
	r.world = &clockedWorld{World: w, clock: r.clock}
	r.recorder, _ = w.(activityRecorder)

	if r.before, err = r.objectSet(ctx); err != nil {
		return err
	}
	if r.s.Run.GitOps != nil {
		if r.gitops, err = newGitOpsRun(ctx, r.treeDir, r.s.Topology.GitOps.Set, r.inv, r.plan.Options.Profile); err != nil {
			return err
		}
		defer r.gitops.close()
	}
	if err := r.drive(ctx); err != nil {
		return err
	}
	return nil
}

// drive runs the engine to its end: it resumes after kills, resumes after
// a stop when the scenario sets resumeAfter, then rolls back and observes.
func (r *run) drive(ctx context.Context) error {
	store := &engine.MemoryStore{}
	stepsDone := 0
	killAfter := map[string]bool{}
	for _, id := range r.s.Run.KillAfter {
		killAfter[id] = true
	}
	resumes := 0
	maxResumes := r.s.Run.MaxResumes
	if maxResumes == 0 {
		maxResumes = 1
	}
	var eng *engine.Engine
	var stager engine.Stager
	killsAtStager := 0
	for attempt := 0; ; attempt++ {
		if attempt > len(r.plan.Steps)+5 {
			return errors.New("engine did not finish after one resume per step")
		}
		if r.gitops != nil && (stager == nil || r.kills > killsAtStager) {
			// A killed run reopens the tree from disk and stages again
			// what it had staged. A run resumed after a commit finds the
			// tree as the commit left it, so the open one is reused.
			var err error
			if stager, err = r.gitops.stager(r); err != nil {
				return err
			}
			killsAtStager = r.kills
		}
		var err error
		eng, err = engine.New(r.world, r.plan, engine.Options{
			Stager:         stager,
			Progress:       r.activity,
			Store:          store,
			PollInterval:   worldPollInterval(r.opts.World),
			Until:          r.s.Run.Until,
			AcceptFindings: r.s.Run.Accept,
			StopAfterStep: func(id string) bool {
				stepsDone++
				if killAfter[id] {
					delete(killAfter, id)
					return true
				}
				return r.s.Run.KillEvery > 0 && stepsDone%r.s.Run.KillEvery == 0
			},
		})
		if err != nil {
			return fmt.Errorf("starting the engine: %w", err)
		}
		res, err := eng.Run(ctx)
		if errors.Is(err, engine.ErrKilled) {
			r.kills++
			continue
		}
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		r.engine = res
		if res.Stopped != nil && res.Stopped.Rule == engine.RuleGitOpsMerge && r.gitops != nil {
			if err := r.mergeCommit(ctx); err != nil {
				return err
			}
			continue
		}
		if res.Stopped != nil {
			r.stops = append(r.stops, res.Stopped.Rule)
			if r.stop != nil {
				r.note("stopped again by %s at %s: %s", res.Stopped.Rule, res.Stopped.At.Format(time.RFC3339), res.Stopped.Reason)
			}
			if r.stop == nil {
				r.stop = res.Stopped
				r.note("stopped by %s at %s: %s", res.Stopped.Rule, res.Stopped.At.Format(time.RFC3339), res.Stopped.Reason)
				after, err := r.objectSet(ctx)
				if err != nil {
					return err
				}
				r.kept = subset(r.before, after)
			}
			if r.s.Run.ResumeAfter > 0 && resumes < maxResumes {
				resumes++
				if err := r.sleep(ctx, r.s.Run.ResumeAfter.D()); err != nil {
					return err
				}
				continue
			}
		}
		break
	}
	if r.kills > 0 {
		r.note("engine killed %d times and resumed", r.kills)
	}
	if r.gitops != nil {
		r.note("GitOps: %d commits merged and applied", r.gitops.merges)
	}
	r.end = r.world.Clock().Now()

	if r.s.Run.Rollback > 0 {
		if d := r.s.Run.RollbackAfter.D(); d > 0 {
			if err := r.sleep(ctx, d); err != nil {
				return err
			}
		}
		before := r.world.ACMEOrders()
		report, err := eng.Rollback(ctx, r.s.Run.Rollback)
		if err != nil {
			return fmt.Errorf("rollback of phase %d: %w", r.s.Run.Rollback, err)
		}
		settle := settleAfterRollback / time.Duration(r.scale)
		if r.scale > 1 {
			// One DNS01 issuance takes about a minute of wall time on
			// every world with real cert-manager.
			settle = max(settle, 2*time.Minute)
		}
		if err := r.world.Clock().Sleep(ctx, settle); err != nil {
			return err
		}
		r.rbCost = r.world.ACMEOrders() - before
		r.note("rollback of phase %d: %d ACME orders (engine's estimate %d: %s)", report.Phase, r.rbCost, report.ACMEOrders, report.Cost)
	}
	if d := r.s.Run.ObserveFor.D(); d > 0 {
		if err := r.sleep(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) note(format string, args ...any) {
	r.result.Notes = append(r.result.Notes, fmt.Sprintf(format, args...))
}

// inventory builds the scenario's topology.
func (r *run) inventory() (*topology.Inventory, error) {
	t := r.s.Topology
	var inv *topology.Inventory
	switch {
	case t.Reference:
		inv = topology.Reference()
	case t.GitOps != nil:
		fixtures := r.opts.Fixtures
		if fixtures == "" {
			fixtures = fixturesdir.Dir()
		}
		dir := strings.ReplaceAll(t.GitOps.Dir, "$CERTWAVE_FIXTURES", fixtures)
		if _, err := os.Stat(dir); err != nil {
			return nil, &unsupportedError{reason: fmt.Sprintf("GitOps tree %s not found; set CERTWAVE_FIXTURES to the folder holding it", dir)}
		}
		r.treeDir = dir
		loaded, err := topology.LoadGitOps(dir, topology.GitOpsOptions{Vars: t.GitOps.Set})
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", dir, err)
		}
		inv = loaded
	default:
		raw, err := json.Marshal(t.Inline)
		if err != nil {
			return nil, fmt.Errorf("topology.inline: %w", err)
		}
		inv = &topology.Inventory{}
		if err := json.Unmarshal(raw, inv); err != nil {
			return nil, fmt.Errorf("topology.inline: %w", err)
		}
		inv.Finalize()
	}
	for _, cp := range t.ClientPaths {
		inv.ClientPaths = append(inv.ClientPaths, topology.ClientPath{
			Name: cp.Name, Kind: cp.Kind, Gateway: cp.Gateway, ServerName: cp.ServerName, Hostnames: cp.Hostnames,
		})
	}
	if t.GatewayAPIEnabled != nil {
		inv.CertManager.GatewayAPIEnabled = *t.GatewayAPIEnabled
	}
	if len(t.ClientPaths) > 0 {
		inv.Finalize()
	}
	return inv, nil
}

// planOptions applies the scenario's plan settings to the defaults.
func (r *run) planOptions() (plan.Options, error) {
	ps := r.s.Plan
	start := ps.Start
	if start.IsZero() {
		start = DefaultStart
	}
	start = worldStart(r.opts.World, start)
	o := plan.DefaultOptions(start)
	if ps.Variant != "" {
		o.Variant = plan.Variant(ps.Variant)
	}
	if len(ps.InternalGateways) > 0 {
		o.InternalGateways = ps.InternalGateways
	}
	if ps.WaveSize > 0 {
		o.WaveSize = ps.WaveSize
	}
	if ps.WaveSoak != nil {
		o.WaveSoak = ps.WaveSoak.D()
	}
	if ps.CanarySoak != nil {
		o.CanarySoak = ps.CanarySoak.D()
	}
	if ps.InternalBatch > 0 {
		o.InternalBatchSize = ps.InternalBatch
	}
	if ps.Duration != 0 {
		o.Duration = ps.Duration.D()
	}
	if ps.RenewBefore != 0 {
		o.RenewBefore = ps.RenewBefore.D()
	}
	if ps.Profile != "" {
		o.Profile = ps.Profile
	}
	if ps.Reserve != nil {
		o.Reserve = *ps.Reserve
	}
	o.Force = ps.Force
	return o, nil
}

// availability returns the world's availability of the hosts the plan
// migrates. Hosts served only over plain HTTP are left out, because a TLS
// probe would always read them as down.
func (r *run) availability() map[string]float64 {
	all := r.world.Availability()
	if r.plan == nil {
		return all
	}
	out := map[string]float64{}
	for _, c := range r.plan.Cohorts {
		for _, h := range c.Hosts {
			if a, ok := all[h.Hostname]; ok {
				out[h.Hostname] = a
			}
		}
	}
	return out
}

// activityRecorder is a world that wants the engine's activity: the local
// world weighs availability by it.
type activityRecorder interface {
	RecordActivity(engine.Activity)
}
