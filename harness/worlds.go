// Package harness runs certwave's scenarios on a world and judges them. It
// builds the inventory and the plan a scenario describes and opens the
// world by name. It then drives the engine through kills, resumes,
// rollbacks and operator actions, and compares the outcome with the
// scenario's expectations.
package harness

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/model"
	"github.com/certwave/certwave/topology"
)

// TraceEvent is one entry of a world's trace.
type TraceEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Object string    `json:"object"`
	Detail string    `json:"detail,omitempty"`
}

// World is a world the harness can judge: the engine's World plus what the
// expectations read.
type World interface {
	engine.World
	// ACMEOrders is the number of ACME orders created so far.
	ACMEOrders() int
	// Availability is, per host, the fraction of probe samples served.
	Availability() map[string]float64
	// LockedOutUntil is when new certificates for the registered domain
	// can be issued again; zero when they can now.
	LockedOutUntil(registeredDomain string) time.Time
	Trace() []TraceEvent
	// Unsupported returns why the world cannot rehearse a capability the
	// scenario needs, or "" when it can.
	Unsupported(need string) string
}

// WorldNames lists the worlds OpenWorld can open.
var WorldNames = []string{"model", "local"}

// OpenWorld builds the world named name for a scenario. This is the one
// place that composes worlds by name.
func OpenWorld(name string, inv *topology.Inventory, s *scenarios.Scenario, seed int64, start time.Time, log io.Writer) (World, error) {
	switch name {
	case "model":
		opts := model.Options{
			Seed:                seed,
			Start:               start,
			CertManagerVersion:  s.World.CertManagerVersion,
			GatewayAPIEnabled:   s.World.GatewayAPIEnabled,
			EnvoyGatewayVersion: s.World.EnvoyGatewayVersion,
			Profile:             s.World.Profile,
			ConcurrentWorkers:   s.World.ConcurrentWorkers,
			LegacyRateLimits:    s.World.LegacyRateLimits,
			Log:                 log,
		}
		for _, f := range s.Faults {
			opts.Faults = append(opts.Faults, model.Fault{
				Kind:  f.Kind,
				Names: f.Names,
				From:  start.Add(f.From.D()),
				Until: untilTime(start, f.Until.D()),
				Delay: f.Delay.D(),
			})
		}
		w, err := model.New(inv, opts)
		if err != nil {
			return nil, err
		}
		return modelWorld{w}, nil
	case "local":
		return OpenLocal(context.Background(), inv, s, start, log)
	}
	return nil, fmt.Errorf("unknown world %q: use one of %v", name, WorldNames)
}

// worldStart returns the plan start on a world: the scenario's own on
// the model, whose clock starts there, and the present on the local
// world, whose clock is the wall clock.
func worldStart(name string, scenarioStart time.Time) time.Time {
	if name == "local" {
		return time.Now().UTC().Truncate(time.Second)
	}
	return scenarioStart
}

// worldTimeScale is the factor a world divides the plan's waits and the
// harness's own sleeps by: 1 where the clock is virtual.
func worldTimeScale(name string) int {
	if name == "local" {
		return DefaultLocalTimeScale
	}
	return 1
}

// worldUnsupported returns why the world named name cannot rehearse need,
// or "" when it can.
func worldUnsupported(name, need string) string {
	if name == "local" {
		return localUnsupported[need]
	}
	return ""
}

// worldPollInterval paces the engine's gates on a world: the engine's
// default on the model, whose clock is virtual, and a second on the local
// world, where a private-CA issuance takes less than that.
func worldPollInterval(name string) time.Duration {
	if name == "local" {
		return time.Second
	}
	return 0
}

// implicitNeeds are the capabilities a scenario needs beyond those it
// lists: its faults and lock-out expectations, and months of virtual time.
func implicitNeeds(s *scenarios.Scenario, end time.Duration) []string {
	var needs []string
	if len(s.Faults) > 0 {
		needs = append(needs, "faults")
	}
	if s.Expect.LockedOut != nil {
		needs = append(needs, "lock-out-time")
	}
	if end > 30*24*time.Hour {
		needs = append(needs, "virtual-months")
	}
	return needs
}

func untilTime(start time.Time, until time.Duration) time.Time {
	if until == 0 {
		return time.Time{}
	}
	return start.Add(until)
}

// modelWorld adapts the model to the harness.
type modelWorld struct{ *model.World }

var _ World = modelWorld{}

func (m modelWorld) Trace() []TraceEvent {
	src := m.World.Trace()
	out := make([]TraceEvent, len(src))
	for i, e := range src {
		out[i] = TraceEvent{At: e.At, Kind: e.Kind, Object: e.Object, Detail: e.Detail}
	}
	return out
}

// Unsupported returns "": the model compresses every wait, so it can
// rehearse every capability a scenario may need.
func (m modelWorld) Unsupported(string) string { return "" }
