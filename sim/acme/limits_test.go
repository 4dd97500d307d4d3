package acme

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// decodeProblem returns the problem document of a response.
func decodeProblem(t *testing.T, body []byte) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("response is not a problem document: %v: %s", err, body)
	}
	return p
}

func TestNewOrderRefusedAtDomainLimit(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{IssuedBeforeStart: map[string]int{"example.com": 48}})
	f.issue("1", "a.example.com")
	f.issue("1", "b.example.com")

	rec, _ := f.newOrder("1", "c.example.com")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third newOrder: HTTP %d %s, want 429", rec.Code, rec.Body)
	}
	if p := decodeProblem(t, rec.Body.Bytes()); p.Type != problemRateLimited {
		t.Errorf("problem type = %q, want %q", p.Type, problemRateLimited)
	}
	retryAfter, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || retryAfter <= 0 {
		t.Errorf("Retry-After = %q, want positive seconds", rec.Header().Get("Retry-After"))
	}
	// One token comes back every 7 days / 50 = 201m36s.
	if want := int((201*time.Minute + 36*time.Second) / time.Second); retryAfter != want {
		t.Errorf("Retry-After = %d, want %d (one per-domain token)", retryAfter, want)
	}
	if rec.Header().Get("Replay-Nonce") == "" {
		t.Error("429 response has no Replay-Nonce")
	}
	if got := f.pebble.count(pebbleNewOrderPath); got != 2 {
		t.Errorf("Pebble saw %d newOrder requests, want 2 (the refused one is not forwarded)", got)
	}
	e := lastEntry(t, f.Front)
	if e.Event != EventOrderRefused || e.Decision == nil || e.Decision.Limit != ratelimit.CertificatesPerDomain || e.Decision.Key != "example.com" {
		t.Errorf("last ledger entry = %+v, want an order refused by CertificatesPerDomain for example.com", e)
	}
}

func TestRenewalExemptFromDomainLimit(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{IssuedBeforeStart: map[string]int{"example.com": 49}})
	f.issue("1", "a.example.com")
	if got := f.Remaining(ratelimit.CertificatesPerDomain, "example.com"); got != 0 {
		t.Fatalf("Remaining(example.com) = %d, want 0", got)
	}

	f.issue("1", "a.example.com")
	e := lastEntry(t, f.Front)
	if e.Event != EventIssued || !e.Renewal {
		t.Errorf("renewal ledger entry = %+v, want issued as a renewal", e)
	}
	for _, c := range e.Spent {
		if c.Limit == ratelimit.CertificatesPerDomain {
			t.Errorf("renewal spent %+v, want no per-domain token", c)
		}
	}
	if rec, _ := f.newOrder("1", "b.example.com"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("new name after the renewal: HTTP %d, want 429", rec.Code)
	}
}

func TestPriorIssuanceMakesRenewal(t *testing.T) {
	names := []string{"*.example.com", "example.com"}
	f := newTestFront(t, nil, nil, Options{
		IssuedBeforeStart: map[string]int{"example.com": 48},
		PriorIssuances: []PriorIssuance{
			{Names: names, Age: 20 * 24 * time.Hour},
			{Names: []string{"old.example.com"}, Age: 200 * 24 * time.Hour},
		},
	})
	prior := 0
	for _, e := range f.Ledger() {
		if e.Event == EventIssuedBeforeStart && len(e.Names) > 0 && e.Names[0] != "example.com" {
			prior++
		}
	}
	if prior != 2 {
		t.Errorf("ledger has %d issued-before-start entries for prior issuances, want 2", prior)
	}
	// The per-domain tokens of 20 and 200 days ago have refilled, so the
	// 48 counted at start leave 2.
	if got := f.Remaining(ratelimit.CertificatesPerDomain, "example.com"); got != 2 {
		t.Errorf("Remaining(example.com) = %d, want 2", got)
	}

	rec, _ := f.newOrder("1", names...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("newOrder for the prior name set: HTTP %d %s, want 201", rec.Code, rec.Body)
	}
	if e := lastEntry(t, f.Front); !e.Renewal {
		t.Errorf("order for a name set issued 20 days ago: %+v, want a renewal", e)
	}
	rec, _ = f.newOrder("1", "old.example.com")
	if rec.Code != http.StatusCreated {
		t.Fatalf("newOrder for old.example.com: HTTP %d %s, want 201", rec.Code, rec.Body)
	}
	if e := lastEntry(t, f.Front); e.Renewal {
		t.Errorf("order for a name set issued 200 days ago: %+v, want no renewal (the window is 120 days)", e)
	}
}

func TestARIReplacementExempt(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{IssuedBeforeStart: map[string]int{"example.com": 50}})
	rec, id := f.newOrderRequest("1", newOrderRequest{
		Identifiers: dnsIdentifiers([]string{"a.example.com", "new.example.com"}),
		Profile:     ProfileTLSServer,
		Replaces:    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
	})
	if rec.Code != http.StatusCreated || id == "" {
		t.Fatalf("ARI replacement newOrder: HTTP %d %s, want 201", rec.Code, rec.Body)
	}
	e := lastEntry(t, f.Front)
	if !e.Renewal || e.Replaces == "" || e.Profile != ProfileTLSServer {
		t.Errorf("ledger entry = %+v, want an exempt replacement with its profile", e)
	}
	if rec, _ := f.newOrder("1", "other.example.com"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("order without replaces: HTTP %d, want 429", rec.Code)
	}
}

func TestDuplicateCertificateLimit(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{})
	for range 5 {
		f.issue("1", "a.example.com", "b.example.com")
	}
	rec, _ := f.newOrder("1", "b.example.com", "a.example.com")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("sixth certificate for one name set: HTTP %d, want 429", rec.Code)
	}
	e := lastEntry(t, f.Front)
	if e.Decision == nil || e.Decision.Limit != ratelimit.DuplicateCertificate {
		t.Errorf("refusal = %+v, want DuplicateCertificate", e.Decision)
	}
}

func TestRejectedOrderRefunded(t *testing.T) {
	pebble := newFakePebble(t)
	f := newTestFront(t, pebble, nil, Options{})
	before := f.Remaining(ratelimit.NewOrdersPerAccount, "1")

	pebble.mu.Lock()
	pebble.newOrderStatus = http.StatusBadRequest
	pebble.mu.Unlock()
	rec, _ := f.newOrder("1", "a.example.com")
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("newOrder rejected by Pebble: HTTP %d, want Pebble's 400", rec.Code)
	}
	if got := f.Remaining(ratelimit.NewOrdersPerAccount, "1"); got != before {
		t.Errorf("new orders remaining = %d after the refund, want %d", got, before)
	}
	e := lastEntry(t, f.Front)
	if e.Event != EventOrderRejected || len(e.Refunded) != 1 || e.Refunded[0].Limit != ratelimit.NewOrdersPerAccount {
		t.Errorf("ledger entry = %+v, want a rejected order with a refunded new-order token", e)
	}

	pebble.mu.Lock()
	pebble.newOrderStatus = 0
	pebble.mu.Unlock()
	f.newOrder("1", "a.example.com")
	if got := f.Remaining(ratelimit.NewOrdersPerAccount, "1"); got != before-1 {
		t.Errorf("new orders remaining = %d after a created order, want %d", got, before-1)
	}
}

func TestFailedAuthorizationSpendsToken(t *testing.T) {
	pebble := newFakePebble(t)
	f := newTestFront(t, pebble, nil, Options{})
	_, id := f.newOrder("1", "a.example.com")
	pebble.mu.Lock()
	pebble.authzStatus = statusInvalid
	pebble.mu.Unlock()
	key := ratelimit.AuthorizationKey("1", "a.example.com")
	before := f.Remaining(ratelimit.FailedAuthorizationsPerIdentifier, key)

	// Clients poll an authorization more than once; only the first response
	// counts.
	f.post("1", pebbleAuthzPath+id+"-a0", nil)
	f.post("1", pebbleAuthzPath+id+"-a0", nil)
	if got := f.Remaining(ratelimit.FailedAuthorizationsPerIdentifier, key); got != before-1 {
		t.Errorf("failed authorizations remaining = %d, want %d", got, before-1)
	}
	if got := countEvent(f.Ledger(), EventAuthorizationInvalid); got != 1 {
		t.Errorf("ledger has %d authorization-invalid entries, want 1", got)
	}
}

func TestFailedAuthorizationLimitRefusesOrder(t *testing.T) {
	pebble := newFakePebble(t)
	pebble.authzStatus = statusInvalid
	f := newTestFront(t, pebble, nil, Options{})
	for range 5 {
		rec, id := f.newOrder("1", "a.example.com")
		if rec.Code != http.StatusCreated {
			t.Fatalf("newOrder: HTTP %d, want 201", rec.Code)
		}
		f.post("1", pebbleAuthzPath+id+"-a0", nil)
	}
	rec, _ := f.newOrder("1", "a.example.com")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("newOrder after 5 failed authorizations: HTTP %d, want 429", rec.Code)
	}
	if e := lastEntry(t, f.Front); e.Decision == nil || e.Decision.Limit != ratelimit.FailedAuthorizationsPerIdentifier {
		t.Errorf("refusal = %+v, want FailedAuthorizationsPerIdentifier", e.Decision)
	}
}

func TestTimeScaleDividesRetryAfter(t *testing.T) {
	clock := newFakeClock()
	f := newTestFront(t, nil, clock, Options{TimeScale: 1440, IssuedBeforeStart: map[string]int{"example.com": 50}})
	rec, _ := f.newOrder("1", "a.example.com")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("newOrder at the limit: HTTP %d, want 429", rec.Code)
	}
	// 201m36s of model time is 8.4 s of wall time at scale 1440.
	if got := rec.Header().Get("Retry-After"); got != "9" {
		t.Errorf("Retry-After = %s, want 9 (201m36s / 1440, rounded up)", got)
	}

	clock.Advance(9 * time.Second)
	if rec, _ := f.newOrder("1", "a.example.com"); rec.Code != http.StatusCreated {
		t.Errorf("newOrder after Retry-After: HTTP %d %s, want 201", rec.Code, rec.Body)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "front.json")
	pebble := newFakePebble(t)
	clock := newFakeClock()
	first := newTestFront(t, pebble, clock, Options{StateFile: state, IssuedBeforeStart: map[string]int{"example.com": 49}})
	first.issue("1", "a.example.com")
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ledgerBefore := first.Ledger()

	clock.Advance(time.Minute)
	second := newTestFront(t, pebble, clock, Options{StateFile: state, IssuedBeforeStart: map[string]int{"example.com": 49}})
	if got := second.Remaining(ratelimit.CertificatesPerDomain, "example.com"); got != 0 {
		t.Errorf("Remaining(example.com) after restart = %d, want 0 (and IssuedBeforeStart not applied twice)", got)
	}
	if rec, _ := second.newOrder("1", "b.example.com"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("new name after restart: HTTP %d, want 429", rec.Code)
	}
	second.issue("1", "a.example.com")
	if e := lastEntry(t, second.Front); !e.Renewal {
		t.Errorf("issuance after restart = %+v, want a renewal", e)
	}
	ledgerAfter := second.Ledger()
	if len(ledgerAfter) != len(ledgerBefore)+3 {
		t.Errorf("ledger has %d entries after restart, want %d (the old ones plus refused, created, issued)", len(ledgerAfter), len(ledgerBefore)+3)
	}
	if ledgerAfter[len(ledgerBefore)].Seq != ledgerBefore[len(ledgerBefore)-1].Seq+1 {
		t.Errorf("sequence numbers restart after a restart: %d follows %d", ledgerAfter[len(ledgerBefore)].Seq, ledgerBefore[len(ledgerBefore)-1].Seq)
	}
}

func TestStateFileOfOtherModelRejected(t *testing.T) {
	state := filepath.Join(t.TempDir(), "front.json")
	first := newTestFront(t, nil, nil, Options{StateFile: state})
	first.issue("1", "a.example.com")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{PebbleURL: "https://127.0.0.1:1", StateFile: state, SlidingWindow: true})
	if err == nil {
		t.Fatal("New with SlidingWindow on a Boulder state file returned no error")
	}
}

func TestSlidingWindowModel(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{SlidingWindow: true, IssuedBeforeStart: map[string]int{"example.com": 50}})
	rec, _ := f.newOrder("1", "a.example.com")
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("legacy model at 50 certificates: HTTP %d, want 429", rec.Code)
	}
}

func TestLedgerEndpoint(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{})
	f.issue("1", "a.example.com")
	req, _ := http.NewRequest(http.MethodGet, "https://front.test"+LedgerPath, nil)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", LedgerPath, rec.Code)
	}
	var doc LedgerDocument
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("ledger is not JSON: %v", err)
	}
	if doc.Counts[EventOrderCreated] != 1 || doc.Counts[EventIssued] != 1 {
		t.Errorf("ledger counts = %v, want one order created and one issued", doc.Counts)
	}
	if len(doc.Entries) != 2 {
		t.Errorf("ledger has %d entries, want 2", len(doc.Entries))
	}
	if got := fmt.Sprint(doc.Entries[1].Spent); got != "[{CertificatesPerDomain example.com} {CertificatesPerFQDNSet a.example.com}]" {
		t.Errorf("issuance spent %s, want one per-domain and one duplicate-certificate token", got)
	}
}
