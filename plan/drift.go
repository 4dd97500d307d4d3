package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/certwave/certwave/topology"
)

// Difference is one way the live inventory no longer matches the inventory
// a plan was made from.
type Difference struct {
	// Object is Kind/namespace/name of the object that differs.
	Object string `json:"object"`
	// Field names the part that differs, such as "listener https" or
	// "hostnames"; empty when the whole object was added or removed.
	Field string `json:"field,omitempty"`
	// Change is added, removed or changed.
	Change  string `json:"change"`
	Planned string `json:"planned,omitempty"`
	Live    string `json:"live,omitempty"`
}

// Kinds of Difference.Change.
const (
	DriftAdded   = "added"
	DriftRemoved = "removed"
	DriftChanged = "changed"
)

func (d Difference) String() string {
	what := d.Object
	if d.Field != "" {
		what += " " + d.Field
	}
	switch d.Change {
	case DriftAdded:
		return fmt.Sprintf("%s added since the plan was made (live: %s)", what, driftValue(d.Live))
	case DriftRemoved:
		return fmt.Sprintf("%s removed since the plan was made (planned: %s)", what, driftValue(d.Planned))
	}
	return fmt.Sprintf("%s changed from %s to %s", what, driftValue(d.Planned), driftValue(d.Live))
}

func driftValue(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Drift compares the plan's inventory with the live one and returns the
// differences, sorted by object. It leaves out what the plan's own steps
// change, so a run resumed halfway reports no drift. Those are the
// listeners the plan adds or removes, the Gateway annotations it sets, the
// sectionName of the routes it moves, and the Certificates it or the
// gateway-shim creates or deletes. It compares Gateways (listeners and cert-manager.io annotations), HTTPRoutes
// (hostnames and parents) and Certificates (names, Secret and issuer).
func Drift(p *Plan, live *topology.Inventory) []Difference {
	if p == nil || p.Inventory == nil || live == nil {
		return nil
	}
	own := ownedByPlan(p)
	var out []Difference
	out = append(out, gatewayDrift(p.Inventory, live, own)...)
	out = append(out, routeDrift(p.Inventory, live, own)...)
	out = append(out, certificateDrift(p.Inventory, live, own)...)
	slices.SortStableFunc(out, func(a, b Difference) int {
		if c := strings.Compare(a.Object, b.Object); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	return out
}

// planOwned lists what the plan's steps change.
type planOwned struct {
	// addedListeners are gateway|listener keys of listeners the plan adds;
	// removedListeners those it removes, which may be missing live.
	addedListeners   map[string]bool
	removedListeners map[string]bool
	// annotations are gateway|key of the annotations the plan sets.
	annotations map[string]bool
	// movedRoutes are namespace/name of routes whose sectionName moves.
	movedRoutes map[string]bool
	// createdCertificates are namespace/name of the Certificates the plan
	// or the gateway-shim creates; deletedCertificates those the plan
	// deletes, which may be missing live.
	createdCertificates map[string]bool
	deletedCertificates map[string]bool
}

func ownedByPlan(p *Plan) planOwned {
	own := planOwned{
		addedListeners: map[string]bool{}, removedListeners: map[string]bool{}, annotations: map[string]bool{},
		movedRoutes: map[string]bool{}, createdCertificates: map[string]bool{}, deletedCertificates: map[string]bool{},
	}
	for _, s := range p.Steps {
		for k := range s.Annotations {
			own.annotations[s.Gateway+"|"+k] = true
		}
		switch s.Kind {
		case StepAddListener:
			if s.Listener == nil {
				continue
			}
			own.addedListeners[s.Gateway+"|"+s.Listener.Name] = true
			if s.Listener.SecretName != "" {
				ns, _, _ := strings.Cut(s.Gateway, "/")
				own.createdCertificates[ns+"/"+s.Listener.SecretName] = true
			}
		case StepRemoveListener:
			if s.Listener != nil {
				own.removedListeners[s.Gateway+"|"+s.Listener.Name] = true
			}
		case StepFlipRoute:
			own.movedRoutes[s.Route] = true
		case StepCreateCert:
			if cs := s.CertificateSpec; cs != nil {
				own.createdCertificates[cs.Namespace+"/"+cs.Name] = true
			}
			if s.Certificate != "" {
				own.createdCertificates[s.Certificate] = true
			}
		case StepDeleteCert:
			own.deletedCertificates[s.Certificate] = true
		}
	}
	for _, c := range p.Cohorts {
		for _, h := range c.Hosts {
			if h.SecretName != "" {
				ns, _, _ := strings.Cut(h.Gateway, "/")
				own.createdCertificates[ns+"/"+h.SecretName] = true
			}
		}
	}
	return own
}

func gatewayDrift(planned, live *topology.Inventory, own planOwned) []Difference {
	var out []Difference
	liveByKey := map[string]*topology.Gateway{}
	for i := range live.Gateways {
		g := &live.Gateways[i]
		liveByKey[g.Namespace+"/"+g.Name] = g
	}
	seen := map[string]bool{}
	for i := range planned.Gateways {
		pg := &planned.Gateways[i]
		key := pg.Namespace + "/" + pg.Name
		seen[key] = true
		obj := "Gateway/" + key
		lg := liveByKey[key]
		if lg == nil {
			out = append(out, Difference{Object: obj, Change: DriftRemoved, Planned: fmt.Sprintf("%d listeners", len(pg.Listeners))})
			continue
		}
		if pg.Class != lg.Class {
			out = append(out, Difference{Object: obj, Field: "class", Change: DriftChanged, Planned: pg.Class, Live: lg.Class})
		}
		out = append(out, listenerDrift(obj, key, pg, lg, own)...)
		out = append(out, annotationDrift(obj, key, pg.Annotations, lg.Annotations, own)...)
	}
	for key, lg := range liveByKey {
		if !seen[key] {
			out = append(out, Difference{Object: "Gateway/" + key, Change: DriftAdded, Live: fmt.Sprintf("%d listeners", len(lg.Listeners))})
		}
	}
	return out
}

func listenerDrift(obj, key string, pg, lg *topology.Gateway, own planOwned) []Difference {
	var out []Difference
	for _, pl := range pg.Listeners {
		if own.addedListeners[key+"|"+pl.Name] {
			continue
		}
		field := "listener " + pl.Name
		ll := lg.Listener(pl.Name)
		if ll == nil && own.removedListeners[key+"|"+pl.Name] {
			continue
		}
		if ll == nil {
			out = append(out, Difference{Object: obj, Field: field, Change: DriftRemoved, Planned: describeListener(pl)})
			continue
		}
		if a, b := describeListener(pl), describeListener(*ll); a != b {
			out = append(out, Difference{Object: obj, Field: field, Change: DriftChanged, Planned: a, Live: b})
		}
	}
	for _, ll := range lg.Listeners {
		if own.addedListeners[key+"|"+ll.Name] || pg.Listener(ll.Name) != nil {
			continue
		}
		out = append(out, Difference{Object: obj, Field: "listener " + ll.Name, Change: DriftAdded, Live: describeListener(ll)})
	}
	return out
}

// describeListener renders the listener fields the plan depends on.
func describeListener(l topology.Listener) string {
	var refs []string
	for _, r := range l.CertificateRefs {
		if r.Namespace != "" {
			refs = append(refs, r.Namespace+"/"+r.Name)
		} else {
			refs = append(refs, r.Name)
		}
	}
	host := l.Hostname
	if host == "" {
		host = "*"
	}
	s := fmt.Sprintf("%s/%d hostname %s", l.Protocol, l.Port, host)
	if l.TLSMode != "" {
		s += " tls " + l.TLSMode
	}
	if len(refs) > 0 {
		s += " secrets " + strings.Join(refs, ",")
	}
	if l.AllowedNamespaces != "" {
		s += " routes from " + l.AllowedNamespaces
	}
	return s
}

// annotationDrift compares the cert-manager.io annotations the plan does
// not set itself, because they decide what the gateway-shim does.
func annotationDrift(obj, gateway string, planned, live map[string]string, own planOwned) []Difference {
	var out []Difference
	keys := map[string]bool{}
	for k := range planned {
		keys[k] = true
	}
	for k := range live {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !strings.HasPrefix(k, "cert-manager.io/") || own.annotations[gateway+"|"+k] {
			continue
		}
		pv, inPlan := planned[k]
		lv, inLive := live[k]
		field := "annotation " + k
		switch {
		case inPlan && !inLive:
			out = append(out, Difference{Object: obj, Field: field, Change: DriftRemoved, Planned: pv})
		case !inPlan && inLive:
			out = append(out, Difference{Object: obj, Field: field, Change: DriftAdded, Live: lv})
		case pv != lv:
			out = append(out, Difference{Object: obj, Field: field, Change: DriftChanged, Planned: pv, Live: lv})
		}
	}
	return out
}

func routeDrift(planned, live *topology.Inventory, own planOwned) []Difference {
	var out []Difference
	seen := map[string]bool{}
	for i := range planned.Routes {
		pr := &planned.Routes[i]
		key := pr.Key()
		seen[key] = true
		obj := "HTTPRoute/" + key
		lr := live.Route(pr.Namespace, pr.Name)
		if lr == nil {
			out = append(out, Difference{Object: obj, Change: DriftRemoved, Planned: "hostnames " + joinSorted(pr.Hostnames)})
			continue
		}
		if a, b := joinSorted(pr.Hostnames), joinSorted(lr.Hostnames); a != b {
			out = append(out, Difference{Object: obj, Field: "hostnames", Change: DriftChanged, Planned: a, Live: b})
		}
		withSection := !own.movedRoutes[key]
		if a, b := describeParents(pr.ParentRefs, withSection), describeParents(lr.ParentRefs, withSection); a != b {
			out = append(out, Difference{Object: obj, Field: "parentRefs", Change: DriftChanged, Planned: a, Live: b})
		}
	}
	for i := range live.Routes {
		lr := &live.Routes[i]
		if !seen[lr.Key()] {
			out = append(out, Difference{Object: "HTTPRoute/" + lr.Key(), Change: DriftAdded, Live: "hostnames " + joinSorted(lr.Hostnames)})
		}
	}
	return out
}

// describeParents renders a route's parents as a sorted set. Without
// sections (a route the plan moves), each Gateway counts once, because the
// plan itself changes the sectionNames and may add a parentRef to the same
// Gateway.
func describeParents(refs []topology.ParentRef, withSection bool) string {
	set := map[string]bool{}
	for _, r := range refs {
		s := r.Namespace + "/" + r.Name
		if withSection {
			if r.SectionName != "" {
				s += "/" + r.SectionName
			}
			if r.Port != 0 {
				s += fmt.Sprintf(":%d", r.Port)
			}
		}
		set[s] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ",")
}

func certificateDrift(planned, live *topology.Inventory, own planOwned) []Difference {
	var out []Difference
	seen := map[string]bool{}
	for i := range planned.Certificates {
		pc := &planned.Certificates[i]
		key := pc.Namespace + "/" + pc.Name
		seen[key] = true
		if own.createdCertificates[key] {
			continue
		}
		obj := "Certificate/" + key
		lc := live.Certificate(pc.Namespace, pc.Name)
		if lc == nil && own.deletedCertificates[key] {
			continue
		}
		if lc == nil {
			out = append(out, Difference{Object: obj, Change: DriftRemoved, Planned: describeCertificate(pc)})
			continue
		}
		if a, b := describeCertificate(pc), describeCertificate(lc); a != b {
			out = append(out, Difference{Object: obj, Change: DriftChanged, Planned: a, Live: b})
		}
	}
	for i := range live.Certificates {
		lc := &live.Certificates[i]
		key := lc.Namespace + "/" + lc.Name
		if seen[key] || own.createdCertificates[key] {
			continue
		}
		out = append(out, Difference{Object: "Certificate/" + key, Change: DriftAdded, Live: describeCertificate(lc)})
	}
	return out
}

func describeCertificate(c *topology.Certificate) string {
	return fmt.Sprintf("dnsNames %s, secret %s, issuer %s/%s", joinSorted(c.DNSNames), c.SecretName, c.IssuerRef.Kind, c.IssuerRef.Name)
}

func joinSorted(values []string) string {
	return strings.Join(slices.Sorted(slices.Values(values)), ",")
}
