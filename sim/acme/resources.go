package acme

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Pebble's resource paths (wfe/wfe.go, Pebble v2.10.3). The front
// distinguishes endpoints by these prefixes, so it works with Pebble only.
const (
	pebbleDirectoryPath   = "/dir"
	pebbleNoncePath       = "/nonce-plz"
	pebbleNewAccountPath  = "/sign-me-up"
	pebbleAccountPath     = "/my-account/"
	pebbleNewOrderPath    = "/order-plz"
	pebbleOrderPath       = "/my-order/"
	pebbleFinalizePath    = "/finalize-order/"
	pebbleAuthzPath       = "/authZ/"
	pebbleChallengePath   = "/chalZ/"
	pebbleCertificatePath = "/certZ/"
	pebbleRevokePath      = "/revoke-cert"
	pebbleKeyChangePath   = "/rollover-account-key"
	pebbleRenewalInfoPath = "/draft-ietf-acme-ari-03/renewalInfo"
)

// LedgerPath is the front's own path that serves the ledger as JSON.
const LedgerPath = "/certwave/ledger"

// endpointOf classifies a request path.
func endpointOf(p string) Endpoint {
	switch {
	case p == pebbleDirectoryPath:
		return EndpointDirectory
	case p == pebbleNoncePath:
		return EndpointNewNonce
	case p == pebbleNewAccountPath:
		return EndpointNewAccount
	case strings.HasPrefix(p, pebbleAccountPath):
		return EndpointAccount
	case p == pebbleNewOrderPath:
		return EndpointNewOrder
	case strings.HasPrefix(p, pebbleOrderPath):
		return EndpointOrder
	case strings.HasPrefix(p, pebbleFinalizePath):
		return EndpointFinalize
	case strings.HasPrefix(p, pebbleAuthzPath):
		return EndpointAuthorization
	case strings.HasPrefix(p, pebbleChallengePath):
		return EndpointChallenge
	case strings.HasPrefix(p, pebbleCertificatePath):
		return EndpointCertificate
	case p == pebbleRevokePath:
		return EndpointRevokeCert
	case p == pebbleKeyChangePath:
		return EndpointKeyChange
	case strings.HasPrefix(p, pebbleRenewalInfoPath):
		return EndpointRenewalInfo
	default:
		return EndpointOther
	}
}

// resourceID returns the ID in a resource URL or path after prefix, or ""
// when the URL does not have that prefix.
func resourceID(rawURL, prefix string) string {
	p := rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		p = u.Path
	}
	id, ok := strings.CutPrefix(p, prefix)
	if !ok || id == "" {
		return ""
	}
	return id
}

// orderResource is the part of an RFC 8555 order object the front reads.
type orderResource struct {
	Status         string   `json:"status"`
	Authorizations []string `json:"authorizations"`
	Finalize       string   `json:"finalize"`
	Profile        string   `json:"profile"`
}

// authzResource is the part of an RFC 8555 authorization object the front
// reads.
type authzResource struct {
	Identifier identifier          `json:"identifier"`
	Status     string              `json:"status"`
	Wildcard   bool                `json:"wildcard"`
	Challenges []challengeResource `json:"challenges"`
}

// challengeResource is an RFC 8555 challenge object.
type challengeResource struct {
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Token  string   `json:"token,omitempty"`
	Status string   `json:"status"`
	Error  *problem `json:"error,omitempty"`
}

// problem is an RFC 7807 problem document as ACME uses it.
type problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status,omitempty"`
}

// ACME problem types (RFC 8555, section 6.7).
const (
	problemRateLimited    = "urn:ietf:params:acme:error:rateLimited"
	problemServerInternal = "urn:ietf:params:acme:error:serverInternal"
	problemDNS            = "urn:ietf:params:acme:error:dns"
	problemOrderNotReady  = "urn:ietf:params:acme:error:orderNotReady"
)

// ACME object statuses (RFC 8555, section 7.1.6).
const (
	statusValid      = "valid"
	statusInvalid    = "invalid"
	statusProcessing = "processing"
)

// rewriteJSON decodes an object, lets edit change its fields and encodes it
// again. Fields the front does not know pass through unchanged. It returns
// body unchanged when body is not a JSON object.
func rewriteJSON(body []byte, edit func(map[string]any)) []byte {
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return body
	}
	edit(obj)
	out, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return body
	}
	return out
}
