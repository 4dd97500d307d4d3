package acme

import (
	"math"
	"time"
)

// Let's Encrypt's profile names (letsencrypt.org/docs/profiles).
const (
	ProfileClassic    = "classic"
	ProfileTLSServer  = "tlsserver"
	ProfileShortLived = "shortlived"
)

// PebbleProfile is a certificate profile in Pebble's configuration file
// (ca.Profile in Pebble v2.10.3).
type PebbleProfile struct {
	Description string `json:"description"`
	// PromoteCommonName copies the first DNS name into the subject common
	// name.
	PromoteCommonName bool `json:"promoteCommonName"`
	// ValidityPeriod is the certificate lifetime in seconds.
	ValidityPeriod uint64 `json:"validityPeriod"`
}

// The dates Let's Encrypt shortens lifetimes, from "Decreasing Certificate
// Lifetimes to 45 Days" (letsencrypt.org/2025/12/02/from-90-to-45): tlsserver
// issues 45-day certificates from 2026-05-13, classic 64-day ones from
// 2027-02-10 and 45-day ones from 2028-02-16.
var (
	tlsServerTo45Days = time.Date(2026, time.May, 13, 0, 0, 0, 0, time.UTC)
	classicTo64Days   = time.Date(2027, time.February, 10, 0, 0, 0, 0, time.UTC)
	classicTo45Days   = time.Date(2028, time.February, 16, 0, 0, 0, 0, time.UTC)
)

const day = 24 * time.Hour

// LetsEncryptLifetimes returns the certificate lifetime of each Let's
// Encrypt profile for a certificate issued at the given time. The profiles
// page (letsencrypt/website, content/en/docs/profiles.md, last modified
// 2026-09-08) gives classic 90 days, tlsserver 45 days and shortlived 160
// hours. The dates above shorten classic and tlsserver.
func LetsEncryptLifetimes(at time.Time) map[string]time.Duration {
	classic := 90 * day
	switch {
	case !at.Before(classicTo45Days):
		classic = 45 * day
	case !at.Before(classicTo64Days):
		classic = 64 * day
	}
	tlsServer := 90 * day
	if !at.Before(tlsServerTo45Days) {
		tlsServer = 45 * day
	}
	return map[string]time.Duration{
		ProfileClassic:    classic,
		ProfileTLSServer:  tlsServer,
		ProfileShortLived: 160 * time.Hour,
	}
}

// LetsEncryptProfiles returns Pebble profiles that mirror Let's Encrypt's
// profiles at the given time, with lifetimes divided by timeScale (values
// below 1 count as 1). Classic promotes the first name into the common name;
// tlsserver and shortlived omit it, as the profiles page states. A lifetime
// never drops below one second, because Pebble replaces zero with its
// 90-day default.
//
// NOTE: Let's Encrypt picks classic for an order without a profile, but
// Pebble v2.10.3 picks a random configured profile, so clients must always
// name one.
func LetsEncryptProfiles(at time.Time, timeScale float64) map[string]PebbleProfile {
	timeScale = max(timeScale, 1)
	profiles := map[string]PebbleProfile{}
	for name, lifetime := range LetsEncryptLifetimes(at) {
		seconds := math.Round(lifetime.Seconds() / timeScale)
		profiles[name] = PebbleProfile{
			Description:       "mirrors Let's Encrypt's " + name + " profile, lifetime " + lifetime.String() + " divided by the time scale",
			PromoteCommonName: name == ProfileClassic,
			ValidityPeriod:    uint64(max(seconds, 1)),
		}
	}
	return profiles
}
