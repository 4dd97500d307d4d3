package acme

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// maxRequestBody bounds the request bodies the front reads. ACME requests
// are small JWS documents; a finalize request with a CSR is a few KiB.
const maxRequestBody = 1 << 20

// Front is the rate-limiting reverse proxy in front of Pebble. Create it with
// New, then either call Start to listen on Options.ListenAddress or mount it
// as an http.Handler behind a TLS listener of your own.
type Front struct {
	opts     Options
	log      *slog.Logger
	clock    *modelClock
	upstream *url.URL
	client   *http.Client
	tlsCert  tls.Certificate
	certPEM  []byte

	faultMu sync.Mutex
	rng     *rand.Rand

	// mu guards the limiter and every record below. newOrder requests hold
	// it while Pebble creates the order, so a refund can restore the limiter
	// snapshot taken before the check.
	mu         sync.Mutex
	model      ratelimit.Model
	orders     map[string]*orderRecord
	authzs     map[string]*authzRecord
	challenges map[string]string // challenge ID to authorization ID
	ledger     []Entry
	seq        int

	server   *http.Server
	listener net.Listener
	served   chan error
	closed   bool
}

// New creates a front with the state of Options.StateFile, if that file
// exists. It does not listen yet.
func New(opts Options) (*Front, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &Front{
		opts:       opts,
		log:        opts.Log,
		rng:        rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		orders:     map[string]*orderRecord{},
		authzs:     map[string]*authzRecord{},
		challenges: map[string]string{},
	}
	f.upstream, _ = url.Parse(opts.PebbleURL)
	f.client = &http.Client{
		Transport: &http.Transport{
			// No Proxy: the front connects to Pebble directly and ignores
			// HTTPS_PROXY.
			TLSClientConfig:     &tls.Config{RootCAs: opts.PebbleRoots, MinVersion: tls.VersionTLS12},
			DisableCompression:  true,
			MaxIdleConnsPerHost: 16,
		},
		// Pebble's handlers time out after one minute (wfe.HandleFunc).
		Timeout: 70 * time.Second,
	}
	if err := f.setServingCertificate(); err != nil {
		return nil, err
	}

	opts.logStart(f.log)

	saved, err := loadState(opts.StateFile)
	if err != nil {
		return nil, err
	}
	var savedClock *clockState
	if saved != nil {
		savedClock = &saved.Clock
	}
	f.clock, err = newModelClock(opts.Now, opts.TimeScale, savedClock)
	if err != nil {
		return nil, err
	}
	if saved == nil {
		if f.model, err = newModel(opts.SlidingWindow); err != nil {
			return nil, err
		}
		f.recordIssuedBeforeStart()
		return f, nil
	}
	if f.model, err = restoreModel(opts.StateFile, saved.Limits, opts.SlidingWindow); err != nil {
		return nil, err
	}
	maps.Copy(f.orders, saved.Orders)
	maps.Copy(f.authzs, saved.Authorizations)
	for _, a := range f.authzs {
		f.indexChallenges(a)
	}
	f.ledger = saved.Ledger
	f.seq = saved.Seq
	f.log.Info("acme front state loaded", "stateFile", opts.StateFile, "ledgerEntries", len(f.ledger),
		"orders", len(f.orders), "modelTime", f.clock.Now())
	return f, nil
}

// setServingCertificate uses Options.Certificate or makes a self-signed one.
func (f *Front) setServingCertificate() error {
	if f.opts.Certificate != nil {
		f.tlsCert = *f.opts.Certificate
		if len(f.tlsCert.Certificate) > 0 {
			f.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.tlsCert.Certificate[0]})
		}
		return nil
	}
	serving, err := NewServingCertificate()
	if err != nil {
		return fmt.Errorf("acme front: %w", err)
	}
	if f.tlsCert, err = serving.TLSCertificate(); err != nil {
		return fmt.Errorf("acme front: loading the serving certificate: %w", err)
	}
	f.certPEM = serving.CertificatePEM
	return nil
}

// recordIssuedBeforeStart spends the tokens of Options.PriorIssuances at
// their times, oldest first because the limiter's times must not go
// backwards. Then it spends those of Options.IssuedBeforeStart, each
// certificate under a name set of its own so that the duplicate
// certificate limit does not interfere.
func (f *Front) recordIssuedBeforeStart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	prior := slices.SortedStableFunc(slices.Values(f.opts.PriorIssuances), func(a, b PriorIssuance) int { return cmp.Compare(b.Age, a.Age) })
	for _, p := range prior {
		at := now.Add(-p.Age)
		renewal := f.model.IsRenewal(at, p.Names)
		f.model.RecordIssuance(at, ratelimit.Order{Account: "certwave-issued-before-start", Names: p.Names})
		f.record(Entry{
			Event:   EventIssuedBeforeStart,
			Names:   p.Names,
			Renewal: renewal,
			Spent:   issuanceCharges(p.Names, renewal),
			Detail:  fmt.Sprintf("certificate counted as issued %s before start", p.Age),
		})
	}
	for _, domain := range slices.Sorted(maps.Keys(f.opts.IssuedBeforeStart)) {
		n := f.opts.IssuedBeforeStart[domain]
		for i := range n {
			name := fmt.Sprintf("certwave-issued-before-start-%d.%s", i, domain)
			f.model.RecordIssuance(now, ratelimit.Order{Account: "certwave-issued-before-start", Names: []string{name}})
		}
		f.record(Entry{
			Event:  EventIssuedBeforeStart,
			Names:  []string{domain},
			Spent:  []Charge{{Limit: ratelimit.CertificatesPerDomain, Key: domain}},
			Detail: fmt.Sprintf("%d certificates counted as issued for %s before start", n, domain),
		})
	}
	f.saveOrLog()
}

// Start listens on Options.ListenAddress with TLS and serves until Close.
func (f *Front) Start() error {
	if f.listener != nil {
		return errors.New("acme front: Start called twice: create a new Front to listen again")
	}
	ln, err := net.Listen("tcp", f.opts.ListenAddress)
	if err != nil {
		return fmt.Errorf("acme front: listening on %s: %w", f.opts.ListenAddress, err)
	}
	f.listener = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{f.tlsCert}, MinVersion: tls.VersionTLS12})
	f.server = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	f.served = make(chan error, 1)
	go func() { f.served <- f.server.Serve(f.listener) }()
	f.log.Info("acme front listening", "url", f.URL())
	return nil
}

// URL returns the front's base URL, for example https://127.0.0.1:40123. It
// is empty before Start.
func (f *Front) URL() string {
	if f.listener == nil {
		return ""
	}
	return "https://" + f.listener.Addr().String()
}

// DirectoryURL returns the ACME directory URL clients start from.
func (f *Front) DirectoryURL() string {
	return f.URL() + pebbleDirectoryPath
}

// CertificatePEM returns the front's TLS serving certificate, for clients
// to trust (cert-manager's spec.acme.caBundle).
func (f *Front) CertificatePEM() []byte {
	return slices.Clone(f.certPEM)
}

// Remaining reports how many requests the bucket of limit for key allows
// now, without spending. Keys are as in ratelimit.Decision.Key.
func (f *Front) Remaining(limit ratelimit.Name, key string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.model.Remaining(f.clock.Now(), limit, key)
}

// Close stops the listener, waits up to ten seconds for requests in flight
// and saves the state file. A second call only saves again.
func (f *Front) Close() error {
	var errs []error
	if f.server != nil && !f.closed {
		f.closed = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("acme front: shutting down: %w", err))
		}
		if err := <-f.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("acme front: serving: %w", err))
		}
	}
	f.mu.Lock()
	if err := f.save(); err != nil {
		errs = append(errs, err)
	}
	f.mu.Unlock()
	f.log.Info("acme front stopped", "url", f.URL())
	return errors.Join(errs...)
}

// ServeHTTP routes a request: the ledger, an injected server error, the
// endpoints the front reads, or a plain forward to Pebble.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == LedgerPath {
		f.serveLedger(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		f.log.Warn("reading request body failed", "path", r.URL.Path, "error", err)
		http.Error(w, "reading the request body failed", http.StatusBadRequest)
		return
	}
	if len(body) > maxRequestBody {
		http.Error(w, fmt.Sprintf("request body exceeds %d bytes", maxRequestBody), http.StatusRequestEntityTooLarge)
		return
	}
	endpoint := endpointOf(r.URL.Path)
	if rule, ok := f.serverErrorFor(endpoint, nil, false); ok {
		f.respondServerError(w, r, endpoint, nil, rule.Status)
		return
	}
	if r.Method == http.MethodPost {
		switch endpoint {
		case EndpointNewOrder:
			f.handleNewOrder(w, r, body)
			return
		case EndpointFinalize:
			f.handleFinalize(w, r, body)
			return
		case EndpointOrder:
			f.handleOrder(w, r, body)
			return
		case EndpointAuthorization:
			f.handleAuthorization(w, r, body)
			return
		case EndpointChallenge:
			f.handleChallenge(w, r, body)
			return
		}
	}
	f.relay(w, r, body)
}
