package dns

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
)

// TSIGAlgorithm is the algorithm of every generated key, as named.conf and
// RFC 8945 spell it.
const TSIGAlgorithm = "hmac-sha256"

// CertManagerTSIGAlgorithm is TSIGAlgorithm as cert-manager's RFC2136
// solver expects it in `spec.acme.solvers[].dns01.rfc2136.tsigAlgorithm`
// (cert-manager v1.21.2, pkg/issuer/acme/dns/rfc2136: HMACMD5, HMACSHA1,
// HMACSHA256 or HMACSHA512; an empty value means HMACMD5).
const CertManagerTSIGAlgorithm = "HMACSHA256"

// DefaultTSIGKeyName is the key name used when Options.TSIGKeyName is empty.
const DefaultTSIGKeyName = "certwave-rfc2136"

// tsigSecretBytes is the size of a generated secret: 32 bytes, the output
// size of SHA-256, which RFC 2104 recommends as the minimum HMAC key length.
const tsigSecretBytes = 32

// TSIGKey is the shared key that signs dynamic updates. Its String,
// GoString and LogValue methods leave the secret out, so printing or
// logging a key does not leak it.
type TSIGKey struct {
	// Name is the key name without the trailing dot, for named.conf and
	// the solver's tsigKeyName. cert-manager adds the dot itself.
	Name string
	// Algorithm is TSIGAlgorithm.
	Algorithm string
	// Secret is the key in standard base64, as named.conf and the
	// solver's tsigSecretSecretRef expect it.
	Secret string
}

// CertManagerAlgorithm returns the key's algorithm in the spelling of
// cert-manager's RFC2136 solver.
func (k TSIGKey) CertManagerAlgorithm() string {
	return CertManagerTSIGAlgorithm
}

// String describes the key without its secret.
func (k TSIGKey) String() string {
	return fmt.Sprintf("TSIG key %q (%s, secret redacted)", k.Name, k.Algorithm)
}

// GoString describes the key for %#v without its secret.
func (k TSIGKey) GoString() string {
	return fmt.Sprintf("dns.TSIGKey{Name:%q, Algorithm:%q, Secret:<redacted>}", k.Name, k.Algorithm)
}

// LogValue makes log/slog record the key's name and algorithm only.
func (k TSIGKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", k.Name), slog.String("algorithm", k.Algorithm))
}

// generateTSIGKey returns a key with a random secret. Since Go 1.24,
// crypto/rand.Read never returns an error.
func generateTSIGKey(name string) TSIGKey {
	secret := make([]byte, tsigSecretBytes)
	rand.Read(secret)
	return TSIGKey{
		Name:      name,
		Algorithm: TSIGAlgorithm,
		Secret:    base64.StdEncoding.EncodeToString(secret),
	}
}
