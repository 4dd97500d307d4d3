package model

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/ratelimit"
)

// cert-manager retries an ACME request that failed with a server error
// through its workqueue backoff: 5 s doubling to 5 min
// (pkg/controller/util.go DefaultItemBasedRateLimiter).
const (
	serverErrorRetryMin = 5 * time.Second
	serverErrorRetryMax = 5 * time.Minute
)

// acmeModel is the Let's Encrypt side of the world: rate limits per ACME
// server, authorizations, orders, the challenge worker pool of
// cert-manager and the ledger of ACME events.
type acmeModel struct {
	w      *World
	limits map[string]ratelimit.Model
	orders int
	events []engine.ACMEEvent
	// lockouts holds, per registered domain, until when a refused
	// CertificatesPerDomain check keeps new certificates out.
	lockouts map[string]time.Time
	// authorizations holds when account|name was last validated.
	authorizations map[string]time.Time
	busy           int
	waiting        []*challenge
}

// acmeOrder is one order and the issuance it serves.
type acmeOrder struct {
	name      string // Order object namespace/name
	cert      string // Certificate namespace/name
	namespace string
	certName  string
	st        *certState
	iss       *issuance
	issuer    *issuerView
	account   string
	profile   string
	names     []string
	pending   int
	failed    bool
	attempts  int
}

// challenge is one DNS01 (or HTTP01) challenge of an order.
type challenge struct {
	order *acmeOrder
	name  string
	dns01 bool
}

func newACMEModel(w *World) (*acmeModel, error) {
	return &acmeModel{w: w, limits: map[string]ratelimit.Model{}, lockouts: map[string]time.Time{},
		authorizations: map[string]time.Time{}}, nil
}

// limitsFor returns the rate-limit model of an ACME server.
func (a *acmeModel) limitsFor(server string) (ratelimit.Model, error) {
	if m, ok := a.limits[server]; ok {
		return m, nil
	}
	var m ratelimit.Model
	if a.w.opts.LegacyRateLimits {
		m = ratelimit.NewSlidingWindow()
	} else {
		var err error
		if m, err = ratelimit.NewModel(); err != nil {
			return nil, fmt.Errorf("model: creating the rate-limit model: %w", err)
		}
	}
	a.limits[server] = m
	return m, nil
}

// acmeProfile is the profile an ACME issuer requests: spec.acme.profile
// from cert-manager v1.18, which added the field, else the server default.
func (w *World) acmeProfile(issuer *issuerView) string {
	if !w.rules.acmeProfiles || issuer.spec.ACME == nil {
		return profileClassic
	}
	if issuer.spec.ACME.Profile == "" {
		return profileClassic
	}
	return issuer.spec.ACME.Profile
}

// startOrder creates the Order for the request in flight and sends it to
// Let's Encrypt.
//
// NOTE: the model keeps challenges in memory and creates no Challenge
// objects, so readers of the API find Orders but never Challenges.
func (a *acmeModel) startOrder(c *cmapi.Certificate, st *certState, issuer *issuerView) {
	w := a.w
	iss := st.issuing
	o := &acmeOrder{
		name: c.Namespace + "/" + iss.req.name, cert: st.key, namespace: c.Namespace, certName: c.Name,
		st: st, iss: iss, issuer: issuer, account: issuer.key(), profile: w.acmeProfile(issuer),
		names: requestNames(c),
	}
	order := &cmacme.Order{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.Namespace, Name: iss.req.name,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateRequestKind,
				Name: iss.req.name, UID: w.requestUID(c.Namespace, iss.req.name), Controller: new(true),
			}},
		},
		Spec: cmacme.OrderSpec{IssuerRef: c.Spec.IssuerRef, CommonName: c.Spec.CommonName, DNSNames: o.names, Profile: o.profile},
	}
	w.stampNew(order)
	if err := w.api.Create(context.Background(), order, client.FieldOwner("cert-manager-certificaterequests-issuer-acme")); err != nil {
		w.recordError("create Order/"+o.name, err)
	}
	a.createOrder(o)
}

// createOrder is the new-order request: faults first, then the
// authorization-failure limits of each name, then the order limits.
func (a *acmeModel) createOrder(o *acmeOrder) {
	w := a.w
	if o.iss.canceled {
		return
	}
	now := w.sched.now
	if f, ok := w.activeFault(FaultACME5xx, o.names); ok {
		retry := serverErrorRetryMin << min(o.attempts, 6)
		retry = min(retry, serverErrorRetryMax)
		o.attempts++
		w.record(traceACME, "Order/"+o.name, "new-order failed: HTTP 500 (fault %s); cert-manager retries in %s", f.Kind, retry)
		w.sched.after(retry, func() { a.createOrder(o) })
		return
	}
	if f, ok := w.activeFault(FaultRateLimit, o.names); ok {
		retryIn := time.Hour
		if !f.Until.IsZero() {
			retryIn = f.Until.Sub(now)
		}
		a.refuse(o, ratelimit.Decision{Limit: "fault:" + FaultRateLimit, Key: strings.Join(o.names, ","), RetryIn: retryIn})
		return
	}
	limits, err := a.limitsFor(o.issuer.spec.ACME.Server)
	if err != nil {
		w.recordError("rate limits of "+o.issuer.key(), err)
		return
	}
	for _, n := range o.names {
		if d := limits.CheckAuthorization(now, o.account, n); !d.Allowed {
			a.refuse(o, d)
			return
		}
	}
	d := limits.CheckNewOrder(now, ratelimit.Order{Account: o.account, Names: o.names})
	if !d.Allowed {
		a.refuse(o, d)
		return
	}
	a.orders++
	a.addEvent(engine.ACMEEvent{Type: engine.ACMEOrder, Names: o.names, Certificate: o.cert, Renewal: d.Renewal,
		Detail: fmt.Sprintf("profile %s, limit %s %s remaining %d", o.profile, d.Limit, d.Key, d.Remaining)})
	w.record(traceACME, "Order/"+o.name, "order created for %s (renewal %t)", strings.Join(o.names, ","), d.Renewal)
	w.setOrderState(o, cmacme.Pending, "")

	reuse := authorizationReuse(o.profile, now)
	dns01 := usesDNS01(o.issuer)
	for _, n := range o.names {
		if at, ok := a.authorizations[o.account+"|"+n]; ok && now.Sub(at) < reuse {
			continue
		}
		o.pending++
		ch := &challenge{order: o, name: n, dns01: dns01}
		jitter := time.Duration(1+w.rng.IntN(maxPropagationJitter)) * time.Second
		w.sched.after(jitter, func() { a.selfCheckPassed(ch) })
	}
	if o.pending == 0 {
		a.finalize(o)
	}
}

// refuse records a 429 rateLimited response. cert-manager marks the Order
// errored without retrying or reading Retry-After, and the Certificate
// backs off.
func (a *acmeModel) refuse(o *acmeOrder, d ratelimit.Decision) {
	w := a.w
	now := w.sched.now
	detail := fmt.Sprintf("429 urn:ietf:params:acme:error:rateLimited: %s %s, retry after %s", d.Limit, d.Key, d.RetryIn)
	if d.Error != "" {
		detail += ": " + d.Error
	}
	a.addEvent(engine.ACMEEvent{Type: engine.ACMERefused, Names: o.names, Certificate: o.cert,
		Limit: string(d.Limit), RetryIn: d.RetryIn, Detail: detail})
	if d.Limit == ratelimit.CertificatesPerDomain {
		if until := now.Add(d.RetryIn); until.After(a.lockouts[d.Key]) {
			a.lockouts[d.Key] = until
		}
	}
	w.record(traceACME, "Order/"+o.name, "refused: %s", detail)
	w.setOrderState(o, cmacme.Errored, "Failed to create Order: "+detail)
	w.failIssuance(o.namespace, o.certName, o.st, "Failed to create Order: "+detail)
}

// usesDNS01 reports whether the issuer's first solver is DNS01 (the model
// does not match solver selectors).
func usesDNS01(issuer *issuerView) bool {
	if issuer.spec.ACME == nil || len(issuer.spec.ACME.Solvers) == 0 {
		return true
	}
	return issuer.spec.ACME.Solvers[0].HTTP01 == nil
}

// activeFault returns the first active fault of a kind for names.
func (w *World) activeFault(kind string, names []string) (Fault, bool) {
	for _, f := range w.opts.Faults {
		if f.Kind == kind && f.active(w.sched.now, names) {
			return f, true
		}
	}
	return Fault{}, false
}

// setOrderState records an Order's state and reason.
func (w *World) setOrderState(o *acmeOrder, state cmacme.State, reason string) {
	ns, name, _ := strings.Cut(o.name, "/")
	var order cmacme.Order
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &order); err != nil {
		return
	}
	order.Status.State = state
	order.Status.Reason = reason
	if state == cmacme.Valid || state == cmacme.Errored || state == cmacme.Invalid {
		now := metav1.NewTime(w.sched.now)
		order.Status.FailureTime = nil
		if state != cmacme.Valid {
			order.Status.FailureTime = &now
		}
	}
	if err := w.api.Status().Update(context.Background(), &order, client.FieldOwner("cert-manager-orders")); err != nil {
		w.recordError("update status of Order/"+o.name, err)
	}
}

// requestUID returns a CertificateRequest's UID, empty when not found.
func (w *World) requestUID(namespace, name string) types.UID {
	var cr cmapi.CertificateRequest
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &cr); err != nil {
		return ""
	}
	return cr.UID
}
