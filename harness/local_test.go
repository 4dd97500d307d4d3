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

// TestLocalSmoke rehearses the local-smoke scenario on the local stack:
// real kube-apiserver, etcd and cert-manager, Pebble behind the
// rate-limit front, BIND for DNS01. It skips where the components or BIND
// are missing, unless CERTWAVE_LOCAL_REQUIRED=1, as in CI.
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
		r := Run(context.Background(), s, Options{World: "local", Seed: 1})
		if r.Verdict != VerdictPass {
			t.Fatalf("local-smoke on the local world: %s %s; failures: %v; notes: %v", r.Verdict, r.Unsupported, r.Failures, r.Notes)
		}
		t.Logf("local-smoke: %d ACME orders, %s", r.ACMEOrders, r.Wall)
		return
	}
	t.Fatal("the built-in scenario local-smoke is missing")
}
