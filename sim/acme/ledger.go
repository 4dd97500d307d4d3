package acme

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// Event is the kind of a ledger entry.
type Event string

// Ledger events. Every newOrder request the front decodes ends in exactly
// one of EventOrderCreated, EventOrderRefused, EventOrderForced429 and
// EventOrderRejected, so their sum counts the orders.
const (
	// EventOrderCreated: the limits allowed the order and Pebble created it.
	EventOrderCreated Event = "order-created"
	// EventOrderRefused: a limit refused the order with HTTP 429.
	EventOrderRefused Event = "order-refused"
	// EventOrderForced429: the RateLimit fault knob refused the order.
	EventOrderForced429 Event = "order-forced-429"
	// EventOrderRejected: the limits allowed the order but Pebble rejected
	// it, so the front refunded the new-order token.
	EventOrderRejected Event = "order-rejected"
	// EventOrderInvalid: Pebble or the RejectDNS01 knob made an order
	// invalid.
	EventOrderInvalid Event = "order-invalid"
	// EventIssued: Pebble accepted a finalize request; the tokens are spent.
	EventIssued Event = "issued"
	// EventFinalizeRejected: Pebble rejected a finalize request.
	EventFinalizeRejected Event = "finalize-rejected"
	// EventAuthorizationValid: an authorization turned valid.
	EventAuthorizationValid Event = "authorization-valid"
	// EventAuthorizationInvalid: an authorization turned invalid, which
	// spends a failed-authorization token.
	EventAuthorizationInvalid Event = "authorization-invalid"
	// EventDNS01Refused: the RejectDNS01 knob failed a challenge.
	EventDNS01Refused Event = "dns01-refused"
	// EventServerError: the ServerErrors knob failed a request.
	EventServerError Event = "server-error"
	// EventIssuedBeforeStart: PriorIssuances or IssuedBeforeStart spent
	// tokens at start.
	EventIssuedBeforeStart Event = "issued-before-start"
	// EventUndecoded: a request the front needed to read could not be
	// decoded, so it was forwarded unchecked.
	EventUndecoded Event = "undecoded"
)

// Entry is one ledger record.
type Entry struct {
	Seq int `json:"seq"`
	// Time is the wall time and ModelTime the time the limiter saw.
	Time      time.Time `json:"time"`
	ModelTime time.Time `json:"modelTime"`
	Event     Event     `json:"event"`
	Endpoint  Endpoint  `json:"endpoint,omitempty"`
	Account   string    `json:"account,omitempty"`
	// Order is Pebble's order ID, and Authorization Pebble's authorization
	// ID.
	Order         string   `json:"order,omitempty"`
	Authorization string   `json:"authorization,omitempty"`
	Names         []string `json:"names,omitempty"`
	Profile       string   `json:"profile,omitempty"`
	// Replaces is the ARI certificate ID the order replaces.
	Replaces string `json:"replaces,omitempty"`
	// Renewal is true when the name set was issued in the renewal window.
	Renewal  bool                `json:"renewal,omitempty"`
	Decision *ratelimit.Decision `json:"decision,omitempty"`
	Spent    []Charge            `json:"spent,omitempty"`
	Refunded []Charge            `json:"refunded,omitempty"`
	// Status is the HTTP status the client received.
	Status int    `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Charge is one token taken from or returned to a bucket.
type Charge struct {
	Limit ratelimit.Name `json:"limit"`
	Key   string         `json:"key"`
}

// LedgerDocument is the JSON body of GET /certwave/ledger.
type LedgerDocument struct {
	Entries []Entry `json:"entries"`
	// Counts is the number of entries per event.
	Counts map[Event]int `json:"counts"`
}

// countEvents returns the number of entries per event.
func countEvents(entries []Entry) map[Event]int {
	counts := map[Event]int{}
	for _, e := range entries {
		counts[e.Event]++
	}
	return counts
}

// Ledger returns a copy of the ledger, oldest entry first.
func (f *Front) Ledger() []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ledger)
}

// record appends an entry, stamping its sequence number and times, and logs
// it. Callers hold f.mu.
func (f *Front) record(e Entry) {
	f.seq++
	e.Seq = f.seq
	e.Time = f.clock.Wall()
	e.ModelTime = f.clock.Now()
	f.ledger = append(f.ledger, e)

	attrs := []any{"seq", e.Seq, "event", e.Event}
	if e.Account != "" {
		attrs = append(attrs, "account", e.Account)
	}
	if e.Order != "" {
		attrs = append(attrs, "order", e.Order)
	}
	if len(e.Names) > 0 {
		attrs = append(attrs, "names", e.Names)
	}
	if e.Renewal {
		attrs = append(attrs, "renewal", true)
	}
	if len(e.Spent) > 0 {
		attrs = append(attrs, "spent", e.Spent)
	}
	if len(e.Refunded) > 0 {
		attrs = append(attrs, "refunded", e.Refunded)
	}
	if e.Decision != nil {
		attrs = append(attrs, "limit", e.Decision.Limit, "key", e.Decision.Key,
			"remaining", e.Decision.Remaining, "retryIn", e.Decision.RetryIn)
	}
	if e.Detail != "" {
		attrs = append(attrs, "detail", e.Detail)
	}
	f.log.Info("acme front ledger", attrs...)
}

// serveLedger serves GET /certwave/ledger.
func (f *Front) serveLedger(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the ledger accepts GET only", http.StatusMethodNotAllowed)
		return
	}
	entries := f.Ledger()
	doc := LedgerDocument{Entries: entries, Counts: countEvents(entries)}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		f.log.Error("encoding the ledger failed", "error", err)
		http.Error(w, "encoding the ledger failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
