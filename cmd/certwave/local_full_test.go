package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
)

// Settings of the full migration test.
const (
	// killsPerPhase is how many times the test kills certwave run in each
	// phase at most.
	killsPerPhase = 4
	// fullTimeNeeded is an estimate of the test's wall time on 2 shared
	// cores, with margin. Opening the stack takes about 2 minutes, the
	// scaled waits 6 and 8 rounds of DNS01 issuance about 65 s each, and
	// each kill adds a Lease expiry.
	fullTimeNeeded = 40 * time.Minute
	// fullPhase is the last phase of the plan.
	fullPhase = 4
)

// TestLocalStackFullMigration runs the whole hybrid migration of the
// reference topology with certwave run --apply against the local stack,
// with only the RBAC role. It kills the process with SIGKILL up to 4 times
// in each phase at random moments, and each run resumes from the progress
// the last one saved.
// The migration must end in the target state (the wildcard listeners and
// Certificate gone, every route on its own listener), with every step done
// once and as many ACME orders at the rate-limit front as the plan places.
//
// It takes about 20 minutes, so it runs only with CERTWAVE_E2E_FULL=1
// (make e2e-full), besides the component binaries and BIND.
func TestLocalStackFullMigration(t *testing.T) {
	if os.Getenv("CERTWAVE_E2E_FULL") != "1" {
		t.Skip("the full migration with up to 20 kills takes about 20 minutes: run it with make e2e-full (CERTWAVE_E2E_FULL=1)")
	}
	checkLocalStackAvailable(t, true)
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < fullTimeNeeded {
		t.Fatalf("the test needs about %s and only %s is left before the test timeout: run it with -timeout 60m (make e2e-full)",
			fullTimeNeeded, time.Until(deadline).Round(time.Second))
	}

	e := startLocalE2E(t, true)
	defer e.logTimings()
	if e.prepare(t) {
		t.Run("migrate with kills", e.migrateWithKills)
	}
}

// migrateWithKills runs the plan phase by phase, killing each phase's run
// killsPerPhase times at random moments, or fewer when a run finishes the
// phase first, then lets a last run confirm that nothing is left and
// checks the end state. Every phase takes at least one kill.
func (e *localE2E) migrateWithKills(t *testing.T) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("kill delays from seed %d", seed)
	start := time.Now()

	kills := 0
	for p := 0; p <= fullPhase; p++ {
		phase := fmt.Sprintf("phase%d", p)
		landed := 0
		for range killsPerPhase {
			waitLeaseFree(t, ctx, e.admin)
			if e.phaseDone(t, p) {
				break
			}
			// The first kill of a phase comes early, so that even a short
			// phase is killed once: phase 0 takes about 2 s.
			delay := 150*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second)))
			if landed > 0 {
				delay = 3*time.Second + time.Duration(rng.Int64N(int64(20*time.Second)))
			}
			done, killed := e.startAndKillUnlessDone(t, phase, delay)
			if !killed {
				t.Logf("%s: the run finished the phase within %s, after %d kills", phase, delay.Round(time.Millisecond), landed)
				break
			}
			landed++
			t.Logf("%s: kill %d after %s: the killed run finished %d steps", phase, landed, delay.Round(time.Millisecond), done)
		}
		if landed == 0 {
			t.Errorf("%s finished before its first kill, so no kill landed in it", phase)
		}
		kills += landed
		waitLeaseFree(t, ctx, e.admin)
		res := e.certwave(t, 40*time.Minute, e.runArgs(phase)...)
		e.expectSuccess(t, "run of "+phase+" after its kills", res)
	}
	e.record(fmt.Sprintf("migration with %d kills", kills), time.Since(start))

	prog := e.progress(t)
	expectCompletedOnce(t, prog, stepIDs(e.plan, fullPhase))
	expectDoneOncePerRollback(t, prog)
	if prog.InFlight != nil {
		t.Errorf("step %s is still in flight after the run ended", prog.InFlight.Step)
	}
	if prog.LastStop != nil {
		t.Errorf("the run ended with a stop: %+v", prog.LastStop)
	}
	if got, want := e.world.ACMEOrders(), len(e.plan.Orders); got != want {
		t.Errorf("the ACME front decided %d orders, want the %d the plan places: a resumed run repeated or lost an order", got, want)
	}
	expectTargetState(t, e.admin, e.plan)
}

// phaseDone reports whether every step up to phase is completed. Before
// a run saved progress, nothing is.
func (e *localE2E) phaseDone(t *testing.T, phase int) bool {
	t.Helper()
	key := client.ObjectKey{Namespace: defaultStateNamespace, Name: configMapName(e.plan.Digest())}
	if err := e.admin.Get(context.Background(), key, &corev1.ConfigMap{}); apierrors.IsNotFound(err) {
		return false
	}
	completed := map[string]bool{}
	for _, id := range e.progress(t).Completed {
		completed[id] = true
	}
	for _, id := range stepIDs(e.plan, phase) {
		if !completed[id] {
			return false
		}
	}
	return true
}

// expectTargetState checks the end of the migration: every moved route
// has a parentRef to its own listener, every listener the plan removes is
// gone, and every Certificate the plan deletes is gone.
func expectTargetState(t *testing.T, c client.Client, p *plan.Plan) {
	t.Helper()
	ctx := context.Background()
	for _, s := range p.Steps {
		switch s.Kind {
		case plan.StepFlipRoute:
			route := &gwapiv1.HTTPRoute{}
			if err := c.Get(ctx, objectKey(s.Route), route); err != nil {
				t.Fatalf("route %s: %v", s.Route, err)
			}
			if !slices.ContainsFunc(route.Spec.ParentRefs, func(r gwapiv1.ParentReference) bool {
				return r.SectionName != nil && string(*r.SectionName) == s.SectionName
			}) {
				t.Errorf("route %s is not on listener %s: parentRefs %v", s.Route, s.SectionName, route.Spec.ParentRefs)
			}
		case plan.StepRemoveListener:
			gw := &gwapiv1.Gateway{}
			if err := c.Get(ctx, objectKey(s.Gateway), gw); err != nil {
				t.Fatalf("Gateway %s: %v", s.Gateway, err)
			}
			if s.Listener != nil && slices.ContainsFunc(gw.Spec.Listeners, func(l gwapiv1.Listener) bool { return string(l.Name) == s.Listener.Name }) {
				t.Errorf("Gateway %s still has listener %s", s.Gateway, s.Listener.Name)
			}
		case plan.StepDeleteCert:
			err := c.Get(ctx, objectKey(s.Certificate), &cmapi.Certificate{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("Certificate %s: got %v, want it deleted", s.Certificate, err)
			}
		}
	}
}

func objectKey(namespacedName string) client.ObjectKey {
	ns, name, _ := strings.Cut(namespacedName, "/")
	return client.ObjectKey{Namespace: ns, Name: name}
}
