package acme

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

func TestRefuseDNS01FailsAuthorization(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{RefuseDNS01: []string{"*.refused.example"}}})
	_, orderID := f.newOrder("1", "app.refused.example", "ok.example.com")
	refusedAuthz := pebbleAuthzPath + orderID + "-a0"
	f.post("1", refusedAuthz, nil)
	f.post("1", pebbleAuthzPath+orderID+"-a1", nil)

	rec := f.post("1", pebbleChallengePath+orderID+"-a0-dns", map[string]any{})
	var chal challengeResource
	if err := json.Unmarshal(rec.Body.Bytes(), &chal); err != nil {
		t.Fatalf("challenge response is not JSON: %v", err)
	}
	if rec.Code != http.StatusOK || chal.Status != statusInvalid || chal.Error == nil || chal.Error.Type != problemDNS {
		t.Errorf("refused challenge: HTTP %d %+v, want 200 with an invalid challenge and a dns problem", rec.Code, chal)
	}
	if rec.Header().Get("Replay-Nonce") == "" {
		t.Error("refused challenge response has no Replay-Nonce")
	}
	if links := strings.Join(rec.Header().Values("Link"), ", "); !strings.Contains(links, pebbleAuthzPath+orderID+`-a0>;rel="up"`) {
		t.Errorf("Link = %q, want an up link to the authorization", links)
	}
	if got := f.pebble.count(pebbleChallengePath); got != 0 {
		t.Errorf("Pebble saw %d challenge requests, want 0", got)
	}

	var authz authzResource
	_ = json.Unmarshal(f.post("1", refusedAuthz, nil).Body.Bytes(), &authz)
	if authz.Status != statusInvalid {
		t.Errorf("authorization status = %q, want invalid", authz.Status)
	}
	var order orderResource
	_ = json.Unmarshal(f.post("1", pebbleOrderPath+orderID, nil).Body.Bytes(), &order)
	if order.Status != statusInvalid {
		t.Errorf("order status = %q, want invalid", order.Status)
	}

	// The other name's challenge still reaches Pebble.
	f.post("1", pebbleChallengePath+orderID+"-a1-dns", map[string]any{})
	if got := f.pebble.count(pebbleChallengePath); got != 1 {
		t.Errorf("Pebble saw %d challenge requests, want 1 (ok.example.com)", got)
	}
	entries := f.Ledger()
	for event, want := range map[Event]int{EventDNS01Refused: 1, EventAuthorizationInvalid: 1, EventOrderInvalid: 1} {
		if got := countEvent(entries, event); got != want {
			t.Errorf("ledger has %d %s entries, want %d", got, event, want)
		}
	}
	key := ratelimit.AuthorizationKey("1", "app.refused.example")
	if got := f.Remaining(ratelimit.FailedAuthorizationsPerIdentifier, key); got != 4 {
		t.Errorf("failed authorizations remaining for %s = %d, want 4", key, got)
	}
}

func TestRefuseDNS01MatchesWildcard(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{RefuseDNS01: []string{"\\*.example.com"}}})
	_, orderID := f.newOrder("1", "*.example.com")
	f.post("1", pebbleAuthzPath+orderID+"-a0", nil)
	rec := f.post("1", pebbleChallengePath+orderID+"-a0-dns", map[string]any{})
	if !strings.Contains(rec.Body.String(), `"invalid"`) {
		t.Errorf("wildcard challenge response = %s, want it refused", rec.Body)
	}
}

func TestServerErrorsForChosenEndpoint(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{ServerErrors: ServerErrors{Endpoints: []Endpoint{EndpointNewOrder}, Status: 503}}})
	before := f.Remaining(ratelimit.NewOrdersPerAccount, "1")
	rec, _ := f.newOrder("1", "a.example.com")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("newOrder: HTTP %d, want 503", rec.Code)
	}
	if p := decodeProblem(t, rec.Body.Bytes()); p.Type != problemServerInternal {
		t.Errorf("problem type = %q, want %q", p.Type, problemServerInternal)
	}
	if rec.Header().Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q, want 60", rec.Header().Get("Retry-After"))
	}
	if got := f.pebble.count(pebbleNewOrderPath); got != 0 {
		t.Errorf("Pebble saw %d newOrder requests, want 0", got)
	}
	if got := f.Remaining(ratelimit.NewOrdersPerAccount, "1"); got != before {
		t.Errorf("new orders remaining = %d, want %d (nothing spent)", got, before)
	}
	if rec := f.post("1", pebbleAuthzPath+"x", nil); rec.Code != http.StatusOK {
		t.Errorf("authorization request: HTTP %d, want 200 (the knob covers newOrder only)", rec.Code)
	}
	if got := countEvent(f.Ledger(), EventServerError); got != 1 {
		t.Errorf("ledger has %d server-error entries, want 1", got)
	}
}

func TestServerErrorsShareIsSeeded(t *testing.T) {
	failures := func(seed uint64) []int {
		f := newTestFront(t, nil, nil, Options{Seed: seed, Faults: Faults{ServerErrors: ServerErrors{Share: 0.3}}})
		var failed []int
		for i := range 100 {
			req := httptest.NewRequest(http.MethodGet, "https://front.test"+pebbleDirectoryPath, nil)
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, req)
			if rec.Code == http.StatusInternalServerError {
				failed = append(failed, i)
			}
		}
		return failed
	}
	first, again := failures(7), failures(7)
	if len(first) < 15 || len(first) > 45 {
		t.Errorf("%d of 100 requests failed at share 0.3, want about 30", len(first))
	}
	if len(first) != len(again) {
		t.Errorf("seed 7 failed %d then %d requests, want the same sequence", len(first), len(again))
	}
}

func TestForcedRateLimit(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{TimeScale: 60, Faults: Faults{RateLimit: ForcedRateLimit{Names: []string{"*.forced.example"}}}})
	rec, _ := f.newOrder("1", "ok.example.com", "a.forced.example")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("newOrder: HTTP %d, want 429", rec.Code)
	}
	if p := decodeProblem(t, rec.Body.Bytes()); p.Type != problemRateLimited {
		t.Errorf("problem type = %q, want %q", p.Type, problemRateLimited)
	}
	// One hour of model time at scale 60 is one minute.
	if got := rec.Header().Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q, want 60", got)
	}
	if got := countEvent(f.Ledger(), EventOrderForced429); got != 1 {
		t.Errorf("ledger has %d order-forced-429 entries, want 1", got)
	}
	if rec, _ := f.newOrder("1", "ok.example.com"); rec.Code != http.StatusCreated {
		t.Errorf("order without a forced name: HTTP %d, want 201", rec.Code)
	}
}

func TestIssuanceDelayHoldsOrder(t *testing.T) {
	clock := newFakeClock()
	f := newTestFront(t, nil, clock, Options{TimeScale: 60, Faults: Faults{IssuanceDelay: 10 * time.Minute}})
	orderID := f.issue("1", "a.example.com")

	rec := f.post("1", pebbleOrderPath+orderID, nil)
	var order map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &order)
	if order["status"] != statusProcessing || order["certificate"] != nil {
		t.Errorf("order during the delay = %v, want processing without a certificate", order)
	}
	if got := rec.Header().Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After = %q, want 10 (10 minutes at scale 60)", got)
	}

	clock.Advance(10 * time.Second)
	order = nil
	_ = json.Unmarshal(f.post("1", pebbleOrderPath+orderID, nil).Body.Bytes(), &order)
	if order["status"] != statusValid || order["certificate"] == nil {
		t.Errorf("order after the delay = %v, want valid with a certificate", order)
	}
}

func TestOptionsRejectInvalidValues(t *testing.T) {
	tests := map[string]struct {
		opts Options
		want string
	}{
		"missing Pebble URL": {Options{}, "PebbleURL is missing"},
		"http Pebble URL":    {Options{PebbleURL: "http://127.0.0.1:1"}, "expected https"},
		"time scale below 1": {Options{PebbleURL: "https://127.0.0.1:1", TimeScale: 0.5}, "TimeScale 0.5"},
		"not a registered domain": {Options{PebbleURL: "https://127.0.0.1:1",
			IssuedBeforeStart: map[string]int{"www.example.com": 1}}, `use its registered domain, such as "example.com"`},
		"bad pattern": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{RefuseDNS01: []string{"["}}}, `name pattern "["`},
		"share above 1": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: ServerErrors{Share: 2}}}, "Share 2"},
		"status not 5xx": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: ServerErrors{Share: 1, Status: 429}}}, "Status 429"},
		"unknown endpoint": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: ServerErrors{Endpoints: []Endpoint{"new-order"}}}}, `endpoint "new-order" is unknown`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
