package harness

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/acme"
)

func TestLocalFaultsMapsEachKind(t *testing.T) {
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	faults := []scenarios.Fault{
		{Kind: "dns01-fail", Names: []string{"Auth.Example.com"}, Until: scenarios.Duration(30 * 24 * time.Hour)},
		{Kind: "rate-limit", From: scenarios.Duration(72 * time.Hour), Until: scenarios.Duration(78 * time.Hour)},
		{Kind: "delay-issuance", From: scenarios.Duration(25 * time.Hour), Delay: scenarios.Duration(6 * time.Hour)},
		{Kind: "acme-5xx", Names: []string{"*.example.com"}, From: scenarios.Duration(time.Hour), Until: scenarios.Duration(2 * time.Hour)},
	}
	got, err := localFaults(faults, start, DefaultLocalTimeScale)
	if err != nil {
		t.Fatalf("localFaults: %v", err)
	}

	// At scale 1440 a day of plan time is a wall minute.
	want := acme.Faults{
		RejectDNS01: []acme.DNS01Failure{{Names: []string{"auth.example.com"},
			Window: acme.Window{From: start, Until: start.Add(30 * time.Minute)}}},
		RateLimit: []acme.ForcedRateLimit{{
			Window: acme.Window{From: start.Add(3 * time.Minute), Until: start.Add(3*time.Minute + 15*time.Second)}}},
		IssuanceDelay: []acme.IssuanceDelay{{Delay: 6 * time.Hour,
			Window: acme.Window{From: start.Add(time.Minute + 2500*time.Millisecond)}}},
		ServerErrors: []acme.ServerErrors{{Endpoints: []acme.Endpoint{acme.EndpointNewOrder}, Names: []string{"*.example.com"}, Status: 500,
			Window: acme.Window{From: start.Add(2500 * time.Millisecond), Until: start.Add(5 * time.Second)}}},
	}
	if !reflect.DeepEqual(got.RejectDNS01, want.RejectDNS01) {
		t.Errorf("dns01-fail: %+v, want %+v", got.RejectDNS01, want.RejectDNS01)
	}
	if !reflect.DeepEqual(got.RateLimit, want.RateLimit) {
		t.Errorf("rate-limit: %+v, want %+v", got.RateLimit, want.RateLimit)
	}
	if !reflect.DeepEqual(got.IssuanceDelay, want.IssuanceDelay) {
		t.Errorf("delay-issuance: %+v, want %+v", got.IssuanceDelay, want.IssuanceDelay)
	}
	if !reflect.DeepEqual(got.ServerErrors, want.ServerErrors) {
		t.Errorf("acme-5xx: %+v, want %+v", got.ServerErrors, want.ServerErrors)
	}
}

// TestLocalFaultsOfBuiltinScenarios converts the faults of every built-in
// scenario and creates a front with them, so that each is a valid knob.
func TestLocalFaultsOfBuiltinScenarios(t *testing.T) {
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	converted := 0
	for _, s := range list {
		faults, err := localFaults(s.Faults, start, DefaultLocalTimeScale)
		if err != nil {
			t.Errorf("scenario %s: %v", s.Name, err)
			continue
		}
		if _, err := acme.New(acme.Options{PebbleURL: "https://127.0.0.1:1", TimeScale: DefaultLocalTimeScale, Faults: faults}); err != nil {
			t.Errorf("scenario %s: the front rejects the converted faults: %v", s.Name, err)
		}
		converted += len(s.Faults)
	}
	if converted == 0 {
		t.Error("no built-in scenario has faults; the conversion was not exercised")
	}
}

func TestLocalFaultsRejectsUnknownKind(t *testing.T) {
	_, err := localFaults([]scenarios.Fault{{Kind: "dns01-fail"}, {Kind: "tls-alpn-fail"}}, time.Now(), DefaultLocalTimeScale)
	if err == nil || !strings.Contains(err.Error(), `faults[1]: kind "tls-alpn-fail"`) {
		t.Errorf("localFaults(unknown kind) error = %v, want one naming faults[1] and the kind", err)
	}
}

func TestFaultNeedsPerKind(t *testing.T) {
	faults := []scenarios.Fault{
		{Kind: "dns01-fail"}, {Kind: "dns01-fail"},
		{Kind: "delay-issuance", Delay: scenarios.Duration(time.Minute)},
	}
	got := faultNeeds(faults)
	want := []string{"faults", "fault:dns01-fail", "fault:delay-issuance"}
	if !slices.Equal(got, want) {
		t.Errorf("faultNeeds = %v, want %v", got, want)
	}
	if got := faultNeeds(nil); got != nil {
		t.Errorf("faultNeeds(nil) = %v, want none", got)
	}
}

func TestFaultNeedsShortWindow(t *testing.T) {
	short := faultNeeds([]scenarios.Fault{{Kind: "rate-limit", From: scenarios.Duration(72 * time.Hour), Until: scenarios.Duration(78 * time.Hour)}})
	if !slices.Contains(short, needShortFaultWindow) {
		t.Errorf("faultNeeds(6h window) = %v, want %s", short, needShortFaultWindow)
	}
	long := faultNeeds([]scenarios.Fault{{Kind: "dns01-fail", Until: scenarios.Duration(30 * 24 * time.Hour)}})
	if slices.Contains(long, needShortFaultWindow) {
		t.Errorf("faultNeeds(30d window) = %v, want no %s", long, needShortFaultWindow)
	}
	open := faultNeeds([]scenarios.Fault{{Kind: "dns01-fail", From: scenarios.Duration(time.Hour)}})
	if slices.Contains(open, needShortFaultWindow) {
		t.Errorf("faultNeeds(window without end) = %v, want no %s", open, needShortFaultWindow)
	}
	if reason := worldUnsupported(Options{World: "local"}, needShortFaultWindow); !strings.Contains(reason, "fault window") {
		t.Errorf("local world's reason for %s = %q, want one naming the fault window", needShortFaultWindow, reason)
	}
}

func TestFaultNeedsDelayPastReadyTimeout(t *testing.T) {
	long := faultNeeds([]scenarios.Fault{{Kind: "delay-issuance", Delay: scenarios.Duration(6 * time.Hour)}})
	if !slices.Contains(long, needDelayPastReadyTimeout) {
		t.Errorf("faultNeeds(6h delay) = %v, want %s", long, needDelayPastReadyTimeout)
	}
	if reason := worldUnsupported(Options{World: "local"}, needDelayPastReadyTimeout); !strings.Contains(reason, "delay-issuance") {
		t.Errorf("local world's reason for %s = %q, want one naming the fault kind", needDelayPastReadyTimeout, reason)
	}

	// stop-too-many-pending delays issuance by 6h to outlast the ready
	// timeout.
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(s *scenarios.Scenario) bool { return s.Name == "stop-too-many-pending" })
	if i < 0 {
		t.Fatal("the built-in scenario stop-too-many-pending is missing")
	}
	if needs := faultNeeds(list[i].Faults); !slices.Contains(needs, needDelayPastReadyTimeout) {
		t.Errorf("stop-too-many-pending needs %v, want %s", needs, needDelayPastReadyTimeout)
	}
}

// TestLocalWorldSupportsFaultKinds checks that every fault kind reaches the
// local world's front.
func TestLocalWorldSupportsFaultKinds(t *testing.T) {
	for _, kind := range []string{"faults", "fault:dns01-fail", "fault:rate-limit", "fault:delay-issuance", "fault:acme-5xx"} {
		if reason := worldUnsupported(Options{World: "local"}, kind); reason != "" {
			t.Errorf("local world: %s unsupported: %s", kind, reason)
		}
	}
}
