package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certwave/certwave/ratelimit"
)

// TestPebbleDomainLimitRenewalAndRestart drives golang.org/x/crypto/acme
// through the front to a real Pebble: it issues until the per-domain limit
// (lowered by IssuedBeforeStart) returns 429, renews an issued name set,
// and restarts the front to check that both survive in the state file.
func TestPebbleDomainLimitRenewalAndRestart(t *testing.T) {
	pebble := startPebbleOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := Options{
		StateFile:         filepath.Join(t.TempDir(), "front.json"),
		IssuedBeforeStart: map[string]int{"example.com": 47},
	}
	front := startFront(t, pebble, opts)
	client := newACMEClient(ctx, t, front)

	for _, name := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		if _, err := issueCertificate(ctx, client, name); err != nil {
			t.Fatalf("issuing %s: %v", name, err)
		}
	}
	_, err := issueCertificate(ctx, client, "d.example.com")
	checkRateLimited(t, err, "the 51st certificate")

	if _, err := issueCertificate(ctx, client, "a.example.com"); err != nil {
		t.Fatalf("renewing a.example.com at the limit: %v", err)
	}

	// Restart the front on the same address and certificate, so the
	// client's URLs and trust stay valid.
	if err := front.Close(); err != nil {
		t.Fatalf("closing the front: %v", err)
	}
	opts.ListenAddress = strings.TrimPrefix(front.URL(), "https://")
	opts.Certificate = &front.tlsCert
	front = startFront(t, pebble, opts)

	_, err = issueCertificate(ctx, client, "d.example.com")
	checkRateLimited(t, err, "a new name after the restart")
	if _, err := issueCertificate(ctx, client, "b.example.com"); err != nil {
		t.Fatalf("renewing b.example.com after the restart: %v", err)
	}

	doc := fetchLedger(t, front)
	wantCounts := map[Event]int{EventOrderCreated: 5, EventOrderRefused: 2, EventIssued: 5}
	for event, want := range wantCounts {
		if got := doc.Counts[event]; got != want {
			t.Errorf("ledger %s count = %d, want %d", event, got, want)
		}
	}
	renewals := 0
	for _, e := range doc.Entries {
		if e.Event == EventIssued && e.Renewal {
			renewals++
		}
	}
	if renewals != 2 {
		t.Errorf("ledger has %d renewals, want 2", renewals)
	}
}

// checkRateLimited fails the test unless err is a 429 rateLimited problem
// with a positive Retry-After.
func checkRateLimited(t *testing.T, err error, request string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s was issued, want HTTP 429", request)
	}
	problem := acmeError(t, err)
	if problem.StatusCode != http.StatusTooManyRequests || problem.ProblemType != problemRateLimited {
		t.Errorf("%s: HTTP %d %s, want 429 %s", request, problem.StatusCode, problem.ProblemType, problemRateLimited)
	}
	if seconds, err := strconv.Atoi(problem.Header.Get("Retry-After")); err != nil || seconds <= 0 {
		t.Errorf("%s: Retry-After = %q, want positive seconds", request, problem.Header.Get("Retry-After"))
	}
	if problem.Header.Get("Replay-Nonce") == "" {
		t.Errorf("%s: 429 response has no Replay-Nonce", request)
	}
}

// TestPebbleARIReplacementAndProfile sends a newOrder with a profile and an
// ARI "replaces" field at the per-domain limit: Pebble accepts the
// replacement, the front exempts it, and the ledger keeps the profile.
func TestPebbleARIReplacementAndProfile(t *testing.T) {
	pebble := startPebbleOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	front := startFront(t, pebble, Options{IssuedBeforeStart: map[string]int{"example.org": 49}})
	client := newACMEClient(ctx, t, front)

	original, err := issueCertificate(ctx, client, "www.example.org")
	if err != nil {
		t.Fatalf("issuing www.example.org: %v", err)
	}
	_, err = issueCertificate(ctx, client, "api.example.org")
	checkRateLimited(t, err, "a new name at the limit")

	names := []string{"api.example.org", "www.example.org"}
	order := postNewOrder(ctx, t, client, newOrderRequest{
		Identifiers: dnsIdentifiers(names),
		Profile:     ProfileShortLived,
		Replaces:    ariCertID(original),
	})
	cert, err := completeOrder(ctx, client, order, names)
	if err != nil {
		t.Fatalf("completing the ARI replacement: %v", err)
	}
	// Pebble's shortlived profile mirrors Let's Encrypt's 160 hours.
	if lifetime := cert.NotAfter.Sub(cert.NotBefore); lifetime < 159*time.Hour || lifetime > 161*time.Hour {
		t.Errorf("shortlived certificate lifetime = %s, want about 160h", lifetime)
	}
	var created *Entry
	for _, e := range front.Ledger() {
		if e.Event == EventOrderCreated && e.Replaces != "" {
			created = &e
		}
	}
	if created == nil || !created.Renewal || created.Profile != ProfileShortLived {
		t.Errorf("ledger entry of the replacement = %+v, want an exempt shortlived order", created)
	}
}

// TestPebbleRejectedOrderRefunded sends a name Pebble rejects: the front
// allowed the order, so it refunds the new-order token when Pebble rejects it.
func TestPebbleRejectedOrderRefunded(t *testing.T) {
	pebble := startPebbleOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	front := startFront(t, pebble, Options{})
	client := newACMEClient(ctx, t, front)
	account := accountID(client)
	before := front.Remaining(ratelimit.NewOrdersPerAccount, account)

	// Pebble rejects the underscore as an illegal DNS character.
	_, err := client.AuthorizeOrder(ctx, xacme.DomainIDs("bad_name.example.com"))
	if problem := acmeError(t, err); problem.StatusCode != http.StatusBadRequest {
		t.Fatalf("order for bad_name.example.com: HTTP %d, want Pebble's 400", problem.StatusCode)
	}
	if got := front.Remaining(ratelimit.NewOrdersPerAccount, account); got != before {
		t.Errorf("new orders remaining = %d, want %d after the refund", got, before)
	}
	if e := lastEntry(t, front); e.Event != EventOrderRejected || len(e.Refunded) != 1 {
		t.Errorf("ledger entry = %+v, want a rejected order with a refund", e)
	}
}

// TestPebbleFaultKnobs checks each fault knob against a real client.
func TestPebbleFaultKnobs(t *testing.T) {
	pebble := startPebbleOrSkip(t)

	t.Run("refuse DNS-01", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		front := startFront(t, pebble, Options{Faults: Faults{RejectDNS01: []DNS01Failure{{Names: []string{"refused.example.net"}}}}})
		client := newACMEClient(ctx, t, front)
		_, err := issueCertificate(ctx, client, "refused.example.net")
		var authzErr *xacme.AuthorizationError
		if !errors.As(err, &authzErr) {
			t.Fatalf("issuing refused.example.net: %v, want an authorization error", err)
		}
		if _, err := issueCertificate(ctx, client, "fine.example.net"); err != nil {
			t.Errorf("issuing fine.example.net: %v", err)
		}
		key := ratelimit.AuthorizationKey(accountID(client), "refused.example.net")
		if got := front.Remaining(ratelimit.FailedAuthorizationsPerIdentifier, key); got != 4 {
			t.Errorf("failed authorizations remaining = %d, want 4", got)
		}
	})

	t.Run("delay issuance", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		front := startFront(t, pebble, Options{Faults: Faults{IssuanceDelay: []IssuanceDelay{{Delay: 2 * time.Second}}}})
		client := newACMEClient(ctx, t, front)
		start := time.Now()
		if _, err := issueCertificate(ctx, client, "slow.example.net"); err != nil {
			t.Fatalf("issuing slow.example.net: %v", err)
		}
		if elapsed := time.Since(start); elapsed < 2*time.Second {
			t.Errorf("issuance took %s, want at least the 2s delay", elapsed)
		}
	})

	t.Run("server errors", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		front := startFront(t, pebble, Options{Faults: Faults{ServerErrors: []ServerErrors{{Endpoints: []Endpoint{EndpointFinalize}, Status: 503}}}})
		client := newACMEClient(ctx, t, front)
		_, err := issueCertificate(ctx, client, "broken.example.net")
		if problem := acmeError(t, err); problem.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("finalize: HTTP %d, want 503", problem.StatusCode)
		}
		if got := fetchLedger(t, front).Counts; got[EventServerError] != 1 || got[EventIssued] != 0 {
			t.Errorf("ledger counts = %v, want one server error and no issuance", got)
		}
	})

	t.Run("force 429", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		front := startFront(t, pebble, Options{Faults: Faults{RateLimit: []ForcedRateLimit{{RetryAfter: 90 * time.Second}}}})
		client := newACMEClient(ctx, t, front)
		_, err := client.AuthorizeOrder(ctx, xacme.DomainIDs("any.example.net"))
		checkRateLimited(t, err, "a forced refusal")
		if got := acmeError(t, err).Header.Get("Retry-After"); got != "90" {
			t.Errorf("Retry-After = %q, want 90", got)
		}
	})
}

// TestPebbleScaledTimeRefill runs the front 100,000 times faster than real
// time: one per-domain token (201m36s) comes back in about 0.12 s, so a
// client that honours Retry-After gets its certificate a second later.
func TestPebbleScaledTimeRefill(t *testing.T) {
	pebble := startPebbleOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	front := startFront(t, pebble, Options{TimeScale: 100000, IssuedBeforeStart: map[string]int{"example.com": 50}})
	client := newACMEClient(ctx, t, front)

	_, err := issueCertificate(ctx, client, "late.example.com")
	checkRateLimited(t, err, "a new name at the limit")
	if got := acmeError(t, err).Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1 (201m36s / 100000, rounded up)", got)
	}

	time.Sleep(time.Second)
	if _, err := issueCertificate(ctx, client, "late.example.com"); err != nil {
		t.Errorf("issuing after Retry-After: %v", err)
	}
}

// TestPebbleIntermediateSignsLeaf signs a leaf with the intermediate and
// key that IssuerIntermediate fetches, and verifies it against Pebble's
// root as a client of an issued certificate would.
func TestPebbleIntermediateSignsLeaf(t *testing.T) {
	pebble := startPebbleOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	certPEM, keyPEM, err := pebble.IssuerIntermediate(ctx)
	if err != nil {
		t.Fatalf("IssuerIntermediate: %v", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the intermediate and its key do not form a key pair: %v", err)
	}
	intermediate, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := pebble.IssuerRootPEM(ctx)
	if err != nil {
		t.Fatalf("IssuerRootPEM: %v", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"before.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, template, intermediate, key.Public(), pair.PrivateKey)
	if err != nil {
		t.Fatalf("signing with the intermediate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	intermediates.AddCert(intermediate)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "before.example.com", Roots: roots, Intermediates: intermediates}); err != nil {
		t.Errorf("leaf signed by the intermediate does not chain to Pebble's root: %v", err)
	}
}
