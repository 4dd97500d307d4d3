package topology

import (
	"strings"
)

// inventoryBuilder turns the objects Flux would apply into an Inventory.
type inventoryBuilder struct {
	inv     *Inventory
	objects []*renderedObject
	// sources indexes ConfigMaps and OCIRepositories by kind/namespace/name.
	sources map[string]*renderedObject
	// recorded contains kind/namespace/name of every object already in the
	// inventory. A second object of the same identity is dropped because
	// only one can exist in the cluster.
	recorded map[string]bool
}

func objectKey(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

// buildInventory reads the rendered objects. The domain is SECRET_DOMAIN
// when the command line or the cluster variables set it.
func (l *gitopsLoader) buildInventory() (*Inventory, error) {
	domain := l.opts.Vars["SECRET_DOMAIN"]
	if domain == "" {
		domain = l.clusterVars["SECRET_DOMAIN"]
	}
	inv, err := buildInventoryFrom(l.objects, domain)
	if err != nil {
		return nil, err
	}
	if l.renderer.remote > 0 {
		inv.Skipped["(remote resource, not fetched)"] += l.renderer.remote
	}
	if len(inv.Skipped) == 0 {
		inv.Skipped = nil
	}
	return inv, nil
}

// buildInventoryFrom reads objects into a new Inventory and sets its Domain
// to domain, or to the apex of the wildcard Certificate when domain is "".
// Manifests are read before HelmRelease values, so an HTTPRoute manifest
// wins over a chart-rendered route of the same namespace and name.
func buildInventoryFrom(objects []*renderedObject, domain string) (*Inventory, error) {
	b := &inventoryBuilder{
		inv:      &Inventory{Skipped: map[string]int{}},
		objects:  objects,
		sources:  map[string]*renderedObject{},
		recorded: map[string]bool{},
	}
	for _, o := range objects {
		switch consultedKind(o) {
		case "ConfigMap", "OCIRepository":
			f := objectReader(o)
			ns, errNS := objectNamespace(o, f)
			name, errName := objectName(o, f)
			if errNS == nil && errName == nil {
				key := objectKey(o.kind, ns, name)
				if b.sources[key] == nil {
					b.sources[key] = o
				}
			}
		case "":
			b.inv.Skipped[skippedKey(o)]++
		}
	}
	for _, o := range objects {
		if err := b.readManifest(o); err != nil {
			return nil, err
		}
	}
	for _, o := range objects {
		if consultedKind(o) != "HelmRelease" {
			continue
		}
		if err := b.readHelmRelease(o); err != nil {
			return nil, err
		}
	}
	if err := b.readClientPaths(); err != nil {
		return nil, err
	}
	b.inv.ClientPaths = append(b.inv.ClientPaths, ClientPath{Name: "direct", Kind: ClientPathDirect})
	b.inv.Domain = domain
	if b.inv.Domain == "" {
		b.inv.Domain = wildcardApex(b.inv.Certificates)
	}
	return b.inv, nil
}

// record reports whether kind/namespace/name is new, and marks it.
func (b *inventoryBuilder) record(kind, namespace, name string) bool {
	key := objectKey(kind, namespace, name)
	if b.recorded[key] {
		return false
	}
	b.recorded[key] = true
	return true
}

// readManifest adds a Gateway, HTTPRoute, ReferenceGrant, Certificate,
// issuer or reflector Secret written as a manifest.
func (b *inventoryBuilder) readManifest(o *renderedObject) error {
	kind := consultedKind(o)
	switch kind {
	case "Gateway", "HTTPRoute", "ReferenceGrant", "Certificate", "Issuer", "ClusterIssuer", "Secret":
	default:
		return nil
	}
	f := objectReader(o)
	ns, err := objectNamespace(o, f)
	if err != nil {
		return err
	}
	name, err := objectName(o, f)
	if err != nil {
		return err
	}
	if !b.record(kind, ns, name) {
		return nil
	}
	switch kind {
	case "Gateway":
		g, err := readGateway(o, f, ns, name)
		if err != nil {
			return err
		}
		b.inv.Gateways = append(b.inv.Gateways, g)
	case "HTTPRoute":
		r, err := readHTTPRoute(o, f, ns, name)
		if err != nil {
			return err
		}
		b.inv.Routes = append(b.inv.Routes, r)
	case "ReferenceGrant":
		g, err := readReferenceGrant(o, f, ns, name)
		if err != nil {
			return err
		}
		b.inv.ReferenceGrants = append(b.inv.ReferenceGrants, g)
	case "Certificate":
		c, err := readCertificate(o, f, ns, name)
		if err != nil {
			return err
		}
		b.inv.Certificates = append(b.inv.Certificates, c)
	case "Issuer", "ClusterIssuer":
		is, err := readIssuer(o, f, ns, name)
		if err != nil {
			return err
		}
		b.inv.Issuers = append(b.inv.Issuers, is)
	case "Secret":
		s, err := readReflectorSecret(o, f, ns, name)
		if err != nil || s == nil {
			return err
		}
		b.inv.Secrets = append(b.inv.Secrets, *s)
	}
	return nil
}

// addChartRoute adds a route a chart renders, unless a manifest or another
// chart already made one of that namespace and name.
func (b *inventoryBuilder) addChartRoute(r Route) {
	if b.record("HTTPRoute", r.Namespace, r.Name) {
		b.inv.Routes = append(b.inv.Routes, r)
	}
}

// wildcardApex returns the domain under the wildcard Certificate: the
// shortest d among dnsNames of the form *.d. It returns "" when no
// Certificate has a wildcard name.
func wildcardApex(certs []Certificate) string {
	apex := ""
	for _, c := range certs {
		for _, name := range c.DNSNames {
			d, ok := strings.CutPrefix(name, "*.")
			if !ok {
				continue
			}
			if apex == "" || strings.Count(d, ".") < strings.Count(apex, ".") {
				apex = d
			}
		}
	}
	return apex
}
