package local

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// modelKeyPair signs a certificate for names with an Ed25519 key, as
// certwave's model does, by parent (self-signed when nil), and returns the
// Secret data.
func modelKeyPair(t *testing.T, names []string, isCA bool, notBefore time.Time, parent *x509.Certificate, parentKey crypto.Signer) (map[string][]byte, *x509.Certificate, crypto.Signer) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour), IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return map[string][]byte{
		corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, cert, key
}

func certificate(ns, name, secret string, ref cmmeta.IssuerReference, pk *cmapi.CertificatePrivateKey) *cmapi.Certificate {
	return &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cmapi.CertificateSpec{SecretName: secret, IssuerRef: ref, PrivateKey: pk}}
}

func secret(ns, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS, Data: data}
}

// TestSignStartingSecretsCAChain rewrites a self-signed CA, a leaf of the
// CA issuer and a leaf of an unknown issuer.
func TestSignStartingSecretsCAChain(t *testing.T) {
	notBefore := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Second)
	caData, caCert, caKey := modelKeyPair(t, []string{"ca.example.com"}, true, notBefore, nil, nil)
	leafData, oldLeaf, _ := modelKeyPair(t, []string{"app.example.com", "www.example.com"}, false, notBefore, caCert, caKey)
	otherData, _, _ := modelKeyPair(t, []string{"other.example.com"}, false, notBefore, nil, nil)
	otherBefore := slices.Clone(otherData[corev1.TLSCertKey])

	caSecret, leafSecret, otherSecret := secret("apps", "ca", caData), secret("apps", "app-tls", leafData), secret("apps", "other-tls", otherData)
	objects := []client.Object{
		&cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "selfsigned"},
			Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}},
		&cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "ca"},
			Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "ca"}}}},
		caSecret, leafSecret, otherSecret,
		// The leaf comes first, so the CA must be rewritten on demand.
		certificate("apps", "app", "app-tls", cmmeta.IssuerReference{Name: "ca"},
			&cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 384}),
		certificate("apps", "ca", "ca", cmmeta.IssuerReference{Name: "selfsigned"}, nil),
		certificate("apps", "other", "other-tls", cmmeta.IssuerReference{Name: "vault", Kind: "ClusterIssuer"}, nil),
	}
	s := &Stack{opts: Options{ClusterResourceNamespace: "cert-manager"}}
	if err := s.SignStartingSecrets(context.Background(), objects); err != nil {
		t.Fatalf("SignStartingSecrets: %v", err)
	}

	newCA := checkKeyPair(t, caSecret, func(k crypto.Signer) bool {
		rk, ok := k.(*rsa.PrivateKey)
		return ok && rk.N.BitLen() == 2048
	}, "RSA 2048 for an unset spec.privateKey")
	if !newCA.IsCA || !slices.Equal(newCA.DNSNames, []string{"ca.example.com"}) {
		t.Errorf("CA certificate: IsCA %t, names %v; want the CA's", newCA.IsCA, newCA.DNSNames)
	}
	if string(caSecret.Data[cmmeta.TLSCAKey]) != string(encodeCertificate(newCA)) {
		t.Error("CA Secret's ca.crt is not its own certificate, as cert-manager's SelfSigned issuer writes it")
	}

	leaf := checkKeyPair(t, leafSecret, func(k crypto.Signer) bool {
		ek, ok := k.(*ecdsa.PrivateKey)
		return ok && ek.Curve == elliptic.P384()
	}, "ECDSA P-384 as spec.privateKey asks")
	if !slices.Equal(leaf.DNSNames, oldLeaf.DNSNames) || !leaf.NotBefore.Equal(oldLeaf.NotBefore) || !leaf.NotAfter.Equal(oldLeaf.NotAfter) {
		t.Errorf("leaf: names %v, valid %s to %s; want the model's %v, %s to %s",
			leaf.DNSNames, leaf.NotBefore, leaf.NotAfter, oldLeaf.DNSNames, oldLeaf.NotBefore, oldLeaf.NotAfter)
	}
	if err := leaf.CheckSignatureFrom(newCA); err != nil {
		t.Errorf("leaf is not signed by the rewritten CA: %v", err)
	}
	if string(leafSecret.Data[cmmeta.TLSCAKey]) != string(encodeCertificate(newCA)) {
		t.Error("leaf Secret's ca.crt is not the rewritten CA certificate")
	}
	if certs, _ := decodeCertificates(leafSecret.Data[corev1.TLSCertKey]); len(certs) != 1 {
		t.Errorf("leaf tls.crt has %d certificates, want 1: cert-manager leaves a self-signed root out of the chain", len(certs))
	}

	if string(otherSecret.Data[corev1.TLSCertKey]) != string(otherBefore) {
		t.Error("the Secret of an issuer the stack cannot sign for was rewritten; want it left to cert-manager")
	}
}

// checkKeyPair checks that a Secret's key has the wanted type and signs its
// certificate, and returns the certificate.
func checkKeyPair(t *testing.T, s *corev1.Secret, keyOK func(crypto.Signer) bool, want string) *x509.Certificate {
	t.Helper()
	key, err := decodePrivateKey(s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatalf("Secret %s: tls.key: %v", s.Name, err)
	}
	if !keyOK(key) {
		t.Errorf("Secret %s: key %T, want %s", s.Name, key, want)
	}
	cert, err := firstCertificate(s.Data[corev1.TLSCertKey])
	if err != nil {
		t.Fatalf("Secret %s: tls.crt: %v", s.Name, err)
	}
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(publicKey); !ok || !pub.Equal(cert.PublicKey) {
		t.Errorf("Secret %s: the certificate's public key is not the key's", s.Name)
	}
	return cert
}

func TestPriorIssuancesOfACMECertificates(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	issued := now.Add(-20 * 24 * time.Hour)
	acmeData, _, _ := modelKeyPair(t, []string{"example.com", "*.example.com"}, false, issued.Add(-issuanceBackdate), nil, nil)
	otherData, _, _ := modelKeyPair(t, []string{"internal.example.com"}, false, issued, nil, nil)
	objects := []client.Object{
		secret("network", "example-com-tls", acmeData),
		secret("network", "internal-tls", otherData),
		certificate("network", "example-com", "example-com-tls", cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "letsencrypt-production"}, nil),
		certificate("network", "internal", "internal-tls", cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "private-ca"}, nil),
		certificate("network", "missing", "missing-tls", cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "letsencrypt-production"}, nil),
	}
	got := PriorIssuances(objects, "letsencrypt-production", now)
	if len(got) != 1 {
		t.Fatalf("PriorIssuances = %+v, want one for example-com-tls", got)
	}
	if !slices.Equal(got[0].Names, []string{"example.com", "*.example.com"}) || got[0].Age != 20*24*time.Hour {
		t.Errorf("PriorIssuances[0] = %+v, want the certificate's names issued 480h ago", got[0])
	}
}
