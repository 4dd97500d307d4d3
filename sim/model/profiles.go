package model

import "time"

// Let's Encrypt profiles (letsencrypt.org/docs/profiles).
const (
	profileClassic    = "classic"
	profileTLSServer  = "tlsserver"
	profileShortLived = "shortlived"
)

const day = 24 * time.Hour

// Let's Encrypt reduces lifetimes in stages: classic issues 64-day
// certificates from 2027-02-10 and 45-day ones from 2028-02-16, and
// tlsserver issues 45-day certificates from 2026-05-13 (announced at
// letsencrypt.org/2025/12/02/from-90-to-45).
var (
	classicTo64Days   = time.Date(2027, time.February, 10, 0, 0, 0, 0, time.UTC)
	classicTo45Days   = time.Date(2028, time.February, 16, 0, 0, 0, 0, time.UTC)
	tlsServerTo45Days = time.Date(2026, time.May, 13, 0, 0, 0, 0, time.UTC)
)

// letsEncryptBackdate is how far Let's Encrypt sets notBefore before the
// issuance time, to tolerate clients with slow clocks.
const letsEncryptBackdate = time.Hour

// profileLifetime returns the validity period (notAfter - notBefore) of a
// certificate Let's Encrypt issues at the given time under a profile. An
// unknown or empty profile is classic, the server default. The requested
// duration plays no part: Let's Encrypt does not honour it.
func profileLifetime(profile string, at time.Time) time.Duration {
	switch profile {
	case profileShortLived:
		return 160 * time.Hour
	case profileTLSServer:
		if at.Before(tlsServerTo45Days) {
			// The announcement "switches" tlsserver to 45 days, so it
			// issued 90-day certificates before.
			return 90 * day
		}
		return 45 * day
	default:
		switch {
		case at.Before(classicTo64Days):
			return 90 * day
		case at.Before(classicTo45Days):
			return 64 * day
		default:
			return 45 * day
		}
	}
}

// authorizationReuse returns how long a valid authorization is reused for
// new orders of the same account. It is 7 hours for tlsserver and
// shortlived. For classic it is 30 days, then 10 days from 2027-02-10 and
// 7 hours from 2028-02-16, per the same announcement as the lifetimes.
func authorizationReuse(profile string, at time.Time) time.Duration {
	switch {
	case profile == profileTLSServer || profile == profileShortLived:
		return 7 * time.Hour
	case at.Before(classicTo64Days):
		return 30 * day
	case at.Before(classicTo45Days):
		return 10 * day
	default:
		return 7 * time.Hour
	}
}
