package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/gitops"
	"github.com/certwave/certwave/plan"
)

type runFlags struct {
	planFile         string
	cluster          clusterFlags
	state            stateFlags
	apply            bool
	withoutRehearsal bool
	rehearsals       string
	until            string
	nextWave         bool
	accept           []string
	timeScale        int
	pollInterval     time.Duration
	logFile          string
	resume           bool
	gitopsDir        string
	set              []string
	convergeTimeout  time.Duration
}

// runHooks let tests kill a run at a step boundary: stopAfterStep returns
// true to end the run there as a killed process would, without releasing
// the Lease.
var runHooks struct {
	stopAfterStep func(stepID string) bool
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Execute the next steps of a plan against the cluster (dry run unless --apply)",
		Long: `run executes a plan against the cluster of a kubeconfig with the same engine
simulate rehearses. Without --apply it is a dry run: it prints every change
as a diff of the object's YAML and the ACME orders the steps would place,
and changes nothing.

Before anything it refuses to go on when:
  - the kube context differs from the one the plan was made for, unless
    --context names it (a plan made from a GitOps tree or the reference
    records no context, so --context is required);
  - the live inventory no longer matches the plan's (drift); it names each
    Gateway, listener, route and Certificate that changed;
  - with --apply, there is no passing rehearsal of the same plan digest
    recorded by certwave simulate --plan, unless --without-rehearsal.

Progress (steps done, the ledger of ACME orders, issuances and refusals,
the last stop) is saved after every step to the ConfigMap
certwave-run-<digest> in --state-namespace and to --state-file, and a
Lease named certwave-run in the same namespace keeps a second run out. A run
that was killed resumes at the step it was in without repeating a
completed step; a run that stopped on a stop rule resumes once started
again.

Before each wave that places ACME orders, run recomputes Let's Encrypt's
buckets from the ledger and every issued CertificateRequest in the cluster
of an issuer on the plan's ACME server, whoever created it. It stops (rule
budget-reserve) before a wave that would leave a registered domain fewer
certificates than the plan's reserve, or that Let's Encrypt would refuse,
and names the time the buckets allow it; each run checks again. A plan made
with --force only warns.

With --gitops DIR the run changes no object itself. It edits the manifests
of the tree instead (adds listeners, moves routes' sectionName, sets
annotations, writes the private CA's issuers and Certificate beside the
ACME ClusterIssuer, removes the wildcard listener and Certificate) and,
before a step that needs the cluster to show the edits, commits them on a
new branch and stops (rule gitops-merge) for an operator to merge it. A
wave is one commit: its listeners and its route moves together, because
once a host has its own listener the wildcard listener stops serving it
(listener isolation), so listeners merged alone would leave the hosts
down until the route moves are merged too. The next run waits up to
--converge-timeout for Flux or Argo to apply the commit, then for the
wave's certificates, checks the moved routes and goes on. The stop prints
the command that resumes, with the flags this run was given.

Soaks and wave gaps are real time: hours and days. Without --until or
--next-wave, run keeps going until the plan ends or a stop rule fires.
With --apply it shows its progress on stderr: a bar of the steps done, the
step in progress and the time left of its wait (start time, soak, or a
gate's timeout). On a terminal the bar is redrawn every second; in a log it
is a line at each change and every 10 minutes. For one wave a day from a
laptop or a CronJob, use --next-wave, or --until phaseN to stop after a
phase.

--time-scale N divides the plan's soaks and the gaps between steps by N,
for test stacks whose ACME server and cert-manager run on scaled time too.
It is refused unless Namespace kube-system has the label
certwave.io/test-stack=true. Ready timeouts do not scale.

Exit status: 0 when the steps ran, 2 when the run was refused (drift,
context, rehearsal), 3 when a stop rule stopped it, 1 on other errors.`,
		Example: `  certwave run --kubeconfig ~/.kube/config --plan plan.yaml
  certwave simulate --plan plan.yaml && certwave run --kubeconfig ~/.kube/config --plan plan.yaml --apply --next-wave
  certwave run --kubeconfig kind.yaml --context kind-test --plan plan.yaml --apply --time-scale 1000`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.planFile, "plan", "", "plan file (YAML or JSON) written by certwave plan --out; required")
	f.cluster.register(fl, true)
	f.state.register(fl)
	f.state.registerLease(fl)
	fl.BoolVar(&f.apply, "apply", false, "make the changes (default: dry run, which prints them and changes nothing)")
	fl.BoolVar(&f.withoutRehearsal, "without-rehearsal", false, "with --apply: act without a passing rehearsal of this plan")
	fl.StringVar(&f.rehearsals, "rehearsals-dir", "", "folder of the rehearsal records (default: .certwave/rehearsals beside the plan file)")
	fl.StringVar(&f.until, "until", "", "stop after the last step of this phase: phase0 to phase4")
	fl.BoolVar(&f.nextWave, "next-wave", false, "stop after the steps of the next wave (the wave of the first step not done)")
	fl.StringArrayVar(&f.accept, "accept-finding", nil, "ID of a blocker finding to accept, so the preflight does not stop on it; repeatable")
	fl.IntVar(&f.timeScale, "time-scale", 1, "divide soaks and the gaps between steps by this whole number; test stacks only (see above)")
	fl.DurationVar(&f.pollInterval, "poll-interval", 10*time.Second, "how often gates and stop rules read the cluster, as a Go duration")
	fl.StringVar(&f.logFile, "log", "", "write the run's log (every change, retry and stop, as text) to this file (default: warnings and errors on stderr)")
	fl.StringVar(&f.gitopsDir, "gitops", "", "GitOps mode: edit the manifests in this Git work tree (the tree the plan was made from) and commit each batch of steps on a new branch, instead of changing the cluster")
	fl.StringArrayVar(&f.set, "set", nil, "with --gitops: value of a Flux post-build variable, KEY=VALUE, as given to certwave plan; repeatable")
	fl.DurationVar(&f.convergeTimeout, "converge-timeout", time.Hour, "with --gitops: how long a resumed run waits for the cluster to show the merged commit, as a Go duration")
	fl.BoolVar(&f.resume, "resume", false, "accepted for the commands a stop suggests; every run resumes from the saved progress")
	return cmd
}

func runRun(cmd *cobra.Command, f *runFlags) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	if f.planFile == "" {
		return errors.New("missing --plan: pass the plan file written by certwave plan --out")
	}
	if f.timeScale < 1 {
		return fmt.Errorf("invalid --time-scale %d: want a whole number of 1 or more (1 is real time)", f.timeScale)
	}
	if f.pollInterval <= 0 {
		return fmt.Errorf("invalid --poll-interval %s: want a positive Go duration such as 10s", f.pollInterval)
	}
	if err := f.state.checkLeaseDuration(); err != nil {
		return err
	}
	if f.until != "" && f.nextWave {
		return errors.New("--until and --next-wave both say where to stop: give one of them")
	}
	p, err := plan.Load(f.planFile)
	if err != nil {
		return err
	}
	if err := checkAccepted(p, f.accept); err != nil {
		return err
	}
	log, closeLog, err := openRunLog(f.logFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()

	if f.apply && !f.withoutRehearsal {
		dir := f.rehearsals
		if dir == "" {
			dir = defaultRehearsalDir(f.planFile)
		}
		rec, path, err := requireRehearsal(dir, f.planFile, p, f.accept)
		if err != nil {
			return withCode(exitFailed, err)
		}
		fmt.Fprintln(stderr, describeRehearsal(path, rec))
	} else if f.apply {
		fmt.Fprintln(stderr, "acting without a rehearsal (--without-rehearsal)")
	}

	env, err := openEnv(ctx, &f.cluster, p, log)
	if err != nil {
		return err
	}
	if err := plan.CheckContext(p, env.contextName, f.cluster.context != ""); err != nil {
		return withCode(exitFailed, err)
	}
	if f.timeScale != 1 {
		if err := checkTestStack(ctx, env.state, env.contextName, f.timeScale); err != nil {
			return withCode(exitFailed, err)
		}
	}
	if err := checkDrift(ctx, env, p, f.planFile, f.cluster.kubeconfig); err != nil {
		return err
	}

	scaled, err := plan.Scale(p, f.timeScale)
	if err != nil {
		return err
	}
	store, cm, file, err := f.state.stores(env, f.planFile, p, f.timeScale)
	if err != nil {
		return err
	}
	saved, err := recordedTimeScale(ctx, cm)
	if err != nil {
		return err
	}
	if prog, err := cm.Load(ctx); err == nil && prog != nil && saved != f.timeScale {
		return fmt.Errorf("invalid --time-scale %d: the saved progress in %s was made with --time-scale %d; resume with that", f.timeScale, cm.Object(), saved)
	}

	mode := "dry run: nothing is changed; pass --apply to act"
	if f.apply {
		mode = "applying changes"
	}
	fmt.Fprintf(stderr, "certwave run: plan %s (digest %s), context %s, %s\n", f.planFile, p.Digest(), env.contextName, mode)
	fmt.Fprintf(stderr, "progress: %s and %s\n", cm.Object(), file)

	if f.apply {
		lease, err := f.state.lease(env, log)
		if err != nil {
			return err
		}
		if err := lease.Acquire(ctx); err != nil {
			return err
		}
		held, stop := lease.Hold(ctx)
		killed := false
		defer func() { stop(!killed) }()
		ctx = held
		return executeRun(ctx, cmd, f, env, scaled, interruptibleStore{store}, log, &killed)
	}
	return executeRun(ctx, cmd, f, env, scaled, store, log, new(bool))
}

// executeRun runs the engine and turns its result into output and an exit
// code.
func executeRun(ctx context.Context, cmd *cobra.Command, f *runFlags, env *runEnv, p *plan.Plan, store engine.Store, log *slog.Logger, killed *bool) error {
	stderr := cmd.ErrOrStderr()
	total := len(p.Steps)
	done := 0
	if prog, err := store.Load(ctx); err == nil && prog != nil {
		done = len(prog.Completed)
		if prog.LastStop != nil {
			fmt.Fprintf(stderr, "resuming after the stop by rule %s at step %s\n", prog.LastStop.Rule, prog.LastStop.Step)
		} else if prog.InFlight != nil {
			fmt.Fprintf(stderr, "resuming step %s, started %s\n", prog.InFlight.Step, prog.InFlight.StartedAt.UTC().Format(time.RFC3339))
		}
	}

	stager, err := openStager(f, p)
	if err != nil {
		return err
	}
	var display *progressDisplay
	if f.apply {
		display = newProgressDisplay(stderr, done, total, env.clock.Now)
		defer display.Close()
	}
	eng, err := engine.New(env.world, p, engine.Options{
		DryRun:         !f.apply,
		Store:          store,
		Out:            cmd.OutOrStdout(),
		Log:            log,
		Until:          f.until,
		NextWave:       f.nextWave,
		AcceptFindings: f.accept,
		PlanFile:       f.planFile,
		ResumeCommand:  resumeCommand(cmd),
		PollInterval:   f.pollInterval,
		StopAfterStep: func(id string) bool {
			if display != nil {
				display.StepDone(id)
			}
			return runHooks.stopAfterStep != nil && runHooks.stopAfterStep(id)
		},
		Stager:          stager,
		ConvergeTimeout: f.convergeTimeout,
		Progress: func(a engine.Activity) {
			if display != nil {
				display.Activity(a)
			}
		},
	})
	if err != nil {
		return err
	}

	if f.apply {
		announceWait(stderr, p, done, env.clock.Now())
	}
	res, err := eng.Run(ctx)
	if errors.Is(err, engine.ErrKilled) {
		*killed = true
		return err
	}
	if err != nil {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, engine.ErrLeaseLost):
			return fmt.Errorf("%w; the run stopped: %v", cause, err)
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted (%v); the progress is saved, run the same command to resume", err)
		}
		return err
	}
	if res.Stopped != nil {
		return withCode(exitStopped, fmt.Errorf("%s; next: %s", res.Stopped, res.Stopped.Next))
	}
	if !f.apply {
		return nil
	}

	fmt.Fprintf(stderr, "%d of %d steps done\n", len(res.Completed), total)
	if len(res.Completed) < total {
		for _, s := range p.Steps {
			if !containsString(res.Completed, s.ID) {
				fmt.Fprintf(stderr, "next step %s (phase %d), not before %s\n", s.ID, s.Phase, s.At.UTC().Format(time.RFC3339))
				break
			}
		}
	} else {
		fmt.Fprintln(stderr, "the plan is complete; check the hosts with certwave verify --plan "+f.planFile)
	}
	return nil
}

// announceWait prints when the first step not done may start, if that is
// later than now, because the run then waits without other output.
func announceWait(w io.Writer, p *plan.Plan, done int, now time.Time) {
	if done >= len(p.Steps) {
		return
	}
	next := p.Steps[done]
	if next.At.After(now) {
		fmt.Fprintf(w, "waiting until %s (in %s) for step %s, as the plan schedules it\n",
			next.At.UTC().Format(time.RFC3339), next.At.Sub(now).Round(time.Minute), next.ID)
	}
}

// maxDriftLines bounds the differences a drift error lists.
const maxDriftLines = 25

// checkDrift rejects a plan whose inventory no longer matches the cluster.
func checkDrift(ctx context.Context, env *runEnv, p *plan.Plan, planFile, kubeconfig string) error {
	if p.Inventory == nil {
		return withCode(exitFailed, fmt.Errorf("the plan %s has no inventory to check for drift: make it again with certwave plan --out", planFile))
	}
	live, err := env.live(ctx)
	if err != nil {
		return fmt.Errorf("reading the live inventory for the drift check: %w", err)
	}
	diffs := plan.Drift(p, live)
	if len(diffs) == 0 {
		return nil
	}
	lines := make([]string, 0, maxDriftLines+1)
	for i, d := range diffs {
		if i == maxDriftLines {
			lines = append(lines, fmt.Sprintf("  ... and %d more", len(diffs)-maxDriftLines))
			break
		}
		lines = append(lines, "  "+d.String())
	}
	noun := "differences"
	if len(diffs) == 1 {
		noun = "difference"
	}
	return withCode(exitFailed, fmt.Errorf("the cluster no longer matches the plan (%d %s):\n%s\nmake a new plan (certwave plan --kubeconfig %s --out PLAN.yaml), rehearse it and run that",
		len(diffs), noun, strings.Join(lines, "\n"), kubeconfig))
}

// openRunLog returns the run's logger: text to the --log file at level
// info, else warnings and errors on stderr.
func openRunLog(path string, stderr io.Writer) (*slog.Logger, func(), error) {
	if path == "" {
		return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), func() {}, nil
	}
	file, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid --log %s: %w", path, err)
	}
	return slog.New(slog.NewTextHandler(file, nil)), func() { file.Close() }, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// openStager opens the --gitops tree, or returns nil without --gitops.
func openStager(f *runFlags, p *plan.Plan) (engine.Stager, error) {
	if f.gitopsDir == "" {
		if len(f.set) > 0 {
			return nil, fmt.Errorf("--set applies only with --gitops")
		}
		return nil, nil
	}
	if f.convergeTimeout <= 0 {
		return nil, fmt.Errorf("invalid --converge-timeout %s: give a positive Go duration such as 1h", f.convergeTimeout)
	}
	vars, err := parseSetFlags(f.set)
	if err != nil {
		return nil, err
	}
	repo, err := gitops.Open(f.gitopsDir, gitops.Options{Vars: vars})
	if err != nil {
		return nil, err
	}
	return gitops.NewStager(repo, p), nil
}
