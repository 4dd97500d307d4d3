package acme

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartPebbleMissingBinary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "pebble")
	_, err := StartPebble(context.Background(), PebbleOptions{Binary: missing})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "make components") {
		t.Errorf("StartPebble(missing binary) error = %v, want one naming the path and `make components`", err)
	}
}

func TestPebbleConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := &Pebble{Dir: dir}
	opts := PebbleOptions{TimeScale: 1440, ListenAddress: "127.0.0.1:14000", ManagementAddress: "127.0.0.1:15000"}
	if err := p.writeFiles(&opts); err != nil {
		t.Fatalf("writeFiles: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "pebble.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg pebbleConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("pebble.json is not JSON: %v", err)
	}

	c := cfg.Pebble
	if c.ListenAddress != "127.0.0.1:14000" || c.ManagementListenAddress != "127.0.0.1:15000" {
		t.Errorf("listen addresses = %s, %s; want the requested ones", c.ListenAddress, c.ManagementListenAddress)
	}
	if c.HTTPPort != 5002 || c.TLSPort != 5001 {
		t.Errorf("challenge ports = %d, %d; want 5002, 5001", c.HTTPPort, c.TLSPort)
	}

	want := LetsEncryptProfiles(time.Now(), 1440)
	for _, name := range []string{ProfileClassic, ProfileTLSServer, ProfileShortLived} {
		if c.Profiles[name] != want[name] {
			t.Errorf("profile %s = %+v, want %+v", name, c.Profiles[name], want[name])
		}
	}
	if p.URL != "https://127.0.0.1:14000" || p.DirectoryURL != "https://127.0.0.1:14000/dir" {
		t.Errorf("URL = %s, DirectoryURL = %s; want the listen address over HTTPS", p.URL, p.DirectoryURL)
	}
	for _, file := range []string{c.Certificate, c.PrivateKey} {
		if _, err := os.Stat(file); err != nil {
			t.Errorf("TLS file %s: %v", file, err)
		}
	}
}
