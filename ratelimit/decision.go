package ratelimit

import (
	"maps"
	"time"
)

// reading is the state of one bucket that a request needs.
type reading struct {
	limit Name
	key   string
	// remaining counts the requests the bucket allows after this one when
	// retryIn is zero, and before it otherwise.
	remaining int64
	// retryIn is zero when the bucket allows the request.
	retryIn time.Duration
}

// refuses reports whether the bucket refuses the request.
func (r reading) refuses() bool { return r.retryIn > 0 }

// decide combines the readings of one request. A refusal reports the
// refusing bucket with the longest RetryIn, because Let's Encrypt reports
// the latest reset when several limits are hit. An allowed request reports
// the bucket with the fewest remaining requests, and a tie goes to the
// earlier reading.
func decide(readings []reading) Decision {
	var worst, tightest *reading
	for i := range readings {
		r := &readings[i]
		if r.refuses() {
			if worst == nil || r.retryIn > worst.retryIn {
				worst = r
			}
			continue
		}
		if tightest == nil || r.remaining < tightest.remaining {
			tightest = r
		}
	}
	switch {
	case worst != nil:
		return Decision{Allowed: false, Limit: worst.limit, Key: worst.key, Remaining: worst.remaining, RetryIn: worst.retryIn}
	case tightest != nil:
		return Decision{Allowed: true, Limit: tightest.limit, Key: tightest.key, Remaining: tightest.remaining}
	default:
		return Decision{Allowed: true}
	}
}

// invalid returns the refusal for a request that could not be evaluated.
func invalid(err error) Decision {
	return Decision{Allowed: false, Error: err.Error()}
}

// issuedSets records the latest issuance of each name set (by NameSetKey),
// to whichever account, for the renewal exemption.
type issuedSets map[string]time.Time

// isRenewal reports whether the name set was issued within RenewalWindow
// before now. An issuance exactly RenewalWindow ago no longer counts,
// because Boulder looks for issuances strictly after now minus the window.
func (s issuedSets) isRenewal(now time.Time, setKey string) bool {
	issued, ok := s[setKey]
	return ok && issued.After(now.Add(-RenewalWindow))
}

// record stores an issuance of the name set at now.
func (s issuedSets) record(now time.Time, setKey string) {
	if prev, ok := s[setKey]; !ok || now.After(prev) {
		s[setKey] = now
	}
}

// live returns a copy without the issuances that can no longer make an order
// a renewal at now.
func (s issuedSets) live(now time.Time) map[string]time.Time {
	out := maps.Clone(map[string]time.Time(s))
	maps.DeleteFunc(out, func(setKey string, _ time.Time) bool {
		return !s.isRenewal(now, setKey)
	})
	return out
}
