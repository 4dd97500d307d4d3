package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/topology"
)

// testWorld is a tiny World for engine tests. It has a fake client with
// real server-side apply merging and a clock that advances only in Sleep.
// On every Sleep a controller plays the gateway-shim, cert-manager and the
// gateway: it creates and readies Certificates, sets listener and route
// status, and records ACME events. Knobs make it fail on purpose.
type testWorld struct {
	t      *testing.T
	client *ssaClient
	clock  *testClock
	events []ACMEEvent

	// shimOff makes the shim ignore annotations (Gateway API support
	// disabled), so the shim test finds no reaction.
	shimOff bool
	// failing are Certificate names cert-manager fails to issue, with the
	// failure message.
	failing map[string]string
	// authzFailures are Certificate names whose first order has a failed
	// authorization before it is issued.
	authzFailures map[string]bool
}

type testClock struct {
	now     time.Time
	onSleep func()
}

func (c *testClock) Now() time.Time { return c.now }

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	if c.onSleep != nil {
		c.onSleep()
	}
	return nil
}

var testStart = time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)

func newTestWorld(t *testing.T, objs ...client.Object) *testWorld {
	t.Helper()
	w := &testWorld{
		t:             t,
		client:        newSSAClient(testScheme(), objs...),
		clock:         &testClock{now: testStart},
		failing:       map[string]string{},
		authzFailures: map[string]bool{},
	}
	w.clock.onSleep = w.reconcile
	w.reconcile()
	return w
}

var _ World = (*testWorld)(nil)

func (w *testWorld) Client() client.Client { return w.client }
func (w *testWorld) Clock() Clock          { return w.clock }
func (w *testWorld) Prober() Prober        { return w }
func (w *testWorld) ACME() ACMEObserver    { return w }
func (w *testWorld) ClientPaths() []string { return []string{"direct"} }

// ACMEEvents implements ACMEObserver.
func (w *testWorld) ACMEEvents(_ context.Context, since time.Time) ([]ACMEEvent, error) {
	var out []ACMEEvent
	for _, ev := range w.events {
		if !ev.At.Before(since) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// Probe implements Prober: a host with a Programmed listener of its own
// gets that listener's certificate; any other host gets the wildcard.
func (w *testWorld) Probe(ctx context.Context, host, _ string) (ProbeResult, error) {
	res := ProbeResult{Host: host, ClientPath: "direct", Outcome: OutcomeServed,
		SANs: []string{"*.example.com", "example.com"}, Issuer: "CN=R11,O=Let's Encrypt",
		NotBefore: testStart.Add(-24 * time.Hour), NotAfter: testStart.Add(90 * 24 * time.Hour)}
	gateways := &gwv1.GatewayList{}
	if err := w.client.List(ctx, gateways); err != nil {
		return res, err
	}
	for _, gw := range gateways.Items {
		for _, l := range gw.Spec.Listeners {
			if l.Hostname == nil || string(*l.Hostname) != host || l.TLS == nil {
				continue
			}
			cert := &cmv1.Certificate{}
			key := client.ObjectKey{Namespace: gw.Namespace, Name: string(l.TLS.CertificateRefs[0].Name)}
			if err := w.client.Get(ctx, key, cert); err != nil || !ready(cert) {
				res.Outcome, res.Detail = OutcomeHandshakeFailure, "listener "+string(l.Name)+" has no certificate"
				return res, nil
			}
			res.SANs = cert.Spec.DNSNames
			res.Issuer = "CN=R11,O=Let's Encrypt"
			if cert.Spec.IssuerRef.Name == "certwave-private-ca" {
				res.Issuer = "CN=certwave-private-ca"
			}
			res.NotBefore, res.NotAfter = cert.Status.NotBefore.Time, cert.Status.NotAfter.Time
		}
	}
	return res, nil
}

// issuing reports whether a renewal was triggered (Issuing=True).
func issuing(c *cmv1.Certificate) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == cmv1.CertificateConditionIssuing {
			return cond.Status == cmmeta.ConditionTrue
		}
	}
	return false
}

func ready(c *cmv1.Certificate) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == cmv1.CertificateConditionReady {
			return cond.Status == cmmeta.ConditionTrue
		}
	}
	return false
}

// reconcile runs the test controllers once.
func (w *testWorld) reconcile() {
	ctx := context.Background()
	if !w.shimOff {
		w.runShim(ctx)
	}
	w.issueCertificates(ctx)
	w.setGatewayStatus(ctx)
	w.setRouteStatus(ctx)
}

// runShim creates a Certificate owned by each annotated Gateway for each
// listener Secret, and a BadConfig event for a listener without hostname.
func (w *testWorld) runShim(ctx context.Context) {
	gateways := &gwv1.GatewayList{}
	w.must(w.client.List(ctx, gateways))
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		issuer := gw.Annotations[topology.AnnotationClusterIssuer]
		if issuer == "" {
			continue
		}
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
				continue
			}
			if l.Hostname == nil {
				w.event(ctx, gw, "BadConfig", "Skipped a listener block: spec.listeners["+string(l.Name)+"].hostname: Required value")
				continue
			}
			name := string(l.TLS.CertificateRefs[0].Name)
			existing := &cmv1.Certificate{}
			err := w.client.Get(ctx, client.ObjectKey{Namespace: gw.Namespace, Name: name}, existing)
			if err == nil || !apierrors.IsNotFound(err) {
				continue
			}
			c := &cmv1.Certificate{
				ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: name, CreationTimestamp: metav1.NewTime(w.clock.now),
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway", Name: gw.Name, UID: gw.UID, Controller: ptr.To(true)}}},
				Spec: cmv1.CertificateSpec{DNSNames: []string{string(*l.Hostname)}, SecretName: name,
					IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: issuer}},
			}
			w.must(w.client.Create(ctx, c))
		}
	}
}

func (w *testWorld) event(ctx context.Context, gw *gwv1.Gateway, reason, message string) {
	name := fmt.Sprintf("%s.%s", gw.Name, strings.ToLower(reason))
	if err := w.client.Get(ctx, client.ObjectKey{Namespace: gw.Namespace, Name: name}, &corev1.Event{}); err == nil {
		return
	}
	w.must(w.client.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: gw.Namespace, Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: "Gateway", Namespace: gw.Namespace, Name: gw.Name},
		Reason:         reason, Message: message, Type: corev1.EventTypeWarning,
		LastTimestamp: metav1.NewTime(w.clock.now),
	}))
}

// issueCertificates plays cert-manager: each Certificate without status is
// issued (or failed, when listed in failing) and gets its Secret, and a
// ready one with Issuing=True is issued again.
func (w *testWorld) issueCertificates(ctx context.Context) {
	certs := &cmv1.CertificateList{}
	w.must(w.client.List(ctx, certs))
	sort.Slice(certs.Items, func(i, j int) bool { return certs.Items[i].Name < certs.Items[j].Name })
	for i := range certs.Items {
		c := &certs.Items[i]
		key := c.Namespace + "/" + c.Name
		acme := c.Spec.IssuerRef.Name == "letsencrypt-production"
		if msg, bad := w.failing[c.Name]; bad {
			if c.Status.LastFailureTime == nil {
				if acme {
					w.events = append(w.events, ACMEEvent{At: w.clock.now, Type: ACMEOrder, Names: c.Spec.DNSNames, Certificate: key})
				}
				c.Status.LastFailureTime = ptr.To(metav1.NewTime(w.clock.now))
				c.Status.Conditions = []cmv1.CertificateCondition{
					{Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionFalse, Reason: "Failed", Message: msg, LastTransitionTime: ptr.To(metav1.NewTime(w.clock.now))},
					{Type: cmv1.CertificateConditionIssuing, Status: cmmeta.ConditionFalse, Reason: "Failed", Message: msg},
				}
				w.must(w.client.Status().Update(ctx, c))
			}
			continue
		}
		renew := ready(c) && issuing(c)
		if ready(c) && !renew {
			continue
		}
		if acme {
			if w.authzFailures[c.Name] && !ready(c) {
				w.events = append(w.events, ACMEEvent{At: w.clock.now, Type: ACMEAuthzFailed, Names: c.Spec.DNSNames, Certificate: key})
			}
			w.events = append(w.events,
				ACMEEvent{At: w.clock.now, Type: ACMEOrder, Names: c.Spec.DNSNames, Certificate: key, Renewal: renew},
				ACMEEvent{At: w.clock.now, Type: ACMEIssued, Names: c.Spec.DNSNames, Certificate: key, Renewal: renew})
		}
		rev := 1
		if c.Status.Revision != nil {
			rev = *c.Status.Revision + 1
		}
		c.Status = cmv1.CertificateStatus{
			Revision:  &rev,
			NotBefore: ptr.To(metav1.NewTime(w.clock.now)),
			NotAfter:  ptr.To(metav1.NewTime(w.clock.now.Add(90 * 24 * time.Hour))),
			Conditions: []cmv1.CertificateCondition{{Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionTrue,
				Reason: "Ready", Message: "Certificate is up to date and has not expired", LastTransitionTime: ptr.To(metav1.NewTime(w.clock.now))}},
		}
		w.must(w.client.Status().Update(ctx, c))
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Spec.SecretName},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}}
		if err := w.client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			w.must(err)
		}
	}
}

// setGatewayStatus marks each listener Programmed and ResolvedRefs when its
// Secret exists.
func (w *testWorld) setGatewayStatus(ctx context.Context) {
	gateways := &gwv1.GatewayList{}
	w.must(w.client.List(ctx, gateways))
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		var status []gwv1.ListenerStatus
		for _, l := range gw.Spec.Listeners {
			resolved := metav1.ConditionTrue
			if l.TLS != nil {
				for _, ref := range l.TLS.CertificateRefs {
					err := w.client.Get(ctx, client.ObjectKey{Namespace: gw.Namespace, Name: string(ref.Name)}, &corev1.Secret{})
					if err != nil {
						resolved = metav1.ConditionFalse
					}
				}
			}
			var conds []metav1.Condition
			for _, t := range []string{"Programmed", "ResolvedRefs"} {
				meta.SetStatusCondition(&conds, metav1.Condition{Type: t, Status: resolved, Reason: t, LastTransitionTime: metav1.NewTime(w.clock.now)})
			}
			status = append(status, gwv1.ListenerStatus{Name: l.Name, Conditions: conds, SupportedKinds: []gwv1.RouteGroupKind{}})
		}
		gw.Status.Listeners = status
		w.must(w.client.Status().Update(ctx, gw))
	}
}

// setRouteStatus accepts each parentRef whose listener exists.
func (w *testWorld) setRouteStatus(ctx context.Context) {
	routes := &gwv1.HTTPRouteList{}
	w.must(w.client.List(ctx, routes))
	for i := range routes.Items {
		r := &routes.Items[i]
		r.Status.Parents = nil
		for _, ref := range r.Spec.ParentRefs {
			gw := &gwv1.Gateway{}
			accepted := metav1.ConditionFalse
			if err := w.client.Get(ctx, client.ObjectKey{Namespace: string(*ref.Namespace), Name: string(ref.Name)}, gw); err == nil {
				for _, l := range gw.Spec.Listeners {
					if ref.SectionName == nil || *ref.SectionName == l.Name {
						accepted = metav1.ConditionTrue
					}
				}
			}
			r.Status.Parents = append(r.Status.Parents, gwv1.RouteParentStatus{ParentRef: ref, ControllerName: "example.com/gateway",
				Conditions: []metav1.Condition{{Type: "Accepted", Status: accepted, Reason: "Accepted", LastTransitionTime: metav1.NewTime(w.clock.now)}}})
		}
		w.must(w.client.Status().Update(ctx, r))
	}
}

func (w *testWorld) must(err error) {
	if err != nil {
		w.t.Fatalf("test world: %v", err)
	}
}
