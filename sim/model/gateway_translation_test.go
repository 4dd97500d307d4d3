package model

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
)

// Focused tests of the Envoy Gateway translation rules the model
// implements. Each names the Envoy Gateway function it follows
// (internal/gatewayapi in github.com/envoyproxy/gateway v1.9.1 unless
// the comment names another version).

// computeHosts (helpers.go, 1.2+): a route hostname that another listener
// of the port names exactly is dropped from the wildcard listener, even
// while that listener has no Secret. The route is then not Accepted on
// the wildcard listener, which stops counting it, and the data plane does
// not serve the host there. This is the migration's state between adding
// a per-host listener and moving the route to it.
func TestRouteHostnameClaimedByOtherListener(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/wildcard-tls", "*.example.com"),
		edgeGateway(httpsSpec("https", "*.example.com", "wildcard-tls"), httpsSpec("https-app", "app.example.com", "app-tls")),
		edgeRoute("app", "https", "app.example.com"),
		edgeRoute("other", "https", "other.example.com"))

	wantRouteAccepted(t, w, "app", "https", metav1.ConditionFalse, string(gwapiv1.RouteReasonNoMatchingListenerHostname))
	wantRouteAccepted(t, w, "other", "https", metav1.ConditionTrue, string(gwapiv1.RouteReasonAccepted))
	if got := edgeListener(t, w, "https").AttachedRoutes; got != 1 {
		t.Errorf("wildcard listener attachedRoutes = %d, want 1 (other only)", got)
	}
	res := probe(t, w, "app.example.com", "direct")
	if res.Outcome != engine.OutcomeNotFound || !strings.Contains(res.Detail, "listener https-app (hostname app.example.com) claims it") {
		t.Errorf("app.example.com: %s (%s), want not-found because https-app claims it", res.Outcome, res.Detail)
	}
	if res := probe(t, w, "other.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("other.example.com: %s (%s), want served", res.Outcome, res.Detail)
	}
}

// computeHosts drops only hostnames that another listener names exactly:
// a wildcard route hostname stays on the wildcard listener. While the
// specific listener is not programmed, Envoy has no filter chain for its
// SNI, so the wildcard listener's filter chain takes the connection and
// its route serves the host.
func TestWildcardRouteHostnameNotClaimed(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/wildcard-tls", "*.example.com"),
		edgeGateway(httpsSpec("https", "*.example.com", "wildcard-tls"), httpsSpec("https-app", "app.example.com", "app-tls")),
		edgeRoute("catch-all", "https", "*.example.com"),
		// This route gives app.example.com its DNS record.
		edgeRoute("app", "https-app", "app.example.com"))

	wantRouteAccepted(t, w, "catch-all", "https", metav1.ConditionTrue, string(gwapiv1.RouteReasonAccepted))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
	res := probe(t, w, "app.example.com", "direct")
	if res.Outcome != engine.OutcomeServed || !containsString(res.SANs, "*.example.com") {
		t.Errorf("app.example.com: %s (%s) with SANs %v, want served by the wildcard listener", res.Outcome, res.Detail, res.SANs)
	}
}

// validateCertBlock (tls.go): Envoy Gateway rejects a certificate outside
// its validity when it translates. The model judges validity on its
// virtual clock when the edge is computed: a listener stays programmed
// after its certificate expires until the next write of an edge kind.
func TestListenerCertificateExpiryAtTranslation(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		tlsSecret(t, w, "infra/app-tls", []string{"app.example.com"}, testStart.Add(-24*time.Hour), testStart.Add(24*time.Hour)),
		tlsSecret(t, w, "infra/later-tls", []string{"later.example.com"}, testStart.Add(time.Hour), testStart.AddDate(0, 3, 0)),
		edgeGateway(httpsSpec("https-app", "app.example.com", "app-tls"), httpsSpec("https-later", "later.example.com", "later-tls")))

	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
	wantListenerCondition(t, w, "https-later", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalidCertificateRef))
	wantListenerCondition(t, w, "https-later", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
	wantListenerCondition(t, w, "https-later", gwapiv1.ListenerConditionAccepted, metav1.ConditionTrue, string(gwapiv1.ListenerReasonAccepted))

	w.Advance(48 * time.Hour)
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))

	// Any write of an edge kind makes the controller translate again.
	createObjects(t, w, edgeRoute("app", "https-app", "app.example.com"))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalidCertificateRef))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
	wantListenerCondition(t, w, "https-later", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
}

// validateTerminateModeAndGetTLSSecrets (validate.go): a Secret must have
// type kubernetes.io/tls, even with valid tls.crt and tls.key.
func TestListenerSecretTypeMustBeTLS(t *testing.T) {
	w := edgeWorld(t, "1.9")
	opaque := validSecret(t, w, "infra/app-tls", "app.example.com")
	opaque.Type = corev1.SecretTypeOpaque
	createObjects(t, w, opaque, edgeGateway(httpsSpec("https-app", "app.example.com", "app-tls")))

	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalidCertificateRef))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
}

// validateTerminateModeAndGetTLSSecrets and validateListenerConditions: a
// listener with one valid certificateRef among invalid ones is served
// with the valid one, Accepted and Programmed, and reports ResolvedRefs
// False PartiallyInvalidCertificateRef.
func TestListenerPartiallyInvalidCertificateRefs(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/app-tls", "app.example.com"),
		edgeGateway(httpsSpec("https-app", "app.example.com", "missing-tls", "app-tls")),
		edgeRoute("app", "https-app", "app.example.com"))

	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, reasonPartiallyInvalidCertificateRef)
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionAccepted, metav1.ConditionTrue, string(gwapiv1.ListenerReasonAccepted))
	if res := probe(t, w, "app.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("app.example.com: %s (%s), want served with the valid certificate", res.Outcome, res.Detail)
	}
}

// validateConflictedProtocolsListeners and validateListenerConditions:
// HTTP and HTTPS listeners on one port are both Conflicted
// ProtocolConflict and not programmed. A listener with any condition
// other than an invalid certificateRef gets no Accepted condition at all.
func TestProtocolConflictHasNoAcceptedCondition(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/app-tls", "app.example.com"),
		edgeGateway(listenerSpec("http-443", gwapiv1.HTTPProtocolType, 443, "plain.example.com"),
			httpsSpec("https-app", "app.example.com", "app-tls")))

	for _, l := range []string{"http-443", "https-app"} {
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionConflicted, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProtocolConflict))
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionTrue, string(gwapiv1.ListenerReasonResolvedRefs))
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionAccepted, "", "")
	}
}

// validateConflictedHostnameListeners: HTTPS and TLS listeners may share a
// port but not a hostname. Listeners whose own spec is invalid, such as
// one without a usable Secret, take no part in the conflict checks.
func TestHostnameConflictAcrossProtocols(t *testing.T) {
	passthrough := func(name, hostname string) gwapiv1.Listener {
		l := listenerSpec(name, gwapiv1.TLSProtocolType, 443, hostname)
		mode := gwapiv1.TLSModePassthrough
		l.TLS = &gwapiv1.ListenerTLSConfig{Mode: &mode}
		return l
	}
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/app-tls", "app.example.com"),
		edgeGateway(httpsSpec("https-app", "app.example.com", "app-tls"), passthrough("tls-app", "app.example.com"),
			httpsSpec("https-broken", "broken.example.com", "missing-tls"), passthrough("tls-broken", "broken.example.com")))

	for _, l := range []string{"https-app", "tls-app"} {
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionConflicted, metav1.ConditionTrue, string(gwapiv1.ListenerReasonHostnameConflict))
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionAccepted, "", "")
	}
	wantListenerCondition(t, w, "tls-broken", gwapiv1.ListenerConditionConflicted, "", "")
	wantListenerCondition(t, w, "tls-broken", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
}

// validateTLSConfiguration, validateHostName and
// validateConflictedLayer4Listeners: listener specs Envoy Gateway rejects
// on their own, and a second TCP listener on a port.
func TestListenerSpecValidation(t *testing.T) {
	httpWithTLS := listenerSpec("http-tls", gwapiv1.HTTPProtocolType, 80, "", "app-tls")
	httpsWithoutTLS := listenerSpec("https-no-tls", gwapiv1.HTTPSProtocolType, 8443, "")
	httpsPassthrough := httpsSpec("https-passthrough", "pass.example.com", "app-tls")
	mode := gwapiv1.TLSModePassthrough
	httpsPassthrough.TLS.Mode = &mode
	httpsPassthrough.Port = 9443
	httpsNoRefs := httpsSpec("https-no-refs", "norefs.example.com")
	httpsNoRefs.TLS = &gwapiv1.ListenerTLSConfig{}
	httpsNoRefs.Port = 10443
	tcpWithHostname := listenerSpec("tcp-hostname", gwapiv1.TCPProtocolType, 5432, "db.example.com")

	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/app-tls", "app.example.com"),
		edgeGateway(httpWithTLS, httpsWithoutTLS, httpsPassthrough, httpsNoRefs, tcpWithHostname,
			listenerSpec("tcp-a", gwapiv1.TCPProtocolType, 6000, ""),
			listenerSpec("tcp-b", gwapiv1.TCPProtocolType, 6000, "")))

	for _, c := range []struct{ listener, reason string }{
		{"http-tls", string(gwapiv1.ListenerReasonInvalid)},
		{"https-no-tls", string(gwapiv1.ListenerReasonInvalid)},
		{"https-passthrough", reasonUnsupportedTLSMode},
		{"https-no-refs", string(gwapiv1.ListenerReasonInvalid)},
		{"tcp-hostname", string(gwapiv1.ListenerReasonInvalid)},
		{"tcp-b", string(gwapiv1.ListenerReasonInvalid)},
	} {
		wantListenerCondition(t, w, c.listener, gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, c.reason)
		wantListenerCondition(t, w, c.listener, gwapiv1.ListenerConditionAccepted, "", "")
	}
	wantListenerCondition(t, w, "tcp-a", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
	wantListenerCondition(t, w, "tcp-b", gwapiv1.ListenerConditionConflicted, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProtocolConflict))
}

// validateListenerSpec and validateAllowedRoutes (validate.go),
// ListenerContext.AllowsKind (contexts.go): allowedRoutes.kinds limits the
// routes a listener accepts, a kind its protocol cannot carry sets
// ResolvedRefs=False InvalidRouteKinds, and an unknown protocol is not
// Accepted.
func TestListenerAllowedRouteKinds(t *testing.T) {
	grpcOnly := httpsSpec("https-grpc", "grpc.example.com", "app-tls")
	grpcOnly.AllowedRoutes.Kinds = []gwapiv1.RouteGroupKind{{Kind: "GRPCRoute"}}
	tcpOnHTTPS := httpsSpec("https-tcp", "tcp.example.com", "app-tls")
	tcpOnHTTPS.AllowedRoutes.Kinds = []gwapiv1.RouteGroupKind{{Kind: "TCPRoute"}}
	unknown := listenerSpec("sctp", "SCTP", 7000, "")

	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/app-tls", "grpc.example.com", "tcp.example.com"),
		edgeGateway(grpcOnly, tcpOnHTTPS, unknown),
		edgeRoute("grpc", "https-grpc", "grpc.example.com"))

	wantRouteAccepted(t, w, "grpc", "https-grpc", metav1.ConditionFalse, string(gwapiv1.RouteReasonNotAllowedByListeners))
	wantListenerCondition(t, w, "https-grpc", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
	wantListenerCondition(t, w, "https-tcp", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalidRouteKinds))
	wantListenerCondition(t, w, "https-tcp", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
	wantListenerCondition(t, w, "sctp", gwapiv1.ListenerConditionAccepted, metav1.ConditionFalse, string(gwapiv1.ListenerReasonUnsupportedProtocol))
	if kinds := edgeListener(t, w, "https-grpc").SupportedKinds; len(kinds) != 1 || kinds[0].Kind != "GRPCRoute" {
		t.Errorf("https-grpc supportedKinds = %v, want GRPCRoute only", kinds)
	}
}

// checkOverlappingHostnames and checkOverlappingCertificates (listener.go):
// the first listener is paired with every later overlapping listener, and
// listeners with an invalid condition are left out.
func TestOverlappingTLSConfigPairsEveryLaterListener(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/wildcard-tls", "*.example.com"),
		validSecret(t, w, "infra/a-tls", "a.example.com"),
		validSecret(t, w, "infra/b-tls", "b.example.com"),
		edgeGateway(httpsSpec("https", "*.example.com", "wildcard-tls"),
			httpsSpec("https-a", "a.example.com", "a-tls"),
			httpsSpec("https-broken", "broken.example.com", "missing-tls"),
			httpsSpec("https-b", "b.example.com", "b-tls")))

	for _, l := range []string{"https", "https-a", "https-b"} {
		wantListenerCondition(t, w, l, gwapiv1.ListenerConditionOverlappingTLSConfig, metav1.ConditionTrue, string(gwapiv1.ListenerReasonOverlappingCertificates))
	}
	wantListenerCondition(t, w, "https-broken", gwapiv1.ListenerConditionOverlappingTLSConfig, "", "")
	c := listenerCondition(t, w, "infra", "edge", "https", string(gwapiv1.ListenerConditionOverlappingTLSConfig))
	if c == nil || !strings.Contains(c.Message, "in listener https-b") {
		t.Errorf("wildcard listener OverlappingTLSConfig = %+v, want the message to name the last listener paired, https-b", c)
	}
}

// isCrossNamespaceReferencePermitted (helpers.go): a certificateRef to
// another namespace needs a ReferenceGrant there from Gateways of the
// listener's namespace to that Secret (or to every Secret). Without one,
// ResolvedRefs is False RefNotPermitted, which is not an invalid
// certificateRef, so the listener has no Accepted condition.
func TestReferenceGrantPermitsCrossNamespaceSecret(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "certs/app-tls", "app.example.com"),
		edgeGateway(httpsSpec("https-app", "app.example.com", "certs/app-tls")))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonRefNotPermitted))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, string(gwapiv1.ListenerReasonInvalid))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionAccepted, "", "")

	grant := func(name, from, secret string) *gwapiv1.ReferenceGrant {
		g := &gwapiv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: name},
			Spec: gwapiv1.ReferenceGrantSpec{
				From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: gwapiv1.Namespace(from)}},
				To:   []gwapiv1.ReferenceGrantTo{{Group: "", Kind: "Secret"}},
			}}
		if secret != "" {
			n := gwapiv1.ObjectName(secret)
			g.Spec.To[0].Name = &n
		}
		return g
	}
	createObjects(t, w, grant("other-namespace", "apps", ""), grant("other-secret", "infra", "other-tls"))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonRefNotPermitted))

	createObjects(t, w, grant("gateways-read-app-tls", "infra", "app-tls"))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionTrue, string(gwapiv1.ListenerReasonResolvedRefs))
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))

	if err := w.Client().Delete(context.Background(), grant("gateways-read-app-tls", "infra", "app-tls")); err != nil {
		t.Fatal(err)
	}
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, string(gwapiv1.ListenerReasonRefNotPermitted))
}

// parseCertsFromTLSSecretsData (tls.go): two certificates of one listener
// may not cover the same domain with the same public key algorithm. The
// later one is rejected, so the listener is partially invalid.
func TestListenerDuplicateCertificateDomain(t *testing.T) {
	w := edgeWorld(t, "1.9")
	createObjects(t, w,
		validSecret(t, w, "infra/first-tls", "app.example.com"),
		validSecret(t, w, "infra/second-tls", "app.example.com"),
		edgeGateway(httpsSpec("https-app", "app.example.com", "first-tls", "second-tls")))

	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, reasonPartiallyInvalidCertificateRef)
	wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed))
}

// computeHosts: the hostnames a route serves on a listener, for every
// combination of exact and wildcard hostnames.
func TestComputeHosts(t *testing.T) {
	cases := []struct {
		listener string
		route    []string
		want     string
	}{
		{"", nil, "*"},
		{"*.example.com", nil, "*.example.com"},
		{"", []string{"a.example.com"}, "a.example.com"},
		{"*.example.com", []string{"a.example.com", "a.b.example.com", "example.com", "a.example.org"}, "a.b.example.com a.example.com"},
		{"a.example.com", []string{"*.example.com"}, "a.example.com"},
		{"*.example.com", []string{"*.com"}, "*.example.com"},
		{"*.com", []string{"*.example.com"}, "*.example.com"},
		{"*.example.com", []string{"*.example.com"}, "*.example.com"},
		{"a.example.com", []string{"b.example.com"}, ""},
	}
	w := edgeWorld(t, "1.9")
	for _, c := range cases {
		ls := &listenerState{name: "l", hostname: c.listener, port: 443}
		gs := &gatewayState{listeners: []*listenerState{ls}}
		r := &gwapiv1.HTTPRoute{}
		for _, h := range c.route {
			r.Spec.Hostnames = append(r.Spec.Hostnames, gwapiv1.Hostname(h))
		}
		if got := strings.Join(w.computeHosts(r, ls, gs), " "); got != c.want {
			t.Errorf("listener %q, route %v: hosts %q, want %q", c.listener, c.route, got, c.want)
		}
	}
}

// buildOverlapKey (route.go): matches that select the same requests get
// one key whatever the header name case, the order of headers and query
// parameters, or a trailing slash of a path prefix. The method counts as
// a header.
func TestRouteMatchKeys(t *testing.T) {
	prefix := func(v string) *gwapiv1.HTTPPathMatch {
		typ := gwapiv1.PathMatchPathPrefix
		return &gwapiv1.HTTPPathMatch{Type: &typ, Value: &v}
	}
	exact := gwapiv1.PathMatchExact
	root := "/"
	get, post := gwapiv1.HTTPMethodGet, gwapiv1.HTTPMethodPost
	headers := func(names ...string) []gwapiv1.HTTPHeaderMatch {
		var out []gwapiv1.HTTPHeaderMatch
		for _, n := range names {
			out = append(out, gwapiv1.HTTPHeaderMatch{Name: gwapiv1.HTTPHeaderName(n), Value: "v"})
		}
		return out
	}

	key := func(m gwapiv1.HTTPRouteMatch) string {
		r := &gwapiv1.HTTPRoute{Spec: gwapiv1.HTTPRouteSpec{Rules: []gwapiv1.HTTPRouteRule{{Matches: []gwapiv1.HTTPRouteMatch{m}}}}}
		return routeMatchKeys(r, []string{"app.example.com"})[0]
	}

	same := []struct {
		name string
		a, b gwapiv1.HTTPRouteMatch
	}{
		{"no path and prefix /", gwapiv1.HTTPRouteMatch{}, gwapiv1.HTTPRouteMatch{Path: prefix("/")}},
		{"trailing slash", gwapiv1.HTTPRouteMatch{Path: prefix("/api/")}, gwapiv1.HTTPRouteMatch{Path: prefix("/api")}},
		{"header case and order", gwapiv1.HTTPRouteMatch{Headers: headers("X-A", "x-b")}, gwapiv1.HTTPRouteMatch{Headers: headers("X-B", "x-a")}},
	}
	for _, c := range same {
		if key(c.a) != key(c.b) {
			t.Errorf("%s: keys differ, want equal", c.name)
		}
	}

	differ := []struct {
		name string
		a, b gwapiv1.HTTPRouteMatch
	}{
		{"prefix and exact", gwapiv1.HTTPRouteMatch{Path: prefix("/")}, gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &exact, Value: &root}}},
		{"method", gwapiv1.HTTPRouteMatch{Method: &get}, gwapiv1.HTTPRouteMatch{Method: &post}},
		{"header", gwapiv1.HTTPRouteMatch{}, gwapiv1.HTTPRouteMatch{Headers: headers("X-A")}},
	}
	for _, c := range differ {
		if key(c.a) == key(c.b) {
			t.Errorf("%s: keys equal, want different", c.name)
		}
	}

	empty := routeMatchKeys(&gwapiv1.HTTPRoute{}, []string{"app.example.com"})
	if len(empty) != 1 || empty[0] != key(gwapiv1.HTTPRouteMatch{}) {
		t.Errorf("route without rules: keys %q, want the key of a match of every request", empty)
	}
}

// RouteRulesOverlap is Envoy Gateway's own condition (checkRouteOverlaps
// in route.go): routes on a Gateway of Istio's class do not get it.
func TestRouteRulesOverlapNotOnIstio(t *testing.T) {
	w := edgeWorld(t, "1.9")
	gw := edgeGateway(httpsSpec("https-app", "app.example.com", "app-tls"))
	gw.Spec.GatewayClassName = "istio"
	createObjects(t, w,
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "istio"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: istioController}},
		validSecret(t, w, "infra/app-tls", "app.example.com"),
		gw,
		edgeRoute("app", "https-app", "app.example.com"),
		edgeRoute("app-copy", "https-app", "app.example.com"))

	wantRouteAccepted(t, w, "app", "https-app", metav1.ConditionTrue, string(gwapiv1.RouteReasonAccepted))
	for _, r := range []string{"app", "app-copy"} {
		if c := routeParentCondition(t, w, r, "https-app", conditionRouteRulesOverlap); c != nil {
			t.Errorf("HTTPRoute %s on an Istio Gateway has %+v, want no RouteRulesOverlap", r, c)
		}
	}
}
