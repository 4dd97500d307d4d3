package harness

import (
	"context"
	"time"
)

// runEvery calls fn every interval until ctx ends, then closes done.
func runEvery(ctx context.Context, interval time.Duration, done chan<- struct{}, fn func(context.Context)) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
