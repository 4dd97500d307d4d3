package topology

import (
	"sort"
	"strings"
)

// HostnameMatches reports whether host is served by a listener hostname
// pattern under Gateway API rules: an empty pattern matches every host, a
// pattern *.d matches any host with at least one more label in front of d
// (never d itself), and anything else matches only itself. Comparison
// ignores case.
func HostnameMatches(pattern, host string) bool {
	if pattern == "" {
		return true
	}
	// EqualFold instead of lowering both strings: the data plane model
	// calls this for every host and listener on each probe.
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return len(host) > len(suffix) && strings.EqualFold(host[len(host)-len(suffix):], suffix)
	}
	return strings.EqualFold(pattern, host)
}

// MatchesAnyHostname reports whether host matches one of the patterns
// (HostnameMatches).
func MatchesAnyHostname(patterns []string, host string) bool {
	for _, p := range patterns {
		if HostnameMatches(p, host) {
			return true
		}
	}
	return false
}

// hostnamesIntersect reports whether a route hostname and a listener hostname
// can both match one host (Gateway API HTTPRoute hostname rules, where either
// side may be a wildcard).
func hostnamesIntersect(listener, route string) bool {
	if listener == "" || route == "" {
		return true
	}
	if HostnameMatches(listener, route) || HostnameMatches(route, listener) {
		return true
	}
	return strings.HasPrefix(listener, "*.") && strings.HasPrefix(route, "*.") &&
		(strings.HasSuffix(listener, route[1:]) || strings.HasSuffix(route, listener[1:]))
}

// Attachment is one route bound to one listener.
type Attachment struct {
	Gateway  string // namespace/name
	Listener string
	Route    string // namespace/name
	// Explicit is true when the parentRef named the listener by sectionName.
	Explicit bool
}

// Attachments computes which listener each route binds to. A parentRef with
// sectionName binds to that listener only (no fallback when it does not
// exist or does not accept the route); without sectionName the route binds
// to every HTTP or HTTPS listener of the Gateway whose hostname intersects
// the route's hostnames and whose allowedRoutes admits the route's
// namespace. The result is sorted by Gateway, listener and route.
func (inv *Inventory) Attachments() []Attachment {
	var out []Attachment
	for ri := range inv.Routes {
		route := &inv.Routes[ri]
		for _, ref := range route.ParentRefs {
			gw := inv.Gateway(ref.Namespace, ref.Name)
			if gw == nil {
				continue
			}
			for li := range gw.Listeners {
				l := &gw.Listeners[li]
				if ref.SectionName != "" && ref.SectionName != l.Name {
					continue
				}
				if ref.Port != 0 && ref.Port != l.Port {
					continue
				}
				if !RouteAccepted(gw, l, route) {
					continue
				}
				out = append(out, Attachment{
					Gateway:  gw.Namespace + "/" + gw.Name,
					Listener: l.Name,
					Route:    route.Key(),
					Explicit: ref.SectionName != "",
				})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Gateway != b.Gateway {
			return a.Gateway < b.Gateway
		}
		if a.Listener != b.Listener {
			return a.Listener < b.Listener
		}
		return a.Route < b.Route
	})
	return dedupeAttachments(out)
}

// RouteAccepted reports whether listener l of gw accepts the HTTPRoute: an
// HTTP or HTTPS listener, a namespace allowed by allowedRoutes (Same unless
// set; Selector is taken as allowing, since labels are not inventoried) and
// at least one intersecting hostname.
func RouteAccepted(gw *Gateway, l *Listener, route *Route) bool {
	if l.Protocol != ProtocolHTTP && l.Protocol != ProtocolHTTPS {
		return false
	}
	switch l.AllowedNamespaces {
	case "", "Same":
		if route.Namespace != gw.Namespace {
			return false
		}
	}
	if len(route.Hostnames) == 0 {
		return true
	}
	for _, h := range route.Hostnames {
		if hostnamesIntersect(l.Hostname, h) {
			return true
		}
	}
	return false
}

func dedupeAttachments(in []Attachment) []Attachment {
	out := in[:0]
	for i, a := range in {
		if i > 0 {
			prev := out[len(out)-1]
			if prev.Gateway == a.Gateway && prev.Listener == a.Listener && prev.Route == a.Route {
				out[len(out)-1].Explicit = prev.Explicit || a.Explicit
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// Gateway returns the Gateway namespace/name, or nil.
func (inv *Inventory) Gateway(namespace, name string) *Gateway {
	for i := range inv.Gateways {
		if inv.Gateways[i].Namespace == namespace && inv.Gateways[i].Name == name {
			return &inv.Gateways[i]
		}
	}
	return nil
}

// Route returns the HTTPRoute namespace/name, or nil.
func (inv *Inventory) Route(namespace, name string) *Route {
	for i := range inv.Routes {
		if inv.Routes[i].Namespace == namespace && inv.Routes[i].Name == name {
			return &inv.Routes[i]
		}
	}
	return nil
}

// Certificate returns the Certificate namespace/name, or nil.
func (inv *Inventory) Certificate(namespace, name string) *Certificate {
	for i := range inv.Certificates {
		if inv.Certificates[i].Namespace == namespace && inv.Certificates[i].Name == name {
			return &inv.Certificates[i]
		}
	}
	return nil
}

// Issuer returns the issuer a Certificate in namespace refers to, or nil.
func (inv *Inventory) Issuer(namespace string, ref IssuerRef) *Issuer {
	for i := range inv.Issuers {
		is := &inv.Issuers[i]
		if is.Name != ref.Name {
			continue
		}
		if ref.Kind == "ClusterIssuer" && is.Kind == "ClusterIssuer" {
			return is
		}
		if (ref.Kind == "" || ref.Kind == "Issuer") && is.Kind == "Issuer" && is.Namespace == namespace {
			return is
		}
	}
	return nil
}

// Secret returns the Secret namespace/name, or nil.
func (inv *Inventory) Secret(namespace, name string) *Secret {
	for i := range inv.Secrets {
		if inv.Secrets[i].Namespace == namespace && inv.Secrets[i].Name == name {
			return &inv.Secrets[i]
		}
	}
	return nil
}
