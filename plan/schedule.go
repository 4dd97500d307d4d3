package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certwave/certwave/topology"
)

// Phase names of the runbook.
var phaseNames = []string{
	"preflight and annotate",
	"private CA and internal Gateways",
	"public canary",
	"public waves",
	"mirrored Secrets and wildcard removal",
}

// privateCADuration is the lifetime the plan requests for the private root.
// cert-manager renews it at two thirds, after about 6.7 years.
const privateCADuration = 10 * 365 * day

// builder appends steps with calendar times. The cursor at advances by the
// duration of each wait, soak and test, so At is the earliest start if every
// wait runs to its timeout.
type builder struct {
	a        *analysis
	opts     Options
	blockers int

	at     time.Time
	steps  []Step
	ids    map[string]bool
	orders []PlannedOrder
	phases []Phase
	err    error

	// Public waves start at slotBase plus one slot (a day divided by
	// WavesPerDay) per wave already scheduled.
	slotBase  time.Time
	slotCount int
	// firstPublic and publicEnd bound the public orders: the first order
	// and the end of the soak after the last one.
	firstPublic time.Time
	publicEnd   time.Time
	canary      []*hostPlan
}

func newBuilder(a *analysis, findings []Finding) *builder {
	b := &builder{a: a, opts: a.opts, at: a.opts.Start, ids: map[string]bool{}}
	for _, f := range findings {
		if f.Severity == SeverityBlocker {
			b.blockers++
		}
	}
	return b
}

// build schedules every phase.
func (b *builder) build() error {
	b.phase0()
	b.phase1()
	b.phase2()
	b.phase3()
	b.phase4()
	return b.err
}

func (b *builder) add(s Step) {
	if b.ids[s.ID] {
		b.err = fmt.Errorf("plan: duplicate step ID %q (a planner bug: please report it with the inventory)", s.ID)
		return
	}
	b.ids[s.ID] = true
	s.At = b.at
	b.steps = append(b.steps, s)
	switch s.Kind {
	case StepWaitReady, StepSoak, StepShimTest, StepObserveRenewal:
		b.at = b.at.Add(s.Duration)
	}
}

func (b *builder) startPhase(n int, skipped string) {
	b.phases = append(b.phases, Phase{Number: n, Name: phaseNames[n], Skipped: skipped})
}

func (b *builder) notePhase(note string) {
	ph := &b.phases[len(b.phases)-1]
	ph.Notes = append(ph.Notes, note)
}

// order records the ACME order a step causes at the cursor.
func (b *builder) order(step string, h *hostPlan, renewal bool) {
	if !renewal && b.firstPublic.IsZero() {
		b.firstPublic = b.at
	}
	b.orders = append(b.orders, PlannedOrder{
		At:          b.at,
		Step:        step,
		Certificate: h.gw.gw.Namespace + "/" + h.SecretName,
		Names:       []string{h.Hostname},
		Renewal:     renewal,
	})
}

func (b *builder) phase0() {
	b.startPhase(0, "")
	b.add(Step{
		ID: "p0-preflight", Phase: 0, Kind: StepPreflight,
		Description: fmt.Sprintf("Run the preflight checks against the cluster and stop on any blocker finding (%d in this plan).", b.blockers),
	})
	for _, g := range b.a.gateways {
		if g.cohort == CohortPublic && len(g.hosts) > 0 {
			b.annotate(0, g)
		}
	}
}

// annotate adds the annotate and shim-test steps of a Gateway the shim may
// handle, or a note when annotating it is unsafe.
func (b *builder) annotate(phase int, g *gatewayPlan) {
	if g.unsafe != "" {
		b.notePhase(fmt.Sprintf("Gateway %s is not annotated: %s. Its hosts get Certificates the plan creates.", g.key, g.unsafe))
		return
	}
	prefix := fmt.Sprintf("p%d", phase)
	b.add(Step{
		ID: prefix + "-annotate-" + idPart(g.key), Phase: phase, Kind: StepAnnotateGateway,
		Gateway:     g.key,
		Annotations: issuerAnnotations(g.issuer, b.opts),
		Description: fmt.Sprintf("Annotate Gateway %s so that the gateway-shim issues its listeners' certificates from %s.", g.key, g.issuer),
	})
	b.add(Step{
		ID: prefix + "-shim-test-" + idPart(g.key), Phase: phase, Kind: StepShimTest,
		Gateway:     g.key,
		Duration:    b.opts.ReadyTimeout,
		Expect:      shimTestExpect(g),
		Description: fmt.Sprintf("Check within %s that the shim reacted to the annotation as expected and created no unplanned Certificate; stop if the result is ambiguous.", formatDuration(b.opts.ReadyTimeout)),
	})
}

// issuerAnnotations returns the shim annotations for issuer (Kind/name) and
// the optional duration and renew-before.
func issuerAnnotations(issuer string, opts Options) map[string]string {
	kind, name, _ := parseIssuer(issuer)
	ann := map[string]string{}
	if kind == "ClusterIssuer" {
		ann[topology.AnnotationClusterIssuer] = name
	} else {
		ann[topology.AnnotationIssuer] = name
	}
	if opts.Duration != 0 {
		ann[topology.AnnotationDuration] = formatDuration(opts.Duration)
	}
	if opts.RenewBefore != 0 {
		ann[topology.AnnotationRenewBefore] = formatDuration(opts.RenewBefore)
	}
	return ann
}

// shimTestExpect describes what annotating g must produce, from the shim's
// predicted effects.
func shimTestExpect(g *gatewayPlan) string {
	var parts, bad []string
	for _, e := range g.effects {
		switch e.action {
		case shimBadConfig:
			bad = append(bad, e.listeners[0])
		case shimLeaveAlone:
			parts = append(parts, "Certificate "+e.existing+" unchanged, because the Gateway does not own it")
		case shimKeep:
			parts = append(parts, "Certificate "+e.existing+" still owned by the Gateway")
		}
	}
	if len(bad) > 0 {
		parts = append([]string{fmt.Sprintf("a Warning BadConfig event on Gateway %s for listener %s", g.key, strings.Join(bad, ", "))}, parts...)
	}
	parts = append(parts, "no new Certificate in namespace "+g.gw.Namespace)
	expect := strings.Join(parts, "; ") + "."
	if len(bad) == 0 {
		expect += " The shim records no event for this Gateway, so the test shows only that nothing unplanned happened; the phase-2 canary is the first proof that the shim issues."
	}
	return expect
}

func (b *builder) phase1() {
	if b.opts.Variant == VariantAllACME {
		b.startPhase(1, "the all-ACME variant issues every host through ACME, so there is no private CA")
		return
	}
	hosts := b.hostsWhere(func(h *hostPlan) bool { return h.Cohort == CohortInternal })
	if len(hosts) == 0 {
		b.startPhase(1, fmt.Sprintf("no hosts on the internal Gateways (%s)", orNone(b.opts.InternalGateways)))
		return
	}
	b.startPhase(1, "")
	b.createPrivateCA()
	for _, g := range b.a.gateways {
		if g.cohort == CohortInternal && len(g.hosts) > 0 {
			b.annotate(1, g)
		}
	}
	for i, unit := range packUnits(hosts, b.opts.InternalBatchSize) {
		b.migrate(1, i+1, fmt.Sprintf("p1-b%d", i+1), unit)
	}
}

// createPrivateCA adds the steps that create a self-signed root and the CA
// ClusterIssuer on it, unless the inventory already has that issuer.
func (b *builder) createPrivateCA() {
	name := issuerName(b.opts.PrivateIssuer)
	if lookupIssuer(b.a.inv, b.opts.PrivateIssuer) != nil {
		b.notePhase(fmt.Sprintf("%s exists already; the plan does not create it.", b.opts.PrivateIssuer))
		return
	}
	ns := b.opts.ClusterResourceNamespace
	root := name + "-selfsigned"
	b.add(Step{
		ID: "p1-create-issuer-" + root, Phase: 1, Kind: StepCreateIssuer,
		Issuer:      &IssuerSpec{Kind: "ClusterIssuer", Name: root, Type: topology.IssuerSelfSigned},
		Description: fmt.Sprintf("Create the self-signed ClusterIssuer %s that signs the private root.", root),
	})
	b.add(Step{
		ID: "p1-create-certificate-" + name, Phase: 1, Kind: StepCreateCert,
		Certificate: ns + "/" + name,
		CertificateSpec: &CertificateSpec{
			Namespace: ns, Name: name, SecretName: name, CommonName: name,
			IssuerRef: "ClusterIssuer/" + root, IsCA: true, Duration: privateCADuration,
		},
		Description: fmt.Sprintf("Create the private root Certificate %s/%s, valid 10 years, in cert-manager's cluster resource namespace.", ns, name),
	})
	b.add(Step{
		ID: "p1-wait-ready-" + name, Phase: 1, Kind: StepWaitReady,
		Certificate: ns + "/" + name, Duration: b.opts.ReadyTimeout,
		Description: fmt.Sprintf("Wait until Certificate %s/%s is Ready.", ns, name),
	})
	b.add(Step{
		ID: "p1-create-issuer-" + name, Phase: 1, Kind: StepCreateIssuer,
		Issuer:      &IssuerSpec{Kind: "ClusterIssuer", Name: name, Type: topology.IssuerCA, CASecret: name},
		Description: fmt.Sprintf("Create the CA ClusterIssuer %s on Secret %s/%s.", name, ns, name),
	})
}

func (b *builder) hostsWhere(keep func(*hostPlan) bool) []*hostPlan {
	var out []*hostPlan
	for _, h := range b.a.hosts {
		if keep(h) {
			out = append(out, h)
		}
	}
	return out
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// packUnits groups hosts that share a route on the same Gateway into units,
// because a route can only be flipped once all its hosts have listeners,
// and packs whole units into batches of up to size hosts in host order. A
// unit larger than size is a batch of its own.
func packUnits(hosts []*hostPlan, size int) [][]*hostPlan {
	parent := make([]int, len(hosts))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	firstByRoute := map[string]int{}
	for i, h := range hosts {
		for _, r := range h.Routes {
			k := h.Gateway + "|" + r
			if j, ok := firstByRoute[k]; ok {
				parent[find(i)] = find(j)
			} else {
				firstByRoute[k] = i
			}
		}
	}
	var units [][]*hostPlan
	index := map[int]int{}
	for i, h := range hosts {
		root := find(i)
		if u, ok := index[root]; ok {
			units[u] = append(units[u], h)
			continue
		}
		index[root] = len(units)
		units = append(units, []*hostPlan{h})
	}

	var batches [][]*hostPlan
	var current []*hostPlan
	for _, u := range units {
		if len(current) > 0 && len(current)+len(u) > size {
			batches = append(batches, current)
			current = nil
		}
		current = append(current, u...)
	}
	if len(current) > 0 {
		batches = append(batches, current)
	}
	return batches
}

// unitOf returns the hosts of hosts that share a route with h on its
// Gateway, directly or through other hosts, h included.
func unitOf(hosts []*hostPlan, h *hostPlan) []*hostPlan {
	for _, batch := range packUnits(hosts, 1) {
		if slices.Contains(batch, h) {
			return batch
		}
	}
	return []*hostPlan{h}
}
