package model

import (
	"context"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/ratelimit"
)

// DNS01 timing of cert-manager v1.21.2: after the self-check finds the
// record, the challenge worker sleeps a fixed 60 s (the record's TTL,
// pkg/issuer/acme/dns/dns.go) before accepting the challenge. HTTP01 has no
// such wait.
const (
	dns01Wait = 60 * time.Second
	// validationTime is how long Let's Encrypt takes to validate an
	// accepted challenge, and finalizeTime how long finalization and the
	// certificate download take; model estimates.
	validationTime = time.Second
	finalizeTime   = time.Second
	// maxPropagationJitter bounds the seeded DNS propagation delay before
	// the self-check passes; a model estimate.
	maxPropagationJitter = 4
)

// selfCheckPassed queues the challenge for a worker: the 60 s DNS01 wait
// runs inside one of cert-manager's challenge workers.
func (a *acmeModel) selfCheckPassed(ch *challenge) {
	if ch.order.iss.canceled || ch.order.failed {
		return
	}
	if a.busy < a.w.opts.ConcurrentWorkers {
		a.startWorker(ch)
		return
	}
	a.waiting = append(a.waiting, ch)
	a.w.record(traceChallenge, "Order/"+ch.order.name, "%s waits for a challenge worker (%d busy, %d queued)", ch.name, a.busy, len(a.waiting))
}

// startWorker occupies a worker for the wait before accepting.
func (a *acmeModel) startWorker(ch *challenge) {
	a.busy++
	wait := time.Duration(0)
	if ch.dns01 {
		wait = dns01Wait
	}
	a.w.record(traceChallenge, "Order/"+ch.order.name, "%s self-check passed; accepting after %s", ch.name, wait)
	a.w.sched.after(wait, func() { a.accept(ch) })
}

// accept frees the worker and lets Let's Encrypt validate.
func (a *acmeModel) accept(ch *challenge) {
	a.busy--
	for len(a.waiting) > 0 {
		next := a.waiting[0]
		a.waiting = a.waiting[1:]
		if !next.order.iss.canceled && !next.order.failed {
			a.startWorker(next)
			break
		}
	}
	a.w.sched.after(validationTime, func() { a.validate(ch) })
}

// validate decides the authorization; a dns01-fail fault fails it.
func (a *acmeModel) validate(ch *challenge) {
	w := a.w
	o := ch.order
	if o.iss.canceled || o.failed {
		return
	}
	now := w.sched.now
	limits, err := a.limitsFor(o.issuer.spec.ACME.Server)
	if err != nil {
		w.recordError("rate limits of "+o.issuer.key(), err)
		return
	}
	if f, ok := w.activeFault(FaultDNS01Fail, []string{ch.name}); ok {
		limits.RecordAuthorizationFailure(now, o.account, ch.name)
		msg := fmt.Sprintf("urn:ietf:params:acme:error:dns: No TXT record found at _acme-challenge.%s (fault %s)", ch.name, f.Kind)
		a.addEvent(engine.ACMEEvent{Type: engine.ACMEAuthzFailed, Names: []string{ch.name}, Certificate: o.cert, Detail: msg})
		w.record(traceACME, "Order/"+o.name, "authorization for %s failed: %s", ch.name, msg)
		o.failed = true
		w.setOrderState(o, cmacme.Invalid, msg)
		w.failIssuance(o.namespace, o.certName, o.st, "Failed to finalize Order: "+msg)
		return
	}
	limits.RecordAuthorizationSuccess(now, o.account, ch.name)
	a.authorizations[o.account+"|"+ch.name] = now
	w.record(traceChallenge, "Order/"+o.name, "authorization for %s valid", ch.name)
	o.pending--
	if o.pending == 0 {
		a.finalize(o)
	}
}

// finalize issues the certificate finalizeTime later, plus the delay of a
// delay-issuance fault.
func (a *acmeModel) finalize(o *acmeOrder) {
	delay := finalizeTime
	if f, ok := a.w.activeFault(FaultDelayIssuance, o.names); ok && f.Delay > 0 {
		a.w.record(traceACME, "Order/"+o.name, "finalization delayed by %s (fault %s)", f.Delay, f.Kind)
		delay += f.Delay
	}
	a.w.sched.after(delay, func() { a.issue(o) })
}

// issue signs the certificate with the profile's lifetime and notBefore
// one hour in the past, spends the rate limits and completes the issuance.
func (a *acmeModel) issue(o *acmeOrder) {
	w := a.w
	if o.iss.canceled || o.failed {
		return
	}
	now := w.sched.now
	server := o.issuer.spec.ACME.Server
	limits, err := a.limitsFor(server)
	if err != nil {
		w.recordError("rate limits of "+o.issuer.key(), err)
		return
	}
	ca, err := w.acmeAuthority(server)
	if err != nil {
		w.recordError("sign for Order/"+o.name, err)
		return
	}

	commonName := ""
	var c cmapi.Certificate
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: o.namespace, Name: o.certName}, &c); err == nil {
		commonName = c.Spec.CommonName
	}
	notBefore := now.Add(-letsEncryptBackdate)
	lifetime := profileLifetime(o.profile, now)
	certPEM, err := w.sign(leafRequest{commonName: commonName, dnsNames: o.names, notBefore: notBefore,
		notAfter: notBefore.Add(lifetime), public: o.iss.key.Public()}, ca, nil)
	if err != nil {
		w.failIssuance(o.namespace, o.certName, o.st, "signing failed: "+err.Error())
		return
	}

	renewal := limits.IsRenewal(now, o.names)
	limits.RecordIssuance(now, ratelimit.Order{Account: o.account, Names: o.names})
	a.addEvent(engine.ACMEEvent{Type: engine.ACMEIssued, Names: o.names, Certificate: o.cert, Renewal: renewal,
		Detail: fmt.Sprintf("profile %s, lifetime %s", o.profile, lifetime)})
	w.record(traceACME, "Order/"+o.name, "certificate issued for %s (renewal %t, lifetime %s)", strings.Join(o.names, ","), renewal, lifetime)
	w.setOrderState(o, cmacme.Valid, "")
	w.completeIssuance(o.namespace, o.certName, o.st, certPEM, nil, o.issuer)
}
