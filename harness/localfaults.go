package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/acme"
	"github.com/certwave/certwave/sim/model"
)

// needDelayPastReadyTimeout is the need of a scenario whose issuance delay
// is meant to outlast the engine's ready timeout, such as one that expects
// the too-many-pending stop.
const needDelayPastReadyTimeout = "fault:delay-issuance-past-ready-timeout"

// needShortFaultWindow is the need of a scenario with a fault window
// shorter than shortFaultWindow of plan time, which has to fall on the
// orders of one step.
const needShortFaultWindow = "fault:window-under-a-day"

// shortFaultWindow is a day of plan time: a wall minute at the local time
// scale, about one DNS01 issuance by real cert-manager, which sleeps 60 s
// after its self-check.
const shortFaultWindow = 24 * time.Hour

// faultNeeds returns the capabilities a scenario's faults need: "faults",
// "fault:<kind>" for each kind, needDelayPastReadyTimeout for a
// delay-issuance fault at least as long as the plan's ready timeout, and
// needShortFaultWindow for a window shorter than shortFaultWindow.
func faultNeeds(faults []scenarios.Fault) []string {
	if len(faults) == 0 {
		return nil
	}
	needs := []string{"faults"}
	seen := map[string]bool{}
	add := func(need string) {
		if !seen[need] {
			seen[need] = true
			needs = append(needs, need)
		}
	}
	// Scenarios cannot set the ready timeout, so the default is the plan's.
	readyTimeout := plan.DefaultOptions(time.Time{}).ReadyTimeout
	for _, f := range faults {
		add("fault:" + f.Kind)
		// NOTE: a delay longer than the ready timeout times the local time
		// scale (5 days) would outlast it on the local world too, but it
		// is reported unsupported there all the same.
		if f.Kind == model.FaultDelayIssuance && f.Delay.D() >= readyTimeout {
			add(needDelayPastReadyTimeout)
		}
		if f.Until != 0 && f.Until.D()-f.From.D() < shortFaultWindow {
			add(needShortFaultWindow)
		}
	}
	return needs
}

// localFaults converts a scenario's faults into the rate-limit front's fault
// knobs. From and Until are plan-time offsets from start, which the local
// world divides by scale as it divides the plan's waits and the scenario's
// actions: at scale 1440 a fault from day 3 starts three wall minutes after
// start. An issuance delay stays in plan time, because the front divides it
// by its own time scale, which OpenLocal sets to the same factor. Names are
// lowercased, as the model matches them without regard to case.
func localFaults(faults []scenarios.Fault, start time.Time, scale int) (acme.Faults, error) {
	var out acme.Faults
	for i, f := range faults {
		var names []string
		for _, n := range f.Names {
			names = append(names, strings.ToLower(n))
		}
		window := acme.Window{From: scaledTime(start, f.From.D(), scale)}
		if f.Until != 0 {
			window.Until = scaledTime(start, f.Until.D(), scale)
		}
		switch f.Kind {
		case model.FaultDNS01Fail:
			out.RejectDNS01 = append(out.RejectDNS01, acme.DNS01Failure{Names: names, Window: window})
		case model.FaultRateLimit:
			// RetryAfter stays zero: the front announces the rest of the
			// window, as the model does.
			out.RateLimit = append(out.RateLimit, acme.ForcedRateLimit{Names: names, Window: window})
		case model.FaultDelayIssuance:
			out.IssuanceDelay = append(out.IssuanceDelay, acme.IssuanceDelay{Names: names, Delay: f.Delay.D(), Window: window})
		case model.FaultACME5xx:
			// The model fails the new-order request with HTTP 500.
			out.ServerErrors = append(out.ServerErrors, acme.ServerErrors{
				Endpoints: []acme.Endpoint{acme.EndpointNewOrder}, Names: names, Status: 500, Window: window,
			})
		default:
			return acme.Faults{}, fmt.Errorf("faults[%d]: kind %q has no fault knob on the local world's ACME front", i, f.Kind)
		}
	}
	return out, nil
}

// scaledTime returns the wall time of a plan-time offset from start on a
// world that divides plan time by scale.
func scaledTime(start time.Time, offset time.Duration, scale int) time.Time {
	return start.Add(offset / time.Duration(max(scale, 1)))
}
