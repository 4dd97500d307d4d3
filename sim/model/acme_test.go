package model

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/ratelimit"
)

// createACMECertificates creates n Certificates for hosts app-<i>.example.com
// in namespace apps-public from the ACME ClusterIssuer.
func createACMECertificates(t *testing.T, w *World, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		c := &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps-public", Name: fmt.Sprintf("app-%02d", i)},
			Spec: cmapi.CertificateSpec{SecretName: fmt.Sprintf("app-%02d-tls", i),
				DNSNames:  []string{fmt.Sprintf("app-%02d.example.com", i)},
				IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "letsencrypt-production"}},
		}
		if err := w.Client().Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// Let's Encrypt's Certificates per Registered Domain (letsencrypt.org/docs/
// rate-limits): burst 50, one back every 202 minutes, checked at new-order
// time and spent at issuance. After 50 new certificates for example.com the
// 51st order is refused with 429 rateLimited; cert-manager marks the Order
// errored and the Certificate backs off.
func TestFiftyFirstCertificateIsRateLimited(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	createACMECertificates(t, w, 0, 50)
	w.Advance(15 * time.Minute)
	if n := len(acmeEvents(t, w, engine.ACMEIssued)); n != 50 {
		t.Fatalf("issued = %d, want 50", n)
	}

	createACMECertificates(t, w, 50, 1)
	refused := acmeEvents(t, w, engine.ACMERefused)
	if len(refused) != 1 {
		t.Fatalf("refused orders = %d, want 1", len(refused))
	}
	r := refused[0]
	if r.Limit != string(ratelimit.CertificatesPerDomain) {
		t.Errorf("refusing limit = %s, want %s", r.Limit, ratelimit.CertificatesPerDomain)
	}
	if r.RetryIn <= 0 || r.RetryIn > 202*time.Minute {
		t.Errorf("retry-after = %s, want within one 202-minute refill", r.RetryIn)
	}
	until := w.LockedOutUntil("example.com")
	if !until.Equal(w.Now().Add(r.RetryIn)) {
		t.Errorf("LockedOutUntil = %s, want now + retry-after = %s", until, w.Now().Add(r.RetryIn))
	}
	c := certificate(w, "apps-public", "app-50")
	if cond := certificateCondition(c, cmapi.CertificateConditionIssuing); cond == nil || cond.Reason != "Failed" {
		t.Errorf("Issuing = %+v, want False Failed", cond)
	}
	if c.Status.FailedIssuanceAttempts == nil || *c.Status.FailedIssuanceAttempts != 1 {
		t.Errorf("failedIssuanceAttempts = %v, want 1", c.Status.FailedIssuanceAttempts)
	}
	if got := traceLines(w, "Order/apps-public/app-50-1", "429 urn:ietf:params:acme:error:rateLimited"); len(got) != 1 {
		t.Errorf("trace lines of the refusal = %d, want 1", len(got))
	}
}

// cert-manager v1.21.2 pkg/issuer/acme/dns/dns.go: after the DNS01
// self-check passes the challenge worker sleeps 60 s before accepting, and
// there are numberOfConcurrentWorkers (default 5) workers. One issuance
// takes 62 to 66 s (1 to 4 s of propagation, the 60 s wait, 1 s of
// validation and 1 s of finalization); 20 at once complete in four waves
// of five.
func TestDNS01TimingAndWorkerPool(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	start := w.Now()
	createACMECertificates(t, w, 0, 20)
	w.Advance(10 * time.Minute)

	issued := acmeEvents(t, w, engine.ACMEIssued)
	if len(issued) != 20 {
		t.Fatalf("issued = %d, want 20", len(issued))
	}
	first := issued[0].At.Sub(start)
	if first < 62*time.Second || first > 66*time.Second {
		t.Errorf("first issuance after %s, want 62 s to 66 s", first)
	}
	last := issued[len(issued)-1].At.Sub(start)
	if last < 4*time.Minute || last > 4*time.Minute+6*time.Second {
		t.Errorf("last of 20 issued after %s, want four 60-second waves plus propagation", last)
	}
}

// A dns01-fail fault fails the authorization: Let's Encrypt records an
// authorization failure (Failed Authorizations per Identifier), the Order
// becomes invalid and the Certificate backs off.
func TestDNS01FailureFailsAuthorization(t *testing.T) {
	w := newReferenceWorld(t, Options{Faults: []Fault{{Kind: FaultDNS01Fail, Names: []string{"*.example.com"}}}})
	createACMECertificates(t, w, 0, 1)
	w.Advance(5 * time.Minute)

	failed := acmeEvents(t, w, engine.ACMEAuthzFailed)
	if len(failed) != 1 || failed[0].Names[0] != "app-00.example.com" {
		t.Fatalf("authorization failures = %+v, want one for app-00.example.com", failed)
	}
	c := certificate(w, "apps-public", "app-00")
	if c.Status.LastFailureTime == nil {
		t.Error("lastFailureTime not set")
	}
	if n := len(acmeEvents(t, w, engine.ACMEIssued)); n != 0 {
		t.Errorf("issued = %d, want 0", n)
	}
}

// An acme-5xx fault fails order creation with a server error, which
// cert-manager retries with its workqueue backoff (5 s doubling) instead of
// failing the Certificate.
func TestACME5xxIsRetried(t *testing.T) {
	w := newReferenceWorld(t, Options{Faults: []Fault{{Kind: FaultACME5xx, Until: testStart.Add(20 * time.Second)}}})
	createACMECertificates(t, w, 0, 1)
	w.Advance(5 * time.Minute)

	if n := len(acmeEvents(t, w, engine.ACMEIssued)); n != 1 {
		t.Errorf("issued = %d, want 1 after the retries", n)
	}
	if lines := traceLines(w, "HTTP 500"); len(lines) != 3 {
		t.Errorf("server errors = %d, want 3 (at 0 s, 5 s and 15 s)", len(lines))
	}
	c := certificate(w, "apps-public", "app-00")
	if c.Status.LastFailureTime != nil {
		t.Error("a retried server error counted as a failed issuance")
	}
}

// A renewal (the exact name set issued in the last 120 days) is exempt
// from the per-domain limit (letsencrypt.org/docs/rate-limits), so the
// wildcard renews while example.com is locked out.
func TestRenewalExemptWhileLockedOut(t *testing.T) {
	w := newReferenceWorld(t, Options{InitialCertificateAge: 59*day + 23*time.Hour - 20*time.Minute})
	createACMECertificates(t, w, 0, 50)
	w.Advance(15 * time.Minute)
	createACMECertificates(t, w, 50, 1)
	if w.LockedOutUntil("example.com").IsZero() {
		t.Fatal("example.com not locked out after 51 certificates")
	}
	w.Advance(10 * time.Minute)

	var renewed bool
	for _, e := range acmeEvents(t, w, engine.ACMEIssued) {
		if e.Certificate == "network/example.com" {
			renewed = e.Renewal
		}
	}
	if !renewed {
		t.Error("the wildcard did not renew as an exempt renewal during the lock-out")
	}
}

// The legacy sliding-window limits (before 2025: 50 certificates per
// registered domain per week) refuse the 51st certificate until the first
// of the 50 leaves the week.
func TestLegacyRateLimitsRefuseForAWeek(t *testing.T) {
	w := newReferenceWorld(t, Options{LegacyRateLimits: true, InitialCertificateAge: 30 * day})
	createACMECertificates(t, w, 0, 50)
	w.Advance(15 * time.Minute)
	createACMECertificates(t, w, 50, 1)

	refused := acmeEvents(t, w, engine.ACMERefused)
	if len(refused) != 1 {
		t.Fatalf("refused orders = %d, want 1", len(refused))
	}
	if r := refused[0].RetryIn; r < 7*day-20*time.Minute || r > 7*day {
		t.Errorf("retry-after = %s, want about a week", r)
	}
}
