package local_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/sim/acme"
	"github.com/certwave/certwave/sim/dns"
	"github.com/certwave/certwave/sim/stack/local"
	"github.com/certwave/certwave/topology"
)

// acmeIssuanceTimeout bounds the wait for DNS01 issuances. One takes about
// 61 s with the real controller, 60 s of it cert-manager's fixed sleep after
// the DNS01 self-check, and issuances started together overlap. The margin
// covers a 2-core machine busy with other builds.
const acmeIssuanceTimeout = 4 * time.Minute

// lockedBuffer collects the stack's log for checks after the fact.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startACMEStack starts the local stack with ACME for example.com, or skips
// the test when a binary or named is missing. The returned buffer contains
// the stack's log.
func startACMEStack(t *testing.T) (*local.Stack, client.Client, *lockedBuffer) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the local stack with BIND and Pebble and waits for DNS01 issuances; skipped with -short")
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(testLogWriter{t}, logs), nil))
	keep := os.Getenv("CERTWAVE_LOCAL_KEEP") == "1"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stack, err := local.Start(ctx, local.Options{
		Log:  logger,
		Keep: keep,
		ACME: &local.ACMEOptions{Zones: []string{"example.com"}},
	})
	skipWithoutPrograms(t, err)
	if err != nil {
		t.Fatalf("start the local stack with ACME: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the stack's servers: %s", stack.Dir())
		}
		if err := stack.Stop(); err != nil {
			t.Errorf("stop the local stack: %v", err)
		}
	})

	c, err := client.New(stack.RESTConfig(), client.Options{Scheme: topology.Scheme()})
	if err != nil {
		t.Fatalf("create a client for %s: %v", stack.RESTConfig().Host, err)
	}
	return stack, c, logs
}

// skipWithoutPrograms skips the test when err from local.Start reports a
// binary or named as missing. CERTWAVE_LOCAL_REQUIRED=1 turns that into a
// failure.
func skipWithoutPrograms(t *testing.T, err error) {
	t.Helper()
	var missing *local.MissingBinariesError
	if !errors.As(err, &missing) && !errors.Is(err, dns.ErrNamedNotFound) {
		return
	}
	if os.Getenv("CERTWAVE_LOCAL_REQUIRED") == "1" {
		t.Fatalf("local stack with ACME not available: %v", err)
	}
	t.Skipf("local stack with ACME not available: %v", err)
}

func TestStackWithACMEStopsServersOnFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack with BIND and Pebble; skipped with -short")
	}
	// The controller exits at once, after BIND, Pebble and the front
	// started, so Start must stop all of them.
	failingController := filepath.Join(t.TempDir(), "cert-manager-controller")
	if err := os.WriteFile(failingController, []byte("#!/bin/sh\necho 'invalid configuration' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	_, err := local.Start(ctx, local.Options{
		Dir:      dir,
		Binaries: local.Binaries{CertManagerController: failingController},
		ACME:     &local.ACMEOptions{Zones: []string{"example.com"}},
		Log:      slog.New(slog.NewTextHandler(testLogWriter{t}, nil)),
	})
	skipWithoutPrograms(t, err)
	if err == nil {
		t.Fatal("Start() succeeded with a controller that exits at once")
	}
	if !strings.Contains(err.Error(), "cert-manager-controller exited before it was ready") {
		t.Errorf("error %q does not say that the controller exited", err)
	}
	for _, log := range []string{"named/named.log", "pebble/pebble.log", "etcd.log"} {
		if _, statErr := os.Stat(filepath.Join(dir, log)); statErr != nil {
			t.Errorf("%s not kept after a failed start: %v", log, statErr)
		}
	}
	if runtime.GOOS == "linux" {
		for _, process := range processesNaming(t, dir) {
			t.Errorf("process still running after a failed start: %s", process)
		}
	}
}

// processesNaming lists the running processes whose command line contains
// text, as "PID: command line", from /proc.
func processesNaming(t *testing.T, text string) []string {
	t.Helper()
	paths, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			// The process exited after the Glob.
			continue
		}
		commandLine := strings.ReplaceAll(string(bytes.TrimRight(data, "\x00")), "\x00", " ")
		if strings.Contains(commandLine, text) {
			found = append(found, filepath.Base(filepath.Dir(path))+": "+commandLine)
		}
	}
	return found
}

func TestStackIssuesACMECertificatesOverDNS01(t *testing.T) {
	stack, c, logs := startACMEStack(t)
	servers := stack.ACME()
	if servers == nil {
		t.Fatal("Stack.ACME() = nil with Options.ACME set")
	}
	if got := servers.IssuerName; got != "letsencrypt-production" {
		t.Errorf("IssuerName = %q, expected letsencrypt-production, the issuer of the reference topology", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*acmeIssuanceTimeout)
	defer cancel()

	// A Certificate of its own and a Gateway listener issue at the same
	// time, so the test waits for cert-manager's 60 s sleep only once.
	certificate := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "app"},
		Spec: cmapi.CertificateSpec{
			SecretName: "app-tls",
			DNSNames:   []string{"app.example.com"},
			IssuerRef:  cmmeta.IssuerReference{Kind: cmapi.ClusterIssuerKind, Name: servers.IssuerName},
		},
	}
	gateway := annotatedGateway(servers.IssuerName, "https-web", "web.example.com", "web-tls")
	start := time.Now()
	mustCreate(ctx, t, c, certificate)
	mustCreate(ctx, t, c, gateway)

	// The gateway-shim names its Certificate after the listener's Secret.
	for _, key := range []types.NamespacedName{
		{Namespace: "default", Name: certificate.Name},
		{Namespace: "default", Name: "web-tls"},
	} {
		waitUntil(ctx, t, acmeIssuanceTimeout, "Certificate "+key.String()+" Ready=True", func(ctx context.Context) (bool, error) {
			var got cmapi.Certificate
			if err := c.Get(ctx, key, &got); err != nil {
				return false, err
			}
			return certificateReady(&got), nil
		})
	}
	t.Logf("both certificates issued %s after their creation", time.Since(start).Round(time.Second))

	var shimCertificate cmapi.Certificate
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "web-tls"}, &shimCertificate); err != nil {
		t.Fatalf("get the gateway-shim's Certificate default/web-tls: %v", err)
	}
	if got := shimCertificate.Spec.IssuerRef; got.Kind != cmapi.ClusterIssuerKind || got.Name != servers.IssuerName {
		t.Errorf("shim Certificate issuerRef = %+v, expected ClusterIssuer %s", got, servers.IssuerName)
	}

	for _, issued := range []struct{ secret, name string }{
		{"app-tls", "app.example.com"},
		{"web-tls", "web.example.com"},
	} {
		checkPebbleCertificate(ctx, t, c, issued.secret, issued.name)
		checkLedger(t, servers.Front.Ledger(), issued.name)
	}

	checkNoSecretInLogs(t, servers.DNS.TSIG().Secret, logs.String(), stack.Dir())
}

// checkPebbleCertificate checks that the Secret contains a certificate for
// name alone, issued by Pebble with the classic profile.
func checkPebbleCertificate(ctx context.Context, t *testing.T, c client.Client, secretName, name string) {
	t.Helper()
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: secretName}, &secret); err != nil {
		t.Errorf("get Secret default/%s: %v", secretName, err)
		return
	}

	block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
	if block == nil {
		t.Errorf("Secret default/%s has no PEM certificate in %s", secretName, corev1.TLSCertKey)
		return
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Errorf("parse the certificate of Secret default/%s: %v", secretName, err)
		return
	}

	if !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("certificate of %s issued by %q, expected a Pebble CA", name, leaf.Issuer.CommonName)
	}
	if !slices.Equal(leaf.DNSNames, []string{name}) {
		t.Errorf("certificate of %s has DNS names %v, expected [%s]", name, leaf.DNSNames, name)
	}
	// The classic profile promotes the first name into the common name.
	if leaf.Subject.CommonName != name {
		t.Errorf("certificate of %s has common name %q, expected %s from the classic profile", name, leaf.Subject.CommonName, name)
	}
	expected := acme.LetsEncryptLifetimes(leaf.NotBefore)[acme.ProfileClassic]
	if lifetime := leaf.NotAfter.Sub(leaf.NotBefore); lifetime < expected-time.Hour || lifetime > expected+time.Hour {
		t.Errorf("certificate of %s lives %s, expected about %s of the classic profile", name, lifetime, expected)
	}
}

// checkLedger checks that the front counted exactly one order and one
// issuance for name, with the classic profile.
func checkLedger(t *testing.T, ledger []acme.Entry, name string) {
	t.Helper()
	counts := map[acme.Event]int{}
	var profiles []string
	for _, entry := range ledger {
		if !slices.Equal(entry.Names, []string{name}) {
			continue
		}
		counts[entry.Event]++
		if entry.Event == acme.EventOrderCreated {
			profiles = append(profiles, entry.Profile)
		}
	}
	orders := counts[acme.EventOrderCreated] + counts[acme.EventOrderRefused] +
		counts[acme.EventOrderForced429] + counts[acme.EventOrderRejected]
	if orders != 1 {
		t.Errorf("ledger has %d orders for %s, expected 1; counts %v", orders, name, counts)
	}
	if got := counts[acme.EventOrderCreated]; got != 1 {
		t.Errorf("ledger has %d created orders for %s, expected 1; counts %v", got, name, counts)
	}
	if got := counts[acme.EventIssued]; got != 1 {
		t.Errorf("ledger has %d issuances for %s, expected 1; counts %v", got, name, counts)
	}
	if !slices.Equal(profiles, []string{acme.ProfileClassic}) {
		t.Errorf("orders for %s requested profiles %q, expected [classic]", name, profiles)
	}
}

// checkNoSecretInLogs checks that the TSIG secret appears neither in the
// stack's log nor in any server log under dir.
func checkNoSecretInLogs(t *testing.T, secret, stackLog, dir string) {
	t.Helper()
	if secret == "" {
		t.Fatal("TSIG secret is empty")
	}
	if strings.Contains(stackLog, secret) {
		t.Error("the stack's log contains the TSIG secret")
	}
	err := filepath.WalkDir(dir, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || !strings.HasSuffix(path, ".log") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("log %s contains the TSIG secret", path)
		}
		return nil
	})
	if err != nil {
		t.Errorf("read the server logs under %s: %v", dir, err)
	}
}

// waitUntil polls condition every 250 ms until it returns true or timeout
// ends. A condition error is retried and reported at the end.
func waitUntil(ctx context.Context, t *testing.T, timeout time.Duration, what string, condition func(context.Context) (bool, error)) {
	t.Helper()
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		done, err := condition(ctx)
		lastErr = err
		return done, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
	}
}
