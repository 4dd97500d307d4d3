package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/plan"
)

// execute makes a step's changes and then runs its gate.
func (e *Engine) execute(ctx context.Context, st *runState, step *plan.Step) error {
	if e.opts.Stager != nil {
		if stagesChanges(step.Kind) {
			return e.stage(ctx, st, step)
		}
		if e.defersToCommit(st, step) {
			return nil
		}
		if err := e.syncGitOps(ctx, st, step); err != nil {
			return err
		}
	}
	changes, err := e.stepChanges(ctx, st, step)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if err := e.executeChange(ctx, step, ch); err != nil {
			return err
		}
	}
	if step.Kind == plan.StepRemoveListener && step.Listener != nil {
		st.prog.RestoredListeners = slices.DeleteFunc(st.prog.RestoredListeners, func(r RestoredListener) bool {
			return r.Gateway == step.Gateway && r.Listener == step.Listener.Name
		})
	}
	return e.stepGate(ctx, st, step)
}

// executeChange makes one change through the actuator and logs it.
func (e *Engine) executeChange(ctx context.Context, step *plan.Step, ch *Change) error {
	if err := e.actuator.Execute(ctx, ch); err != nil {
		return err
	}
	e.log.Info("changed", "step", step.ID, "op", ch.Op, "object", ch.Object())
	fmt.Fprintf(e.out, "  %s %s: %s\n", ch.Op, ch.Object(), ch.Summary)
	return nil
}

// stepChanges builds the changes of a step from the plan and the live
// objects. Every change is idempotent: building and executing it again
// after a kill leaves the objects as one execution would.
func (e *Engine) stepChanges(ctx context.Context, st *runState, step *plan.Step) ([]*Change, error) {
	switch step.Kind {
	case plan.StepAnnotateGateway, plan.StepAddListener:
		ch, err := e.gatewayStepChange(st, step)
		return single(ch, err)
	case plan.StepRemoveListener:
		if step.Listener == nil {
			return nil, fmt.Errorf("invalid plan: step %s names no listener", step.ID)
		}
		owned, err := e.ownedGateway(step.Gateway, st.completed, st.prog.RestoredListeners)
		if err != nil {
			return nil, err
		}
		if slices.Contains(owned.listenerNames(), step.Listener.Name) {
			ch, err := e.gatewayStepChange(st, step)
			return single(ch, err)
		}
		ch, err := e.removeForeignListenerChange(ctx, step.ID, step.Gateway, step.Listener.Name)
		return single(ch, err)
	case plan.StepCreateIssuer:
		return e.issuerChanges(step)
	case plan.StepCreateCert:
		ch, err := e.certificateChange(step)
		return single(ch, err)
	case plan.StepFlipRoute:
		edit := refMove
		if e.addsParentRef(step) {
			edit = refAdd
		}
		ch, err := e.routeChange(ctx, step.ID, step.Route, step.Gateway, step.FromSection, step.SectionName, edit)
		return single(ch, err)
	case plan.StepDeleteCert:
		if step.Certificate == "" {
			return nil, fmt.Errorf("invalid plan: step %s names no Certificate", step.ID)
		}
		ns, name := splitKey(step.Certificate)
		return []*Change{deleteChange(step.ID, "delete Certificate "+step.Certificate+" (its Secret stays)", gvkCertificate, ns, name)}, nil
	case plan.StepRemoveReflection:
		if step.Certificate == "" {
			return nil, fmt.Errorf("invalid plan: step %s names no Certificate", step.ID)
		}
		// NOTE: step.Secrets (the mirrors) are not deleted here: reflector
		// deletes its auto mirrors itself once the source no longer allows
		// their namespaces, and certwave deletes no Secret.
		return e.removeReflectionChanges(ctx, step.ID, step.Certificate)
	case plan.StepPreflight, plan.StepWaitReady, plan.StepProbe, plan.StepSoak, plan.StepObserveRenewal, plan.StepShimTest:
		return nil, nil
	}
	return nil, fmt.Errorf("invalid plan: step %s has unknown kind %q", step.ID, step.Kind)
}

// addsParentRef reports whether a flip-route step adds a parentRef rather
// than moving one: the plan leaves FromSection empty on the later flips of
// a route that serves several hosts, after an earlier step of the plan
// moved the route's parentRef.
func (e *Engine) addsParentRef(step *plan.Step) bool {
	if step.FromSection != "" {
		return false
	}
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if s.ID == step.ID {
			return false
		}
		if s.Kind == plan.StepFlipRoute && s.Route == step.Route && s.Gateway == step.Gateway {
			return true
		}
	}
	return false
}

func single(ch *Change, err error) ([]*Change, error) {
	if err != nil || ch == nil {
		return nil, err
	}
	return []*Change{ch}, nil
}

// gatewayStepChange applies what certwave owns on the step's Gateway once
// the step is done.
func (e *Engine) gatewayStepChange(st *runState, step *plan.Step) (*Change, error) {
	before, err := e.ownedGateway(step.Gateway, st.completed, st.prog.RestoredListeners)
	if err != nil {
		return nil, err
	}
	done := maps.Clone(st.completed)
	done[step.ID] = true
	after, err := e.ownedGateway(step.Gateway, done, st.prog.RestoredListeners)
	if err != nil {
		return nil, err
	}
	summary := step.Description
	if summary == "" {
		summary = string(step.Kind) + " on Gateway " + step.Gateway
	}
	return gatewayChange(step.ID, step.Gateway, summary, before, after)
}

// stepGate waits for what the step must achieve.
func (e *Engine) stepGate(ctx context.Context, st *runState, step *plan.Step) error {
	switch step.Kind {
	case plan.StepPreflight:
		return e.preflight(ctx)
	case plan.StepCreateIssuer:
		if step.Issuer == nil {
			ca := e.index.ca
			return e.waitReady(ctx, st, step, []string{ca.Namespace + "/" + ca.Issuer}, nil)
		}
	case plan.StepFlipRoute:
		return e.routeGate(ctx, st, step)
	case plan.StepWaitReady:
		certs, hosts := e.waitTargets(st, step)
		return e.waitReady(ctx, st, step, certs, hosts)
	case plan.StepProbe:
		return e.probeGate(ctx, st, step)
	case plan.StepSoak:
		return e.soak(ctx, st, step)
	case plan.StepObserveRenewal:
		return e.observeRenewal(ctx, st, step)
	case plan.StepShimTest:
		return e.shimTest(ctx, st, step)
	}
	return nil
}

// preflight refuses a plan with blocker findings or a rate-limit breach it
// was not forced past, and checks that the cluster serves the Gateway API
// and cert-manager kinds the plan needs.
func (e *Engine) preflight(ctx context.Context) error {
	var blockers, objects []string
	for _, f := range e.plan.Findings {
		if f.Severity == plan.SeverityBlocker && !slices.Contains(e.opts.AcceptFindings, f.ID) {
			if !slices.Contains(blockers, f.ID) {
				blockers = append(blockers, f.ID)
			}
			for _, o := range f.Objects {
				if !slices.Contains(objects, o) {
					objects = append(objects, o)
				}
			}
		}
	}
	if len(blockers) > 0 {
		return &stopSignal{stop: &Stop{
			Rule:    RulePreflightBlocker,
			Reason:  fmt.Sprintf("the plan has blocker findings (%s): fix them and plan again, or accept each one knowingly with --accept-finding ID", strings.Join(blockers, ", ")),
			Objects: objects,
			At:      e.clock.Now(),
			Next:    fmt.Sprintf("certwave run --plan %s --accept-finding %s", e.planFile(), blockers[0]),
		}}
	}
	if b := e.plan.Breach; b != nil && !e.plan.Options.Force {
		return fmt.Errorf("preflight: the plan exceeds %s for %s at %s: plan again with other waves, or force it", b.Limit, b.Key, b.At.Format("2006-01-02 15:04"))
	}
	if err := e.client.List(ctx, &gwv1.GatewayList{}, client.Limit(1)); err != nil {
		return fmt.Errorf("preflight: list Gateways: %w", err)
	}
	if err := e.client.List(ctx, &cmv1.CertificateList{}, client.Limit(1)); err != nil {
		return fmt.Errorf("preflight: list cert-manager Certificates: %w", err)
	}
	return nil
}

// waitTargets returns the Certificates and hosts a wait-ready step waits
// for: step.Certificate, and each host's Certificate and listener.
func (e *Engine) waitTargets(st *runState, step *plan.Step) (certs, hosts []string) {
	if step.Certificate != "" {
		certs = append(certs, step.Certificate)
	}
	for _, host := range step.Hosts {
		h := e.index.hosts[host]
		if h == nil || h.Certificate == "" {
			continue
		}
		if !slices.Contains(certs, h.Certificate) {
			certs = append(certs, h.Certificate)
		}
		if h.AddStep != "" && st.completed[h.AddStep] {
			hosts = append(hosts, host)
		}
	}
	return certs, hosts
}

// waitReady waits until every Certificate is Ready with its Secret and
// every host's listener is Programmed with resolved refs. A Certificate
// that failed once the step ran failedCertificateGrace fires
// failed-certificate; one not Ready by the ready timeout does too.
func (e *Engine) waitReady(ctx context.Context, st *runState, step *plan.Step, certs, hosts []string) error {
	started := st.prog.InFlight.StartedAt
	// certPending and notReady describe the Certificates not ready, in
	// one order, and listenersPending the listeners.
	var certPending, listenersPending, notReady []string
	ok, err := e.poll(ctx, st, started.Add(e.readyTimeout(step)), func(ctx context.Context) (bool, error) {
		certPending, listenersPending, notReady = nil, nil, nil
		var failed []observation
		for _, key := range certs {
			s, ready, err := e.certificateReady(ctx, key)
			if err != nil {
				return false, err
			}
			if ready {
				continue
			}
			certPending = append(certPending, s.detail)
			notReady = append(notReady, "Certificate/"+key)
			if s.failed && e.clock.Now().Sub(started) >= failedCertificateGrace {
				failed = append(failed, observation{rule: RuleFailedCertificate, objects: []string{"Certificate/" + key}, state: s.failure,
					reason: fmt.Sprintf("Certificate %s failed: %s", key, s.detail)})
			}
		}
		if stop := e.newStop(failed, st.prog.Acknowledged); stop != nil {
			st.prog.Ledger.wave(waveKey(step), step.Phase, step.Wave, started).markRetried(stop.Reason)
			return false, &stopSignal{stop: stop}
		}
		for _, host := range hosts {
			h := e.index.hosts[host]
			ready, detail, err := e.listenerReady(ctx, h.Gateway, h.Listener)
			if err != nil {
				return false, err
			}
			if !ready {
				listenersPending = append(listenersPending, detail)
			}
		}
		return len(certPending)+len(listenersPending) == 0, nil
	})
	if err != nil || ok {
		return err
	}
	for i, obj := range notReady {
		detail, err := e.pendingRequest(ctx, strings.TrimPrefix(obj, "Certificate/"))
		if err != nil {
			return err
		}
		if detail != "" {
			certPending[i] += "; " + detail
		}
	}
	pending := append(certPending, listenersPending...)
	reason := fmt.Sprintf("not ready after %s: %s", e.readyTimeout(step), joinReasons(pending))
	if len(notReady) > maxStuckCertificates {
		// More than the cluster-wide maximum stuck at once points at a
		// systemic cause (a slow or unreachable ACME server), which the
		// cluster-wide rule names better than a failed wave does.
		return &stopSignal{stop: &Stop{
			Rule: RuleTooManyPending, Reason: fmt.Sprintf("%d Certificates %s", len(notReady), reason), Objects: notReady,
			At: e.clock.Now(), Next: e.nextCommand(RuleTooManyPending), Step: step.ID,
		}}
	}
	if len(notReady) > 0 {
		return &stopSignal{stop: &Stop{
			Rule: RuleFailedCertificate, Reason: "Certificates " + reason, Objects: notReady,
			At: e.clock.Now(), Next: e.nextCommand(RuleFailedCertificate), Step: step.ID,
		}}
	}
	return e.gateStop(step, "listeners "+reason, hosts...)
}

// routeGate waits until the flipped route is accepted on its new listener.
func (e *Engine) routeGate(ctx context.Context, st *runState, step *plan.Step) error {
	var detail string
	deadline := st.prog.InFlight.StartedAt.Add(e.readyTimeout(step))
	ok, err := e.poll(ctx, st, deadline, func(ctx context.Context) (bool, error) {
		var ok bool
		var err error
		ok, detail, err = e.routeAttached(ctx, step.Route, step.Gateway, step.SectionName)
		return ok, err
	})
	if err != nil || ok {
		return err
	}
	return e.gateStop(step, "route not attached after "+e.readyTimeout(step).String()+": "+detail, "HTTPRoute/"+step.Route)
}
