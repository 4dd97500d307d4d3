package model

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// httpsPort is the only port the prober connects to, so listeners on
// other ports are never probed.
const httpsPort = 443

// dataplane is the served configuration of the proxies, rebuilt after
// every settle.
type dataplane struct {
	gateways map[string]*gatewayState
	// hostGateways are, per exact route hostname, the Gateways (namespace/
	// name, sorted) with a route for it: where DNS points.
	hostGateways map[string][]string
	// tls caches, per Gateway, its programmed terminating listeners on
	// httpsPort. serve fills it.
	tls map[string][]*listenerState
}

// servingListeners returns gs's programmed terminating listeners on
// httpsPort.
func (p *dataplane) servingListeners(gs *gatewayState) []*listenerState {
	if sl, ok := p.tls[gs.key]; ok {
		return sl
	}
	sl := []*listenerState{}
	for _, ls := range gs.listeners {
		if ls.port == httpsPort && ls.terminates && ls.programmed {
			sl = append(sl, ls)
		}
	}
	if p.tls == nil {
		p.tls = map[string][]*listenerState{}
	}
	p.tls[gs.key] = sl
	return sl
}

// rebuildDataplane recomputes the served configuration and remembers where
// each hostname's DNS points. A hostname whose routes are gone keeps its
// last Gateway, as a DNS record would.
func (w *World) rebuildDataplane() {
	if w.plane != nil && w.unchanged("dataplane", edgeKinds...) {
		return
	}
	// The data plane reads only the spec side of the edge, so an edge
	// computed before a status write is still current.
	e := w.lastEdge
	if e == nil || w.lastEdgeVersion != w.writeVersion(edgeKinds...) {
		var err error
		if e, err = w.computeEdge(); err != nil {
			w.recordError("compute data plane", err)
			return
		}
	}
	p := &dataplane{gateways: e.gateways, hostGateways: map[string][]string{}}
	for _, rs := range e.routes {
		for _, ps := range rs.parents {
			for _, h := range rs.route.Spec.Hostnames {
				host := strings.ToLower(string(h))
				if strings.HasPrefix(host, "*") {
					continue
				}
				if !containsString(p.hostGateways[host], ps.gateway.key) {
					p.hostGateways[host] = append(p.hostGateways[host], ps.gateway.key)
				}
			}
		}
	}
	for h, gws := range p.hostGateways {
		// An HTTPS client's DNS record points at a Gateway that terminates
		// TLS on port 443; among several, the first by name.
		sort.Slice(gws, func(i, j int) bool {
			ti, tj := p.terminatesHTTPS(gws[i]), p.terminatesHTTPS(gws[j])
			if ti != tj {
				return ti
			}
			return gws[i] < gws[j]
		})
		w.avail.remember(h, gws[0])
	}
	w.plane = p
}

// serve returns what a client gets from gateway for host with the given
// SNI at now. Envoy picks the filter chain of the programmed listener
// that matches the SNI best, then routes host with the routes bound to
// that listener only: each HTTPS listener has its own route
// configuration (httpsListenerFilterChainName in Envoy Gateway's
// internal/xds/translator/listener.go, v1.9.1).
func (p *dataplane) serve(gateway, sni, host string, now time.Time) engine.ProbeResult {
	res := engine.ProbeResult{Host: host}
	gs := p.gateways[gateway]
	if gs == nil {
		res.Outcome, res.Detail = engine.OutcomeRefused, fmt.Sprintf("Gateway %s is not served", gateway)
		return res
	}

	programmed := p.servingListeners(gs)
	if len(programmed) == 0 {
		res.Outcome, res.Detail = engine.OutcomeRefused, fmt.Sprintf("Gateway %s has no programmed TLS listener on port %d", gateway, httpsPort)
		return res
	}

	sel := selectListener(programmed, sni)
	if sel == nil {
		res.Outcome, res.Detail = engine.OutcomeHandshakeFailure, fmt.Sprintf("no listener of Gateway %s matches SNI %s", gateway, sni)
		return res
	}
	cert := sel.cert.cert
	res.SANs = append([]string(nil), cert.DNSNames...)
	res.Issuer = cert.Issuer.CommonName
	res.NotBefore, res.NotAfter = cert.NotBefore, cert.NotAfter
	if err := cert.VerifyHostname(sni); err != nil {
		res.Outcome, res.Detail = engine.OutcomeHandshakeFailure, fmt.Sprintf("listener %s serves a certificate for %s, not %s", sel.name, strings.Join(cert.DNSNames, ","), sni)
		return res
	}
	if now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		res.Outcome, res.Detail = engine.OutcomeHandshakeFailure, fmt.Sprintf("listener %s serves a certificate valid %s to %s", sel.name, formatTime(cert.NotBefore), formatTime(cert.NotAfter))
		return res
	}

	if !routesHost(sel, host) {
		res.Outcome = engine.OutcomeNotFound
		res.Detail = fmt.Sprintf("listener %s has no route for %s", sel.name, host)
		if other := sel.claimed[strings.ToLower(host)]; other != nil {
			res.Detail = fmt.Sprintf("listener %s does not serve %s: listener %s (hostname %s) claims it", sel.name, host, other.name, other.hostname)
		}
		return res
	}
	res.Outcome = engine.OutcomeServed
	return res
}

// selectListener picks the filter chain for an SNI: an exact hostname
// beats the longest matching wildcard, which beats a listener without
// hostname.
func selectListener(listeners []*listenerState, sni string) *listenerState {
	sni = strings.ToLower(sni)
	var best *listenerState
	for _, ls := range listeners {
		if !topology.HostnameMatches(ls.hostname, sni) {
			continue
		}
		if best == nil || moreSpecific(ls.hostname, best.hostname) {
			best = ls
		}
	}
	return best
}

// moreSpecific reports whether hostname a is a more specific listener
// hostname than b: exact beats wildcard, a longer wildcard suffix beats a
// shorter one, and anything beats the empty hostname.
func moreSpecific(a, b string) bool {
	switch {
	case a == b:
		return false
	case b == "":
		return true
	case a == "":
		return false
	}
	aWild, bWild := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	if aWild != bWild {
		return !aWild
	}
	return len(a) > len(b)
}

// routesHost reports whether a route bound to the listener serves host
// on it.
func routesHost(ls *listenerState, host string) bool {
	if !topology.HostnameMatches(ls.hostname, host) {
		return false
	}
	for _, b := range ls.routes {
		for _, h := range b.hosts {
			if topology.HostnameMatches(h, host) {
				return true
			}
		}
	}
	return false
}

// earliestExpiry returns the first notAfter after now among the served
// certificates, zero when none.
func (p *dataplane) earliestExpiry(now time.Time) time.Time {
	var first time.Time
	for _, gs := range p.gateways {
		for _, ls := range gs.listeners {
			if ls.cert == nil {
				continue
			}
			for _, t := range []time.Time{ls.cert.cert.NotAfter, ls.cert.cert.NotBefore} {
				if t.After(now) && (first.IsZero() || t.Before(first)) {
					first = t
				}
			}
		}
	}
	return first
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// terminatesHTTPS reports whether the Gateway has a listener terminating
// TLS on port 443.
func (p *dataplane) terminatesHTTPS(gateway string) bool {
	gs := p.gateways[gateway]
	if gs == nil {
		return false
	}
	for _, ls := range gs.listeners {
		if ls.port == httpsPort && ls.terminates {
			return true
		}
	}
	return false
}
