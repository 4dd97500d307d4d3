package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/certwave/certwave/scenarios"
)

// Outcome is the state a run leaves behind, the part two worlds must
// agree on: the Certificates and their issuers, each HTTPS listener's
// Secret and readiness, each route's listeners and acceptance, the ACME
// orders, the stop and the verdict. Names the API server or cert-manager
// choose, such as CertificateRequests, and times are left out.
type Outcome struct {
	Verdict      string
	Stop         string
	ACMEOrders   int
	Certificates map[string]string
	Listeners    map[string]string
	Routes       map[string]string
}

// outcome reads the world's objects at the end of a run.
func (r *run) outcome(ctx context.Context) (*Outcome, error) {
	o := &Outcome{Certificates: map[string]string{}, Listeners: map[string]string{}, Routes: map[string]string{}}
	if r.world == nil {
		return o, nil
	}
	cl := r.world.Client()
	var certs cmapi.CertificateList
	var gateways gwapi.GatewayList
	var routes gwapi.HTTPRouteList
	if err := cl.List(ctx, &certs); err != nil {
		return nil, err
	}
	if err := cl.List(ctx, &gateways); err != nil {
		return nil, err
	}
	if err := cl.List(ctx, &routes); err != nil {
		return nil, err
	}

	for _, c := range certs.Items {
		ready := "unknown"
		for _, cond := range c.Status.Conditions {
			if cond.Type == cmapi.CertificateConditionReady {
				ready = string(cond.Status)
			}
		}
		names := append([]string(nil), c.Spec.DNSNames...)
		sort.Strings(names)
		o.Certificates[c.Namespace+"/"+c.Name] = fmt.Sprintf("issuer %s/%s, secret %s, dnsNames %s, Ready=%s",
			c.Spec.IssuerRef.Kind, c.Spec.IssuerRef.Name, c.Spec.SecretName, strings.Join(names, ","), ready)
	}

	for _, gw := range gateways.Items {
		status := map[string][]metaCondition{}
		for _, ls := range gw.Status.Listeners {
			for _, c := range ls.Conditions {
				status[string(ls.Name)] = append(status[string(ls.Name)], metaCondition{c.Type, string(c.Status)})
			}
		}
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			host := ""
			if l.Hostname != nil {
				host = string(*l.Hostname)
			}
			var secrets []string
			for _, ref := range l.TLS.CertificateRefs {
				secrets = append(secrets, string(ref.Name))
			}
			o.Listeners[gw.Namespace+"/"+gw.Name+"/"+string(l.Name)] = fmt.Sprintf("hostname %q, secrets %s, %s",
				host, strings.Join(secrets, ","), conditionString(status[string(l.Name)], "Programmed", "ResolvedRefs"))
		}
	}

	for _, rt := range routes.Items {
		var parents []string
		for _, p := range rt.Spec.ParentRefs {
			section := ""
			if p.SectionName != nil {
				section = string(*p.SectionName)
			}
			accepted := "unknown"
			for _, ps := range rt.Status.Parents {
				if ps.ParentRef.Name == p.Name && sectionOf(ps.ParentRef) == section {
					if c := meta.FindStatusCondition(ps.Conditions, string(gwapi.RouteConditionAccepted)); c != nil {
						accepted = string(c.Status)
					}
				}
			}
			parents = append(parents, fmt.Sprintf("%s/%s Accepted=%s", p.Name, section, accepted))
		}
		sort.Strings(parents)
		o.Routes[rt.Namespace+"/"+rt.Name] = strings.Join(parents, "; ")
	}
	return o, nil
}

type metaCondition struct{ typ, status string }

func conditionString(conds []metaCondition, types ...string) string {
	var parts []string
	for _, t := range types {
		v := "unknown"
		for _, c := range conds {
			if c.typ == t {
				v = c.status
			}
		}
		parts = append(parts, t+"="+v)
	}
	return strings.Join(parts, " ")
}

func sectionOf(ref gwapi.ParentReference) string {
	if ref.SectionName == nil {
		return ""
	}
	return string(*ref.SectionName)
}

// Difference is one disagreement between the worlds. Explained holds the
// known reason, empty when the difference is unexplained.
type Difference struct {
	What      string `json:"what"`
	Model     string `json:"model"`
	Other     string `json:"other"`
	Explained string `json:"explained,omitempty"`
}

// Conformance is a scenario run on the model and on another world, and
// where their outcomes differ.
type Conformance struct {
	Model       Result       `json:"model"`
	Other       Result       `json:"other"`
	Differences []Difference `json:"differences"`
}

// Unexplained returns the differences without a known reason.
func (c *Conformance) Unexplained() []Difference {
	var out []Difference
	for _, d := range c.Differences {
		if d.Explained == "" {
			out = append(out, d)
		}
	}
	return out
}

// knownDifferences explains differences between the model and the local
// world, by the start of Difference.What.
var knownDifferences = map[string]string{}

// Conform runs the scenario on the model and on the world opts names, and
// compares their outcomes.
func Conform(ctx context.Context, s *scenarios.Scenario, opts Options) Conformance {
	var modelOut, otherOut Outcome
	mopts := opts
	mopts.World = "model"
	mopts.outcome = &modelOut
	oopts := opts
	oopts.outcome = &otherOut
	c := Conformance{Model: Run(ctx, s, mopts), Other: Run(ctx, s, oopts)}

	add := func(what, m, o string) {
		if m == o {
			return
		}
		d := Difference{What: what, Model: m, Other: o}
		for prefix, reason := range knownDifferences {
			if strings.HasPrefix(what, prefix) {
				d.Explained = reason
			}
		}
		c.Differences = append(c.Differences, d)
	}
	// An empty outcome means the run ended before its world opened, or
	// the objects could not be read; comparing two of them proves nothing.
	count := func(o Outcome) string {
		return fmt.Sprintf("%d Certificates, %d listeners, %d routes", len(o.Certificates), len(o.Listeners), len(o.Routes))
	}
	if len(modelOut.Certificates) == 0 || len(otherOut.Certificates) == 0 {
		c.Differences = append(c.Differences, Difference{What: "outcome", Model: count(modelOut), Other: count(otherOut)})
	}

	add("verdict", c.Model.Verdict, c.Other.Verdict)
	add("stop", c.Model.Stop, c.Other.Stop)
	add("ACME orders", fmt.Sprint(c.Model.ACMEOrders), fmt.Sprint(c.Other.ACMEOrders))
	for _, kind := range []struct {
		name string
		m, o map[string]string
	}{
		{"Certificate", modelOut.Certificates, otherOut.Certificates},
		{"listener", modelOut.Listeners, otherOut.Listeners},
		{"HTTPRoute", modelOut.Routes, otherOut.Routes},
	} {
		keys := map[string]bool{}
		for k := range kind.m {
			keys[k] = true
		}
		for k := range kind.o {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			m, ok := kind.m[k]
			if !ok {
				m = "(absent)"
			}
			o, ok := kind.o[k]
			if !ok {
				o = "(absent)"
			}
			add(kind.name+" "+k, m, o)
		}
	}
	return c
}
