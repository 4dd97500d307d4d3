package harness

import (
	"context"

	"github.com/certwave/certwave/scenarios"
)

// RunSuite runs the scenarios one after another on one world and returns
// their results in order. progress, when set, receives one line per
// scenario as it finishes.
func RunSuite(ctx context.Context, list []*scenarios.Scenario, opts Options, progress func(Result)) []Result {
	results := make([]Result, 0, len(list))
	for _, s := range list {
		r := Run(ctx, s, opts)
		if progress != nil {
			progress(r)
		}
		results = append(results, r)
	}
	return results
}
