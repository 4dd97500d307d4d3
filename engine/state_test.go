package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/certwave/certwave/topology"
)

// manualClock is a Clock safe for concurrent use. Sleep advances the time
// and returns, unless blocking is set: then it first waits for a tick (or
// ctx).
type manualClock struct {
	mu       sync.Mutex
	now      time.Time
	slept    []time.Duration
	blocking bool
	ticks    chan struct{}
}

func newManualClock() *manualClock {
	return &manualClock{now: testStart, ticks: make(chan struct{})}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.blocking {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ticks:
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newStateClient(funcs *interceptor.Funcs) client.Client {
	c := fake.NewClientBuilder().WithScheme(topology.Scheme()).Build()
	if funcs == nil {
		return c
	}
	return interceptor.NewClient(c, *funcs)
}

func TestConfigMapStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := newStateClient(nil)
	s := &ConfigMapStore{Client: c, Namespace: "certwave-system", Name: "certwave-run-abc", Annotations: map[string]string{"certwave.io/plan-digest": "sha256:abc"}}

	p, err := s.Load(ctx)
	if err != nil || p != nil {
		t.Fatalf("Load of a missing ConfigMap = %v, %v; want nil, nil", p, err)
	}
	want := &Progress{PlanDigest: "sha256:abc", Completed: []string{"p0-preflight"}, Wave: "phase0-wave0"}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	want.Completed = append(want.Completed, "p0-annotate")
	if err := s.Save(ctx, want); err != nil {
		t.Fatalf("second Save (update): %v", err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Completed, ",") != "p0-preflight,p0-annotate" {
		t.Errorf("loaded completed steps %v", got.Completed)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "certwave-system", Name: "certwave-run-abc"}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Labels[ManagedByLabel] != FieldManager {
		t.Errorf("labels %v lack %s=%s", cm.Labels, ManagedByLabel, FieldManager)
	}
	if cm.Annotations["certwave.io/plan-digest"] != "sha256:abc" {
		t.Errorf("annotations %v lack the plan digest", cm.Annotations)
	}
}

func TestConfigMapStoreCompressesLargeProgress(t *testing.T) {
	ctx := context.Background()
	c := newStateClient(nil)
	s := &ConfigMapStore{Client: c, Namespace: "certwave-system", Name: "big"}
	p := &Progress{PlanDigest: "sha256:big"}
	for range 20000 {
		p.Completed = append(p.Completed, "p3-w1-flip-route-some-long-application-name")
	}
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "certwave-system", Name: "big"}, cm); err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.BinaryData[ConfigMapCompressedProgressKey]; !ok {
		t.Fatalf("large progress not compressed: data has %d keys", len(cm.Data))
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Completed) != len(p.Completed) {
		t.Errorf("loaded %d steps, want %d", len(got.Completed), len(p.Completed))
	}
}

func TestConfigMapStoreRejectsPrivateKey(t *testing.T) {
	s := &ConfigMapStore{Client: newStateClient(nil), Namespace: "certwave-system", Name: "leak"}
	p := &Progress{PlanDigest: "sha256:x", LastStop: &Stop{Reason: "-----BEGIN EC PRIVATE KEY-----\nMHcC..."}}
	err := s.Save(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("Save of progress with a private key: %v, want a refusal", err)
	}
}

func TestConfigMapStoreRetriesConflict(t *testing.T) {
	conflicts := 0
	c := newStateClient(&interceptor.Funcs{
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if conflicts < 2 {
				conflicts++
				return apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, obj.GetName(), errors.New("object was modified"))
			}
			return cl.Update(ctx, obj, opts...)
		},
	})
	s := &ConfigMapStore{Client: c, Namespace: "certwave-system", Name: "busy"}
	ctx := context.Background()
	if err := s.Save(ctx, &Progress{PlanDigest: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Progress{PlanDigest: "a", Completed: []string{"x"}}); err != nil {
		t.Fatalf("Save after conflicts: %v", err)
	}
	if conflicts != 2 {
		t.Errorf("%d conflicts seen, want 2", conflicts)
	}
}

func TestMirroredStoreFallsBackToCopy(t *testing.T) {
	ctx := context.Background()
	local := &MemoryStore{}
	if err := local.Save(ctx, &Progress{PlanDigest: "d", Completed: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	m := &MirroredStore{Primary: &MemoryStore{}, Copy: local}
	p, err := m.Load(ctx)
	if err != nil || p == nil || m.Loaded != "copy" {
		t.Fatalf("Load = %v, %v (loaded %q); want the copy's progress", p, err, m.Loaded)
	}
	if err := m.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Load(ctx); p == nil || m.Loaded != "primary" {
		t.Fatalf("after Save, Load read %q, want primary", m.Loaded)
	}
}

func TestLeaseExcludesSecondRun(t *testing.T) {
	ctx := context.Background()
	c := newStateClient(nil)
	clock := newManualClock()
	first := &Lease{Client: c, Namespace: "certwave-system", Name: "certwave-run", Holder: "laptop-1", Clock: clock}
	second := &Lease{Client: c, Namespace: "certwave-system", Name: "certwave-run", Holder: "cronjob-7", Clock: clock}

	if err := first.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	err := second.Acquire(ctx)
	var held *LeaseHeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a LeaseHeldError", err)
	}
	if held.Holder != "laptop-1" || !held.Expires.Equal(testStart.Add(DefaultLeaseDuration)) {
		t.Errorf("held error names holder %q expiring %s", held.Holder, held.Expires)
	}
	for _, want := range []string{"laptop-1", "Lease/certwave-system/certwave-run", "expires"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	if err := first.Acquire(ctx); err != nil {
		t.Errorf("the holder cannot acquire its own Lease again: %v", err)
	}
	clock.advance(DefaultLeaseDuration + time.Second)
	if err := second.Acquire(ctx); err != nil {
		t.Fatalf("Acquire of an expired Lease: %v", err)
	}
	if err := first.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Renew after a takeover: %v, want ErrLeaseLost", err)
	}
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "certwave-system", Name: "certwave-run"}, lease); err != nil {
		t.Fatal(err)
	}
	if lease.Spec.LeaseTransitions == nil || *lease.Spec.LeaseTransitions != 1 {
		t.Errorf("lease transitions %v, want 1", lease.Spec.LeaseTransitions)
	}
}

func TestLeaseReleaseFreesIt(t *testing.T) {
	ctx := context.Background()
	c := newStateClient(nil)
	clock := newManualClock()
	first := &Lease{Client: c, Namespace: "ns", Name: "run", Holder: "a", Clock: clock}
	second := &Lease{Client: c, Namespace: "ns", Name: "run", Holder: "b", Clock: clock}
	if err := first.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Acquire(ctx); err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatalf("Release by a former holder: %v", err)
	}
	if err := first.Acquire(ctx); err == nil {
		t.Fatal("a former holder's Release freed another holder's Lease")
	}
}

func TestLeaseHoldRenewsAndNoticesLoss(t *testing.T) {
	ctx := context.Background()
	c := newStateClient(nil)
	clock := newManualClock()
	clock.blocking = true
	l := &Lease{Client: c, Namespace: "ns", Name: "run", Holder: "a", Clock: clock}
	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	held, stop := l.Hold(ctx)
	defer stop(true)

	clock.ticks <- struct{}{}
	// The second tick is taken only after the first renewal is done.
	clock.ticks <- struct{}{}
	// The renewal the second tick started may still be writing, so the
	// other holder takes the Lease over as a real one would: read, write,
	// and read again on a conflict.
	var lease *coordinationv1.Lease
	for attempt := 0; ; attempt++ {
		lease = &coordinationv1.Lease{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "run"}, lease); err != nil {
			t.Fatal(err)
		}
		if !lease.Spec.RenewTime.After(testStart) {
			t.Fatalf("renew time %s not after the acquisition at %s", lease.Spec.RenewTime.Time, testStart)
		}
		other := "b"
		lease.Spec.HolderIdentity = &other
		err := c.Update(ctx, lease)
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || attempt == 100 {
			t.Fatal(err)
		}
	}
	// The renewal the second tick started may already have seen the new
	// holder and ended the hold, so the third tick may find no receiver.
	select {
	case clock.ticks <- struct{}{}:
	case <-held.Done():
	}
	<-held.Done()
	if cause := context.Cause(held); !errors.Is(cause, ErrLeaseLost) {
		t.Errorf("held context ended with %v, want ErrLeaseLost", cause)
	}
}

func TestRetryingClientRetriesTransientErrors(t *testing.T) {
	ctx := context.Background()
	failures := []error{
		apierrors.NewTooManyRequests("slow down", 3),
		apierrors.NewServiceUnavailable("etcd leader changed"),
	}
	c := newStateClient(&interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if len(failures) > 0 {
				err := failures[0]
				failures = failures[1:]
				return err
			}
			return cl.Get(ctx, key, obj, opts...)
		},
	})
	if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}}); err != nil {
		t.Fatal(err)
	}
	clock := newManualClock()
	var logs bytes.Buffer
	rc := NewRetryingClient(c, RetryPolicy{Clock: clock, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := rc.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "cm"}, &corev1.ConfigMap{}); err != nil {
		t.Fatalf("Get after two transient errors: %v", err)
	}
	if len(clock.slept) != 2 || clock.slept[0] != 3*time.Second || clock.slept[1] != time.Second {
		t.Errorf("waits %v, want [3s (Retry-After) 1s (doubled)]", clock.slept)
	}
	if !strings.Contains(logs.String(), "ConfigMap ns/cm") || strings.Count(logs.String(), "retrying") != 2 {
		t.Errorf("retry log does not name the object twice:\n%s", logs.String())
	}
}

func TestRetryingClientGivesUp(t *testing.T) {
	ctx := context.Background()
	calls := 0
	fieldConflict := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 409, Reason: metav1.StatusReasonConflict,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldManagerConflict, Field: ".spec.listeners"}}},
	}}
	var next error
	c := newStateClient(&interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			calls++
			return next
		},
	})
	clock := newManualClock()
	rc := NewRetryingClient(c, RetryPolicy{Clock: clock, Attempts: 3})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}}

	next = fieldConflict
	if err := rc.Patch(ctx, cm, client.MergeFrom(cm.DeepCopy())); err == nil || calls != 1 {
		t.Errorf("field-manager conflict: %d calls, error %v; want one call and the error", calls, err)
	}
	calls = 0
	next = apierrors.NewInternalError(errors.New("boom"))
	err := rc.Patch(ctx, cm, client.MergeFrom(cm.DeepCopy()))
	if calls != 3 || err == nil || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("internal errors: %d calls, error %v; want 3 calls and the attempt count", calls, err)
	}
	calls = 0
	next = apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "cm")
	if err := rc.Patch(ctx, cm, client.MergeFrom(cm.DeepCopy())); !apierrors.IsNotFound(err) || calls != 1 {
		t.Errorf("not found: %d calls, error %v; want one call and NotFound", calls, err)
	}
}
