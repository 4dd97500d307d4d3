package plan

import (
	"slices"
	"sort"
	"strings"

	"github.com/certwave/certwave/topology"
)

// gatewayPlan is the planner's view of one Gateway.
type gatewayPlan struct {
	gw  *topology.Gateway
	key string // namespace/name
	// cohort is public, internal or out-of-scope; reason explains
	// out-of-scope.
	cohort string
	reason string
	// issuer is Kind/name of the issuer of the Gateway's hosts.
	issuer string
	// effects are the shim's reactions to annotating the Gateway. unsafe is
	// the reason annotating is unsafe, so that the plan creates the
	// Certificates itself, and empty when annotating is safe.
	effects []shimEffect
	unsafe  string
	hosts   []*hostPlan
}

// hostPlan is one host with what the schedule needs besides Host.
type hostPlan struct {
	Host
	gw   *gatewayPlan
	from *topology.Listener
	// key names the host in step IDs: the app, or namespace-app when two
	// Gateways' namespaces use the same app.
	key string
	// refs are the parentRefs to flip, one per route.
	refs []routeRef
}

// routeRef is a route's parentRef to the host's Gateway: FromSection is its
// sectionName, empty when it has none.
type routeRef struct {
	route       string
	fromSection string
}

// hostlessRoute is a route without hostnames on a listener the plan
// migrates away from.
type hostlessRoute struct {
	route    string
	gateway  string
	listener string
}

// analysis is everything the planner derives from the inventory before it
// schedules steps.
type analysis struct {
	inv      *topology.Inventory
	opts     Options
	gateways []*gatewayPlan
	hosts    []*hostPlan // sorted by Gateway, then hostname
	hostless []hostlessRoute
	renames  []rename
}

// isSourceListener reports whether hosts on l move to listeners of their
// own: an HTTPS listener that terminates TLS with a certificate and matches
// many hosts (no hostname or a wildcard). A listener with an exact hostname
// is already in the target shape.
func isSourceListener(l *topology.Listener) bool {
	return l.Protocol == topology.ProtocolHTTPS && l.TerminatesTLS() && len(l.CertificateRefs) > 0 &&
		(l.Hostname == "" || strings.HasPrefix(l.Hostname, "*."))
}

// analyze splits the inventory into cohorts and hosts under resolved opts.
func analyze(inv *topology.Inventory, opts Options) *analysis {
	a := &analysis{inv: inv, opts: opts}
	byKey := map[string]*gatewayPlan{}
	for i := range inv.Gateways {
		g := classifyGateway(inv, &inv.Gateways[i], opts)
		a.gateways = append(a.gateways, g)
		byKey[g.key] = g
	}
	a.collectHosts(byKey)
	a.renames = assignApps(a.hosts)
	for _, h := range a.hosts {
		h.gw.hosts = append(h.gw.hosts, h)
	}
	return a
}

func classifyGateway(inv *topology.Inventory, gw *topology.Gateway, opts Options) *gatewayPlan {
	g := &gatewayPlan{gw: gw, key: gw.Namespace + "/" + gw.Name}
	terminating, passthrough := 0, 0
	for i := range gw.Listeners {
		l := &gw.Listeners[i]
		switch {
		case l.TerminatesTLS():
			terminating++
		case l.TLSMode == topology.TLSModePassthrough:
			passthrough++
		}
	}
	switch {
	case terminating == 0 && passthrough > 0:
		g.cohort, g.reason = CohortOutOfScope, "only TLS passthrough listeners: the backends hold their own certificates"
		return g
	case terminating == 0:
		g.cohort, g.reason = CohortOutOfScope, "no listener terminates TLS"
		return g
	}

	g.cohort, g.issuer = CohortPublic, opts.ACMEIssuer
	if opts.Variant == VariantHybrid && slices.Contains(opts.InternalGateways, g.key) {
		g.cohort, g.issuer = CohortInternal, opts.PrivateIssuer
	}
	g.effects = shimEffects(inv, gw)
	g.unsafe = unsafeToAnnotate(g.effects)
	return g
}

// collectHosts turns the attachments to source listeners into hosts, one
// per Gateway and hostname, and records hostless routes.
func (a *analysis) collectHosts(byKey map[string]*gatewayPlan) {
	index := map[string]*hostPlan{}
	seenHostless := map[string]bool{}
	for _, att := range a.inv.Attachments() {
		g := byKey[att.Gateway]
		if g == nil || g.cohort == CohortOutOfScope {
			continue
		}
		l := g.gw.Listener(att.Listener)
		if l == nil || !isSourceListener(l) {
			continue
		}
		rns, rname, _ := strings.Cut(att.Route, "/")
		route := a.inv.Route(rns, rname)
		if route == nil {
			continue
		}
		if len(route.Hostnames) == 0 {
			k := att.Gateway + "|" + att.Listener + "|" + att.Route
			if !seenHostless[k] {
				seenHostless[k] = true
				a.hostless = append(a.hostless, hostlessRoute{route: att.Route, gateway: att.Gateway, listener: att.Listener})
			}
			continue
		}
		ref := routeRef{route: att.Route, fromSection: parentSection(route, g.gw, l.Name)}
		for _, name := range route.Hostnames {
			name = strings.ToLower(name)
			if !listenerServes(l.Hostname, name) {
				continue
			}
			k := g.key + "|" + name
			h := index[k]
			if h == nil {
				h = &hostPlan{gw: g, from: l, Host: Host{
					Hostname:     name,
					Gateway:      g.key,
					Cohort:       g.cohort,
					Issuer:       g.issuer,
					FromListener: l.Name,
					Manual:       g.unsafe != "",
				}}
				index[k] = h
				a.hosts = append(a.hosts, h)
			}
			if !slices.Contains(h.Routes, att.Route) {
				h.Routes = append(h.Routes, att.Route)
				h.refs = append(h.refs, ref)
			}
		}
	}
	sort.SliceStable(a.hosts, func(i, j int) bool {
		if a.hosts[i].Gateway != a.hosts[j].Gateway {
			return a.hosts[i].Gateway < a.hosts[j].Gateway
		}
		return a.hosts[i].Hostname < a.hosts[j].Hostname
	})
	for _, h := range a.hosts {
		sort.Strings(h.Routes)
		sort.SliceStable(h.refs, func(i, j int) bool { return h.refs[i].route < h.refs[j].route })
	}
}

// parentSection returns the sectionName of the route's parentRef that binds
// it to listener of gw: the listener's name, or "" for a parentRef without
// sectionName.
func parentSection(route *topology.Route, gw *topology.Gateway, listener string) string {
	for _, ref := range route.ParentRefs {
		if ref.Namespace == gw.Namespace && ref.Name == gw.Name && ref.SectionName == listener {
			return listener
		}
	}
	return ""
}

// listenerServes reports whether a listener hostname pattern serves a route
// hostname, which may itself be a wildcard.
func listenerServes(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		return topology.HostnameMatches(pattern, "x."+rest)
	}
	return topology.HostnameMatches(pattern, host)
}

// cohorts returns the plan's cohorts in a fixed order: public, internal,
// out-of-scope; empty ones are left out.
func (a *analysis) cohorts() []Cohort {
	var out []Cohort
	for _, name := range []string{CohortPublic, CohortInternal} {
		c := Cohort{Name: name}
		for _, g := range a.gateways {
			if g.cohort == name {
				c.Gateways = append(c.Gateways, g.key)
			}
		}
		for _, h := range a.hosts {
			if h.Cohort == name {
				c.Hosts = append(c.Hosts, h.Host)
			}
		}
		if len(c.Gateways) > 0 {
			out = append(out, c)
		}
	}
	out0 := Cohort{Name: CohortOutOfScope}
	var reasons []string
	for _, g := range a.gateways {
		if g.cohort == CohortOutOfScope {
			out0.Gateways = append(out0.Gateways, g.key)
			reasons = append(reasons, g.key+": "+g.reason)
		}
	}
	if len(out0.Gateways) > 0 {
		out0.Reason = strings.Join(reasons, "; ")
		out = append(out, out0)
	}
	return out
}

// gateway returns the Gateway plan for namespace/name, or nil.
func (a *analysis) gateway(key string) *gatewayPlan {
	for _, g := range a.gateways {
		if g.key == key {
			return g
		}
	}
	return nil
}
