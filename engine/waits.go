package engine

import (
	"context"
	"fmt"
	"strconv"
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
		if err := e.clock.Sleep(ctx, min(e.opts.PollInterval, deadline.Sub(now))); err != nil {
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
	_, err := e.poll(ctx, st, at, func(context.Context) (bool, error) { return false, nil })
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
	_, err := e.poll(ctx, st, end, func(ctx context.Context) (bool, error) {
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

// observeRenewal waits until the canary's Certificate is issued again: its
// status.revision passes the value read when the step started, or the
// ledger records an issuance for it since then. The step's duration is the
// timeout.
func (e *Engine) observeRenewal(ctx context.Context, st *runState, step *plan.Step) error {
	key := e.stepCertificate(step)
	if key == "" || step.Duration <= 0 {
		return fmt.Errorf("invalid plan: step %s needs a Certificate (or host) and a duration", step.ID)
	}
	fl := st.prog.InFlight
	baseline, ok := fl.Baseline["revision"]
	if !ok {
		rev, err := e.certificateRevision(ctx, key)
		if err != nil {
			return err
		}
		baseline = strconv.Itoa(rev)
		fl.Baseline = map[string]string{"revision": baseline}
		if err := e.save(ctx, st); err != nil {
			return err
		}
	}
	base, _ := strconv.Atoi(baseline)
	renewed, err := e.poll(ctx, st, fl.StartedAt.Add(step.Duration), func(ctx context.Context) (bool, error) {
		rev, err := e.certificateRevision(ctx, key)
		return rev > base || st.issuedSince(key, fl.StartedAt), err
	})
	if err != nil || renewed {
		return err
	}
	return e.gateStop(step, fmt.Sprintf("no renewal of Certificate %s within %s (revision still %d)", key, step.Duration, base), "Certificate/"+key)
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
