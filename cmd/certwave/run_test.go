package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/topology"
)

var planStart = time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)

// testLeaseClock is the Lease's clock in tests: Now moves only by advance,
// and Sleep waits until the run ends, so no renewal happens.
type testLeaseClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testLeaseClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testLeaseClock) Sleep(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

func (c *testLeaseClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// modelCluster is the test's cluster: the model world built from a
// plan's inventory, a fake client holding the state ConfigMap and Lease,
// and the live inventory the drift check reads.
type modelCluster struct {
	world  harness.World
	state  client.Client
	clock  *testLeaseClock
	holder string
	live   *topology.Inventory
}

// newModelCluster writes the reference plan to a temporary folder, builds
// its model world and makes openEnv return it.
func newModelCluster(t *testing.T) (*modelCluster, string, *plan.Plan) {
	t.Helper()
	p, err := plan.New(topology.Reference(), plan.DefaultOptions(planStart))
	if err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(t.TempDir(), "plan.yaml")
	if err := writePlanFile(planFile, p); err != nil {
		t.Fatal(err)
	}
	loaded, err := plan.Load(planFile)
	if err != nil {
		t.Fatal(err)
	}
	w, err := harness.OpenWorld("model", loaded.Inventory, &scenarios.Scenario{World: scenarios.World{Profile: loaded.Options.Profile}}, 1, planStart, nil)
	if err != nil {
		t.Fatal(err)
	}
	mc := &modelCluster{
		world:  w,
		state:  fake.NewClientBuilder().WithScheme(runScheme()).Build(),
		clock:  &testLeaseClock{now: planStart},
		holder: "test-run-1",
		live:   loaded.Inventory,
	}
	openEnv = func(_ context.Context, f *clusterFlags, _ *plan.Plan, _ *slog.Logger) (*runEnv, error) {
		return &runEnv{
			world: mc.world, state: mc.state, contextName: "model-test", clock: mc.clock, holder: mc.holder,
			live: func(context.Context) (*topology.Inventory, error) { return mc.live, nil },
		}, nil
	}
	t.Cleanup(func() {
		openEnv = openClusterEnv
		runHooks.stopAfterStep = nil
	})
	return mc, planFile, loaded
}

// runArgs are the flags every run in these tests passes.
func runArgs(planFile string, extra ...string) []string {
	return append([]string{"--kubeconfig", "unused", "--context", "model-test", "--plan", planFile}, extra...)
}

func runCLIErr(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func savedProgress(t *testing.T, mc *modelCluster, p *plan.Plan) *engine.Progress {
	t.Helper()
	s := &engine.ConfigMapStore{Client: mc.state, Namespace: defaultStateNamespace, Name: configMapName(p.Digest())}
	prog, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestRunDryRunChangesNothing(t *testing.T) {
	mc, planFile, p := newModelCluster(t)
	out, stderr, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--until", "phase1")...)...)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, stderr)
	}
	for _, want := range []string{"## step p0-", "--- Gateway/", "+++ Gateway/", "## budget:"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "dry run: nothing is changed") {
		t.Errorf("stderr does not say it is a dry run:\n%s", stderr)
	}
	if prog := savedProgress(t, mc, p); prog != nil {
		t.Errorf("a dry run saved progress: %d steps", len(prog.Completed))
	}
}

func TestRunRefusesOtherContext(t *testing.T) {
	_, planFile, _ := newModelCluster(t)
	_, _, err := runCLIErr(t, "run", "--kubeconfig", "unused", "--plan", planFile)
	if err == nil || exitCode(err) != exitFailed || !strings.Contains(err.Error(), "--context model-test") {
		t.Fatalf("run without --context on a plan without one: %v (exit %d), want a refusal naming --context", err, exitCode(err))
	}
}

func TestRunRefusesDrift(t *testing.T) {
	mc, planFile, _ := newModelCluster(t)
	raw, _ := json.Marshal(mc.live)
	changed := &topology.Inventory{}
	if err := json.Unmarshal(raw, changed); err != nil {
		t.Fatal(err)
	}
	route := &changed.Routes[3]
	route.Hostnames = []string{"moved.example.com"}
	mc.live = changed

	_, _, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile)...)...)
	if err == nil || exitCode(err) != exitFailed {
		t.Fatalf("run on a drifted cluster: %v, want exit %d", err, exitFailed)
	}
	for _, want := range []string{"HTTPRoute/" + route.Key() + " hostnames", "moved.example.com", "certwave plan --kubeconfig"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("drift error lacks %q:\n%v", want, err)
		}
	}
}

func TestRunApplyRequiresRehearsal(t *testing.T) {
	_, planFile, p := newModelCluster(t)
	_, _, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply")...)...)
	if err == nil || !strings.Contains(err.Error(), "certwave simulate --plan "+planFile) {
		t.Fatalf("apply without a rehearsal: %v, want a refusal naming the simulate command", err)
	}

	failed := &rehearsalRecord{PlanDigest: p.Digest(), Verdict: "fail", Seed: 3, Failures: []string{"stopped by rule rate-limited"}}
	if err := writeRehearsal(rehearsalPath(defaultRehearsalDir(planFile), p.Digest()), failed); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply")...)...)
	if err == nil || !strings.Contains(err.Error(), "did not pass") || !strings.Contains(err.Error(), "rate-limited") {
		t.Fatalf("apply after a failed rehearsal: %v, want a refusal with the failure", err)
	}

	_, _, err = runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply", "--without-rehearsal", "--until", "phase0")...)...)
	if err != nil {
		t.Fatalf("apply --without-rehearsal: %v", err)
	}
}

func TestRunTimeScaleNeedsTestStack(t *testing.T) {
	mc, planFile, _ := newModelCluster(t)
	_, _, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--time-scale", "100", "--until", "phase0")...)...)
	if err == nil || exitCode(err) != exitFailed || !strings.Contains(err.Error(), testStackLabel+"=true") {
		t.Fatalf("--time-scale on an unmarked cluster: %v, want a refusal naming the label", err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testStackNamespace, Labels: map[string]string{testStackLabel: "true"}}}
	if err := mc.state.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--time-scale", "100", "--until", "phase2")...)...)
	if err != nil {
		t.Fatalf("--time-scale on a test stack: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "soak 14m24s") {
		t.Errorf("the dry run does not show the canary soak of 24h divided by 100 (14m24s)")
	}
}

func TestScalePlanDividesWaits(t *testing.T) {
	p, err := plan.New(topology.Reference(), plan.DefaultOptions(planStart))
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := plan.Scale(p, 10)
	if err != nil {
		t.Fatal(err)
	}
	if scaled.Digest() == p.Digest() {
		t.Error("the scaled plan has the digest of the original")
	}
	for i, s := range p.Steps {
		got := scaled.Steps[i]
		if want := planStart.Add(s.At.Sub(planStart) / 10); !got.At.Equal(want) {
			t.Fatalf("step %s at %s, want %s", s.ID, got.At, want)
		}
		if s.Kind == plan.StepSoak && got.Duration != s.Duration/10 {
			t.Errorf("soak %s lasts %s, want %s", s.ID, got.Duration, s.Duration/10)
		}
		if s.Kind != plan.StepSoak && got.Duration != s.Duration {
			t.Errorf("step %s (%s) duration %s changed to %s", s.ID, s.Kind, s.Duration, got.Duration)
		}
	}
}

func TestRunApplyResumesAfterKill(t *testing.T) {
	mc, planFile, p := newModelCluster(t)
	if _, stderr, err := runCLIErr(t, "simulate", "--plan", planFile); err != nil {
		t.Fatalf("simulate --plan: %v\n%s", err, stderr)
	}
	var rec rehearsalRecord
	raw, err := os.ReadFile(rehearsalPath(defaultRehearsalDir(planFile), p.Digest()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}

	steps := 0
	runHooks.stopAfterStep = func(string) bool { steps++; return steps == 9 }
	_, stderr, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply")...)...)
	if !errors.Is(err, engine.ErrKilled) {
		t.Fatalf("killed run: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "relying on rehearsal") {
		t.Errorf("the run does not name its rehearsal:\n%s", stderr)
	}
	runHooks.stopAfterStep = nil
	if prog := savedProgress(t, mc, p); prog == nil || len(prog.Completed) != 9 {
		t.Fatalf("progress after the kill: %+v, want 9 steps", prog)
	}

	mc.holder = "test-run-2"
	_, _, err = runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply")...)...)
	var held *engine.LeaseHeldError
	if !errors.As(err, &held) || held.Holder != "test-run-1" {
		t.Fatalf("second run while the killed run's Lease is live: %v, want a LeaseHeldError naming test-run-1", err)
	}

	mc.clock.advance(2 * engine.DefaultLeaseDuration)
	_, stderr, err = runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply")...)...)
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, stderr)
	}
	prog := savedProgress(t, mc, p)
	seen := map[string]bool{}
	for _, id := range prog.Completed {
		if seen[id] {
			t.Errorf("step %s completed twice", id)
		}
		seen[id] = true
	}
	if len(prog.Completed) != len(p.Steps) {
		t.Errorf("%d of %d steps completed", len(prog.Completed), len(p.Steps))
	}
	if orders := mc.world.ACMEOrders(); orders != rec.ACMEOrders {
		t.Errorf("%d ACME orders with a kill, %d in the uninterrupted rehearsal", orders, rec.ACMEOrders)
	}
	local := &engine.FileStore{Path: (&stateFlags{}).stateFile(planFile, "model-test", p.Digest())}
	if lp, err := local.Load(context.Background()); err != nil || lp == nil || len(lp.Completed) != len(p.Steps) {
		t.Errorf("local progress copy: %v, %v", lp, err)
	}

	out, _, err := runCLIErr(t, append([]string{"status"}, runArgs(planFile)...)...)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, want := range []string{"steps done", "CertificatesPerDomain", "example.com", "Next step: none", "Last stop: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestRollbackDryRunAndApply(t *testing.T) {
	mc, planFile, p := newModelCluster(t)
	if _, stderr, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--apply", "--without-rehearsal", "--until", "phase1")...)...); err != nil {
		t.Fatalf("run until phase 1: %v\n%s", err, stderr)
	}
	before := len(savedProgress(t, mc, p).Completed)

	out, _, err := runCLIErr(t, append([]string{"rollback"}, runArgs(planFile, "--phase", "1")...)...)
	if err != nil {
		t.Fatalf("rollback dry run: %v", err)
	}
	for _, want := range []string{"Would roll back phase 1", "Cost: 0 ACME orders", "--phase 1 --apply"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback dry run lacks %q:\n%s", want, out)
		}
	}
	if after := len(savedProgress(t, mc, p).Completed); after != before {
		t.Errorf("the dry run changed the progress from %d to %d steps", before, after)
	}

	out, _, err = runCLIErr(t, append([]string{"rollback"}, runArgs(planFile, "--phase", "1", "--apply")...)...)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if !strings.Contains(out, "Rolled back phase 1") {
		t.Errorf("rollback output:\n%s", out)
	}
	if after := len(savedProgress(t, mc, p).Completed); after >= before {
		t.Errorf("after the rollback %d steps are done, before %d", after, before)
	}

	_, _, err = runCLIErr(t, append([]string{"rollback"}, runArgs(planFile, "--phase", "7")...)...)
	if err == nil || !strings.Contains(err.Error(), "invalid --phase 7") {
		t.Errorf("rollback --phase 7: %v", err)
	}
}

func TestAcceptFindingMustNameAFinding(t *testing.T) {
	_, planFile, _ := newModelCluster(t)
	for _, args := range [][]string{
		append([]string{"run"}, runArgs(planFile, "--accept-finding", "fixed-sni-clint")...),
		{"simulate", "--plan", planFile, "--accept-finding", "fixed-sni-clint"},
	} {
		_, _, err := runCLIErr(t, args...)
		if err == nil {
			t.Fatalf("%s with a misspelt finding ID succeeded", args[0])
		}
		if want := `invalid --accept-finding "fixed-sni-clint": the plan has no blocker`; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", args[0], err, want)
		}
	}
}

// TestRehearsalNamesMissingIssuer checks a plan whose ACME issuer does
// not exist: the plan reports a blocker, and with the blocker accepted a
// Certificate stuck on the issuer is reported with its
// CertificateRequest's reason, not only with its missing Secret.
func TestRehearsalNamesMissingIssuer(t *testing.T) {
	planFile := filepath.Join(t.TempDir(), "plan.yaml")
	out, _, err := runCLIErr(t, "plan", "--reference", "--acme-issuer", "ClusterIssuer/nope", "--out", planFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[blocker] acme-issuer-not-found"; !strings.Contains(out, want) {
		t.Errorf("the plan does not report %q:\n%s", want, out)
	}
	out, _, err = runCLIErr(t, "simulate", "--plan", planFile, "--accept-finding", "acme-issuer-not-found")
	if err == nil {
		t.Fatal("the rehearsal of a plan whose ACME issuer does not exist passed")
	}
	if want := `Pending: Referenced "ClusterIssuer/nope" not found`; !strings.Contains(out, want) {
		t.Errorf("the rehearsal's failure does not contain %q:\n%s", want, out)
	}
}
