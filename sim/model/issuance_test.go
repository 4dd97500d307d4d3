package model

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"

	"github.com/certwave/certwave/engine"
)

// issuedTimes returns the virtual times of the ACME issuances for a
// Certificate (namespace/name).
func issuedTimes(t *testing.T, w *World, cert string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, e := range acmeEvents(t, w, engine.ACMEIssued) {
		if e.Certificate == cert {
			out = append(out, e.At)
		}
	}
	return out
}

// cert-manager v1.21.2 pkg/api/util/issuers.go SecretIssuerAnnotationsMatch:
// a Secret without cert-manager annotations matches only an Issuer
// reference, so a reflector mirror under a Certificate of a ClusterIssuer
// triggers IncorrectIssuer and one ACME order. Reflector (emberstack)
// overwrites the mirror again when the source changes, here at the source's
// renewal, and cert-manager re-issues (SecretMismatch: the key no longer
// matches its CertificateRequest), another order.
func TestMirrorTakeoverAndReflectorFight(t *testing.T) {
	// The wildcard was issued 50 days before Start, so it renews (day 60
	// minus the one-hour backdate) about ten days in.
	w := newReferenceWorld(t, Options{InitialCertificateAge: 50 * day})
	annotateGateway(t, w, "mcp-system", "mcp-gateway", clusterIssuer)
	w.Advance(5 * time.Minute)

	c := certificate(w, "mcp-system", "example-com-tls")
	if c == nil {
		t.Fatal("shim did not create Certificate mcp-system/example-com-tls")
	}
	if lines := traceLines(w, "Certificate/mcp-system/example-com-tls", "issuing: IncorrectIssuer"); len(lines) != 1 {
		t.Errorf("IncorrectIssuer issuances = %d, want 1", len(lines))
	}
	if n := w.ACMEOrders(); n != 1 {
		t.Errorf("orders after the takeover = %d, want 1", n)
	}
	if status, reason := readyCondition(c); status != "True" || reason != "Ready" {
		t.Errorf("Ready = %s %s, want True Ready", status, reason)
	}
	mirror := w.getSecretLocked("mcp-system", "example-com-tls")
	if mirror.Annotations[cmapi.IssuerNameAnnotationKey] != "letsencrypt-production" {
		t.Errorf("mirror's issuer-name annotation = %q, want cert-manager's", mirror.Annotations[cmapi.IssuerNameAnnotationKey])
	}

	w.Advance(11 * day)
	if lines := traceLines(w, "reflector", "Secret/mcp-system/example-com-tls", "although Certificate example-com-tls writes it"); len(lines) != 1 {
		t.Errorf("reflector overwrites of the taken-over mirror = %d, want 1 (at the source's renewal)", len(lines))
	}
	if lines := traceLines(w, "Certificate/mcp-system/example-com-tls", "issuing: SecretMismatch"); len(lines) != 1 {
		t.Errorf("SecretMismatch re-issues = %d, want 1", len(lines))
	}
	if n := w.ACMEOrders(); n != 3 {
		t.Errorf("orders = %d, want 3: the takeover, the source's renewal, the re-issue after the overwrite", n)
	}
}

// cert-manager v1.21.2 pkg/util/pki/renewaltime.go: renewal is notAfter
// minus renewBefore when renewBefore is shorter than the actual lifetime,
// else notAfter minus a third of the lifetime. The requested duration plays
// no part, and Let's Encrypt ignores it (letsencrypt.org/docs/profiles),
// so duration: 168h on a 90-day classic certificate renews on day 60 after
// notBefore, not day 88; day 88 needs renewBefore (56h gives day 87.67).
func TestRenewalTimeFromIssuedCertificate(t *testing.T) {
	notBefore := testStart
	notAfter := notBefore.Add(90 * day)
	cases := []struct {
		name string
		spec cmapi.CertificateSpec
		want time.Duration // after notBefore
	}{
		{"default third", cmapi.CertificateSpec{}, 60 * day},
		{"duration 168h ignored", cmapi.CertificateSpec{Duration: &metav1.Duration{Duration: 168 * time.Hour}}, 60 * day},
		{"renewBefore 56h", cmapi.CertificateSpec{RenewBefore: &metav1.Duration{Duration: 56 * time.Hour}}, 90*day - 56*time.Hour},
		{"renewBefore not shorter than lifetime", cmapi.CertificateSpec{RenewBefore: &metav1.Duration{Duration: 91 * day}}, 60 * day},
		{"renewBeforePercentage 10", cmapi.CertificateSpec{RenewBeforePercentage: new(int32(10))}, 81 * day},
	}
	for _, c := range cases {
		got := renewalTime(notBefore, notAfter, c.spec).Sub(notBefore)
		if got != c.want {
			t.Errorf("%s: renewal %s after notBefore, want %s", c.name, got, c.want)
		}
	}
}

// The same rule end to end: a shim Certificate with duration 168h on the
// classic profile gets a 90-day certificate renewing 60 days after
// notBefore.
func TestClassicDuration168hRenewsOnDay60(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", map[string]string{
		"cert-manager.io/cluster-issuer": "letsencrypt-production",
		"cert-manager.io/duration":       "168h",
	})
	w.Advance(5 * time.Minute)
	c := certificate(w, "network", "blog-tls")
	if c.Status.NotBefore == nil || c.Status.RenewalTime == nil || c.Status.NotAfter == nil {
		t.Fatalf("status not filled: %+v", c.Status)
	}
	if lifetime := c.Status.NotAfter.Sub(c.Status.NotBefore.Time); lifetime != 90*day {
		t.Errorf("lifetime = %s, want 90 days (Let's Encrypt ignores the requested 168h)", lifetime)
	}
	if d := c.Status.RenewalTime.Sub(c.Status.NotBefore.Time); d != 60*day {
		t.Errorf("renewal %s after notBefore, want 60 days", d)
	}
}

// Let's Encrypt's shortlived profile issues 160-hour certificates. Renewal
// comes a third of the lifetime before notAfter, 106h40m after notBefore,
// and notBefore is backdated one hour. So the certificate is re-issued
// every 105h40m plus the DNS01 issuance time (62 to 66 s, because the
// 7-hour authorization reuse has lapsed): about 4.40 days.
func TestShortlivedRenewsEvery4Point4Days(t *testing.T) {
	w := newReferenceWorld(t, Options{Profile: profileShortLived})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(20 * day)

	times := issuedTimes(t, w, "network/blog-tls")
	if len(times) < 4 {
		t.Fatalf("issuances in 20 days = %d, want at least 4", len(times))
	}
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		if gap < 105*time.Hour+41*time.Minute || gap > 105*time.Hour+41*time.Minute+6*time.Second {
			t.Errorf("issuance %d came %s after the previous, want 105h41m2s to 105h41m6s", i, gap)
		}
	}
	c := certificate(w, "network", "blog-tls")
	if lifetime := c.Status.NotAfter.Sub(c.Status.NotBefore.Time); lifetime != 160*time.Hour {
		t.Errorf("lifetime = %s, want 160h", lifetime)
	}
}

// cert-manager v1.21.2 pkg/controller/certificates/trigger
// shouldBackoffReissuingOnFailure: after the n-th consecutive failure the
// next attempt waits 1h * 2^(n-1), capped at 32h (the defaults of
// certificateRequestMinimumBackoffDuration and ...Maximum...). A forced
// 429 fails every order at once, so attempts come 1h, 2h, 4h, 8h, 16h,
// 32h, 32h, 32h apart.
func TestFailedIssuanceBacksOff(t *testing.T) {
	w := newReferenceWorld(t, Options{Faults: []Fault{{Kind: FaultRateLimit, Names: []string{"blog.example.com"}}}})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(130 * time.Hour)

	var times []time.Time
	for _, e := range acmeEvents(t, w, engine.ACMERefused) {
		if e.Certificate == "network/blog-tls" {
			times = append(times, e.At)
		}
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 32, 32}
	if len(times) != len(want)+1 {
		t.Fatalf("refused attempts = %d, want %d", len(times), len(want)+1)
	}
	for i, h := range want {
		if gap := times[i+1].Sub(times[i]); gap != h*time.Hour {
			t.Errorf("attempt %d came %s after the previous, want %dh", i+1, gap, h)
		}
	}
	c := certificate(w, "network", "blog-tls")
	cond := certificateCondition(c, cmapi.CertificateConditionIssuing)
	if cond == nil || cond.Status != cmmeta.ConditionFalse || cond.Reason != "Failed" {
		t.Errorf("Issuing = %+v, want False Failed", cond)
	}
	if status, reason := readyCondition(c); status != "False" || reason != "DoesNotExist" {
		t.Errorf("Ready = %s %s, want False DoesNotExist", status, reason)
	}
}

// cert-manager v1.21.2: Ready is set by the readiness controller when the
// Certificate, its Secret or its requests change, and nothing requeues it
// at notAfter. A certificate whose renewals fail keeps Ready=True past
// expiry until the next failed attempt writes the status.
func TestReadyNotReevaluatedAtExpiry(t *testing.T) {
	issuedAt := testStart.Add(2 * time.Minute)
	w := newReferenceWorld(t, Options{Profile: profileShortLived, Faults: []Fault{
		{Kind: FaultDNS01Fail, Names: []string{"blog.example.com"}, From: issuedAt.Add(time.Hour)},
	}})
	applyListeners(t, w, "network", "external", httpsListener("https-blog", "blog.example.com", "blog-tls"))
	annotateGateway(t, w, "network", "external", clusterIssuer)
	w.Advance(2 * time.Minute)
	flipRoute(t, w, "apps-public", "blog", "https-blog")
	c := certificate(w, "network", "blog-tls")
	notAfter := c.Status.NotAfter.Time

	// Renewal at 106h40m after notBefore fails, then again after 1, 2, 4,
	// 8 and 16 hours; the next try is 32 hours later, after notAfter.
	w.Advance(notAfter.Sub(w.Now()) + time.Hour)
	c = certificate(w, "network", "blog-tls")
	if status, _ := readyCondition(c); status != "True" {
		t.Errorf("Ready one hour after notAfter = %s, want still True", status)
	}
	if res := probe(t, w, "blog.example.com", "direct"); res.Outcome != engine.OutcomeHandshakeFailure {
		t.Errorf("probe one hour after notAfter: %s (%s), want handshake-failure", res.Outcome, res.Detail)
	}
	if a := w.Availability()["blog.example.com"]; a > 1-float64(time.Hour)/float64(notAfter.Sub(testStart)) {
		t.Errorf("availability of blog = %v, want the hour since notAfter counted as down", a)
	}
	w.Advance(12 * time.Hour)
	c = certificate(w, "network", "blog-tls")
	if status, reason := readyCondition(c); status != "False" || reason != "Expired" {
		t.Errorf("Ready after the next failed attempt = %s %s, want False Expired", status, reason)
	}
	if n := len(acmeEvents(t, w, engine.ACMEAuthzFailed)); n != 7 {
		t.Errorf("failed authorizations = %d, want 7", n)
	}
}

// The engine's private CA: a selfSigned ClusterIssuer, a CA Certificate
// issued by it into cert-manager's namespace, and a CA ClusterIssuer on that
// Secret (cert-manager docs, CA and SelfSigned issuers). Certificates from
// the CA issue at once, with no ACME order.
func TestPrivateCAIssuesWithoutACME(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	ctx := context.Background()
	selfSigned := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "certwave-selfsigned"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}}
	caCert := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "certwave-private-ca"},
		Spec: cmapi.CertificateSpec{IsCA: true, CommonName: "certwave private CA", SecretName: "certwave-private-ca",
			IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "certwave-selfsigned"}}}
	ca := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "certwave-private-ca"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "certwave-private-ca"}}}}
	if err := w.Client().Create(ctx, ca); err != nil {
		t.Fatal(err)
	}
	var got cmapi.ClusterIssuer
	getObject(t, w, "", "certwave-private-ca", &got)
	if issuerReady(got.Status) {
		t.Error("CA issuer Ready before its Secret exists")
	}
	if err := w.Client().Create(ctx, selfSigned); err != nil {
		t.Fatal(err)
	}
	if err := w.Client().Create(ctx, caCert); err != nil {
		t.Fatal(err)
	}
	getObject(t, w, "", "certwave-private-ca", &got)
	if !issuerReady(got.Status) {
		t.Fatalf("CA issuer not Ready after the CA Certificate was issued: %+v", got.Status)
	}

	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
	annotateGateway(t, w, "network", "internal", map[string]string{"cert-manager.io/cluster-issuer": "certwave-private-ca"})
	c := certificate(w, "network", "grafana-tls")
	if status, _ := readyCondition(c); status != "True" {
		t.Errorf("private-CA Certificate Ready = %s, want True at once", status)
	}
	s := w.getSecretLocked("network", "grafana-tls")
	if len(s.Data[cmmeta.TLSCAKey]) == 0 || len(s.Data[corev1.TLSCertKey]) == 0 {
		t.Error("Secret lacks tls.crt or ca.crt")
	}
	res := probe(t, w, "grafana.example.com", "direct")
	if res.Issuer != "certwave private CA" {
		t.Errorf("issuer of the served certificate = %q, want the private CA", res.Issuer)
	}
	if n := w.ACMEOrders(); n != 0 {
		t.Errorf("ACME orders = %d, want 0", n)
	}
	if !strings.Contains(strings.Join(res.SANs, ","), "grafana.example.com") {
		t.Errorf("SANs = %v", res.SANs)
	}
}
