package harness

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/tlsprobe"
	"github.com/certwave/certwave/internal/kubecluster"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// privateRootsRetry is how long the prober waits between two searches for
// the private CA's root.
const privateRootsRetry = 10 * time.Second

// probeTarget is one host probed through one client path.
type probeTarget struct{ host, path string }

// weightedSamples is the availability of one host: the time its probes
// were served, out of the time sampled, each wall second weighed as the
// virtual time it represents.
type weightedSamples struct{ served, total time.Duration }

// ParseAddresses turns PATH=HOST:PORT values into a map. source names the
// flag or variable in errors.
func ParseAddresses(source string, values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		name, addr, ok := strings.Cut(strings.TrimSpace(v), "=")
		if _, _, err := net.SplitHostPort(addr); !ok || name == "" || err != nil {
			return nil, fmt.Errorf("invalid %s %q: want PATH=HOST:PORT, for example direct=203.0.113.10:443", source, v)
		}
		out[name] = addr
	}
	return out, nil
}

// openProber sets the world's prober, its client paths and the pairs it
// samples for availability.
func (w *ClusterWorld) openProber(inv *topology.Inventory, pathNames []string) error {
	paths := inv.ClientPaths
	if len(paths) == 0 {
		paths = []topology.ClientPath{{Name: tlsprobe.DefaultPathName, Kind: topology.ClientPathDirect}}
	}
	w.paths = pathNames
	w.targets = probeTargets(inv, paths)
	if w.opts.Prober != nil {
		w.prober = w.opts.Prober
		w.note("probes answered by the prober the options gave, not by TLS connections to the cluster's data plane")
		return nil
	}
	opts := tlsprobe.Options{Paths: paths, Addresses: w.opts.Addresses, Roots: w.opts.Roots}
	first, err := tlsprobe.New(opts)
	if err != nil {
		return fmt.Errorf("cluster world: %w", err)
	}
	w.prober = &clusterProber{opts: opts, current: first, client: w.c}
	w.note("availability from TLS probes of %d host and client-path pairs every %s", len(w.targets), clusterSampleInterval)
	return nil
}

// probeTargets returns each hostname of the inventory's routes with every
// client path that carries it: all paths except those tied to another
// Gateway or to host patterns the host does not match.
func probeTargets(inv *topology.Inventory, paths []topology.ClientPath) []probeTarget {
	gateways := map[string]map[string]bool{} // route key -> Gateways
	for _, a := range inv.Attachments() {
		if gateways[a.Route] == nil {
			gateways[a.Route] = map[string]bool{}
		}
		gateways[a.Route][a.Gateway] = true
	}
	seen := map[probeTarget]bool{}
	var out []probeTarget
	for _, r := range inv.Routes {
		for _, host := range r.Hostnames {
			if strings.HasPrefix(host, "*.") {
				continue
			}
			for _, p := range paths {
				if p.Gateway != "" && len(gateways[r.Key()]) > 0 && !gateways[r.Key()][p.Gateway] {
					continue
				}
				if !p.CarriesHostname(host) {
					continue
				}
				t := probeTarget{host: host, path: p.Name}
				if !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].host != out[j].host {
			return out[i].host < out[j].host
		}
		return out[i].path < out[j].path
	})
	return out
}

// waitServed waits until at least one probe is served, so that the
// engine's gates can pass. It returns an unsupported error with the last
// outcome and the fix when none is served within timeout.
func (w *ClusterWorld) waitServed(ctx context.Context, timeout time.Duration) error {
	if len(w.targets) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	var last engine.ProbeResult
	for {
		for _, t := range w.targets {
			res, err := w.prober.Probe(ctx, t.host, t.path)
			if err != nil {
				return fmt.Errorf("cluster world: probing %s through %s: %w", t.host, t.path, err)
			}
			if res.Outcome == engine.OutcomeServed {
				return nil
			}
			last = res
		}
		if time.Now().After(deadline) {
			break
		}
		if err := (engine.WallClock{}).Sleep(ctx, clusterSampleInterval); err != nil {
			return err
		}
	}
	fix := "check the Gateway's listeners and the served certificate"
	switch last.Outcome {
	case engine.OutcomeRefused:
		fix = "set the address of the client path to the Gateway's address (--address PATH=HOST:PORT, or " + EnvClusterAddresses + ")"
	case engine.OutcomeHandshakeFailure:
		fix = "give the roots of the cluster's ACME server (--roots-file, or " + EnvClusterRoots + ") when it is not a public CA"
	}
	return unsupportedInCluster("probes", fmt.Sprintf("no probe of %d host and client-path pairs was served within %s; "+
		"the engine's gates need them. Last: %s through %s: %s (%s); %s",
		len(w.targets), timeout, last.Host, last.ClientPath, last.Outcome, last.Detail, fix))
}

// sampleProbes probes every target once and adds the time since the last
// sample to each host's availability, weighed by the engine's scaled
// waits.
func (w *ClusterWorld) sampleProbes(ctx context.Context) {
	results := make([]engine.ProbeResult, 0, len(w.targets))
	for _, t := range w.targets {
		res, err := w.prober.Probe(ctx, t.host, t.path)
		if err != nil {
			if ctx.Err() == nil {
				w.recordError("probe "+t.host+"@"+t.path, err)
			}
			return
		}
		results = append(results, res)
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	span := w.waits.weight(w.last, now)
	w.last = now
	for _, res := range results {
		a := w.avail[res.Host]
		if a == nil {
			a = &weightedSamples{}
			w.avail[res.Host] = a
		}
		a.total += span
		if res.Outcome == engine.OutcomeServed {
			a.served += span
		}
	}
}

// Availability is, per host, the share of the sampled time its probes were
// served, through every client path that carries it.
func (w *ClusterWorld) Availability() map[string]float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]float64{}
	for host, a := range w.avail {
		if a.total > 0 {
			out[host] = float64(a.served) / float64(a.total)
		}
	}
	return out
}

// clusterProber probes over real TLS connections. It verifies a host's
// certificate against the public roots, and, once the private CA has
// issued its own certificate, against that CA's root when the public roots
// fail. The engine checks the issuer of each host's certificate itself, so
// trying both sets of roots accepts no certificate the host should not
// have.
type clusterProber struct {
	mu       sync.Mutex
	opts     tlsprobe.Options
	current  *tlsprobe.Prober
	private  bool
	searched time.Time
	client   client.Client
}

func (p *clusterProber) Probe(ctx context.Context, host, path string) (engine.ProbeResult, error) {
	prober, private := p.refresh(ctx)
	res, err := prober.Probe(ctx, host, path)
	if err != nil || !private || res.Outcome != engine.OutcomeHandshakeFailure {
		return res, err
	}
	alt, err := prober.ProbeExpect(ctx, host, path, tlsprobe.Expectation{Private: true})
	if err == nil && alt.Outcome == engine.OutcomeServed {
		return alt, nil
	}
	return res, nil
}

// refresh looks for the private CA's root at most every privateRootsRetry
// until it finds one.
func (p *clusterProber) refresh(ctx context.Context) (*tlsprobe.Prober, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.private || time.Since(p.searched) < privateRootsRetry {
		return p.current, p.private
	}
	p.searched = time.Now()
	pool, err := kubecluster.PrivateCARoots(ctx, p.client, plan.DefaultClusterResourceNamespace)
	if err != nil || pool == nil {
		return p.current, false
	}
	opts := p.opts
	opts.PrivateRoots = pool
	if next, err := tlsprobe.New(opts); err == nil {
		p.current, p.private = next, true
	}
	return p.current, p.private
}
