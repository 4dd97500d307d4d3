package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/ratelimit"
	"github.com/certwave/certwave/scenarios"
)

// judge compares the run with the scenario's expectations and returns one
// message per expectation that did not hold.
func (r *run) judge(ctx context.Context) []string {
	var fails []string
	failf := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	e := r.s.Expect

	if r.clock != nil {
		for _, msg := range r.clock.errs {
			failf("scenario action failed: %s", msg)
		}
	}

	if e.PlanRefused != "" {
		var breach *plan.BreachError
		switch {
		case !errors.As(r.planErr, &breach):
			failf("expected the plan to be refused for %s, but it was accepted", e.PlanRefused)
		case breach.Breach.Limit != e.PlanRefused:
			failf("plan refused for %s, expected %s", breach.Breach.Limit, e.PlanRefused)
		default:
			r.note("plan rejected: %s", breach.Error())
		}
	} else if r.planErr != nil {
		failf("plan refused unexpectedly: %v", r.planErr)
	}

	if r.plan != nil {
		fails = append(fails, judgeFindings(r.plan.Findings, e.Findings, e.NoFindings)...)
	}
	if r.world == nil {
		return fails
	}

	fails = append(fails, r.judgeStop()...)
	orders := r.world.ACMEOrders()
	if e.MaxACMEOrders != nil && orders > *e.MaxACMEOrders {
		failf("%d ACME orders, expected at most %d", orders, *e.MaxACMEOrders)
	}
	if e.MinACMEOrders != nil && orders < *e.MinACMEOrders {
		failf("%d ACME orders, expected at least %d", orders, *e.MinACMEOrders)
	}

	avail := r.availability()
	if e.MinAvailability != nil {
		if host, min := lowest(avail); min < *e.MinAvailability {
			failf("availability of %s fell to %.4f, expected at least %.4f", host, min, *e.MinAvailability)
		}
	}
	for _, host := range e.Unavailable {
		if a, ok := avail[host]; !ok || a >= 1 {
			failf("%s was never down (availability %.4f), expected an outage", host, a)
		}
	}
	fails = append(fails, r.judgeUnreachable(ctx)...)
	fails = append(fails, r.judgeListeners(ctx)...)

	days := r.end.Sub(r.start).Hours() / 24
	if e.MaxDays != nil && days > *e.MaxDays {
		failf("the run took %.1f days, expected at most %.1f", days, *e.MaxDays)
	}
	if e.MinDays != nil && days < *e.MinDays {
		failf("the run took %.1f days, expected at least %.1f", days, *e.MinDays)
	}
	if e.Completed {
		fails = append(fails, r.judgeCompleted()...)
	}
	if e.EndState != nil {
		fails = append(fails, r.judgeEndState(ctx, e.EndState)...)
	}
	fails = append(fails, judgeTrace(r.world.Trace(), e.Trace, e.NoTrace)...)
	if e.RollbackOrders != nil && r.rbCost != *e.RollbackOrders {
		failf("the rollback cost %d ACME orders, expected %d", r.rbCost, *e.RollbackOrders)
	}
	if e.LockedOut != nil {
		fails = append(fails, r.judgeLockOut(ctx, e.LockedOut)...)
	}
	if len(e.Renewals) > 0 || e.CTExposed != nil {
		events, err := r.world.ACME().ACMEEvents(ctx, time.Time{})
		if err != nil {
			failf("reading ACME events: %v", err)
		}
		fails = append(fails, judgeRenewals(events, e.Renewals, r.end)...)
		if e.CTExposed != nil {
			fails = append(fails, r.judgeCT(events, *e.CTExposed)...)
		}
	}
	return fails
}

func (r *run) judgeStop() []string {
	want := r.s.Expect.Stop
	var fails []string
	switch {
	case want == "":
	case want == "none" && r.stop != nil:
		fails = append(fails, fmt.Sprintf("expected the run to finish, but it stopped: %s", r.stop))
	case want != "none" && r.stop == nil:
		fails = append(fails, fmt.Sprintf("expected a stop by rule %s, but the run did not stop", want))
	case want != "none" && r.stop.Rule != want:
		fails = append(fails, fmt.Sprintf("stopped by rule %s (%s), expected %s", r.stop.Rule, r.stop.Reason, want))
	}
	if len(r.s.Expect.Stops) > 0 && strings.Join(r.stops, ",") != strings.Join(r.s.Expect.Stops, ",") {
		fails = append(fails, fmt.Sprintf("stops were [%s], expected [%s]", strings.Join(r.stops, ", "), strings.Join(r.s.Expect.Stops, ", ")))
	}
	if r.s.Expect.SecretsKept && r.stop != nil && !r.kept {
		fails = append(fails, "a Certificate or Secret that existed before the run was gone at the stop")
	}
	return fails
}

func (r *run) judgeCompleted() []string {
	done := map[string]int{}
	for _, id := range r.engine.Completed {
		done[id]++
	}
	var missing, repeated []string
	for _, s := range r.plan.Steps {
		switch n := done[s.ID]; {
		case n == 0:
			missing = append(missing, s.ID)
		case n > 1:
			repeated = append(repeated, s.ID)
		}
	}
	var fails []string
	if len(missing) > 0 {
		fails = append(fails, fmt.Sprintf("%d of %d steps not completed, first %s", len(missing), len(r.plan.Steps), missing[0]))
	}
	if len(repeated) > 0 {
		fails = append(fails, fmt.Sprintf("steps completed more than once: %v", repeated))
	}
	return fails
}

// judgeLockOut finds the latest time until which Let's Encrypt refused
// new certificates for the registered domain, from the ACME refusals of
// the run (refusal time plus Retry-After).
func (r *run) judgeLockOut(ctx context.Context, want *scenarios.LockOut) []string {
	domain, err := ratelimit.RegisteredDomain(r.inv.Domain)
	if err != nil {
		return []string{fmt.Sprintf("registered domain of %q: %v", r.inv.Domain, err)}
	}
	events, err := r.world.ACME().ACMEEvents(ctx, time.Time{})
	if err != nil {
		return []string{fmt.Sprintf("reading ACME events: %v", err)}
	}
	var until time.Time
	for _, ev := range events {
		if ev.Type == engine.ACMERefused && ev.Limit == want.Limit && ev.At.Add(ev.RetryIn).After(until) {
			until = ev.At.Add(ev.RetryIn)
		}
	}
	at := r.end
	if r.stop != nil {
		at = r.stop.At
	}
	if until.IsZero() {
		return []string{fmt.Sprintf("no ACME order was refused by %s for %s, expected a lock-out", want.Limit, domain)}
	}
	if until.Sub(at) < want.AtLeast.D() {
		return []string{fmt.Sprintf("new certificates for %s locked out until %s (%s after the stop), expected at least %s",
			domain, until.Format(time.RFC3339), until.Sub(at).Round(time.Minute), want.AtLeast.D())}
	}
	r.note("new certificates for %s locked out by %s until %s (%s after the stop)",
		domain, want.Limit, until.Format(time.RFC3339), until.Sub(at).Round(time.Minute))
	return nil
}

func judgeFindings(got []plan.Finding, want, absent []string) []string {
	ids := map[string]bool{}
	for _, f := range got {
		ids[f.ID] = true
	}
	var fails []string
	for _, id := range want {
		if !ids[id] {
			fails = append(fails, fmt.Sprintf("finding %s not reported (got %v)", id, sortedIDs(ids)))
		}
	}
	for _, id := range absent {
		if ids[id] {
			fails = append(fails, fmt.Sprintf("finding %s reported, expected none", id))
		}
	}
	return fails
}

func judgeTrace(trace []TraceEvent, want, absent []scenarios.TraceMatch) []string {
	var fails []string
	for _, m := range want {
		n := countMatches(trace, m)
		switch {
		case m.Count != nil && n != *m.Count:
			fails = append(fails, fmt.Sprintf("trace has %d events matching %s, expected %d", n, describe(m), *m.Count))
		case m.Count == nil && n < max(1, m.MinCount):
			fails = append(fails, fmt.Sprintf("trace has %d events matching %s, expected at least %d", n, describe(m), max(1, m.MinCount)))
		}
	}
	for _, m := range absent {
		if n := countMatches(trace, m); n > 0 {
			fails = append(fails, fmt.Sprintf("trace has %d events matching %s, expected none", n, describe(m)))
		}
	}
	return fails
}

func countMatches(trace []TraceEvent, m scenarios.TraceMatch) int {
	n := 0
	for _, ev := range trace {
		if m.Kind != "" && ev.Kind != m.Kind {
			continue
		}
		if !strings.Contains(ev.Object, m.Object) || !strings.Contains(ev.Detail, m.Detail) {
			continue
		}
		n++
	}
	return n
}

func describe(m scenarios.TraceMatch) string {
	return fmt.Sprintf("kind=%q object~%q detail~%q", m.Kind, m.Object, m.Detail)
}

// judgeRenewals checks the time between issuances of each Certificate
// after the engine finished: from the last issuance of the run (which may
// be the canary's triggered renewal) to the natural renewals that follow.
func judgeRenewals(events []engine.ACMEEvent, want []scenarios.RenewalExpect, end time.Time) []string {
	var fails []string
	for _, rw := range want {
		var times []time.Time
		for _, ev := range events {
			if ev.Type != engine.ACMEIssued || ev.Certificate != rw.Certificate {
				continue
			}
			if !ev.At.After(end) {
				times = times[:0]
			}
			times = append(times, ev.At)
		}
		if len(times) < 2 {
			fails = append(fails, fmt.Sprintf("%s issued %d times, expected at least one renewal", rw.Certificate, len(times)))
			continue
		}
		tol := rw.Tolerance.D()
		if rw.FirstAfter != 0 {
			got := times[1].Sub(times[0])
			if math.Abs(float64(got-rw.FirstAfter.D())) > float64(tol) {
				fails = append(fails, fmt.Sprintf("%s first renewed after %.2f days, expected %.2f ± %.2f",
					rw.Certificate, days(got), days(rw.FirstAfter.D()), days(tol)))
			}
		}
		if rw.Every != 0 {
			avg := times[len(times)-1].Sub(times[0]) / time.Duration(len(times)-1)
			if math.Abs(float64(avg-rw.Every.D())) > float64(tol) {
				fails = append(fails, fmt.Sprintf("%s renewed every %.2f days on average (%d issuances), expected %.2f ± %.2f",
					rw.Certificate, days(avg), len(times), days(rw.Every.D()), days(tol)))
			}
		}
	}
	return fails
}

// judgeCT counts the hostnames of internal Gateways that ACME certificates
// published, since Let's Encrypt logs every certificate it issues in
// Certificate Transparency logs.
func (r *run) judgeCT(events []engine.ACMEEvent, want int) []string {
	internal := map[string]bool{}
	for _, a := range r.inv.Attachments() {
		if strings.HasSuffix(a.Gateway, "/internal") {
			if rt := r.inv.Route(splitKey(a.Route)); rt != nil {
				for _, h := range rt.Hostnames {
					internal[h] = true
				}
			}
		}
	}
	exposed := map[string]bool{}
	for _, ev := range events {
		if ev.Type != engine.ACMEIssued {
			continue
		}
		for _, n := range ev.Names {
			if internal[n] {
				exposed[n] = true
			}
		}
	}
	names := sortedIDs(exposed)
	if len(names) > 0 {
		shown := names
		if len(shown) > 8 {
			shown = append(shown[:8:8], "...")
		}
		r.note("%d internal hostnames exposed in Certificate Transparency logs: %s", len(names), strings.Join(shown, ", "))
	}
	if len(names) < want {
		return []string{fmt.Sprintf("%d internal hostnames in ACME certificates, expected at least %d", len(names), want)}
	}
	return nil
}

func splitKey(key string) (string, string) {
	ns, name, _ := strings.Cut(key, "/")
	return ns, name
}

func lowest(avail map[string]float64) (string, float64) {
	host, min := "", 1.0
	for _, h := range sortedIDs(toSet(avail)) {
		if avail[h] < min {
			host, min = h, avail[h]
		}
	}
	return host, min
}

func minAvailability(avail map[string]float64) float64 {
	_, min := lowest(avail)
	return min
}

func toSet(m map[string]float64) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedIDs(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func days(d time.Duration) float64 { return d.Hours() / 24 }
