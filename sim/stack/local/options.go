package local

import (
	"context"
	"log/slog"
	"time"
)

// Options configures Start. The zero value starts the whole stack from the
// default cache in a temporary directory.
type Options struct {
	// CacheDir is the component cache. Empty means DefaultCacheDir().
	CacheDir string
	// Binaries overrides single binaries; empty paths come from CacheDir.
	Binaries Binaries
	// Dir receives data, keys, configuration and one log per server. Empty
	// makes a temporary directory that Stop removes unless Keep is set.
	Dir string
	// Keep leaves the servers and the directory in place when Stop runs or
	// Start fails, and logs their PIDs, for inspection.
	// NOTE: Keep does not keep the ACME servers past this process. The
	// front runs in it, and on Linux BIND and Pebble get SIGKILL when it
	// exits.
	Keep bool
	// StartTimeout bounds the wait for each server and for the CRDs. Zero
	// means 2 minutes.
	StartTimeout time.Duration
	// StopTimeout is how long a server gets after SIGTERM before SIGKILL.
	// Zero means 15 seconds, as in hack/smoke-components.sh.
	StopTimeout time.Duration
	// ClusterResourceNamespace is created at start and holds the Secrets
	// of ClusterIssuers. Empty means "cert-manager".
	ClusterResourceNamespace string
	// CertManager configures the controller.
	CertManager CertManagerOptions
	// ACME, when set, adds BIND, Pebble and the rate-limit front and an
	// ACME ClusterIssuer that solves DNS01 through BIND. It overrides the
	// DNS01 nameserver options of CertManager. Nil starts none of them.
	ACME *ACMEOptions
	// BeforeCertManager runs after the CRDs are installed and before the
	// controller starts. A hook can start more processes with
	// Stack.StartProcess and change the controller's options, for example
	// to point DNS01 self-checks at a DNS server it started.
	BeforeCertManager func(ctx context.Context, s *Stack, cm *CertManagerOptions) error
	// Log receives start, stop and failure messages. Nil discards them.
	Log *slog.Logger
}

// CertManagerOptions are the controller settings a rehearsal changes. Each
// field maps to a field of cert-manager's ControllerConfiguration.
type CertManagerOptions struct {
	// DisableGatewayAPI turns the gateway-shim off (gatewayAPI.enabled:
	// false). With it off, cert-manager ignores Gateway annotations.
	DisableGatewayAPI bool
	// Workers per controller (numberOfConcurrentWorkers). Zero keeps
	// cert-manager's default of 5.
	Workers int
	// MinimumBackoff and MaximumBackoff bound the wait after a failed
	// issuance (certificateRequestMinimumBackoffDuration and
	// ...MaximumBackoffDuration). Zero keeps cert-manager's 1h and 32h.
	MinimumBackoff, MaximumBackoff time.Duration
	// DNS01RecursiveNameservers are host:port servers for DNS01
	// self-checks (acmeDNS01Config.recursiveNameservers). Empty makes
	// cert-manager use /etc/resolv.conf, so set it before any DNS01
	// issuance to keep the checks on this machine.
	DNS01RecursiveNameservers []string
	// DNS01RecursiveNameserversOnly skips the authoritative nameservers in
	// DNS01 self-checks (acmeDNS01Config.recursiveNameserversOnly).
	DNS01RecursiveNameserversOnly bool
	// DNS01CheckRetryPeriod is the wait between DNS01 self-checks
	// (acmeDNS01Config.checkRetryPeriod). Zero keeps the default of 10s.
	DNS01CheckRetryPeriod time.Duration
	// ExtraArgs are appended to the controller's command line.
	ExtraArgs []string
}

func (o Options) withDefaults() Options {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	o.Binaries = o.Binaries.withDefaults(o.CacheDir)
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 15 * time.Second
	}
	if o.ClusterResourceNamespace == "" {
		o.ClusterResourceNamespace = "cert-manager"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}
