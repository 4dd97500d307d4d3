package harness

import (
	"context"
	"slices"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/acme"
	"github.com/certwave/certwave/topology"
)

// TestLocalSmoke rehearses the local-smoke scenario on the model and on
// the local stack: real kube-apiserver, etcd and cert-manager, Pebble
// behind the rate-limit front, BIND for DNS01. It fails on any unexplained
// difference between their outcomes (Certificates, listeners, routes, ACME
// orders, stop and verdict). It skips where the components or BIND are
// missing, unless CERTWAVE_LOCAL_REQUIRED=1, as in CI.
func TestLocalSmoke(t *testing.T) {
	requireLocalStack(t)
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

// TestLocalOpenIssuesNothing opens the local world on the reference
// topology and checks that cert-manager takes the starting Secrets as
// current: no ACME order while the world opens, the wildcard Certificate
// Ready without an issuance, and its name set counted by the front as
// issued before the start.
func TestLocalOpenIssuesNothing(t *testing.T) {
	requireLocalStack(t)
	ctx := context.Background()
	opened := time.Now()
	w, err := OpenLocal(ctx, topology.Reference(), &scenarios.Scenario{Name: "open"}, time.Now().UTC().Truncate(time.Second), nil)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	t.Logf("the local world opened in %s", time.Since(opened).Round(time.Millisecond))

	entries := w.front.Ledger()
	if n := countOrders(entries); n != 0 {
		t.Errorf("%d ACME orders while the world opened, want 0: cert-manager reissued a starting Secret", n)
	}
	prior := 0
	for _, e := range entries {
		if e.Event == acme.EventIssuedBeforeStart && slices.Contains(e.Names, "*.example.com") {
			prior++
		}
	}
	if prior != 1 {
		t.Errorf("the front counted the wildcard's name set %d times as issued before the start, want once", prior)
	}

	var crt cmapi.Certificate
	if err := w.Client().Get(ctx, client.ObjectKey{Namespace: "network", Name: "example.com"}, &crt); err != nil {
		t.Fatalf("reading the wildcard Certificate: %v", err)
	}
	if crt.Status.Revision != nil {
		t.Errorf("wildcard Certificate revision = %d, want none: cert-manager issued it", *crt.Status.Revision)
	}
}
