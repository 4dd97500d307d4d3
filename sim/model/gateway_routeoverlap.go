package model

import (
	"sort"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// conditionRouteRulesOverlap is the type and the reason of the route
// condition Envoy Gateway 1.9 sets on routes whose rules match the same
// requests on one listener (status.RouteConditionRouteRulesOverlap).
const conditionRouteRulesOverlap = "RouteRulesOverlap"

// markRouteRulesOverlap finds routes that match the same requests on one
// programmed listener and lists, on each parentRef whose allowed
// listeners include that listener, the other routes. It follows Envoy
// Gateway 1.9's checkRouteOverlaps (internal/gatewayapi/route.go, v1.9.1):
// two routes overlap when one of their rule matches has the same
// hostname, path, headers (with the method) and query parameters. Only
// programmed listeners count, because only they carry routes to the data
// plane. The condition is Envoy Gateway's own, so Gateways of Istio's
// class do not get it.
func markRouteRulesOverlap(e *edge) {
	overlaps := map[*listenerState]map[*routeState]map[*routeState]bool{}
	for _, key := range e.order {
		gs := e.gateways[key]
		if gs.controller != envoyGatewayController {
			continue
		}
		for _, ls := range gs.listeners {
			if !ls.programmed {
				continue
			}
			buckets := map[string][]*routeState{}
			for _, b := range ls.routes {
				for _, k := range routeMatchKeys(b.route.route, b.hosts) {
					if !containsRoute(buckets[k], b.route) {
						buckets[k] = append(buckets[k], b.route)
					}
				}
			}
			for _, routes := range buckets {
				if len(routes) < 2 {
					continue
				}
				if overlaps[ls] == nil {
					overlaps[ls] = map[*routeState]map[*routeState]bool{}
				}
				for _, r := range routes {
					if overlaps[ls][r] == nil {
						overlaps[ls][r] = map[*routeState]bool{}
					}
					for _, other := range routes {
						if other != r {
							overlaps[ls][r][other] = true
						}
					}
				}
			}
		}
	}
	if len(overlaps) == 0 {
		return
	}

	for _, rs := range e.routes {
		for _, ps := range rs.parents {
			names := map[string]bool{}
			for _, ls := range ps.allowed {
				for other := range overlaps[ls][rs] {
					names["HTTPRoute "+other.key] = true
				}
			}
			for n := range names {
				ps.overlap = append(ps.overlap, n)
			}
			sort.Strings(ps.overlap)
		}
	}
}

func containsRoute(routes []*routeState, r *routeState) bool {
	for _, x := range routes {
		if x == r {
			return true
		}
	}
	return false
}

// routeMatchKeys returns one key per hostname and rule match of a route.
// Matches that select the same requests get equal keys, as in Envoy
// Gateway's buildOverlapKey. A missing path is the prefix "/", and a
// prefix loses one trailing slash. Header names are case-insensitive, the
// method is a ":method" header, and the order of headers and query
// parameters does not matter. A rule without matches, and a route
// without rules (the Gateway CRD's default is one rule for the prefix
// "/"), match every request.
func routeMatchKeys(r *gwapiv1.HTTPRoute, hosts []string) []string {
	everything := matchKey(gwapiv1.HTTPRouteMatch{})
	var matches []string
	for _, rule := range r.Spec.Rules {
		if len(rule.Matches) == 0 {
			matches = append(matches, everything)
			continue
		}
		for _, m := range rule.Matches {
			matches = append(matches, matchKey(m))
		}
	}
	if len(r.Spec.Rules) == 0 {
		matches = append(matches, everything)
	}
	var keys []string
	for _, h := range hosts {
		for _, m := range matches {
			keys = append(keys, h+"\x02"+m)
		}
	}
	return keys
}

func matchKey(m gwapiv1.HTTPRouteMatch) string {
	var headers, query []string
	for _, h := range m.Headers {
		headers = append(headers, strings.ToLower(string(h.Name))+"\x00"+string(headerMatchType(h.Type))+"\x00"+h.Value)
	}
	if m.Method != nil {
		headers = append(headers, ":method\x00"+string(gwapiv1.HeaderMatchExact)+"\x00"+string(*m.Method))
	}
	for _, q := range m.QueryParams {
		typ := gwapiv1.QueryParamMatchExact
		if q.Type != nil {
			typ = *q.Type
		}
		query = append(query, string(q.Name)+"\x00"+string(typ)+"\x00"+q.Value)
	}
	sort.Strings(headers)
	sort.Strings(query)
	return pathKey(m.Path) + "\x02" + strings.Join(headers, "\x01") + "\x02" + strings.Join(query, "\x01")
}

func headerMatchType(t *gwapiv1.HeaderMatchType) gwapiv1.HeaderMatchType {
	if t == nil {
		return gwapiv1.HeaderMatchExact
	}
	return *t
}

// pathKey renders a path match with the Gateway API's defaults, the type
// PathPrefix and the value "/".
func pathKey(p *gwapiv1.HTTPPathMatch) string {
	typ, value := gwapiv1.PathMatchPathPrefix, "/"
	if p != nil {
		if p.Type != nil {
			typ = *p.Type
		}
		if p.Value != nil {
			value = *p.Value
		}
	}
	if typ == gwapiv1.PathMatchPathPrefix && value != "/" {
		value = strings.TrimSuffix(value, "/")
	}
	return string(typ) + "\x00" + value
}
