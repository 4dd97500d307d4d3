package model

import (
	"context"
	"fmt"
	"sort"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/topology"
)

// The edge model follows Envoy Gateway's Gateway API translation: listener
// status from the certificate Secrets, route binding, and the TLS and HTTP
// matching of the proxy. Istio Gateways are modelled with the same rules.

// Controller names of the Gateway classes the model serves.
const (
	envoyGatewayController = "gateway.envoyproxy.io/gatewayclass-controller"
	istioController        = "istio.io/gateway-controller"
)

// edgeKinds are the kinds the edge model reads.
var edgeKinds = []string{"Gateway", "HTTPRoute", "GatewayClass", "Secret"}

// listenerState is the controller's view of one listener.
type listenerState struct {
	name       string
	hostname   string // empty matches every host
	port       int32
	protocol   gwapiv1.ProtocolType
	terminates bool // HTTPS, or TLS in Terminate mode
	conflicted bool
	// resolved is ResolvedRefs; reason and message explain a False.
	resolved               bool
	refReason, refMessage  string
	programmed             bool
	cert                   *keyPair // the first valid certificate
	certNames              []string // SANs of every valid certificate
	overlapReason, overlap string
	attached               int32
	// routeHosts are the hostnames of the routes bound to the listener; an
	// empty string is a route without hostnames.
	routeHosts []string
}

// gatewayState is one Gateway of a class the model serves.
type gatewayState struct {
	key        string // namespace/name
	gw         *gwapiv1.Gateway
	controller string
	listeners  []*listenerState
}

// parentState is one parentRef of a route, as its Gateway's controller
// decided it.
type parentState struct {
	ref             gwapiv1.ParentReference
	gateway         *gatewayState
	accepted        bool
	reason, message string
	listeners       []*listenerState
}

// routeState is one HTTPRoute and its parents.
type routeState struct {
	key     string
	route   *gwapiv1.HTTPRoute
	parents []*parentState
}

// edge is the whole computed state of the Gateways and routes.
type edge struct {
	gateways map[string]*gatewayState
	order    []string
	routes   []*routeState
}

// computeEdge reads Gateway classes, Gateways, HTTPRoutes and the
// certificate Secrets, and decides listener readiness and route binding.
func (w *World) computeEdge() (*edge, error) {
	ctx := context.Background()
	// The lists share their items with the client's cache. The edge and
	// its users only read them, and syncGatewayStatus writes copies.
	var classes gwapiv1.GatewayClassList
	if err := w.listShared(ctx, &classes); err != nil {
		return nil, fmt.Errorf("list GatewayClasses: %w", err)
	}
	controllers := map[string]string{}
	for _, c := range classes.Items {
		controllers[c.Name] = string(c.Spec.ControllerName)
	}

	var gateways gwapiv1.GatewayList
	if err := w.listShared(ctx, &gateways); err != nil {
		return nil, fmt.Errorf("list Gateways: %w", err)
	}
	var routes gwapiv1.HTTPRouteList
	if err := w.listShared(ctx, &routes); err != nil {
		return nil, fmt.Errorf("list HTTPRoutes: %w", err)
	}

	e := &edge{gateways: map[string]*gatewayState{}}
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		ctrl := controllers[string(gw.Spec.GatewayClassName)]
		if ctrl != envoyGatewayController && ctrl != istioController {
			continue
		}
		gs := &gatewayState{key: gw.Namespace + "/" + gw.Name, gw: gw, controller: ctrl}
		w.computeListeners(gs)
		e.gateways[gs.key] = gs
		e.order = append(e.order, gs.key)
	}
	sort.Strings(e.order)

	sort.Slice(routes.Items, func(i, j int) bool {
		return routes.Items[i].Namespace+"/"+routes.Items[i].Name < routes.Items[j].Namespace+"/"+routes.Items[j].Name
	})
	for i := range routes.Items {
		e.routes = append(e.routes, w.bindRoute(e, &routes.Items[i]))
	}
	return e, nil
}

// computeListeners decides conflicts, certificate references, programming
// and overlapping TLS for a Gateway's listeners.
func (w *World) computeListeners(gs *gatewayState) {
	seen := map[string]bool{}
	for _, l := range gs.gw.Spec.Listeners {
		ls := &listenerState{name: string(l.Name), port: int32(l.Port), protocol: l.Protocol}
		if l.Hostname != nil {
			ls.hostname = strings.ToLower(string(*l.Hostname))
		}
		ls.terminates = l.Protocol == gwapiv1.HTTPSProtocolType ||
			(l.Protocol == gwapiv1.TLSProtocolType && listenerTLSMode(l) == gwapiv1.TLSModeTerminate)
		id := fmt.Sprintf("%d/%s/%s", ls.port, ls.protocol, ls.hostname)
		ls.conflicted = seen[id]
		seen[id] = true
		ls.resolved = true
		if ls.terminates {
			w.resolveCertificates(gs.gw, l, ls)
		}
		ls.programmed = ls.resolved && !ls.conflicted
		gs.listeners = append(gs.listeners, ls)
	}
	if w.rules.overlappingTLS {
		markOverlaps(gs.listeners)
	}
}

// resolveCertificates checks a terminating listener's certificateRefs.
//
// NOTE: ReferenceGrant is not modelled, so a certificateRef to another
// namespace is always RefNotPermitted.
func (w *World) resolveCertificates(gw *gwapiv1.Gateway, l gwapiv1.Listener, ls *listenerState) {
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		ls.resolved, ls.refReason = false, string(gwapiv1.ListenerReasonInvalidCertificateRef)
		ls.refMessage = "Listener must have at least 1 TLS certificate ref"
		return
	}
	for _, ref := range l.TLS.CertificateRefs {
		ns := gw.Namespace
		if ref.Namespace != nil && string(*ref.Namespace) != "" {
			ns = string(*ref.Namespace)
		}
		key := ns + "/" + string(ref.Name)
		if ns != gw.Namespace {
			ls.resolved, ls.refReason = false, string(gwapiv1.ListenerReasonRefNotPermitted)
			ls.refMessage = fmt.Sprintf("Certificate ref to secret %s not permitted by any ReferenceGrant.", key)
			return
		}
		s := w.peekSecret(ns, string(ref.Name))
		if s == nil {
			ls.resolved, ls.refReason = false, string(gwapiv1.ListenerReasonInvalidCertificateRef)
			ls.refMessage = fmt.Sprintf("Secret %s does not exist.", key)
			return
		}
		pair, _, err := w.secretKeyPair(s)
		if err != nil {
			ls.resolved, ls.refReason = false, string(gwapiv1.ListenerReasonInvalidCertificateRef)
			ls.refMessage = fmt.Sprintf("Secret %s must contain valid tls.crt and tls.key: %v.", key, err)
			return
		}
		if ls.cert == nil {
			ls.cert = pair
		}
		ls.certNames = append(ls.certNames, pair.cert.DNSNames...)
	}
}

// markOverlaps sets OverlappingTLSConfig on HTTPS listeners of one port
// whose hostnames or certificate SANs overlap, pairing them as Envoy
// Gateway's checkOverlappingTLSConfig does: each listener joins at most
// one pair, and a certificate overlap wins over a hostname overlap.
func markOverlaps(listeners []*listenerState) {
	var https []*listenerState
	for _, l := range listeners {
		if l.protocol == gwapiv1.HTTPSProtocolType {
			https = append(https, l)
		}
	}
	pair := func(overlaps func(a, b *listenerState) (string, bool), reason string) {
		marked := make([]bool, len(https))
		for i := range https {
			if marked[i] {
				continue
			}
			for j := i + 1; j < len(https); j++ {
				if marked[j] || https[i].port != https[j].port {
					continue
				}
				if detail, ok := overlaps(https[i], https[j]); ok {
					marked[i], marked[j] = true, true
					https[i].overlapReason, https[i].overlap = reason, detail+" in listener "+https[j].name
					https[j].overlapReason, https[j].overlap = reason, detail+" in listener "+https[i].name
					break
				}
			}
		}
	}
	pair(func(a, b *listenerState) (string, bool) {
		if hostnamesOverlap(a.hostname, b.hostname) {
			return fmt.Sprintf("The hostname %q overlaps with the hostname %q", a.hostname, b.hostname), true
		}
		return "", false
	}, string(gwapiv1.ListenerReasonOverlappingHostnames))
	pair(func(a, b *listenerState) (string, bool) {
		for _, x := range a.certNames {
			for _, y := range b.certNames {
				if x != "" && y != "" && hostnamesOverlap(x, y) {
					return fmt.Sprintf("The certificate SAN %s overlaps with the certificate SAN %s", x, y), true
				}
			}
		}
		return "", false
	}, string(gwapiv1.ListenerReasonOverlappingCertificates))
}

// hostnamesOverlap is Envoy Gateway's areOverlappingHostnames: an empty
// hostname overlaps everything, and a wildcard covers exactly one more
// label.
func hostnamesOverlap(a, b string) bool {
	if a == "" || b == "" {
		return true
	}
	return wildcardCoversOneLabel(a, b) || wildcardCoversOneLabel(b, a)
}

func wildcardCoversOneLabel(host, pattern string) bool {
	if strings.HasPrefix(pattern, "*") && !strings.HasPrefix(host, "*") {
		prefix, ok := strings.CutSuffix(host, pattern[1:])
		return ok && !strings.Contains(prefix, ".")
	}
	return host == pattern
}

// bindRoute decides each parentRef of a route: the listeners it binds to
// and its Accepted condition.
func (w *World) bindRoute(e *edge, r *gwapiv1.HTTPRoute) *routeState {
	rs := &routeState{key: r.Namespace + "/" + r.Name, route: r}
	for _, ref := range r.Spec.ParentRefs {
		if (ref.Group != nil && *ref.Group != gwapiv1.GroupName) || (ref.Kind != nil && *ref.Kind != "Gateway") {
			continue
		}
		ns := r.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		gs := e.gateways[ns+"/"+string(ref.Name)]
		if gs == nil {
			continue
		}
		ps := &parentState{ref: ref, gateway: gs}
		rs.parents = append(rs.parents, ps)
		var matched, allowed []*listenerState
		for i, ls := range gs.listeners {
			if ref.SectionName != nil && string(*ref.SectionName) != ls.name {
				continue
			}
			if ref.Port != nil && int32(*ref.Port) != ls.port {
				continue
			}
			matched = append(matched, ls)
			if ls.protocol != gwapiv1.HTTPProtocolType && ls.protocol != gwapiv1.HTTPSProtocolType {
				continue
			}
			if !namespaceAllowed(gs.gw.Spec.Listeners[i], gs.gw.Namespace, r.Namespace) {
				continue
			}
			allowed = append(allowed, ls)
		}
		for _, ls := range allowed {
			if routeMatchesListener(r, ls.hostname) {
				ps.listeners = append(ps.listeners, ls)
			}
		}
		switch {
		case len(matched) == 0:
			ps.reason, ps.message = string(gwapiv1.RouteReasonNoMatchingParent), "No listeners match this parent ref"
		case len(allowed) == 0:
			ps.reason, ps.message = string(gwapiv1.RouteReasonNotAllowedByListeners), "No listeners included by this parent ref allowed this attachment."
		case len(ps.listeners) == 0:
			ps.reason, ps.message = string(gwapiv1.RouteReasonNoMatchingListenerHostname), "There were no hostname intersections between the HTTPRoute and this parent ref's Listener(s)."
		case !anyProgrammed(ps.listeners) && !w.rules.routeAcceptedWithoutReadyListener:
			ps.reason, ps.message = "NoReadyListeners", "There are no ready listeners for this parent ref"
			ps.listeners = nil
		default:
			ps.accepted = true
			ps.reason, ps.message = string(gwapiv1.RouteReasonAccepted), "Route is accepted"
		}
		for _, ls := range ps.listeners {
			ls.attached++
			if len(r.Spec.Hostnames) == 0 {
				ls.routeHosts = append(ls.routeHosts, "")
			}
			for _, h := range r.Spec.Hostnames {
				ls.routeHosts = append(ls.routeHosts, strings.ToLower(string(h)))
			}
		}
	}
	return rs
}

func anyProgrammed(ls []*listenerState) bool {
	for _, l := range ls {
		if l.programmed {
			return true
		}
	}
	return false
}

// namespaceAllowed applies a listener's allowedRoutes.namespaces (Same by
// default). The model does not evaluate namespace labels, so a Selector
// allows every namespace.
func namespaceAllowed(l gwapiv1.Listener, gatewayNS, routeNS string) bool {
	from := gwapiv1.NamespacesFromSame
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil && l.AllowedRoutes.Namespaces.From != nil {
		from = *l.AllowedRoutes.Namespaces.From
	}
	return from != gwapiv1.NamespacesFromSame || gatewayNS == routeNS
}

// routeMatchesListener reports whether any route hostname intersects the
// listener hostname (a route without hostnames matches every listener).
func routeMatchesListener(r *gwapiv1.HTTPRoute, listenerHost string) bool {
	if len(r.Spec.Hostnames) == 0 || listenerHost == "" {
		return true
	}
	for _, h := range r.Spec.Hostnames {
		rh := strings.ToLower(string(h))
		if topology.HostnameMatches(listenerHost, rh) || topology.HostnameMatches(rh, listenerHost) {
			return true
		}
		if strings.HasPrefix(rh, "*.") && strings.HasPrefix(listenerHost, "*.") &&
			(strings.HasSuffix(rh, listenerHost[1:]) || strings.HasSuffix(listenerHost, rh[1:])) {
			return true
		}
	}
	return false
}
