package dns

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeZonesAcceptsHostNames(t *testing.T) {
	got, err := normalizeZones([]string{"Example.COM.", "shop.example.net", "xn--bcher-kva.example"})
	if err != nil {
		t.Fatalf("normalizeZones: %v", err)
	}
	want := []string{"example.com", "shop.example.net", "xn--bcher-kva.example"}
	if !slices.Equal(got, want) {
		t.Errorf("normalizeZones = %q, want %q", got, want)
	}
}

func TestNormalizeZonesRejectsInvalid(t *testing.T) {
	tests := []struct {
		name    string
		zones   []string
		message string
	}{
		{"no zones", nil, "no zones given"},
		{"root", []string{"."}, "root zone"},
		{"empty label", []string{"example..com"}, `label ""`},
		{"quote", []string{`exa"mple.com`}, `contains '"'`},
		{"semicolon", []string{"example.com;"}, "contains ';'"},
		{"space", []string{"example com"}, "contains ' '"},
		{"underscore", []string{"_acme.example.com"}, "contains '_'"},
		{"leading hyphen", []string{"-example.com"}, "hyphen"},
		{"long label", []string{strings.Repeat("a", 64) + ".com"}, "1 to 63"},
		{"long name", []string{strings.Repeat("a.", 127) + "com"}, "maximum of 253"},
		{"duplicate", []string{"example.com", "EXAMPLE.com."}, "listed twice"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := normalizeZones(test.zones)
			if err == nil {
				t.Fatalf("normalizeZones(%q) succeeded, want an error", test.zones)
			}
			if !strings.Contains(err.Error(), test.message) {
				t.Errorf("error %q does not contain %q", err, test.message)
			}
		})
	}
}

func TestRenderConfigRestrictsServer(t *testing.T) {
	key := generateTSIGKey("acme-key")
	config := renderConfig("/tmp/named-test", 15353, []string{"example.com", "example.net"}, key)

	for _, want := range []string{
		`key "acme-key" {`,
		"algorithm hmac-sha256;",
		`secret "` + key.Secret + `";`,
		"controls { };",
		`directory "/tmp/named-test";`,
		"listen-on port 15353 { 127.0.0.1; };",
		"listen-on-v6 { none; };",
		"recursion no;",
		"allow-recursion { none; };",
		"notify no;",
		"dnssec-validation no;",
		"query-source address 127.0.0.1;",
		`bindkeys-file "/tmp/named-test/bind.keys";`,
		`zone "example.com" {`,
		`file "example.com.zone";`,
		`zone "example.net" {`,
		`allow-update { key "acme-key"; };`,
	} {
		if !strings.Contains(config, want) {
			t.Errorf("named.conf lacks %q:\n%s", want, config)
		}
	}
	if strings.Contains(config, "/etc/bind") {
		t.Errorf("named.conf refers to /etc/bind:\n%s", config)
	}
}

func TestRenderZoneHasSOAAndNS(t *testing.T) {
	zone := renderZone("example.com")
	for _, want := range []string{
		"$ORIGIN example.com.\n",
		"$TTL 60\n",
		"@\tIN\tSOA\tcertwave-ns.example.com. hostmaster.example.com. 1 3600 600 86400 60\n",
		"@\tIN\tNS\tcertwave-ns.example.com.\n",
		"certwave-ns\tIN\tA\t127.0.0.1\n",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone file lacks %q:\n%s", want, zone)
		}
	}
}

func TestWriteFilesReplacesOldState(t *testing.T) {
	dir := t.TempDir()
	configPath := filepath.Join(dir, configFileName)
	journalPath := filepath.Join(dir, "example.com.zone.jnl")
	if err := os.WriteFile(configPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journalPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := writeFiles(dir, 15353, []string{"example.com"}, generateTSIGKey("acme-key")); err != nil {
		t.Fatalf("writeFiles: %v", err)
	}
	info, err := os.Stat(configPath)
	if err != nil {
		t.Fatalf("stat named.conf: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("named.conf mode = %o, want 600", mode)
	}
	if _, err := os.Stat(journalPath); !os.IsNotExist(err) {
		t.Errorf("old journal: stat error %v, want it removed", err)
	}
}

func TestGenerateTSIGKeyIsRandom(t *testing.T) {
	first := generateTSIGKey("k")
	second := generateTSIGKey("k")
	if first.Secret == second.Secret {
		t.Errorf("two generated secrets are equal")
	}
	// 32 bytes encode to 44 base64 characters.
	if len(first.Secret) != 44 {
		t.Errorf("secret has %d base64 characters, want 44", len(first.Secret))
	}
}

func TestStartRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		message string
	}{
		{"no zones", Options{NamedPath: "/nonexistent/named"}, "no zones given"},
		{"bad zone", Options{NamedPath: "/nonexistent/named", Zones: []string{"a b"}}, `invalid zone "a b"`},
		{"bad key name", Options{NamedPath: "/nonexistent/named", Zones: []string{"example.com"}, TSIGKeyName: `k"ey`}, "invalid Options.TSIGKeyName"},
		{"missing binary", Options{NamedPath: "/nonexistent/named", Zones: []string{"example.com"}}, "hack/install-bind.sh"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			server, err := Start(context.Background(), test.opts)
			if err == nil {
				server.Stop()
				t.Fatalf("Start succeeded, want an error")
			}
			if !strings.Contains(err.Error(), test.message) {
				t.Errorf("error %q does not contain %q", err, test.message)
			}
		})
	}
}
