package harness

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// certwave simulate -o json writes durations as Go duration strings and
// keeps every other field.
func TestResultJSONDurations(t *testing.T) {
	r := Result{Scenario: "s", Verdict: VerdictPass, ACMEOrders: 3,
		VirtualDuration: 132 * time.Hour, Wall: 1500 * time.Millisecond}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got["virtualDuration"] != "132h0m0s" {
		t.Errorf("virtualDuration = %v, want 132h0m0s", got["virtualDuration"])
	}
	if got["wall"] != "1.5s" {
		t.Errorf("wall = %v, want 1.5s", got["wall"])
	}
	if got["scenario"] != "s" || got["acmeOrders"] != 3.0 {
		t.Errorf("other fields lost: %s", data)
	}
}

// A scenario whose world never opened shows "-" where the table would
// show measurements, instead of 0 orders and 100% availability.
func TestTableDashesUnmeasuredResults(t *testing.T) {
	var out strings.Builder
	WriteTable(&out, []Result{
		{Scenario: "opened", Verdict: VerdictPass, Ran: true, ACMEOrders: 2, MinAvailability: 0.5, VirtualDuration: 48 * time.Hour},
		{Scenario: "never-opened", Verdict: VerdictFail, MinAvailability: 1},
	})
	lines := strings.Split(out.String(), "\n")
	if f := strings.Fields(lines[1]); f[2] != "2" || f[3] != "50.0%" {
		t.Errorf("opened row = %q, want 2 orders and 50.0%%", lines[1])
	}
	if f := strings.Fields(lines[2]); f[2] != "-" || f[3] != "-" || f[4] != "-" {
		t.Errorf("never-opened row = %q, want - for orders, availability and duration", lines[2])
	}
}
