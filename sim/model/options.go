package model

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/certwave/certwave/topology"
)

// Options are the knobs of a model world. The zero value of every field
// selects the default documented on it.
type Options struct {
	// Seed drives every random choice of the world (keys, serial numbers,
	// DNS propagation jitter, the age of the certificates at Start).
	Seed int64
	// Start is the virtual time the world begins at (default
	// 2026-06-01T00:00:00Z).
	Start time.Time
	// CertManagerVersion selects cert-manager's rules: "v1.17" or "v1.21"
	// (default: the inventory's cert-manager version, else v1.21). Versions
	// before v1.18 ignore spec.acme.profile and default
	// privateKey.rotationPolicy to Never.
	CertManagerVersion string
	// GatewayAPIEnabled overrides whether cert-manager runs the
	// gateway-shim (default: the inventory's setting).
	GatewayAPIEnabled *bool
	// EnvoyGatewayVersion selects Envoy Gateway's rules: "1.8" or "1.9"
	// (default 1.9).
	EnvoyGatewayVersion string
	// Profile sets spec.acme.profile on the inventory's ACME issuers that
	// do not name one: classic, tlsserver or shortlived (default: leave
	// them on Let's Encrypt's default, classic).
	Profile string
	// ConcurrentWorkers is cert-manager's numberOfConcurrentWorkers, the
	// size of the challenge worker pool (default 5).
	ConcurrentWorkers int
	// Faults inject failures into the ACME model.
	Faults []Fault
	// TimeWeight, when set, returns the virtual time that the interval
	// from..to stands for; availability weighs the time between its
	// observations by it. The local world sets it: it runs the plan's
	// waits faster than the wall clock, but issuance at wall-clock speed.
	TimeWeight func(from, to time.Time) time.Duration
	// LegacyRateLimits selects the pre-2025 sliding-window rate limits
	// (ratelimit.NewSlidingWindow) instead of Boulder's token buckets.
	LegacyRateLimits bool
	// InitialCertificateAge is how long before Start the inventory's
	// Certificates were last issued. Zero picks, per Certificate and from
	// the seed, an age between one day and its renewal time.
	InitialCertificateAge time.Duration
	// Log receives the world's log in text form; nil discards it. The
	// first line carries the seed and every option.
	Log io.Writer
}

// Fault kinds.
const (
	// FaultDNS01Fail makes Let's Encrypt find no DNS01 record, so the
	// authorization fails.
	FaultDNS01Fail = "dns01-fail"
	// FaultRateLimit makes order creation return HTTP 429 rateLimited,
	// with Retry-After pointing at the end of the fault.
	FaultRateLimit = "rate-limit"
	// FaultDelayIssuance delays finalization by Fault.Delay.
	FaultDelayIssuance = "delay-issuance"
	// FaultACME5xx makes order creation fail with HTTP 500; cert-manager
	// retries it with its workqueue backoff (5 s doubling to 5 min).
	FaultACME5xx = "acme-5xx"
)

// Fault injects one failure into the ACME model while it is active.
type Fault struct {
	// Kind is dns01-fail, rate-limit, delay-issuance or acme-5xx.
	Kind string
	// Names are hostnames or path.Match globs (such as *.example.com,
	// where * also matches dots); empty matches every name. An order is
	// affected when any of its names matches.
	Names []string
	// From and Until bound the fault; a zero From starts at the beginning
	// and a zero Until never ends.
	From, Until time.Time
	// Delay is the extra finalization time of delay-issuance.
	Delay time.Duration
}

// active reports whether the fault applies at now to an order for names.
func (f Fault) active(now time.Time, names []string) bool {
	if !f.From.IsZero() && now.Before(f.From) {
		return false
	}
	if !f.Until.IsZero() && !now.Before(f.Until) {
		return false
	}
	if len(f.Names) == 0 {
		return true
	}
	for _, n := range names {
		for _, pattern := range f.Names {
			if globMatches(pattern, n) {
				return true
			}
		}
	}
	return false
}

// globMatches matches a name against a fault pattern. A leading "*."
// matches any number of labels, other patterns use path.Match.
func globMatches(pattern, name string) bool {
	pattern = strings.ToLower(pattern)
	name = strings.ToLower(name)
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok && !strings.ContainsAny(suffix, "*?[") {
		return strings.HasSuffix(name, "."+suffix)
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// Default values of Options.
var (
	defaultStart = time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC)
)

const (
	defaultCertManagerVersion  = "v1.21"
	defaultEnvoyGatewayVersion = "1.9"
	defaultConcurrentWorkers   = 5
)

// rules are the version-dependent behaviours derived from the options.
type rules struct {
	// certManagerMinor and envoyGatewayMinor are the parsed minor versions.
	certManagerMinor  int
	envoyGatewayMinor int
	// acmeProfiles is true from cert-manager v1.18, which added
	// spec.acme.profile.
	acmeProfiles bool
	// rotateKeys is the default privateKey.rotationPolicy Always, the
	// default from cert-manager v1.18 (Never before).
	rotateKeys bool
	// shimSkipsPassthrough is true from cert-manager v1.18, whose shim
	// skips TLS passthrough listeners without an event; earlier ones
	// reject them with BadConfig. shimReadsIgnoreListeners is true from
	// v1.21, which added cert-manager.io/ignore-tls-listeners.
	shimSkipsPassthrough     bool
	shimReadsIgnoreListeners bool
	// gatewayAPISetting names the controller setting that enables the
	// gateway-shim: config.enableGatewayAPI (v1.15 to v1.20) or
	// config.gatewayAPI.enabled (v1.21).
	gatewayAPISetting string
	// routeAcceptedWithoutReadyListener is true from Envoy Gateway 1.9:
	// a route whose listeners are all unready stays Accepted.
	routeAcceptedWithoutReadyListener bool
	// listenerIsolation is true from Envoy Gateway 1.2.
	listenerIsolation bool
	// overlappingTLS is true from Envoy Gateway 1.4, which sets the
	// OverlappingTLSConfig listener condition.
	overlappingTLS bool
	// protocolConflictWins is true from Envoy Gateway 1.9, whose
	// validateConflictedHostnameListeners skips listeners that already
	// have a ProtocolConflict. In 1.8, validateConflictedLayer7Listeners
	// overwrites the reason with HostnameConflict when the hostname is
	// shared too.
	protocolConflictWins bool
	// wholeChainValidity is true from Envoy Gateway 1.9, whose
	// validateServingCertificateChain rejects a Secret when any
	// certificate of tls.crt is outside its validity. In 1.8,
	// filterValidCertificates drops such certificates and keeps the rest.
	wholeChainValidity bool
	// routeRulesOverlap is true from Envoy Gateway 1.9, which added
	// checkRouteOverlaps and the RouteRulesOverlap route condition.
	routeRulesOverlap bool
}

// normalize fills the defaults and checks the values.
func (o *Options) normalize(inventoryCertManager string) error {
	if o.Start.IsZero() {
		o.Start = defaultStart
	}
	o.Start = o.Start.UTC()
	if o.CertManagerVersion == "" {
		o.CertManagerVersion = majorMinor(inventoryCertManager)
		if o.CertManagerVersion == "" {
			o.CertManagerVersion = defaultCertManagerVersion
		}
	}
	if o.EnvoyGatewayVersion == "" {
		o.EnvoyGatewayVersion = defaultEnvoyGatewayVersion
	}
	if o.ConcurrentWorkers == 0 {
		o.ConcurrentWorkers = defaultConcurrentWorkers
	}
	if o.ConcurrentWorkers < 0 {
		return fmt.Errorf("model: invalid ConcurrentWorkers %d: use a positive count or 0 for the default 5", o.ConcurrentWorkers)
	}
	switch o.Profile {
	case "", profileClassic, profileTLSServer, profileShortLived:
	default:
		return fmt.Errorf("model: invalid Profile %q: use classic, tlsserver or shortlived", o.Profile)
	}
	for i, f := range o.Faults {
		switch f.Kind {
		case FaultDNS01Fail, FaultRateLimit, FaultDelayIssuance, FaultACME5xx:
		default:
			return fmt.Errorf("model: invalid Faults[%d].Kind %q: use dns01-fail, rate-limit, delay-issuance or acme-5xx", i, f.Kind)
		}
		for _, p := range f.Names {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("model: invalid Faults[%d].Names pattern %q: %w", i, p, err)
			}
		}
	}
	return nil
}

// rules derives the version rules from normalized options.
func (o *Options) rules() (rules, error) {
	cm, err := minorOf(o.CertManagerVersion)
	if err != nil {
		return rules{}, fmt.Errorf("model: invalid CertManagerVersion %q: use a version such as v1.17 or v1.21: %w", o.CertManagerVersion, err)
	}
	eg, err := minorOf(o.EnvoyGatewayVersion)
	if err != nil {
		return rules{}, fmt.Errorf("model: invalid EnvoyGatewayVersion %q: use a version such as 1.8 or 1.9: %w", o.EnvoyGatewayVersion, err)
	}
	r := rules{
		certManagerMinor:                  cm,
		envoyGatewayMinor:                 eg,
		acmeProfiles:                      cm >= 18,
		rotateKeys:                        cm >= 18,
		shimSkipsPassthrough:              cm >= topology.ShimSkipsPassthroughMinor,
		shimReadsIgnoreListeners:          cm >= topology.ShimIgnoreListenersMinor,
		gatewayAPISetting:                 "config.enableGatewayAPI",
		routeAcceptedWithoutReadyListener: eg >= 9,
		listenerIsolation:                 eg >= 2,
		overlappingTLS:                    eg >= 4,
		protocolConflictWins:              eg >= 9,
		wholeChainValidity:                eg >= 9,
		routeRulesOverlap:                 eg >= 9,
	}
	if cm >= 21 {
		r.gatewayAPISetting = "config.gatewayAPI.enabled"
	}
	return r, nil
}

// String renders the options on one line for the first log line.
func (o *Options) String() string {
	enabled := "inventory"
	if o.GatewayAPIEnabled != nil {
		enabled = strconv.FormatBool(*o.GatewayAPIEnabled)
	}
	var faults []string
	for _, f := range o.Faults {
		faults = append(faults, fmt.Sprintf("%s%v[%s,%s)+%s", f.Kind, f.Names,
			formatTime(f.From), formatTime(f.Until), f.Delay))
	}
	return fmt.Sprintf("seed=%d start=%s cert-manager=%s gateway-api=%s envoy-gateway=%s profile=%q workers=%d legacy-rate-limits=%t initial-age=%s faults=%v",
		o.Seed, formatTime(o.Start), o.CertManagerVersion, enabled, o.EnvoyGatewayVersion,
		o.Profile, o.ConcurrentWorkers, o.LegacyRateLimits, o.InitialCertificateAge, faults)
}

// majorMinor returns "v1.21" for "v1.21.2" or "1.21", or "" when the
// version cannot be read.
func majorMinor(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return ""
	}
	if _, err := strconv.Atoi(parts[0]); err != nil {
		return ""
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return ""
	}
	return "v" + parts[0] + "." + parts[1]
}

// minorOf returns the minor version of a 1.x version string.
func minorOf(v string) (int, error) {
	mm := majorMinor(v)
	if mm == "" {
		return 0, fmt.Errorf("not a major.minor version")
	}
	parts := strings.Split(strings.TrimPrefix(mm, "v"), ".")
	if parts[0] != "1" {
		return 0, fmt.Errorf("major version %s is not modelled: use 1.x", parts[0])
	}
	return strconv.Atoi(parts[1])
}

// formatTime renders a virtual time for logs and the trace, "-" when zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
