package plan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certwave/certwave/topology"
)

// copyInventory returns a deep copy of inv through its JSON form.
func copyInventory(t *testing.T, inv *topology.Inventory) *topology.Inventory {
	t.Helper()
	raw, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	out := &topology.Inventory{}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func driftStrings(diffs []Difference) []string {
	var out []string
	for _, d := range diffs {
		out = append(out, d.String())
	}
	return out
}

func TestDriftNoneForSameInventory(t *testing.T) {
	p := mustPlan(t, topology.Reference(), testOptions())
	if diffs := Drift(p, copyInventory(t, p.Inventory)); len(diffs) != 0 {
		t.Fatalf("drift of an unchanged inventory: %v", driftStrings(diffs))
	}
}

func TestDriftIgnoresPlanChanges(t *testing.T) {
	p := mustPlan(t, topology.Reference(), testOptions())
	live := copyInventory(t, p.Inventory)
	applied := 0
	for _, s := range p.Steps {
		switch {
		case s.Kind == StepAddListener && s.Listener != nil:
			ns, name, _ := strings.Cut(s.Gateway, "/")
			gw := live.Gateway(ns, name)
			gw.Listeners = append(gw.Listeners, topology.Listener{
				Name: s.Listener.Name, Port: s.Listener.Port, Protocol: s.Listener.Protocol, Hostname: s.Listener.Hostname,
				TLSMode: topology.TLSModeTerminate, CertificateRefs: []topology.SecretRef{{Name: s.Listener.SecretName}},
			})
			live.Certificates = append(live.Certificates, topology.Certificate{
				Namespace: ns, Name: s.Listener.SecretName, SecretName: s.Listener.SecretName,
				DNSNames: []string{s.Listener.Hostname}, OwnerGateway: s.Gateway,
			})
			applied++
		case s.Kind == StepFlipRoute:
			ns, name, _ := strings.Cut(s.Route, "/")
			r := live.Route(ns, name)
			for i := range r.ParentRefs {
				if r.ParentRefs[i].SectionName == s.FromSection {
					r.ParentRefs[i].SectionName = s.SectionName
				}
			}
			applied++
		case s.Kind == StepAnnotateGateway:
			ns, name, _ := strings.Cut(s.Gateway, "/")
			gw := live.Gateway(ns, name)
			if gw.Annotations == nil {
				gw.Annotations = map[string]string{}
			}
			for k, v := range s.Annotations {
				gw.Annotations[k] = v
			}
			applied++
		}
		if s.Phase >= 3 {
			break
		}
	}
	if applied == 0 {
		t.Fatal("the reference plan has no steps to apply")
	}
	if diffs := Drift(p, live); len(diffs) != 0 {
		t.Fatalf("the plan's own changes count as drift: %v", driftStrings(diffs))
	}
}

func TestDriftNamesChanges(t *testing.T) {
	p := mustPlan(t, topology.Reference(), testOptions())
	live := copyInventory(t, p.Inventory)

	gw := &live.Gateways[0]
	gwKey := gw.Namespace + "/" + gw.Name
	listener := &gw.Listeners[len(gw.Listeners)-1]
	listenerName := listener.Name
	listener.Hostname = "*.changed.example.org"

	removed := live.Routes[0]
	live.Routes = live.Routes[1:]
	changed := &live.Routes[0]
	changed.Hostnames = []string{"renamed.example.com"}
	live.Routes = append(live.Routes, topology.Route{
		Namespace: "apps", Name: "newcomer", Hostnames: []string{"newcomer.example.com"},
		ParentRefs: []topology.ParentRef{{Namespace: gw.Namespace, Name: gw.Name}},
	})
	live.Certificates = append(live.Certificates, topology.Certificate{
		Namespace: "apps", Name: "stray", SecretName: "stray-tls", DNSNames: []string{"stray.example.com"},
		IssuerRef: topology.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"},
	})

	got := map[string]Difference{}
	for _, d := range Drift(p, live) {
		got[d.Object+"|"+d.Field] = d
	}
	want := map[string]string{
		"Gateway/" + gwKey + "|listener " + listenerName: DriftChanged,
		"HTTPRoute/" + removed.Key() + "|":               DriftRemoved,
		"HTTPRoute/" + changed.Key() + "|hostnames":      DriftChanged,
		"HTTPRoute/apps/newcomer|":                       DriftAdded,
		"Certificate/apps/stray|":                        DriftAdded,
	}
	for key, change := range want {
		d, ok := got[key]
		if !ok {
			t.Errorf("no difference for %s; got %v", key, got)
			continue
		}
		if d.Change != change {
			t.Errorf("%s: change %s, want %s", key, d.Change, change)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d differences, want %d: %v", len(got), len(want), got)
	}
	d := got["Gateway/"+gwKey+"|listener "+listenerName]
	if !strings.Contains(d.String(), "*.changed.example.org") {
		t.Errorf("listener difference does not name the live hostname: %s", d)
	}
}

func TestDriftGatewayAnnotation(t *testing.T) {
	p := mustPlan(t, topology.Reference(), testOptions())
	live := copyInventory(t, p.Inventory)
	annotated := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind == StepAnnotateGateway {
			annotated[s.Gateway] = true
		}
	}
	var target *topology.Gateway
	for i := range live.Gateways {
		g := &live.Gateways[i]
		if !annotated[g.Namespace+"/"+g.Name] {
			target = g
		}
	}
	if target == nil {
		t.Skip("the plan annotates every Gateway")
	}
	target.Annotations = map[string]string{"cert-manager.io/cluster-issuer": "other", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
	diffs := Drift(p, live)
	if len(diffs) != 1 {
		t.Fatalf("got %v, want one difference for the cert-manager annotation", driftStrings(diffs))
	}
	if diffs[0].Field != "annotation cert-manager.io/cluster-issuer" || diffs[0].Change != DriftAdded {
		t.Errorf("difference %+v", diffs[0])
	}
}

func TestCheckContext(t *testing.T) {
	recorded := &Plan{Source: "cluster:prod", Context: "prod"}
	legacy := &Plan{Source: "cluster:prod"}
	none := &Plan{Source: "reference"}
	cases := []struct {
		name    string
		p       *Plan
		current string
		named   bool
		wantErr string
	}{
		{"same context", recorded, "prod", false, ""},
		{"other context refused", recorded, "staging", false, `made for kube context "prod"`},
		{"other context named", recorded, "staging", true, ""},
		{"context from source", legacy, "staging", false, "--context prod"},
		{"no recorded context", none, "kind-test", false, "--context kind-test"},
		{"no recorded context named", none, "kind-test", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckContext(c.p, c.current, c.named)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}
