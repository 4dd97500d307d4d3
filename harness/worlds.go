// Package harness runs certwave's scenarios on a world and judges them. It
// builds the inventory and the plan a scenario describes and opens the
// world by name. It then drives the engine through kills, resumes,
// rollbacks and operator actions, and compares the outcome with the
// scenario's expectations.
package harness

import (
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
var WorldNames = []string{"model"}

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
	}
	return nil, fmt.Errorf("unknown world %q: use one of %v", name, WorldNames)
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
