package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/certwave/certwave/topology"
)

// probeHosts probes every host through every client path that reaches it
// and returns one line per failed probe; none means the gate holds.
func (e *Engine) probeHosts(ctx context.Context, hosts []string) ([]string, error) {
	var failures []string
	for _, host := range hosts {
		for _, path := range e.clientPathsFor(host) {
			res, err := e.world.Prober().Probe(ctx, host, path.Name)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				failures = append(failures, fmt.Sprintf("%s via %s: probe failed: %v", host, path.Name, err))
				continue
			}
			if problem := e.checkProbe(host, path, res); problem != "" {
				failures = append(failures, fmt.Sprintf("%s via %s: %s", host, path.Name, problem))
			}
		}
	}
	return failures, nil
}

// clientPathsFor returns the World's client paths that carry host: all of
// them, minus those the inventory ties to another Gateway or to host
// patterns that do not match.
func (e *Engine) clientPathsFor(host string) []topology.ClientPath {
	known := map[string]topology.ClientPath{}
	if e.plan.Inventory != nil {
		for _, p := range e.plan.Inventory.ClientPaths {
			known[p.Name] = p
		}
	}
	gateway := ""
	if h := e.index.hosts[host]; h != nil {
		gateway = h.Gateway
	}
	var out []topology.ClientPath
	for _, name := range e.world.ClientPaths() {
		p, ok := known[name]
		if !ok {
			out = append(out, topology.ClientPath{Name: name, Kind: topology.ClientPathDirect})
			continue
		}
		if p.Gateway != "" && gateway != "" && p.Gateway != gateway {
			continue
		}
		if !p.CarriesHostname(host) {
			continue
		}
		if p.Kind == topology.ClientPathFixedSNI && slices.Contains(e.opts.AcceptFindings, "fixed-sni-client") {
			// The operator accepted that per-host listeners do not serve
			// this path, so its failures must not stop the run.
			continue
		}
		out = append(out, p)
	}
	return out
}

// checkProbe returns what is wrong with one probe result, or "". The served
// certificate must cover the name the client sends: the host on a direct
// path, the fixed server name on a fixed-SNI path. It must be valid now,
// and on a direct path come from the host's issuer: the private CA's name
// for private hosts, any other issuer for ACME hosts.
func (e *Engine) checkProbe(host string, path topology.ClientPath, res ProbeResult) string {
	if res.Outcome != OutcomeServed {
		return strings.TrimSpace(res.Outcome + " " + res.Detail)
	}
	name := host
	if path.Kind == topology.ClientPathFixedSNI && path.ServerName != "" {
		name = path.ServerName
	}
	if !topology.MatchesAnyHostname(res.SANs, name) {
		return fmt.Sprintf("served certificate (SANs %s) does not cover %s", strings.Join(res.SANs, ","), name)
	}
	now := e.clock.Now()
	if res.NotAfter.IsZero() || !now.Before(res.NotAfter) || now.Before(res.NotBefore) {
		return fmt.Sprintf("served certificate is not valid now (%s to %s)", res.NotBefore.UTC().Format("2006-01-02T15:04Z"), res.NotAfter.UTC().Format("2006-01-02T15:04Z"))
	}
	if path.Kind == topology.ClientPathFixedSNI {
		return ""
	}
	private := false
	if h := e.index.hosts[host]; h != nil {
		private = h.Private
	}
	fromCA := strings.Contains(res.Issuer, e.index.ca.CommonName)
	switch {
	case private && !fromCA:
		return fmt.Sprintf("served certificate is issued by %q, expected the private CA %s", res.Issuer, e.index.ca.CommonName)
	case !private && (fromCA || res.Issuer == ""):
		return fmt.Sprintf("served certificate is issued by %q, expected the ACME issuer", res.Issuer)
	}
	return ""
}
