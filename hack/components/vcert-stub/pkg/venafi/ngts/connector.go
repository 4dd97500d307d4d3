// Package ngts is a compile-only stand-in for vcert's NGTS connector.
package ngts

import (
	"github.com/Venafi/vcert/v5/internal/notbuilt"
	"github.com/Venafi/vcert/v5/pkg/certificate"
	"github.com/Venafi/vcert/v5/pkg/endpoint"
)

// Connector is a NGTS client whose every call fails.
type Connector struct{}

// GetType returns endpoint.ConnectorTypeNGTS.
func (c *Connector) GetType() endpoint.ConnectorType { return endpoint.ConnectorTypeNGTS }

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
