package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultLeaseDuration is how long a Lease stays held after its last
// renewal; Hold renews it every third of that.
const DefaultLeaseDuration = 60 * time.Second

// Lease is a coordination.k8s.io/v1 Lease that lets one certwave run at a
// time change the cluster. A holder that dies without releasing it keeps
// it until Duration after its last renewal.
type Lease struct {
	Client    client.Client
	Namespace string
	Name      string
	// Holder identifies this run, such as host name and process ID.
	Holder string
	// Duration defaults to DefaultLeaseDuration.
	Duration time.Duration
	// Clock decides expiry and paces renewals; required.
	Clock Clock
	Log   *slog.Logger
}

// LeaseHeldError is returned by Acquire when another run holds the Lease.
type LeaseHeldError struct {
	Lease   string
	Holder  string
	Renewed time.Time
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("another certwave run holds %s: holder %q, last renewed %s, expires %s unless renewed; wait for that run to end, or once you are sure its process is gone, wait for the expiry or delete the Lease",
		e.Lease, e.Holder, e.Renewed.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
}

// ErrLeaseLost is the cause of the context Hold returns when another
// holder took the Lease or renewals failed until it expired.
var ErrLeaseLost = errors.New("lost the run Lease")

// Object returns Lease/namespace/name for messages.
func (l *Lease) Object() string { return "Lease/" + l.Namespace + "/" + l.Name }

func (l *Lease) duration() time.Duration {
	if l.Duration <= 0 {
		return DefaultLeaseDuration
	}
	return l.Duration
}

func (l *Lease) log() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}

// Acquire takes the Lease when it is free, expired or already this
// holder's, and returns a *LeaseHeldError when another holder has it.
func (l *Lease) Acquire(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		lease := &coordinationv1.Lease{}
		err := l.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Name}, lease)
		if apierrors.IsNotFound(err) {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
				Namespace: l.Namespace, Name: l.Name, Labels: map[string]string{ManagedByLabel: FieldManager},
			}}
			l.stamp(lease, true)
			err = l.Client.Create(ctx, lease, client.FieldOwner(FieldManager))
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("create %s: namespace %s not found: create it (kubectl create namespace %s) or pass another --state-namespace", l.Object(), l.Namespace, l.Namespace)
			}
			if err != nil {
				return fmt.Errorf("create %s: %w", l.Object(), err)
			}
			l.log().Info("acquired the run Lease", "lease", l.Object(), "holder", l.Holder)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", l.Object(), err)
		}
		if held := l.heldByOther(lease); held != nil {
			return held
		}
		l.stamp(lease, holderOf(lease) != l.Holder)
		err = l.Client.Update(ctx, lease, client.FieldOwner(FieldManager))
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("take %s: %w", l.Object(), err)
		}
		l.log().Info("acquired the run Lease", "lease", l.Object(), "holder", l.Holder)
		return nil
	}
	return fmt.Errorf("take %s: it kept changing while certwave tried to take it; try again", l.Object())
}

// Renew extends the Lease. It fails with ErrLeaseLost when another holder
// has it.
func (l *Lease) Renew(ctx context.Context) error {
	lease := &coordinationv1.Lease{}
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Name}, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %s was deleted", ErrLeaseLost, l.Object())
		}
		return fmt.Errorf("renew %s: %w", l.Object(), err)
	}
	if holderOf(lease) != l.Holder {
		return fmt.Errorf("%w: %s is held by %q now", ErrLeaseLost, l.Object(), holderOf(lease))
	}
	l.stamp(lease, false)
	if err := l.Client.Update(ctx, lease, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("renew %s: %w", l.Object(), err)
	}
	return nil
}

// Release gives the Lease up when this holder has it, so the next run
// need not wait for the expiry.
func (l *Lease) Release(ctx context.Context) error {
	lease := &coordinationv1.Lease{}
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Name}, lease); err != nil {
		return client.IgnoreNotFound(err)
	}
	if holderOf(lease) != l.Holder {
		return nil
	}
	lease.Spec.HolderIdentity = nil
	lease.Spec.RenewTime = nil
	if err := l.Client.Update(ctx, lease, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("release %s: %w", l.Object(), err)
	}
	l.log().Info("released the run Lease", "lease", l.Object(), "holder", l.Holder)
	return nil
}

// Hold renews the Lease every third of its duration until stop is called.
// stop(true) then releases it, and stop(false) leaves it to expire, as a
// killed process would. When another holder takes the Lease, or renewals
// fail until it expires, the returned context is cancelled with cause
// ErrLeaseLost.
func (l *Lease) Hold(ctx context.Context) (held context.Context, stop func(release bool)) {
	held, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lastRenewal := l.Clock.Now()
		for {
			if err := l.Clock.Sleep(held, l.duration()/3); err != nil {
				return
			}
			err := l.Renew(held)
			switch {
			case err == nil:
				lastRenewal = l.Clock.Now()
			case errors.Is(err, ErrLeaseLost):
				l.log().Error("lost the run Lease, stopping", "lease", l.Object(), "error", err)
				cancel(err)
				return
			case held.Err() != nil:
				return
			default:
				l.log().Warn("renewing the run Lease failed", "lease", l.Object(), "error", err)
				if l.Clock.Now().Sub(lastRenewal) >= l.duration() {
					cancel(fmt.Errorf("%w: no renewal for %s: %v", ErrLeaseLost, l.duration(), err))
					return
				}
			}
		}
	}()
	return held, func(release bool) {
		cancel(context.Canceled)
		<-done
		if !release {
			return
		}
		// The run's context may be done already; the release must still
		// be sent.
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			l.log().Warn("releasing the run Lease failed; it expires by itself", "lease", l.Object(), "error", err)
		}
	}
}

// heldByOther returns the error for a Lease another holder has and has
// renewed within its duration, or nil.
func (l *Lease) heldByOther(lease *coordinationv1.Lease) *LeaseHeldError {
	holder := holderOf(lease)
	if holder == "" || holder == l.Holder {
		return nil
	}
	renewed := lease.CreationTimestamp.Time
	if lease.Spec.RenewTime != nil {
		renewed = lease.Spec.RenewTime.Time
	}
	duration := l.duration()
	if lease.Spec.LeaseDurationSeconds != nil {
		duration = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	expires := renewed.Add(duration)
	if !l.Clock.Now().Before(expires) {
		return nil
	}
	return &LeaseHeldError{Lease: l.Object(), Holder: holder, Renewed: renewed, Expires: expires}
}

// stamp makes this holder the Lease's holder as of now; acquired marks a
// new acquisition.
func (l *Lease) stamp(lease *coordinationv1.Lease, acquired bool) {
	now := metav1.NewMicroTime(l.Clock.Now())
	seconds := int32(l.duration() / time.Second)
	holder := l.Holder
	if acquired {
		lease.Spec.AcquireTime = &now
		if holderOf(lease) != "" {
			transitions := int32(1)
			if lease.Spec.LeaseTransitions != nil {
				transitions = *lease.Spec.LeaseTransitions + 1
			}
			lease.Spec.LeaseTransitions = &transitions
		}
	}
	lease.Spec.HolderIdentity = &holder
	lease.Spec.RenewTime = &now
	lease.Spec.LeaseDurationSeconds = &seconds
}

func holderOf(lease *coordinationv1.Lease) string {
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}
