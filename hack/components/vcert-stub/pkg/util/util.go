// Package util is a compile-only stand-in for vcert's pkg/util.
package util

// IssuerHint selects the issuers a Venafi server may use.
type IssuerHint int

// IssuerHintAllIssuers lets the server pick any issuer.
const IssuerHintAllIssuers IssuerHint = 0
