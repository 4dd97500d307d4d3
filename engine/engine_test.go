package engine

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
)

func newTestEngine(t *testing.T, w *testWorld, p *plan.Plan, opts Options) *Engine {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Minute
	}
	e, err := New(w, p, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func stepIDs(p *plan.Plan) []string {
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, s.ID)
	}
	return ids
}

func getGateway(t *testing.T, w *testWorld, name string) *gwv1.Gateway {
	t.Helper()
	gw := &gwv1.Gateway{}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: name}, gw); err != nil {
		t.Fatalf("get Gateway %s: %v", name, err)
	}
	return gw
}

func listenerNames(gw *gwv1.Gateway) []string {
	var names []string
	for _, l := range gw.Spec.Listeners {
		names = append(names, string(l.Name))
	}
	return names
}

func TestRunCompletesPlan(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	p := testPlan()
	var out bytes.Buffer
	res, err := newTestEngine(t, w, p, Options{Out: &out}).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if res.Stopped != nil {
		t.Fatalf("Run stopped: %v\n%s", res.Stopped, out.String())
	}
	if !slices.Equal(res.Completed, stepIDs(p)) {
		t.Errorf("completed = %v, want every step in order", res.Completed)
	}
	if got, want := listenerNames(getGateway(t, w, "external")), []string{"http", "https-blog", "https-git", "https-docs"}; !slices.Equal(got, want) {
		t.Errorf("external listeners = %v, want %v", got, want)
	}
	if deleted := w.client.deleted(); !slices.Equal(deleted, []string{"Certificate/network/example-com"}) {
		t.Errorf("deleted = %v, want only the wildcard Certificate", deleted)
	}
}

func TestKillAndResumeRepeatsNoStep(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	p := testPlan()
	store := &FileStore{Path: filepath.Join(t.TempDir(), "progress.json")}
	counting := &countingActuator{next: NewServerSideApply(w.client)}

	kills := 0
	for range len(p.Steps) + 1 {
		// Each run is killed after its first step, like a process that dies
		// at every step boundary.
		ran := false
		e := newTestEngine(t, w, p, Options{Store: store, Actuator: counting, StopAfterStep: func(string) bool {
			first := !ran
			ran = true
			return first
		}})
		res, err := e.Run(context.Background())
		if errors.Is(err, ErrKilled) {
			kills++
			continue
		}
		if err != nil || res.Stopped != nil {
			t.Fatalf("run after %d kills: err=%v stop=%v", kills, err, res.Stopped)
		}
		if !slices.Equal(res.Completed, stepIDs(p)) {
			t.Fatalf("completed = %v, want every step once, in order", res.Completed)
		}
		break
	}
	if kills != len(p.Steps) {
		t.Errorf("kills = %d, want one per step (%d)", kills, len(p.Steps))
	}
	for step, n := range counting.perStep {
		if n != counting.changesPerStep[step] {
			t.Errorf("step %s executed %d changes, want %d (each once)", step, n, counting.changesPerStep[step])
		}
	}
	orders, renewals := map[string]int{}, map[string]int{}
	for _, ev := range w.events {
		switch {
		case ev.Type == ACMEOrder && ev.Renewal:
			renewals[ev.Certificate]++
		case ev.Type == ACMEOrder:
			orders[ev.Certificate]++
		}
	}
	if renewals["network/blog-tls"] != 1 {
		t.Errorf("canary renewals = %d, want 1 (one trigger across the kills)", renewals["network/blog-tls"])
	}
	for cert, n := range orders {
		if n != 1 {
			t.Errorf("Certificate %s got %d new orders, want 1", cert, n)
		}
	}
	if len(orders) != 3 {
		t.Errorf("new orders for %d Certificates, want 3 (blog, git, docs)", len(orders))
	}
}

// countingActuator counts the changes executed per step and the distinct
// changes each step has.
type countingActuator struct {
	next           Actuator
	perStep        map[string]int
	changesPerStep map[string]int
	seen           map[string]bool
}

func (c *countingActuator) Execute(ctx context.Context, ch *Change) error {
	if c.perStep == nil {
		c.perStep, c.changesPerStep, c.seen = map[string]int{}, map[string]int{}, map[string]bool{}
	}
	c.perStep[ch.Step]++
	if key := ch.Step + "|" + ch.Object() + "|" + ch.Summary; !c.seen[key] {
		c.seen[key] = true
		c.changesPerStep[ch.Step]++
	}
	return c.next.Execute(ctx, ch)
}

func TestRunUntilPhase(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	res, err := newTestEngine(t, w, testPlan(), Options{Until: "phase1"}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Fatalf("Run: err=%v stop=%v", err, res.Stopped)
	}
	last := res.Completed[len(res.Completed)-1]
	if last != "p1-b1-probe-wiki" {
		t.Errorf("last completed = %s, want p1-b1-probe-wiki", last)
	}
}

func TestRunNextWave(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	store := &MemoryStore{}
	if res, err := newTestEngine(t, w, testPlan(), Options{Store: store, Until: "2"}).Run(context.Background()); err != nil || res.Stopped != nil {
		t.Fatalf("Run until phase 2: err=%v stop=%v", err, res.Stopped)
	}
	res, err := newTestEngine(t, w, testPlan(), Options{Store: store, NextWave: true}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Fatalf("Run next wave: err=%v stop=%v", err, res.Stopped)
	}
	if last := res.Completed[len(res.Completed)-1]; last != "p3-w1-soak-git" {
		t.Errorf("last completed = %s, want p3-w1-soak-git", last)
	}
}

func TestRunWaitsForStepTime(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	p := testPlan()
	at := testStart.Add(36 * time.Hour)
	for i := range p.Steps {
		if p.Steps[i].ID == "p1-b1-add-listener-wiki" {
			p.Steps[i].At = at
		}
	}
	res, err := newTestEngine(t, w, p, Options{Until: "1"}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Fatalf("Run: err=%v stop=%v", err, res.Stopped)
	}
	for _, wave := range res.Ledger.Waves {
		for _, s := range wave.Steps {
			if s.ID == "p1-b1-add-listener-wiki" && s.Started.Before(at) {
				t.Errorf("step started at %s, before its time %s", s.Started, at)
			}
		}
	}
}

func TestRunRejectsProgressOfOtherPlan(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	store := &MemoryStore{}
	if _, err := newTestEngine(t, w, testPlan(), Options{Store: store, Until: "0"}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := testPlan()
	other.Options.ReadyTimeout = time.Hour
	if _, err := newTestEngine(t, w, other, Options{Store: store}).Run(context.Background()); err == nil {
		t.Error("Run with another plan's progress succeeded, want an error")
	}
}
