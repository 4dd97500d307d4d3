package tlsprobe

import (
	"crypto/x509"
	"fmt"
	"os"
)

// ReadRoots reads a PEM bundle of root certificates from path. source
// names the flag or variable that gave the path, for the error.
func ReadRoots(source, path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("invalid %s %s: no PEM CERTIFICATE block found", source, path)
	}
	return pool, nil
}
