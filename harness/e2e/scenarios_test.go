package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/scenarios"
)

var (
	testenv env.Environment
	// world is the harness world the features run on.
	world = "model"
	// labelFilter is the framework's --labels filter.
	labelFilter map[string][]string
)

// clusterKey keys the cluster world's options in the environment's
// context.
type clusterKey struct{}

func TestMain(m *testing.M) {
	if w := os.Getenv("CERTWAVE_WORLD"); w != "" {
		world = w
	}
	if !slices.Contains(harness.WorldNames, world) {
		fmt.Fprintf(os.Stderr, "invalid CERTWAVE_WORLD %q: use one of %v\n", world, harness.WorldNames)
		os.Exit(2)
	}
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-framework flags: %v\n", err)
		os.Exit(2)
	}
	labelFilter = cfg.Labels()
	testenv = env.NewWithConfig(cfg)
	if world == "cluster" {
		testenv.Setup(selectCluster)
	}
	os.Exit(testenv.Run(m))
}

// selectCluster is the setup of the cluster world's environment. It takes
// the kubeconfig and context from the framework's --kubeconfig and
// --context flags, else from CERTWAVE_KUBECONFIG and CERTWAVE_CONTEXT, and
// the other options from the CERTWAVE_CLUSTER_* variables. It fails, and
// so no feature runs, unless CERTWAVE_DISPOSABLE_CONTEXT names the context
// in use.
func selectCluster(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	opts, err := harness.ClusterOptionsFromEnv()
	if err != nil {
		return ctx, err
	}
	if cfg.KubeconfigFile() != "" {
		opts.Kubeconfig = cfg.KubeconfigFile()
	}
	if cfg.KubeContext() != "" {
		opts.Context = cfg.KubeContext()
	}
	name, err := harness.CheckClusterOptIn(opts)
	if err != nil {
		return ctx, err
	}
	if err := harness.CheckClusterReachable(ctx, opts); err != nil {
		return ctx, err
	}
	fmt.Fprintf(os.Stderr, "cluster world: context %s of %s; ACME orders are counted from cert-manager's Orders, availability from TLS probes\n",
		name, opts.Kubeconfig)
	return context.WithValue(ctx, clusterKey{}, opts), nil
}

// TestScenarios runs every built-in scenario as a feature that assesses
// its verdict.
func TestScenarios(t *testing.T) {
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	var feats []features.Feature
	for _, s := range list {
		b := features.New(s.Name).WithLabel("scenario", s.Name).WithLabel("world", world)
		for _, l := range s.Labels {
			b = b.WithLabel("label", l)
		}
		feats = append(feats, b.Assess("verdict", assessScenario(s)).Feature())
	}
	if !slices.ContainsFunc(feats, func(f features.Feature) bool { return selected(f.Labels(), labelFilter) }) {
		var known []string
		for _, s := range list {
			known = append(known, s.Labels...)
		}
		slices.Sort(known)
		t.Fatalf("no scenario matches --labels %v, so nothing would run: use scenario=NAME, world=%s or label=LABEL, where LABEL is one of %v",
			labelFilter, world, slices.Compact(known))
	}
	testenv.Test(t, feats...)
}

// selected reports whether a feature with labels passes the filter: for
// every key of the filter, one of the feature's values for that key is
// among the filter's values.
func selected(labels, filter map[string][]string) bool {
	for key, want := range filter {
		if !slices.ContainsFunc(labels[key], func(v string) bool { return slices.Contains(want, v) }) {
			return false
		}
	}
	return true
}

// assessScenario runs s on the world and fails on any verdict but pass;
// an unsupported scenario is skipped with its reason.
func assessScenario(s *scenarios.Scenario) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		opts := harness.Options{World: world, Seed: 1, Fixtures: os.Getenv("CERTWAVE_FIXTURES")}
		if cluster, ok := ctx.Value(clusterKey{}).(harness.ClusterOptions); ok {
			opts.Cluster = cluster
		}
		r := harness.Run(ctx, s, opts)
		switch r.Verdict {
		case harness.VerdictPass:
			t.Logf("%s on %s: %d ACME orders, lowest availability %.4f, %s", s.Name, world, r.ACMEOrders, r.MinAvailability, r.Wall)
		case harness.VerdictUnsupported:
			t.Skipf("%s is unsupported on the %s world: %s", s.Name, world, r.Unsupported)
		default:
			t.Errorf("%s on %s: %s; failures: %v; replay: certwave simulate --world %s --scenario %s --seed 1",
				s.Name, world, r.Verdict, r.Failures, world, s.Name)
		}
		return ctx
	}
}
