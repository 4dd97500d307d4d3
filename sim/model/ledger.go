package model

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/certwave/certwave/engine"
)

// addEvent appends an event to the ledger at the current virtual time.
func (a *acmeModel) addEvent(e engine.ACMEEvent) {
	e.At = a.w.sched.now
	a.events = append(a.events, e)
}

// acmeObserver serves the ledger to the engine.
type acmeObserver struct{ w *World }

var _ engine.ACMEObserver = acmeObserver{}

// ACMEEvents returns the ACME events at or after since, in time order.
func (o acmeObserver) ACMEEvents(_ context.Context, since time.Time) ([]engine.ACMEEvent, error) {
	o.w.mu.Lock()
	defer o.w.mu.Unlock()
	var out []engine.ACMEEvent
	for _, e := range o.w.acme.events {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// ACMEOrders returns the number of orders Let's Encrypt accepted.
func (w *World) ACMEOrders() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acme.orders
}

// LockedOutUntil returns the time until which the CertificatesPerDomain
// limit rejects new certificates for a registered domain, as the last
// refusal reported it. It returns zero when no refusal is in force.
func (w *World) LockedOutUntil(registeredDomain string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	until := w.acme.lockouts[strings.ToLower(registeredDomain)]
	if !until.After(w.sched.now) {
		return time.Time{}
	}
	return until
}
