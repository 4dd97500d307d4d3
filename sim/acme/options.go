package acme

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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
	// PriorIssuances lists certificates issued before the front started
	// with no saved state, by their exact name sets. Each spends the tokens
	// of an issuance at its time, so that a later order for the same names
	// is a renewal, as it is for a certificate a cluster already holds.
	PriorIssuances []PriorIssuance
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

// PriorIssuance is a certificate issued before the front started.
type PriorIssuance struct {
	// Names are the DNS names of the certificate.
	Names []string
	// Age is how long before the start it was issued, in model time.
	Age time.Duration
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
	for i, p := range o.PriorIssuances {
		if len(p.Names) == 0 || p.Age < 0 {
			return o, fmt.Errorf("acme front: PriorIssuances[%d] with names %v and age %s is invalid: give at least one name and an age of 0 or more", i, p.Names, p.Age)
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

// logStart logs the configuration and every active fault knob, so a run's
// log shows what was injected.
func (o Options) logStart(log *slog.Logger) {
	log.Info("acme front created", "pebble", o.PebbleURL,
		"timeScale", o.TimeScale, "stateFile", o.StateFile, "slidingWindow", o.SlidingWindow, "seed", o.Seed)
	o.Faults.logStart(log, o.TimeScale)
}
