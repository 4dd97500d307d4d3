package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/dns"
	"github.com/certwave/certwave/sim/stack/local"
	"github.com/certwave/certwave/topology"
)

// Settings of the end-to-end test on the local stack.
const (
	// e2eContext is the context of the kubeconfig with the RBAC role's
	// token, which the plan records.
	e2eContext = "certwave-e2e"
	// e2eLeaseDuration shortens the wait for the Lease that a killed run
	// leaves behind.
	e2eLeaseDuration = 10 * time.Second
	// e2eKills is how many times the kill test kills certwave run.
	e2eKills = 4
	// e2eTimeNeeded is an estimate of the test's wall time on 2 shared
	// cores, with margin: about 2 minutes to open the stack, 2 minutes per
	// pass over phase 1 and 1 minute of kills.
	e2eTimeNeeded = 15 * time.Minute
	// rbacManifest is the least-privilege role the certwave commands run
	// with.
	rbacManifest = "../../deploy/rbac/certwave-run.yaml"
)

// TestLocalStackRun runs the certwave binary against the local stack
// (real kube-apiserver, etcd, cert-manager, Pebble behind the rate-limit
// front and BIND) with only the RBAC role of deploy/rbac. It makes a plan,
// rehearses it, runs phases 0 and 1, reads the status and rolls phase 1
// back. Then it runs phase 1 again and kills the process with SIGKILL
// several times. It needs the component binaries and BIND, so it skips
// where they are missing, unless CERTWAVE_LOCAL_REQUIRED=1. It takes
// several minutes, so run it with `make e2e-local`.
//
// The full kill test of a migration (20 kills over all phases) needs the
// public waves, whose DNS01 issuances take about 61 s each, and so too
// long for this test. This one kills runs in phase 1 only, where the
// private CA issues, so the reference topology needs no new ACME order.
func TestLocalStackRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack and runs two migrations of phase 1; skipped with -short")
	}
	required := os.Getenv("CERTWAVE_LOCAL_REQUIRED") == "1"
	checkLocalStackAvailable(t, required)
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < e2eTimeNeeded {
		skipOrFail(t, required, "the test needs about %s and only %s is left before the test timeout: run it with -timeout 30m (make e2e-local)",
			e2eTimeNeeded, time.Until(deadline).Round(time.Second))
	}

	e := startLocalE2E(t, required)
	defer e.logTimings()
	if !e.prepare(t) {
		return
	}
	if !t.Run("run phase 0", e.runPhase0) {
		return
	}
	if !t.Run("run phase 1", e.runPhase1) {
		return
	}
	if !t.Run("status", e.status) {
		return
	}
	if !t.Run("rollback phase 1", e.rollbackPhase1) {
		return
	}
	t.Run("kill and resume phase 1", e.killAndResume)
}

// startLocalE2E builds the certwave binary and opens the local stack.
func startLocalE2E(t *testing.T, required bool) *localE2E {
	t.Helper()
	dir := t.TempDir()
	e := &localE2E{t: t, dir: dir}
	start := time.Now()
	e.bin = buildCertwave(t, dir)
	e.record("go build", time.Since(start))
	start = time.Now()
	e.world = openLocalStack(t, dir, required)
	e.record("open the local stack", time.Since(start))
	e.admin = e.world.Client()
	return e
}

// prepare runs the setup and the plan-and-rehearse stages and reports
// whether both passed.
func (e *localE2E) prepare(t *testing.T) bool {
	return t.Run("setup", e.setup) && t.Run("plan and rehearse", e.planAndRehearse)
}

// localE2E is the state TestLocalStackRun's stages share.
type localE2E struct {
	t     *testing.T
	dir   string
	bin   string
	world *harness.LocalWorld
	admin client.Client
	// kubeconfig has only the RBAC role's ServiceAccount token.
	kubeconfig string
	// dataPlane serves the Gateways' listeners for the probes.
	dataPlane *gatewayDataPlane
	planFile  string
	plan      *plan.Plan
	// rootsFile holds Pebble's root, which the probes of public hosts
	// trust in place of Let's Encrypt's.
	rootsFile string
	// migrated is the phase-1 end state of the uninterrupted run.
	migrated migrationState
	timings  []timing
}

// timing is the wall time of one stage or command.
type timing struct {
	label string
	wall  time.Duration
}

// cliResult is one certwave invocation.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
	wall           time.Duration
}

func (r cliResult) String() string {
	return fmt.Sprintf("certwave %s: exit %d after %s\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.wall.Round(time.Millisecond), tail(r.stdout, 40), tail(r.stderr, 40))
}

func (e *localE2E) record(label string, wall time.Duration) {
	e.timings = append(e.timings, timing{label, wall})
}

func (e *localE2E) logTimings() {
	for _, tm := range e.timings {
		e.t.Logf("timing: %-40s %s", tm.label, tm.wall.Round(100*time.Millisecond))
	}
}

// setup marks the cluster as a test stack, creates the state namespace,
// applies the RBAC manifest and writes a kubeconfig with a token of the
// ServiceAccount the manifest binds.
func (e *localE2E) setup(t *testing.T) {
	ctx := context.Background()
	start := time.Now()

	ns := &corev1.Namespace{}
	if err := e.admin.Get(ctx, client.ObjectKey{Name: testStackNamespace}, ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[testStackLabel] = "true"
	if err := e.admin.Update(ctx, ns); err != nil {
		t.Fatalf("labelling Namespace %s: %v", testStackNamespace, err)
	}
	state := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultStateNamespace}}
	if err := e.admin.Create(ctx, state); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the state namespace: %v", err)
	}
	createCertManagerStandIn(t, ctx, e.admin)

	subject := applyManifest(t, ctx, e.admin, rbacManifest)
	token := serviceAccountToken(t, ctx, e.world.Kubeconfig(), subject)
	e.kubeconfig = filepath.Join(e.dir, "certwave.kubeconfig")
	writeTokenKubeconfig(t, e.world.Kubeconfig(), token, e.kubeconfig)
	checkRestricted(t, ctx, e.kubeconfig)

	root, err := e.world.ACMERootPEM(ctx)
	if err != nil {
		t.Fatalf("reading Pebble's root: %v", err)
	}
	e.rootsFile = filepath.Join(e.dir, "acme-root.pem")
	if err := os.WriteFile(e.rootsFile, root, 0o644); err != nil {
		t.Fatal(err)
	}

	// The data plane serves the later stages too, so the whole test owns
	// it, not this stage.
	e.dataPlane = startGatewayDataPlane(e.admin)
	e.t.Cleanup(e.dataPlane.Close)
	t.Logf("data plane for the probes on %s", e.dataPlane.Address())
	e.record("setup", time.Since(start))
}

// planAndRehearse makes the plan from the live cluster and records a
// passing rehearsal of it.
func (e *localE2E) planAndRehearse(t *testing.T) {
	e.planFile = filepath.Join(e.dir, "plan.yaml")
	issuer := acmeClusterIssuer(t, e.admin)
	// The plan starts now, because --time-scale divides only the distance
	// from the plan's start.
	start := time.Now().UTC().Format(time.RFC3339)
	res := e.certwave(t, 2*time.Minute, "plan", "--kubeconfig", e.kubeconfig, "--acme-issuer", issuer,
		"--start", start, "-o", "yaml", "--out", e.planFile)
	e.expectSuccess(t, "plan", res)
	if !strings.Contains(res.stdout, "steps:") {
		t.Errorf("plan -o yaml printed no steps:\n%s", tail(res.stdout, 20))
	}
	p, err := plan.Load(e.planFile)
	if err != nil {
		t.Fatal(err)
	}
	if p.Context != e2eContext {
		t.Errorf("plan records context %q, want %q", p.Context, e2eContext)
	}
	e.plan = p

	res = e.certwave(t, 5*time.Minute, "simulate", "--plan", e.planFile)
	e.expectSuccess(t, "simulate", res)
	record := rehearsalPath(defaultRehearsalDir(e.planFile), p.Digest())
	if _, err := os.Stat(record); err != nil {
		t.Errorf("simulate --plan recorded no rehearsal: %v", err)
	}
}

func (e *localE2E) runPhase0(t *testing.T) {
	res := e.certwave(t, 5*time.Minute, e.runArgs("phase0")...)
	e.expectSuccess(t, "run --until phase0", res)
	prog := e.progress(t)
	if want := stepIDs(e.plan, 0); !slices.Equal(sorted(prog.Completed), sorted(want)) {
		t.Errorf("completed steps after phase 0: %v, want %v", prog.Completed, want)
	}
	e.expectNoACMEOrders(t, "phase 0")
}

func (e *localE2E) runPhase1(t *testing.T) {
	res := e.certwave(t, 15*time.Minute, e.runArgs("phase1")...)
	e.expectSuccess(t, "run --until phase1", res)
	prog := e.progress(t)
	expectCompletedOnce(t, prog, stepIDs(e.plan, 1))
	if prog.InFlight != nil {
		t.Errorf("step %s is still in flight after the run ended", prog.InFlight.Step)
	}
	e.expectNoACMEOrders(t, "phase 1")
	e.migrated = readMigrationState(t, e.admin, e.plan)
	if len(e.migrated.listeners) == 0 || len(e.migrated.routes) == 0 {
		t.Errorf("phase 1 left no per-host listeners or moved routes: %+v", e.migrated)
	}
}

func (e *localE2E) status(t *testing.T) {
	done := len(stepIDs(e.plan, 1))
	res := e.certwave(t, 2*time.Minute, "status", "--kubeconfig", e.kubeconfig, "--plan", e.planFile)
	e.expectSuccess(t, "status", res)
	want := fmt.Sprintf("%d of %d steps done, phase 1", done, len(e.plan.Steps))
	if !strings.Contains(res.stdout, want) {
		t.Errorf("status does not show %q:\n%s", want, res.stdout)
	}
	if !strings.Contains(res.stdout, "Last stop: none") {
		t.Errorf("status shows a stop:\n%s", res.stdout)
	}

	res = e.certwave(t, 2*time.Minute, "status", "--kubeconfig", e.kubeconfig, "--plan", e.planFile, "-o", "json")
	e.expectSuccess(t, "status -o json", res)
	var report statusReport
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, res.stdout)
	}
	if report.StepsDone != done {
		t.Errorf("status: %d steps done, want %d", report.StepsDone, done)
	}
	if report.Phase != 1 {
		t.Errorf("status: phase %d, want 1", report.Phase)
	}
	if len(report.Pending) > 0 || len(report.Failing) > 0 {
		t.Errorf("status: pending Certificates %v, failing %v; want none", report.Pending, report.Failing)
	}
	if report.LastStop != nil {
		t.Errorf("status: last stop %+v, want none", report.LastStop)
	}
	if want := "ConfigMap/" + defaultStateNamespace + "/" + configMapName(e.plan.Digest()); report.Progress != want {
		t.Errorf("status read the progress from %s, want %s", report.Progress, want)
	}
}

// rollbackPhase1 undoes phase 1, so that the kill test runs it again.
func (e *localE2E) rollbackPhase1(t *testing.T) {
	res := e.certwave(t, 10*time.Minute, "rollback", "--kubeconfig", e.kubeconfig, "--plan", e.planFile, "--phase", "1", "--apply",
		"--address", "direct="+e.dataPlane.Address(), "--lease-duration", e2eLeaseDuration.String(), "--log", e.logFile("rollback"))
	e.expectSuccess(t, "rollback --phase 1 --apply", res)
	if !strings.Contains(res.stdout, "Rolled back phase 1") {
		t.Errorf("rollback output does not report the rollback:\n%s", tail(res.stdout, 20))
	}
	prog := e.progress(t)
	if len(prog.Completed) >= len(stepIDs(e.plan, 1)) {
		t.Errorf("%d steps still completed after the rollback of phase 1, want fewer than %d", len(prog.Completed), len(stepIDs(e.plan, 1)))
	}
	for _, id := range stepIDs(e.plan, 0) {
		if !slices.Contains(prog.Completed, id) {
			t.Errorf("the rollback of phase 1 reverted step %s of phase 0", id)
		}
	}
	e.expectNoACMEOrders(t, "the rollback")
}

// killAndResume runs phase 1 again, kills the process with SIGKILL a few
// seconds after each start, and lets the last run finish.
func (e *localE2E) killAndResume(t *testing.T) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("kill delays from seed %d", seed)
	start := time.Now()

	for kill := 1; kill <= e2eKills; kill++ {
		waitLeaseFree(t, ctx, e.admin)
		delay := 2*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))
		done := e.startAndKill(t, "phase1", delay)
		t.Logf("kill %d after %s: the killed run finished %d steps", kill, delay.Round(time.Millisecond), done)
	}

	waitLeaseFree(t, ctx, e.admin)
	res := e.certwave(t, 15*time.Minute, e.runArgs("phase1")...)
	e.expectSuccess(t, "run --until phase1 after the kills", res)
	e.record(fmt.Sprintf("kill test (%d kills and the resumed run)", e2eKills), time.Since(start))

	prog := e.progress(t)
	expectCompletedOnce(t, prog, stepIDs(e.plan, 1))
	expectDoneOncePerRollback(t, prog)
	if prog.InFlight != nil {
		t.Errorf("step %s is still in flight after the run ended", prog.InFlight.Step)
	}
	if prog.LastStop != nil {
		t.Errorf("the run ended with a stop: %+v", prog.LastStop)
	}
	// Phases 0 and 1 of the reference topology order nothing from ACME:
	// the private CA issues phase 1's certificates. An uninterrupted run
	// places 0 orders, and so must a killed and resumed one.
	e.expectNoACMEOrders(t, "the kill test")

	got := readMigrationState(t, e.admin, e.plan)
	if !slices.Equal(got.listeners, e.migrated.listeners) {
		t.Errorf("listeners after the kill test differ from the uninterrupted run's:\n got %v\nwant %v", got.listeners, e.migrated.listeners)
	}
	if !slices.Equal(got.routes, e.migrated.routes) {
		t.Errorf("routes after the kill test differ from the uninterrupted run's:\n got %v\nwant %v", got.routes, e.migrated.routes)
	}

	status := e.certwave(t, 2*time.Minute, "status", "--kubeconfig", e.kubeconfig, "--plan", e.planFile)
	e.expectSuccess(t, "status after the kill test", status)
	want := fmt.Sprintf("%d of %d steps done, phase 1", len(stepIDs(e.plan, 1)), len(e.plan.Steps))
	if !strings.Contains(status.stdout, want) {
		t.Errorf("status after the kill test does not show %q:\n%s", want, status.stdout)
	}
}

// startAndKill starts certwave run --until until, sends SIGKILL after
// delay and returns the number of steps the run reported done.
func (e *localE2E) startAndKill(t *testing.T, until string, delay time.Duration) int {
	t.Helper()
	done, killed := e.startAndKillUnlessDone(t, until, delay)
	if !killed {
		t.Fatalf("certwave run finished after less than %s, before the kill; the kill test needs a run in progress", delay)
	}
	return done
}

// startAndKillUnlessDone starts certwave run up to until and kills it with
// SIGKILL after delay. A run that finishes successfully before the delay
// is not killed. It returns the steps the run finished and whether it was
// killed.
func (e *localE2E) startAndKillUnlessDone(t *testing.T, until string, delay time.Duration) (int, bool) {
	t.Helper()
	args := e.runArgs(until)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	done := func() int { return strings.Count(stderr.String(), "] done ") }

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("certwave run failed after less than %s, before the kill: %v\nstderr:\n%s", delay, err, tail(stderr.String(), 30))
		}
		expectClean(t, "run", stdout.String()+stderr.String())
		return done(), false
	case <-time.After(delay):
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL to certwave run (pid %d): %v", cmd.Process.Pid, err)
	}
	err := <-exited
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("certwave run ended with %v before the SIGKILL took effect\nstderr:\n%s", err, tail(stderr.String(), 30))
	}
	expectClean(t, "killed run", stdout.String()+stderr.String())
	return done(), true
}

func (e *localE2E) runArgs(until string) []string {
	return []string{
		"run", "--kubeconfig", e.kubeconfig, "--plan", e.planFile, "--apply",
		"--time-scale", fmt.Sprint(harness.DefaultLocalTimeScale), "--until", until,
		// Gates read the cluster every second: the mirror of the Gateway
		// controllers updates status every 500 ms.
		"--poll-interval", "1s",
		"--lease-duration", e2eLeaseDuration.String(),
		"--address", "direct=" + e.dataPlane.Address(),
		"--roots-file", e.rootsFile,
		"--log", e.logFile("run"),
	}
}

// certwave runs the binary in the test's folder and records its wall
// time.
func (e *localE2E) certwave(t *testing.T, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Dir = e.dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second

	start := time.Now()
	err := cmd.Run()
	res := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), wall: time.Since(start)}

	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("certwave %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("certwave %s timed out after %s\n%s", args[0], timeout, res)
	}

	label := "certwave " + args[0]
	if i := slices.Index(args, "--until"); i >= 0 && i+1 < len(args) {
		label += " --until " + args[i+1]
	}
	if slices.Contains(args, "json") {
		label += " -o json"
	}
	e.record(label, res.wall)
	t.Logf("%s: exit %d in %s", label, res.code, res.wall.Round(time.Millisecond))
	return res
}

func (e *localE2E) logFile(command string) string {
	return filepath.Join(e.dir, command+".log")
}

// expectSuccess checks the exit status and that neither the output nor
// the log files name a forbidden request or key material.
func (e *localE2E) expectSuccess(t *testing.T, label string, res cliResult) {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("%s failed:\n%s", label, res)
	}
	expectClean(t, label, res.stdout+res.stderr)
	for _, command := range []string{"run", "rollback"} {
		if data, err := os.ReadFile(e.logFile(command)); err == nil {
			expectClean(t, label+", log "+command+".log", string(data))
		}
	}
}

// digestPattern matches hex digests, which may contain 403.
var digestPattern = regexp.MustCompile(`[0-9a-f]{12,64}`)

var forbiddenPattern = regexp.MustCompile(`(?i)forbidden|\b403\b`)

func expectClean(t *testing.T, label, output string) {
	t.Helper()
	if m := forbiddenPattern.FindString(digestPattern.ReplaceAllString(output, "")); m != "" {
		t.Errorf("%s: the output mentions %q, so the RBAC role lacks a permission:\n%s", label, m, linesContaining(output, m))
	}
	if strings.Contains(output, "PRIVATE KEY") {
		t.Errorf("%s: the output contains PEM private key material", label)
	}
}

func (e *localE2E) progress(t *testing.T) *engine.Progress {
	t.Helper()
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: defaultStateNamespace, Name: configMapName(e.plan.Digest())}
	if err := e.admin.Get(context.Background(), key, cm); err != nil {
		t.Fatalf("reading the progress ConfigMap %s: %v", key, err)
	}
	data, ok := cm.Data[engine.ConfigMapProgressKey]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", key, engine.ConfigMapProgressKey)
	}
	if strings.Contains(data, "PRIVATE KEY") {
		t.Errorf("ConfigMap %s contains PEM private key material", key)
	}
	prog := &engine.Progress{}
	if err := json.Unmarshal([]byte(data), prog); err != nil {
		t.Fatalf("decoding the progress in ConfigMap %s: %v", key, err)
	}
	if prog.PlanDigest != e.plan.Digest() {
		t.Errorf("ConfigMap %s holds progress of plan %s, want %s", key, prog.PlanDigest, e.plan.Digest())
	}
	return prog
}

func (e *localE2E) expectNoACMEOrders(t *testing.T, after string) {
	t.Helper()
	if n := e.world.ACMEOrders(); n != 0 {
		t.Errorf("the ACME front decided %d new orders by the end of %s, want 0", n, after)
	}
	prog := e.progress(t)
	for _, w := range prog.Ledger.Waves {
		if w.Orders != 0 {
			t.Errorf("the ledger records %d ACME orders in %s, want 0", w.Orders, w.Key)
		}
	}
}

// stepIDs returns the IDs of the plan's steps up to and including phase.
func stepIDs(p *plan.Plan, phase int) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Phase <= phase {
			out = append(out, s.ID)
		}
	}
	return out
}

func sorted(list []string) []string {
	out := slices.Clone(list)
	sort.Strings(out)
	return out
}

// expectCompletedOnce checks that the progress lists each of want once and
// nothing else.
func expectCompletedOnce(t *testing.T, prog *engine.Progress, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range prog.Completed {
		count[id]++
	}
	for _, id := range want {
		if count[id] != 1 {
			t.Errorf("step %s completed %d times, want once", id, count[id])
		}
		delete(count, id)
	}
	for id, n := range count {
		t.Errorf("step %s completed %d times, want 0: it is past the requested phase", id, n)
	}
}

// expectDoneOncePerRollback checks the ledger: each step has one done
// result per time it was done, which is once more than it was rolled
// back, so no resume recorded a step twice.
func expectDoneOncePerRollback(t *testing.T, prog *engine.Progress) {
	t.Helper()
	done, rolledBack := map[string]int{}, map[string]int{}
	for _, w := range prog.Ledger.Waves {
		for _, s := range w.Steps {
			switch s.Outcome {
			case engine.OutcomeDone:
				done[s.ID]++
			case engine.OutcomeRolledBack:
				rolledBack[s.ID]++
			}
		}
	}
	for _, id := range prog.Completed {
		if done[id] != rolledBack[id]+1 {
			t.Errorf("the ledger has %d done results of step %s and %d rollbacks, want %d done", done[id], id, rolledBack[id], rolledBack[id]+1)
		}
	}
}

// migrationState is what phase 1 changes: the listeners of the Gateways
// its steps add to, and the listener each moved route is attached to.
type migrationState struct {
	// listeners are namespace/gateway/listener, sorted.
	listeners []string
	// routes are namespace/route -> sectionName, sorted.
	routes []string
}

func readMigrationState(t *testing.T, c client.Client, p *plan.Plan) migrationState {
	t.Helper()
	ctx := context.Background()
	var state migrationState
	gateways := map[string]bool{}
	for _, s := range p.Steps {
		if s.Phase != 1 {
			continue
		}
		switch s.Kind {
		case plan.StepAddListener:
			gateways[s.Gateway] = true
		case plan.StepFlipRoute:
			ns, name, _ := strings.Cut(s.Route, "/")
			route := &gwapiv1.HTTPRoute{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, route); err != nil {
				t.Fatal(err)
			}
			for _, ref := range route.Spec.ParentRefs {
				section := ""
				if ref.SectionName != nil {
					section = string(*ref.SectionName)
				}
				state.routes = append(state.routes, fmt.Sprintf("%s -> %s/%s", s.Route, ref.Name, section))
			}
		}
	}
	for key := range gateways {
		ns, name, _ := strings.Cut(key, "/")
		gw := &gwapiv1.Gateway{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, gw); err != nil {
			t.Fatal(err)
		}
		for _, l := range gw.Spec.Listeners {
			state.listeners = append(state.listeners, key+"/"+string(l.Name))
		}
	}
	sort.Strings(state.listeners)
	sort.Strings(state.routes)
	return state
}

// waitLeaseFree waits until no run holds the run Lease: released, or
// expired because its holder was killed.
func waitLeaseFree(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	deadline := time.Now().Add(2*e2eLeaseDuration + time.Minute)
	for {
		lease := &coordinationv1.Lease{}
		err := c.Get(ctx, client.ObjectKey{Namespace: defaultStateNamespace, Name: leaseName}, lease)
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if leaseFree(lease, time.Now()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lease %s/%s still held by %q at %s", defaultStateNamespace, leaseName, *lease.Spec.HolderIdentity, deadline.Format(time.RFC3339))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func leaseFree(lease *coordinationv1.Lease, now time.Time) bool {
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return true
	}
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return false
	}
	expires := lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second)
	return now.After(expires)
}

// checkLocalStackAvailable skips the test, or fails it when required,
// where the component binaries or BIND are missing.
func checkLocalStackAvailable(t *testing.T, required bool) {
	t.Helper()
	if err := local.DefaultBinaries(local.DefaultCacheDir()).Check(); err != nil {
		skipOrFail(t, required, "local stack not available: %v", err)
	}
	if _, err := dns.FindNamed(); err != nil {
		skipOrFail(t, required, "BIND not available (%v): install it with hack/install-bind.sh", err)
	}
}

func skipOrFail(t *testing.T, required bool, format string, args ...any) {
	t.Helper()
	if required {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// buildCertwave builds the certwave binary into dir.
func buildCertwave(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "certwave")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/certwave: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// openLocalStack opens the local world for the reference topology. Its
// log goes to stack.log in dir, whose end the test prints when it fails.
func openLocalStack(t *testing.T, dir string, required bool) *harness.LocalWorld {
	t.Helper()
	path := filepath.Join(dir, "stack.log")
	logFile, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	world, err := harness.OpenLocal(context.Background(), topology.Reference(), &scenarios.Scenario{}, time.Now(), logFile)
	if err != nil {
		logFile.Close()
		skipOrFail(t, required, "the local stack did not start (build it with make components, install BIND with hack/install-bind.sh): %v\n%s",
			err, tailFile(path, 30))
	}
	t.Logf("local stack open in %s, kubeconfig %s", time.Since(start).Round(time.Second), world.Kubeconfig())
	t.Cleanup(func() {
		if err := world.Close(); err != nil {
			t.Errorf("closing the local stack: %v", err)
		}
		logFile.Close()
		if t.Failed() {
			t.Logf("end of %s:\n%s", path, tailFile(path, 40))
		}
	})
	return world
}

// createCertManagerStandIn creates the Deployment and configuration
// ConfigMap that cert-manager's Helm chart installs. The local stack runs
// cert-manager as a process, so without them the live inventory would not
// show that its gateway-shim is on. The rehearsal of a plan made from the
// cluster would then expect no Certificate from the shim. No kubelet runs,
// so the Deployment starts nothing.
func createCertManagerStandIn(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	labels := map[string]string{"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
	config := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "cert-manager", Labels: labels},
		Data: map[string]string{"config.yaml": "apiVersion: controller.config.cert-manager.io/v1alpha1\n" +
			"kind: ControllerConfiguration\ngatewayAPI:\n  enabled: true\n"},
	}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cert-manager", Name: "cert-manager", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "cert-manager-controller",
					Image: "quay.io/jetstack/cert-manager-controller:v1.21.2",
					Args:  []string{"--config=/var/cert-manager/config/config.yaml"},
				}}},
			},
		},
	}
	for _, obj := range []client.Object{config, deployment} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating the cert-manager stand-in %T: %v", obj, err)
		}
	}
}

// acmeClusterIssuer returns ClusterIssuer/NAME of the stack's ACME
// ClusterIssuer. Its server is the local front, not Let's Encrypt, so
// certwave plan cannot find it by itself.
func acmeClusterIssuer(t *testing.T, c client.Client) string {
	t.Helper()
	var list cmapi.ClusterIssuerList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	for _, ci := range list.Items {
		if ci.Spec.ACME != nil {
			return "ClusterIssuer/" + ci.Name
		}
	}
	t.Fatal("the local stack has no ACME ClusterIssuer")
	return ""
}

// applyManifest creates the objects of a multi-document YAML file and
// returns the ServiceAccount its ClusterRoleBinding binds.
func applyManifest(t *testing.T, ctx context.Context, c client.Client, path string) rbacv1.Subject {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var subject *rbacv1.Subject
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		obj := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s from %s: %v", obj.GetKind(), obj.GetName(), path, err)
		}
		if obj.GetKind() == "ClusterRoleBinding" {
			var binding rbacv1.ClusterRoleBinding
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &binding); err != nil {
				t.Fatal(err)
			}
			for _, s := range binding.Subjects {
				if s.Kind == rbacv1.ServiceAccountKind {
					subject = &s
				}
			}
		}
	}
	if subject == nil {
		t.Fatalf("%s binds no ServiceAccount in its ClusterRoleBinding", path)
	}
	return *subject
}

// serviceAccountToken requests a token of the ServiceAccount through the
// TokenRequest API.
func serviceAccountToken(t *testing.T, ctx context.Context, adminKubeconfig string, sa rbacv1.Subject) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	expiry := int64(2 * time.Hour / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	res, err := clientset.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for ServiceAccount %s/%s: %v", sa.Namespace, sa.Name, err)
	}
	return res.Status.Token
}

// writeTokenKubeconfig writes a kubeconfig with the admin kubeconfig's
// server and CA and only the token as credentials.
func writeTokenKubeconfig(t *testing.T, adminKubeconfig, token, path string) {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	current, ok := admin.Contexts[admin.CurrentContext]
	if !ok {
		t.Fatalf("admin kubeconfig %s has no current context", adminKubeconfig)
	}
	cluster, ok := admin.Clusters[current.Cluster]
	if !ok {
		t.Fatalf("admin kubeconfig %s has no cluster %q", adminKubeconfig, current.Cluster)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local-stack"] = &clientcmdapi.Cluster{
		Server: cluster.Server, CertificateAuthority: cluster.CertificateAuthority, CertificateAuthorityData: cluster.CertificateAuthorityData,
	}
	cfg.AuthInfos["certwave"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[e2eContext] = &clientcmdapi.Context{Cluster: "local-stack", AuthInfo: "certwave"}
	cfg.CurrentContext = e2eContext
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// checkRestricted checks that the token kubeconfig is not an admin's: it
// may not read ConfigMaps in kube-system.
func checkRestricted(t *testing.T, ctx context.Context, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: runScheme()})
	if err != nil {
		t.Fatal(err)
	}
	err = c.List(ctx, &corev1.ConfigMapList{}, client.InNamespace("kube-system"))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("listing ConfigMaps in kube-system with the RBAC role's token: got %v, want forbidden", err)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tail(string(data), n)
}

// linesContaining returns the lines of s that contain substr, at most 10.
func linesContaining(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
			if len(out) == 10 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
