package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
)

// poll checks the stop rules and then check, every poll interval, until
// check holds, the deadline passes or a stop rule fires. It runs check at
// least once and reports whether it held.
func (e *Engine) poll(ctx context.Context, st *runState, deadline time.Time, check func(context.Context) (bool, error)) (bool, error) {
	return e.pollEvery(ctx, st, e.opts.PollInterval, deadline, check)
}

// longWaitInterval paces soaks and waits for a step's start time, which
// last hours or days: often enough for the 5-minute stop rules, seldom
// enough that a week of waiting stays cheap on every world.
const longWaitInterval = 5 * time.Minute

// pollEvery is poll with its own interval.
func (e *Engine) pollEvery(ctx context.Context, st *runState, interval time.Duration, deadline time.Time, check func(context.Context) (bool, error)) (bool, error) {
	if e.running != nil && e.activity.Description != ActivityStartTime && e.activity.Description != ActivitySoak {
		e.report(e.running, ActivityGate, deadline)
	}
	return e.checkUntil(ctx, st, deadline, check, func(left time.Duration) error {
		return e.clock.Sleep(ctx, min(interval, left))
	})
}

// checkUntil checks the stop rules and check, then waits with wait, until
// check passes, an error occurs or the deadline passes. wait gets the time
// left before the deadline.
func (e *Engine) checkUntil(ctx context.Context, st *runState, deadline time.Time, check func(context.Context) (bool, error), wait func(left time.Duration) error) (bool, error) {
	for {
		if err := e.observe(ctx, st); err != nil {
			return false, err
		}
		ok, err := check(ctx)
		if err != nil || ok {
			return ok, err
		}
		now := e.clock.Now()
		if !now.Before(deadline) {
			return false, nil
		}
		if err := wait(deadline.Sub(now)); err != nil {
			return false, err
		}
	}
}

// waitUntil waits for a step's start time, checking the stop rules
// meanwhile.
func (e *Engine) waitUntil(ctx context.Context, st *runState, at time.Time) error {
	if !e.clock.Now().Before(at) {
		return nil
	}
	e.log.Info("waiting for the step's start time", "until", at)
	_, err := e.pollEvery(ctx, st, max(e.opts.PollInterval, longWaitInterval), at, func(context.Context) (bool, error) { return false, nil })
	return err
}

// gateStop returns the stop of a gate that did not pass.
func (e *Engine) gateStop(step *plan.Step, reason string, objects ...string) error {
	return &stopSignal{stop: &Stop{
		Rule: RuleGateFailed, Reason: reason, Objects: objects, At: e.clock.Now(),
		Next: e.nextCommand(RuleGateFailed), Step: step.ID,
	}}
}

// soak waits the step's duration from its start, probing the hosts and
// checking the stop rules every poll interval. A failed probe stops it.
func (e *Engine) soak(ctx context.Context, st *runState, step *plan.Step) error {
	hosts := step.Hosts
	if len(hosts) == 0 {
		hosts = e.migratedHosts(st)
	}
	end := st.prog.InFlight.StartedAt.Add(step.Duration)
	e.report(step, ActivitySoak, end)
	_, err := e.pollEvery(ctx, st, max(e.opts.PollInterval, longWaitInterval), end, func(ctx context.Context) (bool, error) {
		failures, err := e.probeHosts(ctx, hosts)
		if err != nil {
			return false, err
		}
		if len(failures) > 0 {
			return false, e.gateStop(step, "TLS probe failed during the soak: "+strings.Join(failures, "; "), failures...)
		}
		return false, nil
	})
	return err
}

// migratedHosts returns the hosts whose add-listener step is done.
func (e *Engine) migratedHosts(st *runState) []string {
	var out []string
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if s.Kind == plan.StepAddListener && s.Listener != nil && st.completed[s.ID] {
			out = append(out, s.Listener.Hostname)
		}
	}
	return out
}

// probeGate probes the step's hosts until every probe passes or the ready
// timeout ends.
func (e *Engine) probeGate(ctx context.Context, st *runState, step *plan.Step) error {
	var failures []string
	deadline := st.prog.InFlight.StartedAt.Add(e.readyTimeout(step))
	ok, err := e.poll(ctx, st, deadline, func(ctx context.Context) (bool, error) {
		var err error
		failures, err = e.probeHosts(ctx, step.Hosts)
		return len(failures) == 0, err
	})
	if err != nil || ok {
		return err
	}
	return e.gateStop(step, "TLS probe failed: "+strings.Join(failures, "; "), failures...)
}

// stepCertificate returns the Certificate a step concerns: step.Certificate,
// else the Certificate of its first host.
func (e *Engine) stepCertificate(step *plan.Step) string {
	if step.Certificate != "" {
		return step.Certificate
	}
	for _, host := range step.Hosts {
		if h := e.index.hosts[host]; h != nil && h.Certificate != "" {
			return h.Certificate
		}
	}
	return ""
}

func (e *Engine) certificateRevision(ctx context.Context, key string) (int, error) {
	ns, name := splitKey(key)
	c := &cmv1.Certificate{}
	err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get Certificate %s: %w", key, err)
	}
	if c.Status.Revision == nil {
		return 0, nil
	}
	return *c.Status.Revision, nil
}

// issuedSince reports whether the ledger has an issuance for the
// Certificate key at or after since.
func (st *runState) issuedSince(key string, since time.Time) bool {
	match := func(events []ACMEEvent) bool {
		for _, ev := range events {
			if ev.Type == ACMEIssued && ev.Certificate == key && !ev.At.Before(since) {
				return true
			}
		}
		return false
	}
	if match(st.prog.Ledger.Other) {
		return true
	}
	for _, w := range st.prog.Ledger.Waves {
		if match(w.Events) {
			return true
		}
	}
	return false
}
