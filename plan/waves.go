package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// migrate adds the steps that move hosts onto listeners of their own:
// Certificates first for hosts on Gateways the plan does not annotate, then
// the listeners, one wait for all of them, the route flips and a probe.
func (b *builder) migrate(phase, wave int, prefix string, hosts []*hostPlan) {
	var manual []string
	for _, h := range hosts {
		h.Phase = phase
		if !h.Manual {
			continue
		}
		id := prefix + "-create-certificate-" + h.key
		b.add(Step{
			ID: id, Phase: phase, Wave: wave, Kind: StepCreateCert,
			Gateway:     h.Gateway,
			Certificate: h.gw.gw.Namespace + "/" + h.SecretName,
			CertificateSpec: &CertificateSpec{
				Namespace: h.gw.gw.Namespace, Name: h.SecretName, SecretName: h.SecretName,
				DNSNames: []string{h.Hostname}, IssuerRef: h.Issuer,
				Duration: b.opts.Duration, RenewBefore: b.opts.RenewBefore,
			},
			Hosts:       []string{h.Hostname},
			Description: fmt.Sprintf("Create Certificate %s/%s for %s from %s before its listener exists, so the listener serves at once.", h.gw.gw.Namespace, h.SecretName, h.Hostname, h.Issuer),
		})
		if h.Cohort == CohortPublic {
			b.order(id, h, false)
		}
		manual = append(manual, h.Hostname)
	}
	if len(manual) > 0 {
		b.add(Step{
			ID: prefix + "-wait-certificates", Phase: phase, Wave: wave, Kind: StepWaitReady,
			Hosts: manual, Duration: b.opts.ReadyTimeout,
			Description: fmt.Sprintf("Wait until the %d Certificates are Ready; stop if one is not after %s.", len(manual), formatDuration(b.opts.ReadyTimeout)),
		})
	}

	var names []string
	for _, h := range hosts {
		id := prefix + "-add-listener-" + h.key
		b.add(Step{
			ID: id, Phase: phase, Wave: wave, Kind: StepAddListener,
			Gateway: h.Gateway,
			Listener: &ListenerSpec{
				Name: h.Listener, Hostname: h.Hostname, Port: h.from.Port, Protocol: h.from.Protocol,
				SecretName: h.SecretName, AllowedNamespaces: h.from.AllowedNamespaces,
			},
			Hosts:       []string{h.Hostname},
			Description: addListenerDescription(h),
		})
		if !h.Manual && h.Cohort == CohortPublic {
			b.order(id, h, false)
		}
		names = append(names, h.Hostname)
	}
	b.add(Step{
		ID: prefix + "-wait-ready", Phase: phase, Wave: wave, Kind: StepWaitReady,
		Hosts: names, Duration: b.opts.ReadyTimeout,
		Description: fmt.Sprintf("Wait until the %d listeners are Programmed and their Certificates Ready; stop if one is not after %s.", len(names), formatDuration(b.opts.ReadyTimeout)),
	})
	b.flipRoutes(phase, wave, prefix, hosts)
	b.add(Step{
		ID: prefix + "-probe", Phase: phase, Wave: wave, Kind: StepProbe,
		Hosts:       names,
		Description: fmt.Sprintf("Probe the %d hosts through every client path: each must be served with its own certificate.", len(names)),
	})
}

func addListenerDescription(h *hostPlan) string {
	issuedBy := "the gateway-shim creates its Certificate from the Gateway's annotation"
	if h.Manual {
		issuedBy = "its Certificate exists already"
	}
	return fmt.Sprintf("Add listener %s (hostname %s, Secret %s) to Gateway %s, keeping the listeners sorted by name; %s. "+
		"From now on listener %s no longer serves %s.", h.Listener, h.Hostname, h.SecretName, h.Gateway, issuedBy, h.FromListener, h.Hostname)
}

// flipRoutes moves each route of hosts to the hosts' listeners. A route
// serving several hosts keeps its first flip as a move and adds a parentRef
// for each further listener.
func (b *builder) flipRoutes(phase, wave int, prefix string, hosts []*hostPlan) {
	count := map[string]int{}
	for _, h := range hosts {
		for _, ref := range h.refs {
			count[ref.route]++
		}
	}
	moved := map[string]bool{}
	for _, h := range hosts {
		for _, ref := range h.refs {
			id := prefix + "-flip-route-" + idPart(ref.route)
			if count[ref.route] > 1 {
				id += "-" + h.key
			}
			from := ref.fromSection
			if moved[ref.route] {
				from = ""
			}
			moved[ref.route] = true
			desc := fmt.Sprintf("Move route %s from listener %s to %s of Gateway %s by its sectionName.", ref.route, from, h.Listener, h.Gateway)
			if from == "" {
				desc = fmt.Sprintf("Add a parentRef to listener %s of Gateway %s to route %s; its other parentRefs stay.", h.Listener, h.Gateway, ref.route)
			}
			b.add(Step{
				ID: id, Phase: phase, Wave: wave, Kind: StepFlipRoute,
				Gateway: h.Gateway, Route: ref.route, SectionName: h.Listener, FromSection: from,
				Hosts: []string{h.Hostname}, Description: desc,
			})
		}
	}
}

func (b *builder) phase2() {
	public := b.hostsWhere(func(h *hostPlan) bool { return h.Cohort == CohortPublic })
	if len(public) == 0 {
		b.startPhase(2, "no public hosts")
		return
	}
	canary, err := pickCanary(public, b.opts.Canary)
	if err != nil {
		b.startPhase(2, "")
		b.err = err
		return
	}
	b.startPhase(2, "")
	b.canary = unitOf(public, canary)
	b.migrate(2, 0, "p2", b.canary)

	b.add(Step{
		ID: "p2-soak", Phase: 2, Kind: StepSoak,
		Hosts: []string{canary.Hostname}, Duration: b.opts.CanarySoak,
		Description: fmt.Sprintf("Soak the canary %s for %s, probing it throughout.", canary.Hostname, formatDuration(b.opts.CanarySoak)),
	})

	certificate := canary.gw.gw.Namespace + "/" + canary.SecretName
	// The renewal order goes out when the step triggers it, at its start.
	b.order("p2-observe-renewal", canary, true)
	b.add(Step{
		ID: "p2-observe-renewal", Phase: 2, Kind: StepObserveRenewal,
		Gateway: canary.Gateway, Certificate: certificate,
		Hosts: []string{canary.Hostname}, Duration: b.opts.ReadyTimeout,
		Expect:      fmt.Sprintf("a new certificate in Secret %s (new serial number, notBefore after the trigger) served on listener %s; the order is a renewal, exempt from the per-domain limit", certificate, canary.Listener),
		Description: fmt.Sprintf("Trigger a renewal of Certificate %s (cmctl renew) and watch it complete, since a natural renewal comes only after weeks.", certificate),
	})
	b.add(Step{
		ID: "p2-probe-renewed", Phase: 2, Kind: StepProbe,
		Hosts:       []string{canary.Hostname},
		Description: fmt.Sprintf("Probe %s: it must be served with the renewed certificate.", canary.Hostname),
	})
	b.publicEnd = b.at
}

// pickCanary returns the host named by want, or the first public host by
// name on a Gateway the shim handles, or the first public host.
func pickCanary(public []*hostPlan, want string) (*hostPlan, error) {
	if want != "" {
		for _, h := range public {
			if h.Hostname == strings.ToLower(want) {
				return h, nil
			}
		}
		return nil, fmt.Errorf("invalid canary %q: not a public host of this plan", want)
	}
	sorted := slices.Clone(public)
	slices.SortStableFunc(sorted, func(x, y *hostPlan) int {
		if x.Manual != y.Manual {
			if x.Manual {
				return 1
			}
			return -1
		}
		return strings.Compare(x.Hostname, y.Hostname)
	})
	return sorted[0], nil
}

func (b *builder) phase3() {
	hosts := b.hostsWhere(func(h *hostPlan) bool {
		return h.Cohort == CohortPublic && !h.Manual && !slices.Contains(b.canary, h)
	})
	if len(hosts) == 0 {
		b.startPhase(3, "no public hosts on annotated Gateways besides the canary")
		return
	}
	b.startPhase(3, "")
	for i, wave := range packUnits(hosts, b.opts.WaveSize) {
		b.wave(3, i+1, wave)
	}
}

// wave schedules one public wave in the next free slot and soaks after it.
// Waves of phases 3 and 4 share the slots.
func (b *builder) wave(phase, n int, hosts []*hostPlan) {
	if b.slotBase.IsZero() {
		b.slotBase = b.at
	}
	slot := b.slotBase.Add(time.Duration(b.slotCount) * 24 * time.Hour / time.Duration(b.opts.WavesPerDay))
	if slot.After(b.at) {
		b.at = slot
	}
	b.slotCount++
	prefix := fmt.Sprintf("p%d-w%d", phase, n)
	b.migrate(phase, n, prefix, hosts)
	var names []string
	for _, h := range hosts {
		names = append(names, h.Hostname)
	}
	b.add(Step{
		ID: prefix + "-soak", Phase: phase, Wave: n, Kind: StepSoak,
		Hosts: names, Duration: b.opts.WaveSoak,
		Description: fmt.Sprintf("Soak wave %d for %s, probing its hosts throughout.", n, formatDuration(b.opts.WaveSoak)),
	})
	b.publicEnd = b.at
}

func (b *builder) phase4() {
	hosts := b.hostsWhere(func(h *hostPlan) bool {
		return h.Cohort == CohortPublic && h.Manual && !slices.Contains(b.canary, h)
	})
	b.startPhase(4, "")
	for i, wave := range packUnits(hosts, b.opts.WaveSize) {
		b.wave(4, i+1, wave)
	}
	b.removeWildcard()
	if !b.hasPhaseSteps(4) {
		b.phases[len(b.phases)-1].Skipped = "no hosts on Gateways the plan does not annotate and no listener to remove"
	}
}

func (b *builder) hasPhaseSteps(phase int) bool {
	for _, s := range b.steps {
		if s.Phase == phase {
			return true
		}
	}
	return false
}
