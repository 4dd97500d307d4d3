package engine

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// watchingWorld is a test world whose client can watch.
type watchingWorld struct{ *testWorld }

func (w watchingWorld) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	return w.client.Watch(ctx, list, opts...)
}

// A GitOps run waiting for a merged commit wakes up when a watched object
// changes, not at the next fallback check a minute later.
func TestAwaitAppliedWakesOnWatchEvent(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	e, err := New(watchingWorld{w}, testPlan(), Options{PollInterval: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := e.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pending := &PendingCommit{Ref: "branch certwave/p3-w1-add-listener-git", Steps: []string{"p3-w1-add-listener-git"}}

	go func() {
		time.Sleep(200 * time.Millisecond)
		gw := getGateway(t, w, "external")
		host := gwv1.Hostname("git.example.com")
		gw.Spec.Listeners = append(gw.Spec.Listeners, gwv1.Listener{Name: "https-git", Hostname: &host, Port: 443, Protocol: gwv1.HTTPSProtocolType})
		if err := w.client.Update(ctx, gw); err != nil {
			t.Errorf("update Gateway: %v", err)
		}
	}()
	start := time.Now()
	if err := e.awaitApplied(ctx, st, nil, pending); err != nil {
		t.Fatalf("awaitApplied: %v", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("awaitApplied took %s: it waited for the fallback check, not the watch event", took)
	}
}
