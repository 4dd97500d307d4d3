package harness

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/certwave/certwave/scenarios"
)

// RunSuite runs the scenarios and returns their results in order.
// progress, when set, receives one result per scenario, in the order of
// list, as soon as that scenario and every one before it finished.
//
// Scenarios on the model world run side by side, opts.Parallel at a time
// (default: one per CPU): each has its own world, seed and clock, so the
// results and traces are the same as one after another. Their logs and
// traces are buffered and written in the order of list. Other worlds run
// one scenario at a time, because each opens its own stack of processes.
func RunSuite(ctx context.Context, list []*scenarios.Scenario, opts Options, progress func(Result)) []Result {
	workers := suiteWorkers(opts)
	if workers == 1 {
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

	type slot struct {
		result     Result
		log, trace bytes.Buffer
		done       chan struct{}
	}
	slots := make([]*slot, len(list))
	for i := range slots {
		slots[i] = &slot{done: make(chan struct{})}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				sl := slots[i]
				own := opts
				if opts.Log != nil {
					own.Log = &sl.log
				}
				if opts.Trace != nil {
					own.Trace = &sl.trace
				}
				sl.result = Run(ctx, list[i], own)
				close(sl.done)
			}
		})
	}
	go func() {
		for _, i := range longestFirst(list) {
			next <- i
		}
		close(next)
	}()

	results := make([]Result, 0, len(list))
	for _, sl := range slots {
		<-sl.done
		flushBuffered(opts.Log, &sl.log)
		flushBuffered(opts.Trace, &sl.trace)
		if progress != nil {
			progress(sl.result)
		}
		results = append(results, sl.result)
	}
	wg.Wait()
	return results
}

// suiteWorkers returns how many scenarios RunSuite runs at once.
func suiteWorkers(opts Options) int {
	if opts.World != "model" || opts.outcome != nil {
		return 1
	}
	if opts.Parallel > 0 {
		return opts.Parallel
	}
	return runtime.GOMAXPROCS(0)
}

// flushBuffered writes a scenario's buffered log or trace to the suite's
// writer. A failed write loses only that output, so the results stay valid.
func flushBuffered(dst io.Writer, buffered *bytes.Buffer) {
	if dst != nil {
		_, _ = buffered.WriteTo(dst)
	}
}

// longestFirst returns the indexes of list, the scenarios likely to take
// longest first, so that the workers do not end on one long scenario. The
// estimate is rough: the virtual time a scenario observes after its run,
// plus a fixed share for a full migration and much more for a GitOps run,
// which loads its tree after every commit.
func longestFirst(list []*scenarios.Scenario) []int {
	cost := func(s *scenarios.Scenario) time.Duration {
		c := s.Run.ObserveFor.D()
		if s.Run.Until == "" && !s.Run.PlanOnly {
			c += 30 * 24 * time.Hour
		}
		if s.Run.GitOps != nil {
			c += 120 * 24 * time.Hour
		}
		return c
	}
	order := make([]int, len(list))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cost(list[order[a]]) > cost(list[order[b]]) })
	return order
}
