package model

import (
	"slices"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The translation of a Gateway's listeners reads only the Gateway's spec,
// the ReferenceGrants, the Secrets its listeners name and, for the
// certificates' validity, the clock. A write of one Secret or one Gateway
// leaves the other Gateways' listeners as they were, so computeEdge
// reuses their last translation while none of those inputs changed.

// listenerTranslation is a Gateway's translated listeners and what they
// were translated from.
type listenerTranslation struct {
	inputs    translationInputs
	at        time.Time
	validity  validityWindow
	listeners []*listenerState
}

// translationInputs are the write counters a translation read. secrets
// holds the counters of the Secrets the listeners reference, in the order
// of the references; the Gateway's own counter fixes that order.
type translationInputs struct {
	gateway, gateways, grants, classes, secretsBulk uint64
	secrets                                         []uint64
}

// validityWindow bounds the times at which every certificate a
// translation checked is judged as it was at the translation: until
// (inclusive) when bounded.
type validityWindow struct {
	bounded bool
	until   time.Time
}

// narrow bounds the window at t.
func (v *validityWindow) narrow(t time.Time) {
	if !v.bounded || t.Before(v.until) {
		v.bounded, v.until = true, t
	}
}

// holds reports whether a certificate valid (or not) at the translation
// is judged the same at now.
func (v validityWindow) holds(now time.Time) bool {
	return !v.bounded || !now.After(v.until)
}

// countObjectWrite counts a write of one object by kind and name, for the
// kinds whose translation inputs are followed per object.
func (w *World) countObjectWrite(kind, namespace, name string, bulk bool) {
	if kind != "Gateway" && kind != "Secret" {
		return
	}
	if bulk {
		w.objectWrites[kind+"/*"]++
		return
	}
	w.objectWrites[kind+"/"+namespace+"/"+name]++
}

// inputsOf reads the current write counters of a Gateway's inputs.
func (w *World) inputsOf(gw *gwapiv1.Gateway) translationInputs {
	in := translationInputs{
		gateway:     w.objectWrites["Gateway/"+gw.Namespace+"/"+gw.Name],
		gateways:    w.objectWrites["Gateway/*"],
		grants:      w.writes["ReferenceGrant"],
		classes:     w.writes["GatewayClass"],
		secretsBulk: w.objectWrites["Secret/*"],
	}
	for _, l := range gw.Spec.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			key := "Secret/" + certificateRefNamespace(gw, ref) + "/" + string(ref.Name)
			in.secrets = append(in.secrets, w.objectWrites[key])
		}
	}
	return in
}

func (in translationInputs) equal(other translationInputs) bool {
	return in.gateway == other.gateway && in.gateways == other.gateways && in.grants == other.grants &&
		in.classes == other.classes && in.secretsBulk == other.secretsBulk && slices.Equal(in.secrets, other.secrets)
}

// translateListeners sets gs.listeners: a copy of the last translation of
// the Gateway while its inputs are unchanged and its certificates are
// judged as they were, else a new translation.
func (w *World) translateListeners(gs *gatewayState, grants []gwapiv1.ReferenceGrant) {
	now := w.sched.now
	in := w.inputsOf(gs.gw)
	if t := w.translations[gs.key]; t != nil && !now.Before(t.at) && t.validity.holds(now) && t.inputs.equal(in) {
		gs.listeners = make([]*listenerState, len(t.listeners))
		for i, ls := range t.listeners {
			c := *ls
			gs.listeners[i] = &c
		}
		return
	}
	w.computeListeners(gs, grants)
	t := &listenerTranslation{inputs: in, at: now}
	for _, ls := range gs.listeners {
		if ls.validity.bounded {
			t.validity.narrow(ls.validity.until)
		}
		c := *ls
		t.listeners = append(t.listeners, &c)
	}
	w.translations[gs.key] = t
}
