package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/certwave/certwave/ratelimit"
	"github.com/certwave/certwave/topology"
)

// APIVersion is the apiVersion of a serialised plan.
const APIVersion = "certwave.io/v1alpha1"

// Defaults of the runbook the planner encodes.
const (
	// DefaultPrivateIssuer is the CA ClusterIssuer phase 1 creates.
	DefaultPrivateIssuer = "ClusterIssuer/certwave-private-ca"
	// DefaultInternalGatewayName is the Gateway name that marks the internal
	// cohort when Options.InternalGateways is empty.
	DefaultInternalGatewayName = "internal"
	// DefaultClusterResourceNamespace is where cert-manager looks for the
	// Secrets of ClusterIssuers (its --cluster-resource-namespace default).
	DefaultClusterResourceNamespace = "cert-manager"
)

// Rate-limit models the budget projection can use.
const (
	// LimitModelBoulder decides with Let's Encrypt's own limiter code.
	LimitModelBoulder = "boulder"
	// LimitModelSlidingWindow is the pre-2025 sliding-window behaviour,
	// kept for comparison.
	LimitModelSlidingWindow = "sliding-window"
)

// cert-manager's lower bounds on a Certificate (pkg/apis/certmanager/v1
// const.go, v1.21.2): a duration under one hour or a renewBefore under five
// minutes is rejected by the webhook.
const (
	minCertificateDuration = time.Hour
	minRenewBefore         = 5 * time.Minute
)

// DefaultOptions returns the runbook's settings starting at start. They are
// the hybrid variant, waves of 5 public hosts once a day with a 12 h soak
// after each, a 24 h canary soak, internal batches of 10 and a 5 min Ready
// timeout. The reserve is 6 certificates per registered domain: one wave's
// worth of re-issues plus the wildcard's own renewal.
//
// ACMEIssuer, Profile and InternalGateways stay empty: New and Preflight
// fill them in from the inventory (the Let's Encrypt ClusterIssuer, its
// profile or classic, and every Gateway named internal).
func DefaultOptions(start time.Time) Options {
	const waveSize = 5
	return Options{
		Variant:                  VariantHybrid,
		PrivateIssuer:            DefaultPrivateIssuer,
		Start:                    start,
		WaveSize:                 waveSize,
		WaveSoak:                 12 * time.Hour,
		CanarySoak:               24 * time.Hour,
		InternalBatchSize:        10,
		ReadyTimeout:             5 * time.Minute,
		WavesPerDay:              1,
		Reserve:                  waveSize + 1,
		ClusterResourceNamespace: DefaultClusterResourceNamespace,
		LimitModel:               LimitModelBoulder,
	}
}

// resolveOptions fills the empty settings that depend on the inventory and
// validates the rest. The returned Options are what the plan records.
func resolveOptions(inv *topology.Inventory, opts Options) (Options, error) {
	if opts.Variant == "" {
		opts.Variant = VariantHybrid
	}
	if opts.Variant != VariantHybrid && opts.Variant != VariantAllACME {
		return opts, fmt.Errorf("invalid variant %q: use %s or %s", opts.Variant, VariantHybrid, VariantAllACME)
	}
	if opts.Start.IsZero() {
		return opts, fmt.Errorf("options: Start is missing: set the calendar time of the first step")
	}
	opts.Start = opts.Start.UTC()

	if opts.ACMEIssuer == "" {
		issuer, err := findACMEIssuer(inv)
		if err != nil {
			return opts, err
		}
		opts.ACMEIssuer = issuer
	}
	if _, _, err := parseIssuer(opts.ACMEIssuer); err != nil {
		return opts, err
	}
	if opts.Profile == "" {
		opts.Profile = ProfileClassic
		if is := lookupIssuer(inv, opts.ACMEIssuer); is != nil && is.Profile != "" {
			opts.Profile = is.Profile
		}
	}
	if err := validProfile(opts.Profile); err != nil {
		return opts, err
	}

	if opts.PrivateIssuer == "" {
		opts.PrivateIssuer = DefaultPrivateIssuer
	}
	if kind, _, err := parseIssuer(opts.PrivateIssuer); err != nil {
		return opts, err
	} else if kind != "ClusterIssuer" {
		return opts, fmt.Errorf("invalid private issuer %q: the plan creates it, so it must be a ClusterIssuer", opts.PrivateIssuer)
	}
	if opts.ClusterResourceNamespace == "" {
		opts.ClusterResourceNamespace = DefaultClusterResourceNamespace
	}
	if opts.LimitModel == "" {
		opts.LimitModel = LimitModelBoulder
	}
	if opts.LimitModel != LimitModelBoulder && opts.LimitModel != LimitModelSlidingWindow {
		return opts, fmt.Errorf("invalid limit model %q: use %s or %s", opts.LimitModel, LimitModelBoulder, LimitModelSlidingWindow)
	}

	gateways, err := resolveInternalGateways(inv, opts.InternalGateways)
	if err != nil {
		return opts, err
	}
	opts.InternalGateways = gateways

	return opts, validateNumbers(opts)
}

func validateNumbers(opts Options) error {
	positive := []struct {
		name  string
		value int
	}{
		{"WaveSize", opts.WaveSize},
		{"InternalBatchSize", opts.InternalBatchSize},
		{"WavesPerDay", opts.WavesPerDay},
	}
	for _, p := range positive {
		if p.value < 1 {
			return fmt.Errorf("invalid %s %d: want 1 or more", p.name, p.value)
		}
	}
	if opts.WaveSoak < 0 || opts.CanarySoak < 0 {
		return fmt.Errorf("invalid soak (wave %s, canary %s): soaks must not be negative", opts.WaveSoak, opts.CanarySoak)
	}
	if opts.ReadyTimeout <= 0 {
		return fmt.Errorf("invalid ReadyTimeout %s: want a positive duration such as 5m", opts.ReadyTimeout)
	}
	if opts.Duration != 0 && opts.Duration < minCertificateDuration {
		return fmt.Errorf("invalid Duration %s: cert-manager requires at least %s", opts.Duration, minCertificateDuration)
	}
	if opts.RenewBefore != 0 && opts.RenewBefore < minRenewBefore {
		return fmt.Errorf("invalid RenewBefore %s: cert-manager requires at least %s", opts.RenewBefore, minRenewBefore)
	}
	if opts.Duration != 0 && opts.RenewBefore >= opts.Duration {
		return fmt.Errorf("invalid RenewBefore %s: cert-manager rejects a Certificate whose renewBefore is not shorter than its duration %s", opts.RenewBefore, opts.Duration)
	}
	burst := limitOf(ratelimit.CertificatesPerDomain).Burst
	if opts.Reserve < 0 || opts.Reserve >= burst {
		return fmt.Errorf("invalid Reserve %d: want 0 to %d, below the %s burst of %d", opts.Reserve, burst-1, ratelimit.CertificatesPerDomain, burst)
	}
	return nil
}

// findACMEIssuer returns the Let's Encrypt ClusterIssuer of the inventory as
// Kind/name. With several, a production one (acme-v02) wins over staging,
// then the first by name.
func findACMEIssuer(inv *topology.Inventory) (string, error) {
	var candidates []*topology.Issuer
	for i := range inv.Issuers {
		is := &inv.Issuers[i]
		if is.Kind == "ClusterIssuer" && is.IsLetsEncrypt() {
			candidates = append(candidates, is)
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("no Let's Encrypt ClusterIssuer found in inventory %q: set the ACME issuer explicitly, for example ClusterIssuer/letsencrypt-production", inv.Source)
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		pi := strings.Contains(candidates[i].ACMEServer, "staging")
		pj := strings.Contains(candidates[j].ACMEServer, "staging")
		if pi != pj {
			return !pi
		}
		return candidates[i].Name < candidates[j].Name
	})
	return "ClusterIssuer/" + candidates[0].Name, nil
}

// parseIssuer splits Kind/name. Kind is ClusterIssuer or Issuer; an Issuer
// is looked up in each Gateway's own namespace, as the shim does.
func parseIssuer(ref string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(ref, "/")
	if !ok || name == "" || strings.Contains(name, "/") || (kind != "ClusterIssuer" && kind != "Issuer") {
		return "", "", fmt.Errorf("invalid issuer %q: want ClusterIssuer/<name> or Issuer/<name>", ref)
	}
	return kind, name, nil
}

// lookupIssuer returns the ClusterIssuer that ref names, or nil. Namespaced
// Issuers are not resolved because they depend on the Gateway.
func lookupIssuer(inv *topology.Inventory, ref string) *topology.Issuer {
	kind, name, err := parseIssuer(ref)
	if err != nil || kind != "ClusterIssuer" {
		return nil
	}
	return inv.Issuer("", topology.IssuerRef{Kind: kind, Name: name})
}

// resolveInternalGateways validates explicit namespace/name entries or,
// when there are none, returns every Gateway named internal.
func resolveInternalGateways(inv *topology.Inventory, requested []string) ([]string, error) {
	if len(requested) == 0 {
		var out []string
		for _, gw := range inv.Gateways {
			if gw.Name == DefaultInternalGatewayName {
				out = append(out, gw.Namespace+"/"+gw.Name)
			}
		}
		sort.Strings(out)
		return out, nil
	}
	out := make([]string, 0, len(requested))
	for _, key := range requested {
		ns, name, ok := strings.Cut(key, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("invalid internal Gateway %q: want namespace/name, for example network/internal", key)
		}
		if inv.Gateway(ns, name) == nil {
			return nil, fmt.Errorf("internal Gateway %s not found in inventory %q", key, inv.Source)
		}
		out = append(out, key)
	}
	sort.Strings(out)
	return compactStrings(out), nil
}

// limitOf returns the Let's Encrypt limit called name.
func limitOf(name ratelimit.Name) ratelimit.Limit {
	for _, l := range ratelimit.Limits() {
		if l.Name == name {
			return l
		}
	}
	panic(fmt.Sprintf("plan: ratelimit.Limits has no %s", name))
}

func compactStrings(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
