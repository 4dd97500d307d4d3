package model

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// routeAccepted returns the Accepted condition of a route's first parent.
func routeAccepted(t *testing.T, w *World, namespace, name string) *metav1.Condition {
	t.Helper()
	var r gwapiv1.HTTPRoute
	getObject(t, w, namespace, name, &r)
	if len(r.Status.Parents) == 0 {
		t.Fatalf("HTTPRoute %s/%s has no parent status", namespace, name)
	}
	return meta.FindStatusCondition(r.Status.Parents[0].Conditions, string(gwapiv1.RouteConditionAccepted))
}

// Envoy Gateway: a listener whose certificate Secret is missing has
// ResolvedRefs=False (InvalidCertificateRef) and Programmed=False.
func TestListenerWithMissingSecretIsNotProgrammed(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))

	resolved := listenerCondition(t, w, "network", "internal", "https-grafana", "ResolvedRefs")
	if resolved == nil || resolved.Status != metav1.ConditionFalse || resolved.Reason != "InvalidCertificateRef" {
		t.Errorf("ResolvedRefs = %+v, want False InvalidCertificateRef", resolved)
	}
	programmed := listenerCondition(t, w, "network", "internal", "https-grafana", "Programmed")
	if programmed == nil || programmed.Status != metav1.ConditionFalse {
		t.Errorf("Programmed = %+v, want False", programmed)
	}
	if c := listenerCondition(t, w, "network", "internal", "https", "Programmed"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("wildcard listener Programmed = %+v, want True", c)
	}
}

// Listener isolation (Envoy Gateway 1.2+, Gateway API GEP-1713): once a
// listener claims grafana.example.com, the wildcard listener of that port
// stops serving it, even while the specific listener is broken. Keeping
// the route on the wildcard listener, or flipping it back, is therefore no
// rollback.
func TestListenerIsolationWithBrokenListener(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	if res := probe(t, w, "grafana.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Fatalf("before: %s (%s), want served", res.Outcome, res.Detail)
	}
	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))

	res := probe(t, w, "grafana.example.com", "direct")
	if res.Outcome != engine.OutcomeNotFound {
		t.Errorf("grafana with a broken specific listener: %s (%s), want not-found", res.Outcome, res.Detail)
	}
	if res := probe(t, w, "gatus.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("gatus: %s (%s), want served", res.Outcome, res.Detail)
	}

	applyListeners(t, w, "network", "internal")
	if res := probe(t, w, "grafana.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("grafana after removing the listener: %s (%s), want served", res.Outcome, res.Detail)
	}
	w.Advance(time.Hour)
	if got := w.Availability()["grafana.example.com"]; got != 1 {
		t.Errorf("availability of grafana = %v, want 1: the outage took no virtual time", got)
	}
}

// Before Envoy Gateway 1.2 there was no listener isolation: the wildcard
// listener keeps serving the host.
func TestNoListenerIsolationBeforeEnvoyGateway12(t *testing.T) {
	w := newReferenceWorld(t, Options{EnvoyGatewayVersion: "1.1"})
	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
	if res := probe(t, w, "grafana.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("grafana: %s (%s), want served", res.Outcome, res.Detail)
	}
}

// TLS selection (Envoy filter chain match on server names, as Envoy
// Gateway programs it): an exact hostname beats a wildcard, which beats a
// listener without hostname.
func TestTLSHostnamePrecedence(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "internal",
		httpsListener("https-wild", "*.example.com", "wild-tls"),
		httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
	annotateGateway(t, w, "network", "internal", clusterIssuer)
	w.Advance(5 * time.Minute)

	cases := []struct{ host, san string }{
		{"grafana.example.com", "grafana.example.com"},
		{"gatus.example.com", "*.example.com"},
	}
	for _, c := range cases {
		res := probe(t, w, c.host, "direct")
		if res.Outcome == engine.OutcomeHandshakeFailure || res.Outcome == engine.OutcomeRefused {
			t.Errorf("%s: %s (%s)", c.host, res.Outcome, res.Detail)
			continue
		}
		if !containsString(res.SANs, c.san) {
			t.Errorf("%s: served SANs %v, want the certificate with %s", c.host, res.SANs, c.san)
		}
	}
	if len(probe(t, w, "grafana.example.com", "direct").SANs) != 1 {
		t.Error("grafana was not served the exact listener's own certificate")
	}
}

// The same precedence on the listener choice alone, with a longer wildcard
// beating a shorter one and the listener without hostname as last resort.
func TestSelectListenerPrecedence(t *testing.T) {
	listeners := []*listenerState{
		{name: "any", hostname: ""},
		{name: "wild", hostname: "*.example.com"},
		{name: "app-wild", hostname: "*.app.example.com"},
		{name: "grafana", hostname: "grafana.example.com"},
	}
	cases := []struct{ sni, want string }{
		{"grafana.example.com", "grafana"},
		{"gatus.example.com", "wild"},
		{"kiali.app.example.com", "app-wild"},
		{"example.com", "any"},
		{"other.org", "any"},
	}
	for _, c := range cases {
		if got := selectListener(listeners, c.sni); got == nil || got.name != c.want {
			t.Errorf("SNI %s selected %+v, want %s", c.sni, got, c.want)
		}
	}
	if got := selectListener(listeners[1:], "other.org"); got != nil {
		t.Errorf("SNI other.org without a catch-all selected %s, want none (handshake failure)", got.name)
	}
}

// Route status with a missing Secret on the only listener a route binds
// to: Accepted=False NoReadyListeners up to Envoy Gateway 1.8, Accepted=True
// from 1.9 (processAllowedListenersForParentRefs in internal/gatewayapi/
// route.go of v1.8.0 and v1.9.1). A route with sectionName binds that listener only, so it is
// not served either way.
func TestRouteAcceptedByEnvoyGatewayVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		status  metav1.ConditionStatus
		reason  string
	}{
		{"1.8", metav1.ConditionFalse, "NoReadyListeners"},
		{"1.9", metav1.ConditionTrue, "Accepted"},
	} {
		t.Run(c.version, func(t *testing.T) {
			w := newReferenceWorld(t, Options{EnvoyGatewayVersion: c.version})
			applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
			flipRoute(t, w, "apps", "grafana", "https-grafana")

			cond := routeAccepted(t, w, "apps", "grafana")
			if cond == nil || cond.Status != c.status || cond.Reason != c.reason {
				t.Errorf("Accepted = %+v, want %s %s", cond, c.status, c.reason)
			}
			// processHTTPRouteParentRefListener counts the route on the
			// listener in both versions, ready or not.
			var gw gwapiv1.Gateway
			getObject(t, w, "network", "internal", &gw)
			attached := int32(-1)
			for _, l := range gw.Status.Listeners {
				if l.Name == "https-grafana" {
					attached = l.AttachedRoutes
				}
			}
			if attached != 1 {
				t.Errorf("https-grafana attachedRoutes = %d, want 1", attached)
			}
			if res := probe(t, w, "grafana.example.com", "direct"); res.Outcome == engine.OutcomeServed {
				t.Errorf("grafana served through a listener without certificate")
			}
		})
	}
}

// A client path with a fixed SNI (a tunnel whose origin server name is
// tunnel.example.com) lands on the listener that matches that SNI, not on
// the host's own listener. After blog moves to https-blog, direct clients
// are served but the tunnel reaches the wildcard listener, which no longer
// routes blog.
func TestFixedSNIPathMissesMovedRoute(t *testing.T) {
	inv := topology.Reference()
	inv.ClientPaths = append(inv.ClientPaths, topology.ClientPath{
		Name: "tunnel", Kind: topology.ClientPathFixedSNI, Gateway: "network/external",
		ServerName: "tunnel.example.com", Hostnames: []string{"*.example.com"},
	})
	w, err := New(inv, Options{Seed: 1, Start: testStart})
	if err != nil {
		t.Fatal(err)
	}
	if res := probe(t, w, "blog.example.com", "tunnel"); res.Outcome != engine.OutcomeServed {
		t.Fatalf("tunnel before: %s (%s), want served", res.Outcome, res.Detail)
	}
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(5 * time.Minute)
	flipRoute(t, w, "apps-public", "blog", "https-blog")

	if res := probe(t, w, "blog.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("direct after the move: %s (%s), want served", res.Outcome, res.Detail)
	}
	res := probe(t, w, "blog.example.com", "tunnel")
	if res.Outcome != engine.OutcomeNotFound {
		t.Errorf("tunnel after the move: %s (%s), want not-found", res.Outcome, res.Detail)
	}
	if !containsString(res.SANs, "*.example.com") {
		t.Errorf("tunnel handshake served %v, want the wildcard certificate", res.SANs)
	}
	if _, err := w.Prober().Probe(t.Context(), "blog.example.org", "tunnel"); !errors.Is(err, ErrHostNotCarried) {
		t.Errorf("probe of a host the tunnel does not carry: err = %v, want ErrHostNotCarried", err)
	}
}

// Envoy Gateway 1.4+ sets OverlappingTLSConfig on HTTPS listeners of one
// port whose hostnames or certificates overlap, preferring the reason
// OverlappingCertificates (Gateway API ListenerConditionOverlappingTLSConfig).
func TestOverlappingCertificatesCondition(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(5 * time.Minute)

	for _, l := range []string{"https", "https-blog"} {
		c := listenerCondition(t, w, "network", "external", l, "OverlappingTLSConfig")
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != "OverlappingCertificates" {
			t.Errorf("listener %s OverlappingTLSConfig = %+v, want True OverlappingCertificates", l, c)
		}
	}
	w2 := newReferenceWorld(t, Options{EnvoyGatewayVersion: "1.3"})
	applyListeners(t, w2, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	if c := listenerCondition(t, w2, "network", "external", "https-blog", "OverlappingTLSConfig"); c != nil {
		t.Errorf("Envoy Gateway 1.3 set %+v", c)
	}
}
