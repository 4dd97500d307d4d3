package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/spf13/cobra"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/ratelimit"
)

type statusFlags struct {
	planFile string
	cluster  clusterFlags
	state    stateFlags
	output   string
}

// statusReport is status's output; -o json prints it as it is.
type statusReport struct {
	Plan       string `json:"plan"`
	PlanDigest string `json:"planDigest"`
	Context    string `json:"context"`
	// Progress is the ConfigMap or file the progress was read from.
	Progress   string   `json:"progress"`
	StepsDone  int      `json:"stepsDone"`
	StepsTotal int      `json:"stepsTotal"`
	Phase      int      `json:"phase"`
	Wave       string   `json:"wave,omitempty"`
	InFlight   string   `json:"inFlight,omitempty"`
	NextStep   string   `json:"nextStep,omitempty"`
	NextAt     string   `json:"nextAt,omitempty"`
	Budget     []bucket `json:"budget"`
	// Pending and Failing are Certificates, cluster-wide, as
	// namespace/name: detail.
	Pending  []string     `json:"pending"`
	Failing  []string     `json:"failing"`
	LastStop *engine.Stop `json:"lastStop,omitempty"`
}

// bucket is one Let's Encrypt bucket as the ledger leaves it.
type bucket struct {
	Limit     string `json:"limit"`
	Key       string `json:"key"`
	Remaining int64  `json:"remaining"`
	Burst     int64  `json:"burst"`
}

func newStatusCommand() *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a run's phase, wave, rate-limit budget, pending and failing Certificates and last stop",
		Long: `status reads the progress a run saved (the ConfigMap in --state-namespace,
else --state-file) and the cluster's Certificates, and prints:

  - steps done, the phase and wave of the latest step, the step in flight
    and the next step with the earliest time it may start;
  - Let's Encrypt's buckets (tokens left of each limit's burst) computed
    from the ACME orders and authorization failures in the ledger and the
    issuances of the last 7 days: the ledger's and every issued
    CertificateRequest of an issuer on the plan's ACME server, whoever
    created it (certificates issued outside this cluster are not counted);
  - Certificates not Ready (pending) and those whose issuance failed
    (failing), cluster-wide;
  - the last stop: its rule, reason, objects and the suggested command.

It changes nothing and needs no Lease.`,
		Example: `  certwave status --kubeconfig ~/.kube/config --plan plan.yaml
  certwave status --kubeconfig ~/.kube/config --plan plan.yaml -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.planFile, "plan", "", "plan file the run executes; required")
	f.cluster.register(fl, false)
	f.state.register(fl)
	fl.StringVarP(&f.output, "output", "o", formatTable, "output format: table or json")
	return cmd
}

func runStatus(cmd *cobra.Command, f *statusFlags) error {
	ctx := cmd.Context()
	if err := checkFormat(f.output, formatTable, formatJSON); err != nil {
		return err
	}
	if f.planFile == "" {
		return errors.New("missing --plan: pass the plan file the run executes")
	}
	p, err := plan.Load(f.planFile)
	if err != nil {
		return err
	}
	log, closeLog, err := openRunLog("", cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer closeLog()
	env, err := openEnv(ctx, &f.cluster, p, log)
	if err != nil {
		return err
	}
	store, cm, file, err := f.state.stores(env, f.planFile, p, 1)
	if err != nil {
		return err
	}
	prog, err := store.Load(ctx)
	if err != nil {
		return err
	}
	if prog == nil {
		return fmt.Errorf("no progress of plan %s (digest %s) in %s or %s: start the run with certwave run --plan %s", f.planFile, p.Digest(), cm.Object(), file, f.planFile)
	}
	scale, err := recordedTimeScale(ctx, cm)
	if err != nil {
		return err
	}
	scaled, err := plan.Scale(p, scale)
	if err != nil {
		return err
	}

	report := statusReport{Plan: f.planFile, PlanDigest: p.Digest(), Context: env.contextName, Progress: cm.Object()}
	if store.Loaded == "copy" {
		report.Progress = file
	}
	fillProgress(&report, scaled, prog)
	issued, err := engine.Issuances(ctx, env.world.Client(), p, &prog.Ledger, env.clock.Now(), log)
	if err != nil {
		return err
	}
	report.Budget = ledgerBudget(prog.Ledger, issued, p.Options.ACMEIssuer, env.clock.Now())

	var certs cmapi.CertificateList
	if err := env.world.Client().List(ctx, &certs); err != nil {
		return fmt.Errorf("list Certificates: %w", err)
	}
	report.Pending, report.Failing = certificateProblems(certs.Items)
	// -o json prints empty lists as [], not null.
	if report.Budget == nil {
		report.Budget = []bucket{}
	}
	if report.Pending == nil {
		report.Pending = []string{}
	}
	if report.Failing == nil {
		report.Failing = []string{}
	}

	if f.output == formatJSON {
		return writeStructured(cmd.OutOrStdout(), formatJSON, report)
	}
	writeStatus(cmd.OutOrStdout(), &report)
	return nil
}

// fillProgress sets the step counts, phase, wave and next step.
func fillProgress(r *statusReport, p *plan.Plan, prog *engine.Progress) {
	done := map[string]bool{}
	for _, id := range prog.Completed {
		done[id] = true
	}
	r.StepsTotal, r.StepsDone, r.Wave, r.LastStop = len(p.Steps), len(prog.Completed), prog.Wave, prog.LastStop
	for _, s := range p.Steps {
		if done[s.ID] {
			r.Phase = s.Phase
			continue
		}
		if r.NextStep == "" {
			r.NextStep = s.ID
			r.NextAt = s.At.UTC().Format(time.RFC3339)
		}
	}
	if prog.InFlight != nil {
		r.InFlight = fmt.Sprintf("%s since %s", prog.InFlight.Step, prog.InFlight.StartedAt.UTC().Format(time.RFC3339))
	}
}

// ledgerBudget replays the ledger's orders and authorization failures and
// the issuances (engine.Issuances, which include the ledger's) through
// Let's Encrypt's limits, and returns the buckets they touched, as left at
// now.
func ledgerBudget(ledger engine.Ledger, issued []engine.Issuance, account string, now time.Time) []bucket {
	var events []engine.ACMEEvent
	for _, w := range ledger.Waves {
		events = appendNotIssued(events, w.Events)
	}
	events = appendNotIssued(events, ledger.Other)
	for _, is := range issued {
		events = append(events, engine.ACMEEvent{At: is.At, Type: engine.ACMEIssued, Names: is.Names, Certificate: is.Certificate})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At.Before(events[j].At) })

	model, err := ratelimit.NewModel()
	if err != nil {
		return nil
	}
	domains, sets := map[string]bool{}, map[string]bool{}
	for _, ev := range events {
		order := ratelimit.Order{Account: account, Names: ev.Names}
		switch ev.Type {
		case engine.ACMEOrder:
			model.CheckNewOrder(ev.At, order)
		case engine.ACMEIssued:
			model.RecordIssuance(ev.At, order)
			sets[ratelimit.NameSetKey(ev.Names)] = true
		case engine.ACMEAuthzFailed:
			for _, n := range ev.Names {
				model.RecordAuthorizationFailure(ev.At, account, n)
			}
		}
		for _, n := range ev.Names {
			if d, err := ratelimit.RegisteredDomain(n); err == nil {
				domains[d] = true
			}
		}
	}
	if now.Before(latest(events)) {
		now = latest(events)
	}
	burst := map[ratelimit.Name]int64{}
	for _, l := range ratelimit.Limits() {
		burst[l.Name] = l.Burst
	}
	var out []bucket
	add := func(name ratelimit.Name, key string) {
		out = append(out, bucket{Limit: string(name), Key: key, Remaining: model.Remaining(now, name, key), Burst: burst[name]})
	}
	for _, d := range slices.Sorted(maps.Keys(domains)) {
		add(ratelimit.CertificatesPerDomain, d)
	}
	if len(events) > 0 {
		add(ratelimit.NewOrdersPerAccount, account)
	}
	for _, s := range slices.Sorted(maps.Keys(sets)) {
		add(ratelimit.DuplicateCertificate, s)
	}
	return out
}

// appendNotIssued appends the events that are not issuances.
func appendNotIssued(dst, events []engine.ACMEEvent) []engine.ACMEEvent {
	for _, ev := range events {
		if ev.Type != engine.ACMEIssued {
			dst = append(dst, ev)
		}
	}
	return dst
}

func latest(events []engine.ACMEEvent) time.Time {
	if len(events) == 0 {
		return time.Time{}
	}
	return events[len(events)-1].At
}

// certificateProblems splits the Certificates that are not Ready into
// pending (issuing or waiting) and failing (last issuance failed).
func certificateProblems(certs []cmapi.Certificate) (pending, failing []string) {
	for _, c := range certs {
		key := c.Namespace + "/" + c.Name
		ready, detail, failed := false, "no Ready condition yet", c.Status.LastFailureTime != nil
		for _, cond := range c.Status.Conditions {
			switch cond.Type {
			case cmapi.CertificateConditionReady:
				ready = cond.Status == cmmeta.ConditionTrue
				detail = fmt.Sprintf("Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
			case cmapi.CertificateConditionIssuing:
				if cond.Status == cmmeta.ConditionFalse && cond.Reason == "Failed" {
					failed = true
				}
			}
		}
		switch {
		case ready:
		case failed:
			failing = append(failing, key+": "+detail)
		default:
			pending = append(pending, key+": "+detail)
		}
	}
	return pending, failing
}

func writeStatus(w io.Writer, r *statusReport) {
	fmt.Fprintf(w, "Plan %s (digest %s), context %s\n", r.Plan, r.PlanDigest, r.Context)
	fmt.Fprintf(w, "Progress from %s: %d of %d steps done, phase %d, wave %s\n", r.Progress, r.StepsDone, r.StepsTotal, r.Phase, orDash(r.Wave))
	if r.InFlight != "" {
		fmt.Fprintf(w, "In flight: %s\n", r.InFlight)
	}
	if r.NextStep != "" {
		fmt.Fprintf(w, "Next step: %s, not before %s\n", r.NextStep, r.NextAt)
	} else {
		fmt.Fprintln(w, "Next step: none, the plan is complete")
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tBUCKET\tREMAINING\tBURST")
	for _, b := range r.Budget {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", b.Limit, b.Key, b.Remaining, b.Burst)
	}
	tw.Flush()
	if len(r.Budget) == 0 {
		fmt.Fprintln(w, "(no ACME events in the ledger yet)")
	}

	fmt.Fprintf(w, "\nPending Certificates: %d\n", len(r.Pending))
	for _, c := range r.Pending {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "Failing Certificates: %d\n", len(r.Failing))
	for _, c := range r.Failing {
		fmt.Fprintf(w, "  %s\n", c)
	}

	if s := r.LastStop; s != nil {
		fmt.Fprintf(w, "\nLast stop at %s, step %s: rule %s\n  %s\n", s.At.UTC().Format(time.RFC3339), orDash(s.Step), s.Rule, s.Reason)
		if len(s.Objects) > 0 {
			fmt.Fprintf(w, "  objects: %s\n", strings.Join(s.Objects, ", "))
		}
		fmt.Fprintf(w, "  next: %s\n", s.Next)
	} else {
		fmt.Fprintln(w, "\nLast stop: none")
	}
}
