package plan

import (
	"fmt"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// maxLowerBoundWaves stops the lower-bound search if a bucket never allows
// the remaining orders. Every bucket refills and resolveOptions keeps
// Reserve below the per-domain burst, so the limit is a guard only.
const maxLowerBoundWaves = 100000

// lowerBound returns the shortest public span any schedule of the same new
// public orders could have under the same soak policy and limits. That
// schedule issues the canary at the first order's time and soaks
// CanarySoak. Then it runs one wave per WaveSoak with no daily cap, each as
// large as the per-domain buckets allow above Options.Reserve, and soaks
// WaveSoak after the last wave. With only a canary the bound is CanarySoak.
// Renewal orders do not count.
func lowerBound(orders []PlannedOrder, opts Options) (time.Duration, error) {
	var pending [][]string
	var start time.Time
	for _, o := range orders {
		if o.Renewal {
			continue
		}
		if len(pending) == 0 {
			start = o.At
		}
		pending = append(pending, o.Names)
	}
	if len(pending) == 0 {
		return 0, nil
	}
	model, err := newLimitModel(opts.LimitModel)
	if err != nil {
		return 0, fmt.Errorf("lower bound: creating the rate-limit model failed: %w", err)
	}
	account := opts.ACMEIssuer

	issue := func(at time.Time, names []string) (bool, error) {
		for _, n := range names {
			d, err := ratelimit.RegisteredDomain(n)
			if err != nil {
				return false, fmt.Errorf("lower bound: %w", err)
			}
			if model.Remaining(at, ratelimit.CertificatesPerDomain, d)-1 < opts.Reserve {
				return false, nil
			}
		}
		o := ratelimit.Order{Account: account, Names: names}
		if !model.CheckNewOrder(at, o).Allowed {
			return false, nil
		}
		model.RecordIssuance(at, o)
		return true, nil
	}

	if _, err := issue(start, pending[0]); err != nil {
		return 0, err
	}
	pending = pending[1:]
	if len(pending) == 0 {
		return opts.CanarySoak, nil
	}

	step := opts.WaveSoak
	if step <= 0 {
		step = limitOf(ratelimit.CertificatesPerDomain).Per
	}
	at := start.Add(opts.CanarySoak)
	last := at
	for waves := 0; len(pending) > 0; waves++ {
		if waves > maxLowerBoundWaves {
			return 0, fmt.Errorf("lower bound: %d orders still not allowed after %d waves", len(pending), waves)
		}
		var rest [][]string
		for _, names := range pending {
			ok, err := issue(at, names)
			if err != nil {
				return 0, err
			}
			if !ok {
				rest = append(rest, names)
			}
		}
		if len(rest) < len(pending) {
			last = at
		}
		pending = rest
		at = at.Add(step)
	}
	return last.Add(opts.WaveSoak).Sub(start), nil
}
