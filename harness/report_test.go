package harness

import (
	"encoding/json"
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
