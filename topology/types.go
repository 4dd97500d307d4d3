// Package topology is certwave's inventory of a cluster's TLS edge: Gateways
// and their listeners, HTTPRoutes, cert-manager Certificates and issuers,
// reflector mirrors, cert-manager settings and the client paths that reach
// each Gateway. Loaders build an Inventory from a GitOps tree, a live cluster
// or the built-in reference topology; everything else in certwave reads it.
package topology

import (
	"fmt"
	"strings"
	"time"
)

// Protocol values of a Gateway listener (Gateway API v1).
const (
	ProtocolHTTP  = "HTTP"
	ProtocolHTTPS = "HTTPS"
	ProtocolTLS   = "TLS"
	ProtocolTCP   = "TCP"
	ProtocolUDP   = "UDP"
)

// TLS modes of a listener (Gateway API v1). An empty mode on a listener with
// a tls block means Terminate.
const (
	TLSModeTerminate   = "Terminate"
	TLSModePassthrough = "Passthrough"
)

// Inventory is certwave's record of one cluster's TLS edge.
type Inventory struct {
	// Source names where the inventory came from: "reference",
	// "gitops:<dir>" or "cluster:<context>".
	Source string `json:"source"`
	// Domain is the apex domain the wildcard certificate covers, for example
	// example.com. Empty when no source names it.
	Domain string `json:"domain,omitempty"`

	Gateways     []Gateway     `json:"gateways"`
	Routes       []Route       `json:"routes"`
	Certificates []Certificate `json:"certificates"`
	Issuers      []Issuer      `json:"issuers"`
	Secrets      []Secret      `json:"secrets,omitempty"`
	CertManager  CertManager   `json:"certManager"`
	ClientPaths  []ClientPath  `json:"clientPaths,omitempty"`
	// ReferenceGrants are the Gateway API ReferenceGrants, which decide
	// whether a Gateway may use a certificateRef to another namespace.
	ReferenceGrants []ReferenceGrant `json:"referenceGrants,omitempty"`

	// Skipped counts the documents of kinds the inventory does not read, by
	// kind.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// Origin is the place an object was read from: a file and line of a GitOps
// tree, or empty for objects read from a cluster or built in.
type Origin struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

func (o Origin) String() string {
	if o.File == "" {
		return ""
	}
	if o.Line == 0 {
		return o.File
	}
	return fmt.Sprintf("%s:%d", o.File, o.Line)
}

// ObjectRef names one Kubernetes object. Namespace is empty for
// cluster-scoped kinds.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String returns Kind/namespace/name, or Kind/name when cluster-scoped.
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Gateway is a Gateway API Gateway.
type Gateway struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Class       string            `json:"class"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Listeners   []Listener        `json:"listeners"`
	Origin      Origin            `json:"origin,omitempty"`
}

// Ref returns the Gateway's object reference.
func (g *Gateway) Ref() ObjectRef {
	return ObjectRef{Kind: "Gateway", Namespace: g.Namespace, Name: g.Name}
}

// Listener returns the listener named name, or nil.
func (g *Gateway) Listener(name string) *Listener {
	for i := range g.Listeners {
		if g.Listeners[i].Name == name {
			return &g.Listeners[i]
		}
	}
	return nil
}

// Listener is one listener of a Gateway.
type Listener struct {
	Name     string `json:"name"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	// Hostname is empty when the listener matches every host.
	Hostname string `json:"hostname,omitempty"`
	// TLSMode is Terminate or Passthrough; empty when the listener has no
	// tls block.
	TLSMode         string      `json:"tlsMode,omitempty"`
	CertificateRefs []SecretRef `json:"certificateRefs,omitempty"`
	// AllowedNamespaces is Same, All or Selector (Gateway API default Same).
	AllowedNamespaces string `json:"allowedNamespaces,omitempty"`
}

// TerminatesTLS reports whether the listener terminates TLS with a
// certificate of its own.
func (l *Listener) TerminatesTLS() bool {
	return (l.Protocol == ProtocolHTTPS || l.Protocol == ProtocolTLS) && l.TLSMode != TLSModePassthrough
}

// SecretRef is a listener's certificateRef. Namespace is empty when the
// Secret is in the Gateway's own namespace.
type SecretRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Route is an HTTPRoute.
type Route struct {
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	Hostnames  []string    `json:"hostnames,omitempty"`
	ParentRefs []ParentRef `json:"parentRefs"`
	Origin     Origin      `json:"origin,omitempty"`
}

// Ref returns the route's object reference.
func (r *Route) Ref() ObjectRef {
	return ObjectRef{Kind: "HTTPRoute", Namespace: r.Namespace, Name: r.Name}
}

// Key returns namespace/name, the form the inventory's JSON output uses.
func (r *Route) Key() string { return r.Namespace + "/" + r.Name }

// ParentRef is a route's reference to a Gateway. Namespace is filled in with
// the route's namespace when the manifest leaves it out.
type ParentRef struct {
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	SectionName string `json:"sectionName,omitempty"`
	Port        int32  `json:"port,omitempty"`
}

// IssuerRef is a Certificate's reference to an Issuer or ClusterIssuer.
type IssuerRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Certificate is a cert-manager Certificate.
type Certificate struct {
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	SecretName string    `json:"secretName"`
	CommonName string    `json:"commonName,omitempty"`
	DNSNames   []string  `json:"dnsNames"`
	IssuerRef  IssuerRef `json:"issuerRef"`
	// IsCA is spec.isCA, set on a CA issuer's own Certificate.
	IsCA bool `json:"isCA,omitempty"`
	// Duration and RenewBefore are zero when the manifest leaves them to
	// cert-manager's defaults (90 days and one third of the lifetime).
	Duration    time.Duration `json:"duration,omitempty"`
	RenewBefore time.Duration `json:"renewBefore,omitempty"`
	// SecretAnnotations are spec.secretTemplate.annotations.
	SecretAnnotations map[string]string `json:"secretAnnotations,omitempty"`
	// OwnerGateway is set when the gateway-shim created the Certificate.
	OwnerGateway string `json:"ownerGateway,omitempty"`
	Origin       Origin `json:"origin,omitempty"`
}

// Ref returns the Certificate's object reference.
func (c *Certificate) Ref() ObjectRef {
	return ObjectRef{Kind: "Certificate", Namespace: c.Namespace, Name: c.Name}
}

// Issuer types.
const (
	IssuerACME       = "ACME"
	IssuerCA         = "CA"
	IssuerSelfSigned = "SelfSigned"
	IssuerOther      = "Other"
)

// Issuer is a cert-manager Issuer or ClusterIssuer.
type Issuer struct {
	// Kind is Issuer or ClusterIssuer.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Type is ACME, CA, SelfSigned or Other.
	Type string `json:"type"`
	// ACMEServer is spec.acme.server.
	ACMEServer string `json:"acmeServer,omitempty"`
	// Profile is spec.acme.profile (cert-manager v1.18+); empty means the
	// ACME server's default (classic at Let's Encrypt).
	Profile string `json:"profile,omitempty"`
	// Solvers lists the ACME solver kinds, such as dns01/cloudflare or
	// http01/gatewayHTTPRoute.
	Solvers []string `json:"solvers,omitempty"`
	// CASecret is spec.ca.secretName for CA issuers.
	CASecret string `json:"caSecret,omitempty"`
	Origin   Origin `json:"origin,omitempty"`
}

// Ref returns the issuer's object reference.
func (i *Issuer) Ref() ObjectRef {
	return ObjectRef{Kind: i.Kind, Namespace: i.Namespace, Name: i.Name}
}

// IsLetsEncrypt reports whether the issuer orders from a Let's Encrypt
// production or staging directory.
func (i *Issuer) IsLetsEncrypt() bool {
	return i.Type == IssuerACME && strings.Contains(i.ACMEServer, "api.letsencrypt.org")
}

// Secret is a Secret the inventory records: a Certificate's target, a
// reflector source or a reflector mirror.
type Secret struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Reflection is set on a Secret that reflector copies to other
	// namespaces.
	Reflection *Reflection `json:"reflection,omitempty"`
	// MirrorOf is namespace/name of the source Secret when reflector
	// maintains this Secret as a mirror.
	MirrorOf string `json:"mirrorOf,omitempty"`
	// IssuedBy is the Certificate (namespace/name) that writes this Secret.
	IssuedBy string `json:"issuedBy,omitempty"`
}

// Key returns namespace/name.
func (s *Secret) Key() string { return s.Namespace + "/" + s.Name }

// Reflection holds the emberstack reflector annotations of a source Secret.
type Reflection struct {
	Allowed           bool     `json:"allowed"`
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
	AutoEnabled       bool     `json:"autoEnabled"`
	// AutoNamespaces restricts auto mirrors; empty means every allowed
	// namespace.
	AutoNamespaces []string `json:"autoNamespaces,omitempty"`
}

// Reflector annotation keys (emberstack reflector v7+).
const (
	AnnotationReflectionAllowed           = "reflector.v1.k8s.emberstack.com/reflection-allowed"
	AnnotationReflectionAllowedNamespaces = "reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces"
	AnnotationReflectionAutoEnabled       = "reflector.v1.k8s.emberstack.com/reflection-auto-enabled"
	AnnotationReflectionAutoNamespaces    = "reflector.v1.k8s.emberstack.com/reflection-auto-namespaces"
	AnnotationReflects                    = "reflector.v1.k8s.emberstack.com/reflects"
)

// cert-manager gateway-shim annotation keys on a Gateway.
const (
	AnnotationIssuer        = "cert-manager.io/issuer"
	AnnotationClusterIssuer = "cert-manager.io/cluster-issuer"
	AnnotationIssuerKind    = "cert-manager.io/issuer-kind"
	AnnotationDuration      = "cert-manager.io/duration"
	AnnotationRenewBefore   = "cert-manager.io/renew-before"
)

// CertManager holds the cert-manager installation settings that decide
// whether the gateway-shim runs.
type CertManager struct {
	// Version is the chart or controller version, for example v1.17.1.
	Version string `json:"version,omitempty"`
	// GatewayAPIEnabled reports whether the controller runs the gateway-shim
	// (config.enableGatewayAPI, config.gatewayAPI.enabled or
	// --enable-gateway-api).
	GatewayAPIEnabled bool `json:"gatewayAPIEnabled"`
	// Found is false when no cert-manager installation was seen, so the
	// other fields are unknown rather than false.
	Found  bool   `json:"found"`
	Origin Origin `json:"origin,omitempty"`
}

// Client path kinds.
const (
	// ClientPathDirect is a client that connects to the Gateway with SNI set
	// to the host it wants.
	ClientPathDirect = "direct"
	// ClientPathFixedSNI is a tunnel or proxy that connects to the Gateway
	// with one fixed server name whatever host the end user asked for.
	ClientPathFixedSNI = "fixed-sni"
)

// ClientPath is one route by which traffic reaches a Gateway.
type ClientPath struct {
	Name string `json:"name"`
	// Kind is direct or fixed-sni.
	Kind string `json:"kind"`
	// Gateway is namespace/name of the Gateway the path ends at; empty when
	// it reaches every Gateway (the direct path).
	Gateway string `json:"gateway,omitempty"`
	// ServerName is the SNI a fixed-sni path sends.
	ServerName string `json:"serverName,omitempty"`
	// Hostnames are the host patterns the path carries, such as
	// *.example.com.
	Hostnames []string `json:"hostnames,omitempty"`
	Origin    Origin   `json:"origin,omitempty"`
}

// CarriesHostname reports whether the path carries host by its host
// patterns: every host when it lists none, else a host matching one. The
// Gateway the path ends at is checked by the caller, which knows where
// the host's DNS points.
func (p ClientPath) CarriesHostname(host string) bool {
	return len(p.Hostnames) == 0 || MatchesAnyHostname(p.Hostnames, host)
}
