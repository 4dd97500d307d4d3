package topology

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Scheme returns a runtime scheme with every kind the inventory and the
// engine read: core and apps, Gateway API v1 (and ReferenceGrant of
// v1beta1) and cert-manager v1.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, gwapi.Install, addReferenceGrantV1beta1, cmapi.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("building the scheme: %v", err))
		}
	}
	return s
}

// LoadCluster reads the inventory from a live cluster through c. It only
// lists and gets; it reads Secrets as metadata, so no key material leaves
// the API server. A kind whose CRD is not installed is treated as empty.
func LoadCluster(ctx context.Context, c client.Reader, contextName string) (*Inventory, error) {
	inv := &Inventory{Source: "cluster:" + contextName}

	var gateways gwapi.GatewayList
	if err := listOptional(ctx, c, &gateways); err != nil {
		return nil, err
	}
	for _, g := range gateways.Items {
		inv.Gateways = append(inv.Gateways, gatewayFromAPI(&g))
	}

	var routes gwapi.HTTPRouteList
	if err := listOptional(ctx, c, &routes); err != nil {
		return nil, err
	}
	for _, r := range routes.Items {
		inv.Routes = append(inv.Routes, routeFromAPI(&r))
	}

	var certs cmapi.CertificateList
	if err := listOptional(ctx, c, &certs); err != nil {
		return nil, err
	}
	for _, cert := range certs.Items {
		inv.Certificates = append(inv.Certificates, certificateFromAPI(&cert))
	}

	if err := loadReferenceGrants(ctx, c, inv); err != nil {
		return nil, err
	}
	if err := loadClusterIssuers(ctx, c, inv); err != nil {
		return nil, err
	}
	if err := loadReflectorSecrets(ctx, c, inv); err != nil {
		return nil, err
	}
	if err := loadCertManagerSettings(ctx, c, inv); err != nil {
		return nil, err
	}
	inv.ClientPaths = []ClientPath{{Name: "direct", Kind: ClientPathDirect}}
	inv.Finalize()
	return inv, nil
}

func listOptional(ctx context.Context, c client.Reader, list client.ObjectList) error {
	err := c.List(ctx, list)
	if meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", pluralKind(list), err)
	}
	return nil
}

// pluralKind names what a typed list holds, such as Gateways for
// *v1.GatewayList.
func pluralKind(list client.ObjectList) string {
	name := reflect.TypeOf(list).Elem().Name()
	return strings.TrimSuffix(name, "List") + "s"
}

func gatewayFromAPI(g *gwapi.Gateway) Gateway {
	out := Gateway{
		Namespace:   g.Namespace,
		Name:        g.Name,
		Class:       string(g.Spec.GatewayClassName),
		Annotations: g.Annotations,
	}
	for _, l := range g.Spec.Listeners {
		lis := Listener{Name: string(l.Name), Port: int32(l.Port), Protocol: string(l.Protocol)}
		if l.Hostname != nil {
			lis.Hostname = string(*l.Hostname)
		}
		if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil && l.AllowedRoutes.Namespaces.From != nil {
			lis.AllowedNamespaces = string(*l.AllowedRoutes.Namespaces.From)
		}
		if l.TLS != nil {
			lis.TLSMode = TLSModeTerminate
			if l.TLS.Mode != nil && *l.TLS.Mode != "" {
				lis.TLSMode = string(*l.TLS.Mode)
			}
			for _, ref := range l.TLS.CertificateRefs {
				sr := SecretRef{Name: string(ref.Name)}
				if ref.Namespace != nil {
					sr.Namespace = string(*ref.Namespace)
				}
				lis.CertificateRefs = append(lis.CertificateRefs, sr)
			}
		}
		out.Listeners = append(out.Listeners, lis)
	}
	return out
}

func routeFromAPI(r *gwapi.HTTPRoute) Route {
	out := Route{Namespace: r.Namespace, Name: r.Name}
	for _, h := range r.Spec.Hostnames {
		out.Hostnames = append(out.Hostnames, string(h))
	}
	for _, p := range r.Spec.ParentRefs {
		ref := ParentRef{Namespace: r.Namespace, Name: string(p.Name)}
		if p.Namespace != nil {
			ref.Namespace = string(*p.Namespace)
		}
		if p.SectionName != nil {
			ref.SectionName = string(*p.SectionName)
		}
		if p.Port != nil {
			ref.Port = int32(*p.Port)
		}
		out.ParentRefs = append(out.ParentRefs, ref)
	}
	return out
}

func certificateFromAPI(c *cmapi.Certificate) Certificate {
	out := Certificate{
		Namespace:  c.Namespace,
		Name:       c.Name,
		SecretName: c.Spec.SecretName,
		CommonName: c.Spec.CommonName,
		DNSNames:   c.Spec.DNSNames,
		IssuerRef:  IssuerRef{Kind: c.Spec.IssuerRef.Kind, Name: c.Spec.IssuerRef.Name},
	}
	if out.IssuerRef.Kind == "" {
		out.IssuerRef.Kind = "Issuer"
	}
	out.IsCA = c.Spec.IsCA
	if c.Spec.Duration != nil {
		out.Duration = c.Spec.Duration.Duration
	}
	if c.Spec.RenewBefore != nil {
		out.RenewBefore = c.Spec.RenewBefore.Duration
	}
	if c.Spec.SecretTemplate != nil {
		out.SecretAnnotations = c.Spec.SecretTemplate.Annotations
	}
	for _, o := range c.OwnerReferences {
		if o.Kind == "Gateway" {
			out.OwnerGateway = c.Namespace + "/" + o.Name
		}
	}
	return out
}

func loadClusterIssuers(ctx context.Context, c client.Reader, inv *Inventory) error {
	var cis cmapi.ClusterIssuerList
	if err := listOptional(ctx, c, &cis); err != nil {
		return err
	}
	for _, ci := range cis.Items {
		inv.Issuers = append(inv.Issuers, issuerFromSpec("ClusterIssuer", "", ci.Name, &ci.Spec))
	}
	var is cmapi.IssuerList
	if err := listOptional(ctx, c, &is); err != nil {
		return err
	}
	for _, i := range is.Items {
		inv.Issuers = append(inv.Issuers, issuerFromSpec("Issuer", i.Namespace, i.Name, &i.Spec))
	}
	return nil
}

func issuerFromSpec(kind, namespace, name string, spec *cmapi.IssuerSpec) Issuer {
	out := Issuer{Kind: kind, Namespace: namespace, Name: name, Type: IssuerOther}
	switch {
	case spec.ACME != nil:
		out.Type = IssuerACME
		out.ACMEServer = spec.ACME.Server
		out.Profile = spec.ACME.Profile
		for _, s := range spec.ACME.Solvers {
			out.Solvers = append(out.Solvers, solverKind(s))
		}
	case spec.CA != nil:
		out.Type = IssuerCA
		out.CASecret = spec.CA.SecretName
	case spec.SelfSigned != nil:
		out.Type = IssuerSelfSigned
	}
	return out
}

// solverKind names an ACME solver as type/provider, for example
// dns01/cloudflare, by the first provider field set in its JSON form.
func solverKind(s any) string {
	raw, err := yaml.Marshal(s)
	if err != nil {
		return "unknown"
	}
	var m map[string]map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return "unknown"
	}
	for _, typ := range []string{"dns01", "http01"} {
		for provider := range m[typ] {
			if provider != "cnameStrategy" {
				return typ + "/" + provider
			}
		}
		if _, ok := m[typ]; ok {
			return typ
		}
	}
	return "unknown"
}

// loadReflectorSecrets reads the metadata of every Secret and records the
// ones reflector copies from or into.
func loadReflectorSecrets(ctx context.Context, c client.Reader, inv *Inventory) error {
	var secrets metav1.PartialObjectMetadataList
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := c.List(ctx, &secrets); err != nil {
		return fmt.Errorf("listing Secret metadata: %w", err)
	}
	for _, s := range secrets.Items {
		if r := ParseReflection(s.Annotations); r != nil {
			inv.Secrets = append(inv.Secrets, Secret{Namespace: s.Namespace, Name: s.Name, Reflection: r})
			continue
		}
		if src, ok := s.Annotations[AnnotationReflects]; ok {
			inv.Secrets = append(inv.Secrets, Secret{Namespace: s.Namespace, Name: s.Name, MirrorOf: src})
		}
	}
	return nil
}

// loadCertManagerSettings finds the cert-manager controller Deployment by
// its app.kubernetes.io/component=controller and name=cert-manager labels
// and reads its version from the image tag and the Gateway API switch from
// its --enable-gateway-api flag or the feature in its --config file's
// ConfigMap.
func loadCertManagerSettings(ctx context.Context, c client.Reader, inv *Inventory) error {
	var deps appsv1.DeploymentList
	err := c.List(ctx, &deps, client.MatchingLabels{
		"app.kubernetes.io/name":      "cert-manager",
		"app.kubernetes.io/component": "controller",
	})
	if err != nil {
		return fmt.Errorf("listing the cert-manager Deployment: %w", err)
	}
	if len(deps.Items) == 0 {
		return nil
	}
	d := deps.Items[0]
	inv.CertManager.Found = true
	for _, ctr := range d.Spec.Template.Spec.Containers {
		if i := strings.LastIndex(ctr.Image, ":"); i > 0 {
			inv.CertManager.Version = ctr.Image[i+1:]
		}
		for _, arg := range ctr.Args {
			if arg == "--enable-gateway-api" || arg == "--enable-gateway-api=true" {
				inv.CertManager.GatewayAPIEnabled = true
			}
		}
	}
	var cms corev1.ConfigMapList
	if err := c.List(ctx, &cms, client.InNamespace(d.Namespace)); err != nil {
		return fmt.Errorf("listing ConfigMaps in %s: %w", d.Namespace, err)
	}
	for _, cm := range cms.Items {
		if cm.Labels["app.kubernetes.io/name"] != "cert-manager" {
			continue
		}
		if ControllerConfigEnablesGatewayAPI([]byte(cm.Data["config.yaml"])) {
			inv.CertManager.GatewayAPIEnabled = true
		}
	}
	return nil
}

// ControllerConfigEnablesGatewayAPI reports whether a cert-manager
// ControllerConfiguration enables Gateway API support: enableGatewayAPI
// (v1.15+) or gatewayAPI.enabled (v1.21).
func ControllerConfigEnablesGatewayAPI(data []byte) bool {
	var cfg struct {
		EnableGatewayAPI bool `json:"enableGatewayAPI"`
		GatewayAPI       struct {
			Enabled bool `json:"enabled"`
		} `json:"gatewayAPI"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return false
	}
	return cfg.EnableGatewayAPI || cfg.GatewayAPI.Enabled
}
