package model

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// ErrHostNotCarried is returned by Probe for a host its client path does
// not carry (a fixed-SNI path carries only the hostnames it lists).
var ErrHostNotCarried = errors.New("model: client path does not carry the host")

// prober probes the modelled data plane.
type prober struct{ w *World }

var _ engine.Prober = prober{}

// Probe returns what a client of the path gets for host now: a direct path
// sends SNI = host to the Gateway DNS points at; a fixed-SNI path sends its
// ServerName to its Gateway with Host = host, and validates the
// certificate against that ServerName.
func (p prober) Probe(_ context.Context, host, clientPath string) (engine.ProbeResult, error) {
	w := p.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cp := range w.clientPaths() {
		if cp.Name != clientPath {
			continue
		}
		if !w.carries(cp, host) {
			return engine.ProbeResult{}, fmt.Errorf("%w: path %s, host %s", ErrHostNotCarried, clientPath, host)
		}
		return w.probe(cp, host), nil
	}
	return engine.ProbeResult{}, fmt.Errorf("model: unknown client path %q: use one of %v", clientPath, w.clientPathNames())
}

// clientPaths returns the inventory's client paths, or one direct path
// named "direct" when it lists none.
func (w *World) clientPaths() []topology.ClientPath {
	if len(w.inv.ClientPaths) == 0 {
		return []topology.ClientPath{{Name: "direct", Kind: topology.ClientPathDirect}}
	}
	return w.inv.ClientPaths
}

func (w *World) clientPathNames() []string {
	var names []string
	for _, cp := range w.clientPaths() {
		names = append(names, cp.Name)
	}
	sort.Strings(names)
	return names
}

// carries reports whether a client path carries host. A path that names
// a Gateway carries only the hosts whose DNS record points at that
// Gateway: clients reach a tunnel in front of the external Gateway only
// for the hostnames published through it, even when its ingress rules
// match every subdomain. A path that lists hostnames also requires a
// match. A direct path without a Gateway carries every host.
func (w *World) carries(cp topology.ClientPath, host string) bool {
	if cp.Gateway != "" && w.avail.gatewayOf(host) != cp.Gateway {
		return false
	}
	return cp.CarriesHostname(host)
}

// probe evaluates one path and host on the current data plane.
func (w *World) probe(cp topology.ClientPath, host string) engine.ProbeResult {
	gateway := cp.Gateway
	if gateway == "" {
		gateway = w.avail.gatewayOf(host)
	}
	sni := host
	if cp.Kind == topology.ClientPathFixedSNI && cp.ServerName != "" {
		sni = cp.ServerName
	}
	var res engine.ProbeResult
	if gateway == "" || w.plane == nil {
		res = engine.ProbeResult{Host: host, Outcome: engine.OutcomeRefused, Detail: "no DNS record for " + host}
	} else {
		res = w.plane.serve(gateway, sni, host, w.sched.now)
	}
	res.ClientPath = cp.Name
	return res
}

// availability accounts, per host, the virtual time each client path that
// carries it was served, from one observation to the next. Outcomes change
// only when the world changes or a served certificate's validity begins or
// ends, and the model observes at each of those instants, so the fractions
// are exact rather than sampled.
type availability struct {
	w      *World
	last   time.Time
	hosts  map[string]string // host -> last Gateway DNS pointed at
	state  map[string]engine.ProbeResult
	served map[string]time.Duration
	total  map[string]time.Duration
	// plane is the data plane the outcomes were probed on, and boundary
	// the next certificate validity boundary after that probe (zero when
	// there is none).
	plane    *dataplane
	boundary time.Time
}

func newAvailability(w *World) *availability {
	return &availability{w: w, last: w.sched.now, hosts: map[string]string{},
		state: map[string]engine.ProbeResult{}, served: map[string]time.Duration{}, total: map[string]time.Duration{}}
}

// remember records that host's DNS points at gateway.
func (a *availability) remember(host, gateway string) { a.hosts[host] = gateway }

func (a *availability) gatewayOf(host string) string { return a.hosts[host] }

// observe accounts the time since the last observation with the outcomes
// then in force, probes every host through every path again, traces
// outcome changes and schedules an observation at the next certificate
// validity boundary.
func (a *availability) observe() {
	w := a.w
	now := w.sched.now
	dt := now.Sub(a.last)
	if weight := w.opts.TimeWeight; weight != nil && dt > 0 {
		dt = weight(a.last, now)
	}
	if dt > 0 {
		for _, res := range a.state {
			a.total[res.Host] += dt
			if res.Outcome == engine.OutcomeServed {
				a.served[res.Host] += dt
			}
		}
	}
	a.last = now
	if w.plane == nil {
		return
	}
	if w.plane == a.plane && (a.boundary.IsZero() || now.Before(a.boundary.Add(time.Second))) {
		return // nothing a probe depends on changed
	}
	a.plane = w.plane
	hosts := make([]string, 0, len(a.hosts))
	for h := range a.hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		for _, cp := range w.clientPaths() {
			if !w.carries(cp, h) {
				continue
			}
			key := h + "|" + cp.Name
			res := w.probe(cp, h)
			prev, seen := a.state[key]
			if (seen && prev.Outcome != res.Outcome) || (!seen && res.Outcome != engine.OutcomeServed) {
				if res.Detail == "" {
					w.record(traceProbe, h, "%s via %s", res.Outcome, cp.Name)
				} else {
					w.record(traceProbe, h, "%s via %s: %s", res.Outcome, cp.Name, res.Detail)
				}
			}
			a.state[key] = res
		}
	}
	next := w.plane.earliestExpiry(now)
	if !next.IsZero() && !next.Equal(a.boundary) {
		// One second past notAfter, when a client first rejects it.
		w.sched.at(next.Add(time.Second), func() {})
	}
	a.boundary = next
}

// Availability returns, per route hostname, the fraction of virtual time
// (weighed by Options.TimeWeight when set) since Start that the client
// paths carrying it were served (time-weighted
// over paths). A host not yet observed over any time reports its current
// outcome as 0 or 1.
func (w *World) Availability() map[string]float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.avail
	a.observe()
	out := map[string]float64{}
	current := map[string][2]int{}
	for _, res := range a.state {
		c := current[res.Host]
		c[1]++
		if res.Outcome == engine.OutcomeServed {
			c[0]++
		}
		current[res.Host] = c
	}
	for host, c := range current {
		if total := a.total[host]; total > 0 {
			out[host] = float64(a.served[host]) / float64(total)
		} else if c[1] > 0 {
			out[host] = float64(c[0]) / float64(c[1])
		}
	}
	return out
}

// MinAvailability returns the lowest availability of any host, 1 when
// there are none.
func (w *World) MinAvailability() float64 {
	_, v := w.LeastAvailableHost()
	return v
}

// LeastAvailableHost returns the host with the lowest availability (the
// first by name on ties) and its availability; "" and 1 when there are no
// hosts.
func (w *World) LeastAvailableHost() (string, float64) {
	avail := w.Availability()
	hosts := make([]string, 0, len(avail))
	for h := range avail {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	best, min := "", 1.0
	for _, h := range hosts {
		if avail[h] < min {
			best, min = h, avail[h]
		}
	}
	return best, min
}
