// Package ratelimit decides Let's Encrypt's rate limits for certwave's
// planner, simulator, ACME front and real-run ledger. The limits are data;
// the default Model decides them with Let's Encrypt's own limiter code
// (Boulder's ratelimits package) on a clock the caller sets, and a legacy
// sliding-window Model reproduces the pre-2025 behaviour for comparison.
package ratelimit

import "time"

// Name identifies one Let's Encrypt limit.
type Name string

// The limits certwave tracks (letsencrypt.org/docs/rate-limits, checked
// 2026-12).
const (
	CertificatesPerDomain             Name = "CertificatesPerDomain"
	DuplicateCertificate              Name = "CertificatesPerFQDNSet"
	NewOrdersPerAccount               Name = "NewOrdersPerAccount"
	FailedAuthorizationsPerIdentifier Name = "FailedAuthorizationsPerDomainPerAccount"
	ConsecutiveAuthorizationFailures  Name = "FailedAuthorizationsForPausingPerDomainPerAccount"
)

// Order is an ACME order as the limits see it: the requesting account and
// the identifiers (DNS names) of the certificate.
type Order struct {
	Account string
	Names   []string
	// Replaces is set when the order is an ARI replacement of an earlier
	// certificate (RFC 9773); Let's Encrypt exempts it like a renewal.
	Replaces bool
}

// Decision is the outcome of one check.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Limit is the limit that refused the request, or the tightest one that
	// allowed it.
	Limit Name `json:"limit"`
	// Key is the bucket, for example the registered domain or the name set.
	Key string `json:"key"`
	// Remaining is the number of requests the bucket still allows now: after
	// this request when it is allowed, before it when it is refused.
	Remaining int64 `json:"remaining"`
	// RetryIn is how long to wait before the refused request can succeed;
	// zero when allowed. With several refusing limits it is the latest.
	RetryIn time.Duration `json:"retryIn,omitempty"`
	// Renewal is true when the order was exempt as a renewal. An ARI
	// replacement is exempt from every order-time check, so its Limit and
	// Key are empty.
	Renewal bool `json:"renewal,omitempty"`
	// Error is set when the request could not be evaluated, for example an
	// order without names. The request is then refused with no Limit.
	Error string `json:"error,omitempty"`
}

// Model decides and records Let's Encrypt's limits. Every method takes the
// time of the event, so a Model never reads a wall clock and a simulation
// replays exactly. Times passed to one Model must not go backwards.
type Model interface {
	// CheckNewOrder decides whether Let's Encrypt accepts a new order now.
	// It spends a new-order token when allowed and checks, without
	// spending, the per-domain and duplicate-certificate buckets; renewals
	// and ARI replacements skip the per-domain check.
	CheckNewOrder(now time.Time, o Order) Decision
	// RecordIssuance spends the per-domain tokens (unless a renewal) and a
	// duplicate-certificate token, and remembers the name set for the
	// renewal exemption.
	RecordIssuance(now time.Time, o Order)
	// RecordAuthorizationFailure spends a failed-authorization token and a
	// consecutive-failure token for the identifier.
	RecordAuthorizationFailure(now time.Time, account, identifier string)
	// CheckAuthorization decides whether the account may try to validate
	// the identifier now (failed authorizations and pausing).
	CheckAuthorization(now time.Time, account, identifier string) Decision
	// RecordAuthorizationSuccess resets the consecutive-failure count.
	RecordAuthorizationSuccess(now time.Time, account, identifier string)
	// IsRenewal reports whether the exact name set was issued in the last
	// 120 days.
	IsRenewal(now time.Time, names []string) bool
	// Remaining reports how many requests the bucket key of limit name
	// allows now, without spending.
	Remaining(now time.Time, name Name, key string) int64
}
