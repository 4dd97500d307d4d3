package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// ServingCertificate is a self-signed TLS serving certificate for servers on
// the loopback interface, in PEM.
type ServingCertificate struct {
	CertificatePEM []byte
	PrivateKeyPEM  []byte
}

// NewServingCertificate makes a self-signed P-256 certificate valid for a
// year for 127.0.0.1, ::1 and localhost. Clients trust it by adding
// CertificatePEM to their roots, as cert-manager's spec.acme.caBundle does.
func NewServingCertificate() (ServingCertificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ServingCertificate{}, fmt.Errorf("generating a TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return ServingCertificate{}, fmt.Errorf("generating a serial number: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "certwave loopback"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return ServingCertificate{}, fmt.Errorf("signing the TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ServingCertificate{}, fmt.Errorf("encoding the TLS key: %w", err)
	}
	return ServingCertificate{
		CertificatePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// TLSCertificate returns the certificate for a tls.Config.
func (c ServingCertificate) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(c.CertificatePEM, c.PrivateKeyPEM)
}

// CertPool returns a pool that trusts the certificate.
func (c ServingCertificate) CertPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CertificatePEM) {
		return nil, fmt.Errorf("no PEM certificate found in %d bytes", len(c.CertificatePEM))
	}
	return pool, nil
}
