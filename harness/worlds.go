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
var WorldNames = []string{"model", "local", "cluster"}

// OpenWorld builds the world named name for a scenario. The cluster world
// needs Options.Cluster, so it opens only through openWorld (Run).
func OpenWorld(name string, inv *topology.Inventory, s *scenarios.Scenario, seed int64, start time.Time, log io.Writer) (World, error) {
	return openWorld(context.Background(), Options{World: name, Seed: seed, Log: log}, inv, s, start)
}

// openWorld builds the world o.World for a scenario. This is the one
// place that composes worlds by name.
func openWorld(ctx context.Context, o Options, inv *topology.Inventory, s *scenarios.Scenario, start time.Time) (World, error) {
	seed, log := o.Seed, o.Log
	switch o.World {
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
		return OpenLocal(ctx, inv, s, start, log)
	case "cluster":
		return OpenCluster(ctx, inv, s, o.Cluster, log)
	}
	return nil, fmt.Errorf("unknown world %q: use one of %v", o.World, WorldNames)
}

// worldStart returns the plan start on a world: the scenario's own on
// the model, whose clock starts there, and the present on the local
// and cluster worlds, whose clock is the wall clock.
func worldStart(name string, scenarioStart time.Time) time.Time {
	if name == "local" || name == "cluster" {
		return time.Now().UTC().Truncate(time.Second)
	}
	return scenarioStart
}

// worldTimeScale is the factor a world divides the plan's waits and the
// harness's own sleeps by: 1 where the clock is virtual, and on a cluster
// unless its options name a scale.
func worldTimeScale(o Options) int {
	switch o.World {
	case "local":
		return DefaultLocalTimeScale
	case "cluster":
		return o.Cluster.timeScale()
	}
	return 1
}

// worldUnsupported returns why the world o.World cannot rehearse need,
// or "" when it can.
func worldUnsupported(o Options, need string) string {
	switch o.World {
	case "local":
		return localUnsupported[need]
	case "cluster":
		return clusterUnsupported(o.Cluster.timeScale())[need]
	}
	return ""
}

// worldPollInterval paces the engine's gates on a world: the engine's
// default on the model, whose clock is virtual, and a second on the local
// and cluster worlds, where a private-CA issuance takes less than that.
func worldPollInterval(name string) time.Duration {
	if name == "local" || name == "cluster" {
		return time.Second
	}
	return 0
}

// implicitNeeds are the capabilities a scenario needs beyond those it
// lists: its faults (faultNeeds) and lock-out expectations, months of
// virtual time, and more than an hour of wall time once the plan's waits
// are divided by scale.
func implicitNeeds(s *scenarios.Scenario, end time.Duration, scale int) []string {
	needs := faultNeeds(s.Faults)
	if s.Expect.LockedOut != nil {
		needs = append(needs, "lock-out-time")
	}
	if end > 30*24*time.Hour {
		needs = append(needs, "virtual-months")
	}
	if end/time.Duration(max(scale, 1)) > time.Hour {
		needs = append(needs, "wall-hours")
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
