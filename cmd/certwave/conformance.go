package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/scenarios"
)

// runConformance rehearses each scenario on the model and on f.world and
// prints where their outcomes differ. It fails on a difference without a
// known reason, and on a scenario that does not pass on both worlds.
func runConformance(cmd *cobra.Command, f *simulateFlags, list []*scenarios.Scenario, log io.Writer) error {
	if f.world == "model" {
		return fmt.Errorf("--conformance compares the model with another world: add --world local")
	}
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "certwave simulate: conformance of world %s with the model, seed %d, %d scenarios\n", f.world, f.seed, len(list))
	bad := 0
	for _, s := range list {
		c := harness.Conform(cmd.Context(), s, harness.Options{World: f.world, Seed: f.seed, Log: log, Suite: f.suite, Cluster: f.clusterOpts, ReplayArgs: f.replayArgs})
		fmt.Fprintf(out, "%s: model %s, %s %s (%s); %d differences\n", s.Name, c.Model.Verdict, f.world, c.Other.Verdict, c.Other.Wall.Round(1e6), len(c.Differences))
		for _, d := range c.Differences {
			mark := "UNEXPLAINED"
			if d.Explained != "" {
				mark = "known: " + d.Explained
			}
			fmt.Fprintf(out, "  %s\n    model: %s\n    %s: %s\n    %s\n", d.What, d.Model, f.world, d.Other, mark)
		}
		if len(c.Unexplained()) > 0 || c.Model.Verdict != harness.VerdictPass || c.Other.Verdict != harness.VerdictPass {
			bad++
		}
	}
	if bad > 0 {
		return withCode(exitFailed, fmt.Errorf("%d of %d scenarios do not conform: see the differences above", bad, len(list)))
	}
	return nil
}
