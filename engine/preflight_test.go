package engine

import (
	"context"
	"testing"

	"github.com/certwave/certwave/plan"
)

// blockedPlan returns the test plan with one blocker finding.
func blockedPlan() *plan.Plan {
	p := testPlan()
	p.Findings = append(p.Findings, plan.Finding{
		ID: "fixed-sni-client", Severity: plan.SeverityBlocker,
		Objects: []string{"ClientPath/cloudflared"}, Summary: "fixed server name",
	})
	return p
}

func TestPreflightBlockerStops(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	res, err := newTestEngine(t, w, blockedPlan(), Options{}).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Stopped == nil {
		t.Fatal("Run completed, want a preflight-blocker stop")
	}
	if res.Stopped.Rule != RulePreflightBlocker {
		t.Errorf("rule = %s, want %s", res.Stopped.Rule, RulePreflightBlocker)
	}
	if len(res.Completed) != 0 {
		t.Errorf("completed %v before the preflight stop, want nothing", res.Completed)
	}
	if d := w.client.deleted(); len(d) > 0 {
		t.Errorf("deleted %v", d)
	}
}

func TestPreflightAcceptedBlockerRuns(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	opts := Options{AcceptFindings: []string{"fixed-sni-client"}}
	res, err := newTestEngine(t, w, blockedPlan(), opts).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Stopped != nil && res.Stopped.Rule == RulePreflightBlocker {
		t.Errorf("stopped on an accepted blocker: %s", res.Stopped.Reason)
	}
	if len(res.Completed) == 0 {
		t.Error("no step completed after the accepted preflight")
	}
}
