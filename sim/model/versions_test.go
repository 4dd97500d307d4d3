package model

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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
