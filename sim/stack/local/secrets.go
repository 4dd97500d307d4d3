package local

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/sim/acme"
)

// issuanceBackdate is how far before its issuance a Let's Encrypt
// certificate's notBefore lies: one hour, to tolerate clients with slow
// clocks. certwave's model backdates its certificates the same way.
const issuanceBackdate = time.Hour

// PriorIssuances returns the certificates that the Certificates of the ACME
// ClusterIssuer issuerName in objects hold at now: the DNS names of each
// one's Secret, and the time since its issuance, read from notBefore. Given
// as ACMEOptions.PriorIssuances, they make the front count those
// certificates as Let's Encrypt counts the certificates of a cluster, so
// that renewing one is a renewal.
func PriorIssuances(objects []client.Object, issuerName string, now time.Time) []acme.PriorIssuance {
	set := newObjectSet(objects)
	var out []acme.PriorIssuance
	for key, crt := range set.certificates {
		ref := crt.Spec.IssuerRef
		if ref.Kind != cmapi.ClusterIssuerKind || ref.Name != issuerName || !isCertManagerGroup(ref.Group) {
			continue
		}
		secret := set.secrets[key]
		if secret == nil {
			continue
		}
		leaf, err := firstCertificate(secret.Data[corev1.TLSCertKey])
		if err != nil || len(leaf.DNSNames) == 0 {
			continue
		}
		age := max(now.Sub(leaf.NotBefore.Add(issuanceBackdate)), 0)
		out = append(out, acme.PriorIssuance{Names: leaf.DNSNames, Age: age})
	}
	return out
}

// SignStartingSecrets rewrites the Secrets that the Certificates in objects
// name, before the objects are created, so that cert-manager v1.21.2 takes
// each one as its Certificate's current issuance and issues nothing. Its
// trigger policies reissue a Secret whose private key does not match
// spec.privateKey (SecretPrivateKeyMismatchesSpec): RSA 2048 when unset,
// where certwave's model writes Ed25519 keys.
//
// Each Secret gets a new key as the Certificate's spec requests, and a
// certificate for it with the names, subject, usages and validity of the
// one it had, signed as the issuer would sign it. The stack's ACME
// ClusterIssuer signs with Pebble's intermediate, so the certificate
// chains to the root Pebble issues from. A CA issuer signs with the key of
// its Secret, rewritten first when a Certificate in objects names it too.
// A SelfSigned issuer signs with the new key. Secrets of other issuers, and
// Secrets without a readable certificate, stay as they are, and
// cert-manager reissues them. The annotations that cert-manager checks
// (issuer and certificate names) must be in the Secrets already.
func (s *Stack) SignStartingSecrets(ctx context.Context, objects []client.Object) error {
	signer := &secretSigner{stack: s, set: newObjectSet(objects), done: map[types.NamespacedName]bool{}}
	for key := range signer.set.certificates {
		if err := signer.sign(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// objectSet indexes the Secrets, Certificates and issuers of a list of
// objects. Its maps point at the objects of the list.
type objectSet struct {
	secrets map[types.NamespacedName]*corev1.Secret
	// certificates are keyed by their Secret's namespace and name.
	certificates   map[types.NamespacedName]*cmapi.Certificate
	issuers        map[types.NamespacedName]*cmapi.IssuerSpec
	clusterIssuers map[string]*cmapi.IssuerSpec
}

func newObjectSet(objects []client.Object) objectSet {
	set := objectSet{
		secrets:        map[types.NamespacedName]*corev1.Secret{},
		certificates:   map[types.NamespacedName]*cmapi.Certificate{},
		issuers:        map[types.NamespacedName]*cmapi.IssuerSpec{},
		clusterIssuers: map[string]*cmapi.IssuerSpec{},
	}
	for _, o := range objects {
		switch o := o.(type) {
		case *corev1.Secret:
			set.secrets[types.NamespacedName{Namespace: o.Namespace, Name: o.Name}] = o
		case *cmapi.Certificate:
			set.certificates[types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.SecretName}] = o
		case *cmapi.Issuer:
			set.issuers[types.NamespacedName{Namespace: o.Namespace, Name: o.Name}] = &o.Spec
		case *cmapi.ClusterIssuer:
			set.clusterIssuers[o.Name] = &o.Spec
		}
	}
	return set
}

// secretSigner rewrites the Secrets of one SignStartingSecrets call.
type secretSigner struct {
	stack *Stack
	set   objectSet
	// done marks Secrets rewritten or being rewritten, which also stops a
	// CA issuer whose Secret is issued by itself.
	done map[types.NamespacedName]bool
	// acmeChain is Pebble's intermediate, fetched at its first use.
	acmeChain *issuingCA
}

// issuingCA is the certificate chain and key an issuer signs with.
type issuingCA struct {
	// chain starts with the certificate whose key signs; empty means
	// self-signed.
	chain []*x509.Certificate
	key   crypto.Signer
	// setCA writes ca.crt, which cert-manager's ACME issuer leaves out.
	setCA bool
}

func (g *secretSigner) sign(ctx context.Context, key types.NamespacedName) error {
	if g.done[key] {
		return nil
	}
	g.done[key] = true
	crt, secret := g.set.certificates[key], g.set.secrets[key]
	if crt == nil || secret == nil {
		return nil
	}
	old, err := firstCertificate(secret.Data[corev1.TLSCertKey])
	if err != nil {
		return nil
	}
	ca, err := g.issuingCA(ctx, crt)
	if err != nil || ca == nil {
		return err
	}

	pk, keyPEM, err := newPrivateKey(crt.Spec.PrivateKey)
	if err != nil {
		return fmt.Errorf("starting Secret %s: a key for Certificate %s/%s: %w", key, crt.Namespace, crt.Name, err)
	}
	template, err := reissueTemplate(old)
	if err != nil {
		return err
	}
	parent, signerKey := template, pk
	if len(ca.chain) > 0 {
		parent, signerKey = ca.chain[0], ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pk.Public(), signerKey)
	if err != nil {
		return fmt.Errorf("starting Secret %s: signing its certificate: %w", key, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("starting Secret %s: %w", key, err)
	}
	chainPEM, caPEM := splitChain(append([]*x509.Certificate{leaf}, ca.chain...))

	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	secret.Data[corev1.TLSCertKey] = chainPEM
	secret.Data[corev1.TLSPrivateKeyKey] = keyPEM
	if ca.setCA {
		secret.Data[cmmeta.TLSCAKey] = caPEM
	}
	return nil
}

// issuingCA returns the chain and key of crt's issuer, or nil for an
// issuer this package cannot sign for.
func (g *secretSigner) issuingCA(ctx context.Context, crt *cmapi.Certificate) (*issuingCA, error) {
	ref := crt.Spec.IssuerRef
	if !isCertManagerGroup(ref.Group) {
		return nil, nil
	}
	var spec *cmapi.IssuerSpec
	caNamespace := crt.Namespace
	if ref.Kind == cmapi.ClusterIssuerKind {
		if acmeServers := g.stack.acme; acmeServers != nil && ref.Name == acmeServers.IssuerName {
			return g.pebbleCA(ctx)
		}
		spec = g.set.clusterIssuers[ref.Name]
		caNamespace = g.stack.opts.ClusterResourceNamespace
	} else {
		spec = g.set.issuers[types.NamespacedName{Namespace: crt.Namespace, Name: ref.Name}]
	}

	switch {
	case spec == nil:
		return nil, nil
	case spec.SelfSigned != nil:
		return &issuingCA{setCA: true}, nil
	case spec.CA != nil:
		caKey := types.NamespacedName{Namespace: caNamespace, Name: spec.CA.SecretName}
		if err := g.sign(ctx, caKey); err != nil {
			return nil, err
		}
		caSecret := g.set.secrets[caKey]
		if caSecret == nil {
			return nil, nil
		}
		chain, err := decodeCertificates(caSecret.Data[corev1.TLSCertKey])
		if err != nil {
			return nil, nil
		}
		key, err := decodePrivateKey(caSecret.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return nil, nil
		}
		return &issuingCA{chain: chain, key: key, setCA: true}, nil
	}
	return nil, nil
}

// pebbleCA returns Pebble's intermediate and its key.
func (g *secretSigner) pebbleCA(ctx context.Context) (*issuingCA, error) {
	if g.acmeChain != nil {
		return g.acmeChain, nil
	}
	certPEM, keyPEM, err := g.stack.acme.Pebble.IssuerIntermediate(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting Secrets: %w", err)
	}
	chain, err := decodeCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("starting Secrets: Pebble's intermediate: %w", err)
	}
	key, err := decodePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("starting Secrets: Pebble's intermediate key: %w", err)
	}
	g.acmeChain = &issuingCA{chain: chain, key: key}
	return g.acmeChain, nil
}

// reissueTemplate copies what a certificate states about its subject, use
// and validity into a template with a new random serial number.
func reissueTemplate(old *x509.Certificate) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("drawing a serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               old.Subject,
		DNSNames:              old.DNSNames,
		IPAddresses:           old.IPAddresses,
		URIs:                  old.URIs,
		EmailAddresses:        old.EmailAddresses,
		NotBefore:             old.NotBefore,
		NotAfter:              old.NotAfter,
		IsCA:                  old.IsCA,
		BasicConstraintsValid: old.BasicConstraintsValid,
		KeyUsage:              old.KeyUsage,
		ExtKeyUsage:           old.ExtKeyUsage,
	}, nil
}

// isCertManagerGroup reports whether an issuerRef group names
// cert-manager's own issuers; empty means cert-manager.io.
func isCertManagerGroup(group string) bool {
	return group == "" || group == "cert-manager.io"
}
