package model

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapply "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

var clusterIssuer = map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt-production"}

// cert-manager docs (cert-manager.io/docs/usage/gateway, v1.15+): the
// gateway-shim runs only with Gateway API support enabled; without it the
// annotations are silently ignored: no Certificate, no Event.
func TestShimDisabledIgnoresAnnotations(t *testing.T) {
	w := newReferenceWorld(t, Options{GatewayAPIEnabled: new(false)})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(10 * time.Minute)

	if c := certificate(w, "network", "blog-tls"); c != nil {
		t.Errorf("Certificate network/blog-tls exists with the shim disabled")
	}
	if ev := events(t, w, "Gateway", "network", "external", ""); len(ev) != 0 {
		t.Errorf("Gateway has %d Events with the shim disabled, want 0: %v", len(ev), ev[0].Message)
	}
	if n := w.ACMEOrders(); n != 0 {
		t.Errorf("ACME orders = %d, want 0", n)
	}
}

// cert-manager v1.21.2 pkg/controller/certificate-shim/sync.go
// (buildCertificates, handleGatewayAPIListeners) creates one Certificate
// per Secret, named after the Secret, in the Gateway's namespace. It
// carries the hostnames of every listener sharing the Secret and a
// controller owner reference to the Gateway, and helper.go
// translateAnnotations copies the duration and renew-before annotations.
func TestShimCreatesOneCertificatePerSecret(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "internal",
		httpsListener("https-grafana", "grafana.example.com", "grafana-tls"),
		httpsListener("https-grafana-alt", "grafana-alt.example.com", "grafana-tls"),
		httpsListener("https-gatus", "gatus.example.com", "gatus-tls"),
	)
	annotateGateway(t, w, "network", "internal", map[string]string{
		"cert-manager.io/cluster-issuer": "letsencrypt-production",
		"cert-manager.io/duration":       "168h",
		"cert-manager.io/renew-before":   "48h",
	})

	c := certificate(w, "network", "grafana-tls")
	if c == nil {
		t.Fatal("Certificate network/grafana-tls not created")
	}
	if got := strings.Join(c.Spec.DNSNames, ","); got != "grafana.example.com,grafana-alt.example.com" {
		t.Errorf("dnsNames = %s, want both listeners' hostnames merged in listener order", got)
	}
	if c.Spec.SecretName != "grafana-tls" {
		t.Errorf("secretName = %s", c.Spec.SecretName)
	}
	if c.Spec.IssuerRef != (cmmeta.IssuerReference{Name: "letsencrypt-production", Kind: "ClusterIssuer"}) {
		t.Errorf("issuerRef = %+v", c.Spec.IssuerRef)
	}
	if c.Spec.Duration == nil || c.Spec.Duration.Duration != 168*time.Hour {
		t.Errorf("duration = %v, want 168h from the annotation", c.Spec.Duration)
	}
	if c.Spec.RenewBefore == nil || c.Spec.RenewBefore.Duration != 48*time.Hour {
		t.Errorf("renewBefore = %v, want 48h from the annotation", c.Spec.RenewBefore)
	}
	var gw gwapiv1.Gateway
	getObject(t, w, "network", "internal", &gw)
	if !metav1.IsControlledBy(c, &gw) {
		t.Errorf("Certificate is not controlled by the Gateway: %+v", c.OwnerReferences)
	}
	if certificate(w, "network", "gatus-tls") == nil {
		t.Error("Certificate network/gatus-tls not created")
	}
	if ev := events(t, w, "Gateway", "network", "internal", "CreateCertificate"); len(ev) != 2 {
		t.Errorf("CreateCertificate Events = %d, want 2", len(ev))
	}
}

// cert-manager v1.21.2 sync.go validateGatewayListenerBlock skips a
// listener without hostname or with a certificateRef to another namespace,
// with a Warning Event BadConfig. A Passthrough listener is skipped before
// validation, so without an Event.
func TestShimSkipsInvalidListeners(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	crossNS := httpsListener("https-cross", "cross.example.com", "cross-tls")
	crossNS.TLS.CertificateRefs[0].WithNamespace("other")
	passthrough := gwapply.Listener().WithName("tls-pass").WithPort(8443).WithProtocol(gwapiv1.TLSProtocolType).
		WithHostname("pass.example.com").WithTLS(gwapply.ListenerTLSConfig().WithMode(gwapiv1.TLSModePassthrough))
	applyListeners(t, w, "network", "external", crossNS, passthrough)
	annotateGateway(t, w, "network", "external", clusterIssuer)

	bad := events(t, w, "Gateway", "network", "external", "BadConfig")
	var messages []string
	for _, e := range bad {
		messages = append(messages, e.Message)
	}
	joined := strings.Join(messages, "\n")
	if !strings.Contains(joined, "spec.listeners[1].hostname: Required value") {
		t.Errorf("no BadConfig for the wildcard https listener without hostname; Events:\n%s", joined)
	}
	if !strings.Contains(joined, "cross-namespace secret references are not allowed") {
		t.Errorf("no BadConfig for the cross-namespace certificateRef; Events:\n%s", joined)
	}
	if strings.Contains(joined, "tls-pass") || strings.Contains(joined, "Passthrough") {
		t.Errorf("BadConfig for the Passthrough listener, want it skipped silently:\n%s", joined)
	}
	for _, name := range []string{"cross-tls", "example-com-tls"} {
		if certificate(w, "network", name) != nil {
			t.Errorf("Certificate network/%s created for a skipped listener", name)
		}
	}
	if len(bad) != 2 {
		t.Errorf("BadConfig Events = %d, want 2 (one per skipped listener, once per Gateway version)", len(bad))
	}
}

// cert-manager v1.21.2 sync.go buildCertificates leaves alone an existing
// Certificate with the Secret's name that the Gateway does not control,
// and only logs it. The shim never checks who owns the Secret.
func TestShimLeavesForeignCertificateAlone(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	foreign := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "blog-tls"},
		Spec: cmapi.CertificateSpec{SecretName: "blog-tls", DNSNames: []string{"old-blog.example.com"},
			IssuerRef: cmmeta.IssuerReference{Name: "letsencrypt-production", Kind: "ClusterIssuer"}},
	}
	if err := w.Client().Create(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)

	c := certificate(w, "network", "blog-tls")
	if got := strings.Join(c.Spec.DNSNames, ","); got != "old-blog.example.com" {
		t.Errorf("foreign Certificate's dnsNames = %s, want them unchanged", got)
	}
	if len(c.OwnerReferences) != 0 {
		t.Errorf("foreign Certificate gained owner references: %+v", c.OwnerReferences)
	}
	if lines := traceLines(w, "shim", "not owned by this Gateway"); len(lines) == 0 {
		t.Error("trace does not record the skipped Certificate")
	}
}

// cert-manager v1.21.2 sync.go findCertificatesToBeRemoved: the shim
// deletes the Certificates the Gateway controls whose Secret no listener
// references any more; the Secret stays.
func TestShimDeletesUnreferencedCertificates(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(5 * time.Minute)
	if certificate(w, "network", "blog-tls") == nil {
		t.Fatal("Certificate network/blog-tls not created")
	}

	applyListeners(t, w, "network", "external")
	if certificate(w, "network", "blog-tls") != nil {
		t.Error("Certificate network/blog-tls still exists after its listener was removed")
	}
	if ev := events(t, w, "Gateway", "network", "external", "DeleteCertificate"); len(ev) != 1 {
		t.Errorf("DeleteCertificate Events = %d, want 1", len(ev))
	}
	if w.getSecretLocked("network", "blog-tls") == nil {
		t.Error("Secret network/blog-tls was deleted; cert-manager leaves it by default")
	}
}

// cert-manager v1.21.2 sync.go certNeedsUpdate: a listener hostname added
// to a Secret's listeners updates the owned Certificate's dnsNames.
func TestShimUpdatesOwnedCertificate(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	applyListeners(t, w, "network", "external",
		httpsListener("https-blog", "blog.example.com", "blog-tls"),
		httpsListener("https-www-blog", "www.blog.example.com", "blog-tls"))

	c := certificate(w, "network", "blog-tls")
	if got := strings.Join(c.Spec.DNSNames, ","); got != "blog.example.com,www.blog.example.com" {
		t.Errorf("dnsNames = %s, want the added hostname", got)
	}
	if ev := events(t, w, "Gateway", "network", "external", "UpdateCertificate"); len(ev) != 1 {
		t.Errorf("UpdateCertificate Events = %d, want 1", len(ev))
	}
}
