package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/certwave/certwave/sim/acme"
	"github.com/certwave/certwave/sim/dns"
)

// DefaultACMEIssuerName is the ClusterIssuer of the reference topology.
const DefaultACMEIssuerName = "letsencrypt-production"

// defaultACMEWorkers is numberOfConcurrentWorkers when ACME is on and
// CertManagerOptions.Workers is zero. Each DNS01 challenge occupies a worker
// of the challenges controller through cert-manager's fixed 60 s sleep after
// its self-check, so the default of 5 workers makes larger batches wait for
// each other.
const defaultACMEWorkers = 20

// cert-manager v1.21.2's defaults of certificateRequestMinimumBackoffDuration
// and certificateRequestMaximumBackoffDuration, which ACMEOptions.TimeScale
// divides.
const (
	certManagerMinimumBackoff = time.Hour
	certManagerMaximumBackoff = 32 * time.Hour
)

// ACMEOptions configures the ACME servers of the stack: BIND, Pebble, the
// rate-limit front and the ClusterIssuer that uses them.
type ACMEOptions struct {
	// Zones are the zones BIND is authoritative for, for example
	// "example.com". DNS01 succeeds only for names in these zones.
	// At least one is required.
	Zones []string
	// IssuerName names the ACME ClusterIssuer. Empty means
	// DefaultACMEIssuerName.
	IssuerName string
	// Profile is the ClusterIssuer's spec.acme.profile: "classic",
	// "tlsserver" or "shortlived". Empty means "classic", the profile Let's
	// Encrypt picks for an order without one.
	Profile string
	// TimeScale divides the front's limit periods, Pebble's certificate
	// lifetimes and cert-manager's backoff after a failed issuance, unless
	// CertManagerOptions sets that backoff. Zero means 1 (real time). It
	// does not shorten cert-manager's fixed 60 s wait after a DNS01
	// self-check.
	TimeScale float64
	// Faults are the front's fault knobs.
	Faults acme.Faults
	// IssuedBeforeStart counts certificates per registered domain as
	// issued before the front started (acme.Options.IssuedBeforeStart).
	IssuedBeforeStart map[string]int
	// PriorIssuances are certificates, by their exact name sets, that the
	// front counts as issued before it started (acme.Options.PriorIssuances
	// and the PriorIssuances function).
	PriorIssuances []acme.PriorIssuance
	// StateFile keeps the front's limiter state and ledger across restarts.
	// Empty means acme-front-state.json in the stack's directory.
	StateFile string
	// PebbleBinary is the Pebble executable. Empty means
	// pebble-v2.10.3/pebble in Options.CacheDir.
	PebbleBinary string
	// NamedPath is BIND's named. Empty means dns.FindNamed.
	NamedPath string
}

// ACMEServers are the ACME servers of a running stack.
type ACMEServers struct {
	// Front is the rate-limit front that cert-manager talks to. Its Ledger
	// method and GET /certwave/ledger return every order and issuance.
	Front *acme.Front
	// Pebble is the ACME server behind the front.
	Pebble *acme.Pebble
	// DNS is the BIND server for DNS01. Its Addr is Pebble's -dnsserver,
	// cert-manager's only recursive nameserver and the RFC2136 solver's
	// nameserver.
	DNS *dns.Server
	// IssuerName is the ACME ClusterIssuer.
	IssuerName string
	// TSIGSecretName is the Secret in the cluster resource namespace that
	// contains the TSIG secret under the key "tsig-secret".
	TSIGSecretName string
}

// ACME returns the ACME servers, or nil when Options.ACME was not set.
func (s *Stack) ACME() *ACMEServers { return s.acme }

// withDefaults fills in defaults and checks the options and programs, so
// Start can fail before it starts anything.
func (o ACMEOptions) withDefaults(cacheDir string) (ACMEOptions, error) {
	if len(o.Zones) == 0 {
		return o, fmt.Errorf("ACMEOptions.Zones is empty: name the zones to issue for, for example example.com")
	}
	if o.IssuerName == "" {
		o.IssuerName = DefaultACMEIssuerName
	}
	if problems := validation.IsDNS1123Subdomain(o.IssuerName); len(problems) > 0 {
		return o, fmt.Errorf("ACMEOptions.IssuerName %q is not a valid ClusterIssuer name: %s", o.IssuerName, strings.Join(problems, "; "))
	}
	if o.Profile == "" {
		o.Profile = acme.ProfileClassic
	}
	profiles := []string{acme.ProfileClassic, acme.ProfileTLSServer, acme.ProfileShortLived}
	if !slices.Contains(profiles, o.Profile) {
		return o, fmt.Errorf("ACMEOptions.Profile %q is unknown: use one of %v", o.Profile, profiles)
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.TimeScale < 1 {
		return o, fmt.Errorf("ACMEOptions.TimeScale %g is invalid: use 1 for real time or a larger factor", o.TimeScale)
	}

	if o.PebbleBinary == "" {
		o.PebbleBinary = filepath.Join(cacheDir, "pebble-"+acme.PebbleVersion, "pebble")
	}
	info, err := os.Stat(o.PebbleBinary)
	if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return o, &MissingBinariesError{Paths: []string{o.PebbleBinary}}
	}
	if o.NamedPath == "" {
		if o.NamedPath, err = dns.FindNamed(); err != nil {
			return o, fmt.Errorf("ACME in the local stack needs BIND: %w", err)
		}
	}
	return o, nil
}

// startACME starts BIND, Pebble and the front, points cm's DNS01 checks at
// BIND and creates the TSIG Secret and the ClusterIssuer. Each server joins
// the stack's teardown as soon as it runs.
func (s *Stack) startACME(ctx context.Context, opts ACMEOptions, cm *CertManagerOptions) error {
	named, err := dns.Start(ctx, dns.Options{
		Zones:        opts.Zones,
		NamedPath:    opts.NamedPath,
		Dir:          filepath.Join(s.dir, "named"),
		StartTimeout: s.opts.StartTimeout,
		StopTimeout:  s.opts.StopTimeout,
		Log:          s.log,
	})
	if err != nil {
		return fmt.Errorf("start BIND for zones %v: %w", opts.Zones, err)
	}
	s.addTeardown("named", func(bool) error { return named.Stop() }, "pid", named.PID(), "log", named.LogPath())

	pebbleDir := filepath.Join(s.dir, "pebble")
	if err := os.MkdirAll(pebbleDir, 0o755); err != nil {
		return fmt.Errorf("create Pebble's directory: %w", err)
	}
	// StartPebble sets PEBBLE_VA_NOSLEEP=1 and PEBBLE_AUTHZREUSE=0, so
	// every order gets a fresh authorization that Pebble validates at once,
	// and it configures profiles that mirror Let's Encrypt's.
	pebble, err := acme.StartPebble(ctx, acme.PebbleOptions{
		Binary:       opts.PebbleBinary,
		Dir:          pebbleDir,
		DNSServer:    named.Addr(),
		TimeScale:    opts.TimeScale,
		StartTimeout: s.opts.StartTimeout,
		Log:          s.log,
	})
	if err != nil {
		return fmt.Errorf("start Pebble: %w", err)
	}
	s.addTeardown("pebble", func(bool) error { return pebble.Stop() }, "url", pebble.URL, "log", pebble.LogFile)

	stateFile := opts.StateFile
	if stateFile == "" {
		stateFile = filepath.Join(s.dir, "acme-front-state.json")
	}
	front, err := acme.New(acme.Options{
		PebbleURL:         pebble.URL,
		PebbleRoots:       pebble.Roots,
		StateFile:         stateFile,
		TimeScale:         opts.TimeScale,
		IssuedBeforeStart: opts.IssuedBeforeStart,
		PriorIssuances:    opts.PriorIssuances,
		Faults:            opts.Faults,
		Log:               s.log.With("server", "acme-front"),
	})
	if err != nil {
		return err
	}
	if err := front.Start(); err != nil {
		return err
	}
	s.addTeardown("acme-front", func(bool) error { return front.Close() }, "url", front.URL())

	configureCertManagerForACME(cm, named.Addr(), opts.TimeScale)
	servers := &ACMEServers{
		Front:          front,
		Pebble:         pebble,
		DNS:            named,
		IssuerName:     opts.IssuerName,
		TSIGSecretName: opts.IssuerName + "-tsig",
	}
	if err := s.createACMEIssuer(ctx, servers, opts.Profile); err != nil {
		return err
	}
	s.acme = servers
	s.log.Info("ACME servers ready", "dns", named.Addr(), "zones", named.Zones(), "pebble", pebble.URL,
		"directory", front.DirectoryURL(), "issuer", opts.IssuerName, "profile", opts.Profile, "timeScale", opts.TimeScale)
	return nil
}

// configureCertManagerForACME sends every DNS01 self-check to nameserver
// only, so cert-manager never queries public DNS, raises the worker count
// and scales the backoff after a failed issuance. Backoffs that the caller
// set are kept.
func configureCertManagerForACME(cm *CertManagerOptions, nameserver string, timeScale float64) {
	cm.DNS01RecursiveNameservers = []string{nameserver}
	cm.DNS01RecursiveNameserversOnly = true
	if cm.Workers == 0 {
		cm.Workers = defaultACMEWorkers
	}
	if timeScale <= 1 {
		return
	}
	if cm.MinimumBackoff == 0 {
		cm.MinimumBackoff = scaleDuration(certManagerMinimumBackoff, timeScale)
	}
	if cm.MaximumBackoff == 0 {
		cm.MaximumBackoff = scaleDuration(certManagerMaximumBackoff, timeScale)
	}
}

// scaleDuration divides d by timeScale, rounded to the millisecond and at
// least one millisecond, because controllerConfiguration leaves a zero
// backoff at cert-manager's default.
func scaleDuration(d time.Duration, timeScale float64) time.Duration {
	scaled := time.Duration(float64(d) / timeScale).Round(time.Millisecond)
	return max(scaled, time.Millisecond)
}
