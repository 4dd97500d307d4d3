package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
)

// startPebbleOrSkip starts the cached Pebble with every challenge valid, or
// skips the test when the binary has not been built.
func startPebbleOrSkip(t *testing.T) *Pebble {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Pebble process; skipped with -short")
	}
	binary := DefaultPebbleBinary()
	if _, err := os.Stat(binary); err != nil {
		t.Skipf("Pebble %s not found at %s: run `make components` to build it", PebbleVersion, binary)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartPebble(ctx, PebbleOptions{Binary: binary, Dir: t.TempDir(), AlwaysValid: true, Log: testLog(t)})
	if err != nil {
		t.Fatalf("StartPebble: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stopping Pebble: %v", err)
		}
	})
	return p
}

// testLog logs to the test's output.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startFront starts a front on Pebble and closes it at the end of the test.
func startFront(t *testing.T, pebble *Pebble, opts Options) *Front {
	t.Helper()
	opts.PebbleURL = pebble.URL
	opts.PebbleRoots = pebble.Roots
	if opts.Log == nil {
		opts.Log = testLog(t)
	}
	f, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := f.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// frontHTTPClient trusts the front's serving certificate.
func frontHTTPClient(t *testing.T, f *Front) *http.Client {
	t.Helper()
	serving := ServingCertificate{CertificatePEM: f.CertificatePEM()}
	pool, err := serving.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
}

// newACMEClient registers a new account through the front. The client does
// not retry, so a test gets the first 429 or 5xx response as an error.
func newACMEClient(ctx context.Context, t *testing.T, f *Front) *xacme.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &xacme.Client{
		Key:          key,
		DirectoryURL: f.DirectoryURL(),
		HTTPClient:   frontHTTPClient(t, f),
		UserAgent:    "certwave-e2e-test",
		RetryBackoff: func(int, *http.Request, *http.Response) time.Duration { return -1 },
	}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatalf("registering an account through the front: %v", err)
	}
	return c
}

// accountID returns the account ID the front's ledger uses for a client.
func accountID(c *xacme.Client) string {
	return path.Base(string(c.KID))
}

// issueCertificate orders a certificate for names and completes the order.
func issueCertificate(ctx context.Context, c *xacme.Client, names ...string) (*x509.Certificate, error) {
	order, err := c.AuthorizeOrder(ctx, xacme.DomainIDs(names...))
	if err != nil {
		return nil, err
	}
	return completeOrder(ctx, c, order, names)
}

// completeOrder accepts the DNS-01 challenges of an order, finalizes it and
// returns the certificate.
func completeOrder(ctx context.Context, c *xacme.Client, order *xacme.Order, names []string) (*x509.Certificate, error) {
	for _, u := range order.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, err
		}
		if z.Status != xacme.StatusPending {
			continue
		}
		var chal *xacme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == challengeDNS01 {
				chal = ch
			}
		}
		if chal == nil {
			return nil, fmt.Errorf("authorization %s has no dns-01 challenge", z.URI)
		}
		if _, err := c.Accept(ctx, chal); err != nil {
			return nil, err
		}
		if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
			return nil, err
		}
	}
	if _, err := c.WaitOrder(ctx, order.URI); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		return nil, err
	}
	der, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, false)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der[0])
}

// acmeError returns the ACME problem of an error, failing the test when
// there is none.
func acmeError(t *testing.T, err error) *xacme.Error {
	t.Helper()
	var problem *xacme.Error
	if !errors.As(err, &problem) {
		t.Fatalf("error %v is not an ACME problem", err)
	}
	return problem
}

// postNewOrder sends a newOrder with fields golang.org/x/crypto/acme v0.56.0
// cannot send (profile, replaces), signed with the client's account key.
func postNewOrder(ctx context.Context, t *testing.T, c *xacme.Client, req newOrderRequest) *xacme.Order {
	t.Helper()
	dir, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonceResp, err := c.HTTPClient.Head(dir.NonceURL)
	if err != nil {
		t.Fatalf("fetching a nonce: %v", err)
	}
	nonceResp.Body.Close()

	body := signES256(t, c.Key, string(c.KID), nonceResp.Header.Get("Replay-Nonce"), dir.OrderURL, req)
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, dir.OrderURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	httpReq.Header.Set("Content-Type", "application/jose+json")
	httpReq.Header.Set("User-Agent", "certwave-e2e-test")
	resp, err := c.HTTPClient.Do(httpReq)
	if err != nil {
		t.Fatalf("posting newOrder: %v", err)
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(resp.Body)

	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("newOrder with %+v: HTTP %d %s, want 201", req, resp.StatusCode, respBody)
	}
	orderURL := resp.Header.Get("Location")
	order, err := c.GetOrder(ctx, orderURL)
	if err != nil {
		t.Fatalf("fetching the new order: %v", err)
	}
	// GetOrder takes the URL from a Location header, which Pebble sends
	// only when it creates the order.
	order.URI = orderURL
	return order
}

// signES256 builds a flattened JWS (RFC 7515) signed with an ECDSA P-256
// key, the form RFC 8555 requests take.
func signES256(t *testing.T, key crypto.Signer, kid, nonce, url string, payload any) []byte {
	t.Helper()
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("account key is %T, want *ecdsa.PrivateKey", key)
	}
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": kid, "nonce": nonce, "url": url})
	payloadJSON, _ := json.Marshal(payload)
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString(payloadJSON)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, ecKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	// JWS ES256 signatures are R and S as 32-byte big-endian integers.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	body, _ := json.Marshal(map[string]string{
		"protected": enc.EncodeToString(header),
		"payload":   enc.EncodeToString(payloadJSON),
		"signature": enc.EncodeToString(sig),
	})
	return body
}

// ariCertID returns the RFC 9773 certificate ID of a certificate: the
// base64url authority key identifier and serial number joined by a dot.
func ariCertID(cert *x509.Certificate) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString(cert.AuthorityKeyId) + "." + enc.EncodeToString(cert.SerialNumber.Bytes())
}

// fetchLedger reads the ledger over HTTP, as a test world would.
func fetchLedger(t *testing.T, f *Front) LedgerDocument {
	t.Helper()
	resp, err := frontHTTPClient(t, f).Get(f.URL() + LedgerPath)
	if err != nil {
		t.Fatalf("GET %s: %v", LedgerPath, err)
	}
	defer resp.Body.Close()
	var doc LedgerDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decoding the ledger: %v", err)
	}
	return doc
}
