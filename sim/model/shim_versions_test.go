package model

import (
	"strings"
	"testing"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"
)

// passthroughListener is a TLS passthrough listener on port 8443.
func passthroughListener(name, hostname, secret string) *gwapply.ListenerApplyConfiguration {
	return gwapply.Listener().WithName(gwapiv1.SectionName(name)).WithPort(8443).
		WithProtocol(gwapiv1.TLSProtocolType).WithHostname(gwapiv1.Hostname(hostname)).
		WithTLS(gwapply.ListenerTLSConfig().WithMode(gwapiv1.TLSModePassthrough).
			WithCertificateRefs(gwapply.SecretObjectReference().WithName(gwapiv1.ObjectName(secret))))
}

// From cert-manager v1.18.0 the shim skips TLS passthrough listeners
// before validation, without an event. v1.17.1 validates them and rejects
// the mode (validateGatewayListenerBlock in
// pkg/controller/certificate-shim/sync.go). Neither creates a Certificate.
func TestShimPassthroughByVersion(t *testing.T) {
	for _, c := range []struct {
		version  string
		badEvent bool
	}{{"v1.17", true}, {"v1.21", false}} {
		w := newReferenceWorld(t, Options{CertManagerVersion: c.version})
		applyListeners(t, w, "network", "external", passthroughListener("tls-db", "db.example.com", "db-tls"))
		annotateGateway(t, w, "network", "external", clusterIssuer)
		w.Advance(time.Minute)

		if crt := certificate(w, "network", "db-tls"); crt != nil {
			t.Errorf("cert-manager %s: Certificate network/db-tls created for a passthrough listener", c.version)
		}
		found := false
		for _, ev := range events(t, w, "Gateway", "network", "external", "BadConfig") {
			if strings.Contains(ev.Message, "tls.mode") {
				found = true
			}
		}
		if found != c.badEvent {
			t.Errorf("cert-manager %s: BadConfig event about tls.mode = %t, want %t", c.version, found, c.badEvent)
		}
	}
}

// cert-manager v1.21.0 added cert-manager.io/ignore-tls-listeners
// (pkg/controller/certificate-shim/sync.go,
// isGatewayAPIListenerIgnoredThroughAnnotation). Earlier releases do not
// read it and create the listener's Certificate.
func TestShimIgnoreListenersByVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		created bool
	}{{"v1.17", true}, {"v1.21", false}} {
		w := newReferenceWorld(t, Options{CertManagerVersion: c.version})
		applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
		annotateGateway(t, w, "network", "external", map[string]string{
			"cert-manager.io/cluster-issuer":       "letsencrypt-production",
			"cert-manager.io/ignore-tls-listeners": "https, https-blog",
		})
		w.Advance(time.Minute)

		if created := certificate(w, "network", "blog-tls") != nil; created != c.created {
			t.Errorf("cert-manager %s: Certificate network/blog-tls created = %t, want %t", c.version, created, c.created)
		}
	}
}
