package harness

import (
	"context"
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

func TestReplayRepeatsWorldFlags(t *testing.T) {
	r := Result{World: "cluster", Scenario: "local-smoke", Seed: 1, replayArgs: []string{"--kubeconfig", "kind.yaml", "--context", "kind-test"}}
	want := "certwave simulate --world cluster --kubeconfig kind.yaml --context kind-test --scenario local-smoke --seed 1"
	if got := r.Replay(); got != want {
		t.Errorf("Replay() = %q, want %q", got, want)
	}
}

func TestStatusReportsOpeningAndSteps(t *testing.T) {
	s := builtinScenario(t, "shim-disabled")
	var statuses []string
	Run(context.Background(), s, Options{World: "model", Seed: 1, Status: func(scenario, status string) {
		statuses = append(statuses, scenario+": "+status)
	}})
	if len(statuses) < 2 {
		t.Fatalf("statuses = %q, want the opening and the steps", statuses)
	}
	if statuses[0] != "shim-disabled: opening the model world" {
		t.Errorf("first status = %q, want the opening of the model world", statuses[0])
	}
	if !strings.HasPrefix(statuses[1], "shim-disabled: step p0-") {
		t.Errorf("second status = %q, want a step of phase 0", statuses[1])
	}
}

func TestDurationHeadingFollowsWorld(t *testing.T) {
	for world, want := range map[string]string{"model": "VIRTUAL DURATION", "local": "DURATION (WALL CLOCK)"} {
		var out strings.Builder
		WriteTable(&out, []Result{{Scenario: "local-smoke", World: world, Verdict: VerdictPass}})
		if !strings.Contains(out.String(), want) {
			t.Errorf("table of world %s has no column %q:\n%s", world, want, out.String())
		}
	}
}

func TestVirtualDurationFormat(t *testing.T) {
	cases := map[time.Duration]string{
		0:                            "0s",
		90 * time.Second:             "1m30s",
		5 * time.Minute:              "5m",
		2*time.Hour + 45*time.Minute: "2h45m",
		3 * time.Hour:                "3h",
		132 * time.Hour:              "5.5d",
		2*time.Hour + 30*time.Second: "2h0m30s",
	}
	for d, want := range cases {
		if got := virtual(d); got != want {
			t.Errorf("virtual(%s) = %q, want %q", d, got, want)
		}
	}
}
