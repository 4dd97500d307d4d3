package local

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// newPrivateKey generates a key as cert-manager v1.21.2 does for a
// Certificate's spec.privateKey (pkg/util/pki/generate.go): RSA of 2048 bits
// when the algorithm or size is unset, ECDSA on P-256 unless the size is 384
// or 521, or Ed25519. It returns the key PEM-encoded as PKCS#1 (RSA, or SEC 1
// for ECDSA) unless the encoding is PKCS8; an Ed25519 key is always PKCS#8.
func newPrivateKey(spec *cmapi.CertificatePrivateKey) (crypto.Signer, []byte, error) {
	if spec == nil {
		spec = &cmapi.CertificatePrivateKey{}
	}
	var key crypto.Signer
	var err error
	switch spec.Algorithm {
	case "", cmapi.RSAKeyAlgorithm:
		size := 2048
		if spec.Size > 0 {
			size = spec.Size
		}
		key, err = rsa.GenerateKey(rand.Reader, size)
	case cmapi.ECDSAKeyAlgorithm:
		curves := map[int]elliptic.Curve{0: elliptic.P256(), 256: elliptic.P256(), 384: elliptic.P384(), 521: elliptic.P521()}
		curve, ok := curves[spec.Size]
		if !ok {
			return nil, nil, fmt.Errorf("ECDSA key size %d is invalid: use 256, 384 or 521", spec.Size)
		}
		key, err = ecdsa.GenerateKey(curve, rand.Reader)
	case cmapi.Ed25519KeyAlgorithm:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("private key algorithm %q is unknown: use RSA, ECDSA or Ed25519", spec.Algorithm)
	}
	if err != nil {
		return nil, nil, err
	}

	var block *pem.Block
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if spec.Encoding != cmapi.PKCS8 {
			block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
	case *ecdsa.PrivateKey:
		if spec.Encoding != cmapi.PKCS8 {
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				return nil, nil, err
			}
			block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
		}
	}
	if block == nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return key, pem.EncodeToMemory(block), nil
}

// decodePrivateKey reads the first private key of PEM data, in PKCS#8,
// PKCS#1 or SEC 1 form.
func decodePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if signer, ok := k.(crypto.Signer); ok {
			return signer, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("invalid PEM block %q: it contains no PKCS#8, PKCS#1 or SEC 1 private key", block.Type)
}

// decodeCertificates reads every certificate of PEM data, in order.
func decodeCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certs, nil
}

// firstCertificate reads the first certificate of PEM data: the leaf of a
// Secret's tls.crt.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	certs, err := decodeCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// splitChain returns what cert-manager v1.21.2 writes for a chain that
// starts with the leaf (pkg/util/pki/parse_certificate_chain.go). tls.crt
// is the chain without a self-signed root, but at least the leaf. ca.crt
// is the self-signed root, else the highest certificate of a longer chain,
// else nothing.
func splitChain(chain []*x509.Certificate) (chainPEM, caPEM []byte) {
	last := chain[len(chain)-1]
	body := chain
	switch {
	case isSelfSigned(last):
		caPEM = encodeCertificate(last)
		if len(chain) > 1 {
			body = chain[:len(chain)-1]
		}
	case len(chain) > 1:
		caPEM = encodeCertificate(last)
	}
	var buf bytes.Buffer
	for _, c := range body {
		buf.Write(encodeCertificate(c))
	}
	return buf.Bytes(), caPEM
}

// isSelfSigned reports whether c is signed by its own key. CheckSignature
// is used because CheckSignatureFrom also requires a CA certificate.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func encodeCertificate(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
