package model

import (
	"fmt"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// markOverlaps sets OverlappingTLSConfig on the HTTPS listeners of one
// port whose hostnames, then whose certificate SANs, overlap, as Envoy
// Gateway's checkOverlappingHostnames and checkOverlappingCertificates
// (listener.go) do. Listeners with an invalid condition are left out. A
// listener is paired with every later overlapping listener not yet
// paired, and its message names the last one. A certificate overlap
// replaces a hostname overlap.
func markOverlaps(listeners []*listenerState) {
	var https []*listenerState
	var invalid []bool
	for _, l := range listeners {
		if l.protocol == gwapiv1.HTTPSProtocolType {
			https = append(https, l)
			invalid = append(invalid, l.invalid())
		}
	}
	// partner[i] is the index of the listener paired with https[i] last
	// (-1 for none), and detail[i] the overlapping names of https[i] and
	// of that partner.
	partner := make([]int, len(https))
	detail := make([][2]string, len(https))
	pair := func(overlaps func(a, b *listenerState) (string, string, bool)) {
		for i := range partner {
			partner[i] = -1
		}
		for i := range https {
			if partner[i] >= 0 || invalid[i] {
				continue
			}
			for j := i + 1; j < len(https); j++ {
				if partner[j] >= 0 || invalid[j] || https[i].port != https[j].port {
					continue
				}
				if mine, theirs, ok := overlaps(https[i], https[j]); ok {
					partner[i], detail[i] = j, [2]string{mine, theirs}
					partner[j], detail[j] = i, [2]string{theirs, mine}
				}
			}
		}
	}

	pair(func(a, b *listenerState) (string, string, bool) {
		return a.hostname, b.hostname, hostnamesOverlap(a.hostname, b.hostname)
	})
	for i, l := range https {
		if j := partner[i]; j >= 0 {
			l.setCondition(gwapiv1.ListenerConditionOverlappingTLSConfig, true, string(gwapiv1.ListenerReasonOverlappingHostnames),
				fmt.Sprintf("The hostname %q overlaps with the hostname %q in listener %s.", detail[i][0], detail[i][1], https[j].name))
		}
	}

	pair(func(a, b *listenerState) (string, string, bool) {
		for _, x := range a.certNames {
			for _, y := range b.certNames {
				if x != "" && y != "" && hostnamesOverlap(x, y) {
					return x, y, true
				}
			}
		}
		return "", "", false
	})
	for i, l := range https {
		if j := partner[i]; j >= 0 {
			l.setCondition(gwapiv1.ListenerConditionOverlappingTLSConfig, true, string(gwapiv1.ListenerReasonOverlappingCertificates),
				fmt.Sprintf("The certificate SAN %s overlaps with the certificate SAN %s in listener %s. ALPN will default to HTTP/1.1 to prevent HTTP/2 connection coalescing.",
					detail[i][0], detail[i][1], https[j].name))
		}
	}
}

// hostnamesOverlap is Envoy Gateway's areOverlappingHostnames: an empty
// hostname overlaps everything, and a wildcard covers exactly one more
// label.
func hostnamesOverlap(a, b string) bool {
	if a == "" || b == "" {
		return true
	}
	return wildcardCoversOneLabel(a, b) || wildcardCoversOneLabel(b, a)
}

func wildcardCoversOneLabel(host, pattern string) bool {
	if strings.HasPrefix(pattern, "*") && !strings.HasPrefix(host, "*") {
		prefix, ok := strings.CutSuffix(host, pattern[1:])
		return ok && !strings.Contains(prefix, ".")
	}
	return host == pattern
}
