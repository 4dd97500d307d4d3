package plan

import (
	"fmt"
	"strings"
	"time"
)

// issuanceFindings reports on the issuers: the real renewal cadence, ACME
// profile and Certificate Transparency exposure, trust in the private CA.
func (a *analysis) issuanceFindings() []Finding {
	var out []Finding
	acmeHosts, privateHosts := 0, 0
	for _, h := range a.hosts {
		if h.Cohort == CohortInternal {
			privateHosts++
		} else {
			acmeHosts++
		}
	}
	if acmeHosts > 0 {
		out = append(out, a.renewalCadence(acmeHosts))
		out = append(out, a.profileFindings()...)
	}
	if privateHosts > 0 {
		out = append(out, a.privateCATrust(privateHosts))
	}
	return out
}

func (a *analysis) renewalCadence(acmeHosts int) Finding {
	o := a.opts
	lifetime := ProfileLifetime(o.Profile, o.Start)
	renewal := RenewalTime(o.Start, o.Start.Add(lifetime), o.RenewBefore, nil)
	every := renewal.Sub(o.Start)

	f := Finding{
		ID:       FindingRenewalCadence,
		Severity: SeverityInfo,
		Objects:  []string{o.ACMEIssuer},
		Summary: fmt.Sprintf("Certificates from %s (profile %s) issued on %s are valid %s and renewed on day %.1f, so the %d ACME hosts need about %.2f renewal orders a day.",
			o.ACMEIssuer, o.Profile, o.Start.Format(time.DateOnly), days(lifetime), every.Hours()/24, acmeHosts, float64(acmeHosts)/(every.Hours()/24)),
		Mechanism: "cert-manager (pkg/util/pki/renewaltime.go, the same from v1.17 to v1.21) renews at notAfter - renewBefore of the issued certificate, and at two thirds of the real lifetime " +
			"when renewBefore is unset or not shorter than that lifetime. Let's Encrypt sets the lifetime from the profile and ignores the requested duration.",
		Fix: "Nothing to do unless the cadence is a surprise; renewals are exempt from the per-domain and new-order limits but count towards the duplicate-certificate limit.",
	}
	var notes []string
	if o.Duration != 0 && o.Duration != lifetime {
		f.Severity = SeverityWarning
		notes = append(notes, fmt.Sprintf("The duration %s the plan requests is not honoured: the certificates are valid %s.", formatDuration(o.Duration), days(lifetime)))
		if o.RenewBefore == 0 {
			notes = append(notes, fmt.Sprintf("Without renew-before the renewal follows the real lifetime (day %.1f), not the requested duration.", every.Hours()/24))
		}
	}
	if o.RenewBefore >= lifetime {
		f.Severity = SeverityWarning
		notes = append(notes, fmt.Sprintf("renew-before %s is not shorter than the %s lifetime, so cert-manager falls back to renewing at two thirds of it.", formatDuration(o.RenewBefore), days(lifetime)))
	}
	next := ProfileLifetime(o.Profile, renewal)
	if next != lifetime {
		nextRenewal := RenewalTime(renewal, renewal.Add(next), o.RenewBefore, nil)
		notes = append(notes, fmt.Sprintf("Renewals from %s get certificates valid %s, renewed after %.1f days.",
			renewal.Format(time.DateOnly), days(next), nextRenewal.Sub(renewal).Hours()/24))
	}
	if len(notes) > 0 {
		f.Summary += " " + strings.Join(notes, " ")
	}
	if f.Severity == SeverityWarning {
		f.Fix = "Remove the duration annotation, or set renew-before to the margin wanted before the real expiry; set the profile on the issuer (spec.acme.profile, cert-manager v1.18 and later) to change the lifetime."
	}
	return f
}

// profileFindings reports the ACME profile: a mismatch between the plan and
// the issuer, and the Certificate Transparency exposure of the all-ACME
// variant.
func (a *analysis) profileFindings() []Finding {
	o := a.opts
	var out []Finding
	issuer := lookupIssuer(a.inv, o.ACMEIssuer)
	switch {
	case issuer == nil && strings.HasPrefix(o.ACMEIssuer, "ClusterIssuer/"):
		// A cluster's inventory lists every ClusterIssuer, so there the
		// issuer does not exist. A GitOps tree may leave some out, for
		// example those a Helm chart creates.
		severity := SeverityWarning
		if a.inv.Source == "reference" || strings.HasPrefix(a.inv.Source, "cluster:") {
			severity = SeverityBlocker
		}
		out = append(out, Finding{
			ID:        FindingACMEIssuerNotInventory,
			Severity:  severity,
			Objects:   []string{o.ACMEIssuer},
			Summary:   fmt.Sprintf("The ACME issuer %s is not in inventory %q.", o.ACMEIssuer, a.inv.Source),
			Mechanism: "The shim copies the issuer annotation into every Certificate it creates; a missing issuer leaves them all pending, and the plan cannot read the issuer's profile.",
			Fix:       "Check that the ClusterIssuer exists and is Ready before phase 0, or name the right one in the options.",
		})
	case issuer != nil && issuer.Profile != o.Profile && !(issuer.Profile == "" && o.Profile == ProfileClassic):
		out = append(out, Finding{
			ID:       FindingACMEProfileInfo,
			Severity: SeverityWarning,
			Objects:  []string{o.ACMEIssuer},
			Summary:  fmt.Sprintf("The plan assumes ACME profile %s but %s requests %s.", o.Profile, o.ACMEIssuer, orDefaultProfile(issuer.Profile)),
			Mechanism: "cert-manager selects the ACME profile on the issuer (spec.acme.profile, v1.18 and later); a Certificate or Gateway annotation cannot choose it, " +
				"so the lifetimes and renewal cadence the plan shows are wrong until the issuer changes.",
			Fix: "Set spec.acme.profile: " + o.Profile + " on the issuer, or plan with profile " + orDefaultProfile(issuer.Profile) + ".",
		})
	}

	if o.Variant != VariantAllACME {
		return out
	}
	internal, _ := resolveInternalGateways(a.inv, nil)
	var exposed []string
	for _, h := range a.hosts {
		for _, key := range internal {
			if h.Gateway == key {
				exposed = append(exposed, h.Hostname)
			}
		}
	}
	f := Finding{
		ID:       FindingACMEProfileInfo,
		Severity: SeverityInfo,
		Objects:  append([]string{o.ACMEIssuer}, prefixAll("Gateway/", internal)...),
		Summary: fmt.Sprintf("The all-ACME variant issues every host from %s with profile %s: certificates valid %s, authorizations reused for %s.",
			o.ACMEIssuer, o.Profile, days(ProfileLifetime(o.Profile, o.Start)), humanDuration(AuthorizationReuse(o.Profile))),
		Mechanism: "Let's Encrypt logs every certificate it issues in public Certificate Transparency logs, so each hostname of a per-host certificate becomes public; " +
			"the wildcard certificate hid them. Authorization reuse decides how often a renewal needs a new DNS01 challenge.",
		Fix: "Use the hybrid variant for hosts whose names must stay private.",
	}
	if len(exposed) > 0 {
		f.Severity = SeverityWarning
		f.Summary += fmt.Sprintf(" %d hostnames of the internal Gateways (%s) will appear in Certificate Transparency logs.", len(exposed), strings.Join(firstN(exposed, 5), ", "))
	}
	return append(out, f)
}

func (a *analysis) privateCATrust(hosts int) Finding {
	o := a.opts
	var objects []string
	for _, key := range o.InternalGateways {
		objects = append(objects, "Gateway/"+key)
	}
	name := issuerName(o.PrivateIssuer)
	return Finding{
		ID:       FindingPrivateCATrust,
		Severity: SeverityWarning,
		Objects:  append(objects, o.PrivateIssuer),
		Summary:  fmt.Sprintf("%d hosts on the internal Gateways will present certificates from the private CA %s instead of Let's Encrypt.", hosts, o.PrivateIssuer),
		Mechanism: "Clients trust only the roots in their trust stores, and a new self-signed root is in none of them, so every client of these hosts fails the handshake until it trusts the root. " +
			"The probes of phase 1 need the same root.",
		Fix: fmt.Sprintf("Distribute ca.crt of Secret %s/%s (created in phase 1) to the clients of the internal hosts before their batches, for example with trust-manager or the devices' trust stores.",
			o.ClusterResourceNamespace, name),
	}
}

func issuerName(ref string) string {
	_, name, _ := strings.Cut(ref, "/")
	return name
}

func orDefaultProfile(profile string) string {
	if profile == "" {
		return "the server default (" + ProfileClassic + ")"
	}
	return profile
}

func prefixAll(prefix string, list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, prefix+s)
	}
	return out
}

func firstN(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(list[:n:n], fmt.Sprintf("%d more", len(list)-n))
}

// humanDuration formats whole days as days() does and anything else as a
// Go duration.
func humanDuration(d time.Duration) string {
	if d%day == 0 {
		return days(d)
	}
	return formatDuration(d)
}

// days formats a duration in days, "90 days" or "6.7 days".
func days(d time.Duration) string {
	n := d.Hours() / 24
	if n == float64(int64(n)) {
		return fmt.Sprintf("%d days", int64(n))
	}
	return fmt.Sprintf("%.1f days", n)
}
