package acme

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
)

// jwsRequest is the part of a flattened JWS (RFC 7515, section 7.2.2) that
// the front reads. The signature is not checked: Pebble verifies it.
type jwsRequest struct {
	// KeyID is the "kid" header, the account URL. It is empty when the
	// request carries a "jwk" instead, as newAccount does.
	KeyID string
	// URL is the "url" header.
	URL string
	// Payload is the decoded payload, empty for POST-as-GET.
	Payload []byte
}

// Account returns the account ID: the last path segment of the key ID, or
// the whole key ID when it is not a URL.
func (r jwsRequest) Account() string {
	u, err := url.Parse(r.KeyID)
	if err != nil || u.Path == "" {
		return r.KeyID
	}
	return path.Base(u.Path)
}

// decodeJWS decodes a flattened JSON JWS body as ACME (RFC 8555, section
// 6.2) requires it.
func decodeJWS(body []byte) (jwsRequest, error) {
	var flat struct {
		Protected  string          `json:"protected"`
		Payload    *string         `json:"payload"`
		Signature  string          `json:"signature"`
		Signatures json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(body, &flat); err != nil {
		return jwsRequest{}, fmt.Errorf("request body is not a JSON JWS: %w", err)
	}
	if flat.Signatures != nil {
		return jwsRequest{}, errors.New("request body is a general JWS with \"signatures\": ACME requires the flattened form")
	}
	if flat.Protected == "" || flat.Payload == nil || flat.Signature == "" {
		return jwsRequest{}, errors.New("request body lacks \"protected\", \"payload\" or \"signature\"")
	}
	headerJSON, err := base64.RawURLEncoding.DecodeString(flat.Protected)
	if err != nil {
		return jwsRequest{}, fmt.Errorf("JWS protected header is not base64url: %w", err)
	}
	var header struct {
		KeyID string `json:"kid"`
		URL   string `json:"url"`
	}
	if err := json.Unmarshal(headerJSON, &header); err != nil {
		return jwsRequest{}, fmt.Errorf("JWS protected header is not JSON: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(*flat.Payload)
	if err != nil {
		return jwsRequest{}, fmt.Errorf("JWS payload is not base64url: %w", err)
	}
	return jwsRequest{KeyID: header.KeyID, URL: header.URL, Payload: payload}, nil
}

// newOrderRequest is the newOrder payload (RFC 8555, section 7.4) with the
// profile extension (draft-aaron-acme-profiles) and the ARI "replaces"
// field (RFC 9773).
type newOrderRequest struct {
	Identifiers []identifier `json:"identifiers"`
	Profile     string       `json:"profile,omitempty"`
	Replaces    string       `json:"replaces,omitempty"`
}

// identifier is an ACME identifier.
type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// decodeNewOrder decodes a newOrder payload.
func decodeNewOrder(payload []byte) (newOrderRequest, error) {
	var req newOrderRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return req, fmt.Errorf("newOrder payload is not JSON: %w", err)
	}
	if len(req.Identifiers) == 0 {
		return req, errors.New("newOrder payload has no identifiers")
	}
	return req, nil
}

// dnsNames returns the DNS identifiers lowercased, deduplicated and sorted,
// and reports whether the order has identifiers of another type.
func (r newOrderRequest) dnsNames() (names []string, other bool) {
	for _, id := range r.Identifiers {
		if id.Type != "dns" {
			other = true
			continue
		}
		names = append(names, id.Value)
	}
	return canonicalNames(names), other
}

// decodeFinalize returns the DNS names of the CSR in a finalize payload
// (RFC 8555, section 7.4), lowercased, deduplicated and sorted.
func decodeFinalize(payload []byte) ([]string, error) {
	var req struct {
		CSR string `json:"csr"`
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("finalize payload is not JSON: %w", err)
	}
	der, err := base64.RawURLEncoding.DecodeString(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("finalize CSR is not base64url: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("finalize CSR is invalid: %w", err)
	}
	if len(csr.DNSNames) == 0 {
		return nil, errors.New("finalize CSR has no DNS names")
	}
	return canonicalNames(csr.DNSNames), nil
}

// canonicalNames lowercases, sorts and deduplicates names, as Pebble and
// Boulder do before they compare name sets.
func canonicalNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
