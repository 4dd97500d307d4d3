package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// PebbleVersion is the Pebble release certwave builds and tests against.
const PebbleVersion = "v2.10.3"

// DefaultPebbleBinary returns where `make components` caches Pebble:
// $CERTWAVE_CACHE/components/pebble-v2.10.3/pebble, with CERTWAVE_CACHE
// defaulting to ~/.cache/certwave.
func DefaultPebbleBinary() string {
	cache := os.Getenv("CERTWAVE_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache", "certwave")
	}
	return filepath.Join(cache, "components", "pebble-"+PebbleVersion, "pebble")
}

// PebbleOptions configures StartPebble.
type PebbleOptions struct {
	// Binary is the Pebble executable. Empty means DefaultPebbleBinary.
	Binary string
	// Dir receives the configuration, the TLS key pair and pebble.log. It
	// must exist. Empty makes a temporary directory that Stop removes.
	Dir string
	// ListenAddress and ManagementAddress default to free ports on
	// 127.0.0.1.
	ListenAddress     string
	ManagementAddress string
	// DNSServer is passed as -dnsserver (host:port), the resolver Pebble's
	// validation authority uses for DNS-01. Empty uses the system resolver.
	DNSServer string
	// TimeScale divides the lifetimes of the default profiles.
	TimeScale float64
	// Profiles replaces LetsEncryptProfiles(time.Now(), TimeScale).
	Profiles map[string]PebbleProfile
	// AlwaysValid sets PEBBLE_VA_ALWAYS_VALID=1: every challenge succeeds
	// without any DNS or HTTP lookup.
	AlwaysValid bool
	// HTTPPort and TLSPort are the ports Pebble dials for HTTP-01 and
	// TLS-ALPN-01 challenges. Zero means 5002 and 5001, as in Pebble's test
	// configuration.
	HTTPPort, TLSPort int
	// Env holds extra KEY=VALUE variables; they override the defaults
	// PEBBLE_VA_NOSLEEP=1 (validate at once), PEBBLE_AUTHZREUSE=0 (validate
	// every authorization anew) and PEBBLE_WFE_NONCEREJECT=0 (Let's Encrypt
	// does not reject valid nonces at random, and Pebble rejects 5% by
	// default).
	Env []string
	// StartTimeout bounds the wait for the directory to respond. Zero means
	// 30 seconds.
	StartTimeout time.Duration
	// Log receives start and stop messages. Nil discards them.
	Log *slog.Logger
}

// Pebble is a running Pebble process.
type Pebble struct {
	// URL is the ACME base URL, for example https://127.0.0.1:14000, and
	// DirectoryURL the directory under it.
	URL          string
	DirectoryURL string
	// ManagementURL serves the issuing root at /roots/0, and the
	// intermediate and its key at /intermediates/0 and /intermediate-keys/0.
	ManagementURL string
	// Serving is the self-signed TLS certificate Pebble serves; Roots
	// trusts it.
	Serving ServingCertificate
	Roots   *x509.CertPool
	Dir     string
	LogFile string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	tempDir bool
	log     *slog.Logger
}

// pebbleConfig is Pebble's configuration file (cmd/pebble/main.go).
type pebbleConfig struct {
	Pebble struct {
		ListenAddress           string                   `json:"listenAddress"`
		ManagementListenAddress string                   `json:"managementListenAddress"`
		Certificate             string                   `json:"certificate"`
		PrivateKey              string                   `json:"privateKey"`
		HTTPPort                int                      `json:"httpPort"`
		TLSPort                 int                      `json:"tlsPort"`
		Profiles                map[string]PebbleProfile `json:"profiles"`
	} `json:"pebble"`
}

// StartPebble writes a configuration and a serving certificate, starts
// Pebble and waits until its directory responds. Call Stop to end it.
func StartPebble(ctx context.Context, opts PebbleOptions) (*Pebble, error) {
	if opts.Binary == "" {
		opts.Binary = DefaultPebbleBinary()
	}
	if _, err := os.Stat(opts.Binary); err != nil {
		return nil, fmt.Errorf("pebble binary %s not found (%v): run `make components` to build it", opts.Binary, err)
	}

	p := &Pebble{log: opts.Log}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if p.Dir, p.tempDir, err = pebbleDir(opts.Dir); err != nil {
		return nil, err
	}
	if err := p.writeFiles(&opts); err != nil {
		p.cleanup()
		return nil, err
	}
	if err := p.start(opts); err != nil {
		p.cleanup()
		return nil, err
	}

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if err := p.waitReady(ctx, timeout); err != nil {
		stopErr := p.Stop()
		return nil, errors.Join(err, stopErr)
	}
	p.log.Info("pebble started", "url", p.URL, "pid", p.cmd.Process.Pid, "dnsServer", opts.DNSServer,
		"alwaysValid", opts.AlwaysValid, "log", p.LogFile)
	return p, nil
}

func pebbleDir(dir string) (string, bool, error) {
	if dir != "" {
		return dir, false, nil
	}
	tmp, err := os.MkdirTemp("", "certwave-pebble-")
	if err != nil {
		return "", false, fmt.Errorf("creating Pebble's directory: %w", err)
	}
	return tmp, true, nil
}

// writeFiles writes the serving key pair and the configuration file.
func (p *Pebble) writeFiles(opts *PebbleOptions) error {
	var err error
	if opts.ListenAddress == "" {
		if opts.ListenAddress, err = freeLoopbackAddress(); err != nil {
			return err
		}
	}
	if opts.ManagementAddress == "" {
		if opts.ManagementAddress, err = freeLoopbackAddress(); err != nil {
			return err
		}
	}
	if p.Serving, err = NewServingCertificate(); err != nil {
		return fmt.Errorf("pebble serving certificate: %w", err)
	}
	if p.Roots, err = p.Serving.CertPool(); err != nil {
		return err
	}

	var cfg pebbleConfig
	c := &cfg.Pebble
	c.ListenAddress = opts.ListenAddress
	c.ManagementListenAddress = opts.ManagementAddress
	c.Certificate = filepath.Join(p.Dir, "pebble.crt")
	c.PrivateKey = filepath.Join(p.Dir, "pebble.key")
	c.HTTPPort, c.TLSPort = orDefault(opts.HTTPPort, 5002), orDefault(opts.TLSPort, 5001)
	c.Profiles = opts.Profiles
	if c.Profiles == nil {
		c.Profiles = LetsEncryptProfiles(time.Now(), opts.TimeScale)
	}

	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding Pebble's configuration: %w", err)
	}
	files := map[string][]byte{c.Certificate: p.Serving.CertificatePEM, c.PrivateKey: p.Serving.PrivateKeyPEM,
		filepath.Join(p.Dir, "pebble.json"): data}
	for name, content := range files {
		if err := os.WriteFile(name, content, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	p.URL = "https://" + opts.ListenAddress
	p.DirectoryURL = p.URL + pebbleDirectoryPath
	p.ManagementURL = "https://" + opts.ManagementAddress
	return nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// start launches the process with its output in pebble.log.
func (p *Pebble) start(opts PebbleOptions) error {
	args := []string{"-config", filepath.Join(p.Dir, "pebble.json")}
	if opts.DNSServer != "" {
		args = append(args, "-dnsserver", opts.DNSServer)
	}
	p.LogFile = filepath.Join(p.Dir, "pebble.log")
	logFile, err := os.Create(p.LogFile)
	if err != nil {
		return fmt.Errorf("creating Pebble's log: %w", err)
	}
	cmd := exec.Command(opts.Binary, args...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0", "PEBBLE_WFE_NONCEREJECT=0")
	if opts.AlwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	// Later entries win in os/exec, so opts.Env overrides the defaults.
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = pebbleProcessAttributes()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", opts.Binary, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return nil
}

// waitReady polls the directory until it returns 200.
func (p *Pebble) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}},
		Timeout:   5 * time.Second,
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.DirectoryURL, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("pebble exited before its directory responded (%v): see %s", p.waitErr, p.LogFile)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pebble directory %s not ready after %s: see %s", p.DirectoryURL, timeout, p.LogFile)
		}
	}
}

// Stop ends the process with SIGTERM, then SIGKILL after ten seconds, and
// removes a temporary directory. It keeps a directory given in Dir.
func (p *Pebble) Stop() error {
	var err error
	if p.cmd != nil && p.cmd.Process != nil {
		select {
		case <-p.exited:
		default:
			if signalErr := p.cmd.Process.Signal(syscall.SIGTERM); signalErr != nil && !errors.Is(signalErr, os.ErrProcessDone) {
				err = fmt.Errorf("stopping pebble (pid %d): %w", p.cmd.Process.Pid, signalErr)
			}
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				p.log.Warn("pebble still running 10s after SIGTERM, sending SIGKILL", "pid", p.cmd.Process.Pid)
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		p.log.Info("pebble stopped", "pid", p.cmd.Process.Pid)
	}
	p.cleanup()
	return err
}

func (p *Pebble) cleanup() {
	if p.tempDir {
		_ = os.RemoveAll(p.Dir)
	}
}

// IssuerRootPEM fetches the root that signs Pebble's certificate chains
// from the management interface. Pebble makes a new root at every start.
func (p *Pebble) IssuerRootPEM(ctx context.Context) ([]byte, error) {
	return p.managementGet(ctx, "/roots/0", "root")
}

// IssuerIntermediate fetches the intermediate certificate that signs
// Pebble's leaf certificates, and its private key, both PEM-encoded. With
// them a test can sign a certificate that chains to IssuerRootPEM as if
// Pebble had issued it, without an ACME order.
func (p *Pebble) IssuerIntermediate(ctx context.Context) (certPEM, keyPEM []byte, err error) {
	if certPEM, err = p.managementGet(ctx, "/intermediates/0", "intermediate"); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = p.managementGet(ctx, "/intermediate-keys/0", "intermediate's key"); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// managementGet fetches a path of the management interface. resource names
// what the path serves in errors.
func (p *Pebble) managementGet(ctx context.Context, path, resource string) ([]byte, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ManagementURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching Pebble's %s: %w", resource, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching Pebble's %s: HTTP %d from %s", resource, resp.StatusCode, req.URL)
	}
	return io.ReadAll(resp.Body)
}

// freeLoopbackAddress returns 127.0.0.1:<port> with a port nothing listens
// on now. Another process may take it before Pebble binds it; Pebble then
// exits and StartPebble reports it.
func freeLoopbackAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}
