package plan

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/ratelimit"
	"github.com/certwave/certwave/topology"
)

func referencePlan(t *testing.T) *Plan {
	t.Helper()
	return mustPlan(t, topology.Reference(), testOptions())
}

func TestDefaultOptions(t *testing.T) {
	o := DefaultOptions(testStart)
	if o.Variant != VariantHybrid || o.WaveSize != 5 || o.WaveSoak != 12*time.Hour || o.CanarySoak != 24*time.Hour ||
		o.InternalBatchSize != 10 || o.ReadyTimeout != 5*time.Minute || o.WavesPerDay != 1 || o.Reserve != 6 ||
		o.PrivateIssuer != "ClusterIssuer/certwave-private-ca" || !o.Start.Equal(testStart) {
		t.Errorf("DefaultOptions = %+v", o)
	}

	p := referencePlan(t)
	if p.Options.ACMEIssuer != "ClusterIssuer/letsencrypt-production" {
		t.Errorf("resolved ACME issuer = %q", p.Options.ACMEIssuer)
	}
	if p.Options.Profile != ProfileClassic {
		t.Errorf("resolved profile = %q, want classic", p.Options.Profile)
	}
	if !reflect.DeepEqual(p.Options.InternalGateways, []string{"network/internal"}) {
		t.Errorf("resolved internal Gateways = %v", p.Options.InternalGateways)
	}
}

func TestReferenceCohorts(t *testing.T) {
	p := referencePlan(t)
	if len(p.Cohorts) != 2 {
		t.Fatalf("got %d cohorts, want public and internal", len(p.Cohorts))
	}
	public, internal := p.Cohorts[0], p.Cohorts[1]
	if public.Name != CohortPublic || !reflect.DeepEqual(public.Gateways, []string{"istio-system/istio", "mcp-system/mcp-gateway", "network/external"}) {
		t.Errorf("public cohort = %s %v", public.Name, public.Gateways)
	}
	if len(public.Hosts) != 22 {
		t.Errorf("public cohort has %d hosts, want 22", len(public.Hosts))
	}
	if internal.Name != CohortInternal || len(internal.Hosts) != 50 {
		t.Errorf("internal cohort = %s with %d hosts, want 50", internal.Name, len(internal.Hosts))
	}
	for _, h := range internal.Hosts {
		if h.Issuer != "ClusterIssuer/certwave-private-ca" || h.Phase != 1 {
			t.Errorf("internal host %s: issuer %s, phase %d", h.Hostname, h.Issuer, h.Phase)
		}
	}
	manual := 0
	for _, h := range public.Hosts {
		if h.Listener != "https-"+h.App || h.SecretName != h.App+"-tls" || h.FromListener != "https" {
			t.Errorf("host %s: listener %s, Secret %s, from %s", h.Hostname, h.Listener, h.SecretName, h.FromListener)
		}
		if h.Manual {
			manual++
			if h.Phase != 4 {
				t.Errorf("manual host %s is in phase %d, want 4", h.Hostname, h.Phase)
			}
		}
	}
	if manual != 11 {
		t.Errorf("got %d manual public hosts, want the 11 on istio and mcp-gateway", manual)
	}
}

func TestReferencePhase1(t *testing.T) {
	p := referencePlan(t)
	adds := stepsOf(p, 1, StepAddListener)
	if len(adds) != 50 {
		t.Fatalf("phase 1 adds %d listeners, want 50", len(adds))
	}
	perBatch := map[int]int{}
	for _, s := range adds {
		perBatch[s.Wave]++
		if s.Gateway != "network/internal" {
			t.Errorf("%s adds to %s", s.ID, s.Gateway)
		}
	}
	if !reflect.DeepEqual(perBatch, map[int]int{1: 10, 2: 10, 3: 10, 4: 10, 5: 10}) {
		t.Errorf("listeners per batch = %v, want 5 batches of 10", perBatch)
	}

	for b := 1; b <= 5; b++ {
		prefix := "p1-b" + string(rune('0'+b))
		for _, suffix := range []string{"-wait-ready", "-probe"} {
			if stepByID(p, prefix+suffix) == nil {
				t.Errorf("batch %d has no step %s", b, prefix+suffix)
			}
		}
	}
	if len(stepsOf(p, 1, StepFlipRoute)) != 50 {
		t.Errorf("phase 1 flips %d routes, want 50", len(stepsOf(p, 1, StepFlipRoute)))
	}

	issuers := stepsOf(p, 1, StepCreateIssuer)
	if len(issuers) != 2 || issuers[0].Issuer.Type != topology.IssuerSelfSigned || issuers[1].Issuer.Type != topology.IssuerCA {
		t.Errorf("create-issuer steps = %+v, want a self-signed root issuer then the CA issuer", issuers)
	}
	annotate := stepByID(p, "p1-annotate-network-internal")
	if annotate == nil || annotate.Annotations[topology.AnnotationClusterIssuer] != "certwave-private-ca" {
		t.Errorf("internal Gateway annotation = %+v", annotate)
	}
	if idx(p, "p1-create-issuer-certwave-private-ca") > idx(p, "p1-annotate-network-internal") {
		t.Error("the internal Gateway is annotated before its issuer exists")
	}
}

func TestReferencePhases2And3(t *testing.T) {
	p := referencePlan(t)
	canary := stepsOf(p, 2, StepAddListener)
	if len(canary) != 1 || canary[0].Listener.Hostname != "auth.example.com" {
		t.Fatalf("canary listeners = %+v, want auth.example.com alone", canary)
	}
	soak := stepByID(p, "p2-soak")
	if soak == nil || soak.Duration != 24*time.Hour {
		t.Errorf("canary soak = %+v, want 24h", soak)
	}
	renewal := stepByID(p, "p2-observe-renewal")
	if renewal == nil || !renewal.At.Equal(soak.At.Add(24*time.Hour)) {
		t.Errorf("observe-renewal = %+v, want it right after the soak", renewal)
	}

	adds := stepsOf(p, 3, StepAddListener)
	if len(adds) != 10 {
		t.Fatalf("phase 3 adds %d listeners, want the 10 other external hosts", len(adds))
	}
	waveStart := map[int]time.Time{}
	perWave := map[int]int{}
	for _, s := range adds {
		perWave[s.Wave]++
		if _, ok := waveStart[s.Wave]; !ok {
			waveStart[s.Wave] = s.At
		}
	}
	if !reflect.DeepEqual(perWave, map[int]int{1: 5, 2: 5}) {
		t.Errorf("hosts per wave = %v, want 2 waves of 5", perWave)
	}
	if gap := waveStart[2].Sub(waveStart[1]); gap < 24*time.Hour {
		t.Errorf("waves are %s apart, want one wave a day", gap)
	}
	for w := 1; w <= 2; w++ {
		s := stepByID(p, "p3-w"+string(rune('0'+w))+"-soak")
		if s == nil || s.Duration != 12*time.Hour {
			t.Errorf("wave %d soak = %+v, want 12h", w, s)
		}
	}
	if stepByID(p, "p0-annotate-network-external") == nil {
		t.Error("the external Gateway is not annotated in phase 0")
	}
}

func TestReferencePhase4(t *testing.T) {
	p := referencePlan(t)
	for _, id := range []string{"p0-annotate-istio-system-istio", "p0-annotate-mcp-system-mcp-gateway"} {
		if stepByID(p, id) != nil {
			t.Errorf("%s exists: Gateways on mirrored Secrets must not be annotated", id)
		}
	}
	creates := stepsOf(p, 4, StepCreateCert)
	if len(creates) != 11 {
		t.Fatalf("phase 4 creates %d Certificates, want 11 (istio 2, mcp-gateway 9)", len(creates))
	}
	perGateway := map[string]int{}
	for _, c := range creates {
		perGateway[c.Gateway]++
		add := strings.Replace(c.ID, "-create-certificate-", "-add-listener-", 1)
		if idx(p, add) < idx(p, c.ID) {
			t.Errorf("%s comes before %s", add, c.ID)
		}
		if c.CertificateSpec.IssuerRef != "ClusterIssuer/letsencrypt-production" || len(c.CertificateSpec.DNSNames) != 1 {
			t.Errorf("%s spec = %+v", c.ID, c.CertificateSpec)
		}
	}
	if perGateway["istio-system/istio"] != 2 || perGateway["mcp-system/mcp-gateway"] != 9 {
		t.Errorf("manual Certificates per Gateway = %v", perGateway)
	}

	var removed []string
	for _, s := range stepsOf(p, 4, StepRemoveListener) {
		removed = append(removed, s.Gateway+"/"+s.Listener.Name)
	}
	want := []string{"istio-system/istio/https", "mcp-system/mcp-gateway/https", "network/external/https", "network/internal/https"}
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("removed listeners = %v, want %v", removed, want)
	}
	del := stepsOf(p, 4, StepDeleteCert)
	if len(del) != 1 || del[0].Certificate != "network/example.com" {
		t.Errorf("delete-certificate steps = %+v, want network/example.com", del)
	}
	refl := stepsOf(p, 4, StepRemoveReflection)
	if len(refl) != 1 || !reflect.DeepEqual(refl[0].Secrets, []string{"istio-system/example-com-tls", "mcp-system/example-com-tls"}) {
		t.Errorf("remove-reflection steps = %+v", refl)
	}
	last := p.Steps[len(p.Steps)-1]
	if last.Kind != StepRemoveReflection {
		t.Errorf("last step = %s, want the reflection removal", last.ID)
	}
	if idx(p, "p4-probe-after-removal") > idx(p, "p4-delete-certificate-network-example.com") {
		t.Error("the wildcard Certificate is deleted before the probe after the listener removal")
	}
}

func TestReferenceStepInvariants(t *testing.T) {
	p := referencePlan(t)
	seen := map[string]bool{}
	listeners := map[string]int{}
	for i, s := range p.Steps {
		if seen[s.ID] {
			t.Errorf("duplicate step ID %s", s.ID)
		}
		seen[s.ID] = true
		if !strings.HasPrefix(s.ID, "p"+string(rune('0'+s.Phase))+"-") {
			t.Errorf("step %s is in phase %d", s.ID, s.Phase)
		}
		if i > 0 && s.At.Before(p.Steps[i-1].At) {
			t.Errorf("step %s at %s starts before the previous step", s.ID, s.At)
		}
		if s.Description == "" {
			t.Errorf("step %s has no description", s.ID)
		}
		if s.Kind == StepAddListener {
			listeners[s.Gateway+"|"+s.Listener.Hostname]++
		}
	}
	if len(listeners) != 72 {
		t.Errorf("got listeners for %d hosts, want 72", len(listeners))
	}
	for k, n := range listeners {
		if n != 1 {
			t.Errorf("host %s gets %d listeners", k, n)
		}
	}
	if len(p.Phases) != 5 {
		t.Fatalf("got %d phases, want 5", len(p.Phases))
	}
	for _, ph := range p.Phases {
		if ph.Skipped != "" {
			t.Errorf("phase %d skipped in the hybrid reference plan: %s", ph.Number, ph.Skipped)
		}
	}
}

func TestReferenceOrdersAndBudget(t *testing.T) {
	p := referencePlan(t)
	newOrders, renewals := 0, 0
	for _, o := range p.Orders {
		if o.Renewal {
			renewals++
		} else {
			newOrders++
		}
	}
	if newOrders != 22 || renewals != 1 {
		t.Errorf("orders: %d new, %d renewals; want 22 and 1", newOrders, renewals)
	}
	if p.Breach != nil {
		t.Errorf("the runbook plan breaches: %+v", p.Breach)
	}
	key := "CertificatesPerDomain:example.com"
	for i, d := range p.Budget {
		if i > 0 && !d.Date.Equal(p.Budget[i-1].Date.Add(24*time.Hour)) {
			t.Errorf("budget day %s does not follow %s", d.Date, p.Budget[i-1].Date)
		}
		if d.Remaining[key] < d.Reserve {
			t.Errorf("%s: %d per-domain tokens left, below the reserve %d", d.Date.Format(time.DateOnly), d.Remaining[key], d.Reserve)
		}
		if d.Orders > 6 {
			t.Errorf("%s: %d orders, more than a wave and the renewal", d.Date.Format(time.DateOnly), d.Orders)
		}
	}
	if p.LowerBound != 36*time.Hour {
		t.Errorf("lower bound = %s, want 36h (24h canary soak, one wave of 21, 12h soak)", p.LowerBound)
	}
	if p.PublicSpan < p.LowerBound {
		t.Errorf("public span %s is shorter than the lower bound %s", p.PublicSpan, p.LowerBound)
	}
	if span := p.End.Sub(p.Options.Start); span < 5*24*time.Hour || span > 6*24*time.Hour {
		t.Errorf("plan takes %s, want 5 to 6 days", span)
	}
}

func TestAllACMEVariant(t *testing.T) {
	opts := testOptions()
	opts.Variant = VariantAllACME
	p := mustPlan(t, topology.Reference(), opts)
	if p.Phases[1].Skipped == "" {
		t.Error("phase 1 is not skipped in the all-ACME variant")
	}
	if len(stepsOf(p, 1, StepAddListener)) != 0 || len(stepsOf(p, -1, StepCreateIssuer)) != 0 {
		t.Error("the all-ACME variant creates a private CA or phase-1 listeners")
	}
	if len(p.Cohorts) != 1 || len(p.Cohorts[0].Hosts) != 72 {
		t.Errorf("cohorts = %d, want one public cohort of 72 hosts", len(p.Cohorts))
	}
	if got := len(stepsOf(p, 3, StepAddListener)); got != 60 {
		t.Errorf("phase 3 adds %d listeners, want 60", got)
	}
	if stepByID(p, "p0-annotate-network-internal") == nil {
		t.Error("the internal Gateway is not annotated with the ACME issuer in phase 0")
	}
	if p.LowerBound >= p.PublicSpan || p.LowerBound < 4*24*time.Hour {
		t.Errorf("lower bound %s, public span %s", p.LowerBound, p.PublicSpan)
	}
}

func flagDayOptions() Options {
	opts := testOptions()
	opts.Variant = VariantAllACME
	opts.WaveSize = 72
	opts.WaveSoak = 0
	opts.CanarySoak = 0
	return opts
}

func TestFlagDayBreach(t *testing.T) {
	// Let's Encrypt's token bucket returns one token every 3h22m; the legacy
	// sliding window frees a slot only when the oldest issuance is a week old.
	maxWait := map[string]time.Duration{
		LimitModelBoulder:       3*time.Hour + 22*time.Minute,
		LimitModelSlidingWindow: 7 * 24 * time.Hour,
	}
	for model, limit := range maxWait {
		t.Run(model, func(t *testing.T) {
			opts := flagDayOptions()
			opts.LimitModel = model
			_, err := New(topology.Reference(), opts)
			var be *BreachError
			if !errors.As(err, &be) {
				t.Fatalf("New = %v, want a *BreachError", err)
			}
			b := be.Breach
			if b.Limit != string(ratelimit.CertificatesPerDomain) || b.Key != "example.com" {
				t.Errorf("breach = %s for %s, want CertificatesPerDomain for example.com", b.Limit, b.Key)
			}
			wait := b.Until.Sub(b.At)
			if wait <= 0 || wait > limit {
				t.Errorf("Until is %s after At, want at most %s", wait, limit)
			}
			if be.Plan == nil || be.Plan.Breach == nil {
				t.Error("the BreachError carries no plan")
			}
			if !strings.Contains(err.Error(), "CertificatesPerDomain") || !strings.Contains(err.Error(), "example.com") {
				t.Errorf("error = %v", err)
			}
		})
	}
}

func TestFlagDayForced(t *testing.T) {
	opts := flagDayOptions()
	opts.Force = true
	p := mustPlan(t, topology.Reference(), opts)
	if p.Breach == nil {
		t.Fatal("a forced flag-day plan has no Breach")
	}
	refused := 0
	for _, d := range p.Budget {
		refused += d.Refused
	}
	if refused == 0 {
		t.Error("the forced plan projects no refused orders")
	}
	if !strings.Contains(p.Breach.Detail, "refused") {
		t.Errorf("detail = %s", p.Breach.Detail)
	}
	// The refused orders fit one per refill interval after Until.
	want := p.Breach.Until.Add(time.Duration(refused-1) * limitOf(ratelimit.CertificatesPerDomain).Per)
	if !strings.Contains(p.Breach.Detail, "the last of them fits from about "+want.Format(time.RFC3339)) {
		t.Errorf("detail does not say when all %d refused orders fit (%s): %s", refused, want.Format(time.RFC3339), p.Breach.Detail)
	}
}

func TestReserveBreach(t *testing.T) {
	inv := cleanInventory()
	manyRoutes(inv, 47, "web", "public")
	inv.Finalize()
	opts := testOptions()
	opts.WaveSize = 49
	opts.WaveSoak = 0
	opts.CanarySoak = 0
	_, err := New(inv, opts)
	var be *BreachError
	if !errors.As(err, &be) {
		t.Fatalf("New = %v, want a reserve breach for 49 orders with a reserve of 6", err)
	}
	if be.Breach.Limit != string(ratelimit.CertificatesPerDomain) || !strings.Contains(be.Breach.Detail, "reserve") {
		t.Errorf("breach = %+v", be.Breach)
	}
	if got, want := be.Breach.Until.Sub(be.Breach.At), limitOf(ratelimit.CertificatesPerDomain).Per; got != want {
		t.Errorf("Until is %s after At, want one token (%s)", got, want)
	}

	opts.Reserve = 0
	if _, err := New(inv, opts); err != nil {
		t.Errorf("49 orders without a reserve: %v", err)
	}
}

func TestWavesPerDay(t *testing.T) {
	opts := testOptions()
	opts.WavesPerDay = 2
	p := mustPlan(t, topology.Reference(), opts)
	w1, w2 := stepByID(p, "p3-w1-add-listener-blog"), stepByID(p, "p3-w2-add-listener-ntfy")
	if w1 == nil || w2 == nil {
		t.Fatal("missing phase-3 waves")
	}
	if gap := w2.At.Sub(w1.At); gap >= 24*time.Hour || gap < 12*time.Hour {
		t.Errorf("two waves a day are %s apart, want between the 12h soak and a day", gap)
	}
}

func TestCanaryOption(t *testing.T) {
	opts := testOptions()
	opts.Canary = "vault.example.com"
	p := mustPlan(t, topology.Reference(), opts)
	if stepByID(p, "p2-add-listener-vault") == nil {
		t.Error("the chosen canary is not in phase 2")
	}
	if stepByID(p, "p3-w1-add-listener-auth") == nil {
		t.Error("auth.example.com is not in the first public wave")
	}

	opts.Canary = "nas.example.com"
	if _, err := New(topology.Reference(), opts); err == nil || !strings.Contains(err.Error(), "nas.example.com") {
		t.Errorf("New with an unknown canary = %v, want an error naming it", err)
	}
}

func TestOptionErrors(t *testing.T) {
	cases := map[string]func(*Options){
		"Start":             func(o *Options) { o.Start = time.Time{} },
		"WaveSize":          func(o *Options) { o.WaveSize = 0 },
		"WavesPerDay":       func(o *Options) { o.WavesPerDay = 0 },
		"Reserve":           func(o *Options) { o.Reserve = 50 },
		"Duration":          func(o *Options) { o.Duration = 30 * time.Minute },
		"RenewBefore":       func(o *Options) { o.Duration = 2 * time.Hour; o.RenewBefore = 2 * time.Hour },
		"variant":           func(o *Options) { o.Variant = "acme-only" },
		"profile":           func(o *Options) { o.Profile = "tls-client" },
		"internal Gateway":  func(o *Options) { o.InternalGateways = []string{"network/missing"} },
		"issuer":            func(o *Options) { o.ACMEIssuer = "letsencrypt" },
		"private issuer":    func(o *Options) { o.PrivateIssuer = "Issuer/ca" },
		"limit model":       func(o *Options) { o.LimitModel = "guess" },
		"ReadyTimeout":      func(o *Options) { o.ReadyTimeout = 0 },
		"InternalBatchSize": func(o *Options) { o.InternalBatchSize = -1 },
	}
	for name, mutate := range cases {
		opts := testOptions()
		mutate(&opts)
		if _, err := New(topology.Reference(), opts); err == nil {
			t.Errorf("%s: New accepted invalid options %+v", name, opts)
		}
	}

	inv := cleanInventory()
	inv.Issuers[0].ACMEServer = "https://pebble.local/dir"
	_, err := New(inv, testOptions())
	if err == nil || !strings.Contains(err.Error(), "no Let's Encrypt ClusterIssuer") {
		t.Errorf("New without a Let's Encrypt issuer = %v", err)
	}
	if _, err := New(nil, testOptions()); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestOutOfScopeGateways(t *testing.T) {
	inv := cleanInventory()
	inv.Gateways = append(inv.Gateways,
		topology.Gateway{Namespace: "web", Name: "plain", Listeners: []topology.Listener{{Name: "http", Port: 80, Protocol: topology.ProtocolHTTP}}},
		topology.Gateway{Namespace: "db", Name: "pass", Listeners: []topology.Listener{{Name: "tls", Port: 443, Protocol: topology.ProtocolTLS, TLSMode: topology.TLSModePassthrough}}},
	)
	inv.Finalize()
	p := mustPlan(t, inv, testOptions())
	out := p.Cohorts[len(p.Cohorts)-1]
	if out.Name != CohortOutOfScope || !reflect.DeepEqual(out.Gateways, []string{"db/pass", "web/plain"}) {
		t.Fatalf("out-of-scope cohort = %+v", out)
	}
	if !strings.Contains(out.Reason, "web/plain: no listener terminates TLS") || !strings.Contains(out.Reason, "db/pass: only TLS passthrough") {
		t.Errorf("reason = %s", out.Reason)
	}
}

func TestMultiHostRouteStaysInOneWave(t *testing.T) {
	inv := cleanInventory()
	manyRoutes(inv, 3, "web", "public")
	addRoute(inv, "apps", "shop", "web", "public", "https", "shop.example.com", "store.example.com")
	inv.Finalize()
	opts := testOptions()
	opts.WaveSize = 2
	p := mustPlan(t, inv, opts)

	wave := map[string]int{}
	for _, s := range stepsOf(p, -1, StepAddListener) {
		wave[s.Listener.Hostname] = s.Phase*100 + s.Wave
	}
	if wave["shop.example.com"] != wave["store.example.com"] {
		t.Errorf("the two hosts of route apps/shop are in different waves: %v", wave)
	}
	var flips []Step
	for _, s := range stepsOf(p, -1, StepFlipRoute) {
		if s.Route == "apps/shop" {
			flips = append(flips, s)
		}
	}
	if len(flips) != 2 || flips[0].FromSection != "https" || flips[1].FromSection != "" {
		t.Errorf("flips of apps/shop = %+v, want a move then an added parentRef", flips)
	}
	if !slices.ContainsFunc(flips, func(s Step) bool { return strings.HasSuffix(s.ID, "-shop") }) {
		t.Errorf("flip IDs do not name the host: %v, %v", flips[0].ID, flips[1].ID)
	}
}

func TestDigest(t *testing.T) {
	a, b := referencePlan(t), referencePlan(t)
	if a.Digest() != b.Digest() {
		t.Error("two plans of the same inventory and options have different digests")
	}
	if !strings.HasPrefix(a.Digest(), "sha256:") || len(a.Digest()) != len("sha256:")+64 {
		t.Errorf("digest = %s", a.Digest())
	}
	b.Findings[0].Summary = "reworded"
	b.Inventory = nil
	if a.Digest() != b.Digest() {
		t.Error("rewording a finding or dropping the inventory changes the digest")
	}
	opts := testOptions()
	opts.WaveSize = 4
	if c := mustPlan(t, topology.Reference(), opts); c.Digest() == a.Digest() {
		t.Error("a different wave size keeps the digest")
	}
}
