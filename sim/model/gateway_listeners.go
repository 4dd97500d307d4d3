package model

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Listener translation follows the order of Envoy Gateway's
// Translator.ProcessListeners (internal/gatewayapi/listener.go, v1.8.0 and
// v1.9.1). Each listener's spec is validated on its own first. Then the
// listeners with a valid spec are checked for conflicts, the conditions
// are completed, and last the HTTPS listeners are checked for overlapping
// TLS configuration. Unless a comment names a version, a rule is the same
// in both.

// reasonUnsupportedTLSMode is the Programmed reason Envoy Gateway's
// validateTLSConfiguration sets on an HTTPS listener whose TLS mode is
// not Terminate. Gateway API defines no constant for it.
const reasonUnsupportedTLSMode = "UnsupportedTLSMode"

// setListenerCondition sets a condition of a listener, replacing one of
// the same type in place as Envoy Gateway's status.MergeConditions does.
// The order of the conditions matters to completeListenerConditions.
func (ls *listenerState) setCondition(typ gwapiv1.ListenerConditionType, status bool, reason, message string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	c := metav1.Condition{Type: string(typ), Status: s, Reason: reason, Message: message}
	for i := range ls.conditions {
		if ls.conditions[i].Type == c.Type {
			ls.conditions[i] = c
			return
		}
	}
	ls.conditions = append(ls.conditions, c)
}

// condition returns the listener's condition of a type, nil when unset.
func (ls *listenerState) condition(typ gwapiv1.ListenerConditionType) *metav1.Condition {
	return meta.FindStatusCondition(ls.conditions, string(typ))
}

// computeListeners translates a Gateway's listeners: their conditions,
// valid certificates and supported route kinds.
func (w *World) computeListeners(gs *gatewayState, grants []gwapiv1.ReferenceGrant) {
	for _, l := range gs.gw.Spec.Listeners {
		ls := &listenerState{name: string(l.Name), port: int32(l.Port), protocol: l.Protocol, spec: l}
		if l.Hostname != nil {
			ls.hostname = strings.ToLower(string(*l.Hostname))
		}
		ls.terminates = l.Protocol == gwapiv1.HTTPSProtocolType ||
			(l.Protocol == gwapiv1.TLSProtocolType && listenerTLSMode(l) == gwapiv1.TLSModeTerminate)
		ls.specValid = w.validateListenerSpec(gs.gw, ls, grants)
		gs.listeners = append(gs.listeners, ls)
	}

	markProtocolConflicts(gs.listeners)
	markHostnameConflicts(gs.listeners, w.rules.protocolConflictWins)
	markLayer4Conflicts(gs.listeners, gwapiv1.TCPProtocolType)
	markLayer4Conflicts(gs.listeners, gwapiv1.UDPProtocolType)

	for _, ls := range gs.listeners {
		completeListenerConditions(ls)
		ls.programmed = meta.IsStatusConditionTrue(ls.conditions, string(gwapiv1.ListenerConditionProgrammed))
	}
	if w.rules.overlappingTLS {
		markOverlaps(gs.listeners)
	}
}

// validateListenerSpec checks one listener on its own, as Envoy Gateway's
// validateListenerSpec does, and reports whether its spec is valid. Only
// listeners with a valid spec take part in the conflict checks.
//
// NOTE: allowedRoutes.namespaces.selector is not evaluated: a Selector
// allows every namespace (see namespaceAllowed), and a missing selector
// is not reported.
func (w *World) validateListenerSpec(gw *gwapiv1.Gateway, ls *listenerState, grants []gwapiv1.ReferenceGrant) bool {
	valid := true
	l := ls.spec
	if kinds := routeKindsForProtocol(l); kinds != nil {
		if !validateAllowedRoutes(ls, kinds) {
			valid = false
		}
	} else {
		valid = false
		ls.setCondition(gwapiv1.ListenerConditionAccepted, false, string(gwapiv1.ListenerReasonUnsupportedProtocol),
			fmt.Sprintf("Protocol %s is not supported: use HTTP, HTTPS, TLS, TCP or UDP.", l.Protocol))
	}
	if !w.validateListenerTLS(gw, ls, grants) {
		valid = false
	}
	if (l.Protocol == gwapiv1.TCPProtocolType || l.Protocol == gwapiv1.UDPProtocolType) && l.Hostname != nil {
		valid = false
		ls.setCondition(gwapiv1.ListenerConditionProgrammed, false, string(gwapiv1.ListenerReasonInvalid),
			fmt.Sprintf("A listener with protocol %s must not set hostname.", l.Protocol))
	}
	return valid
}

// routeKindsForProtocol returns the route kinds a listener's protocol
// supports (allowedRouteKindsForProtocol), nil for an unsupported
// protocol.
func routeKindsForProtocol(l gwapiv1.Listener) []gwapiv1.Kind {
	switch l.Protocol {
	case gwapiv1.HTTPProtocolType, gwapiv1.HTTPSProtocolType:
		return []gwapiv1.Kind{"HTTPRoute", "GRPCRoute"}
	case gwapiv1.TLSProtocolType:
		if listenerTLSMode(l) == gwapiv1.TLSModePassthrough {
			return []gwapiv1.Kind{"TLSRoute"}
		}
		return []gwapiv1.Kind{"TCPRoute", "TLSRoute"}
	case gwapiv1.TCPProtocolType:
		return []gwapiv1.Kind{"TCPRoute"}
	case gwapiv1.UDPProtocolType:
		return []gwapiv1.Kind{"UDPRoute"}
	default:
		return nil
	}
}

// validateAllowedRoutes sets the listener's supported kinds from
// allowedRoutes.kinds, as Envoy Gateway's validateAllowedRoutes does: a
// kind of another group or one the protocol cannot carry sets
// ResolvedRefs=False InvalidRouteKinds and makes the spec invalid.
func validateAllowedRoutes(ls *listenerState, kinds []gwapiv1.Kind) bool {
	group := gwapiv1.Group(gwapiv1.GroupName)
	if ls.spec.AllowedRoutes == nil || len(ls.spec.AllowedRoutes.Kinds) == 0 {
		for _, k := range kinds {
			ls.supportedKinds = append(ls.supportedKinds, gwapiv1.RouteGroupKind{Group: &group, Kind: k})
		}
		return true
	}
	valid := true
	var unsupported []gwapiv1.Kind
	for _, k := range ls.spec.AllowedRoutes.Kinds {
		if k.Group != nil && *k.Group != gwapiv1.GroupName {
			valid = false
			ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, false, string(gwapiv1.ListenerReasonInvalidRouteKinds),
				fmt.Sprintf("Route group %s is not supported: use %s.", *k.Group, gwapiv1.GroupName))
			continue
		}
		if containsKind(kinds, k.Kind) {
			ls.supportedKinds = append(ls.supportedKinds, k)
		} else {
			unsupported = append(unsupported, k.Kind)
		}
	}
	for _, k := range unsupported {
		valid = false
		ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, false, string(gwapiv1.ListenerReasonInvalidRouteKinds),
			fmt.Sprintf("Route kind %s is not supported by protocol %s: use one of %v.", k, ls.protocol, kinds))
	}
	return valid
}

func containsKind(kinds []gwapiv1.Kind, k gwapiv1.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// allowsKind reports whether the listener's supported kinds include the
// route kind (ListenerContext.AllowsKind).
func (ls *listenerState) allowsKind(kind gwapiv1.Kind) bool {
	for _, k := range ls.supportedKinds {
		if (k.Group == nil || *k.Group == gwapiv1.GroupName) && k.Kind == kind {
			return true
		}
	}
	return false
}

// validateListenerTLS checks the TLS block against the protocol and
// resolves the certificates of a terminating listener, as Envoy Gateway's
// validateTLSConfiguration does. A TLS listener without mode counts as
// Terminate, the Gateway CRD's default.
func (w *World) validateListenerTLS(gw *gwapiv1.Gateway, ls *listenerState, grants []gwapiv1.ReferenceGrant) bool {
	l := ls.spec
	invalid := func(reason, format string, args ...any) bool {
		ls.setCondition(gwapiv1.ListenerConditionProgrammed, false, reason, fmt.Sprintf(format, args...))
		return false
	}
	switch l.Protocol {
	case gwapiv1.HTTPProtocolType, gwapiv1.TCPProtocolType, gwapiv1.UDPProtocolType:
		if l.TLS != nil {
			return invalid(string(gwapiv1.ListenerReasonInvalid), "A listener with protocol %s must not set tls.", l.Protocol)
		}
	case gwapiv1.HTTPSProtocolType:
		if l.TLS == nil {
			return invalid(string(gwapiv1.ListenerReasonInvalid), "An HTTPS listener must set tls.")
		}
		if mode := listenerTLSMode(l); mode != gwapiv1.TLSModeTerminate {
			return invalid(reasonUnsupportedTLSMode, "TLS mode %s is not supported on an HTTPS listener: use Terminate.", mode)
		}
		return w.resolveCertificates(gw, ls, grants)
	case gwapiv1.TLSProtocolType:
		if l.TLS == nil {
			return invalid(string(gwapiv1.ListenerReasonInvalid), "A TLS listener must set tls.")
		}
		if listenerTLSMode(l) == gwapiv1.TLSModePassthrough {
			if len(l.TLS.CertificateRefs) > 0 {
				return invalid(string(gwapiv1.ListenerReasonInvalid), "A TLS listener in Passthrough mode must not set certificateRefs.")
			}
			return true
		}
		if len(l.TLS.CertificateRefs) == 0 {
			return invalid(string(gwapiv1.ListenerReasonInvalid), "A TLS listener in Terminate mode must set certificateRefs.")
		}
		return w.resolveCertificates(gw, ls, grants)
	}
	return true
}

// markProtocolConflicts sets Conflicted=True ProtocolConflict on every
// listener of a port where listeners with a valid spec use incompatible
// protocols (validateConflictedProtocolsListeners in validate.go). HTTPS
// and TLS are compatible, and UDP is compatible with everything.
func markProtocolConflicts(listeners []*listenerState) {
	byPort := map[int32][]*listenerState{}
	for _, ls := range listeners {
		if ls.specValid && routeKindsForProtocol(ls.spec) != nil && ls.protocol != gwapiv1.UDPProtocolType {
			byPort[ls.port] = append(byPort[ls.port], ls)
		}
	}
	for _, onPort := range byPort {
		protocols := map[string]bool{}
		for _, ls := range onPort {
			protocols[protocolFamily(ls.protocol)] = true
		}
		if len(protocols) < 2 {
			continue
		}
		for _, ls := range onPort {
			ls.protocolConflicted = true
			ls.setCondition(gwapiv1.ListenerConditionConflicted, true, string(gwapiv1.ListenerReasonProtocolConflict),
				fmt.Sprintf("Listeners on port %d use incompatible protocols.", ls.port))
		}
	}
}

// protocolFamily groups the protocols that can share a port.
func protocolFamily(p gwapiv1.ProtocolType) string {
	if p == gwapiv1.HTTPSProtocolType || p == gwapiv1.TLSProtocolType {
		return "HTTPS/TLS"
	}
	return string(p)
}

// markHostnameConflicts sets Conflicted=True HostnameConflict on the HTTP,
// HTTPS and TLS listeners with a valid spec that share a port and a
// hostname, whatever their protocols. The Gateway CRD rejects two
// listeners with the same port, protocol and hostname, so such a conflict
// needs two protocols. With protocolConflictWins (1.9,
// validateConflictedHostnameListeners) a listener that has a protocol
// conflict takes no part; in 1.8 (validateConflictedLayer7Listeners) it
// does, and HostnameConflict replaces its ProtocolConflict.
func markHostnameConflicts(listeners []*listenerState, protocolConflictWins bool) {
	type portHost struct {
		port int32
		host string
	}
	groups := map[portHost][]*listenerState{}
	var order []portHost
	for _, ls := range listeners {
		if ls.protocol == gwapiv1.TCPProtocolType || ls.protocol == gwapiv1.UDPProtocolType || !ls.specValid {
			continue
		}
		if protocolConflictWins && ls.protocolConflicted {
			continue
		}
		key := portHost{ls.port, ls.hostname}
		if groups[key] == nil {
			order = append(order, key)
		}
		groups[key] = append(groups[key], ls)
	}
	for _, key := range order {
		group := groups[key]
		if len(group) < 2 {
			continue
		}
		names := make([]string, len(group))
		for i, ls := range group {
			names[i] = ls.name
		}
		sort.Strings(names)
		for _, ls := range group {
			ls.setCondition(gwapiv1.ListenerConditionConflicted, true, string(gwapiv1.ListenerReasonHostnameConflict),
				fmt.Sprintf("Listeners %s share port %d and hostname %q.", strings.Join(names, ", "), key.port, key.host))
		}
	}
}

// markLayer4Conflicts sets Conflicted=True ProtocolConflict on every
// listener of the protocol with a valid spec but the first on its port
// (validateConflictedLayer4Listeners in validate.go).
func markLayer4Conflicts(listeners []*listenerState, protocol gwapiv1.ProtocolType) {
	first := map[int32]bool{}
	for _, ls := range listeners {
		if !ls.specValid || ls.protocol != protocol {
			continue
		}
		if !first[ls.port] {
			first[ls.port] = true
			continue
		}
		ls.setCondition(gwapiv1.ListenerConditionConflicted, true, string(gwapiv1.ListenerReasonProtocolConflict),
			fmt.Sprintf("Only one %s listener is allowed on port %d.", protocol, ls.port))
	}
}

// completeListenerConditions adds the conditions Envoy Gateway's
// validateListenerConditions (validate.go) derives from the ones set so far:
//   - none: Accepted, Programmed and ResolvedRefs True;
//   - only ResolvedRefs=False PartiallyInvalidCertificateRef: Accepted and
//     Programmed True, because the listener is served with its valid
//     certificates;
//   - only ResolvedRefs=False InvalidCertificateRef: Accepted True and
//     Programmed False;
//   - anything else: Programmed False unless set, ResolvedRefs True unless
//     set, and no Accepted condition at all.
func completeListenerConditions(ls *listenerState) {
	if len(ls.conditions) == 0 {
		ls.setCondition(gwapiv1.ListenerConditionProgrammed, true, string(gwapiv1.ListenerReasonProgrammed), "Sending translated listener configuration to the data plane")
		ls.setCondition(gwapiv1.ListenerConditionAccepted, true, string(gwapiv1.ListenerReasonAccepted), "Listener has been successfully translated")
		ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, true, string(gwapiv1.ListenerReasonResolvedRefs), "Listener references have been resolved")
		return
	}
	if only := ls.conditions[0]; len(ls.conditions) == 1 && only.Type == string(gwapiv1.ListenerConditionResolvedRefs) {
		switch only.Reason {
		case reasonPartiallyInvalidCertificateRef:
			ls.setCondition(gwapiv1.ListenerConditionAccepted, true, string(gwapiv1.ListenerReasonAccepted), "Listener has been successfully translated")
			ls.setCondition(gwapiv1.ListenerConditionProgrammed, true, string(gwapiv1.ListenerReasonProgrammed), "Sending translated listener configuration to the data plane")
			return
		case string(gwapiv1.ListenerReasonInvalidCertificateRef):
			ls.setCondition(gwapiv1.ListenerConditionAccepted, true, string(gwapiv1.ListenerReasonAccepted), "Listener has been successfully translated")
			ls.setCondition(gwapiv1.ListenerConditionProgrammed, false, string(gwapiv1.ListenerReasonInvalid), "Listener is invalid, see other Conditions for details.")
			return
		}
	}
	if ls.condition(gwapiv1.ListenerConditionProgrammed) == nil {
		ls.setCondition(gwapiv1.ListenerConditionProgrammed, false, string(gwapiv1.ListenerReasonInvalid), "Listener is invalid, see other Conditions for details.")
	}
	if ls.condition(gwapiv1.ListenerConditionResolvedRefs) == nil {
		ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, true, string(gwapiv1.ListenerReasonResolvedRefs), "Listener references have been resolved")
	}
}

// invalid reports whether the listener has Programmed=False,
// Accepted=False or ResolvedRefs=False for another reason than
// PartiallyInvalidCertificateRef (hasInvalidCondition in validate.go).
// Such listeners take no part in the overlap checks.
func (ls *listenerState) invalid() bool {
	for _, c := range ls.conditions {
		if c.Status != metav1.ConditionFalse {
			continue
		}
		switch gwapiv1.ListenerConditionType(c.Type) {
		case gwapiv1.ListenerConditionProgrammed, gwapiv1.ListenerConditionAccepted:
			return true
		case gwapiv1.ListenerConditionResolvedRefs:
			if c.Reason != reasonPartiallyInvalidCertificateRef {
				return true
			}
		}
	}
	return false
}
