package harness

import (
	"context"
	"errors"
	"strings"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/scenarios"
)

// PlanRehearsal configures RehearsePlan.
type PlanRehearsal struct {
	// AcceptFindings are the blocker findings the operator accepts; the
	// engine's preflight stops on any other blocker.
	AcceptFindings []string
	// KillEvery kills the engine after every n-th step and resumes it,
	// when positive.
	KillEvery int
}

// RehearsePlan runs a saved plan, unchanged, through the engine on a world
// built from the plan's inventory, starting at the plan's start. The
// verdict is pass when the engine ends without a stop and with every step
// completed exactly once (the scenario expectations stop: none and
// completed). The world uses the plan's ACME profile and the inventory's
// cert-manager settings.
func RehearsePlan(ctx context.Context, p *plan.Plan, rehearsal PlanRehearsal, opts Options) (Result, error) {
	if p == nil || p.Inventory == nil {
		return Result{}, errors.New("the plan has no inventory to build the world from: make it again with certwave plan --out")
	}
	s := &scenarios.Scenario{
		Name:        "plan-" + shortDigest(p.Digest()),
		Description: "rehearsal of the plan from " + p.Source,
		World:       scenarios.World{Profile: p.Options.Profile},
		Run:         scenarios.RunSpec{Accept: rehearsal.AcceptFindings, KillEvery: rehearsal.KillEvery},
		Expect:      scenarios.Expect{Stop: "none", Completed: true},
		File:        "plan",
	}
	return runScenario(ctx, s, opts, p), nil
}

// executePreset drives the engine through the preset plan.
func (r *run) executePreset(ctx context.Context) error {
	r.plan = r.preset
	r.inv = r.preset.Inventory
	r.start = r.preset.Options.Start
	return r.openAndDrive(ctx)
}

// shortDigest returns the first 12 hex digits of a plan digest.
func shortDigest(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
