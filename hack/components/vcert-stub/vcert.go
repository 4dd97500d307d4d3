// Package vcert is a compile-only stand-in for the Venafi vcert client. It
// has the types and functions that cert-manager v1.21.2's Venafi issuer
// references, and NewClient always fails.
package vcert

import (
	"net/http"

	"github.com/Venafi/vcert/v5/internal/notbuilt"
	"github.com/Venafi/vcert/v5/pkg/endpoint"
)

// Config is the connection configuration cert-manager builds for a Venafi
// issuer.
type Config struct {
	ConnectorType   endpoint.ConnectorType
	BaseUrl         string
	Zone            string
	LogVerbose      bool
	ConnectionTrust string
	Credentials     *endpoint.Authentication
	Client          *http.Client
}

// NewClient always returns an error because the stand-in has no connector.
func NewClient(cfg *Config, authenticate ...bool) (endpoint.Connector, error) {
	return nil, notbuilt.Err
}
