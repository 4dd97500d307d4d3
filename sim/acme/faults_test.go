package acme

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

func TestRejectDNS01FailsAuthorization(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{RejectDNS01: []DNS01Failure{{Names: []string{"*.refused.example"}}}}})
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

func TestRejectDNS01MatchesWildcard(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{RejectDNS01: []DNS01Failure{{Names: []string{"\\*.example.com"}}}}})
	_, orderID := f.newOrder("1", "*.example.com")
	f.post("1", pebbleAuthzPath+orderID+"-a0", nil)
	rec := f.post("1", pebbleChallengePath+orderID+"-a0-dns", map[string]any{})
	if !strings.Contains(rec.Body.String(), `"invalid"`) {
		t.Errorf("wildcard challenge response = %s, want it refused", rec.Body)
	}
}

func TestServerErrorsForChosenEndpoint(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{ServerErrors: []ServerErrors{{Endpoints: []Endpoint{EndpointNewOrder}, Status: 503}}}})
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
		f := newTestFront(t, nil, nil, Options{Seed: seed, Faults: Faults{ServerErrors: []ServerErrors{{Share: 0.3}}}})
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
	f := newTestFront(t, nil, nil, Options{TimeScale: 60, Faults: Faults{RateLimit: []ForcedRateLimit{{Names: []string{"*.forced.example"}}}}})
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
	f := newTestFront(t, nil, clock, Options{TimeScale: 60, Faults: Faults{IssuanceDelay: []IssuanceDelay{{Delay: 10 * time.Minute}}}})
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

func TestRejectDNS01OnlyInsideWindow(t *testing.T) {
	clock := newFakeClock()
	window := Window{From: clock.Now().Add(time.Minute), Until: clock.Now().Add(2 * time.Minute)}
	f := newTestFront(t, nil, clock, Options{Faults: Faults{RejectDNS01: []DNS01Failure{{Names: []string{"app.example.com"}, Window: window}}}})

	respond := func() string {
		_, orderID := f.newOrder("1", "app.example.com")
		f.post("1", pebbleAuthzPath+orderID+"-a0", nil)
		var chal challengeResource
		_ = json.Unmarshal(f.post("1", pebbleChallengePath+orderID+"-a0-dns", map[string]any{}).Body.Bytes(), &chal)
		return chal.Status
	}
	if got := respond(); got == statusInvalid {
		t.Errorf("challenge before the window: status %q, want it forwarded to Pebble", got)
	}
	clock.Advance(time.Minute)
	if got := respond(); got != statusInvalid {
		t.Errorf("challenge at the window's start: status %q, want invalid", got)
	}
	clock.Advance(time.Minute)
	if got := respond(); got == statusInvalid {
		t.Errorf("challenge at the window's end: status %q, want it forwarded to Pebble", got)
	}
	if got := f.pebble.count(pebbleChallengePath); got != 2 {
		t.Errorf("Pebble saw %d challenge requests, want 2 (before and after the window)", got)
	}
	if got := countEvent(f.Ledger(), EventDNS01Refused); got != 1 {
		t.Errorf("ledger has %d dns01-refused entries, want 1", got)
	}
}

func TestForcedRateLimitRetriesAtWindowEnd(t *testing.T) {
	clock := newFakeClock()
	window := Window{Until: clock.Now().Add(30 * time.Second)}
	f := newTestFront(t, nil, clock, Options{TimeScale: 60, Faults: Faults{RateLimit: []ForcedRateLimit{{Window: window}}}})

	rec, _ := f.newOrder("1", "a.example.com")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("newOrder inside the window: HTTP %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After = %q, want 30 (the rest of the window)", got)
	}
	d := lastEntry(t, f.Front).Decision
	if d == nil || d.Limit != ForcedLimit || d.Key != "a.example.com" || d.RetryIn != 30*time.Minute {
		t.Errorf("ledger decision = %+v, want limit %s for a.example.com, retry in 30m of model time", d, ForcedLimit)
	}

	clock.Advance(30 * time.Second)
	if rec, _ := f.newOrder("1", "a.example.com"); rec.Code != http.StatusCreated {
		t.Errorf("newOrder after the window: HTTP %d, want 201", rec.Code)
	}
}

func TestIssuanceDelayMatchesNamesAndWindow(t *testing.T) {
	clock := newFakeClock()
	window := Window{Until: clock.Now().Add(time.Minute)}
	f := newTestFront(t, nil, clock, Options{TimeScale: 60, Faults: Faults{IssuanceDelay: []IssuanceDelay{
		{Names: []string{"slow.example.com"}, Delay: 10 * time.Minute, Window: window},
		{Names: []string{"slow.example.com"}, Delay: 20 * time.Minute, Window: window},
	}}})

	status := func(orderID string) string {
		var order map[string]any
		_ = json.Unmarshal(f.post("1", pebbleOrderPath+orderID, nil).Body.Bytes(), &order)
		return fmt.Sprint(order["status"])
	}
	slow := f.issue("1", "slow.example.com")
	other := f.issue("1", "fast.example.com")
	if got := status(slow); got != statusProcessing {
		t.Errorf("slow.example.com finalized inside the window: status %s, want processing", got)
	}
	if got := status(other); got != statusValid {
		t.Errorf("fast.example.com: status %s, want valid (no rule matches)", got)
	}

	// The longer of the two delays holds: 20 minutes at scale 60.
	clock.Advance(15 * time.Second)
	if got := status(slow); got != statusProcessing {
		t.Errorf("slow.example.com 15 s after finalize: status %s, want processing", got)
	}
	clock.Advance(5 * time.Second)
	if got := status(slow); got != statusValid {
		t.Errorf("slow.example.com 20 s after finalize: status %s, want valid", got)
	}

	clock.Advance(time.Minute)
	late := f.issue("1", "slow.example.com")
	if got := status(late); got != statusValid {
		t.Errorf("slow.example.com finalized after the window: status %s, want valid", got)
	}
}

func TestServerErrorsForChosenNames(t *testing.T) {
	f := newTestFront(t, nil, nil, Options{Faults: Faults{ServerErrors: []ServerErrors{{Names: []string{"a.example.com"}}}}})
	if rec, _ := f.newOrder("1", "a.example.com", "b.example.com"); rec.Code != http.StatusInternalServerError {
		t.Errorf("newOrder with a matching name: HTTP %d, want 500", rec.Code)
	}
	if rec, _ := f.newOrder("1", "b.example.com"); rec.Code != http.StatusCreated {
		t.Errorf("newOrder without a matching name: HTTP %d, want 201", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "https://front.test"+pebbleDirectoryPath, nil)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("directory: HTTP %d, want 200 (a rule with names covers newOrder only)", rec.Code)
	}
	entry := lastEntry(t, f.Front)
	if got := countEvent(f.Ledger(), EventServerError); got != 1 {
		t.Errorf("ledger has %d server-error entries, want 1", got)
	}
	if entry.Event != EventOrderCreated {
		t.Errorf("last ledger entry = %s, want %s for b.example.com", entry.Event, EventOrderCreated)
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
			Faults: Faults{RejectDNS01: []DNS01Failure{{Names: []string{"["}}}}}, `RejectDNS01[0] name pattern "["`},
		"share above 1": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: []ServerErrors{{Share: 2}}}}, "Share 2"},
		"status not 5xx": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: []ServerErrors{{Share: 1, Status: 429}}}}, "Status 429"},
		"unknown endpoint": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: []ServerErrors{{Endpoints: []Endpoint{"new-order"}}}}}, `endpoint "new-order" is unknown`},
		"names on finalize": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{ServerErrors: []ServerErrors{{Names: []string{"a.example.com"}, Endpoints: []Endpoint{EndpointFinalize}}}}}, "names are read only from newOrder requests"},
		"zero delay": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{IssuanceDelay: []IssuanceDelay{{Names: []string{"a.example.com"}}}}}, "IssuanceDelay[0].Delay 0s is invalid"},
		"prior issuance without names": {Options{PebbleURL: "https://127.0.0.1:1",
			PriorIssuances: []PriorIssuance{{Age: time.Hour}}}, "PriorIssuances[0]"},
		"window ends before it starts": {Options{PebbleURL: "https://127.0.0.1:1",
			Faults: Faults{RateLimit: []ForcedRateLimit{{Window: Window{From: time.Unix(100, 0), Until: time.Unix(50, 0)}}}}}, "RateLimit[0] window ends"},
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
