// Package engine executes a migration plan step by step against a world: a
// Kubernetes API reached through a controller-runtime client, a clock that
// paces waits, a TLS prober and the ACME ledger. The same engine runs on the
// deterministic model, on the local stack of real components and on a real
// cluster; it imports none of them.
package engine

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Clock is the engine's only source of time. The model world advances a
// virtual clock inside Sleep, running every event due until then; real
// worlds sleep (scaled by the time scale on test stacks).
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is the real clock, for the worlds that run in real time.
type WallClock struct{}

// Now implements Clock.
func (WallClock) Now() time.Time { return time.Now() }

// Sleep implements Clock; a d of zero or less returns at once.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// ProbeResult is the outcome of probing one host through one client path.
type ProbeResult struct {
	Host       string `json:"host"`
	ClientPath string `json:"clientPath"`
	// Outcome is served, handshake-failure, not-found (HTTP 404) or
	// refused.
	Outcome string `json:"outcome"`
	// The served certificate, when the handshake completed.
	SANs      []string  `json:"sans,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"notBefore,omitempty"`
	NotAfter  time.Time `json:"notAfter,omitempty"`
	// Detail explains a failed outcome.
	Detail string `json:"detail,omitempty"`
}

// Probe outcomes.
const (
	OutcomeServed           = "served"
	OutcomeHandshakeFailure = "handshake-failure"
	OutcomeNotFound         = "not-found"
	OutcomeRefused          = "refused"
)

// Prober performs a TLS handshake and request to host through a client
// path, the way that path's clients would.
type Prober interface {
	Probe(ctx context.Context, host, clientPath string) (ProbeResult, error)
}

// ACMEEvent is one entry of the ACME side of the ledger: an order created
// or refused, a certificate issued, an authorization failed.
type ACMEEvent struct {
	At time.Time `json:"at"`
	// Type is order, refused, issued or authz-failed.
	Type  string   `json:"type"`
	Names []string `json:"names"`
	// Certificate is namespace/name of the Certificate behind the order.
	Certificate string `json:"certificate,omitempty"`
	Renewal     bool   `json:"renewal,omitempty"`
	// Limit and RetryIn are set on refusals.
	Limit   string        `json:"limit,omitempty"`
	RetryIn time.Duration `json:"retryIn,omitempty"`
	Detail  string        `json:"detail,omitempty"`
}

// ACME event types.
const (
	ACMEOrder       = "order"
	ACMERefused     = "refused"
	ACMEIssued      = "issued"
	ACMEAuthzFailed = "authz-failed"
)

// ACMEObserver returns the ACME events since a time. The model reads its
// Let's Encrypt model; real worlds read the ACME front or cert-manager's
// Orders and CertificateRequests.
type ACMEObserver interface {
	ACMEEvents(ctx context.Context, since time.Time) ([]ACMEEvent, error)
}

// World is everything the engine needs from the place it runs in.
type World interface {
	Client() client.Client
	Clock() Clock
	Prober() Prober
	ACME() ACMEObserver
	// ClientPaths lists the client path names the prober accepts.
	ClientPaths() []string
}
