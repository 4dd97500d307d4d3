package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/internal/fixtures"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/topology"
)

// newGitOpsCluster copies the home-lab tree into a new Git repository,
// plans it, and makes openEnv return a model world built from it with
// cert-manager's Gateway API support on.
func newGitOpsCluster(t *testing.T) (tree, planFile string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	tree = t.TempDir()
	if err := os.CopyFS(tree, os.DirFS(fixtures.Homelab(t))); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "--quiet", "--initial-branch=main"}, {"add", "-A"}, {"commit", "--quiet", "-m", "before"}} {
		cmd := exec.Command("git", append([]string{"-C", tree, "-c", "user.name=t", "-c", "user.email=t@127.0.0.1"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}

	vars := map[string]string{"SECRET_DOMAIN": "example.com"}
	inv, err := topology.LoadGitOps(tree, topology.GitOpsOptions{Vars: vars})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(inv, plan.DefaultOptions(planStart))
	if err != nil {
		t.Fatal(err)
	}
	planFile = filepath.Join(t.TempDir(), "plan.yaml")
	if err := writePlanFile(planFile, p); err != nil {
		t.Fatal(err)
	}
	loaded, err := plan.Load(planFile)
	if err != nil {
		t.Fatal(err)
	}

	on := true
	w, err := harness.OpenWorld("model", loaded.Inventory, &scenarios.Scenario{World: scenarios.World{GatewayAPIEnabled: &on}}, 1, planStart, nil)
	if err != nil {
		t.Fatal(err)
	}
	state := fake.NewClientBuilder().WithScheme(runScheme()).Build()
	clock := &testLeaseClock{now: planStart}
	openEnv = func(_ context.Context, f *clusterFlags, _ *plan.Plan, _ *slog.Logger) (*runEnv, error) {
		return &runEnv{
			world: w, state: state, contextName: "model-test", clock: clock, holder: "test-gitops",
			live: func(context.Context) (*topology.Inventory, error) { return loaded.Inventory, nil },
		}, nil
	}
	t.Cleanup(func() { openEnv = openClusterEnv })
	return tree, planFile
}

// A GitOps dry run prints the manifest edits and writes nothing.
func TestRunGitOpsDryRunPrintsManifestEdits(t *testing.T) {
	tree, planFile := newGitOpsCluster(t)
	out, stderr, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--gitops", tree, "--set", "SECRET_DOMAIN=example.com", "--until", "phase1")...)...)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"## manifest edits a GitOps run would commit",
		"+  - certwave-clusterissuer-certwave-private-ca.yaml",
		"+    cert-manager.io/cluster-issuer: letsencrypt-production",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	status, err := exec.Command("git", "-C", tree, "status", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	if len(status) > 0 {
		t.Errorf("a dry run changed the tree:\n%s", status)
	}
}

// With --apply, the run commits phase 0's annotation on a new branch and
// stops for the merge with exit status 3, naming the branch. The plan is
// made from the tree, whose cert-manager has Gateway API support off, so
// the run accepts that finding: the test's world has it on.
func TestRunGitOpsApplyCommitsAndStops(t *testing.T) {
	tree, planFile := newGitOpsCluster(t)
	_, stderr, err := runCLIErr(t, append([]string{"run"}, runArgs(planFile, "--gitops", tree, "--set", "SECRET_DOMAIN=example.com",
		"--apply", "--without-rehearsal", "--accept-finding", "fixed-sni-client", "--accept-finding", "gateway-api-disabled")...)...)
	var coded *codedError
	if !errors.As(err, &coded) || coded.code != exitStopped {
		t.Fatalf("run: got %v, want a stop (exit status %d)\n%s", err, exitStopped, stderr)
	}
	if !strings.Contains(err.Error(), engine.RuleGitOpsMerge) || !strings.Contains(err.Error(), "branch certwave/p0-annotate-network-external") {
		t.Errorf("stop %q does not name rule %s and the branch", err, engine.RuleGitOpsMerge)
	}
	log, err := exec.Command("git", "-C", tree, "log", "-1", "--format=%s%n%b", "certwave/p0-annotate-network-external").Output()
	if err != nil {
		t.Fatalf("git log of the branch: %v", err)
	}
	if !strings.HasPrefix(string(log), "feat(network): per-app TLS migration, phase 0 (0/") {
		t.Errorf("commit message:\n%s", log)
	}
	if !strings.Contains(string(log), "Plan steps: p0-annotate-network-external") {
		t.Errorf("commit body does not list the plan steps:\n%s", log)
	}
}
