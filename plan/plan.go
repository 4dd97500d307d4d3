package plan

import (
	"errors"
	"fmt"
	"time"

	"github.com/certwave/certwave/topology"
)

// BreachError is returned by New when the plan would exceed a Let's Encrypt
// limit or eat into the reserve and Options.Force is off. Plan is the
// refused plan, with Breach set.
type BreachError struct {
	Breach Breach
	Plan   *Plan
}

func (e *BreachError) Error() string {
	return fmt.Sprintf("plan breaches %s for %s at %s; the next order for it fits from %s: %s",
		e.Breach.Limit, e.Breach.Key, e.Breach.At.Format(time.RFC3339), e.Breach.Until.Format(time.RFC3339), e.Breach.Detail)
}

// New plans the migration of inv under opts: cohorts, findings, the steps
// of phases 0 to 4 with calendar times, the ACME orders they cause, the
// day-by-day rate-limit budget and the lower bound of the public span.
//
// Empty ACMEIssuer, Profile and InternalGateways are filled in from the
// inventory (see DefaultOptions); the plan records the resolved options. A
// plan that would breach a limit or the reserve returns a *BreachError,
// unless opts.Force, in which case it is returned with Breach set. Findings
// never make New fail: the preflight step stops on blockers when the plan
// runs.
func New(inv *topology.Inventory, opts Options) (*Plan, error) {
	if inv == nil {
		return nil, errors.New("plan: inventory is missing")
	}
	resolved, err := resolveOptions(inv, opts)
	if err != nil {
		return nil, err
	}

	a := analyze(inv, resolved)
	findings := a.findings()
	b := newBuilder(a, findings)
	if err := b.build(); err != nil {
		return nil, err
	}
	sortOrders(b.orders)

	p := &Plan{
		APIVersion: APIVersion,
		Source:     inv.Source,
		Domain:     inv.Domain,
		Options:    resolved,
		Cohorts:    a.cohorts(),
		Findings:   append([]Finding{}, findings...),
		Phases:     b.phases,
		Steps:      b.steps,
		Orders:     b.orders,
		End:        b.at,
		Inventory:  inv,
	}
	if !b.firstPublic.IsZero() {
		p.PublicSpan = b.publicEnd.Sub(b.firstPublic)
	}

	p.Budget, p.Breach, err = projectBudget(b.orders, resolved, p.End)
	if err != nil {
		return nil, err
	}
	p.LowerBound, err = lowerBound(b.orders, resolved)
	if err != nil {
		return nil, err
	}
	if p.Breach != nil && !resolved.Force {
		return nil, &BreachError{Breach: *p.Breach, Plan: p}
	}
	return p, nil
}
