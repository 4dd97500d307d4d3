package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/topology"
)

var testStart = time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)

const letsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"

// cleanInventory returns a small inventory the preflight has nothing to say
// about: cert-manager with Gateway API support, one Let's Encrypt
// ClusterIssuer, Gateway web/public with a *.example.com listener on Secret
// wildcard-tls, written by a Certificate of the same name (so the shim
// leaves it alone), and two routes pinned to that listener.
func cleanInventory() *topology.Inventory {
	inv := &topology.Inventory{
		Source:      "test",
		Domain:      "example.com",
		CertManager: topology.CertManager{Version: "v1.21.2", GatewayAPIEnabled: true, Found: true},
		Issuers: []topology.Issuer{{
			Kind: "ClusterIssuer", Name: "letsencrypt", Type: topology.IssuerACME, ACMEServer: letsEncryptProduction,
		}},
		Certificates: []topology.Certificate{{
			Namespace: "web", Name: "wildcard-tls", SecretName: "wildcard-tls",
			DNSNames:  []string{"*.example.com"},
			IssuerRef: topology.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"},
		}},
		ClientPaths: []topology.ClientPath{{Name: "direct", Kind: topology.ClientPathDirect}},
	}
	addGateway(inv, "web", "public", "*.example.com", "wildcard-tls")
	addRoute(inv, "apps", "alpha", "web", "public", "https", "alpha.example.com")
	addRoute(inv, "apps", "beta", "web", "public", "https", "beta.example.com")
	inv.Finalize()
	return inv
}

func addGateway(inv *topology.Inventory, ns, name, hostname, secret string) *topology.Gateway {
	inv.Gateways = append(inv.Gateways, topology.Gateway{
		Namespace: ns, Name: name, Class: "envoy",
		Listeners: []topology.Listener{
			{Name: "http", Port: 80, Protocol: topology.ProtocolHTTP, Hostname: hostname},
			{
				Name: "https", Port: 443, Protocol: topology.ProtocolHTTPS, Hostname: hostname,
				TLSMode:           topology.TLSModeTerminate,
				CertificateRefs:   []topology.SecretRef{{Name: secret}},
				AllowedNamespaces: "All",
			},
		},
	})
	return &inv.Gateways[len(inv.Gateways)-1]
}

func addRoute(inv *topology.Inventory, ns, name, gwNS, gwName, section string, hostnames ...string) {
	inv.Routes = append(inv.Routes, topology.Route{
		Namespace: ns, Name: name, Hostnames: hostnames,
		ParentRefs: []topology.ParentRef{{Namespace: gwNS, Name: gwName, SectionName: section}},
	})
}

// manyRoutes adds n routes app-000.example.com ... to Gateway gwNS/gwName.
func manyRoutes(inv *topology.Inventory, n int, gwNS, gwName string) {
	for i := 0; i < n; i++ {
		app := fmt.Sprintf("app-%03d", i)
		addRoute(inv, "apps", app, gwNS, gwName, "https", app+".example.com")
	}
}

func testOptions() Options {
	return DefaultOptions(testStart)
}

// findingsWith returns the findings with id.
func findingsWith(findings []Finding, id string) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// requireFinding returns the only finding with id, failing the test unless
// there is exactly one.
func requireFinding(t *testing.T, findings []Finding, id string) Finding {
	t.Helper()
	got := findingsWith(findings, id)
	if len(got) != 1 {
		t.Fatalf("got %d findings %s, want 1; all findings: %s", len(got), id, findingIDs(findings))
	}
	f := got[0]
	if f.Summary == "" || f.Mechanism == "" || f.Fix == "" || (len(f.Objects) == 0 && id != FindingInvalidOptions) {
		t.Errorf("finding %s is incomplete: %+v", id, f)
	}
	return f
}

func findingIDs(findings []Finding) string {
	var ids []string
	for _, f := range findings {
		ids = append(ids, string(f.Severity)+":"+f.ID)
	}
	return strings.Join(ids, ", ")
}

// stepsOf returns the steps of kind in phase (any phase when phase < 0).
func stepsOf(p *Plan, phase int, kind StepKind) []Step {
	var out []Step
	for _, s := range p.Steps {
		if (phase < 0 || s.Phase == phase) && s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

func stepByID(p *Plan, id string) *Step {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i]
		}
	}
	return nil
}

func mustPlan(t *testing.T, inv *topology.Inventory, opts Options) *Plan {
	t.Helper()
	p, err := New(inv, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}
