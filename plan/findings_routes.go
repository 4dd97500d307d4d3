package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/certwave/certwave/topology"
)

// twoWriterFindings reports Secrets with two Certificate writers: today,
// after annotating a Gateway, and for the per-host Secrets the plan names.
func (a *analysis) twoWriterFindings() []Finding {
	var out []Finding
	bySecret := map[string][]string{}
	for _, c := range a.inv.Certificates {
		key := c.Namespace + "/" + c.SecretName
		bySecret[key] = append(bySecret[key], c.Ref().String())
	}
	for _, key := range sortedKeys(bySecret) {
		writers := bySecret[key]
		if len(writers) < 2 {
			continue
		}
		out = append(out, Finding{
			ID:       FindingTwoWriters,
			Severity: SeverityBlocker,
			Objects:  append(writers, "Secret/"+key),
			Summary:  fmt.Sprintf("%d Certificates write Secret %s: %s.", len(writers), key, strings.Join(writers, ", ")),
			Mechanism: "cert-manager never checks who owns a Secret. Each Certificate sees the other's certificate as not matching its spec (dnsNames, issuer) and re-issues, " +
				"so the Secret flips between them and every flip spends an ACME order.",
			Fix: "Keep one writer: delete the other Certificate or give it a secretName of its own, then run the preflight again.",
		})
	}

	for _, g := range a.annotatedGateways() {
		for _, e := range g.effects {
			if e.action != shimCreate || e.mirrorOf != "" || len(e.writers) == 0 {
				continue
			}
			objects := []string{g.gw.Ref().String(), "Secret/" + e.secret}
			for _, w := range e.writers {
				objects = append(objects, "Certificate/"+w)
			}
			out = append(out, Finding{
				ID:       FindingTwoWriters,
				Severity: SeverityWarning,
				Objects:  objects,
				Summary: fmt.Sprintf("Annotating Gateway %s would create Certificate %s for listener %s, a second writer of Secret %s besides %s.",
					g.key, e.secret, strings.Join(e.listeners, ", "), e.secret, strings.Join(e.writers, ", ")),
				Mechanism: "The shim names its Certificate after the Secret and creates it when no Certificate of that name exists; it does not look at which Certificate writes the Secret. " +
					"The two Certificates then overwrite each other's certificate, each time with a new ACME order.",
				Fix: "The plan does not annotate this Gateway and creates the per-host Certificates itself. To let the shim handle it, rename the existing Certificate to the Secret's name first.",
			})
		}
	}

	for _, h := range a.hosts {
		if f, ok := a.plannedSecretCollision(h); ok {
			out = append(out, f)
		}
	}
	return out
}

// plannedSecretCollision reports an existing Certificate that already
// claims the name or the Secret of a host's planned Certificate.
func (a *analysis) plannedSecretCollision(h *hostPlan) (Finding, bool) {
	ns := h.gw.gw.Namespace
	var others []string
	for _, c := range a.inv.Certificates {
		if c.Namespace != ns || (c.Name != h.SecretName && c.SecretName != h.SecretName) {
			continue
		}
		if c.Name == h.SecretName && c.OwnerGateway == h.Gateway && !h.Manual {
			continue // the shim already owns it from an earlier run
		}
		others = append(others, c.Ref().String())
	}
	if len(others) == 0 {
		return Finding{}, false
	}
	return Finding{
		ID:       FindingTwoWriters,
		Severity: SeverityBlocker,
		Objects:  append([]string{h.gw.gw.Ref().String(), "Secret/" + ns + "/" + h.SecretName}, others...),
		Summary: fmt.Sprintf("The Certificate planned for %s (Secret %s/%s) collides with %s, which the Gateway does not own.",
			h.Hostname, ns, h.SecretName, strings.Join(others, ", ")),
		Mechanism: "The shim leaves an existing Certificate of the Secret's name alone when the Gateway does not own it, so listener " + h.Listener +
			" would serve whatever that Certificate issues. A Certificate of another name writing the same Secret becomes a second writer, and the two re-issue in turn.",
		Fix: "Delete or rename the existing Certificate, or move the host to another app name, then plan again.",
	}, true
}

// routeFindings reports routes that bind without sectionName and routes
// without hostnames on the listeners the plan migrates.
func (a *analysis) routeFindings() []Finding {
	var out []Finding
	for _, g := range a.annotatedGateways() {
		var unnamed []string
		for _, h := range g.hosts {
			for _, ref := range h.refs {
				if ref.fromSection == "" {
					unnamed = appendUnique(unnamed, ref.route)
				}
			}
		}
		if len(unnamed) == 0 {
			continue
		}
		sort.Strings(unnamed)
		objects := []string{g.gw.Ref().String()}
		for _, r := range unnamed {
			objects = append(objects, "HTTPRoute/"+r)
		}
		out = append(out, Finding{
			ID:       FindingRouteWithoutSection,
			Severity: SeverityWarning,
			Objects:  objects,
			Summary:  fmt.Sprintf("%s to Gateway %s without sectionName: %s.", routesAttach(len(unnamed)), g.key, strings.Join(unnamed, ", ")),
			Mechanism: "A parentRef without sectionName binds to every listener whose hostname matches. With listener isolation (Envoy Gateway 1.2 and later) the wildcard listener stops serving a host " +
				"as soon as a listener for that exact hostname exists, even a broken one. Each of these routes therefore moves to its https-<app> listener when the plan adds it, " +
				"before the Certificate is Ready, and fails TLS until it is issued; the flip step only pins the route, and reverting sectionName is no rollback while the listener exists.",
			Fix: "Expect the move at the add-listener step, not at the flip. The flip adds a parentRef with sectionName and keeps the unnamed one, so the route keeps its other listeners such as port 80. " +
				"To move a host with no TLS gap, create its Certificate before its listener, as the plan does for hosts on Gateways it does not annotate.",
		})
	}

	for _, r := range a.hostless {
		out = append(out, Finding{
			ID:       FindingRouteWithoutHostname,
			Severity: SeverityWarning,
			Objects:  []string{"HTTPRoute/" + r.route, "Gateway/" + r.gateway},
			Summary:  fmt.Sprintf("Route %s has no hostnames and attaches to listener %s of Gateway %s, so it cannot get a listener of its own.", r.route, r.listener, r.gateway),
			Mechanism: "A per-host listener needs a hostname, and a route without hostnames matches every host of the listener it attaches to. " +
				"The plan leaves the route where it is, so phase 4 keeps listener " + r.listener + " and the Certificate and reflection its Secret depends on.",
			Fix: "Give the route its hostnames and plan again; the wildcard listener can then go too.",
		})
	}
	return out
}

// fixedSNIFindings reports client paths that send one server name for
// many hosts.
func (a *analysis) fixedSNIFindings() []Finding {
	var out []Finding
	for _, path := range a.inv.ClientPaths {
		if path.Kind != topology.ClientPathFixedSNI {
			continue
		}
		for _, g := range a.annotatedGateways() {
			if path.Gateway != "" && path.Gateway != g.key {
				continue
			}
			var affected []string
			for _, h := range g.hosts {
				if h.Hostname != strings.ToLower(path.ServerName) && path.CarriesHostname(h.Hostname) {
					affected = append(affected, h.Hostname)
				}
			}
			if len(affected) == 0 {
				continue
			}
			out = append(out, fixedSNIFinding(path, g, affected))
		}
	}
	return out
}

func fixedSNIFinding(path topology.ClientPath, g *gatewayPlan, affected []string) Finding {
	landing := "no listener"
	if l := sniListener(g.gw, path.ServerName); l != nil {
		landing = "listener " + l.Name
	}
	return Finding{
		ID:       FindingFixedSNIClient,
		Severity: SeverityBlocker,
		Objects:  []string{"ClientPath/" + path.Name, g.gw.Ref().String()},
		Summary: fmt.Sprintf("Client path %s sends the fixed server name %q for %d hosts on Gateway %s (%s); today it lands on %s.",
			path.Name, path.ServerName, len(affected), g.key, strings.Join(firstN(affected, 5), ", "), landing),
		Mechanism: "The Gateway picks the listener from the TLS server name (exact hostname first, then wildcard, then none) and routes by Host header only inside that listener. " +
			"A fixed server name keeps selecting the same listener, and listener isolation makes that listener stop serving each host once the host has a listener of its own. " +
			"Through this path each host then answers 404 from its wave on, and the handshake fails once phase 4 removes the wildcard listener.",
		Fix: "Make the path send each request's hostname as SNI, for example cloudflared's originRequest.matchSNItoHost: true, " +
			"or give it a listener and routes of its own for the fixed server name before phase 1.",
	}
}

// sniListener returns the HTTPS listener a handshake with serverName
// selects: an exact hostname, else the longest matching wildcard, else one
// without hostname.
func sniListener(gw *topology.Gateway, serverName string) *topology.Listener {
	var best *topology.Listener
	rank := func(l *topology.Listener) int {
		switch {
		case strings.EqualFold(l.Hostname, serverName):
			return 3000
		case l.Hostname == "":
			return 1
		default:
			return 2 + len(l.Hostname)
		}
	}
	for i := range gw.Listeners {
		l := &gw.Listeners[i]
		if l.Protocol != topology.ProtocolHTTPS || !topology.HostnameMatches(l.Hostname, serverName) {
			continue
		}
		if best == nil || rank(l) > rank(best) {
			best = l
		}
	}
	return best
}

// nameFindings reports hosts whose app name is not their first label.
func (a *analysis) nameFindings() []Finding {
	var out []Finding
	for _, r := range a.renames {
		out = append(out, Finding{
			ID:       FindingAppNameCollision,
			Severity: SeverityInfo,
			Objects:  []string{"Secret/" + r.namespace + "/" + r.app + "-tls"},
			Summary:  fmt.Sprintf("Host %s gets app name %s because %s already uses its first label in namespace %s.", r.hostname, r.app, orExistingListener(r.takenBy), r.namespace),
			Mechanism: "Listener names (https-<app>) must be unique per Gateway and Secret names (<app>-tls) per namespace, " +
				"so the planner takes hosts in name order and extends a taken app name with the next labels of the hostname.",
			Fix: "Nothing to do unless another name is preferred; the choice is stable for the same inventory.",
		})
	}
	return out
}

func orExistingListener(hostname string) string {
	if hostname == "" {
		return "an existing listener"
	}
	return "host " + hostname
}

// routesAttach returns "1 route attaches" or "N routes attach".
func routesAttach(n int) string {
	if n == 1 {
		return "1 route attaches"
	}
	return fmt.Sprintf("%d routes attach", n)
}
