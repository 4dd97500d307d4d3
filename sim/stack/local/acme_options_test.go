package local

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"

	"github.com/certwave/certwave/sim/dns"
)

// fakePebbleCache returns a cache directory with an executable file where
// `make components` puts Pebble.
func fakePebbleCache(t *testing.T) string {
	t.Helper()
	cacheDir := t.TempDir()
	dir := filepath.Join(cacheDir, "pebble-v2.10.3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pebble"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return cacheDir
}

func TestACMEOptionsDefaults(t *testing.T) {
	cacheDir := fakePebbleCache(t)

	opts, err := ACMEOptions{Zones: []string{"example.com"}, NamedPath: "/opt/named"}.withDefaults(cacheDir)
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if opts.IssuerName != "letsencrypt-production" {
		t.Errorf("IssuerName = %q, expected letsencrypt-production", opts.IssuerName)
	}
	if opts.Profile != "classic" {
		t.Errorf("Profile = %q, expected classic", opts.Profile)
	}
	if opts.TimeScale != 1 {
		t.Errorf("TimeScale = %g, expected 1", opts.TimeScale)
	}
	if expected := filepath.Join(cacheDir, "pebble-v2.10.3", "pebble"); opts.PebbleBinary != expected {
		t.Errorf("PebbleBinary = %q, expected %q", opts.PebbleBinary, expected)
	}
	if opts.NamedPath != "/opt/named" {
		t.Errorf("NamedPath = %q, expected the given /opt/named", opts.NamedPath)
	}
}

func TestACMEOptionsRejectInvalidValues(t *testing.T) {
	cacheDir := fakePebbleCache(t)
	for _, tc := range []struct {
		name     string
		opts     ACMEOptions
		expected string
	}{
		{"no zones", ACMEOptions{}, "ACMEOptions.Zones is empty"},
		{"unknown profile", ACMEOptions{Zones: []string{"example.com"}, Profile: "long"}, `ACMEOptions.Profile "long" is unknown`},
		{"time scale below 1", ACMEOptions{Zones: []string{"example.com"}, TimeScale: 0.5}, "ACMEOptions.TimeScale 0.5 is invalid"},
		{"issuer name", ACMEOptions{Zones: []string{"example.com"}, IssuerName: "Lets_Encrypt"}, `ACMEOptions.IssuerName "Lets_Encrypt" is not a valid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.NamedPath = "/opt/named"
			_, err := tc.opts.withDefaults(cacheDir)
			if err == nil {
				t.Fatalf("withDefaults(%+v) succeeded, expected an error", tc.opts)
			}
			if !strings.Contains(err.Error(), tc.expected) {
				t.Errorf("error %q does not contain %q", err, tc.expected)
			}
		})
	}
}

func TestACMEOptionsReportMissingPebble(t *testing.T) {
	cacheDir := t.TempDir()

	_, err := ACMEOptions{Zones: []string{"example.com"}, NamedPath: "/opt/named"}.withDefaults(cacheDir)

	var missing *MissingBinariesError
	if !errors.As(err, &missing) {
		t.Fatalf("withDefaults() = %v, expected a *MissingBinariesError", err)
	}
	if expected := filepath.Join(cacheDir, "pebble-v2.10.3", "pebble"); !slices.Equal(missing.Paths, []string{expected}) {
		t.Errorf("missing paths = %v, expected [%s]", missing.Paths, expected)
	}
	if !strings.Contains(err.Error(), "make components") {
		t.Errorf("error %q does not name `make components` as the fix", err)
	}
}

func TestConfigureCertManagerScalesBackoff(t *testing.T) {
	cm := CertManagerOptions{DNS01RecursiveNameservers: []string{"8.8.8.8:53"}}

	configureCertManagerForACME(&cm, "127.0.0.1:5353", 1440)

	if !slices.Equal(cm.DNS01RecursiveNameservers, []string{"127.0.0.1:5353"}) {
		t.Errorf("DNS01RecursiveNameservers = %v, expected only BIND at [127.0.0.1:5353]", cm.DNS01RecursiveNameservers)
	}
	if !cm.DNS01RecursiveNameserversOnly {
		t.Error("DNS01RecursiveNameserversOnly = false, expected true so no self-check leaves 127.0.0.1")
	}
	if cm.Workers != 20 {
		t.Errorf("Workers = %d, expected 20", cm.Workers)
	}
	if expected := 2500 * time.Millisecond; cm.MinimumBackoff != expected {
		t.Errorf("MinimumBackoff = %s, expected 1h/1440 = %s", cm.MinimumBackoff, expected)
	}
	if expected := 80 * time.Second; cm.MaximumBackoff != expected {
		t.Errorf("MaximumBackoff = %s, expected 32h/1440 = %s", cm.MaximumBackoff, expected)
	}
}

func TestConfigureCertManagerKeepsExplicitValues(t *testing.T) {
	cm := CertManagerOptions{Workers: 3, MinimumBackoff: time.Minute}

	configureCertManagerForACME(&cm, "127.0.0.1:5353", 60)

	if cm.Workers != 3 {
		t.Errorf("Workers = %d, expected the given 3", cm.Workers)
	}
	if cm.MinimumBackoff != time.Minute {
		t.Errorf("MinimumBackoff = %s, expected the given 1m0s", cm.MinimumBackoff)
	}
	if expected := 32 * time.Minute; cm.MaximumBackoff != expected {
		t.Errorf("MaximumBackoff = %s, expected 32h/60 = %s", cm.MaximumBackoff, expected)
	}
}

func TestConfigureCertManagerRealTimeKeepsDefaultBackoff(t *testing.T) {
	var cm CertManagerOptions

	configureCertManagerForACME(&cm, "127.0.0.1:5353", 1)

	if cm.MinimumBackoff != 0 || cm.MaximumBackoff != 0 {
		t.Errorf("backoff = %s to %s, expected both zero to keep cert-manager's 1h and 32h", cm.MinimumBackoff, cm.MaximumBackoff)
	}
}

func TestACMEClusterIssuerUsesRFC2136(t *testing.T) {
	key := dns.TSIGKey{Name: "certwave-rfc2136", Algorithm: dns.TSIGAlgorithm, Secret: "c2VjcmV0"}

	issuer := acmeClusterIssuer(acmeIssuerSpec{
		name:          "letsencrypt-production",
		directoryURL:  "https://127.0.0.1:14000/dir",
		caBundle:      []byte("front certificate"),
		profile:       "tlsserver",
		nameserver:    "127.0.0.1:5353",
		tsig:          key,
		tsigSecret:    "letsencrypt-production-tsig",
		accountSecret: "letsencrypt-production-account-key",
	})

	spec := issuer.Spec.ACME
	if spec == nil {
		t.Fatal("spec.acme is nil")
	}
	if spec.Server != "https://127.0.0.1:14000/dir" {
		t.Errorf("spec.acme.server = %q, expected the front's directory", spec.Server)
	}
	if string(spec.CABundle) != "front certificate" {
		t.Errorf("spec.acme.caBundle = %q, expected the front's certificate", spec.CABundle)
	}
	if spec.Profile != "tlsserver" {
		t.Errorf("spec.acme.profile = %q, expected tlsserver", spec.Profile)
	}
	if spec.PrivateKey.Name != "letsencrypt-production-account-key" {
		t.Errorf("spec.acme.privateKeySecretRef.name = %q, expected letsencrypt-production-account-key", spec.PrivateKey.Name)
	}
	if len(spec.Solvers) != 1 || spec.Solvers[0].DNS01 == nil || spec.Solvers[0].DNS01.RFC2136 == nil {
		t.Fatalf("solvers = %+v, expected one DNS01 RFC2136 solver", spec.Solvers)
	}
	rfc2136 := spec.Solvers[0].DNS01.RFC2136
	if rfc2136.Nameserver != "127.0.0.1:5353" {
		t.Errorf("rfc2136.nameserver = %q, expected 127.0.0.1:5353", rfc2136.Nameserver)
	}
	if rfc2136.TSIGKeyName != "certwave-rfc2136" {
		t.Errorf("rfc2136.tsigKeyName = %q, expected certwave-rfc2136", rfc2136.TSIGKeyName)
	}
	if rfc2136.TSIGAlgorithm != "HMACSHA256" {
		t.Errorf("rfc2136.tsigAlgorithm = %q, expected HMACSHA256", rfc2136.TSIGAlgorithm)
	}
	expectedRef := cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: "letsencrypt-production-tsig"}, Key: "tsig-secret"}
	if rfc2136.TSIGSecret != expectedRef {
		t.Errorf("rfc2136.tsigSecretSecretRef = %+v, expected %+v", rfc2136.TSIGSecret, expectedRef)
	}
}
