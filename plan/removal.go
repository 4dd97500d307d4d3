package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/certwave/certwave/topology"
)

// removeWildcard adds the last steps of phase 4: remove every listener the
// hosts left, probe, then delete each Certificate whose Secret no remaining
// listener references (directly or through a reflector mirror) together
// with its mirrors. A listener that still serves a route without hostnames
// stays, and so does the Certificate behind it. The phase notes record why.
func (b *builder) removeWildcard() {
	keptListeners := map[string]string{}
	for _, r := range b.a.hostless {
		keptListeners[r.gateway+"|"+r.listener] = appendReason(keptListeners[r.gateway+"|"+r.listener], "route "+r.route+" has no hostnames")
	}
	left := map[string]bool{}
	for _, h := range b.a.hosts {
		left[h.Gateway+"|"+h.FromListener] = true
	}

	removed := map[string]bool{}
	for _, g := range b.a.gateways {
		for i := range g.gw.Listeners {
			l := &g.gw.Listeners[i]
			k := g.key + "|" + l.Name
			if !left[k] {
				continue
			}
			if reason, ok := keptListeners[k]; ok {
				b.notePhase(fmt.Sprintf("Listener %s of Gateway %s stays: %s.", l.Name, g.key, reason))
				continue
			}
			b.add(Step{
				ID: "p4-remove-listener-" + idPart(g.key) + "-" + l.Name, Phase: 4, Kind: StepRemoveListener,
				Gateway: g.key,
				Listener: &ListenerSpec{
					Name: l.Name, Hostname: l.Hostname, Port: l.Port, Protocol: l.Protocol,
					SecretName: l.CertificateRefs[0].Name, AllowedNamespaces: l.AllowedNamespaces,
				},
				Description: fmt.Sprintf("Remove listener %s from Gateway %s; every host it served has a listener of its own.", l.Name, g.key),
			})
			removed[k] = true
		}
	}
	if len(removed) == 0 {
		return
	}

	var all []string
	for _, h := range b.a.hosts {
		all = append(all, h.Hostname)
	}
	b.add(Step{
		ID: "p4-probe-after-removal", Phase: 4, Kind: StepProbe,
		Hosts:       compactStrings(sortedCopy(all)),
		Description: "Probe every migrated host again before the old Certificate goes, while re-adding a listener is still a rollback.",
	})

	for i := range b.a.inv.Certificates {
		b.retireCertificate(&b.a.inv.Certificates[i], removed)
	}
}

// retireCertificate deletes c and its reflector mirrors when every listener
// that uses its Secret was removed, or notes why it stays.
func (b *builder) retireCertificate(c *topology.Certificate, removed map[string]bool) {
	source := c.Namespace + "/" + c.SecretName
	mirrors := b.mirrorsOf(source)
	users := b.listenersUsing(append([]string{source}, mirrors...))
	touched := false
	var blocking []string
	for _, u := range users {
		if removed[u] {
			touched = true
		} else {
			blocking = append(blocking, strings.Replace(u, "|", " listener ", 1))
		}
	}
	if !touched {
		return
	}
	if len(blocking) > 0 {
		b.notePhase(fmt.Sprintf("Certificate %s/%s and Secret %s stay: Gateway %s still uses them.", c.Namespace, c.Name, source, strings.Join(blocking, ", Gateway ")))
		return
	}

	b.add(Step{
		ID: "p4-delete-certificate-" + c.Namespace + "-" + c.Name, Phase: 4, Kind: StepDeleteCert,
		Certificate: c.Namespace + "/" + c.Name,
		Secrets:     []string{source},
		Description: fmt.Sprintf("Delete Certificate %s/%s and its Secret %s; no listener references them any more.", c.Namespace, c.Name, source),
	})
	secret := b.a.inv.Secret(c.Namespace, c.SecretName)
	if len(mirrors) == 0 && (secret == nil || secret.Reflection == nil) {
		return
	}
	b.add(Step{
		ID: "p4-remove-reflection-" + c.Namespace + "-" + c.Name, Phase: 4, Kind: StepRemoveReflection,
		Certificate: c.Namespace + "/" + c.Name,
		Secrets:     mirrors,
		Description: fmt.Sprintf("Make sure reflector's mirrors of %s are gone (%s): reflector deletes auto mirrors with their source, and the plan deletes any left.", source, orNone(mirrors)),
	})
}

// mirrorsOf returns the reflector mirrors of Secret namespace/name, sorted.
func (b *builder) mirrorsOf(source string) []string {
	var out []string
	for _, s := range b.a.inv.Secrets {
		if s.MirrorOf == source {
			out = append(out, s.Key())
		}
	}
	sort.Strings(out)
	return out
}

// listenersUsing returns Gateway|listener for every listener of every
// Gateway whose certificateRefs name one of secrets (namespace/name).
func (b *builder) listenersUsing(secrets []string) []string {
	var out []string
	for _, gw := range b.a.inv.Gateways {
		for _, l := range gw.Listeners {
			for _, ref := range l.CertificateRefs {
				ns := ref.Namespace
				if ns == "" {
					ns = gw.Namespace
				}
				if containsString(secrets, ns+"/"+ref.Name) {
					out = appendUnique(out, gw.Namespace+"/"+gw.Name+"|"+l.Name)
				}
			}
		}
	}
	return out
}

func appendReason(list, reason string) string {
	if list == "" {
		return reason
	}
	return list + "; " + reason
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedCopy(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}
