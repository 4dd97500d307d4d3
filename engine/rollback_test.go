package engine

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/topology"
)

func runUntil(t *testing.T, w *testWorld, store Store, until string) Result {
	t.Helper()
	res, err := newTestEngine(t, w, testPlan(), Options{Store: store, Until: until}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Fatalf("Run until %q: err=%v stop=%v", until, err, res.Stopped)
	}
	return res
}

func routeSections(t *testing.T, w *testWorld, app string) []string {
	t.Helper()
	r := &gwv1.HTTPRoute{}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "apps", Name: app}, r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ref := range r.Spec.ParentRefs {
		out = append(out, string(*ref.SectionName))
	}
	return out
}

func TestRollbackRevertsRouteAndListener(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	store := &MemoryStore{}
	runUntil(t, w, store, "2")
	if got := routeSections(t, w, "blog"); got[0] != "https-blog" {
		t.Fatalf("blog route sections = %v before rollback", got)
	}

	report, err := newTestEngine(t, w, testPlan(), Options{Store: store}).Rollback(context.Background(), 2)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := routeSections(t, w, "blog"); !slices.Equal(got, []string{"https", "http"}) {
		t.Errorf("blog route sections = %v, want [https http]", got)
	}
	gw := getGateway(t, w, "external")
	if got := listenerNames(gw); !slices.Equal(got, []string{"http", "https"}) {
		t.Errorf("external listeners = %v, want [http https]", got)
	}
	if gw.Annotations[topology.AnnotationClusterIssuer] == "" {
		t.Error("phase 0's annotation was removed by a phase 2 rollback")
	}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: "blog-tls"}, &corev1.Secret{}); err != nil {
		t.Errorf("Secret network/blog-tls: %v, want it kept", err)
	}
	if d := w.client.deleted(); len(d) > 0 {
		t.Errorf("rollback deleted %v", d)
	}
	if report.ACMEOrders != 0 || !strings.Contains(report.Cost, "0 ACME orders") {
		t.Errorf("cost = %d, %q; want 0 orders", report.ACMEOrders, report.Cost)
	}
	if !slices.Contains(report.KeptSecrets, "network/blog-tls") {
		t.Errorf("kept Secrets = %v", report.KeptSecrets)
	}
	saved, _ := store.Load(context.Background())
	for _, id := range saved.Completed {
		if strings.HasPrefix(id, "p2-") {
			t.Errorf("step %s still completed after the rollback", id)
		}
	}
	if len(report.Reverted) != 6 {
		t.Errorf("reverted %v, want the 6 steps of phase 2", report.Reverted)
	}

	// Phase 2 runs again from the start.
	res := runUntil(t, w, store, "2")
	if !slices.Contains(res.Completed, "p2-observe-renewal-blog") {
		t.Errorf("phase 2 did not run again: %v", res.Completed)
	}
}

func TestRollbackRefusesEarlierPhase(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	store := &MemoryStore{}
	runUntil(t, w, store, "2")
	if _, err := newTestEngine(t, w, testPlan(), Options{Store: store}).Rollback(context.Background(), 1); err == nil {
		t.Error("rollback of phase 1 under a done phase 2 succeeded")
	}
}

func TestRollbackPhase4RestoresWildcard(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	store := &MemoryStore{}
	runUntil(t, w, store, "")
	if got := listenerNames(getGateway(t, w, "external")); slices.Contains(got, "https") {
		t.Fatalf("wildcard listener still there after phase 4: %v", got)
	}

	report, err := newTestEngine(t, w, testPlan(), Options{Store: store}).Rollback(context.Background(), 4)
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if report.ACMEOrders != 1 || !strings.Contains(report.Cost, "Duplicate Certificate") {
		t.Errorf("cost = %d, %q; want 1 order, explained", report.ACMEOrders, report.Cost)
	}
	c := &cmv1.Certificate{}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: "example-com"}, c); err != nil {
		t.Fatalf("wildcard Certificate not restored: %v", err)
	}
	if c.Spec.SecretTemplate == nil || c.Spec.SecretTemplate.Annotations[topology.AnnotationReflectionAllowed] != "true" {
		t.Errorf("restored Certificate lacks its reflector annotations: %+v", c.Spec.SecretTemplate)
	}
	if got := listenerNames(getGateway(t, w, "external")); !slices.Contains(got, "https") || !slices.Contains(got, "https-docs") {
		t.Errorf("external listeners = %v, want https restored next to the per-host ones", got)
	}

	// Phase 3 rolls back onto the restored listener, which stays.
	if _, err := newTestEngine(t, w, testPlan(), Options{Store: store}).Rollback(context.Background(), 3); err != nil {
		t.Fatalf("Rollback phase 3: %v", err)
	}
	if got := listenerNames(getGateway(t, w, "external")); !slices.Equal(got, []string{"http", "https-blog", "https"}) {
		t.Errorf("external listeners = %v, want [http https-blog https]", got)
	}
	if got := routeSections(t, w, "git"); got[0] != "https" {
		t.Errorf("git route sections = %v, want back on https", got)
	}
}

func TestRollbackDryRunChangesNothing(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	store := &MemoryStore{}
	runUntil(t, w, store, "2")
	before := versions(t, w)
	var out bytes.Buffer
	report, err := newTestEngine(t, w, testPlan(), Options{Store: store, DryRun: true, Out: &out}).Rollback(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range versions(t, w) {
		if before[k] != v {
			t.Errorf("%s changed in a dry run", k)
		}
	}
	if !report.DryRun || len(report.Changes) == 0 {
		t.Errorf("report = %+v, want the changes listed", report)
	}
	if !strings.Contains(out.String(), "-    name: https-blog\n") {
		t.Errorf("dry-run rollback output lacks the listener removal:\n%s", out.String())
	}
	saved, _ := store.Load(context.Background())
	if !slices.Contains(saved.Completed, "p2-add-listener-blog") {
		t.Error("dry-run rollback changed the saved progress")
	}
}

func TestRollbackAfterStopMidWave(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.failing["blog-tls"] = "Failed to finalize Order"
	store := &MemoryStore{}
	// The canary's route never moves because its Certificate fails: the
	// run stops in p2-wait-ready-blog with the listener added.
	stop := runToStop(t, w, Options{Store: store})
	if stop.Step != "p2-wait-ready-blog" {
		t.Fatalf("stopped at %s, want p2-wait-ready-blog", stop.Step)
	}
	if _, err := newTestEngine(t, w, testPlan(), Options{Store: store}).Rollback(context.Background(), 2); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := listenerNames(getGateway(t, w, "external")); !slices.Equal(got, []string{"http", "https"}) {
		t.Errorf("external listeners = %v, want [http https]", got)
	}
	saved, _ := store.Load(context.Background())
	if saved.InFlight != nil || saved.LastStop != nil {
		t.Errorf("in flight %v, last stop %v; want both cleared", saved.InFlight, saved.LastStop)
	}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: "blog-tls"}, &cmv1.Certificate{}); err != nil {
		t.Errorf("Certificate network/blog-tls: %v, want it left in place", err)
	}
}
