package model

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// publicKeyOf returns the DER public key of a Secret's certificate.
func publicKeyOf(t *testing.T, s *corev1.Secret) []byte {
	t.Helper()
	block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	if block == nil {
		t.Fatal("no certificate in the Secret")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// cert-manager v1.18 added spec.acme.profile and changed the default
// privateKey.rotationPolicy from Never to Always (cert-manager v1.21.2
// pkg/apis/certmanager/v1/types_certificate.go). Under v1.17 rules a
// shortlived issuer still gets classic 90-day certificates and a renewal
// keeps the private key. Under v1.21 rules the profile applies and the
// key rotates.
func TestCertManagerVersionRules(t *testing.T) {
	for _, c := range []struct {
		version  string
		lifetime time.Duration
		sameKey  bool
		setting  string
	}{
		{"v1.17", 90 * day, true, "config.enableGatewayAPI"},
		{"v1.21", 160 * time.Hour, false, "config.gatewayAPI.enabled"},
	} {
		t.Run(c.version, func(t *testing.T) {
			var log bytes.Buffer
			w := newReferenceWorld(t, Options{CertManagerVersion: c.version, Profile: profileShortLived, Log: &log})
			applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
			annotateGateway(t, w, "network", "external", clusterIssuer)
			w.Advance(5 * time.Minute)

			cert := certificate(w, "network", "blog-tls")
			if got := cert.Status.NotAfter.Sub(cert.Status.NotBefore.Time); got != c.lifetime {
				t.Errorf("lifetime = %s, want %s", got, c.lifetime)
			}
			before := publicKeyOf(t, w.getSecretLocked("network", "blog-tls"))
			w.Advance(cert.Status.RenewalTime.Sub(w.Now()) + 5*time.Minute)
			if n := len(issuedTimes(t, w, "network/blog-tls")); n != 2 {
				t.Fatalf("issuances = %d, want 2", n)
			}
			after := publicKeyOf(t, w.getSecretLocked("network", "blog-tls"))
			if bytes.Equal(before, after) != c.sameKey {
				t.Errorf("renewal kept the key = %t, want %t", bytes.Equal(before, after), c.sameKey)
			}
			if !bytes.Contains(log.Bytes(), []byte(c.setting)) {
				t.Errorf("log does not name the setting %s:\n%s", c.setting, log.String())
			}
		})
	}
}

// A listener with both a protocol and a hostname conflict: Envoy Gateway
// 1.9's validateConflictedHostnameListeners skips listeners that have a
// ProtocolConflict, while 1.8's validateConflictedLayer7Listeners replaces
// it with HostnameConflict (internal/gatewayapi/validate.go of v1.9.1 and
// v1.8.0).
func TestConflictReasonByEnvoyGatewayVersion(t *testing.T) {
	for _, c := range []struct{ version, reason string }{
		{"1.8", string(gwapiv1.ListenerReasonHostnameConflict)},
		{"1.9", string(gwapiv1.ListenerReasonProtocolConflict)},
	} {
		t.Run(c.version, func(t *testing.T) {
			w := edgeWorld(t, c.version)
			createObjects(t, w,
				validSecret(t, w, "infra/app-tls", "app.example.com"),
				edgeGateway(listenerSpec("http-443", gwapiv1.HTTPProtocolType, 443, "app.example.com"),
					httpsSpec("https-app", "app.example.com", "app-tls")))
			for _, l := range []string{"http-443", "https-app"} {
				wantListenerCondition(t, w, l, gwapiv1.ListenerConditionConflicted, metav1.ConditionTrue, c.reason)
			}
		})
	}
}

// A certificate after the leaf of tls.crt that has expired: Envoy Gateway
// 1.9's validateServingCertificateChain rejects the whole Secret, 1.8's
// filterValidCertificates drops that certificate, serves the leaf and
// reports PartiallyInvalidCertificateRef (internal/gatewayapi/tls.go of
// v1.9.1 and v1.8.0).
func TestExpiredChainCertificateByEnvoyGatewayVersion(t *testing.T) {
	for _, c := range []struct {
		version    string
		resolved   string
		programmed metav1.ConditionStatus
	}{
		{"1.8", reasonPartiallyInvalidCertificateRef, metav1.ConditionTrue},
		{"1.9", string(gwapiv1.ListenerReasonInvalidCertificateRef), metav1.ConditionFalse},
	} {
		t.Run(c.version, func(t *testing.T) {
			w := edgeWorld(t, c.version)
			s := validSecret(t, w, "infra/app-tls", "app.example.com")
			expired, _ := selfSignedPair(t, w, []string{"intermediate.example.com"}, testStart.AddDate(-2, 0, 0), testStart.AddDate(-1, 0, 0))
			s.Data[corev1.TLSCertKey] = append(s.Data[corev1.TLSCertKey], expired...)
			createObjects(t, w, s, edgeGateway(httpsSpec("https-app", "app.example.com", "app-tls")))

			wantListenerCondition(t, w, "https-app", gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, c.resolved)
			c2 := listenerCondition(t, w, "infra", "edge", "https-app", string(gwapiv1.ListenerConditionProgrammed))
			if c2 == nil || c2.Status != c.programmed {
				t.Errorf("Programmed = %+v, want %s", c2, c.programmed)
			}
		})
	}
}

// RouteRulesOverlap: Envoy Gateway 1.9 added checkRouteOverlaps
// (internal/gatewayapi/route.go, v1.9.1), which marks routes whose rules
// match the same requests on one listener; 1.8 has no such condition.
// Routes whose paths differ do not overlap.
func TestRouteRulesOverlapByEnvoyGatewayVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		overlap bool
	}{
		{"1.8", false},
		{"1.9", true},
	} {
		t.Run(c.version, func(t *testing.T) {
			w := edgeWorld(t, c.version)
			withPath := func(r *gwapiv1.HTTPRoute, prefix string) *gwapiv1.HTTPRoute {
				typ := gwapiv1.PathMatchPathPrefix
				r.Spec.Rules = []gwapiv1.HTTPRouteRule{{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &typ, Value: &prefix}}}}}
				return r
			}
			createObjects(t, w,
				validSecret(t, w, "infra/app-tls", "app.example.com"),
				edgeGateway(httpsSpec("https-app", "app.example.com", "app-tls")),
				edgeRoute("app", "https-app", "app.example.com"),
				// No rules: the Gateway CRD's default rule matches the prefix "/".
				withPath(edgeRoute("app-root", "https-app", "app.example.com"), "/"),
				withPath(edgeRoute("app-api", "https-app", "app.example.com"), "/api/"))

			for _, r := range []string{"app", "app-root"} {
				got := routeParentCondition(t, w, r, "https-app", conditionRouteRulesOverlap)
				if (got != nil) != c.overlap {
					t.Errorf("HTTPRoute %s RouteRulesOverlap = %+v, want present %t", r, got, c.overlap)
				}
			}
			if got := routeParentCondition(t, w, "app-api", "https-app", conditionRouteRulesOverlap); got != nil {
				t.Errorf("HTTPRoute app-api RouteRulesOverlap = %+v, want absent: its path differs", got)
			}
		})
	}
}

// Envoy Gateway 1.8's NoReadyListeners (processAllowedListenersForParentRefs
// in internal/gatewayapi/route.go, v1.8.0) looks at every listener the
// parentRef allows, not only those whose hostname matches, and the route
// still counts in attachedRoutes. A route without sectionName whose host
// only a broken listener serves is Accepted because the wildcard listener
// is ready.
func TestNoReadyListenersByEnvoyGatewayVersion(t *testing.T) {
	for _, version := range []string{"1.8", "1.9"} {
		t.Run(version, func(t *testing.T) {
			w := edgeWorld(t, version)
			createObjects(t, w,
				validSecret(t, w, "infra/wildcard-tls", "*.example.com"),
				edgeGateway(httpsSpec("https", "*.example.com", "wildcard-tls"), httpsSpec("https-app", "app.example.com", "app-tls")),
				edgeRoute("app-any", "", "app.example.com"))

			wantRouteAccepted(t, w, "app-any", "", metav1.ConditionTrue, string(gwapiv1.RouteReasonAccepted))
			if got := edgeListener(t, w, "https-app").AttachedRoutes; got != 1 {
				t.Errorf("https-app attachedRoutes = %d, want 1", got)
			}
			if got := edgeListener(t, w, "https").AttachedRoutes; got != 0 {
				t.Errorf("https attachedRoutes = %d, want 0: https-app claims app.example.com", got)
			}
		})
	}
}
