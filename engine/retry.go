package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// RetryPolicy is the schedule of retries of an API request that failed
// for a transient reason.
type RetryPolicy struct {
	// Attempts is the number of tries of one request, the first included;
	// default 6.
	Attempts int
	// Initial is the wait before the first retry; each later wait doubles,
	// up to Max. Defaults 500ms and 30s. A 429 response's Retry-After
	// replaces the wait when it is longer, also up to Max.
	Initial time.Duration
	Max     time.Duration
	// Clock paces the waits; required.
	Clock Clock
	// Log receives one warning per retry, naming the request, the object,
	// the attempt and the error; default discarded.
	Log *slog.Logger
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 6
	}
	if p.Initial <= 0 {
		p.Initial = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	return p
}

// NewRetryingClient returns a client that sends every request through c
// and retries it under policy while Retryable holds for its error. Update
// and Create are not retried on conflicts, because the same request would
// conflict again; their callers read the object again and retry.
func NewRetryingClient(c client.Client, policy RetryPolicy) client.Client {
	p := policy.withDefaults()
	if p.Clock == nil {
		panic("engine: RetryPolicy.Clock is required")
	}
	describe := func(obj client.Object) string { return describeObject(c, obj) }
	return interceptor.NewClient(withoutWatch{c}, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			return p.do(ctx, "get", kindOf(c, obj)+" "+key.String(), true, func() error { return cl.Get(ctx, key, obj, opts...) })
		},
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			return p.do(ctx, "list", kindOf(c, list), true, func() error { return cl.List(ctx, list, opts...) })
		},
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return p.do(ctx, "create", describe(obj), false, func() error { return cl.Create(ctx, obj, opts...) })
		},
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return p.do(ctx, "update", describe(obj), false, func() error { return cl.Update(ctx, obj, opts...) })
		},
		Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return p.do(ctx, "delete", describe(obj), true, func() error { return cl.Delete(ctx, obj, opts...) })
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return p.do(ctx, "patch", describe(obj), true, func() error { return cl.Patch(ctx, obj, patch, opts...) })
		},
		Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			return p.do(ctx, "apply", describeApply(obj), true, func() error { return cl.Apply(ctx, obj, opts...) })
		},
		SubResourceGet: func(ctx context.Context, cl client.Client, sub string, obj, subObj client.Object, opts ...client.SubResourceGetOption) error {
			return p.do(ctx, "get "+sub, describe(obj), true, func() error { return cl.SubResource(sub).Get(ctx, obj, subObj, opts...) })
		},
		SubResourceUpdate: func(ctx context.Context, cl client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			return p.do(ctx, "update "+sub, describe(obj), false, func() error { return cl.SubResource(sub).Update(ctx, obj, opts...) })
		},
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			return p.do(ctx, "patch "+sub, describe(obj), true, func() error { return cl.SubResource(sub).Patch(ctx, obj, patch, opts...) })
		},
	})
}

// do runs request until it succeeds, fails for a reason that is not
// transient, or runs out of attempts.
func (p RetryPolicy) do(ctx context.Context, verb, object string, retryConflicts bool, request func() error) error {
	wait := p.Initial
	for attempt := 1; ; attempt++ {
		err := request()
		if err == nil || attempt >= p.Attempts || !Retryable(err) || ctx.Err() != nil {
			if err != nil && attempt > 1 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		if apierrors.IsConflict(err) && !retryConflicts {
			return err
		}
		delay := wait
		if seconds, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(seconds)*time.Second > delay {
			delay = time.Duration(seconds) * time.Second
		}
		delay = min(delay, p.Max)
		p.Log.Warn("API request failed, retrying", "request", verb, "object", object, "attempt", attempt, "of", p.Attempts, "retryIn", delay, "error", err)
		if err := p.Clock.Sleep(ctx, delay); err != nil {
			return err
		}
		wait = min(2*wait, p.Max)
	}
}

// Retryable reports whether an API request that failed with err may
// succeed when sent again. That is the case when the API server was
// overloaded (429), failed (5xx) or timed out, or the connection broke. It
// is also the case for a conflict, unless it is a server-side apply
// field-manager conflict, which only the operator can resolve.
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return true
	case apierrors.IsConflict(err):
		return !isFieldManagerConflict(err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 429 || code >= 500
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isFieldManagerConflict(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, cause := range status.Status().Details.Causes {
		if cause.Type == metav1.CauseTypeFieldManagerConflict {
			return true
		}
	}
	return false
}

// withoutWatch lets a client without Watch, such as the model's, go
// through interceptor.NewClient. The engine never watches.
type withoutWatch struct{ client.Client }

func (w withoutWatch) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	if ww, ok := w.Client.(client.WithWatch); ok {
		return ww.Watch(ctx, list, opts...)
	}
	return nil, errors.New("this client does not support watch")
}

// kindOf returns the kind of obj, or its Go type when the scheme does not
// know it.
func kindOf(c client.Client, obj runtime.Object) string {
	if gvk, err := c.GroupVersionKindFor(obj); err == nil {
		return gvk.Kind
	}
	return fmt.Sprintf("%T", obj)
}

// describeObject returns Kind namespace/name for logs.
func describeObject(c client.Client, obj client.Object) string {
	return kindOf(c, obj) + " " + client.ObjectKeyFromObject(obj).String()
}

// describeApply returns Kind namespace/name of an apply configuration.
func describeApply(obj runtime.ApplyConfiguration) string {
	type named interface {
		GetName() *string
		GetNamespace() *string
		GetKind() *string
	}
	n, ok := obj.(named)
	if !ok {
		return fmt.Sprintf("%T", obj)
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	key := deref(n.GetName())
	if ns := deref(n.GetNamespace()); ns != "" {
		key = ns + "/" + key
	}
	return deref(n.GetKind()) + " " + key
}
