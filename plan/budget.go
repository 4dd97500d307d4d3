package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// PlannedOrder is one ACME order a step causes: the shim's Certificate for
// an added listener, a Certificate the plan creates, or the canary's
// triggered renewal.
type PlannedOrder struct {
	At time.Time `json:"at"`
	// Step is the ID of the step that causes the order.
	Step string `json:"step"`
	// Certificate is namespace/name.
	Certificate string   `json:"certificate"`
	Names       []string `json:"names"`
	Renewal     bool     `json:"renewal,omitempty"`
}

// newLimitModel returns a fresh model of Let's Encrypt's limits.
func newLimitModel(kind string) (ratelimit.Model, error) {
	if kind == LimitModelSlidingWindow {
		return ratelimit.NewSlidingWindow(), nil
	}
	return ratelimit.NewModel()
}

// budgetRun replays the planned orders, in time order, against a limit
// model.
type budgetRun struct {
	opts    Options
	account string
	model   ratelimit.Model
	perTok  time.Duration

	refused int
	hard    *Breach
	reserve *Breach
	err     error
}

// projectBudget simulates the orders day by day from the start of
// Options.Start's UTC day to the day of end. It returns the projection and
// the first breach: an order Let's Encrypt would refuse or, failing that,
// one that would eat into Options.Reserve.
//
// Each order is checked and then issued at its step's time, so each check
// counts the tokens every earlier order spent. cert-manager issues an ACME
// certificate in about a minute, so this is the cautious reading of a wave
// whose orders all start at once.
func projectBudget(orders []PlannedOrder, opts Options, end time.Time) ([]BudgetDay, *Breach, error) {
	model, err := newLimitModel(opts.LimitModel)
	if err != nil {
		return nil, nil, fmt.Errorf("budget: creating the rate-limit model failed: %w", err)
	}
	run := &budgetRun{
		opts:    opts,
		account: opts.ACMEIssuer,
		model:   model,
		perTok:  limitOf(ratelimit.CertificatesPerDomain).Per,
	}
	domains, err := orderDomains(orders)
	if err != nil {
		return nil, nil, err
	}

	var days []BudgetDay
	next := 0
	first := opts.Start.Truncate(day)
	for dayStart := first; !dayStart.After(end); dayStart = dayStart.Add(day) {
		dayEnd := dayStart.Add(day)
		bd := BudgetDay{Date: dayStart, Reserve: opts.Reserve, Remaining: map[string]int64{}}
		sets := map[string]bool{}
		for ; next < len(orders) && orders[next].At.Before(dayEnd); next++ {
			o := orders[next]
			bd.Orders++
			if !run.place(next, orders, domains[next]) {
				bd.Refused++
			}
			sets[ratelimit.NameSetKey(o.Names)] = true
		}
		for _, d := range sortedKeys(domainSet(domains)) {
			bd.Remaining[remainingKey(ratelimit.CertificatesPerDomain, d)] = model.Remaining(dayEnd, ratelimit.CertificatesPerDomain, d)
		}
		if len(orders) > 0 {
			bd.Remaining[remainingKey(ratelimit.NewOrdersPerAccount, run.account)] = model.Remaining(dayEnd, ratelimit.NewOrdersPerAccount, run.account)
		}
		for _, set := range sortedKeys(sets) {
			bd.Remaining[remainingKey(ratelimit.DuplicateCertificate, set)] = model.Remaining(dayEnd, ratelimit.DuplicateCertificate, set)
		}
		days = append(days, bd)
	}

	if run.err != nil {
		return nil, nil, run.err
	}
	breach := run.hard
	if breach != nil {
		breach.Detail += fmt.Sprintf(" %d of the %d planned orders are refused.", run.refused, len(orders))
		if run.refused > 1 && breach.Limit == string(ratelimit.CertificatesPerDomain) && opts.LimitModel != LimitModelSlidingWindow {
			// An estimate: the token bucket returns one certificate per
			// refill interval, and nothing else issues meanwhile.
			all := breach.Until.Add(time.Duration(run.refused-1) * run.perTok)
			breach.Detail += fmt.Sprintf(" Placed one per refill (every %s), the last of them fits from about %s.",
				formatDuration(run.perTok), all.Format(time.RFC3339))
		}
	}
	if breach == nil {
		breach = run.reserve
	} else if run.reserve != nil {
		breach.Detail += fmt.Sprintf(" The reserve of %d was already used from %s on.", opts.Reserve, run.reserve.At.Format(time.RFC3339))
	}
	return days, breach, nil
}

// place checks and issues order i; it returns false when the order is
// refused.
func (r *budgetRun) place(i int, orders []PlannedOrder, domains []string) bool {
	o := orders[i]
	renewal := r.model.IsRenewal(o.At, o.Names)
	if !renewal && r.reserve == nil {
		for _, d := range domains {
			left := r.model.Remaining(o.At, ratelimit.CertificatesPerDomain, d)
			if left-1 >= r.opts.Reserve {
				continue
			}
			// NOTE: Until counts whole tokens from now, so it may be up to one
			// refill interval late.
			wait := time.Duration(r.opts.Reserve+1-left) * r.perTok
			r.reserve = &Breach{
				Limit: string(ratelimit.CertificatesPerDomain),
				Key:   d,
				At:    o.At,
				Until: o.At.Add(wait),
				Detail: fmt.Sprintf("Order %d of %d (step %s, %s) would leave %d certificates for %s, below the reserve of %d kept for retries and the wildcard's renewal; "+
					"the reserve is whole again about %s later.", i+1, len(orders), o.Step, strings.Join(o.Names, ","), left-1, d, r.opts.Reserve, formatDuration(wait)),
			}
			break
		}
	}

	order := ratelimit.Order{Account: r.account, Names: o.Names}
	decision := r.model.CheckNewOrder(o.At, order)
	if decision.Allowed {
		r.model.RecordIssuance(o.At, order)
		return true
	}
	if decision.Error != "" {
		if r.err == nil {
			r.err = fmt.Errorf("budget: the rate-limit model could not decide order %d (step %s): %s", i+1, o.Step, decision.Error)
		}
		return false
	}
	r.refused++
	if r.hard == nil {
		limit := limitOf(ratelimit.Name(decision.Limit))
		r.hard = &Breach{
			Limit: string(decision.Limit),
			Key:   decision.Key,
			At:    o.At,
			Until: o.At.Add(decision.RetryIn),
			Detail: fmt.Sprintf("Order %d of %d (step %s, %s) is refused: %s allows %d at once for %s and returns one every %s.",
				i+1, len(orders), o.Step, strings.Join(o.Names, ","), decision.Limit, limit.Burst, decision.Key, formatDuration(limit.Per.Round(time.Minute))),
		}
	}
	return false
}

// orderDomains returns the registered domains of each order's names.
func orderDomains(orders []PlannedOrder) ([][]string, error) {
	out := make([][]string, len(orders))
	for i, o := range orders {
		for _, n := range o.Names {
			d, err := ratelimit.RegisteredDomain(n)
			if err != nil {
				return nil, fmt.Errorf("budget: order for Certificate %s: %w", o.Certificate, err)
			}
			out[i] = appendUnique(out[i], d)
		}
	}
	return out, nil
}

func domainSet(domains [][]string) map[string]bool {
	set := map[string]bool{}
	for _, list := range domains {
		for _, d := range list {
			set[d] = true
		}
	}
	return set
}

// remainingKey is the key of BudgetDay.Remaining: limit:bucket.
func remainingKey(limit ratelimit.Name, key string) string {
	return string(limit) + ":" + key
}

// sortOrders sorts orders by time, keeping step order for equal times.
func sortOrders(orders []PlannedOrder) {
	sort.SliceStable(orders, func(i, j int) bool { return orders[i].At.Before(orders[j].At) })
}
