// Package certificate is a compile-only stand-in for vcert's
// pkg/certificate.
package certificate

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"time"

	"github.com/Venafi/vcert/v5/internal/notbuilt"
	"github.com/Venafi/vcert/v5/pkg/util"
)

// ChainOption orders the chain in a retrieved certificate.
type ChainOption int

// ChainOptionRootLast puts the root certificate last.
const ChainOptionRootLast ChainOption = 0

// CustomFieldType is the kind of a custom field.
type CustomFieldType int

// Custom field kinds.
const (
	CustomFieldPlain CustomFieldType = iota
	CustomFieldOrigin
)

// CustomField is a name and value sent with a request.
type CustomField struct {
	Type  CustomFieldType
	Name  string
	Value string
}

// CSrOriginOption is the origin of the CSR of a request.
type CSrOriginOption int

// UserProvidedCSR means the caller supplies the CSR.
const UserProvidedCSR CSrOriginOption = 0

// Request is a certificate request to a Venafi server.
type Request struct {
	Subject          pkix.Name
	ValidityDuration *time.Duration
	IssuerHint       util.IssuerHint
	ChainOption      ChainOption
	CustomFields     []CustomField
	FriendlyName     string
	CsrOrigin        CSrOriginOption
	PickupID         string
	Timeout          time.Duration
}

// NewRequest returns an empty request.
func NewRequest(cert *x509.Certificate) *Request {
	return &Request{}
}

// SetCSR always returns an error because the stand-in cannot send requests.
func (r *Request) SetCSR(csr []byte) error {
	return notbuilt.Err
}

// PEMCollection is a retrieved certificate and its chain.
type PEMCollection struct {
	Certificate string
	Chain       []string
}
