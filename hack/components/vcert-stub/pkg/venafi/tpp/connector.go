// Package tpp is a compile-only stand-in for vcert's Trust Protection Platform connector.
package tpp

import (
	"github.com/Venafi/vcert/v5/internal/notbuilt"
	"github.com/Venafi/vcert/v5/pkg/certificate"
	"github.com/Venafi/vcert/v5/pkg/endpoint"
)

// Connector is a Trust Protection Platform client whose every call fails.
type Connector struct{}

// GetType returns endpoint.ConnectorTypeTPP.
func (c *Connector) GetType() endpoint.ConnectorType { return endpoint.ConnectorTypeTPP }

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

// ResetCertificate always returns an error.
func (c *Connector) ResetCertificate(req *certificate.Request, restart bool) error {
	return notbuilt.Err
}

// VerifyTokenResponse is the response to an access token check.
type VerifyTokenResponse struct{}

// VerifyAccessToken always returns an error.
func (c *Connector) VerifyAccessToken(auth *endpoint.Authentication) (VerifyTokenResponse, error) {
	return VerifyTokenResponse{}, notbuilt.Err
}

// OauthGetRefreshTokenResponse is a token pair from the server. The field
// name follows vcert's.
type OauthGetRefreshTokenResponse struct {
	Access_token string
}

// GetRefreshToken always returns an error.
func (c *Connector) GetRefreshToken(auth *endpoint.Authentication) (OauthGetRefreshTokenResponse, error) {
	return OauthGetRefreshTokenResponse{}, notbuilt.Err
}

// ErrCertNotFound means the server has no certificate for a request.
type ErrCertNotFound struct{}

func (e *ErrCertNotFound) Error() string { return "venafi certificate not found" }
