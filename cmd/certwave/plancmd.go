package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/ratelimit"
)

type planFlags struct {
	src              sourceFlags
	output           string
	outFile          string
	variant          string
	internalGateways []string
	start            string
	waveSize         int
	waveSoak         time.Duration
	canarySoak       time.Duration
	internalBatch    int
	profile          string
	acmeIssuer       string
	duration         time.Duration
	reserve          int64
	force            bool
}

func newPlanCommand() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Build the migration plan: cohorts, findings, phases, waves with calendar times, rate-limit budget",
		Long: `plan splits the routes into cohorts (public hosts get ACME certificates,
hosts on the internal Gateways get certificates from a private CA), runs the
preflight checks and schedules the runbook's phases:

  0  preflight, annotate the Gateways that are safe to annotate
  1  private CA and the internal Gateway, in batches (skipped by all-acme)
  2  one public canary, a soak and one observed renewal
  3  public waves, a soak between waves
  4  Gateways on mirrored Secrets, then remove the wildcard

It projects Let's Encrypt's buckets day by day and refuses a plan that would
breach a limit unless --force is given; then it says which limit and until
when issuance is locked out.

The header gives the plan's whole span, the span of its public orders
(from the canary's order to the end of the soak after the last public
order, phase 4 included), and the lower bound of that span: the shortest
time any schedule of the same public orders could take with the same soaks
and rate limits, with waves as large as the per-domain buckets allow and no
daily cap. The public span is longer when the plan caps waves per day; a
forced plan's can be shorter, because it ignores the limits.

Exit status: 0 when the plan was made (blocker findings included: the
engine stops on them at preflight), 2 when it breaches a rate limit and
--force is not given, 1 on invalid input or other errors.`,
		Example: `  certwave plan --reference
  certwave plan --from-dir ./home-ops --set SECRET_DOMAIN=example.com --out plan.yaml
  certwave plan --reference --variant all-acme -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(cmd, &f)
		},
	}
	f.src.register(cmd)
	fl := cmd.Flags()
	def := plan.DefaultOptions(time.Time{})
	fl.StringVarP(&f.output, "output", "o", formatTable, "output format: table, json or yaml")
	fl.StringVar(&f.outFile, "out", "", "also write the plan as YAML to this file")
	fl.StringVar(&f.variant, "variant", string(def.Variant), "hybrid (internal Gateways from a private CA) or all-acme (every route through ACME)")
	fl.StringArrayVar(&f.internalGateways, "internal-gateway", nil, "namespace/name of a Gateway whose hosts get private-CA certificates; repeatable (default: every Gateway named internal)")
	fl.StringVar(&f.start, "start", "", "calendar time of the first step, RFC 3339 (default: tomorrow 09:00 UTC)")
	fl.IntVar(&f.waveSize, "wave-size", def.WaveSize, "public hosts per wave")
	fl.DurationVar(&f.waveSoak, "wave-soak", def.WaveSoak, "soak after each public wave, as a Go duration (12h)")
	fl.DurationVar(&f.canarySoak, "canary-soak", def.CanarySoak, "soak after the canary, as a Go duration (24h)")
	fl.IntVar(&f.internalBatch, "internal-batch", def.InternalBatchSize, "internal hosts per batch in phase 1")
	fl.StringVar(&f.acmeIssuer, "acme-issuer", "", "ClusterIssuer/NAME or Issuer/NAME of the public hosts' ACME certificates (default: the ClusterIssuer whose server is Let's Encrypt's, production before staging)")
	fl.StringVar(&f.profile, "profile", "", "ACME profile of the issuer: classic, tlsserver or shortlived (default: the issuer's, else classic)")
	fl.DurationVar(&f.duration, "duration", 0, "cert-manager.io/duration to set on the Gateways, as a Go duration (default: leave it to the issuer)")
	fl.Int64Var(&f.reserve, "reserve", def.Reserve, "certificates per registered domain held back for retries and the wildcard's renewal")
	fl.BoolVar(&f.force, "force", false, "produce a plan even when it breaches a rate limit (it then says which and until when)")
	return cmd
}

func runPlan(cmd *cobra.Command, f *planFlags) error {
	if err := checkFormat(f.output, formatTable, formatJSON, formatYAML); err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	inv, err := f.src.load(cmd.Context())
	if err != nil {
		return err
	}
	p, err := plan.New(inv, opts)
	var breach *plan.BreachError
	if errors.As(err, &breach) {
		return withCode(exitFailed, fmt.Errorf("%s. Shrink --wave-size, lengthen --wave-soak, or pass --force to see the locked-out plan", strings.TrimSuffix(err.Error(), ".")))
	}
	if err != nil && f.acmeIssuer == "" && strings.Contains(err.Error(), "no Let's Encrypt ClusterIssuer") {
		return fmt.Errorf("%w (with --acme-issuer ClusterIssuer/NAME)", err)
	}
	if err != nil {
		return err
	}
	p.Context = f.src.loadedContext
	if f.outFile != "" {
		if err := writePlanFile(f.outFile, p); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (digest %s)\n", f.outFile, p.Digest())
	}
	if f.output != formatTable {
		return writeStructured(cmd.OutOrStdout(), f.output, p)
	}
	writePlanTable(cmd.OutOrStdout(), p)
	return nil
}

func (f *planFlags) options() (plan.Options, error) {
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 9*time.Hour)
	if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return plan.Options{}, fmt.Errorf("invalid --start %q: want RFC 3339, for example 2027-01-04T09:00:00Z", f.start)
		}
		start = t
	}
	opts := plan.DefaultOptions(start)
	switch plan.Variant(f.variant) {
	case plan.VariantHybrid, plan.VariantAllACME:
		opts.Variant = plan.Variant(f.variant)
	default:
		return opts, fmt.Errorf("invalid --variant %q: use hybrid or all-acme", f.variant)
	}
	for _, gw := range f.internalGateways {
		if strings.Count(gw, "/") != 1 {
			return opts, fmt.Errorf("invalid --internal-gateway %q: want namespace/name, for example network/internal", gw)
		}
	}
	if len(f.internalGateways) > 0 {
		opts.InternalGateways = f.internalGateways
	}
	if f.waveSize < 1 {
		return opts, fmt.Errorf("invalid --wave-size %d: want 1 or more", f.waveSize)
	}
	if f.internalBatch < 1 {
		return opts, fmt.Errorf("invalid --internal-batch %d: want 1 or more", f.internalBatch)
	}
	if f.waveSoak < 0 || f.canarySoak < 0 {
		return opts, fmt.Errorf("invalid soak: --wave-soak and --canary-soak must not be negative")
	}
	for _, l := range ratelimit.Limits() {
		if l.Name == ratelimit.CertificatesPerDomain && (f.reserve < 0 || f.reserve >= l.Burst) {
			return opts, fmt.Errorf("invalid --reserve %d: want 0 to %d, below the %s burst of %d", f.reserve, l.Burst-1, l.Name, l.Burst)
		}
	}
	switch f.profile {
	case "", "classic", "tlsserver", "shortlived":
	default:
		return opts, fmt.Errorf("invalid --profile %q: use classic, tlsserver or shortlived", f.profile)
	}
	if f.profile != "" {
		opts.Profile = f.profile
	}
	if f.acmeIssuer != "" {
		kind, name, ok := strings.Cut(f.acmeIssuer, "/")
		if !ok || name == "" || strings.Contains(name, "/") || (kind != "ClusterIssuer" && kind != "Issuer") {
			return opts, fmt.Errorf("invalid --acme-issuer %q: want ClusterIssuer/NAME or Issuer/NAME, for example ClusterIssuer/letsencrypt-production", f.acmeIssuer)
		}
		opts.ACMEIssuer = f.acmeIssuer
	}
	opts.WaveSize = f.waveSize
	opts.WaveSoak = f.waveSoak
	opts.CanarySoak = f.canarySoak
	opts.InternalBatchSize = f.internalBatch
	opts.Duration = f.duration
	opts.Reserve = f.reserve
	opts.Force = f.force
	return opts, nil
}

func writePlanFile(path string, p *plan.Plan) error {
	out, err := p.YAML()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("writing plan: %w", err)
	}
	return os.Rename(tmp, path)
}

func writePlanTable(w io.Writer, p *plan.Plan) {
	fmt.Fprintf(w, "Plan for %s (%s, variant %s, profile %s)\n", orDash(p.Domain), p.Source, p.Options.Variant, orDash(p.Options.Profile))
	fmt.Fprintf(w, "Start %s   End %s   (%s in all; public orders over %s, lower bound %s)\n\n",
		p.Options.Start.Format(time.RFC3339), p.End.Format(time.RFC3339), days(p.End.Sub(p.Options.Start)), days(p.PublicSpan), days(p.LowerBound))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COHORT\tGATEWAYS\tHOSTS\tNOTE")
	for _, c := range p.Cohorts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", c.Name, strings.Join(c.Gateways, ","), len(c.Hosts), c.Reason)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tNAME\tWAVES\tSTEPS\tFIRST STEP\tLAST STEP")
	for _, ph := range p.Phases {
		steps, waves, first, last := phaseSummary(p, ph.Number)
		if ph.Skipped != "" {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\tskipped: %s\t\n", ph.Number, ph.Name, ph.Skipped)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\n", ph.Number, ph.Name, waves, steps, first, last)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tNEW ORDERS\tRESERVE\tREMAINING AT END OF DAY")
	for _, d := range p.Budget {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", d.Date.Format("2006-01-02"), d.Orders, d.Reserve, formatRemaining(d.Remaining))
	}
	tw.Flush()
	fmt.Fprintln(w)

	if p.Breach != nil {
		fmt.Fprintf(w, "BREACH (forced): %s for %s at %s; issuance locked out until %s. %s\n\n",
			p.Breach.Limit, p.Breach.Key, p.Breach.At.Format(time.RFC3339), p.Breach.Until.Format(time.RFC3339), p.Breach.Detail)
	}
	writeFindings(w, p.Findings)

	blockers := 0
	for _, f := range p.Findings {
		if f.Severity == plan.SeverityBlocker {
			blockers++
		}
	}
	if blockers > 0 {
		noun := "blocker findings"
		if blockers == 1 {
			noun = "blocker finding"
		}
		fmt.Fprintf(w, "\n%d %s: the engine stops at preflight until each is fixed or accepted (certwave run --accept-finding ID).\n", blockers, noun)
	}
}

func phaseSummary(p *plan.Plan, phase int) (steps, waves int, first, last string) {
	seen := map[int]bool{}
	for _, s := range p.Steps {
		if s.Phase != phase {
			continue
		}
		steps++
		if s.Wave > 0 && !seen[s.Wave] {
			seen[s.Wave] = true
			waves++
		}
		if first == "" {
			first = s.At.Format("2006-01-02 15:04")
		}
		last = s.At.Format("2006-01-02 15:04")
	}
	return steps, waves, first, last
}

// formatRemaining shows the per-domain and per-account buckets one by one
// and the duplicate-certificate buckets (one per name set) as their count
// and lowest value, which keeps a day on one line.
func formatRemaining(m map[string]int64) string {
	var parts []string
	duplicates, lowest := 0, int64(-1)
	for _, k := range sortedKeys(m) {
		if strings.HasPrefix(k, "CertificatesPerFQDNSet:") {
			duplicates++
			if lowest < 0 || m[k] < lowest {
				lowest = m[k]
			}
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if duplicates > 0 {
		parts = append(parts, fmt.Sprintf("CertificatesPerFQDNSet: %d name sets, lowest %d", duplicates, lowest))
	}
	return strings.Join(parts, " ")
}

func days(d time.Duration) string {
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

// defaultStart returns tomorrow 09:00 UTC, the default start of a plan.
func defaultStart() time.Time {
	return time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 9*time.Hour)
}
