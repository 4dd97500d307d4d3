package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/certwave/certwave/topology"
)

// Finding IDs. Several findings may share an ID; their Objects differ.
const (
	FindingInvalidOptions         = "invalid-options"
	FindingGatewayAPIDisabled     = "gateway-api-disabled"
	FindingCertManagerNotFound    = "cert-manager-not-found"
	FindingMirroredSecretGateway  = "mirrored-secret-gateway"
	FindingShimSkippedListener    = "shim-skipped-listener"
	FindingUnplannedShimCert      = "unplanned-shim-certificate"
	FindingTwoWriters             = "two-writers"
	FindingRouteWithoutSection    = "route-without-section-name"
	FindingRouteWithoutHostname   = "route-without-hostname"
	FindingFixedSNIClient         = "fixed-sni-client"
	FindingAppNameCollision       = "app-name-collision"
	FindingRenewalCadence         = "renewal-cadence"
	FindingACMEProfileInfo        = "acme-profile-info"
	FindingPrivateCATrust         = "private-ca-trust"
	FindingACMEIssuerNotInventory = "acme-issuer-not-found"
)

// Preflight returns the findings for migrating inv under opts, sorted by
// severity (blockers first), ID and objects. Options that cannot be resolved
// give an invalid-options blocker, and the other checks run with defaults in
// their place.
func Preflight(inv *topology.Inventory, opts Options) []Finding {
	resolved, err := resolveOptions(inv, opts)
	if err == nil {
		return analyze(inv, resolved).findings()
	}
	findings := analyze(inv, lenientOptions(inv, opts)).findings()
	findings = append(findings, Finding{
		ID:        FindingInvalidOptions,
		Severity:  SeverityBlocker,
		Summary:   err.Error(),
		Mechanism: "The planner needs valid options to split the cohorts and schedule the orders; the other findings were computed with defaults in place of the invalid ones.",
		Fix:       "Correct the option named in the summary and run the preflight again.",
	})
	sortFindings(findings)
	return findings
}

// lenientOptions replaces what resolveOptions rejects with defaults, so
// that the inventory checks still run.
func lenientOptions(inv *topology.Inventory, opts Options) Options {
	if opts.Variant != VariantAllACME {
		opts.Variant = VariantHybrid
	}
	if _, _, err := parseIssuer(opts.ACMEIssuer); err != nil {
		opts.ACMEIssuer = "ClusterIssuer/unknown"
		if found, err := findACMEIssuer(inv); err == nil {
			opts.ACMEIssuer = found
		}
	}
	if validProfile(opts.Profile) != nil {
		opts.Profile = ProfileClassic
	}
	if _, _, err := parseIssuer(opts.PrivateIssuer); err != nil {
		opts.PrivateIssuer = DefaultPrivateIssuer
	}
	gateways, err := resolveInternalGateways(inv, opts.InternalGateways)
	if err != nil {
		gateways, _ = resolveInternalGateways(inv, nil)
	}
	opts.InternalGateways = gateways
	return opts
}

// findings runs every check.
func (a *analysis) findings() []Finding {
	var out []Finding
	out = append(out, a.certManagerFindings()...)
	out = append(out, a.shimFindings()...)
	out = append(out, a.twoWriterFindings()...)
	out = append(out, a.routeFindings()...)
	out = append(out, a.fixedSNIFindings()...)
	out = append(out, a.nameFindings()...)
	out = append(out, a.issuanceFindings()...)
	sortFindings(out)
	return out
}

var severityRank = map[Severity]int{SeverityBlocker: 0, SeverityWarning: 1, SeverityInfo: 2}

func sortFindings(findings []Finding) {
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if severityRank[a.Severity] != severityRank[b.Severity] {
			return severityRank[a.Severity] < severityRank[b.Severity]
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return strings.Join(a.Objects, ",") < strings.Join(b.Objects, ",")
	})
}

// annotatedGateways returns the in-scope Gateways with hosts that the plan
// annotates (safe ones) or would have to (unsafe ones).
func (a *analysis) annotatedGateways() []*gatewayPlan {
	var out []*gatewayPlan
	for _, g := range a.gateways {
		if g.cohort != CohortOutOfScope && len(g.hosts) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func (a *analysis) certManagerFindings() []Finding {
	cm := a.inv.CertManager
	var objects []string
	for _, g := range a.annotatedGateways() {
		if g.unsafe == "" {
			objects = append(objects, g.gw.Ref().String())
		}
	}
	version := cm.Version
	if version == "" {
		version = "of unknown version"
	}
	switch {
	case !cm.Found:
		return []Finding{{
			ID:        FindingCertManagerNotFound,
			Severity:  SeverityWarning,
			Objects:   objects,
			Summary:   fmt.Sprintf("No cert-manager installation was found in inventory %q, so whether the gateway-shim runs is unknown.", a.inv.Source),
			Mechanism: "The plan relies on cert-manager's gateway-shim to create a Certificate for every listener it adds. Without Gateway API support the shim ignores Gateway annotations silently.",
			Fix:       "Include cert-manager's HelmRelease or Deployment in the inventory, or check its controller flags by hand before phase 0.",
		}}
	case !cm.GatewayAPIEnabled:
		return []Finding{{
			ID:       FindingGatewayAPIDisabled,
			Severity: SeverityBlocker,
			Objects:  objects,
			Summary:  fmt.Sprintf("cert-manager %s runs without Gateway API support, so the shim ignores the annotations the plan sets on %d Gateways.", version, len(objects)),
			Mechanism: "cert-manager starts its gateway-shim controller only when Gateway API support is enabled. Without it, cert-manager.io/cluster-issuer on a Gateway is silently ignored: " +
				"no Certificate and no event, so the phase-0 shim test sees nothing and every listener the plan adds waits for a Certificate that never comes.",
			// Field names from ControllerConfiguration in cert-manager v1.21.2
			// (pkg/apis/config/controller/v1alpha1/types.go).
			Fix: "Enable Gateway API support in the controller's configuration (the chart's config block): enableGatewayAPI: true from v1.15, or gatewayAPI.enabled: true in v1.21, " +
				"where enableGatewayAPI is deprecated. Install the Gateway API CRDs first, or restart the controller after installing them, then run the preflight again.",
		}}
	}
	return nil
}

func (a *analysis) shimFindings() []Finding {
	var out []Finding
	for _, g := range a.annotatedGateways() {
		for _, e := range g.effects {
			switch e.action {
			case shimBadConfig, shimSilentSkip:
				out = append(out, skippedListenerFinding(g, e))
			case shimCreate:
				if f, ok := shimCreateFinding(g, e, a.inv.CertManager); ok {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

func skippedListenerFinding(g *gatewayPlan, e shimEffect) Finding {
	listener := e.listeners[0]
	f := Finding{
		ID:       FindingShimSkippedListener,
		Severity: SeverityInfo,
		Objects:  []string{g.gw.Ref().String()},
	}
	if e.action == shimSilentSkip {
		f.Summary = fmt.Sprintf("The shim skips listener %s of Gateway %s (%s) without an event.", listener, g.key, e.reason)
		f.Mechanism = "cert-manager never issues for TLS passthrough listeners (without an event from v1.18) or for listeners named in " +
			annotationIgnoreTLSListeners + " (read from v1.21)."
		f.Fix = "Nothing to change: the plan neither migrates nor removes this listener."
		return f
	}
	f.Severity = SeverityWarning
	f.Summary = fmt.Sprintf("The shim skips listener %s of Gateway %s (%s) with a Warning BadConfig event.", listener, g.key, e.reason)
	// The validation is the same in v1.17.1 and v1.21.2
	// (validateGatewayListenerBlock in pkg/controller/certificate-shim/sync.go).
	f.Mechanism = "cert-manager validates each HTTPS and TLS listener before it creates a Certificate; a listener without hostname, without certificateRefs, with a certificateRef " +
		"in another namespace or (before v1.18) in TLS passthrough mode is skipped with the event \"Skipped a listener block\"."
	f.Fix = "Nothing to change for the migration: the listeners the plan adds have hostnames and Secrets in the Gateway's namespace."
	if strings.Contains(e.reason, "no hostname") {
		f.Mechanism += " Annotating this Gateway therefore creates no Certificate, so the phase-0 shim test can only look for that event: " +
			"no Certificate proves the shim path before the phase-2 canary, and a missing event does not tell a disabled shim from one that has not reconciled yet."
		f.Fix = "Count the phase-0 shim test as passed only when the BadConfig event for listener " + listener +
			" appears; without it, the test is ambiguous, so stop and check that the controller runs with Gateway API support."
	}
	return f
}

// annotateEarlier returns how to annotate a Gateway with a mirrored listener
// before phase 4 on the inventory's cert-manager release.
func annotateEarlier(cm topology.CertManager) string {
	if cm.ShimReadsIgnoreListeners() {
		return "To annotate earlier, first list the mirrored listener in " + annotationIgnoreTLSListeners + "."
	}
	version := cm.Version
	if version == "" {
		version = "of unknown version"
	}
	return fmt.Sprintf("Listing the mirrored listener in %s would not help: cert-manager reads it from v1.21.0, and this cluster's cert-manager is %s.",
		annotationIgnoreTLSListeners, version)
}

// shimCreateFinding reports what annotating an unsafe Gateway would do.
// Creations into another Certificate's Secret are two-writers findings
// (twoWriterFindings reports them).
func shimCreateFinding(g *gatewayPlan, e shimEffect, cm topology.CertManager) (Finding, bool) {
	ns, name, _ := strings.Cut(e.secret, "/")
	certificate := topology.ObjectRef{Kind: "Certificate", Namespace: ns, Name: name}.String()
	secret := topology.ObjectRef{Kind: "Secret", Namespace: ns, Name: name}.String()
	hosts := strings.Join(e.hostnames, ", ")
	switch {
	case e.mirrorOf != "":
		srcNS, srcName, _ := strings.Cut(e.mirrorOf, "/")
		return Finding{
			ID:       FindingMirroredSecretGateway,
			Severity: SeverityWarning,
			Objects:  []string{g.gw.Ref().String(), secret, topology.ObjectRef{Kind: "Secret", Namespace: srcNS, Name: srcName}.String()},
			Summary: fmt.Sprintf("Gateway %s serves listener %s from Secret %s, a reflector mirror of %s, so annotating the Gateway would make the shim issue into the mirror.",
				g.key, strings.Join(e.listeners, ", "), e.secret, e.mirrorOf),
			Mechanism: fmt.Sprintf("The shim creates one Certificate per referenced Secret, named after it, so annotating creates %s for [%s]. ", certificate, hosts) +
				"The mirror carries no cert-manager annotations, so cert-manager takes it for a certificate from another issuer (IncorrectIssuer) and places one ACME order nobody planned. " +
				"Reflector then overwrites the mirror with the source's data on every change of the source, and each overwrite makes cert-manager issue again.",
			Fix: "Do not annotate this Gateway in phase 0. The plan moves its hosts in phase 4: it creates a Certificate per host first, adds each listener once its Certificate is Ready, " +
				"and removes the mirrored listener last. " + annotateEarlier(cm),
		}, true
	case len(e.writers) > 0:
		return Finding{}, false
	}
	return Finding{
		ID:       FindingUnplannedShimCert,
		Severity: SeverityWarning,
		Objects:  []string{g.gw.Ref().String(), secret},
		Summary:  fmt.Sprintf("Annotating Gateway %s would make the shim create %s for [%s] and issue into Secret %s, which no Certificate in the inventory writes.", g.key, certificate, hosts, e.secret),
		Mechanism: "The shim creates a Certificate for every Secret its listeners reference unless a Certificate of that name exists. " +
			"cert-manager then replaces whatever the Secret holds, which costs an ACME order the plan did not schedule.",
		Fix: "The plan does not annotate this Gateway and creates the per-host Certificates itself. " +
			"If the Secret is managed elsewhere (a mirror the inventory missed, a manual Secret), keep it that way until phase 4 removes the listener.",
	}, true
}
