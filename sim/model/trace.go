package model

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"
)

// TraceEvent is one thing that happened in the world, at a virtual time.
type TraceEvent struct {
	At time.Time `json:"at"`
	// Kind groups events: api (a write through Client), shim, certificate,
	// issuer, request, acme, challenge, secret, reflector, gateway, route,
	// probe, gc, event (a Kubernetes Event) and error.
	Kind string `json:"kind"`
	// Object is Kind/namespace/name, or a hostname for probe events.
	Object string `json:"object"`
	Detail string `json:"detail,omitempty"`
}

// Trace kinds.
const (
	traceAPI         = "api"
	traceShim        = "shim"
	traceCertificate = "certificate"
	traceIssuer      = "issuer"
	traceRequest     = "request"
	traceACME        = "acme"
	traceChallenge   = "challenge"
	traceSecret      = "secret"
	traceReflector   = "reflector"
	traceGateway     = "gateway"
	traceRoute       = "route"
	traceProbe       = "probe"
	traceGC          = "gc"
	traceEvent       = "event"
	traceError       = "error"
)

// record appends a trace event at the current virtual time and logs it.
func (w *World) record(kind, object, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	w.trace = append(w.trace, TraceEvent{At: w.sched.now, Kind: kind, Object: object, Detail: detail})
	w.log.Debug(detail, "kind", kind, "object", object)
}

// recordError traces and logs an error a controller of the model caught.
// The model keeps running: a real controller would retry.
func (w *World) recordError(op string, err error) {
	w.trace = append(w.trace, TraceEvent{At: w.sched.now, Kind: traceError, Object: op, Detail: err.Error()})
	w.log.Error("model controller failed", "op", op, "err", err)
}

// Trace returns the events so far, sorted by virtual time; events at the
// same instant keep the order they happened in.
func (w *World) Trace() []TraceEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]TraceEvent(nil), w.trace...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// WriteTrace writes the trace one event a line: RFC 3339 time, kind,
// object and detail. Two worlds with the same seed, options and calls
// write identical bytes.
func (w *World) WriteTrace(out io.Writer) error {
	for _, e := range w.Trace() {
		if _, err := fmt.Fprintf(out, "%s %s %s %s\n", formatTime(e.At), e.Kind, e.Object, e.Detail); err != nil {
			return fmt.Errorf("model: writing the trace: %w", err)
		}
	}
	return nil
}

// virtualTimeHandler replaces slog's wall-clock time with the virtual time,
// so a log replays byte for byte like the trace.
type virtualTimeHandler struct {
	slog.Handler
	w *World
}

func (h virtualTimeHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = h.w.sched.now
	return h.Handler.Handle(ctx, r)
}

func (h virtualTimeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return virtualTimeHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h virtualTimeHandler) WithGroup(name string) slog.Handler {
	return virtualTimeHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}

// newLogger logs to out at Info level, or discards when out is nil.
func newLogger(w *World, out io.Writer) *slog.Logger {
	if out == nil {
		out = io.Discard
	}
	h := slog.NewTextHandler(out, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, formatTime(a.Value.Time()))
			}
			return a
		},
	})
	return slog.New(virtualTimeHandler{Handler: h, w: w})
}
