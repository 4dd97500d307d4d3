package plan

import (
	"fmt"
	"time"
)

// ACME profiles offered by Let's Encrypt.
const (
	ProfileClassic    = "classic"
	ProfileTLSServer  = "tlsserver"
	ProfileShortLived = "shortlived"
)

// Lifetime changes Let's Encrypt has announced for the classic and tlsserver
// profiles: classic certificates are valid 90 days, 64 days when issued from
// classicTo64Days and 45 days from classicTo45Days; tlsserver certificates
// are valid 45 days from tlsServerTo45Days.
var (
	classicTo64Days   = time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC)
	classicTo45Days   = time.Date(2028, 2, 16, 0, 0, 0, 0, time.UTC)
	tlsServerTo45Days = time.Date(2026, 5, 13, 0, 0, 0, 0, time.UTC)
)

const day = 24 * time.Hour

// ProfileLifetime returns the lifetime of a certificate that Let's Encrypt
// issues under profile at issuedAt, or zero for an unknown profile. An empty
// profile is Let's Encrypt's default, classic. The lifetime a Certificate
// requests (spec.duration) does not change it: Let's Encrypt ignores it.
//
// NOTE: tlsserver certificates issued before 2026-05-13 are taken to be 90
// days, like classic ones.
func ProfileLifetime(profile string, issuedAt time.Time) time.Duration {
	switch profile {
	case "", ProfileClassic:
		switch {
		case !issuedAt.Before(classicTo45Days):
			return 45 * day
		case !issuedAt.Before(classicTo64Days):
			return 64 * day
		default:
			return 90 * day
		}
	case ProfileTLSServer:
		if !issuedAt.Before(tlsServerTo45Days) {
			return 45 * day
		}
		return 90 * day
	case ProfileShortLived:
		return 160 * time.Hour
	}
	return 0
}

// AuthorizationReuse returns how long Let's Encrypt reuses a valid
// authorization under profile: 30 days for classic, 7 hours for the others
// as Let's Encrypt publishes them. Within that time a new order for the same
// identifier needs no new DNS01 challenge.
func AuthorizationReuse(profile string) time.Duration {
	if profile == "" || profile == ProfileClassic {
		return 30 * day
	}
	return 7 * time.Hour
}

// validProfile reports whether profile is one ProfileLifetime knows.
func validProfile(profile string) error {
	switch profile {
	case ProfileClassic, ProfileTLSServer, ProfileShortLived:
		return nil
	}
	return fmt.Errorf("invalid ACME profile %q: use %s, %s or %s", profile, ProfileClassic, ProfileTLSServer, ProfileShortLived)
}

// RenewalTime returns when cert-manager renews a certificate valid from
// notBefore to notAfter. It follows RenewalTime and desiredRenewalTime in
// github.com/cert-manager/cert-manager/pkg/util/pki/renewaltime.go at
// v1.21.2, without ARI and renewal windows:
//
//   - renewBefore (spec.renewBefore; zero when unset) applies when it is
//     positive and shorter than the real lifetime notAfter - notBefore;
//   - otherwise renewBeforePercentage applies when it is in (0, 100), as that
//     percentage of the real lifetime;
//   - otherwise cert-manager renews when one third of the real lifetime is
//     left, that is two thirds of the way through.
//
// The result is notAfter minus that period, truncated to the second as
// cert-manager stores it in status.renewalTime. spec.duration plays no part:
// the period is measured on the issued certificate.
func RenewalTime(notBefore, notAfter time.Time, renewBefore time.Duration, renewBeforePercentage *int32) time.Time {
	lifetime := notAfter.Sub(notBefore)

	var before time.Duration
	switch {
	case renewBefore > 0 && renewBefore < lifetime:
		before = renewBefore
	case renewBeforePercentage != nil && *renewBeforePercentage > 0 && *renewBeforePercentage < 100:
		// cert-manager computes in float64 to avoid an int64 overflow.
		before = time.Duration(float64(lifetime) * float64(*renewBeforePercentage) / 100)
	default:
		before = lifetime / 3
	}
	return notAfter.Add(-before).Truncate(time.Second)
}
