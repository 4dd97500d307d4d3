package topology

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// gitopsConsultedKinds are the kinds the GitOps loader reads or consults,
// with the API group prefix of their apiVersion. Every other object is
// counted in Inventory.Skipped by kind.
var gitopsConsultedKinds = map[string]string{
	"Gateway":        "gateway.networking.k8s.io/",
	"HTTPRoute":      "gateway.networking.k8s.io/",
	"ReferenceGrant": "gateway.networking.k8s.io/",
	"Certificate":    "cert-manager.io/",
	"Issuer":         "cert-manager.io/",
	"ClusterIssuer":  "cert-manager.io/",
	"Secret":         "v1",
	"ConfigMap":      "v1",
	"HelmRelease":    "helm.toolkit.fluxcd.io/",
	"Kustomization":  "kustomize.toolkit.fluxcd.io/",
	"OCIRepository":  "source.toolkit.fluxcd.io/",
}

// consultedKind returns the kind of o when the loader reads it, or "".
func consultedKind(o *renderedObject) string {
	if o.name == "" || !groupMatches(o) {
		return ""
	}
	return o.kind
}

// groupMatches reports whether o's apiVersion is the API group the loader
// reads its kind from.
func groupMatches(o *renderedObject) bool {
	prefix, ok := gitopsConsultedKinds[o.kind]
	if !ok {
		return false
	}
	if prefix == "v1" {
		return o.apiVersion == "v1"
	}
	return strings.HasPrefix(o.apiVersion, prefix)
}

// skippedKey is the Inventory.Skipped key of an object: its kind, with the
// API group added when the loader reads a kind of that name from another
// group (an Istio Gateway is not a Gateway API Gateway).
func skippedKey(o *renderedObject) string {
	if o.kind == "" {
		return "(no kind)"
	}
	if _, ok := gitopsConsultedKinds[o.kind]; ok && o.apiVersion != "" && !groupMatches(o) {
		group, _, found := strings.Cut(o.apiVersion, "/")
		if !found {
			group = "core"
		}
		return o.kind + "." + group
	}
	return o.kind
}

// objectName returns the substituted metadata.name of o.
func objectName(o *renderedObject, f fieldReader) (string, error) {
	if o.generated != nil {
		return f.substitute(o.name, o.line)
	}
	name, _, err := f.text(yamlDig(o.root, "metadata", "name"))
	return name, err
}

// objectNamespace returns the substituted namespace of o. A namespaced
// object that no kustomization or Flux Kustomization placed gets
// "default". NOTE: that is the API server's default for a request without
// a namespace, and kustomize-controller's own handling was not checked.
func objectNamespace(o *renderedObject, f fieldReader) (string, error) {
	if clusterScopedKinds[o.kind] {
		return "", nil
	}
	ns, err := f.substitute(o.namespace, o.line)
	if err != nil || ns != "" {
		return ns, err
	}
	return "default", nil
}

// readGateway reads a Gateway API Gateway.
func readGateway(o *renderedObject, f fieldReader, ns, name string) (Gateway, error) {
	spec := yamlGet(o.root, "spec")
	g := Gateway{Namespace: ns, Name: name, Origin: Origin{File: o.file, Line: o.line}}
	var err error
	if g.Class, _, err = f.text(yamlGet(spec, "gatewayClassName")); err != nil {
		return g, err
	}
	if g.Annotations, err = readGatewayAnnotations(o, f); err != nil {
		return g, err
	}
	for _, ln := range yamlItems(yamlGet(spec, "listeners")) {
		l, err := readListener(ln, f)
		if err != nil {
			return g, err
		}
		g.Listeners = append(g.Listeners, l)
	}
	return g, nil
}

// readGatewayAnnotations returns metadata.annotations with kustomize
// commonAnnotations on top. Variables in cert-manager.io/ annotations, which
// the gateway-shim reads, must be set. Other annotations whose variables
// are unset are kept as written.
func readGatewayAnnotations(o *renderedObject, f fieldReader) (map[string]string, error) {
	out := map[string]string{}
	add := func(key, raw string, line int) error {
		v, err := f.substitute(raw, line)
		if err != nil {
			if strings.HasPrefix(key, "cert-manager.io/") {
				return err
			}
			v = raw
		}
		out[key] = v
		return nil
	}
	for _, p := range yamlPairs(yamlDig(o.root, "metadata", "annotations")) {
		if raw, ok := yamlScalar(p.value); ok {
			if err := add(p.key.Value, raw, yamlLine(p.value, o.line)); err != nil {
				return nil, err
			}
		}
	}
	for _, layer := range o.commonAnnotations {
		for _, key := range sortedKeys(layer) {
			if err := add(key, layer[key], o.line); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func readListener(n *yaml.Node, f fieldReader) (Listener, error) {
	var l Listener
	var err error
	if l.Name, _, err = f.text(yamlGet(n, "name")); err != nil {
		return l, err
	}
	if l.Port, err = readInt32(yamlGet(n, "port"), f); err != nil {
		return l, err
	}
	if l.Protocol, _, err = f.text(yamlGet(n, "protocol")); err != nil {
		return l, err
	}
	if l.Hostname, _, err = f.text(yamlGet(n, "hostname")); err != nil {
		return l, err
	}
	if l.AllowedNamespaces, _, err = f.text(yamlDig(n, "allowedRoutes", "namespaces", "from")); err != nil {
		return l, err
	}

	tls := yamlGet(n, "tls")
	if tls == nil {
		return l, nil
	}
	l.TLSMode = TLSModeTerminate
	if mode, ok, err := f.text(yamlGet(tls, "mode")); err != nil {
		return l, err
	} else if ok && mode != "" {
		l.TLSMode = mode
	}

	for _, ref := range yamlItems(yamlGet(tls, "certificateRefs")) {
		kind, _, err := f.text(yamlGet(ref, "kind"))
		if err != nil {
			return l, err
		}
		group, _, err := f.text(yamlGet(ref, "group"))
		if err != nil {
			return l, err
		}
		if (kind != "" && kind != "Secret") || group != "" {
			continue // not a Secret, so no Certificate writes it
		}
		var sr SecretRef
		if sr.Name, _, err = f.text(yamlGet(ref, "name")); err != nil {
			return l, err
		}
		if sr.Namespace, _, err = f.text(yamlGet(ref, "namespace")); err != nil {
			return l, err
		}
		l.CertificateRefs = append(l.CertificateRefs, sr)
	}
	return l, nil
}

// readInt32 reads an integer field, which is 0 when absent.
func readInt32(n *yaml.Node, f fieldReader) (int32, error) {
	text, ok, err := f.text(n)
	if err != nil || !ok {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a valid integer", includeSite{f.file, yamlLine(n, 0)}, text)
	}
	return int32(v), nil
}

// readHTTPRoute reads an HTTPRoute manifest.
func readHTTPRoute(o *renderedObject, f fieldReader, ns, name string) (Route, error) {
	spec := yamlGet(o.root, "spec")
	r := Route{Namespace: ns, Name: name, Origin: Origin{File: o.file, Line: o.line}}
	var err error
	if r.Hostnames, err = f.textList(yamlGet(spec, "hostnames")); err != nil {
		return r, err
	}
	r.ParentRefs, err = readParentRefs(yamlGet(spec, "parentRefs"), f, ns, nil)
	return r, err
}

// readParentRefs reads Gateway parentRefs. References to other parent kinds
// (a Service for mesh routing, a ListenerSet) are left out. expand, when
// set, is applied to each text after substitution (Helm templates).
func readParentRefs(n *yaml.Node, f fieldReader, routeNamespace string, expand func(string, int) (string, error)) ([]ParentRef, error) {
	var out []ParentRef
	field := func(ref *yaml.Node, key string) (string, error) {
		node := yamlGet(ref, key)
		v, _, err := f.text(node)
		if err != nil || expand == nil {
			return v, err
		}
		return expand(v, yamlLine(node, 0))
	}
	for _, ref := range yamlItems(n) {
		kind, err := field(ref, "kind")
		if err != nil {
			return nil, err
		}
		group, err := field(ref, "group")
		if err != nil {
			return nil, err
		}
		if (kind != "" && kind != "Gateway") || (group != "" && group != "gateway.networking.k8s.io") {
			continue
		}
		p := ParentRef{Namespace: routeNamespace}
		if p.Name, err = field(ref, "name"); err != nil {
			return nil, err
		}
		if p.Name == "" {
			continue // a ListenerSet identifier or an invalid entry
		}
		if ns, err := field(ref, "namespace"); err != nil {
			return nil, err
		} else if ns != "" {
			p.Namespace = ns
		}
		if p.SectionName, err = field(ref, "sectionName"); err != nil {
			return nil, err
		}
		if p.Port, err = readInt32(yamlGet(ref, "port"), f); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// readCertificate reads a cert-manager Certificate.
func readCertificate(o *renderedObject, f fieldReader, ns, name string) (Certificate, error) {
	spec := yamlGet(o.root, "spec")
	c := Certificate{Namespace: ns, Name: name, Origin: Origin{File: o.file, Line: o.line}}
	var err error
	if c.SecretName, _, err = f.text(yamlGet(spec, "secretName")); err != nil {
		return c, err
	}
	if c.CommonName, _, err = f.text(yamlGet(spec, "commonName")); err != nil {
		return c, err
	}
	if c.DNSNames, err = f.textList(yamlGet(spec, "dnsNames")); err != nil {
		return c, err
	}
	if c.IssuerRef.Name, _, err = f.text(yamlDig(spec, "issuerRef", "name")); err != nil {
		return c, err
	}
	if c.IssuerRef.Kind, _, err = f.text(yamlDig(spec, "issuerRef", "kind")); err != nil {
		return c, err
	}
	if c.IssuerRef.Kind == "" {
		c.IssuerRef.Kind = "Issuer"
	}
	isCA, _, err := f.text(yamlGet(spec, "isCA"))
	if err != nil {
		return c, err
	}
	c.IsCA = isCA == "true"
	if c.Duration, err = readDuration(yamlGet(spec, "duration"), f); err != nil {
		return c, err
	}
	if c.RenewBefore, err = readDuration(yamlGet(spec, "renewBefore"), f); err != nil {
		return c, err
	}
	c.SecretAnnotations, err = f.textMap(yamlDig(spec, "secretTemplate", "annotations"))
	return c, err
}

// readDuration reads a Go duration as cert-manager takes it ("2160h").
func readDuration(n *yaml.Node, f fieldReader) (time.Duration, error) {
	text, ok, err := f.text(n)
	if err != nil || !ok || text == "" {
		return 0, err
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a valid duration (cert-manager takes Go durations such as 2160h)", includeSite{f.file, yamlLine(n, 0)}, text)
	}
	return d, nil
}

// readIssuer reads an Issuer or ClusterIssuer.
func readIssuer(o *renderedObject, f fieldReader, ns, name string) (Issuer, error) {
	spec := yamlGet(o.root, "spec")
	is := Issuer{Kind: o.kind, Namespace: ns, Name: name, Type: IssuerOther, Origin: Origin{File: o.file, Line: o.line}}
	var err error
	switch {
	case yamlGet(spec, "acme") != nil:
		acme := yamlGet(spec, "acme")
		is.Type = IssuerACME
		if is.ACMEServer, _, err = f.text(yamlGet(acme, "server")); err != nil {
			return is, err
		}
		if is.Profile, _, err = f.text(yamlGet(acme, "profile")); err != nil {
			return is, err
		}
		for _, s := range yamlItems(yamlGet(acme, "solvers")) {
			if kind := acmeSolverKind(s); kind != "" && !contains(is.Solvers, kind) {
				is.Solvers = append(is.Solvers, kind)
			}
		}
	case yamlGet(spec, "ca") != nil:
		is.Type = IssuerCA
		is.CASecret, _, err = f.text(yamlDig(spec, "ca", "secretName"))
	case yamlGet(spec, "selfSigned") != nil:
		is.Type = IssuerSelfSigned
	}
	return is, err
}

// acmeSolverKind names a solver as type/provider (dns01/cloudflare,
// http01/gatewayHTTPRoute) by its first provider field.
func acmeSolverKind(s *yaml.Node) string {
	for _, typ := range []string{"dns01", "http01"} {
		solver := yamlGet(s, typ)
		if solver == nil {
			continue
		}
		for _, p := range yamlPairs(solver) {
			if p.key.Value != "cnameStrategy" {
				return typ + "/" + p.key.Value
			}
		}
		return typ
	}
	return ""
}

// readReflectorSecret returns the Secret when reflector copies it or
// maintains it as a mirror, else nil. Only reflector annotations are
// substituted.
func readReflectorSecret(o *renderedObject, f fieldReader, ns, name string) (*Secret, error) {
	annotations := map[string]string{}
	for _, p := range yamlPairs(yamlDig(o.root, "metadata", "annotations")) {
		if !strings.HasPrefix(p.key.Value, "reflector.v1.k8s.emberstack.com/") {
			continue
		}
		v, ok, err := f.text(p.value)
		if err != nil {
			return nil, err
		}
		if ok {
			annotations[p.key.Value] = v
		}
	}
	if r := ParseReflection(annotations); r != nil {
		return &Secret{Namespace: ns, Name: name, Reflection: r}, nil
	}
	if src, ok := annotations[AnnotationReflects]; ok {
		return &Secret{Namespace: ns, Name: name, MirrorOf: src}, nil
	}
	return nil, nil
}
