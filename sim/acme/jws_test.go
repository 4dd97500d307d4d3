package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// csrFor returns a base64url DER CSR for names, as a finalize payload
// carries it.
func csrFor(t *testing.T, names ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(der)
}

func TestDecodeJWSNewOrder(t *testing.T) {
	body := jwsBody(t, "7", "https://front.test/order-plz", map[string]any{
		"identifiers": []identifier{{Type: "dns", Value: "B.example.com"}, {Type: "dns", Value: "a.example.com"}, {Type: "dns", Value: "b.example.com"}},
		"profile":     "shortlived",
		"replaces":    "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
	})
	req, err := decodeJWS(body)
	if err != nil {
		t.Fatalf("decodeJWS: %v", err)
	}
	if got := req.Account(); got != "7" {
		t.Errorf("Account() = %q, want 7", got)
	}
	if req.URL != "https://front.test/order-plz" {
		t.Errorf("URL = %q, want the url header", req.URL)
	}

	order, err := decodeNewOrder(req.Payload)
	if err != nil {
		t.Fatalf("decodeNewOrder: %v", err)
	}
	names, other := order.dnsNames()
	if want := []string{"a.example.com", "b.example.com"}; !slices.Equal(names, want) {
		t.Errorf("dnsNames() = %v, want %v (lowercased, sorted, deduplicated)", names, want)
	}
	if other {
		t.Error("dnsNames() reports non-DNS identifiers, want none")
	}
	if order.Profile != "shortlived" {
		t.Errorf("Profile = %q, want shortlived", order.Profile)
	}
	if order.Replaces != "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" {
		t.Errorf("Replaces = %q, want the ARI certificate ID", order.Replaces)
	}
}

func TestDecodeJWSPostAsGet(t *testing.T) {
	req, err := decodeJWS(jwsBody(t, "3", "https://front.test/authZ/x", nil))
	if err != nil {
		t.Fatalf("decodeJWS: %v", err)
	}
	if len(req.Payload) != 0 {
		t.Errorf("payload = %q, want empty for POST-as-GET", req.Payload)
	}
}

func TestDecodeJWSRejectsMalformedBodies(t *testing.T) {
	tests := map[string]string{
		"not JSON":          `{`,
		"general JWS":       `{"protected": "e30", "payload": "", "signature": "c2ln", "signatures": []}`,
		"missing protected": `{"payload": "", "signature": "c2ln"}`,
		"missing payload":   `{"protected": "e30", "signature": "c2ln"}`,
		"header not base64": `{"protected": "!!", "payload": "", "signature": "c2ln"}`,
		"header not JSON":   `{"protected": "bm90IGpzb24", "payload": "", "signature": "c2ln"}`,
		"payload not b64":   `{"protected": "e30", "payload": "!!", "signature": "c2ln"}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeJWS([]byte(body)); err == nil {
				t.Errorf("decodeJWS(%s) returned no error", body)
			}
		})
	}
}

func TestDecodeNewOrderWithoutIdentifiers(t *testing.T) {
	_, err := decodeNewOrder([]byte(`{"identifiers": []}`))
	if err == nil || !strings.Contains(err.Error(), "no identifiers") {
		t.Errorf("decodeNewOrder(no identifiers) error = %v, want one naming the missing identifiers", err)
	}
}

func TestNewOrderOtherIdentifierTypes(t *testing.T) {
	order := newOrderRequest{Identifiers: []identifier{{Type: "ip", Value: "192.0.2.1"}, {Type: "dns", Value: "a.example.com"}}}
	names, other := order.dnsNames()
	if !slices.Equal(names, []string{"a.example.com"}) {
		t.Errorf("dnsNames() = %v, want [a.example.com]", names)
	}
	if !other {
		t.Error("dnsNames() does not report the IP identifier")
	}
}

func TestDecodeFinalizeCSR(t *testing.T) {
	payload := []byte(`{"csr": "` + csrFor(t, "WWW.example.com", "example.com", "www.example.com") + `"}`)
	names, err := decodeFinalize(payload)
	if err != nil {
		t.Fatalf("decodeFinalize: %v", err)
	}
	if want := []string{"example.com", "www.example.com"}; !slices.Equal(names, want) {
		t.Errorf("decodeFinalize() = %v, want %v", names, want)
	}
}

func TestDecodeFinalizeRejectsBadCSR(t *testing.T) {
	tests := map[string]string{
		"not JSON":       `{`,
		"not base64":     `{"csr": "!!"}`,
		"not a CSR":      `{"csr": "AAAA"}`,
		"no DNS names":   `{"csr": "` + csrFor(t) + `"}`,
		"missing member": `{}`,
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeFinalize([]byte(payload)); err == nil {
				t.Errorf("decodeFinalize(%s) returned no error", payload)
			}
		})
	}
}

func TestAccountWithoutURL(t *testing.T) {
	if got := (jwsRequest{KeyID: "acct-1"}).Account(); got != "acct-1" {
		t.Errorf("Account() = %q, want the key ID itself", got)
	}
}
