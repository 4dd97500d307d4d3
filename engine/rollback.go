package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/certwave/certwave/plan"
)

// RollbackReport is the record of a rollback: the changes and their cost
// in ACME orders.
type RollbackReport struct {
	Phase int `json:"phase"`
	// Reverted are the steps no longer counted as done, so a later run does
	// them again.
	Reverted []string `json:"reverted"`
	// Kept are done steps of the phase whose effect stays: the private CA's
	// issuers and root Certificate.
	Kept []string `json:"kept,omitempty"`
	// Changes are the changes made (shown only, in a dry run).
	Changes []string `json:"changes"`
	// KeptSecrets are the Secrets of the reverted hosts; a rollback never
	// deletes a Secret.
	KeptSecrets []string `json:"keptSecrets,omitempty"`
	// ACMEOrders is the most ACME orders the rollback itself can cause.
	ACMEOrders int `json:"acmeOrders"`
	// Cost explains ACMEOrders and the cost of running the phase again.
	Cost   string `json:"cost"`
	DryRun bool   `json:"dryRun,omitempty"`
}

// Rollback reverts the done steps of phase, which must be the latest phase
// with done steps: routes go back to their old sectionName and certwave's
// listeners of the phase are removed from the Gateways in the same pass.
// Listener isolation means the old listener serves the host only once the
// per-host listener is gone, so reverting sectionName alone would not be a
// rollback. A phase-4 rollback puts back the wildcard Certificate, its
// reflector annotations and the listeners the phase removed. Manual
// Certificates of the phase are deleted; Secrets never are.
func (e *Engine) Rollback(ctx context.Context, phase int) (RollbackReport, error) {
	report := RollbackReport{Phase: phase, DryRun: e.opts.DryRun}
	st, err := e.load(ctx)
	if err != nil {
		return report, err
	}
	var later []string
	var steps []*plan.Step
	if fl := st.prog.InFlight; fl != nil && e.step(fl.Step) != nil && e.step(fl.Step).Phase == phase {
		// A step that started may have made its changes before it was
		// killed or stopped, so it is undone too; undoing is idempotent.
		steps = append(steps, e.step(fl.Step))
	}
	for i := len(st.prog.Completed) - 1; i >= 0; i-- {
		s := e.step(st.prog.Completed[i])
		switch {
		case s == nil:
		case s.Phase > phase:
			later = append(later, s.ID)
		case s.Phase == phase:
			steps = append(steps, s)
		}
	}
	if len(later) > 0 {
		return report, fmt.Errorf("phase %d cannot be rolled back while later phases have done steps (%s): roll those back first", phase, strings.Join(later, ", "))
	}

	done := maps.Clone(st.completed)
	restored := slices.Clone(st.prog.RestoredListeners)
	var routes, restores, deletes []*Change
	gateways := map[string]bool{}
	for _, s := range steps {
		if e.keptOnRollback(s) {
			report.Kept = append(report.Kept, s.ID)
			continue
		}
		delete(done, s.ID)
		report.Reverted = append(report.Reverted, s.ID)
		if s.Gateway != "" {
			gateways[s.Gateway] = true
		}
		ch, err := e.rollbackChange(ctx, s, &report, &restored)
		if err != nil {
			return report, err
		}
		switch {
		case ch == nil:
		case s.Kind == plan.StepFlipRoute:
			routes = append(routes, ch)
		case s.Kind == plan.StepCreateCert:
			deletes = append(deletes, ch)
		case !slices.ContainsFunc(restores, func(c *Change) bool { return c.Object() == ch.Object() }):
			restores = append(restores, ch)
		}
	}

	// Gateways are applied twice. The first apply sends the union of the
	// before and after states, which only adds restored listeners, so that
	// routes moving back find their listener. The second, after the routes
	// moved, sends the final state and removes the phase's listeners and
	// annotations.
	var adds, removals []*Change
	for _, gw := range slices.Sorted(maps.Keys(gateways)) {
		before, err := e.ownedGateway(gw, st.completed, st.prog.RestoredListeners)
		if err != nil {
			return report, err
		}
		after, err := e.ownedGateway(gw, done, restored)
		if err != nil {
			return report, err
		}
		union := unionOwned(before, after)
		if len(union.listeners) > len(before.listeners) {
			ch, err := gatewayChange("rollback", gw, "restore listeners on Gateway "+gw, before, union)
			if err != nil {
				return report, err
			}
			adds = append(adds, ch)
			before = union
		}
		ch, err := gatewayChange("rollback", gw, fmt.Sprintf("remove phase %d's listeners and annotations from Gateway %s", phase, gw), before, after)
		if err != nil {
			return report, err
		}
		removals = append(removals, ch)
	}

	actuator := e.actuator
	if e.opts.DryRun {
		e.preview = newPreviewActuator(e.client, e.out)
		defer func() { e.preview = nil }()
		actuator = e.preview
	}
	for _, ch := range slices.Concat(restores, adds, routes, removals, deletes) {
		if err := actuator.Execute(ctx, ch); err != nil {
			return report, fmt.Errorf("rollback of phase %d: %w", phase, err)
		}
		report.Changes = append(report.Changes, fmt.Sprintf("%s %s: %s", ch.Op, ch.Object(), ch.Summary))
	}
	e.rollbackCost(&report)
	if e.opts.DryRun {
		return report, nil
	}

	now := e.clock.Now()
	wave := st.prog.Ledger.wave(fmt.Sprintf("phase%d-rollback", phase), phase, 0, now)
	for _, id := range report.Reverted {
		wave.Steps = append(wave.Steps, StepResult{ID: id, Kind: string(e.step(id).Kind), Started: now, Ended: now, Outcome: OutcomeRolledBack})
	}
	st.prog.Completed = slices.DeleteFunc(st.prog.Completed, func(id string) bool { return !done[id] })
	st.prog.RestoredListeners = restored
	if fl := st.prog.InFlight; fl != nil && e.step(fl.Step) != nil && e.step(fl.Step).Phase >= phase {
		st.prog.InFlight = nil
	}
	st.prog.LastStop = nil
	e.log.Info("phase rolled back", "phase", phase, "reverted", len(report.Reverted), "acmeOrders", report.ACMEOrders)
	return report, e.save(ctx, st)
}

// keptOnRollback reports whether a done step keeps its effect: the private
// CA (issuers, root Certificate and the wait for it) costs nothing to keep
// and other phases may depend on it.
func (e *Engine) keptOnRollback(s *plan.Step) bool {
	switch s.Kind {
	case plan.StepCreateIssuer:
		return true
	case plan.StepCreateCert:
		return s.CertificateSpec != nil && s.CertificateSpec.IsCA
	case plan.StepWaitReady:
		return s.Certificate != "" && s.Certificate == e.index.ca.Namespace+"/"+e.index.ca.Issuer
	}
	return false
}

// rollbackChange returns the change that undoes one step outside the
// Gateway applies, and records restored listeners and kept Secrets.
func (e *Engine) rollbackChange(ctx context.Context, s *plan.Step, report *RollbackReport, restored *[]RestoredListener) (*Change, error) {
	switch s.Kind {
	case plan.StepFlipRoute:
		if e.addsParentRef(s) {
			return e.routeChange(ctx, "rollback", s.Route, s.Gateway, s.SectionName, "", refRemove)
		}
		return e.routeChange(ctx, "rollback", s.Route, s.Gateway, s.SectionName, s.FromSection, refMove)
	case plan.StepAddListener:
		if s.Listener != nil {
			ns, _ := splitKey(s.Gateway)
			report.KeptSecrets = append(report.KeptSecrets, ns+"/"+s.Listener.SecretName)
		}
	case plan.StepRemoveListener:
		if s.Listener != nil && !e.addedByPlan(s.Gateway, s.Listener.Name) {
			*restored = append(*restored, RestoredListener{Gateway: s.Gateway, Listener: s.Listener.Name})
		}
	case plan.StepDeleteCert, plan.StepRemoveReflection:
		c, err := e.inventoryCertificate(s.Certificate)
		if err != nil {
			return nil, err
		}
		return wildcardRestoreChange("rollback", c)
	case plan.StepCreateCert:
		ch, err := e.certificateChange(s)
		if err != nil {
			return nil, err
		}
		secret := ch.Name
		if s.CertificateSpec != nil {
			secret = s.CertificateSpec.SecretName
		} else if s.Listener != nil && s.Listener.SecretName != "" {
			secret = s.Listener.SecretName
		}
		report.KeptSecrets = append(report.KeptSecrets, ch.Namespace+"/"+secret)
		return deleteChange("rollback", "delete Certificate "+ch.Namespace+"/"+ch.Name+" (its Secret stays)", gvkCertificate, ch.Namespace, ch.Name), nil
	}
	return nil, nil
}

// addedByPlan reports whether an add-listener step of the plan creates the
// listener, so certwave owns it.
func (e *Engine) addedByPlan(gateway, listener string) bool {
	return slices.ContainsFunc(e.plan.Steps, func(s plan.Step) bool {
		return s.Kind == plan.StepAddListener && s.Gateway == gateway && s.Listener != nil && s.Listener.Name == listener
	})
}

// unionOwned returns the annotations and listeners of both a and b, with
// b's version of a listener both have.
func unionOwned(a, b gatewayOwned) gatewayOwned {
	out := gatewayOwned{annotations: maps.Clone(a.annotations)}
	maps.Copy(out.annotations, b.annotations)
	out.listeners = slices.Clone(a.listeners)
	for _, l := range b.listeners {
		out.upsert(l)
	}
	return out
}

// rollbackCost fills in the ACME cost of the rollback.
func (e *Engine) rollbackCost(r *RollbackReport) {
	recreated := false
	for _, id := range r.Reverted {
		if e.step(id).Kind == plan.StepDeleteCert {
			recreated = true
		}
	}
	switch {
	case len(r.Reverted) == 0:
		r.Cost = fmt.Sprintf("nothing to roll back: phase %d has no done steps that change objects", r.Phase)
	case recreated:
		r.ACMEOrders = 1
		r.Cost = "1 ACME order: the wildcard Certificate is created again and cert-manager orders its name set " +
			"unless the kept Secret still matches. That name set was issued within 120 days, so Let's Encrypt " +
			"treats the order as a renewal: it spends no Certificates per Registered Domain token but one " +
			"Duplicate Certificate token (5 per 34 h)."
	case r.Phase == 0 || r.Phase == 1:
		r.Cost = "0 ACME orders: the phase changes only annotations, listeners and routes, and the private CA issues without ACME."
	default:
		r.Cost = "0 ACME orders now. The gateway-shim deletes the Certificates it created for the removed listeners, " +
			"and their Secrets stay. Running the phase again lets cert-manager take up each kept Secret while its " +
			"certificate is valid and matches (no order); otherwise each host costs one order, a renewal of the same " +
			"name set within 120 days, which spends no Certificates per Registered Domain token."
	}
}

// step returns the plan step with id, or nil.
func (e *Engine) step(id string) *plan.Step {
	for i := range e.plan.Steps {
		if e.plan.Steps[i].ID == id {
			return &e.plan.Steps[i]
		}
	}
	return nil
}
