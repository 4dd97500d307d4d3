package topology

import (
	"sort"
	"strings"
)

// Finalize derives the Secrets the inventory implies and sorts every list so
// that output and plans are stable. Each loader calls it last.
//
// It records each Certificate's target Secret (IssuedBy), reads reflector
// annotations from Certificates' secretTemplate into the Secret's
// Reflection, and adds a mirror in every namespace reflector would copy an
// auto-enabled source into: the auto namespaces when set, otherwise the
// allowed namespaces, never the source's own namespace. Reflector's
// namespace lists are comma-separated and may hold regular expressions; only
// plain names are expanded here.
func (inv *Inventory) Finalize() {
	for i := range inv.Certificates {
		c := &inv.Certificates[i]
		s := inv.ensureSecret(c.Namespace, c.SecretName)
		if s.IssuedBy == "" {
			s.IssuedBy = c.Namespace + "/" + c.Name
		}
		if r := ParseReflection(c.SecretAnnotations); r != nil {
			s.Reflection = r
		}
	}

	sources := append([]Secret(nil), inv.Secrets...)
	for _, src := range sources {
		r := src.Reflection
		if r == nil || !r.Allowed || !r.AutoEnabled {
			continue
		}
		targets := r.AutoNamespaces
		if len(targets) == 0 {
			targets = r.AllowedNamespaces
		}
		for _, ns := range targets {
			if ns == src.Namespace || !isPlainName(ns) {
				continue
			}
			if len(r.AllowedNamespaces) > 0 && !contains(r.AllowedNamespaces, ns) {
				continue
			}
			m := inv.ensureSecret(ns, src.Name)
			if m.IssuedBy == "" {
				m.MirrorOf = src.Key()
			}
		}
	}

	inv.sortAll()
}

// ParseReflection reads reflector's source annotations; nil when the map
// carries none.
func ParseReflection(annotations map[string]string) *Reflection {
	allowed, ok := annotations[AnnotationReflectionAllowed]
	if !ok {
		return nil
	}
	return &Reflection{
		Allowed:           strings.EqualFold(allowed, "true"),
		AllowedNamespaces: splitList(annotations[AnnotationReflectionAllowedNamespaces]),
		AutoEnabled:       strings.EqualFold(annotations[AnnotationReflectionAutoEnabled], "true"),
		AutoNamespaces:    splitList(annotations[AnnotationReflectionAutoNamespaces]),
	}
}

// SecretFor returns the Secret a listener's certificateRef points at, with
// the Gateway's namespace filled in, or nil when the inventory has no such
// Secret.
func (inv *Inventory) SecretFor(gw *Gateway, ref SecretRef) *Secret {
	ns := ref.Namespace
	if ns == "" {
		ns = gw.Namespace
	}
	return inv.Secret(ns, ref.Name)
}

func (inv *Inventory) ensureSecret(namespace, name string) *Secret {
	if s := inv.Secret(namespace, name); s != nil {
		return s
	}
	inv.Secrets = append(inv.Secrets, Secret{Namespace: namespace, Name: name})
	return &inv.Secrets[len(inv.Secrets)-1]
}

func (inv *Inventory) sortAll() {
	sort.SliceStable(inv.Gateways, func(i, j int) bool {
		return lessNN(inv.Gateways[i].Namespace, inv.Gateways[i].Name, inv.Gateways[j].Namespace, inv.Gateways[j].Name)
	})
	sort.SliceStable(inv.Routes, func(i, j int) bool {
		return lessNN(inv.Routes[i].Namespace, inv.Routes[i].Name, inv.Routes[j].Namespace, inv.Routes[j].Name)
	})
	sort.SliceStable(inv.Certificates, func(i, j int) bool {
		return lessNN(inv.Certificates[i].Namespace, inv.Certificates[i].Name, inv.Certificates[j].Namespace, inv.Certificates[j].Name)
	})
	sort.SliceStable(inv.Issuers, func(i, j int) bool {
		a, b := inv.Issuers[i], inv.Issuers[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return lessNN(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	sort.SliceStable(inv.Secrets, func(i, j int) bool {
		return lessNN(inv.Secrets[i].Namespace, inv.Secrets[i].Name, inv.Secrets[j].Namespace, inv.Secrets[j].Name)
	})
	sort.SliceStable(inv.ClientPaths, func(i, j int) bool { return inv.ClientPaths[i].Name < inv.ClientPaths[j].Name })
	sort.SliceStable(inv.ReferenceGrants, func(i, j int) bool {
		return lessNN(inv.ReferenceGrants[i].Namespace, inv.ReferenceGrants[i].Name, inv.ReferenceGrants[j].Namespace, inv.ReferenceGrants[j].Name)
	})
}

func lessNN(ns1, n1, ns2, n2 string) bool {
	if ns1 != ns2 {
		return ns1 < ns2
	}
	return n1 < n2
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func isPlainName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return s != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
