package plan

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/topology"
)

func TestPreflightCleanInventory(t *testing.T) {
	findings := Preflight(cleanInventory(), testOptions())
	for _, f := range findings {
		if f.ID != FindingRenewalCadence {
			t.Errorf("clean inventory: unexpected finding %s (%s): %s", f.ID, f.Severity, f.Summary)
		}
	}
	f := requireFinding(t, findings, FindingRenewalCadence)
	if f.Severity != SeverityInfo {
		t.Errorf("renewal-cadence severity = %s, want info", f.Severity)
	}
}

func TestFindingGatewayAPIDisabled(t *testing.T) {
	inv := cleanInventory()
	inv.CertManager.GatewayAPIEnabled = false
	f := requireFinding(t, Preflight(inv, testOptions()), FindingGatewayAPIDisabled)
	if f.Severity != SeverityBlocker {
		t.Errorf("severity = %s, want blocker", f.Severity)
	}
	if !slices.Contains(f.Objects, "Gateway/web/public") {
		t.Errorf("objects = %v, want Gateway/web/public", f.Objects)
	}
	if !strings.Contains(f.Fix, "enableGatewayAPI") || !strings.Contains(f.Fix, "gatewayAPI.enabled") {
		t.Errorf("fix does not name the settings: %s", f.Fix)
	}
}

func TestFindingCertManagerNotFound(t *testing.T) {
	inv := cleanInventory()
	inv.CertManager = topology.CertManager{}
	findings := Preflight(inv, testOptions())
	requireFinding(t, findings, FindingCertManagerNotFound)
	if len(findingsWith(findings, FindingGatewayAPIDisabled)) != 0 {
		t.Error("gateway-api-disabled fired although cert-manager was not found")
	}
}

// mirroredInventory adds Gateway mcp/mcp whose listener uses a reflector
// mirror of web/wildcard-tls.
func mirroredInventory() *topology.Inventory {
	inv := cleanInventory()
	inv.Certificates[0].SecretAnnotations = map[string]string{
		topology.AnnotationReflectionAllowed:           "true",
		topology.AnnotationReflectionAllowedNamespaces: "web,mcp",
		topology.AnnotationReflectionAutoEnabled:       "true",
	}
	addGateway(inv, "mcp", "mcp", "*.mcp.example.com", "wildcard-tls")
	addRoute(inv, "mcp", "tool", "mcp", "mcp", "https", "tool.mcp.example.com")
	inv.Finalize()
	return inv
}

func TestFindingMirroredSecretGateway(t *testing.T) {
	inv := mirroredInventory()
	f := requireFinding(t, Preflight(inv, testOptions()), FindingMirroredSecretGateway)
	for _, want := range []string{"Gateway/mcp/mcp", "Secret/mcp/wildcard-tls", "Secret/web/wildcard-tls"} {
		if !slices.Contains(f.Objects, want) {
			t.Errorf("objects = %v, want %s", f.Objects, want)
		}
	}
	if !strings.Contains(f.Mechanism, "IncorrectIssuer") {
		t.Errorf("mechanism does not explain IncorrectIssuer: %s", f.Mechanism)
	}
	if !strings.Contains(f.Fix, "first list the mirrored listener in cert-manager.io/ignore-tls-listeners") {
		t.Errorf("fix on v1.21.2 does not offer ignore-tls-listeners: %s", f.Fix)
	}
	// cert-manager reads ignore-tls-listeners from v1.21.0 only.
	old := mirroredInventory()
	old.CertManager.Version = "v1.17.1"
	f = requireFinding(t, Preflight(old, testOptions()), FindingMirroredSecretGateway)
	if !strings.Contains(f.Fix, "would not help") || !strings.Contains(f.Fix, "v1.17.1") {
		t.Errorf("fix on v1.17.1 offers ignore-tls-listeners: %s", f.Fix)
	}

	if got := findingsWith(Preflight(cleanInventory(), testOptions()), FindingMirroredSecretGateway); len(got) != 0 {
		t.Errorf("fired on the clean inventory: %v", got)
	}

	p := mustPlan(t, inv, testOptions())
	if stepByID(p, "p0-annotate-mcp-mcp") != nil {
		t.Error("the Gateway on the mirrored Secret is annotated in phase 0")
	}
	create := stepByID(p, "p4-w1-create-certificate-tool")
	if create == nil {
		t.Fatal("no manual Certificate for tool.mcp.example.com in phase 4")
	}
	if create.CertificateSpec.IssuerRef != "ClusterIssuer/letsencrypt" || create.CertificateSpec.SecretName != "tool-tls" {
		t.Errorf("manual Certificate spec = %+v", create.CertificateSpec)
	}
	if idx(p, "p4-w1-create-certificate-tool") > idx(p, "p4-w1-add-listener-tool") {
		t.Error("the listener is added before its Certificate is created")
	}
	refl := stepByID(p, "p4-remove-reflection-web-wildcard-tls")
	if refl == nil || !reflect.DeepEqual(refl.Secrets, []string{"mcp/wildcard-tls"}) {
		t.Errorf("remove-reflection step = %+v, want it to delete mcp/wildcard-tls", refl)
	}
}

func idx(p *Plan, id string) int {
	for i, s := range p.Steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

func TestFindingShimSkippedListener(t *testing.T) {
	t.Run("no hostname", func(t *testing.T) {
		inv := cleanInventory()
		inv.Gateways[0].Listeners[1].Hostname = ""
		f := requireFinding(t, Preflight(inv, testOptions()), FindingShimSkippedListener)
		if f.Severity != SeverityWarning || !strings.Contains(f.Summary, "no hostname") {
			t.Errorf("finding = %s %s", f.Severity, f.Summary)
		}
		if !strings.Contains(f.Mechanism, "phase-0 shim test") {
			t.Errorf("mechanism does not explain the ambiguous phase-0 test: %s", f.Mechanism)
		}
		test := stepByID(mustPlan(t, inv, testOptions()), "p0-shim-test-web-public")
		if test == nil || !strings.Contains(test.Expect, "BadConfig") {
			t.Errorf("shim test = %+v, want it to expect the BadConfig event", test)
		}
	})
	t.Run("cross-namespace ref", func(t *testing.T) {
		inv := cleanInventory()
		inv.Gateways[0].Listeners[1].CertificateRefs[0].Namespace = "certs"
		f := requireFinding(t, Preflight(inv, testOptions()), FindingShimSkippedListener)
		if !strings.Contains(f.Summary, "cross-namespace certificateRef certs/wildcard-tls") {
			t.Errorf("summary = %s", f.Summary)
		}
	})
	t.Run("passthrough", func(t *testing.T) {
		inv := cleanInventory()
		inv.Gateways[0].Listeners = append(inv.Gateways[0].Listeners, topology.Listener{
			Name: "tls-passthrough", Port: 8443, Protocol: topology.ProtocolTLS, Hostname: "db.example.com", TLSMode: topology.TLSModePassthrough,
		})
		f := requireFinding(t, Preflight(inv, testOptions()), FindingShimSkippedListener)
		if f.Severity != SeverityInfo || !strings.Contains(f.Summary, "without an event") {
			t.Errorf("finding = %s %s", f.Severity, f.Summary)
		}
	})
	// Before v1.18 the shim validates a passthrough listener like any
	// other and rejects its mode with a BadConfig event.
	t.Run("passthrough before v1.18", func(t *testing.T) {
		inv := cleanInventory()
		inv.CertManager.Version = "v1.17.1"
		inv.Gateways[0].Listeners = append(inv.Gateways[0].Listeners, topology.Listener{
			Name: "tls-passthrough", Port: 8443, Protocol: topology.ProtocolTLS, Hostname: "db.example.com", TLSMode: topology.TLSModePassthrough,
		})
		f := requireFinding(t, Preflight(inv, testOptions()), FindingShimSkippedListener)
		if f.Severity != SeverityWarning || !strings.Contains(f.Summary, "BadConfig") {
			t.Errorf("finding = %s %s", f.Severity, f.Summary)
		}
	})
	t.Run("ignore-tls-listeners by version", func(t *testing.T) {
		for _, c := range []struct {
			version  string
			fires    bool
			severity Severity
		}{{"v1.21.2", true, SeverityInfo}, {"v1.20.0", false, ""}} {
			inv := cleanInventory()
			inv.CertManager.Version = c.version
			inv.Gateways[0].Annotations = map[string]string{annotationIgnoreTLSListeners: "https"}
			got := findingsWith(Preflight(inv, testOptions()), FindingShimSkippedListener)
			if fires := len(got) > 0; fires != c.fires {
				t.Errorf("cert-manager %s: skipped-listener finding fired = %t, want %t (%v)", c.version, fires, c.fires, got)
				continue
			}
			if c.fires && got[0].Severity != c.severity {
				t.Errorf("cert-manager %s: severity %s, want %s", c.version, got[0].Severity, c.severity)
			}
		}
	})
	t.Run("clean", func(t *testing.T) {
		if got := findingsWith(Preflight(cleanInventory(), testOptions()), FindingShimSkippedListener); len(got) != 0 {
			t.Errorf("fired on the clean inventory: %v", got)
		}
	})
}

func TestFindingTwoWriters(t *testing.T) {
	t.Run("two Certificates one Secret", func(t *testing.T) {
		inv := cleanInventory()
		inv.Certificates = append(inv.Certificates, topology.Certificate{
			Namespace: "web", Name: "old-wildcard", SecretName: "wildcard-tls",
			DNSNames: []string{"*.example.com"}, IssuerRef: topology.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"},
		})
		inv.Finalize()
		got := findingsWith(Preflight(inv, testOptions()), FindingTwoWriters)
		if len(got) == 0 || got[0].Severity != SeverityBlocker {
			t.Fatalf("findings = %+v, want a two-writers blocker", got)
		}
		for _, want := range []string{"Certificate/web/old-wildcard", "Certificate/web/wildcard-tls", "Secret/web/wildcard-tls"} {
			if !slices.Contains(got[0].Objects, want) {
				t.Errorf("objects = %v, want %s", got[0].Objects, want)
			}
		}
	})
	t.Run("shim Certificate besides an existing writer", func(t *testing.T) {
		inv := cleanInventory()
		inv.Certificates[0].Name = "wildcard"
		inv.Finalize()
		f := requireFinding(t, Preflight(inv, testOptions()), FindingTwoWriters)
		if f.Severity != SeverityWarning || !strings.Contains(f.Summary, "second writer") {
			t.Errorf("finding = %s %s", f.Severity, f.Summary)
		}
		p := mustPlan(t, inv, testOptions())
		if stepByID(p, "p0-annotate-web-public") != nil {
			t.Error("the Gateway is annotated although the shim would become a second writer")
		}
		if len(stepsOf(p, -1, StepCreateCert)) != 2 {
			t.Errorf("got %d create-certificate steps, want one per host", len(stepsOf(p, -1, StepCreateCert)))
		}
	})
	t.Run("planned Secret taken", func(t *testing.T) {
		inv := cleanInventory()
		inv.Certificates = append(inv.Certificates, topology.Certificate{
			Namespace: "web", Name: "alpha-tls", SecretName: "alpha-tls",
			DNSNames: []string{"alpha.example.com"}, IssuerRef: topology.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"},
		})
		inv.Finalize()
		f := requireFinding(t, Preflight(inv, testOptions()), FindingTwoWriters)
		if f.Severity != SeverityBlocker || !strings.Contains(f.Summary, "alpha.example.com") {
			t.Errorf("finding = %s %s", f.Severity, f.Summary)
		}
	})
	t.Run("clean", func(t *testing.T) {
		if got := findingsWith(Preflight(cleanInventory(), testOptions()), FindingTwoWriters); len(got) != 0 {
			t.Errorf("fired on the clean inventory: %v", got)
		}
	})
}

func TestFindingRouteWithoutSectionName(t *testing.T) {
	inv := cleanInventory()
	addRoute(inv, "apps", "gamma", "web", "public", "", "gamma.example.com")
	inv.Finalize()
	f := requireFinding(t, Preflight(inv, testOptions()), FindingRouteWithoutSection)
	if !slices.Contains(f.Objects, "HTTPRoute/apps/gamma") || slices.Contains(f.Objects, "HTTPRoute/apps/alpha") {
		t.Errorf("objects = %v, want apps/gamma only", f.Objects)
	}
	if !strings.Contains(f.Mechanism, "listener isolation") {
		t.Errorf("mechanism does not explain listener isolation: %s", f.Mechanism)
	}

	p := mustPlan(t, inv, testOptions())
	flips := stepsOf(p, -1, StepFlipRoute)
	for _, s := range flips {
		switch s.Route {
		case "apps/gamma":
			if s.FromSection != "" || s.SectionName != "https-gamma" {
				t.Errorf("flip of gamma = from %q to %q, want a new parentRef to https-gamma", s.FromSection, s.SectionName)
			}
		default:
			if s.FromSection != "https" {
				t.Errorf("flip of %s from %q, want https", s.Route, s.FromSection)
			}
		}
	}
	if len(findingsWith(Preflight(cleanInventory(), testOptions()), FindingRouteWithoutSection)) != 0 {
		t.Error("fired on the clean inventory")
	}
}

func TestFindingRouteWithoutHostname(t *testing.T) {
	inv := cleanInventory()
	addRoute(inv, "apps", "catch-all", "web", "public", "https")
	inv.Finalize()
	f := requireFinding(t, Preflight(inv, testOptions()), FindingRouteWithoutHostname)
	if !slices.Contains(f.Objects, "HTTPRoute/apps/catch-all") {
		t.Errorf("objects = %v", f.Objects)
	}

	p := mustPlan(t, inv, testOptions())
	if stepByID(p, "p4-remove-listener-web-public-https") != nil {
		t.Error("phase 4 removes the listener the hostless route still uses")
	}
	if len(stepsOf(p, 4, StepDeleteCert)) != 0 {
		t.Error("phase 4 deletes the Certificate of a listener that stays")
	}
	notes := strings.Join(p.Phases[4].Notes, " ")
	if !strings.Contains(notes, "apps/catch-all") {
		t.Errorf("phase 4 notes do not say why the listener stays: %q", notes)
	}
	for _, h := range p.Cohorts[0].Hosts {
		if slices.Contains(h.Routes, "apps/catch-all") {
			t.Errorf("the hostless route became host %s", h.Hostname)
		}
	}
}

func TestFindingFixedSNIClient(t *testing.T) {
	inv := cleanInventory()
	inv.ClientPaths = append(inv.ClientPaths, topology.ClientPath{
		Name: "tunnel", Kind: topology.ClientPathFixedSNI, Gateway: "web/public",
		ServerName: "tunnel.example.com", Hostnames: []string{"*.example.com"},
	})
	f := requireFinding(t, Preflight(inv, testOptions()), FindingFixedSNIClient)
	if f.Severity != SeverityBlocker || !strings.Contains(f.Summary, "2 hosts") || !strings.Contains(f.Summary, "listener https") {
		t.Errorf("finding = %s %s", f.Severity, f.Summary)
	}
	if len(findingsWith(Preflight(cleanInventory(), testOptions()), FindingFixedSNIClient)) != 0 {
		t.Error("fired on the clean inventory with a direct client path")
	}
}

func TestFindingRenewalCadence(t *testing.T) {
	opts := testOptions()
	opts.Duration = 168 * time.Hour
	opts.RenewBefore = 56 * time.Hour
	f := requireFinding(t, Preflight(cleanInventory(), opts), FindingRenewalCadence)
	if f.Severity != SeverityWarning {
		t.Errorf("severity = %s, want warning for a duration Let's Encrypt does not honour", f.Severity)
	}
	for _, want := range []string{"day 87.7", "duration 168h the plan requests is not honoured", "valid 90 days"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary lacks %q: %s", want, f.Summary)
		}
	}

	opts.RenewBefore = 0
	f = requireFinding(t, Preflight(cleanInventory(), opts), FindingRenewalCadence)
	if !strings.Contains(f.Summary, "day 60.0") || !strings.Contains(f.Summary, "not the requested duration") {
		t.Errorf("summary without renew-before: %s", f.Summary)
	}

	opts = testOptions()
	opts.Profile = ProfileShortLived
	f = findingsWith(Preflight(cleanInventory(), opts), FindingRenewalCadence)[0]
	if !strings.Contains(f.Summary, "day 4.4") {
		t.Errorf("shortlived summary: %s", f.Summary)
	}

	opts = testOptions()
	opts.InternalGateways = []string{"web/public"}
	if got := findingsWith(Preflight(cleanInventory(), opts), FindingRenewalCadence); len(got) != 0 {
		t.Errorf("fired without ACME hosts: %v", got)
	}
}

func TestFindingACMEProfileInfo(t *testing.T) {
	inv := cleanInventory()
	addGateway(inv, "web", "internal", "*.example.com", "wildcard-tls")
	addRoute(inv, "apps", "nas", "web", "internal", "https", "nas.example.com")
	inv.Finalize()

	opts := testOptions()
	opts.Variant = VariantAllACME
	f := requireFinding(t, Preflight(inv, opts), FindingACMEProfileInfo)
	if f.Severity != SeverityWarning || !strings.Contains(f.Summary, "nas.example.com") || !strings.Contains(f.Summary, "Certificate Transparency") {
		t.Errorf("finding = %s %s", f.Severity, f.Summary)
	}
	if got := findingsWith(Preflight(inv, testOptions()), FindingACMEProfileInfo); len(got) != 0 {
		t.Errorf("fired for the hybrid variant: %v", got)
	}

	opts = testOptions()
	opts.Profile = ProfileShortLived
	f = requireFinding(t, Preflight(cleanInventory(), opts), FindingACMEProfileInfo)
	if !strings.Contains(f.Summary, "assumes ACME profile shortlived") {
		t.Errorf("profile mismatch summary: %s", f.Summary)
	}
}

func TestFindingPrivateCATrust(t *testing.T) {
	inv := cleanInventory()
	addGateway(inv, "web", "internal", "*.example.com", "wildcard-tls")
	addRoute(inv, "apps", "nas", "web", "internal", "https", "nas.example.com")
	inv.Finalize()
	f := requireFinding(t, Preflight(inv, testOptions()), FindingPrivateCATrust)
	if !slices.Contains(f.Objects, "Gateway/web/internal") || !strings.Contains(f.Fix, "cert-manager/certwave-private-ca") {
		t.Errorf("finding = %v %s", f.Objects, f.Fix)
	}
}

func TestFindingAppNameCollision(t *testing.T) {
	inv := cleanInventory()
	addRoute(inv, "apps", "grafana", "web", "public", "https", "grafana.example.com")
	addRoute(inv, "apps", "grafana-mcp", "web", "public", "https", "grafana.mcp.example.com")
	inv.Finalize()
	f := requireFinding(t, Preflight(inv, testOptions()), FindingAppNameCollision)
	if !strings.Contains(f.Summary, "grafana.mcp.example.com gets app name grafana-mcp") {
		t.Errorf("summary = %s", f.Summary)
	}
	p := mustPlan(t, inv, testOptions())
	if stepByID(p, "p3-w1-add-listener-grafana-mcp") == nil && stepByID(p, "p3-w2-add-listener-grafana-mcp") == nil {
		t.Error("no listener https-grafana-mcp in the public waves")
	}
}

// A missing ACME issuer is a blocker where the inventory lists every
// ClusterIssuer (a cluster, the reference) and a warning for a GitOps
// tree, which may leave some out.
func TestFindingACMEIssuerNotFound(t *testing.T) {
	opts := testOptions()
	opts.ACMEIssuer = "ClusterIssuer/missing"
	for source, want := range map[string]Severity{
		"cluster:kind-test": SeverityBlocker,
		"reference":         SeverityBlocker,
		"gitops:./home-ops": SeverityWarning,
	} {
		inv := cleanInventory()
		inv.Source = source
		if f := requireFinding(t, Preflight(inv, opts), FindingACMEIssuerNotInventory); f.Severity != want {
			t.Errorf("inventory %s: severity %s, want %s", source, f.Severity, want)
		}
	}
}

func TestFindingUnplannedShimCertificate(t *testing.T) {
	inv := cleanInventory()
	inv.Gateways[0].Listeners[1].CertificateRefs[0].Name = "manual-tls"
	f := requireFinding(t, Preflight(inv, testOptions()), FindingUnplannedShimCert)
	if !strings.Contains(f.Summary, "web/manual-tls") {
		t.Errorf("summary = %s", f.Summary)
	}
	p := mustPlan(t, inv, testOptions())
	if stepByID(p, "p0-annotate-web-public") != nil {
		t.Error("the Gateway is annotated although the shim would issue into an unmanaged Secret")
	}
}

func TestPreflightInvalidOptions(t *testing.T) {
	opts := testOptions()
	opts.WaveSize = 0
	findings := Preflight(cleanInventory(), opts)
	f := requireFinding(t, findings, FindingInvalidOptions)
	if f.Severity != SeverityBlocker || !strings.Contains(f.Summary, "WaveSize") {
		t.Errorf("finding = %s %s", f.Severity, f.Summary)
	}
	if findings[0].ID != FindingInvalidOptions {
		t.Errorf("first finding = %s, want the blocker first", findings[0].ID)
	}
	requireFinding(t, findings, FindingRenewalCadence)
}

func TestPreflightSortedAndStable(t *testing.T) {
	inv := mirroredInventory()
	inv.CertManager.GatewayAPIEnabled = false
	first := Preflight(inv, testOptions())
	second := Preflight(inv, testOptions())
	if !reflect.DeepEqual(first, second) {
		t.Error("two preflights of the same inventory differ")
	}
	for i := 1; i < len(first); i++ {
		if severityRank[first[i-1].Severity] > severityRank[first[i].Severity] {
			t.Errorf("finding %d (%s) is more severe than finding %d (%s)", i, first[i].Severity, i-1, first[i-1].Severity)
		}
	}
	for _, f := range first {
		if f.ID == "" || strings.ToLower(f.ID) != f.ID || strings.Contains(f.ID, " ") {
			t.Errorf("finding ID %q is not kebab-case", f.ID)
		}
	}
}
