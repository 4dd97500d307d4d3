package model

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// pkiState holds the model's certificate authorities and a cache of parsed
// certificates. Every key comes from the world's seeded generator, so two
// worlds with one seed hold the same bytes.
type pkiState struct {
	// authorities are the ACME servers' issuing CAs by name.
	authorities map[string]*authority
	parsed      map[string]*x509.Certificate
	// pairs caches secretKeyPair by certificate and key bytes.
	pairs map[string]pairResult
}

// pairResult is a cached outcome of secretKeyPair.
type pairResult struct {
	pair   *keyPair
	reason string
	err    error
}

// authority is a CA that signs leaf certificates.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func newPKIState() *pkiState {
	return &pkiState{authorities: map[string]*authority{}, parsed: map[string]*x509.Certificate{}, pairs: map[string]pairResult{}}
}

// newKey returns an ed25519 key from the seeded generator. ed25519 signing
// is deterministic, so certificates signed with it replay exactly.
func (w *World) newKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(w.rng.Uint32())
	}
	return ed25519.NewKeyFromSeed(seed)
}

// newSerial returns a positive 127-bit serial number from the generator.
func (w *World) newSerial() *big.Int {
	hi := new(big.Int).SetUint64(w.rng.Uint64() >> 1)
	return hi.Lsh(hi, 64).Or(hi, new(big.Int).SetUint64(w.rng.Uint64()))
}

// acmeAuthority returns the issuing CA of an ACME server, creating it on
// first use. Its common name imitates Let's Encrypt's intermediates.
func (w *World) acmeAuthority(server string) (*authority, error) {
	if a, ok := w.pki.authorities[server]; ok {
		return a, nil
	}
	a, err := w.newAuthority("(model) Let's Encrypt E7", w.sched.now.AddDate(-1, 0, 0), 10*365*day)
	if err != nil {
		return nil, fmt.Errorf("model: creating the CA of ACME server %s: %w", server, err)
	}
	w.pki.authorities[server] = a
	return a, nil
}

// newAuthority creates a self-signed CA.
func (w *World) newAuthority(commonName string, notBefore time.Time, lifetime time.Duration) (*authority, error) {
	key := w.newKey()
	tmpl := &x509.Certificate{
		SerialNumber:          w.newSerial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(lifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, certPEM: encodeCertificate(der), key: key}, nil
}

// leafRequest is the content of one certificate to sign.
type leafRequest struct {
	commonName string
	dnsNames   []string
	isCA       bool
	notBefore  time.Time
	notAfter   time.Time
	public     crypto.PublicKey
}

// sign issues a certificate for req, signed by parent, or self-signed with
// selfKey when parent is nil. It returns the PEM of the certificate.
func (w *World) sign(req leafRequest, parent *authority, selfKey ed25519.PrivateKey) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          w.newSerial(),
		Subject:               pkix.Name{CommonName: req.commonName},
		DNSNames:              req.dnsNames,
		NotBefore:             req.notBefore,
		NotAfter:              req.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  req.isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if req.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signerCert := tmpl
	var signerKey crypto.Signer
	if selfKey != nil {
		signerKey = selfKey
	}
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	if signerKey == nil {
		return nil, errors.New("no signing key")
	}
	der, err := x509.CreateCertificate(nil, tmpl, signerCert, req.public, signerKey)
	if err != nil {
		return nil, err
	}
	return encodeCertificate(der), nil
}

// newCSR returns a PEM certificate signing request for names, signed by key.
func newCSR(commonName string, names []string, key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: commonName},
		DNSNames: names,
	}, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func encodeCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCertificate parses the first certificate of a PEM bundle, caching by
// content.
func (w *World) parseCertificate(data []byte) (*x509.Certificate, error) {
	if c, ok := w.pki.parsed[string(data)]; ok {
		return c, nil
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	w.pki.parsed[string(data)] = c
	return c, nil
}

// parseKey parses a PEM private key in PKCS #8, PKCS #1 or SEC 1 form.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("private key is not a signer")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported private key encoding")
}

// publicKeysEqual compares two public keys by their PKIX encoding.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	da, errA := x509.MarshalPKIXPublicKey(a)
	db, errB := x509.MarshalPKIXPublicKey(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

// keyPair is a Secret's parsed tls.crt and tls.key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// secretKeyPair parses a TLS Secret and checks that its key matches its
// certificate, returning cert-manager's reason when it does not
// (MissingData, InvalidKeyPair, InvalidCertificate in cert-manager
// v1.21.2 internal/controller/certificates/policies/checks.go).
func (w *World) secretKeyPair(s *corev1.Secret) (*keyPair, string, error) {
	if s == nil {
		return nil, reasonDoesNotExist, errors.New("secret does not exist")
	}
	certData, keyData := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(keyData) == 0 {
		return nil, reasonMissingData, errors.New("secret does not contain a private key")
	}
	if len(certData) == 0 {
		return nil, reasonMissingData, errors.New("secret does not contain a certificate")
	}
	cacheKey := string(certData) + "\x00" + string(keyData)
	if r, ok := w.pki.pairs[cacheKey]; ok {
		return r.pair, r.reason, r.err
	}
	pair, reason, err := w.parseKeyPair(certData, keyData)
	w.pki.pairs[cacheKey] = pairResult{pair: pair, reason: reason, err: err}
	return pair, reason, err
}

// parseKeyPair parses and matches a certificate and its private key.
func (w *World) parseKeyPair(certData, keyData []byte) (*keyPair, string, error) {
	key, err := parseKey(keyData)
	if err != nil {
		return nil, reasonInvalidKeyPair, fmt.Errorf("secret contains invalid private key data: %w", err)
	}
	cert, err := w.parseCertificate(certData)
	if err != nil {
		return nil, reasonInvalidCertificate, fmt.Errorf("secret contains an invalid certificate: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, reasonInvalidKeyPair, errors.New("secret contains a private key that does not match the certificate")
	}
	return &keyPair{cert: cert, key: key}, "", nil
}
