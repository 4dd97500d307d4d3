package acme

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// Options configures a Front. Durations in Options are model time: the
// front divides them by TimeScale before it waits or sends them to a client.
type Options struct {
	// PebbleURL is the base URL of Pebble's ACME listener, for example
	// https://127.0.0.1:14000. Required.
	PebbleURL string
	// PebbleRoots verifies Pebble's TLS serving certificate. Nil uses the
	// system roots, which do not trust a self-signed Pebble.
	PebbleRoots *x509.CertPool
	// ListenAddress is the address Start listens on. The default is
	// 127.0.0.1:0, a free port on the loopback interface.
	ListenAddress string
	// Certificate is the front's TLS serving certificate. Nil makes a
	// self-signed certificate for 127.0.0.1 and localhost, which
	// Front.CertificatePEM returns for clients to trust.
	Certificate *tls.Certificate
	// StateFile is the JSON file that keeps the limiter state, the issued
	// name sets, the orders in flight and the ledger across restarts. Empty
	// keeps them in memory only.
	StateFile string
	// TimeScale divides every limit period and every duration of these
	// options: at 1440 a day of Let's Encrypt's limits passes in a minute.
	// Zero means 1 (real time). A restart with another scale keeps the model
	// time reached so far and applies the new scale from then on.
	TimeScale float64
	// SlidingWindow selects the legacy pre-2025 sliding-window model of the
	// ratelimit package instead of Boulder's token buckets, for comparison.
	SlidingWindow bool
	// IssuedBeforeStart lists, per registered domain, certificates that
	// count as issued just before the front started with no saved state. Each
	// one spends a per-domain token (and a duplicate-certificate token of a
	// name set of its own), so a test reaches the limit of 50 certificates
	// per registered domain after a few real orders. Keys must be registered
	// domains such as example.com.
	IssuedBeforeStart map[string]int
	// Seed drives the random choices of the fault knobs. The same seed and
	// the same request sequence inject the same faults.
	Seed uint64
	// Now returns the wall time. Nil uses time.Now.
	Now func() time.Time
	// Log receives the start-up summary, every decision and every error the
	// front handles. Nil discards the log.
	Log *slog.Logger
	// Faults makes the front misbehave on purpose.
	Faults Faults
}

// Faults are the knobs that inject failures. The zero value injects none.
type Faults struct {
	// RefuseDNS01 fails the DNS-01 challenge of every authorization whose
	// name matches one of these patterns. The front responds to the challenge
	// response itself, without forwarding it to Pebble, with the challenge
	// invalid and a urn:ietf:params:acme:error:dns problem, and from then on
	// shows the authorization and its orders as invalid. The failure spends
	// a failed-authorization token like a real one. Patterns use path.Match
	// syntax against the name as ordered: "*" matches every name,
	// "*.example.com" matches one label under example.com and the wildcard
	// name itself, and a wildcard authorization is matched as "*.<domain>".
	RefuseDNS01 []string
	// IssuanceDelay keeps an order "processing" for this long after Pebble
	// accepted its finalize request: the front shows the order without its
	// certificate URL and with a Retry-After header until the delay has
	// passed. The tokens are spent when Pebble accepts the finalize request.
	IssuanceDelay time.Duration
	// ServerErrors responds to a share of requests with a server error instead
	// of forwarding them to Pebble.
	ServerErrors ServerErrors
	// RateLimit responds 429 to new orders for chosen names, regardless of
	// the limits.
	RateLimit ForcedRateLimit
}

// ServerErrors injects HTTP 5xx responses. Such a request never reaches
// Pebble, so it spends nothing.
type ServerErrors struct {
	// Share is the fraction of matching requests that fail, from 0 to 1.
	// Zero means every matching request when Endpoints is set, and disables
	// the knob when Endpoints is empty.
	Share float64
	// Endpoints limits the knob to these endpoints. Empty means every ACME
	// endpoint. The ledger endpoint is exempt, because ServeHTTP serves it
	// before it draws a fault.
	Endpoints []Endpoint
	// Status is the HTTP status of the response, 500 to 599. Zero means 500, which
	// Let's Encrypt sends with Retry-After: 60.
	Status int
}

// ForcedRateLimit rejects new orders with a rateLimited problem.
type ForcedRateLimit struct {
	// Names are path.Match patterns as in Faults.RefuseDNS01. A new order
	// with any matching name is refused before the limits are checked, so it
	// spends nothing.
	Names []string
	// RetryAfter is the wait sent in the Retry-After header, in model time.
	// Zero means one hour.
	RetryAfter time.Duration
}

// Endpoint names an ACME resource as the directory of RFC 8555 calls it.
type Endpoint string

// The endpoints the front distinguishes, for ServerErrors and the ledger.
const (
	EndpointDirectory     Endpoint = "directory"
	EndpointNewNonce      Endpoint = "newNonce"
	EndpointNewAccount    Endpoint = "newAccount"
	EndpointAccount       Endpoint = "account"
	EndpointNewOrder      Endpoint = "newOrder"
	EndpointOrder         Endpoint = "order"
	EndpointFinalize      Endpoint = "finalize"
	EndpointAuthorization Endpoint = "authorization"
	EndpointChallenge     Endpoint = "challenge"
	EndpointCertificate   Endpoint = "certificate"
	EndpointRevokeCert    Endpoint = "revokeCert"
	EndpointKeyChange     Endpoint = "keyChange"
	EndpointRenewalInfo   Endpoint = "renewalInfo"
	EndpointOther         Endpoint = "other"
)

var knownEndpoints = []Endpoint{
	EndpointDirectory, EndpointNewNonce, EndpointNewAccount, EndpointAccount,
	EndpointNewOrder, EndpointOrder, EndpointFinalize, EndpointAuthorization,
	EndpointChallenge, EndpointCertificate, EndpointRevokeCert,
	EndpointKeyChange, EndpointRenewalInfo, EndpointOther,
}

// defaultForcedRetryAfter is ForcedRateLimit.RetryAfter when unset.
const defaultForcedRetryAfter = time.Hour

// withDefaults returns a copy of o with defaults filled in, or an error
// naming the first invalid option.
func (o Options) withDefaults() (Options, error) {
	if o.PebbleURL == "" {
		return o, errors.New("acme front: PebbleURL is missing: set it to Pebble's ACME base URL, for example https://127.0.0.1:14000")
	}
	u, err := url.Parse(o.PebbleURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return o, fmt.Errorf("acme front: PebbleURL %q is invalid: expected https://host:port", o.PebbleURL)
	}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:0"
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.TimeScale < 1 {
		return o, fmt.Errorf("acme front: TimeScale %g is invalid: use 1 for real time or a larger factor", o.TimeScale)
	}
	for domain, n := range o.IssuedBeforeStart {
		registered, err := ratelimit.RegisteredDomain(domain)
		if err != nil || registered != domain {
			return o, fmt.Errorf("acme front: IssuedBeforeStart key %q is not a registered domain: use its registered domain, such as %q", domain, registered)
		}
		if n < 0 {
			return o, fmt.Errorf("acme front: IssuedBeforeStart[%q] = %d is invalid: use 0 or more", domain, n)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Faults, err = o.Faults.withDefaults()
	return o, err
}

func (f Faults) withDefaults() (Faults, error) {
	if f.IssuanceDelay < 0 {
		return f, fmt.Errorf("acme front: Faults.IssuanceDelay %s is negative: use 0 for no delay", f.IssuanceDelay)
	}

	patterns := slices.Concat(f.RefuseDNS01, f.RateLimit.Names)
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return f, fmt.Errorf("acme front: name pattern %q is invalid: %w (use path.Match syntax, for example *.example.com)", p, err)
		}
	}

	se := &f.ServerErrors
	if se.Share < 0 || se.Share > 1 {
		return f, fmt.Errorf("acme front: Faults.ServerErrors.Share %g is invalid: use a fraction from 0 to 1", se.Share)
	}
	if se.Share == 0 && len(se.Endpoints) > 0 {
		se.Share = 1
	}
	if se.Status == 0 {
		se.Status = 500
	}
	if se.Status < 500 || se.Status > 599 {
		return f, fmt.Errorf("acme front: Faults.ServerErrors.Status %d is invalid: use a 5xx status such as 500 or 503", se.Status)
	}
	for _, e := range se.Endpoints {
		if !slices.Contains(knownEndpoints, e) {
			return f, fmt.Errorf("acme front: Faults.ServerErrors endpoint %q is unknown: use one of %v", e, knownEndpoints)
		}
	}

	if f.RateLimit.RetryAfter < 0 {
		return f, fmt.Errorf("acme front: Faults.RateLimit.RetryAfter %s is negative: use 0 for the default of %s", f.RateLimit.RetryAfter, defaultForcedRetryAfter)
	}
	if f.RateLimit.RetryAfter == 0 {
		f.RateLimit.RetryAfter = defaultForcedRetryAfter
	}
	return f, nil
}

// logStart logs the configuration and every active fault knob, so a run's
// log shows what was injected.
func (o Options) logStart(log *slog.Logger) {
	log.Info("acme front created", "pebble", o.PebbleURL,
		"timeScale", o.TimeScale, "stateFile", o.StateFile, "slidingWindow", o.SlidingWindow, "seed", o.Seed)
	f := o.Faults
	if len(f.RefuseDNS01) > 0 {
		log.Info("fault knob: refuse DNS-01 challenges", "names", f.RefuseDNS01)
	}
	if f.IssuanceDelay > 0 {
		log.Info("fault knob: delay issuance", "modelDelay", f.IssuanceDelay,
			"wallDelay", time.Duration(float64(f.IssuanceDelay)/o.TimeScale))
	}
	if f.ServerErrors.Share > 0 {
		log.Info("fault knob: server errors", "share", f.ServerErrors.Share,
			"endpoints", f.ServerErrors.Endpoints, "status", f.ServerErrors.Status)
	}
	if len(f.RateLimit.Names) > 0 {
		log.Info("fault knob: force 429 on new orders", "names", f.RateLimit.Names,
			"modelRetryAfter", f.RateLimit.RetryAfter)
	}
}

// matchesAny reports whether name matches one of the path.Match patterns.
// The patterns were validated by withDefaults.
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
