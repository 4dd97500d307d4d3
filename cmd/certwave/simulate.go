package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certwave/certwave/engine/tlsprobe"
	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/scenarios"
)

type simulateFlags struct {
	world       string
	conformance bool
	seed        int64
	suite       string
	scenario    []string
	labels      []string
	report      string
	logFile     string
	trace       string
	output      string
	parallel    int
	// planFile, accept and rehearsals are for rehearsing a saved plan.
	planFile   string
	accept     []string
	rehearsals string
	// cluster are the cluster world's flags, and clusterOpts the options
	// built from them and the environment.
	cluster     clusterWorldFlags
	clusterOpts harness.ClusterOptions
	// replayArgs are the cluster flags given, which replay commands repeat.
	replayArgs []string
}

// clusterWorldFlags select the existing cluster of --world cluster.
type clusterWorldFlags struct {
	kubeconfig string
	context    string
	disposable string
	timeScale  int
	keep       bool
	addresses  []string
	rootsFile  string
}

func newSimulateCommand() *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Rehearse scenarios on a simulated world or a disposable cluster and print a verdict per scenario",
		Long: `simulate runs scenarios (YAML files: a topology, world options, faults,
what the run does and the outcomes expected) through the real engine on a
simulated world, and judges each one. The model world is deterministic: the
same seed gives the same trace, and days of soaks and renewals take
seconds of wall time.

It prints a table (scenario, verdict, ACME orders, minimum availability,
virtual duration, wall time, stop rule) and writes a Markdown report with
--report. Exit status: 0 when every scenario passed or is unsupported, 2
when a scenario failed (the table then prints the command that replays
it), 1 on invalid input or other errors.

With --world cluster it runs them on an existing disposable cluster
(--kubeconfig, --context): it creates each scenario's objects there,
labelled certwave.io/cluster-world, runs the engine against the
cluster's own cert-manager, ACME issuer and gateway controller in real
time, and deletes what it created. --disposable-context must name the
context in use. ACME orders are counted from cert-manager's Orders, and
availability from TLS probes of the cluster's data plane. A scenario that
needs what the cluster lacks (CRDs, a running controller, its ACME issuer,
faults, months of time) is reported unsupported with the reason.

With --plan it rehearses a saved plan instead: the model world is built
from the plan's inventory, the engine runs every step, and the outcome is
recorded in --rehearsals-dir under the plan's digest. certwave run --apply
requires a passing record of the same digest.`,
		Example: `  certwave simulate                       # every built-in scenario
  certwave simulate --plan plan.yaml      # rehearse a saved plan before certwave run --apply
  certwave simulate --scenario flag-day --seed 7
  certwave simulate --suite ./my-scenarios --report report.md
  certwave simulate --world cluster --kubeconfig kind.yaml --context kind-test --disposable-context kind-test --scenario my-canary`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.world, "world", "model", "world to rehearse on: "+strings.Join(harness.WorldNames, ", "))
	fl.Int64Var(&f.seed, "seed", 1, "seed of every random choice of the world; a scenario's own seed wins")
	fl.StringVar(&f.suite, "suite", "", "folder of scenario files (*.yaml) (default: the built-in scenarios)")
	fl.StringArrayVar(&f.scenario, "scenario", nil, "run only the scenario with this name, or this file name inside the suite; repeatable")
	fl.StringArrayVar(&f.labels, "label", nil, "run only scenarios carrying this label; repeatable")
	fl.StringVar(&f.report, "report", "", "write a Markdown report to this file")
	fl.StringVar(&f.logFile, "log", "", "write the worlds' logs (the seed and options first) to this file")
	fl.StringVar(&f.trace, "trace", "", "write each scenario's world trace (virtual times, one event a line) to this file")
	fl.StringVarP(&f.output, "output", "o", formatTable, "output format: table or json (durations as Go duration strings such as 132h0m0s)")
	fl.IntVar(&f.parallel, "parallel", 0, "scenarios run at once on the model world (default 0: one per CPU); results, logs and traces keep the suite's order")
	fl.BoolVar(&f.conformance, "conformance", false, "run each scenario on the model and on --world, and list where their Certificates, listeners, routes, ACME orders and stops differ; fails on a difference without a known reason")
	fl.StringVar(&f.planFile, "plan", "", "rehearse this plan file (written by certwave plan --out) instead of scenarios, and record the outcome")
	fl.StringArrayVar(&f.accept, "accept-finding", nil, "with --plan: ID of a blocker finding to accept, as certwave run will; repeatable")
	fl.StringVar(&f.rehearsals, "rehearsals-dir", "", "with --plan: folder of the rehearsal records (default: .certwave/rehearsals beside the plan file)")
	f.cluster.register(fl)
	return cmd
}

func runSimulate(cmd *cobra.Command, f *simulateFlags) error {
	if err := checkFormat(f.output, formatTable, formatJSON); err != nil {
		return err
	}
	if !slices.Contains(harness.WorldNames, f.world) {
		return fmt.Errorf("invalid --world %q: use one of %s", f.world, strings.Join(harness.WorldNames, ", "))
	}
	if err := f.resolveCluster(cmd); err != nil {
		return err
	}
	defer harness.TuneGC()()
	if f.planFile != "" {
		if f.world == "cluster" {
			return fmt.Errorf("--plan with --world cluster is not supported: rehearse the plan on the model or local world")
		}
		if len(f.scenario) > 0 || len(f.labels) > 0 || f.suite != "" {
			return fmt.Errorf("--plan rehearses one plan: leave out --scenario, --label and --suite")
		}
		return runSimulatePlan(cmd, f)
	}
	if f.parallel < 0 {
		return fmt.Errorf("invalid --parallel %d: give 1 or more scenarios at once, or 0 for one per CPU", f.parallel)
	}
	if len(f.accept) > 0 || f.rehearsals != "" {
		return fmt.Errorf("--accept-finding and --rehearsals-dir apply only with --plan")
	}
	list, err := loadScenarios(f)
	if err != nil {
		return err
	}
	if f.world == "cluster" {
		if err := harness.CheckClusterReachable(cmd.Context(), f.clusterOpts); err != nil {
			return err
		}
	}
	var log io.Writer = io.Discard
	if f.logFile != "" {
		file, err := os.Create(f.logFile)
		if err != nil {
			return err
		}
		defer file.Close()
		log = file
	}
	var trace io.Writer
	if f.trace != "" {
		file, err := os.Create(f.trace)
		if err != nil {
			return err
		}
		defer file.Close()
		trace = file
	}
	if f.conformance {
		return runConformance(cmd, f, list, log)
	}
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "certwave simulate: world %s, seed %d unless a scenario sets its own, %s\n", f.world, f.seed, plural(len(list), "scenario"))
	width := 0
	for _, s := range list {
		width = max(width, len(s.Name))
	}
	results := harness.RunSuite(cmd.Context(), list, harness.Options{World: f.world, Seed: f.seed, Log: log, Trace: trace, Suite: f.suite, Parallel: f.parallel, Cluster: f.clusterOpts, ReplayArgs: f.replayArgs, Status: statusPrinter(f.world, width, stderr)},
		func(r harness.Result) {
			fmt.Fprintf(stderr, "  %-*s %s (%s)\n", width, r.Scenario, r.Verdict, r.Wall.Round(1e6))
		})

	if f.output == formatJSON {
		if err := writeStructured(cmd.OutOrStdout(), formatJSON, results); err != nil {
			return err
		}
	} else {
		harness.WriteTable(cmd.OutOrStdout(), results)
	}
	if f.report != "" {
		if err := os.MkdirAll(filepath.Dir(f.report), 0o755); err != nil {
			return err
		}
		file, err := os.Create(f.report)
		if err != nil {
			return err
		}
		harness.WriteMarkdown(file, f.world, f.seed, results)
		if err := file.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", f.report)
	}
	if _, failed, _ := harness.Count(results); failed > 0 {
		return withCode(exitFailed, fmt.Errorf("%d of %d scenarios failed", failed, len(results)))
	}
	return nil
}

func (f *clusterWorldFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "with --world cluster: kubeconfig file of the disposable test cluster (default: $"+harness.EnvKubeconfig+"; KUBECONFIG is not read)")
	fl.StringVar(&f.context, "context", "", "with --world cluster: kubeconfig context to use (default: $"+harness.EnvContext+", else the current context)")
	fl.StringVar(&f.disposable, "disposable-context", "", "with --world cluster: name of the context in use, stating that its cluster is disposable; required (default: $"+harness.EnvDisposableContext+")")
	fl.IntVar(&f.timeScale, "time-scale", 0, "with --world cluster: divide the plan's waits by N; above 1 only on a cluster labelled certwave.io/test-stack=true whose cert-manager and ACME server are scaled alike (default: 1, real time)")
	fl.BoolVar(&f.keep, "keep", false, "with --world cluster: leave the objects each scenario created in the cluster")
	fl.StringArrayVar(&f.addresses, "address", nil, "with --world cluster: PATH=HOST:PORT: dial HOST:PORT for client path PATH when probing, such as the Gateway's LoadBalancer; repeatable")
	fl.StringVar(&f.rootsFile, "roots-file", "", "with --world cluster: PEM bundle of the roots for public hosts, such as Let's Encrypt's staging roots (default: the system roots)")
}

// clusterFlagNames are the flags of the cluster world.
var clusterFlagNames = []string{"kubeconfig", "context", "disposable-context", "time-scale", "keep", "address", "roots-file"}

// resolveCluster builds the cluster world's options and checks that the
// context is named as disposable before any scenario runs. The flags
// apply only with --world cluster.
func (f *simulateFlags) resolveCluster(cmd *cobra.Command) error {
	var set []string
	for _, name := range clusterFlagNames {
		if cmd.Flags().Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if f.world != "cluster" {
		if len(set) > 0 {
			return fmt.Errorf("%s given with --world %s: --kubeconfig, --context, --disposable-context, --time-scale, --keep, --address and --roots-file apply only with --world cluster",
				strings.Join(set, ", "), f.world)
		}
		return nil
	}

	opts, err := f.cluster.options(cmd.Flags().Changed("time-scale"))
	if err != nil {
		return err
	}
	name, err := harness.CheckClusterOptIn(opts)
	if err != nil {
		return err
	}
	f.clusterOpts = opts
	f.replayArgs = flagArgs(cmd, func(name string) bool { return slices.Contains(clusterFlagNames, name) })
	fmt.Fprintf(cmd.ErrOrStderr(), "certwave simulate: cluster world on context %s of %s, time scale %d; "+
		"ACME orders are counted from cert-manager's Orders, availability from TLS probes\n", name, opts.Kubeconfig, max(opts.TimeScale, 1))
	return nil
}

// options returns the cluster world's options: the environment's
// (harness.ClusterOptionsFromEnv), overridden by the flags that are set.
func (c *clusterWorldFlags) options(timeScaleSet bool) (harness.ClusterOptions, error) {
	opts, err := harness.ClusterOptionsFromEnv()
	if err != nil {
		return opts, err
	}
	if c.kubeconfig != "" {
		opts.Kubeconfig = c.kubeconfig
	}
	if c.context != "" {
		opts.Context = c.context
	}
	if c.disposable != "" {
		opts.DisposableContext = c.disposable
	}
	if timeScaleSet {
		if c.timeScale < 1 {
			return opts, fmt.Errorf("invalid --time-scale %d: want 1 or more", c.timeScale)
		}
		opts.TimeScale = c.timeScale
	}
	opts.Keep = opts.Keep || c.keep

	if len(c.addresses) > 0 {
		if opts.Addresses, err = harness.ParseAddresses("--address", c.addresses); err != nil {
			return opts, err
		}
	}
	if c.rootsFile != "" {
		if opts.Roots, err = tlsprobe.ReadRoots("--roots-file", c.rootsFile); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// loadScenarios reads the suite and keeps the scenarios the flags select.
func loadScenarios(f *simulateFlags) ([]*scenarios.Scenario, error) {
	var all []*scenarios.Scenario
	var err error
	if f.suite == "" {
		all, err = scenarios.LoadDir(scenarios.Builtin, ".")
	} else {
		if info, statErr := os.Stat(f.suite); statErr != nil || !info.IsDir() {
			return nil, fmt.Errorf("invalid --suite %s: not a folder; pass a folder of scenario files (*.yaml)", f.suite)
		}
		all, err = scenarios.LoadDir(os.DirFS(f.suite), ".")
		if err != nil && strings.HasPrefix(err.Error(), "no scenario files") {
			err = fmt.Errorf("no scenario files (*.yaml) in %s", f.suite)
		}
	}
	if err != nil {
		return nil, err
	}
	var out []*scenarios.Scenario
	for _, s := range all {
		if len(f.scenario) > 0 && !matchesAny(s, f.scenario) {
			continue
		}
		if len(f.labels) > 0 && !hasAnyLabel(s, f.labels) {
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		var names, labels []string
		for _, s := range all {
			names = append(names, s.Name)
			for _, l := range s.Labels {
				if !slices.Contains(labels, l) {
					labels = append(labels, l)
				}
			}
		}
		slices.Sort(labels)
		var requested []string
		for _, n := range f.scenario {
			requested = append(requested, "--scenario "+n)
		}
		for _, l := range f.labels {
			requested = append(requested, "--label "+l)
		}
		return nil, fmt.Errorf("no scenario matches %s; the scenarios are %s, and the labels %s",
			strings.Join(requested, " "), strings.Join(names, ", "), strings.Join(labels, ", "))
	}
	return out, nil
}

func matchesAny(s *scenarios.Scenario, names []string) bool {
	for _, n := range names {
		if n == s.Name || n == s.File || filepath.Base(n) == filepath.Base(s.File) {
			return true
		}
	}
	return false
}

func hasAnyLabel(s *scenarios.Scenario, labels []string) bool {
	for _, want := range labels {
		for _, l := range s.Labels {
			if l == want {
				return true
			}
		}
	}
	return false
}

// statusInterval is the shortest time between two status lines of a
// scenario on a world that runs in real time.
const statusInterval = 10 * time.Second

// statusPrinter returns the harness's Status callback for the world, nil
// on the model, whose scenarios take seconds. On the other worlds it
// prints the world's opening, then at most one step line every
// statusInterval, so that a scenario of several minutes shows progress.
// Scenario names are padded to width, the longest name of the suite.
func statusPrinter(world string, width int, out io.Writer) func(scenario, status string) {
	if world == "model" {
		return nil
	}
	var mu sync.Mutex
	var last time.Time
	return func(scenario, status string) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if !strings.HasPrefix(status, "opening") {
			if !last.IsZero() && now.Sub(last) < statusInterval {
				return
			}
			last = now
		}
		fmt.Fprintf(out, "  %-*s %s %s\n", width, scenario, now.Format(time.TimeOnly), status)
	}
}
