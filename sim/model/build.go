package model

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"

	"github.com/certwave/certwave/topology"
)

// inventoryFieldOwner is the field manager of the objects the inventory
// describes. It is the stand-in for the tool that applied them, such as
// Flux, Helm or kubectl.
const inventoryFieldOwner = "inventory"

// build creates the inventory's objects in the API server. The
// inventory's Certificates start issued: each was issued InitialAge
// before Start (or at a seeded time before its renewal), with the
// issuance recorded in the rate-limit model.
func (w *World) build() error {
	ctx := context.Background()
	create := func(obj client.Object) error {
		w.stampNew(obj)
		if err := w.api.Create(ctx, obj, client.FieldOwner(inventoryFieldOwner)); err != nil {
			return fmt.Errorf("model: creating %s from the inventory: %w", w.refOf(obj), err)
		}
		return nil
	}

	for _, ns := range w.inventoryNamespaces() {
		if err := create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}

	classes := map[string]bool{}
	for _, g := range w.inv.Gateways {
		classes[g.Class] = true
	}
	for _, name := range sortedKeys(classes) {
		ctrl := envoyGatewayController
		if strings.Contains(name, "istio") {
			ctrl = istioController
		}
		if err := create(&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: gwapiv1.GatewayClassSpec{ControllerName: gwapiv1.GatewayController(ctrl)}}); err != nil {
			return err
		}
	}

	for _, is := range w.inv.Issuers {
		if err := create(w.issuerObject(is)); err != nil {
			return err
		}
	}
	if err := w.buildIssuerSecrets(); err != nil {
		return err
	}

	for i := range w.inv.ReferenceGrants {
		if err := create(referenceGrantObject(&w.inv.ReferenceGrants[i])); err != nil {
			return err
		}
	}
	for i := range w.inv.Gateways {
		if err := create(gatewayObject(&w.inv.Gateways[i])); err != nil {
			return err
		}
	}
	for i := range w.inv.Routes {
		if err := create(routeObject(&w.inv.Routes[i])); err != nil {
			return err
		}
	}

	if err := w.buildCertificates(); err != nil {
		return err
	}
	return w.buildOtherSecrets()
}

// inventoryNamespaces lists every namespace the inventory mentions, plus
// cert-manager's.
func (w *World) inventoryNamespaces() []string {
	set := map[string]bool{clusterResourceNamespace: true}
	for _, g := range w.inv.Gateways {
		set[g.Namespace] = true
	}
	for _, r := range w.inv.Routes {
		set[r.Namespace] = true
	}
	for _, c := range w.inv.Certificates {
		set[c.Namespace] = true
	}
	for _, s := range w.inv.Secrets {
		set[s.Namespace] = true
	}
	for _, g := range w.inv.ReferenceGrants {
		set[g.Namespace] = true
	}
	for _, is := range w.inv.Issuers {
		if is.Namespace != "" {
			set[is.Namespace] = true
		}
	}
	return sortedKeys(set)
}

// issuerObject translates an inventory issuer. Options.Profile fills
// spec.acme.profile where the inventory names none.
func (w *World) issuerObject(is topology.Issuer) client.Object {
	var spec cmapi.IssuerSpec
	switch is.Type {
	case topology.IssuerACME:
		acme := &cmacme.ACMEIssuer{Server: is.ACMEServer, Profile: is.Profile,
			PrivateKey: cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: is.Name + "-account-key"}}}
		if acme.Profile == "" {
			acme.Profile = w.opts.Profile
		}
		for _, s := range is.Solvers {
			if strings.HasPrefix(s, "http01") {
				acme.Solvers = append(acme.Solvers, cmacme.ACMEChallengeSolver{HTTP01: &cmacme.ACMEChallengeSolverHTTP01{}})
			} else {
				acme.Solvers = append(acme.Solvers, cmacme.ACMEChallengeSolver{DNS01: &cmacme.ACMEChallengeSolverDNS01{}})
			}
		}
		spec.ACME = acme
	case topology.IssuerCA:
		spec.CA = &cmapi.CAIssuer{SecretName: is.CASecret}
	case topology.IssuerSelfSigned:
		spec.SelfSigned = &cmapi.SelfSignedIssuer{}
	}
	meta := metav1.ObjectMeta{Name: is.Name, Namespace: is.Namespace}
	if is.Kind == cmapi.ClusterIssuerKind {
		meta.Namespace = ""
		return &cmapi.ClusterIssuer{ObjectMeta: meta, Spec: spec}
	}
	return &cmapi.Issuer{ObjectMeta: meta, Spec: spec}
}

// buildIssuerSecrets creates a CA key pair for each CA issuer whose Secret
// no inventory Certificate writes.
func (w *World) buildIssuerSecrets() error {
	for _, is := range w.inv.Issuers {
		if is.Type != topology.IssuerCA || is.CASecret == "" {
			continue
		}
		ns := is.Namespace
		if is.Kind == cmapi.ClusterIssuerKind {
			ns = clusterResourceNamespace
		}
		if w.inv.Secret(ns, is.CASecret) != nil && w.inv.Secret(ns, is.CASecret).IssuedBy != "" {
			continue
		}
		ca, err := w.newAuthority(is.Name+" CA", w.sched.now.AddDate(-1, 0, 0), 10*365*day)
		if err != nil {
			return fmt.Errorf("model: creating the CA of issuer %s: %w", is.Name, err)
		}
		keyPEM, err := encodeKey(ca.key)
		if err != nil {
			return err
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: is.CASecret}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: ca.certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
		w.stampNew(s)
		if err := w.api.Create(context.Background(), s, client.FieldOwner(inventoryFieldOwner)); err != nil {
			return fmt.Errorf("model: creating CA Secret %s/%s: %w", ns, is.CASecret, err)
		}
	}
	return nil
}

func gatewayObject(g *topology.Gateway) *gwapiv1.Gateway {
	gw := &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: g.Name, Annotations: cloneMap(g.Annotations)},
		Spec:       gwapiv1.GatewaySpec{GatewayClassName: gwapiv1.ObjectName(g.Class)},
	}
	for _, l := range g.Listeners {
		out := gwapiv1.Listener{Name: gwapiv1.SectionName(l.Name), Port: gwapiv1.PortNumber(l.Port), Protocol: gwapiv1.ProtocolType(l.Protocol)}
		if l.Hostname != "" {
			h := gwapiv1.Hostname(l.Hostname)
			out.Hostname = &h
		}
		if l.TLSMode != "" || len(l.CertificateRefs) > 0 {
			mode := gwapiv1.TLSModeType(l.TLSMode)
			if mode == "" {
				mode = gwapiv1.TLSModeTerminate
			}
			out.TLS = &gwapiv1.ListenerTLSConfig{Mode: &mode}
			for _, ref := range l.CertificateRefs {
				r := gwapiv1.SecretObjectReference{Name: gwapiv1.ObjectName(ref.Name)}
				if ref.Namespace != "" {
					ns := gwapiv1.Namespace(ref.Namespace)
					r.Namespace = &ns
				}
				out.TLS.CertificateRefs = append(out.TLS.CertificateRefs, r)
			}
		}
		if l.AllowedNamespaces != "" {
			from := gwapiv1.FromNamespaces(l.AllowedNamespaces)
			out.AllowedRoutes = &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &from}}
		}
		gw.Spec.Listeners = append(gw.Spec.Listeners, out)
	}
	return gw
}

// referenceGrantObject translates an inventory ReferenceGrant. The model
// serves ReferenceGrant as gateway.networking.k8s.io/v1, whatever version
// the inventory read it as, because the versions share their fields.
func referenceGrantObject(g *topology.ReferenceGrant) *gwapiv1.ReferenceGrant {
	out := &gwapiv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: g.Name}}
	for _, f := range g.From {
		out.Spec.From = append(out.Spec.From, gwapiv1.ReferenceGrantFrom{
			Group: gwapiv1.Group(f.Group), Kind: gwapiv1.Kind(f.Kind), Namespace: gwapiv1.Namespace(f.Namespace)})
	}
	for _, t := range g.To {
		to := gwapiv1.ReferenceGrantTo{Group: gwapiv1.Group(t.Group), Kind: gwapiv1.Kind(t.Kind)}
		if t.Name != "" {
			name := gwapiv1.ObjectName(t.Name)
			to.Name = &name
		}
		out.Spec.To = append(out.Spec.To, to)
	}
	return out
}

func routeObject(r *topology.Route) *gwapiv1.HTTPRoute {
	hr := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name}}
	for _, h := range r.Hostnames {
		hr.Spec.Hostnames = append(hr.Spec.Hostnames, gwapiv1.Hostname(h))
	}
	for _, p := range r.ParentRefs {
		ref := gwapiv1.ParentReference{Name: gwapiv1.ObjectName(p.Name)}
		if p.Namespace != "" && p.Namespace != r.Namespace {
			ns := gwapiv1.Namespace(p.Namespace)
			ref.Namespace = &ns
		}
		if p.SectionName != "" {
			s := gwapiv1.SectionName(p.SectionName)
			ref.SectionName = &s
		}
		if p.Port != 0 {
			port := gwapiv1.PortNumber(p.Port)
			ref.Port = &port
		}
		hr.Spec.ParentRefs = append(hr.Spec.ParentRefs, ref)
	}
	return hr
}

// buildOtherSecrets creates the inventory's Secrets that no Certificate
// and no auto-reflection produces: manual reflector mirrors get a copy of
// their source, and any other Secret a listener references gets a
// certificate for the listener hostnames from an unknown CA.
//
// NOTE: the model invents those certificates (one year, issued 30 days
// before Start); the inventory does not record their real content.
func (w *World) buildOtherSecrets() error {
	ctx := context.Background()
	for _, s := range w.inv.Secrets {
		if s.IssuedBy != "" || w.peekSecret(s.Namespace, s.Name) != nil {
			continue
		}
		if s.MirrorOf != "" {
			srcNS, srcName, _ := strings.Cut(s.MirrorOf, "/")
			src := w.peekSecret(srcNS, srcName)
			if src == nil {
				continue
			}
			if r := topology.ParseReflection(src.Annotations); r != nil && r.AutoEnabled {
				continue // reflector creates it
			}
			m := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name,
				Annotations: map[string]string{topology.AnnotationReflects: s.MirrorOf}}, Type: src.Type}
			w.stampNew(m)
			if err := w.api.Create(ctx, m, client.FieldOwner(inventoryFieldOwner)); err != nil {
				return fmt.Errorf("model: creating mirror %s: %w", s.Key(), err)
			}
			continue
		}
		hosts := w.listenerHostsFor(s.Namespace, s.Name)
		if len(hosts) == 0 {
			continue
		}
		if err := w.createUnmanagedSecret(s.Namespace, s.Name, hosts); err != nil {
			return err
		}
	}
	return nil
}

// listenerHostsFor returns the hostnames of the listeners that reference
// a Secret.
func (w *World) listenerHostsFor(namespace, name string) []string {
	set := map[string]bool{}
	for i := range w.inv.Gateways {
		g := &w.inv.Gateways[i]
		for _, l := range g.Listeners {
			for _, ref := range l.CertificateRefs {
				ns := ref.Namespace
				if ns == "" {
					ns = g.Namespace
				}
				if ns == namespace && ref.Name == name && l.Hostname != "" {
					set[l.Hostname] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

func (w *World) createUnmanagedSecret(namespace, name string, hosts []string) error {
	ca, err := w.newAuthority("unmanaged CA", w.sched.now.AddDate(-2, 0, 0), 10*365*day)
	if err != nil {
		return err
	}
	key := w.newKey()
	issued := w.sched.now.Add(-30 * day)
	certPEM, err := w.sign(leafRequest{dnsNames: hosts, notBefore: issued, notAfter: issued.Add(365 * day), public: key.Public()}, ca, nil)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
	w.stampNew(s)
	return w.api.Create(context.Background(), s, client.FieldOwner(inventoryFieldOwner))
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
