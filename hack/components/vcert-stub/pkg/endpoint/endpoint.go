// Package endpoint is a compile-only stand-in for vcert's pkg/endpoint.
package endpoint

import (
	"github.com/Venafi/vcert/v5/internal/notbuilt"
	"github.com/Venafi/vcert/v5/pkg/certificate"
)

// ConnectorType is the kind of Venafi server.
type ConnectorType int

// Connector kinds that cert-manager and its tests use.
const (
	ConnectorTypeTPP ConnectorType = iota + 1
	ConnectorTypeCloud
	ConnectorTypeNGTS
	ConnectorTypeFake
)

// Authentication contains the credentials for a Venafi server.
type Authentication struct {
	User         string
	Password     string
	APIKey       string
	AccessToken  string
	ClientId     string
	ClientSecret string
	Scope        string
	TokenURL     string
}

// Connector is a client of a Venafi server.
type Connector interface {
	GetType() ConnectorType
	Ping() error
	ReadZoneConfiguration() (*ZoneConfiguration, error)
	RequestCertificate(req *certificate.Request) (string, error)
	RetrieveCertificate(req *certificate.Request) (*certificate.PEMCollection, error)
}

// ZoneConfiguration is the policy of a Venafi zone.
type ZoneConfiguration struct{}

// UpdateCertificateRequest does nothing in the stand-in.
func (z *ZoneConfiguration) UpdateCertificateRequest(req *certificate.Request) {}

// ValidateCertificateRequest always returns an error.
func (z *ZoneConfiguration) ValidateCertificateRequest(req *certificate.Request) error {
	return notbuilt.Err
}

// ErrCertificatePending means the certificate is not issued yet.
type ErrCertificatePending struct{}

func (ErrCertificatePending) Error() string { return "venafi certificate pending" }

// ErrRetrieveCertificateTimeout means retrieving the certificate timed out.
type ErrRetrieveCertificateTimeout struct{}

func (ErrRetrieveCertificateTimeout) Error() string { return "venafi certificate retrieval timed out" }
