package plan

import (
	"fmt"
	"strings"
)

// rename records an app name that differs from the host's first label
// because another host in the namespace took that name first.
type rename struct {
	namespace string
	hostname  string
	app       string
	takenBy   string
}

// assignApps names each host's listener (https-<app>) and Secret
// (<app>-tls). The app is the first DNS label of the hostname ("wildcard"
// for a wildcard hostname), unique per namespace because Secrets live in the
// Gateway's namespace. Hosts are named in their sorted order. A later host
// whose label is in use gets its labels joined up to the registered domain
// (grafana.mcp.example.com becomes grafana-mcp), then a counter. Names that
// collide with an existing listener of the Gateway are skipped the same
// way. It also sets each host's step-ID key and returns the renames.
func assignApps(hosts []*hostPlan) []rename {
	used := map[string]map[string]string{} // namespace -> app -> hostname
	var renames []rename
	for _, h := range hosts {
		ns := h.gw.gw.Namespace
		if used[ns] == nil {
			used[ns] = map[string]string{}
		}
		inUse := func(app string) bool {
			if _, ok := used[ns][app]; ok {
				return true
			}
			return h.gw.gw.Listener("https-"+app) != nil
		}

		candidates := appCandidates(h.Hostname)
		app := ""
		for _, c := range candidates {
			if !inUse(c) {
				app = c
				break
			}
		}
		for n := 2; app == ""; n++ {
			if c := fmt.Sprintf("%s-%d", candidates[0], n); !inUse(c) {
				app = c
			}
		}
		if app != candidates[0] {
			renames = append(renames, rename{namespace: ns, hostname: h.Hostname, app: app, takenBy: used[ns][candidates[0]]})
		}
		used[ns][app] = h.Hostname
		h.App = app
		h.Listener = "https-" + app
		h.SecretName = app + "-tls"
	}

	count := map[string]int{}
	for _, h := range hosts {
		count[h.App]++
	}
	for _, h := range hosts {
		h.key = h.App
		if count[h.App] > 1 {
			h.key = h.gw.gw.Namespace + "-" + h.App
		}
	}
	return renames
}

// appCandidates returns the app names to try for hostname, best first: the
// first label, then the first two, three ... labels joined with "-",
// stopping before the last two labels (the usual registered domain).
func appCandidates(hostname string) []string {
	labels := strings.Split(hostname, ".")
	if labels[0] == "*" {
		labels[0] = "wildcard"
	}
	for i := range labels {
		labels[i] = sanitizeLabel(labels[i])
	}
	out := []string{labels[0]}
	for n := 2; n <= len(labels)-2; n++ {
		out = append(out, strings.Join(labels[:n], "-"))
	}
	return out
}

// sanitizeLabel lowercases a DNS label and replaces what a listener name
// (a Gateway API SectionName) does not allow with "-".
func sanitizeLabel(label string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(label) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "host"
	}
	return s
}

// idPart turns namespace/name into a step-ID fragment.
func idPart(key string) string {
	return strings.ReplaceAll(key, "/", "-")
}
