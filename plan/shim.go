package plan

import (
	"sort"
	"strings"

	"github.com/certwave/certwave/topology"
)

// annotationIgnoreTLSListeners is the Gateway annotation that makes the
// shim skip the listeners it names (comma-separated), from cert-manager
// v1.21.0 (pkg/apis/certmanager/v1/types.go).
const annotationIgnoreTLSListeners = "cert-manager.io/ignore-tls-listeners"

// shimAction is the reaction of cert-manager's gateway-shim to one listener,
// or to one Secret of merged listeners, once the Gateway is annotated.
type shimAction int

const (
	// shimSilentSkip: TLS passthrough or listed in ignore-tls-listeners;
	// skipped without an event.
	shimSilentSkip shimAction = iota
	// shimBadConfig: listener rejected with a Warning BadConfig event.
	shimBadConfig
	// shimLeaveAlone: a Certificate named after the Secret exists and the
	// Gateway does not own it, so the shim logs and does nothing.
	shimLeaveAlone
	// shimKeep: the Gateway already owns the Certificate named after the
	// Secret; the shim updates it if the listeners changed.
	shimKeep
	// shimCreate: no Certificate named after the Secret exists, so the shim
	// creates one and cert-manager issues into the Secret.
	shimCreate
)

// shimEffect is the shim's reaction to one listener (silent skip, bad
// config) or to one Secret (the other actions).
type shimEffect struct {
	action    shimAction
	listeners []string
	// reason explains a skip in the words of the shim's validation.
	reason string
	// secret is namespace/name; hostnames are the merged listener hostnames
	// that become the Certificate's dnsNames.
	secret    string
	hostnames []string
	// existing is the Certificate named after the Secret (leave alone,
	// keep); writers are the other Certificates that write the Secret.
	existing string
	writers  []string
	// mirrorOf is set when the Secret is a reflector mirror.
	mirrorOf string
}

// shimEffects predicts what annotating gw does, listener by listener, as
// handleGatewayAPIListeners and buildCertificates in cert-manager v1.21.2
// (pkg/controller/certificate-shim/sync.go) decide it, with the rules of
// the inventory's cert-manager release for passthrough listeners and
// ignore-tls-listeners. Only HTTPS and TLS listeners are considered;
// results are sorted by listener and Secret.
func shimEffects(inv *topology.Inventory, gw *topology.Gateway) []shimEffect {
	ignored := map[string]bool{}
	if inv.CertManager.ShimReadsIgnoreListeners() {
		for _, name := range strings.Split(gw.Annotations[annotationIgnoreTLSListeners], ",") {
			if name = strings.TrimSpace(name); name != "" {
				ignored[name] = true
			}
		}
	}

	var out []shimEffect
	hostsBySecret := map[string][]string{}
	listenersBySecret := map[string][]string{}
	for _, l := range gw.Listeners {
		if l.Protocol != topology.ProtocolHTTPS && l.Protocol != topology.ProtocolTLS {
			continue
		}
		switch {
		case l.TLSMode == topology.TLSModePassthrough && inv.CertManager.ShimSkipsPassthrough():
			out = append(out, shimEffect{action: shimSilentSkip, listeners: []string{l.Name}, reason: "TLS passthrough"})
			continue
		case l.TLSMode == topology.TLSModePassthrough:
			out = append(out, shimEffect{action: shimBadConfig, listeners: []string{l.Name}, reason: "TLS passthrough, which releases before v1.18 reject"})
			continue
		case ignored[l.Name]:
			out = append(out, shimEffect{action: shimSilentSkip, listeners: []string{l.Name}, reason: "listed in " + annotationIgnoreTLSListeners})
			continue
		}
		if reason := shimRejects(gw, &l); reason != "" {
			out = append(out, shimEffect{action: shimBadConfig, listeners: []string{l.Name}, reason: reason})
			continue
		}
		for _, ref := range l.CertificateRefs {
			key := gw.Namespace + "/" + ref.Name
			hostsBySecret[key] = appendUnique(hostsBySecret[key], l.Hostname)
			listenersBySecret[key] = appendUnique(listenersBySecret[key], l.Name)
		}
	}

	for _, key := range sortedKeys(hostsBySecret) {
		ns, name, _ := strings.Cut(key, "/")
		e := shimEffect{secret: key, hostnames: hostsBySecret[key], listeners: listenersBySecret[key]}
		if s := inv.Secret(ns, name); s != nil {
			e.mirrorOf = s.MirrorOf
		}
		for _, c := range inv.Certificates {
			if c.Namespace == ns && c.SecretName == name && c.Name != name {
				e.writers = append(e.writers, c.Namespace+"/"+c.Name)
			}
		}
		switch existing := inv.Certificate(ns, name); {
		case existing == nil:
			e.action = shimCreate
		case existing.OwnerGateway == gw.Namespace+"/"+gw.Name:
			e.action, e.existing = shimKeep, key
		default:
			e.action, e.existing = shimLeaveAlone, key
		}
		out = append(out, e)
	}

	sort.SliceStable(out, func(i, j int) bool { return out[i].listeners[0] < out[j].listeners[0] })
	return out
}

// shimRejects returns why the shim's validateGatewayListenerBlock rejects a
// Terminate listener, or "" when it accepts it.
func shimRejects(gw *topology.Gateway, l *topology.Listener) string {
	var reasons []string
	if l.Hostname == "" {
		reasons = append(reasons, "no hostname")
	}
	if len(l.CertificateRefs) == 0 {
		reasons = append(reasons, "no certificateRefs")
	}
	for _, ref := range l.CertificateRefs {
		if ref.Namespace != "" && ref.Namespace != gw.Namespace {
			reasons = append(reasons, "cross-namespace certificateRef "+ref.Namespace+"/"+ref.Name)
		}
	}
	return strings.Join(reasons, ", ")
}

// unsafeToAnnotate returns why annotating gw would make the shim issue into
// a Secret the plan does not own (a mirror, another Certificate's Secret or
// an unmanaged Secret), or "" when annotating is safe.
func unsafeToAnnotate(effects []shimEffect) string {
	var reasons []string
	for _, e := range effects {
		if e.action != shimCreate {
			continue
		}
		switch {
		case e.mirrorOf != "":
			reasons = append(reasons, "listener "+strings.Join(e.listeners, ",")+" uses Secret "+e.secret+", a reflector mirror of "+e.mirrorOf)
		case len(e.writers) > 0:
			reasons = append(reasons, "listener "+strings.Join(e.listeners, ",")+" uses Secret "+e.secret+", written by Certificate "+strings.Join(e.writers, ","))
		default:
			reasons = append(reasons, "the shim would create Certificate "+e.secret+" for listener "+strings.Join(e.listeners, ","))
		}
	}
	return strings.Join(reasons, "; ")
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
