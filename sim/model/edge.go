package model

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The edge model follows Envoy Gateway's Gateway API translation: listener
// status from the certificate Secrets, route binding, and the TLS and HTTP
// matching of the proxy. Istio Gateways are modelled with the same rules.

// Controller names of the Gateway classes the model serves.
const (
	envoyGatewayController = "gateway.envoyproxy.io/gatewayclass-controller"
	istioController        = "istio.io/gateway-controller"
)

// edgeKinds are the kinds the edge model reads, and the write counter of
// the Secrets Gateways reference.
var edgeKinds = []string{"Gateway", "HTTPRoute", "GatewayClass", gatewaySecretWrites, "ReferenceGrant"}

// listenerState is the controller's view of one listener.
type listenerState struct {
	name       string
	spec       gwapiv1.Listener
	hostname   string // empty matches every host
	port       int32
	protocol   gwapiv1.ProtocolType
	terminates bool // HTTPS, or TLS in Terminate mode
	// conditions are the listener's status conditions in the order Envoy
	// Gateway sets them; see setCondition.
	conditions []metav1.Condition
	// specValid: the listener passed the checks of its own spec, so it
	// takes part in the conflict checks.
	specValid          bool
	protocolConflicted bool
	supportedKinds     []gwapiv1.RouteGroupKind
	programmed         bool
	cert               *keyPair // the first valid certificate
	certNames          []string // SANs of every valid certificate
	// validity bounds the times at which the certificates checked are
	// judged as they were; see translateListeners.
	validity validityWindow
	attached int32
	// routes are the routes bound to the listener, with the hostnames
	// they serve on it.
	routes []boundRoute
	// claimed maps a route hostname the listener does not serve because
	// another listener of its port names it to that listener.
	claimed map[string]*listenerState
}

// boundRoute is a route bound to a listener and the hostnames it serves
// there.
type boundRoute struct {
	route *routeState
	hosts []string
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
	// allowed are the listeners the parentRef selects that allow the
	// route; listeners are those among them the route binds to.
	allowed   []*listenerState
	listeners []*listenerState
	// overlap lists the routes whose rules overlap this route's on one of
	// the allowed listeners (RouteRulesOverlap), empty when none.
	overlap []string
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

// computeEdge reads Gateway classes, Gateways, HTTPRoutes,
// ReferenceGrants and the certificate Secrets, and decides listener
// readiness and route binding.
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
	var grants gwapiv1.ReferenceGrantList
	if err := w.listShared(ctx, &grants); err != nil {
		return nil, fmt.Errorf("list ReferenceGrants: %w", err)
	}

	e := &edge{gateways: map[string]*gatewayState{}}
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		ctrl := controllers[string(gw.Spec.GatewayClassName)]
		if ctrl != envoyGatewayController && ctrl != istioController {
			continue
		}
		gs := &gatewayState{key: gw.Namespace + "/" + gw.Name, gw: gw, controller: ctrl}
		w.translateListeners(gs, grants.Items)
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
	if w.rules.routeRulesOverlap {
		markRouteRulesOverlap(e)
	}
	return e, nil
}

// bindRoute decides each parentRef of a route: the listeners it binds to
// and its Accepted condition, as Envoy Gateway's
// processAllowedListenersForParentRefs and
// processHTTPRouteParentRefListener do (internal/gatewayapi/route.go,
// v1.8.0 and v1.9.1). A parentRef selects the listeners its sectionName
// and port name. Those that allow the route's kind and namespace are
// allowed. The route binds to each allowed listener where it keeps a
// hostname (computeHosts), whether that listener is programmed or not.
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
		var selected []*listenerState
		for _, ls := range gs.listeners {
			if ref.SectionName != nil && string(*ref.SectionName) != ls.name {
				continue
			}
			if ref.Port != nil && int32(*ref.Port) != ls.port {
				continue
			}
			selected = append(selected, ls)
			if ls.allowsKind("HTTPRoute") && namespaceAllowed(ls.spec, gs.gw.Namespace, r.Namespace) {
				ps.allowed = append(ps.allowed, ls)
			}
		}
		switch {
		case len(selected) == 0:
			ps.reason, ps.message = string(gwapiv1.RouteReasonNoMatchingParent), "No listeners match this parent ref"
			continue
		case len(ps.allowed) == 0:
			ps.reason, ps.message = string(gwapiv1.RouteReasonNotAllowedByListeners), "No listeners included by this parent ref allowed this attachment."
			continue
		case !anyProgrammed(ps.allowed) && !w.rules.routeAcceptedWithoutReadyListener:
			// Envoy Gateway 1.8 (processAllowedListenersForParentRefs):
			// no allowed listener is ready. The route still binds below.
			ps.reason, ps.message = "NoReadyListeners", "There are no ready listeners for this parent ref"
		default:
			ps.accepted = true
			ps.reason, ps.message = string(gwapiv1.RouteReasonAccepted), "Route is accepted"
		}
		for _, ls := range ps.allowed {
			hosts := w.computeHosts(r, ls, gs)
			if len(hosts) == 0 {
				continue
			}
			ls.attached++
			ps.listeners = append(ps.listeners, ls)
			ls.routes = append(ls.routes, boundRoute{route: rs, hosts: hosts})
		}
		if len(ps.listeners) == 0 {
			ps.accepted = false
			ps.reason, ps.message = string(gwapiv1.RouteReasonNoMatchingListenerHostname), "There were no hostname intersections between the HTTPRoute and this parent ref's Listener(s)."
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

// computeHosts returns the hostnames a route serves on a listener, as
// Envoy Gateway's computeHosts does (internal/gatewayapi/helpers.go,
// v1.8.0 and v1.9.1). They are the intersections of the route's hostnames
// with the listener's hostname. A route without hostnames serves the
// listener's hostname, or "*" when the listener has none.
//
// With listener isolation (Envoy Gateway 1.2+), a hostname that another
// listener of the same port names exactly is dropped, whether that
// listener is programmed or not, and recorded in ls.claimed. This is
// what isolates a per-host listener from a wildcard listener: a route
// that keeps grafana.example.com on the wildcard listener while a
// listener for grafana.example.com exists binds nothing there.
func (w *World) computeHosts(r *gwapiv1.HTTPRoute, ls *listenerState, gs *gatewayState) []string {
	if len(r.Spec.Hostnames) == 0 {
		if ls.hostname != "" {
			return []string{ls.hostname}
		}
		return []string{"*"}
	}

	var hosts []string
	add := func(h string) {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, h := range r.Spec.Hostnames {
		rh := strings.ToLower(string(h))
		lh := ls.hostname
		switch {
		case lh == "" || lh == rh:
			add(rh)
		case strings.HasPrefix(lh, "*") && strings.HasPrefix(rh, "*"):
			if wildcardMatches(rh, lh) {
				add(lh)
			}
			if wildcardMatches(lh, rh) {
				add(rh)
			}
		case strings.HasPrefix(lh, "*"):
			if wildcardMatches(lh, rh) {
				add(rh)
			}
		case strings.HasPrefix(rh, "*"):
			if wildcardMatches(rh, lh) {
				add(lh)
			}
		}
	}

	if w.rules.listenerIsolation {
		for _, other := range gs.listeners {
			if other == ls || other.port != ls.port || other.hostname == "" {
				continue
			}
			i := slices.Index(hosts, other.hostname)
			if i < 0 {
				continue
			}
			hosts = slices.Delete(hosts, i, i+1)
			if ls.claimed == nil {
				ls.claimed = map[string]*listenerState{}
			}
			ls.claimed[other.hostname] = other
		}
	}
	sort.Strings(hosts)
	return hosts
}

// wildcardMatches is Envoy Gateway's wildcardHostnameMatchesHostname: a
// wildcard covers one or more labels of a hostname, and a wildcard
// hostname with a longer suffix.
func wildcardMatches(wildcard, hostname string) bool {
	suffix := strings.TrimPrefix(wildcard, "*")
	if !strings.HasPrefix(hostname, "*") {
		return strings.HasSuffix(hostname, suffix) && len(hostname) > len(suffix)
	}
	remaining, ok := strings.CutSuffix(strings.TrimPrefix(hostname, "*"), suffix)
	return ok && strings.HasPrefix(remaining, ".")
}
