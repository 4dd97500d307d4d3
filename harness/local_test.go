package harness

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/dns"
	"github.com/certwave/certwave/sim/stack/local"
)

// TestLocalSmoke rehearses the local-smoke scenario on the model and on
// the local stack: real kube-apiserver, etcd and cert-manager, Pebble
// behind the rate-limit front, BIND for DNS01. It fails on any unexplained
// difference between their outcomes (Certificates, listeners, routes, ACME
// orders, stop and verdict). It skips where the components or BIND are
// missing, unless CERTWAVE_LOCAL_REQUIRED=1, as in CI.
func TestLocalSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack and waits for real issuances; skipped with -short")
	}
	required := os.Getenv("CERTWAVE_LOCAL_REQUIRED") == "1"
	var missing *local.MissingBinariesError
	if err := local.DefaultBinaries(local.DefaultCacheDir()).Check(); errors.As(err, &missing) {
		if required {
			t.Fatalf("local stack not available: %v", err)
		}
		t.Skipf("local stack not available: %v", err)
	}
	if _, err := dns.FindNamed(); err != nil {
		if required {
			t.Fatalf("BIND not available: %v", err)
		}
		t.Skipf("BIND not available: %v", err)
	}
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name != "local-smoke" {
			continue
		}
		c := Conform(context.Background(), s, Options{World: "local", Seed: 1})
		for _, r := range []Result{c.Model, c.Other} {
			if r.Verdict != VerdictPass {
				t.Errorf("local-smoke on the %s world: %s %s; failures: %v; notes: %v", r.World, r.Verdict, r.Unsupported, r.Failures, r.Notes)
			}
		}
		for _, d := range c.Differences {
			if d.Explained != "" {
				t.Logf("known difference %s: model %s, local %s (%s)", d.What, d.Model, d.Other, d.Explained)
				continue
			}
			t.Errorf("model and local world differ: %s: model %s, local %s", d.What, d.Model, d.Other)
		}
		t.Logf("local-smoke: %d ACME orders, %s on the local world; %d differences", c.Other.ACMEOrders, c.Other.Wall, len(c.Differences))
		return
	}
	t.Fatal("the built-in scenario local-smoke is missing")
}
