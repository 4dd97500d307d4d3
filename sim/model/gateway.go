package model

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewayFieldOwner is the field manager of the status the Gateway
// controllers write.
const gatewayFieldOwner = "envoy-gateway"

// syncGatewayStatus writes the Gateway and HTTPRoute status the edge
// model decides: per listener the conditions of the translation (see
// computeListeners) with attachedRoutes and supportedKinds, and per route
// parent Accepted, ResolvedRefs and, from Envoy Gateway 1.9,
// RouteRulesOverlap.
func (w *World) syncGatewayStatus() bool {
	if w.unchanged("gateway-status", edgeKinds...) {
		return false
	}
	e, err := w.computeEdge()
	if err != nil {
		w.recordError("compute Gateway status", err)
		return false
	}
	w.lastEdge, w.lastEdgeVersion = e, w.writeVersion(edgeKinds...)
	ctx := context.Background()
	changed := false
	for _, key := range e.order {
		gs := e.gateways[key]
		status := gs.gw.Status.DeepCopy()
		w.gatewayStatus(gs, status)
		if sameStatus(gs.gw.Status, *status) {
			continue
		}
		updated := gs.gw.DeepCopy()
		updated.Status = *status
		w.traceListenerChanges(gs, &gs.gw.Status, &updated.Status)
		if err := w.api.Status().Update(ctx, updated, client.FieldOwner(gatewayFieldOwner)); err != nil {
			w.recordError("update status of Gateway/"+key, err)
			continue
		}
		changed = true
	}
	for _, rs := range e.routes {
		status := rs.route.Status.DeepCopy()
		w.routeStatus(rs, status)
		if sameStatus(rs.route.Status, *status) {
			continue
		}
		updated := rs.route.DeepCopy()
		updated.Status = *status
		w.traceRouteChanges(rs, &rs.route.Status, &updated.Status)
		if err := w.api.Status().Update(ctx, updated, client.FieldOwner(gatewayFieldOwner)); err != nil {
			w.recordError("update status of HTTPRoute/"+rs.key, err)
			continue
		}
		changed = true
	}
	return changed
}

// sameStatus reports whether a recomputed status equals the stored one.
// Both hold times taken from the virtual clock and copied with DeepCopy,
// never re-parsed, so reflect.DeepEqual is exact for them and much
// cheaper than apimachinery's semantic equality. Unlike that equality, it
// treats a nil slice and an empty one as different; the cost is at most
// one status write that changes nothing.
func sameStatus[T any](stored, computed T) bool {
	return reflect.DeepEqual(stored, computed)
}

// gatewayStatus fills a Gateway's status from its computed state. The
// Gateway's own Accepted and Programmed are always True because the model
// has no proxy deployment or address to lose.
func (w *World) gatewayStatus(gs *gatewayState, st *gwapiv1.GatewayStatus) {
	gen := gs.gw.Generation
	w.setCondition(&st.Conditions, string(gwapiv1.GatewayConditionAccepted), true, string(gwapiv1.GatewayReasonAccepted), "The Gateway has been scheduled", gen)
	w.setCondition(&st.Conditions, string(gwapiv1.GatewayConditionProgrammed), true, string(gwapiv1.GatewayReasonProgrammed), "Address assigned to the Gateway", gen)
	old := map[string]gwapiv1.ListenerStatus{}
	for _, l := range st.Listeners {
		old[string(l.Name)] = l
	}
	st.Listeners = nil
	for _, ls := range gs.listeners {
		out := old[ls.name]
		out.Name = gwapiv1.SectionName(ls.name)
		out.AttachedRoutes = ls.attached
		out.SupportedKinds = ls.supportedKinds
		// Envoy Gateway computes a listener's conditions afresh on each
		// translation, so a condition it no longer sets goes away.
		var conds []metav1.Condition
		for _, c := range out.Conditions {
			if ls.condition(gwapiv1.ListenerConditionType(c.Type)) != nil {
				conds = append(conds, c)
			}
		}
		for _, c := range ls.conditions {
			w.setCondition(&conds, c.Type, c.Status == metav1.ConditionTrue, c.Reason, c.Message, gen)
		}
		out.Conditions = conds
		st.Listeners = append(st.Listeners, out)
	}
}

// routeStatus fills a route's parents owned by the model's controllers,
// keeping parents other controllers wrote.
func (w *World) routeStatus(rs *routeState, st *gwapiv1.HTTPRouteStatus) {
	var kept []gwapiv1.RouteParentStatus
	old := map[string]gwapiv1.RouteParentStatus{}
	for _, p := range st.Parents {
		if p.ControllerName == envoyGatewayController || p.ControllerName == istioController {
			old[parentKey(p.ParentRef)] = p
			continue
		}
		kept = append(kept, p)
	}
	for _, ps := range rs.parents {
		out := old[parentKey(ps.ref)]
		out.ParentRef = ps.ref
		out.ControllerName = gwapiv1.GatewayController(ps.gateway.controller)
		conds := out.Conditions
		gen := rs.route.Generation
		w.setCondition(&conds, string(gwapiv1.RouteConditionAccepted), ps.accepted, ps.reason, ps.message, gen)
		w.setCondition(&conds, string(gwapiv1.RouteConditionResolvedRefs), true, string(gwapiv1.RouteReasonResolvedRefs), "Resolved all the Object references for the Route", gen)
		if len(ps.overlap) > 0 {
			w.setCondition(&conds, conditionRouteRulesOverlap, true, conditionRouteRulesOverlap,
				"Overlapping match conditions with route(s): "+strings.Join(ps.overlap, ", "), gen)
		} else {
			meta.RemoveStatusCondition(&conds, conditionRouteRulesOverlap)
		}
		out.Conditions = conds
		kept = append(kept, out)
	}
	st.Parents = kept
}

func parentKey(ref gwapiv1.ParentReference) string {
	key := string(ref.Name)
	if ref.Namespace != nil {
		key = string(*ref.Namespace) + "/" + key
	}
	if ref.SectionName != nil {
		key += "#" + string(*ref.SectionName)
	}
	if ref.Port != nil {
		key += fmt.Sprintf(":%d", *ref.Port)
	}
	return key
}

// setCondition sets a condition with the virtual time as transition time;
// meta.SetStatusCondition keeps the old time when the status is unchanged.
func (w *World) setCondition(conds *[]metav1.Condition, typ string, status bool, reason, message string, generation int64) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: message,
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(w.sched.now),
	})
}

// traceListenerChanges traces listener conditions whose status or reason
// changed.
func (w *World) traceListenerChanges(gs *gatewayState, before, after *gwapiv1.GatewayStatus) {
	old := map[string][]metav1.Condition{}
	for _, l := range before.Listeners {
		old[string(l.Name)] = l.Conditions
	}
	for _, l := range after.Listeners {
		for _, c := range l.Conditions {
			if c.Type == string(gwapiv1.ListenerConditionAccepted) {
				continue
			}
			prev := meta.FindStatusCondition(old[string(l.Name)], c.Type)
			if prev != nil && prev.Status == c.Status && prev.Reason == c.Reason {
				continue
			}
			if prev == nil && c.Status == metav1.ConditionTrue && c.Type != string(gwapiv1.ListenerConditionOverlappingTLSConfig) {
				continue // a new healthy listener
			}
			w.record(traceGateway, "Gateway/"+gs.key, "listener %s %s=%s %s: %s", l.Name, c.Type, c.Status, c.Reason, c.Message)
		}
	}
}

// traceRouteChanges traces route parents whose Accepted changed.
func (w *World) traceRouteChanges(rs *routeState, before, after *gwapiv1.HTTPRouteStatus) {
	old := map[string][]metav1.Condition{}
	for _, p := range before.Parents {
		old[parentKey(p.ParentRef)] = p.Conditions
	}
	for _, p := range after.Parents {
		c := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionAccepted))
		if c == nil {
			continue
		}
		prev := meta.FindStatusCondition(old[parentKey(p.ParentRef)], c.Type)
		if prev != nil && prev.Status == c.Status && prev.Reason == c.Reason {
			continue
		}
		if prev == nil && c.Status == metav1.ConditionTrue {
			continue // a newly accepted parent
		}
		w.record(traceRoute, "HTTPRoute/"+rs.key, "parent %s Accepted=%s %s", parentKey(p.ParentRef), c.Status, c.Reason)
	}
}
