package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
)

type rollbackFlags struct {
	planFile string
	cluster  clusterFlags
	state    stateFlags
	phase    int
	apply    bool
	output   string
	logFile  string
}

func newRollbackCommand() *cobra.Command {
	var f rollbackFlags
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Undo the done steps of one phase and explain its cost (dry run unless --apply)",
		Long: `rollback reverts the done steps of --phase, which must be the latest phase
with done steps: routes go back to the listener they left, and the phase's
per-host listeners and Gateway annotations are removed in the same pass.
Listener isolation means the old wildcard listener serves a host again
only once the host's own listener is gone, so moving the route back alone
would not be a rollback. A phase-4 rollback puts back the wildcard
Certificate, its reflector annotations and the listeners the phase
removed. Certificates the phase created are deleted; Secrets never are.
The private CA (phase 1's issuers and root Certificate) is kept.

It prints each change, the steps a later run does again, the Secrets kept,
and the cost in ACME orders: what the rollback itself can order and what
running the phase again costs. Without --apply it changes nothing. With
--apply it takes the run Lease, and the reverted steps count as not done,
so the next certwave run does them again.`,
		Example: `  certwave rollback --kubeconfig ~/.kube/config --plan plan.yaml --phase 3
  certwave rollback --kubeconfig ~/.kube/config --plan plan.yaml --phase 3 --apply`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRollback(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.planFile, "plan", "", "plan file the run executes; required")
	f.cluster.register(fl, true)
	f.state.register(fl)
	f.state.registerLease(fl)
	fl.IntVar(&f.phase, "phase", -1, "phase to roll back, 0 to 4: the latest phase with done steps; required")
	fl.BoolVar(&f.apply, "apply", false, "make the changes (default: dry run, which prints them and changes nothing)")
	fl.StringVarP(&f.output, "output", "o", formatTable, "output format: table or json")
	fl.StringVar(&f.logFile, "log", "", "write the rollback's log to this file (default: warnings and errors on stderr)")
	return cmd
}

func runRollback(cmd *cobra.Command, f *rollbackFlags) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	if err := checkFormat(f.output, formatTable, formatJSON); err != nil {
		return err
	}
	if f.planFile == "" {
		return errors.New("missing --plan: pass the plan file the run executes")
	}
	if err := f.state.checkLeaseDuration(); err != nil {
		return err
	}
	if f.phase < 0 || f.phase > 4 {
		return fmt.Errorf("invalid --phase %d: give the phase to roll back, 0 to 4", f.phase)
	}
	p, err := plan.Load(f.planFile)
	if err != nil {
		return err
	}
	log, closeLog, err := openRunLog(f.logFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	env, err := openEnv(ctx, &f.cluster, p, log)
	if err != nil {
		return err
	}
	if err := plan.CheckContext(p, env.contextName, f.cluster.context != ""); err != nil {
		return withCode(exitFailed, err)
	}
	_, cm, _, err := f.state.stores(env, f.planFile, p, 1)
	if err != nil {
		return err
	}
	scale, err := recordedTimeScale(ctx, cm)
	if err != nil {
		return err
	}
	store, _, _, err := f.state.stores(env, f.planFile, p, scale)
	if err != nil {
		return err
	}
	scaled, err := plan.Scale(p, scale)
	if err != nil {
		return err
	}

	if f.apply {
		lease, err := f.state.lease(env, log)
		if err != nil {
			return err
		}
		if err := lease.Acquire(ctx); err != nil {
			return err
		}
		held, stop := lease.Hold(ctx)
		defer stop(true)
		ctx = held
	} else {
		fmt.Fprintln(stderr, "dry run: nothing is changed; pass --apply to roll back")
	}

	var diffs io.Writer = cmd.OutOrStdout()
	if f.output == formatJSON {
		diffs = io.Discard
	}
	eng, err := engine.New(env.world, scaled, engine.Options{DryRun: !f.apply, Store: store, Out: diffs, Log: log, PlanFile: f.planFile})
	if err != nil {
		return err
	}
	report, err := eng.Rollback(ctx, f.phase)
	if err != nil {
		return err
	}
	if f.output == formatJSON {
		return writeStructured(cmd.OutOrStdout(), formatJSON, report)
	}
	writeRollback(cmd.OutOrStdout(), &report, f.planFile)
	return nil
}

func writeRollback(w io.Writer, r *engine.RollbackReport, planFile string) {
	verb := "Rolled back"
	if r.DryRun {
		verb = "Would roll back"
	}
	fmt.Fprintf(w, "%s phase %d: %d steps reverted, %d changes\n", verb, r.Phase, len(r.Reverted), len(r.Changes))
	for _, c := range r.Changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	if len(r.Reverted) > 0 {
		fmt.Fprintf(w, "Steps the next run does again: %s\n", strings.Join(r.Reverted, ", "))
	}
	if len(r.Kept) > 0 {
		fmt.Fprintf(w, "Kept (the private CA): %s\n", strings.Join(r.Kept, ", "))
	}
	if len(r.KeptSecrets) > 0 {
		fmt.Fprintf(w, "Secrets kept: %s\n", strings.Join(r.KeptSecrets, ", "))
	}
	fmt.Fprintf(w, "Cost: %s\n", r.Cost)
	if r.DryRun {
		fmt.Fprintf(w, "To roll back: certwave rollback --plan %s --phase %d --apply\n", planFile, r.Phase)
	}
}
