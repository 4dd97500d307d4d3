package tlsprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/tlsprobe/probetest"
	"github.com/certwave/certwave/topology"
)

var (
	testNow   = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	validFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	validTo   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

// testServer is a TLS server on 127.0.0.1 that picks its certificate by
// SNI and records the SNI and Host header of each request.
type testServer struct {
	srv  *httptest.Server
	ca   *probetest.CA
	mu   sync.Mutex
	seen []string // "sni host" per request
}

// newTestServer serves a.example.test and b.example.test with one leaf,
// but routes only a.example.test and tunnel.example.test (any other Host
// gets 404). SNI expired.example.test gets an expired leaf,
// wrong.example.test a leaf for other.example.test, tunnel.example.test
// its own leaf, and alert.example.test a TLS alert.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{ca: probetest.NewCA(t, "certwave test root", validFrom, validTo)}
	good := ts.ca.Issue(t, []string{"a.example.test", "b.example.test"}, validFrom, validTo)
	expired := ts.ca.Issue(t, []string{"expired.example.test"}, validFrom.AddDate(-1, 0, 0), validFrom)
	wrong := ts.ca.Issue(t, []string{"other.example.test"}, validFrom, validTo)
	tunnel := ts.ca.Issue(t, []string{"tunnel.example.test"}, validFrom, validTo)

	routed := map[string]bool{"a.example.test": true, "tunnel.example.test": true}
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.seen = append(ts.seen, r.TLS.ServerName+" "+r.Host)
		ts.mu.Unlock()
		if !routed[r.Host] {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	ts.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.srv.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		switch hello.ServerName {
		case "expired.example.test":
			return &expired, nil
		case "wrong.example.test":
			return &wrong, nil
		case "tunnel.example.test":
			return &tunnel, nil
		case "alert.example.test":
			return nil, errors.New("no certificate for this name")
		}
		return &good, nil
	}}
	ts.srv.StartTLS()
	t.Cleanup(ts.srv.Close)
	return ts
}

// addr returns the server's 127.0.0.1 host:port.
func (ts *testServer) addr() string { return ts.srv.Listener.Addr().String() }

func (ts *testServer) requests() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.seen...)
}

// routeTo returns a Dialer that sends every *.example.test:443 address to
// target on 127.0.0.1, records what it was asked to dial, and rejects
// anything else, so no test resolves a name or leaves the machine.
func routeTo(target string, dialed *[]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var mu sync.Mutex
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		*dialed = append(*dialed, addr)
		mu.Unlock()
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(host, ".example.test"):
			addr = target
		case host != "127.0.0.1":
			return nil, fmt.Errorf("test dialer rejects %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func newTestProber(t *testing.T, ts *testServer, opts Options) (*Prober, *[]string) {
	t.Helper()
	dialed := &[]string{}
	opts.Dialer = routeTo(ts.addr(), dialed)
	opts.Now = func() time.Time { return testNow }
	if opts.Roots == nil {
		opts.Roots = ts.ca.Pool()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, dialed
}

func probe(t *testing.T, p *Prober, host, path string) engine.ProbeResult {
	t.Helper()
	res, err := p.Probe(context.Background(), host, path)
	if err != nil {
		t.Fatalf("Probe(%s, %s): %v", host, path, err)
	}
	return res
}

func TestProbeServed(t *testing.T) {
	ts := newTestServer(t)
	p, dialed := newTestProber(t, ts, Options{})

	res := probe(t, p, "a.example.test", "direct")
	if res.Outcome != engine.OutcomeServed {
		t.Fatalf("outcome = %s (%s), want served", res.Outcome, res.Detail)
	}
	if res.Host != "a.example.test" || res.ClientPath != "direct" {
		t.Errorf("host, path = %s, %s, want a.example.test, direct", res.Host, res.ClientPath)
	}
	if !slices.Equal(res.SANs, []string{"a.example.test", "b.example.test"}) {
		t.Errorf("SANs = %v", res.SANs)
	}
	if res.Issuer != "certwave test root" {
		t.Errorf("issuer = %q, want certwave test root", res.Issuer)
	}
	if !res.NotBefore.Equal(validFrom) || !res.NotAfter.Equal(validTo) {
		t.Errorf("validity = %s to %s, want %s to %s", res.NotBefore, res.NotAfter, validFrom, validTo)
	}
	if res.Detail != "" {
		t.Errorf("detail = %q, want empty on success", res.Detail)
	}
	if !slices.Equal(*dialed, []string{"a.example.test:443"}) {
		t.Errorf("dialed %v, want the host on port 443", *dialed)
	}
	if got := ts.requests(); !slices.Equal(got, []string{"a.example.test a.example.test"}) {
		t.Errorf("server saw %v, want SNI and Host a.example.test", got)
	}
}

func TestProbeNotFound(t *testing.T) {
	ts := newTestServer(t)
	p, _ := newTestProber(t, ts, Options{})

	res := probe(t, p, "b.example.test", "direct")
	if res.Outcome != engine.OutcomeNotFound {
		t.Fatalf("outcome = %s (%s), want not-found", res.Outcome, res.Detail)
	}
	if !strings.Contains(res.Detail, "404") {
		t.Errorf("detail = %q, want it to mention 404", res.Detail)
	}
	if len(res.SANs) == 0 {
		t.Error("SANs are empty, want the served certificate's names")
	}
}

func TestProbeWrongSAN(t *testing.T) {
	ts := newTestServer(t)
	p, _ := newTestProber(t, ts, Options{})

	res := probe(t, p, "wrong.example.test", "direct")
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Fatalf("outcome = %s (%s), want handshake-failure", res.Outcome, res.Detail)
	}
	if !slices.Equal(res.SANs, []string{"other.example.test"}) {
		t.Errorf("SANs = %v, want the served certificate's other.example.test", res.SANs)
	}
	if !strings.Contains(res.Detail, "does not cover wrong.example.test") {
		t.Errorf("detail = %q, want the name mismatch", res.Detail)
	}
	if got := ts.requests(); len(got) != 0 {
		t.Errorf("server saw requests %v, want none after a failed verification", got)
	}
}

func TestProbeExpired(t *testing.T) {
	ts := newTestServer(t)
	p, _ := newTestProber(t, ts, Options{})

	res := probe(t, p, "expired.example.test", "direct")
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Fatalf("outcome = %s (%s), want handshake-failure", res.Outcome, res.Detail)
	}
	if !strings.Contains(res.Detail, "expired at 2026-01-01T00:00:00Z") {
		t.Errorf("detail = %q, want the expiry time", res.Detail)
	}
	if !res.NotAfter.Equal(validFrom) {
		t.Errorf("notAfter = %s, want %s", res.NotAfter, validFrom)
	}
}

func TestProbeUntrustedRoot(t *testing.T) {
	ts := newTestServer(t)
	other := probetest.NewCA(t, "unrelated root", validFrom, validTo)
	p, _ := newTestProber(t, ts, Options{Roots: other.Pool()})

	res := probe(t, p, "a.example.test", "direct")
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Fatalf("outcome = %s (%s), want handshake-failure", res.Outcome, res.Detail)
	}
	if !strings.Contains(res.Detail, "unknown authority") {
		t.Errorf("detail = %q, want unknown authority", res.Detail)
	}
	if res.Issuer != "certwave test root" {
		t.Errorf("issuer = %q, want the served certificate's issuer", res.Issuer)
	}
}

func TestProbePrivateRoots(t *testing.T) {
	ts := newTestServer(t)
	public := probetest.NewCA(t, "public root", validFrom, validTo)
	p, _ := newTestProber(t, ts, Options{
		Roots:        public.Pool(),
		PrivateRoots: ts.ca.Pool(),
		PrivateHosts: map[string]bool{"a.example.test": true},
	})

	if res := probe(t, p, "a.example.test", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("private host via Probe: outcome = %s (%s), want served", res.Outcome, res.Detail)
	}
	res, err := p.ProbeExpect(context.Background(), "a.example.test", "direct", Expectation{Private: false})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Errorf("expected public: outcome = %s, want handshake-failure against the public roots", res.Outcome)
	}
}

func TestProbePrivateWithoutCA(t *testing.T) {
	ts := newTestServer(t)
	public := probetest.NewCA(t, "public root", validFrom, validTo)
	p, _ := newTestProber(t, ts, Options{Roots: public.Pool()})

	res, err := p.ProbeExpect(context.Background(), "a.example.test", "direct", Expectation{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Fatalf("outcome = %s, want handshake-failure", res.Outcome)
	}
	if !strings.Contains(res.Detail, "no private CA was given") {
		t.Errorf("detail = %q, want a hint about the missing private CA", res.Detail)
	}
}

func TestProbeTLSAlert(t *testing.T) {
	ts := newTestServer(t)
	p, _ := newTestProber(t, ts, Options{})

	res := probe(t, p, "alert.example.test", "direct")
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Fatalf("outcome = %s (%s), want handshake-failure", res.Outcome, res.Detail)
	}
	if !strings.Contains(res.Detail, "TLS handshake") {
		t.Errorf("detail = %q, want the handshake error", res.Detail)
	}
	if len(res.SANs) != 0 {
		t.Errorf("SANs = %v, want none without a certificate", res.SANs)
	}
}

func TestProbeRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	p, err := New(Options{Addresses: map[string]string{"direct": closed}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res := probe(t, p, "a.example.test", "direct")
	if res.Outcome != engine.OutcomeRefused {
		t.Fatalf("outcome = %s (%s), want refused", res.Outcome, res.Detail)
	}
	if !strings.Contains(res.Detail, closed) {
		t.Errorf("detail = %q, want the dialed address %s", res.Detail, closed)
	}
}

func TestProbeFixedSNI(t *testing.T) {
	ts := newTestServer(t)
	paths := []topology.ClientPath{
		{Name: "direct", Kind: topology.ClientPathDirect},
		{Name: "tunnel", Kind: topology.ClientPathFixedSNI, ServerName: "tunnel.example.test"},
	}
	p, dialed := newTestProber(t, ts, Options{Paths: paths})

	res := probe(t, p, "a.example.test", "tunnel")
	if res.Outcome != engine.OutcomeServed {
		t.Fatalf("outcome = %s (%s), want served", res.Outcome, res.Detail)
	}
	if !slices.Equal(res.SANs, []string{"tunnel.example.test"}) {
		t.Errorf("SANs = %v, want the certificate for the fixed server name", res.SANs)
	}
	if got := ts.requests(); !slices.Equal(got, []string{"tunnel.example.test a.example.test"}) {
		t.Errorf("server saw %v, want SNI tunnel.example.test and Host a.example.test", got)
	}
	if !slices.Equal(*dialed, []string{"tunnel.example.test:443"}) {
		t.Errorf("dialed %v, want the server name on port 443", *dialed)
	}

	// The same Host through the tunnel but unrouted gets 404, not a
	// certificate error, because the tunnel's name is what is verified.
	if res := probe(t, p, "b.example.test", "tunnel"); res.Outcome != engine.OutcomeNotFound {
		t.Errorf("unrouted host through tunnel: outcome = %s (%s), want not-found", res.Outcome, res.Detail)
	}
}

func TestProbeAddressOverride(t *testing.T) {
	ts := newTestServer(t)
	p, dialed := newTestProber(t, ts, Options{Addresses: map[string]string{"direct": ts.addr()}})

	if res := probe(t, p, "a.example.test", "direct"); res.Outcome != engine.OutcomeServed {
		t.Fatalf("outcome = %s (%s), want served", res.Outcome, res.Detail)
	}
	if !slices.Equal(*dialed, []string{ts.addr()}) {
		t.Errorf("dialed %v, want the configured address %s", *dialed, ts.addr())
	}
}

func TestProbeUnknownPath(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Probe(context.Background(), "a.example.test", "nope"); err == nil || !strings.Contains(err.Error(), `unknown client path "nope"`) {
		t.Errorf("err = %v, want unknown client path", err)
	}
}

func TestProbeCanceledContext(t *testing.T) {
	ts := newTestServer(t)
	p, _ := newTestProber(t, ts, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := p.Probe(ctx, "a.example.test", "direct"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"unnamed path", Options{Paths: []topology.ClientPath{{Kind: topology.ClientPathDirect}}}, "has no name"},
		{"bad kind", Options{Paths: []topology.ClientPath{{Name: "x", Kind: "vpn"}}}, `invalid kind "vpn"`},
		{"fixed-sni without name", Options{Paths: []topology.ClientPath{{Name: "t", Kind: topology.ClientPathFixedSNI}}}, "has no serverName"},
		{"duplicate path", Options{Paths: []topology.ClientPath{
			{Name: "d", Kind: topology.ClientPathDirect}, {Name: "d", Kind: topology.ClientPathDirect}}}, "duplicate client path"},
		{"address for unknown path", Options{Addresses: map[string]string{"tunnel": "127.0.0.1:1"}}, `unknown client path "tunnel"`},
		{"address without port", Options{Addresses: map[string]string{"direct": "127.0.0.1"}}, "want host:port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestProbeFixedSNIPrivateRoots(t *testing.T) {
	ts := newTestServer(t)
	public := probetest.NewCA(t, "public root", validFrom, validTo)
	paths := []topology.ClientPath{{Name: "tunnel", Kind: topology.ClientPathFixedSNI, ServerName: "tunnel.example.test"}}

	withPrivate, _ := newTestProber(t, ts, Options{Paths: paths, Roots: public.Pool(), PrivateRoots: ts.ca.Pool()})
	if res := probe(t, withPrivate, "a.example.test", "tunnel"); res.Outcome != engine.OutcomeServed {
		t.Errorf("tunnel name signed by the private CA: outcome = %s (%s), want served", res.Outcome, res.Detail)
	}

	publicOnly, _ := newTestProber(t, ts, Options{Paths: paths, Roots: public.Pool()})
	res := probe(t, publicOnly, "a.example.test", "tunnel")
	if res.Outcome != engine.OutcomeHandshakeFailure {
		t.Errorf("tunnel name from an unknown CA: outcome = %s, want handshake-failure", res.Outcome)
	}
	if strings.Contains(res.Detail, "no private CA") {
		t.Errorf("detail = %q, want no private-CA hint on a fixed-SNI path", res.Detail)
	}
}
