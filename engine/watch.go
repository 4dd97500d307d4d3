package engine

import (
	"context"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Watcher is implemented by worlds whose API server can watch: a GitOps run
// then waits for a merged commit by watching the kinds it edits instead of
// reading them every poll interval.
type Watcher interface {
	Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error)
}

// watchedKinds are the kinds a GitOps commit changes.
func watchedKinds() []client.ObjectList {
	return []client.ObjectList{&gwv1.GatewayList{}, &gwv1.HTTPRouteList{}, &cmv1.CertificateList{}, &cmv1.ClusterIssuerList{}}
}

// changes returns a channel that receives a value whenever an object of a
// watched kind changes, and a function that stops the watches. Without a
// Watcher, or when a watch cannot start, it returns nil: the caller then
// polls.
func (e *Engine) changes(ctx context.Context) (<-chan struct{}, func()) {
	w, ok := e.world.(Watcher)
	if !ok {
		return nil, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan struct{}, 1)
	for _, list := range watchedKinds() {
		wi, err := w.Watch(ctx, list)
		if err != nil {
			e.log.Warn("watch failed, polling instead", "kind", kindOfList(list), "error", err)
			cancel()
			return nil, func() {}
		}
		go func() {
			defer wi.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case _, open := <-wi.ResultChan():
					if !open {
						// The server ended the watch; the caller's
						// fallback timer covers the rest of the wait.
						return
					}
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	return out, cancel
}

func kindOfList(list client.ObjectList) string {
	switch list.(type) {
	case *gwv1.GatewayList:
		return "Gateway"
	case *gwv1.HTTPRouteList:
		return "HTTPRoute"
	case *cmv1.CertificateList:
		return "Certificate"
	case *cmv1.ClusterIssuerList:
		return "ClusterIssuer"
	}
	return "unknown"
}

// watchFallback is how often a watching wait checks anyway, in case a
// watch ended: a server closes watches after a few minutes.
const watchFallback = time.Minute

// waitChanges checks the stop rules and check each time a watched object
// changes, and at least every watchFallback, until check passes or the
// deadline. Without a watch it polls like poll.
func (e *Engine) waitChanges(ctx context.Context, st *runState, deadline time.Time, check func(context.Context) (bool, error)) (bool, error) {
	events, stop := e.changes(ctx)
	defer stop()
	if events == nil {
		return e.poll(ctx, st, deadline, check)
	}
	return e.checkUntil(ctx, st, deadline, check, func(left time.Duration) error {
		timer := time.NewTimer(min(watchFallback, left))
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-events:
		case <-timer.C:
		}
		return nil
	})
}
