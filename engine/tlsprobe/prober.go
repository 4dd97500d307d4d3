// Package tlsprobe probes real endpoints over the network the way a client
// path's clients reach them: a TLS handshake with the SNI that path sends,
// then an HTTP/1.1 GET / with the Host header of the requested host. The
// handshake accepts any certificate so the result can describe what was
// served; the prober verifies the chain, the name and the validity itself
// afterwards.
package tlsprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// DefaultTimeout bounds one probe (dial, handshake and request) when
// Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// DefaultPathName is the name of the direct client path the prober uses
// when Options.Paths is empty, as the model world does.
const DefaultPathName = "direct"

// Options configure a Prober.
type Options struct {
	// Paths are the client paths the prober can probe through. Empty means
	// one direct path named "direct".
	Paths []topology.ClientPath
	// Addresses maps a client path name to the host:port to dial, such as
	// the Gateway's LoadBalancer address or a tunnel's origin. A path
	// without an entry dials port 443 of the name it sends as SNI: the
	// host on a direct path, ServerName on a fixed-SNI path.
	Addresses map[string]string
	// Roots verify the certificates of public hosts. Nil means the system
	// roots.
	Roots *x509.CertPool
	// PrivateRoots verify the certificates of private hosts (those issued
	// by the private CA). Nil means Roots.
	PrivateRoots *x509.CertPool
	// PrivateHosts are the hostnames Probe verifies against PrivateRoots.
	// ProbeExpect takes the choice per call instead.
	PrivateHosts map[string]bool
	// Timeout bounds one probe. Zero means DefaultTimeout.
	Timeout time.Duration
	// Dialer opens the TCP connection. Nil means a net.Dialer.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock for validity checks. Nil means time.Now.
	Now func() time.Time
}

// Expectation is the caller's knowledge of a host that decides how its
// certificate is verified.
type Expectation struct {
	// Private is true when the host's certificate comes from the private
	// CA, so the chain must lead to Options.PrivateRoots.
	Private bool
}

// Prober probes hosts over real TLS connections. It is safe for
// concurrent use because New copies the options and nothing changes them
// afterwards.
type Prober struct {
	paths        map[string]topology.ClientPath
	names        []string
	addresses    map[string]string
	roots        *x509.CertPool
	privateRoots *x509.CertPool
	privateHosts map[string]bool
	timeout      time.Duration
	dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	now          func() time.Time
}

var _ engine.Prober = (*Prober)(nil)

// New validates opts and returns a Prober. It rejects duplicate or unnamed
// paths, unknown path kinds, fixed-SNI paths without ServerName, and
// addresses that name an unknown path or are not host:port.
func New(opts Options) (*Prober, error) {
	paths := opts.Paths
	if len(paths) == 0 {
		paths = []topology.ClientPath{{Name: DefaultPathName, Kind: topology.ClientPathDirect}}
	}

	p := &Prober{
		paths:        map[string]topology.ClientPath{},
		addresses:    map[string]string{},
		roots:        opts.Roots,
		privateRoots: opts.PrivateRoots,
		privateHosts: map[string]bool{},
		timeout:      opts.Timeout,
		dial:         opts.Dialer,
		now:          opts.Now,
	}
	for _, path := range paths {
		if err := checkPath(path); err != nil {
			return nil, err
		}
		if _, dup := p.paths[path.Name]; dup {
			return nil, fmt.Errorf("tlsprobe: duplicate client path %q", path.Name)
		}
		p.paths[path.Name] = path
		p.names = append(p.names, path.Name)
	}
	sort.Strings(p.names)

	for name, addr := range opts.Addresses {
		if _, ok := p.paths[name]; !ok {
			return nil, fmt.Errorf("tlsprobe: address %s is for unknown client path %q: use one of %v", addr, name, p.names)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("tlsprobe: invalid address %q for client path %s: want host:port: %w", addr, name, err)
		}
		p.addresses[name] = addr
	}
	for host, private := range opts.PrivateHosts {
		p.privateHosts[host] = private
	}

	if p.privateRoots == nil {
		p.privateRoots = p.roots
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.dial == nil {
		var d net.Dialer
		p.dial = d.DialContext
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

func checkPath(path topology.ClientPath) error {
	if path.Name == "" {
		return errors.New("tlsprobe: a client path has no name")
	}
	switch path.Kind {
	case topology.ClientPathDirect:
		return nil
	case topology.ClientPathFixedSNI:
		if path.ServerName == "" {
			return fmt.Errorf("tlsprobe: fixed-sni client path %s has no serverName", path.Name)
		}
		return nil
	}
	return fmt.Errorf("tlsprobe: client path %s has invalid kind %q: use %s or %s",
		path.Name, path.Kind, topology.ClientPathDirect, topology.ClientPathFixedSNI)
}

// ClientPaths returns the names of the client paths, sorted.
func (p *Prober) ClientPaths() []string {
	return append([]string(nil), p.names...)
}

// Probe probes host through the named client path, verifying the served
// certificate against PrivateRoots when Options.PrivateHosts lists host and
// against Roots otherwise.
func (p *Prober) Probe(ctx context.Context, host, clientPath string) (engine.ProbeResult, error) {
	return p.ProbeExpect(ctx, host, clientPath, Expectation{Private: p.privateHosts[host]})
}

// ProbeExpect probes host through the named client path. Network, TLS and
// HTTP failures are outcomes of the result. The error is set only for an
// unknown client path or when ctx ends before the probe does.
func (p *Prober) ProbeExpect(ctx context.Context, host, clientPath string, expect Expectation) (engine.ProbeResult, error) {
	path, ok := p.paths[clientPath]
	if !ok {
		return engine.ProbeResult{}, fmt.Errorf("tlsprobe: unknown client path %q: use one of %v", clientPath, p.names)
	}
	res := engine.ProbeResult{Host: host, ClientPath: clientPath}

	serverName := host
	if path.Kind == topology.ClientPathFixedSNI {
		serverName = path.ServerName
	}
	addr := p.addresses[clientPath]
	if addr == "" {
		addr = net.JoinHostPort(serverName, "443")
	}

	// When parent ends, the caller gave up and the probe returns an error.
	// When only the probe's own timeout ends, that is an outcome.
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()

	raw, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		if parent.Err() != nil {
			return res, parent.Err()
		}
		res.Outcome = engine.OutcomeRefused
		res.Detail = err.Error()
		if !strings.Contains(res.Detail, addr) {
			res.Detail = fmt.Sprintf("dial %s: %s", addr, res.Detail)
		}
		return res, nil
	}
	defer raw.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}

	conn := tls.Client(raw, &tls.Config{
		ServerName: serverName,
		// The handshake accepts any certificate so the result can report
		// what was served; verifyLeaf checks it right after.
		InsecureSkipVerify: true,
		NextProtos:         []string{"http/1.1"},
	})
	if err := conn.HandshakeContext(ctx); err != nil {
		if parent.Err() != nil {
			return res, parent.Err()
		}
		res.Outcome = engine.OutcomeHandshakeFailure
		res.Detail = fmt.Sprintf("TLS handshake with %s (SNI %s): %v", addr, serverName, err)
		return res, nil
	}

	state := conn.ConnectionState()
	if len(state.PeerCertificates) == 0 {
		res.Outcome = engine.OutcomeHandshakeFailure
		res.Detail = fmt.Sprintf("%s (SNI %s) sent no certificate", addr, serverName)
		return res, nil
	}
	leaf := state.PeerCertificates[0]
	describeLeaf(&res, leaf)

	if problem := p.verify(state.PeerCertificates, path, serverName, expect); problem != "" {
		// A verifying client aborts here, so no request is sent.
		res.Outcome = engine.OutcomeHandshakeFailure
		res.Detail = problem
		if expect.Private && path.Kind == topology.ClientPathDirect && p.privateRoots == p.roots {
			res.Detail += " (no private CA was given, so the public roots were used)"
		}
		return res, nil
	}

	status, err := getRoot(conn, host)
	if err != nil {
		if parent.Err() != nil {
			return res, parent.Err()
		}
		// NOTE: a connection that breaks after a good handshake is reported
		// as refused, because no engine outcome matches it better.
		res.Outcome = engine.OutcomeRefused
		res.Detail = fmt.Sprintf("GET / with Host %s after the handshake: %v", host, err)
		return res, nil
	}
	if status == 404 {
		res.Outcome = engine.OutcomeNotFound
		res.Detail = fmt.Sprintf("GET / with Host %s returned HTTP 404", host)
		return res, nil
	}
	res.Outcome = engine.OutcomeServed
	return res, nil
}

// verify checks the served chain against the roots for the host: the
// private roots for a private host on a direct path, the public roots
// otherwise. A fixed-SNI path serves the certificate of its ServerName,
// whose issuer the host's cohort does not decide, so a chain to either set
// of roots passes there.
func (p *Prober) verify(chain []*x509.Certificate, path topology.ClientPath, serverName string, expect Expectation) string {
	now := p.now()
	if path.Kind == topology.ClientPathFixedSNI {
		problem := verifyLeaf(chain, serverName, p.roots, now)
		if problem != "" && p.privateRoots != p.roots && verifyLeaf(chain, serverName, p.privateRoots, now) == "" {
			return ""
		}
		return problem
	}
	roots := p.roots
	if expect.Private {
		roots = p.privateRoots
	}
	return verifyLeaf(chain, serverName, roots, now)
}

// describeLeaf copies the public facts of the served certificate into res.
func describeLeaf(res *engine.ProbeResult, leaf *x509.Certificate) {
	res.SANs = append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		res.SANs = append(res.SANs, ip.String())
	}
	res.Issuer = leaf.Issuer.CommonName
	if res.Issuer == "" {
		res.Issuer = leaf.Issuer.String()
	}
	res.NotBefore = leaf.NotBefore
	res.NotAfter = leaf.NotAfter
}
