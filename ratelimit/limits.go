package ratelimit

import (
	"time"

	"github.com/letsencrypt/boulder/config"
	"github.com/letsencrypt/boulder/ratelimits"
)

// RenewalWindow is how far back an issuance of the exact same name set makes
// a new order a renewal (Boulder's WFE and RA query the last 120 days).
const RenewalWindow = 120 * 24 * time.Hour

const rateLimitsDoc = "https://letsencrypt.org/docs/rate-limits/"

// Limit is one Let's Encrypt limit as a token bucket: Burst tokens, refilled
// one token every Per, so an empty bucket is full again after Period.
type Limit struct {
	Name  Name
	Burst int64
	// Period is the time to refill the whole burst.
	Period time.Duration
	// Per is the time for one token to come back, Period/Burst exactly. The
	// Let's Encrypt documentation rounds it, to 202 min for 201m36s and to
	// 34 h for 33h36m.
	Per         time.Duration
	Description string
	// Source is the URL of the page that publishes the numbers.
	Source string
}

// Limits returns the Let's Encrypt limits certwave tracks, in a fixed order.
// The numbers follow the production defaults on
// letsencrypt.org/docs/rate-limits.
func Limits() []Limit {
	limits := []Limit{
		{
			Name:        CertificatesPerDomain,
			Burst:       50,
			Period:      7 * 24 * time.Hour,
			Description: "new certificates per registered domain, one token per registered domain in the certificate; renewals are exempt",
		},
		{
			Name:        DuplicateCertificate,
			Burst:       5,
			Period:      7 * 24 * time.Hour,
			Description: "certificates per exact set of names; renewals count",
		},
		{
			Name:        NewOrdersPerAccount,
			Burst:       300,
			Period:      3 * time.Hour,
			Description: "new orders per ACME account; renewals are exempt",
		},
		{
			Name:        FailedAuthorizationsPerIdentifier,
			Burst:       5,
			Period:      time.Hour,
			Description: "failed authorizations per identifier per account",
		},
		{
			// NOTE: the December 2024 version of the rate-limits page gave
			// 3,600 consecutive failures. 1,152 is the current figure as
			// certwave's design states it, not checked against the live page.
			Name:        ConsecutiveAuthorizationFailures,
			Burst:       1152,
			Period:      1152 * 24 * time.Hour,
			Description: "consecutive failed authorizations per identifier per account before Let's Encrypt pauses the identifier; a success resets the count",
		},
	}
	for i := range limits {
		limits[i].Per = limits[i].Period / time.Duration(limits[i].Burst)
		limits[i].Source = rateLimitsDoc
	}
	return limits
}

// limitByName returns the limit called name from Limits.
func limitByName(name Name) (Limit, bool) {
	for _, l := range Limits() {
		if l.Name == name {
			return l, true
		}
	}
	return Limit{}, false
}

// boulderDefaults converts limits to the defaults configuration of Boulder's
// ratelimits package. Count equals Burst, so one token comes back every
// Period/Burst, as in Let's Encrypt's production configuration.
func boulderDefaults(limits []Limit) ratelimits.LimitConfigs {
	configs := make(ratelimits.LimitConfigs, len(limits))
	for _, l := range limits {
		configs[string(l.Name)] = &ratelimits.LimitConfig{
			Burst:  l.Burst,
			Count:  l.Burst,
			Period: config.Duration{Duration: l.Period},
		}
	}
	return configs
}
