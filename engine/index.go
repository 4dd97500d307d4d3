package engine

import (
	"fmt"
	"strings"

	"github.com/certwave/certwave/plan"
)

// defaultClusterResourceNamespace is cert-manager's default cluster
// resource namespace (--cluster-resource-namespace), where a CA
// ClusterIssuer reads its Secret.
const defaultClusterResourceNamespace = "cert-manager"

// defaultPrivateIssuer is used when the plan names no private issuer.
const defaultPrivateIssuer = "ClusterIssuer/certwave-private-ca"

// hostInfo is the plan's data on one migrated hostname.
type hostInfo struct {
	Hostname string
	// Gateway is namespace/name.
	Gateway  string
	Listener string
	Secret   string
	// Certificate is namespace/name of the Certificate that serves the
	// host: the one a create-certificate step makes, else the one the
	// gateway-shim creates (named after the Secret, in the Gateway's
	// namespace).
	Certificate string
	// Issuer is Kind/name; Private is set when it is the private CA.
	Issuer  string
	Private bool
	// Wave is the ledger key of the wave whose add-listener step serves it.
	Wave string
	// AddStep is the ID of that add-listener step.
	AddStep string
}

// privateCA names the private CA's objects.
type privateCA struct {
	// Issuer is the CA ClusterIssuer.
	Issuer string
	// SelfSigned is the ClusterIssuer that signs the CA certificate.
	SelfSigned string
	// Namespace is the namespace of the CA Certificate and its Secret.
	Namespace string
	// CommonName is the CA certificate's common name, the issuer name of
	// every certificate the CA signs.
	CommonName string
}

// planIndex is an index of the plan for the lookups the engine makes often.
type planIndex struct {
	hosts map[string]*hostInfo
	// certWave maps a Certificate namespace/name to its wave key.
	certWave map[string]string
	// positions maps a wave key to its phase and wave numbers.
	positions map[string][2]int
	ca        privateCA
}

func newPlanIndex(p *plan.Plan) (*planIndex, error) {
	ix := &planIndex{
		hosts:     map[string]*hostInfo{},
		certWave:  map[string]string{},
		positions: map[string][2]int{},
	}
	privateIssuer := p.Options.PrivateIssuer
	if privateIssuer == "" {
		privateIssuer = defaultPrivateIssuer
	}
	kind, name, ok := strings.Cut(privateIssuer, "/")
	if !ok || kind != "ClusterIssuer" || name == "" {
		return nil, fmt.Errorf("invalid private issuer %q in plan options: expected ClusterIssuer/<name>", privateIssuer)
	}
	ix.ca = privateCA{Issuer: name, SelfSigned: name + "-selfsigned", Namespace: p.Options.ClusterResourceNamespace, CommonName: name}
	if ix.ca.Namespace == "" {
		ix.ca.Namespace = defaultClusterResourceNamespace
	}

	for _, c := range p.Cohorts {
		for _, h := range c.Hosts {
			info := &hostInfo{Hostname: h.Hostname, Gateway: h.Gateway, Listener: h.Listener, Secret: h.SecretName, Issuer: h.Issuer}
			if info.Listener == "" {
				info.Listener = "https-" + h.App
			}
			if info.Secret == "" {
				info.Secret = h.App + "-tls"
			}
			if info.Issuer == "" && c.Name == plan.CohortInternal && p.Options.Variant != plan.VariantAllACME {
				info.Issuer = privateIssuer
			} else if info.Issuer == "" {
				info.Issuer = p.Options.ACMEIssuer
			}
			info.Private = info.Issuer == privateIssuer
			ix.hosts[h.Hostname] = info
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		ix.positions[waveKey(s)] = [2]int{s.Phase, s.Wave}
		switch {
		case s.Kind == plan.StepAddListener && s.Listener != nil:
			h := ix.host(s.Listener.Hostname, p.Options.ACMEIssuer)
			h.Gateway, h.Listener, h.Secret, h.Wave, h.AddStep = s.Gateway, s.Listener.Name, s.Listener.SecretName, waveKey(s), s.ID
			if h.Certificate == "" {
				ns, _ := splitKey(h.Gateway)
				h.Certificate = ns + "/" + h.Secret
			}
			ix.certWave[h.Certificate] = h.Wave
		case s.Kind == plan.StepCreateCert:
			key := s.Certificate
			if cs := s.CertificateSpec; cs != nil {
				key = cs.Namespace + "/" + cs.Name
				if cs.IsCA && cs.CommonName != "" {
					ix.ca.CommonName = cs.CommonName
				}
				for _, n := range cs.DNSNames {
					ix.host(n, p.Options.ACMEIssuer).Certificate = key
				}
			}
			if key != "" {
				ix.certWave[key] = waveKey(s)
			}
		}
	}
	for _, h := range ix.hosts {
		if w, ok := ix.certWave[h.Certificate]; ok && h.Wave == "" {
			h.Wave = w
		}
	}
	return ix, nil
}

// host returns the entry of hostname, creating one with issuer when the
// cohorts do not list it.
func (ix *planIndex) host(hostname, issuer string) *hostInfo {
	h := ix.hosts[hostname]
	if h == nil {
		h = &hostInfo{Hostname: hostname, Issuer: issuer}
		ix.hosts[hostname] = h
	}
	return h
}

// waveOf returns the wave key an ACME event belongs to: by its Certificate,
// else by its names; empty when no wave created it.
func (ix *planIndex) waveOf(ev ACMEEvent) string {
	if w, ok := ix.certWave[ev.Certificate]; ok {
		return w
	}
	for _, n := range ev.Names {
		if h := ix.hosts[n]; h != nil && h.Wave != "" {
			return h.Wave
		}
	}
	return ""
}

func (ix *planIndex) wavePosition(key string) (phase, wave int) {
	p := ix.positions[key]
	return p[0], p[1]
}

// expectedSecrets returns the Secret names the plan gives the listeners of
// gateway: the only Secrets the gateway-shim should create Certificates for
// on that Gateway.
func (ix *planIndex) expectedSecrets(gateway string) map[string]bool {
	out := map[string]bool{}
	for _, h := range ix.hosts {
		if h.Gateway == gateway && h.Secret != "" {
			out[h.Secret] = true
		}
	}
	return out
}

// splitKey splits namespace/name.
func splitKey(key string) (namespace, name string) {
	namespace, name, ok := strings.Cut(key, "/")
	if !ok {
		return "", key
	}
	return namespace, name
}
