// Package fake is a compile-only stand-in for vcert's fake connector. Its
// Connector fails like the others instead of faking a server.
package fake

import (
	"crypto/x509"

	"github.com/Venafi/vcert/v5/internal/notbuilt"
	"github.com/Venafi/vcert/v5/pkg/certificate"
	"github.com/Venafi/vcert/v5/pkg/endpoint"
)

// Connector is a fake Venafi client whose every call fails.
type Connector struct{}

// GetType returns endpoint.ConnectorTypeFake.
func (c *Connector) GetType() endpoint.ConnectorType { return endpoint.ConnectorTypeFake }

// Ping always returns an error.
func (c *Connector) Ping() error { return notbuilt.Err }

// Authenticate always returns an error.
func (c *Connector) Authenticate(auth *endpoint.Authentication) error { return notbuilt.Err }

// ReadZoneConfiguration always returns an error.
func (c *Connector) ReadZoneConfiguration() (*endpoint.ZoneConfiguration, error) {
	return nil, notbuilt.Err
}

// RequestCertificate always returns an error.
func (c *Connector) RequestCertificate(req *certificate.Request) (string, error) {
	return "", notbuilt.Err
}

// RetrieveCertificate always returns an error.
func (c *Connector) RetrieveCertificate(req *certificate.Request) (*certificate.PEMCollection, error) {
	return nil, notbuilt.Err
}

// NewConnector returns a Connector whose every call fails.
func NewConnector(verbose bool, trust *x509.CertPool) *Connector {
	return &Connector{}
}
