package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certwave/certwave/engine/tlsprobe/probetest"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// verifyFixture is a plan of the reference topology with a fixed-SNI
// tunnel added, and a TLS server on 127.0.0.1 standing in for the Gateway.
type verifyFixture struct {
	planFile   string
	addr       string
	public     string // a host of the public cohort
	internal   string // a host of the internal cohort
	tunnelName string // the fixed server name of the tunnel path
	rootsFile  string // PEM of the root that signed the public leaves
	caFile     string // PEM of the private CA that signed the internal leaf

	mu   sync.Mutex
	seen []string // "sni host" per request
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &verifyFixture{}

	p, err := plan.New(topology.Reference(), plan.DefaultOptions(time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatalf("planning the reference topology: %v", err)
	}
	for _, c := range p.Cohorts {
		switch {
		case c.Name == plan.CohortPublic && fx.public == "" && len(c.Hosts) > 0:
			fx.public = c.Hosts[0].Hostname
		case c.Name == plan.CohortInternal && fx.internal == "" && len(c.Hosts) > 0:
			fx.internal = c.Hosts[0].Hostname
		}
	}
	if fx.public == "" || fx.internal == "" {
		t.Fatalf("reference plan lacks a public or an internal host: public %q, internal %q", fx.public, fx.internal)
	}
	fx.tunnelName = "tunnel." + topology.ReferenceDomain
	p.Inventory.ClientPaths = append(p.Inventory.ClientPaths, topology.ClientPath{
		Name: "tunnel", Kind: topology.ClientPathFixedSNI, ServerName: fx.tunnelName, Hostnames: []string{fx.public},
	})
	out, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	fx.planFile = filepath.Join(dir, "plan.yaml")
	writeFile(t, fx.planFile, out)

	now := time.Now()
	from, to := now.Add(-time.Hour), now.Add(24*time.Hour)
	publicCA := probetest.NewCA(t, "verify test public root", from, to)
	privateCA := probetest.NewCA(t, "verify test private CA", from, to)
	publicLeaf := publicCA.Issue(t, []string{fx.public}, from, to)
	tunnelLeaf := publicCA.Issue(t, []string{fx.tunnelName}, from, to)
	internalLeaf := privateCA.Issue(t, []string{fx.internal}, from, to)
	fx.rootsFile = filepath.Join(dir, "roots.pem")
	writeFile(t, fx.rootsFile, publicCA.PEM())
	fx.caFile = filepath.Join(dir, "private-ca.pem")
	writeFile(t, fx.caFile, privateCA.PEM())

	routed := map[string]bool{fx.public: true, fx.internal: true}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fx.mu.Lock()
		fx.seen = append(fx.seen, r.TLS.ServerName+" "+r.Host)
		fx.mu.Unlock()
		if !routed[r.Host] {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		switch hello.ServerName {
		case fx.internal:
			return &internalLeaf, nil
		case fx.tunnelName:
			return &tunnelLeaf, nil
		}
		return &publicLeaf, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	fx.addr = srv.Listener.Addr().String()
	return fx
}

func (fx *verifyFixture) requests() []string {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return append([]string(nil), fx.seen...)
}

// args returns the verify flags that point every path at the test server
// and restrict the run to the fixture's two hosts.
func (fx *verifyFixture) args(extra ...string) []string {
	args := []string{"verify", "--plan", fx.planFile,
		"--address", "direct=" + fx.addr, "--address", "tunnel=" + fx.addr,
		"--host", fx.public, "--host", fx.internal, "--timeout", "2s"}
	return append(args, extra...)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAllServed(t *testing.T) {
	fx := newVerifyFixture(t)
	out, err := runCLI(t, fx.args("--roots-file", fx.rootsFile, "--ca-file", fx.caFile)...)
	if err != nil {
		t.Fatalf("verify failed: %v\n%s", err, out)
	}

	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want a header and 3 probes (public direct and tunnel, internal direct):\n%s", len(lines), out)
	}
	if !strings.HasPrefix(lines[0], "HOST") {
		t.Errorf("first line %q is not the header", lines[0])
	}
	for _, line := range lines[1:] {
		if !strings.Contains(line, " served ") {
			t.Errorf("line %q is not served", line)
		}
	}
	if !strings.Contains(out, "verify test private CA") {
		t.Errorf("table does not name the private CA as the internal host's issuer:\n%s", out)
	}

	want := map[string]bool{
		fx.public + " " + fx.public:     true,
		fx.tunnelName + " " + fx.public: true,
		fx.internal + " " + fx.internal: true,
	}
	for _, seen := range fx.requests() {
		if !want[seen] {
			t.Errorf("server saw unexpected SNI and Host %q", seen)
		}
		delete(want, seen)
	}
	for missing := range want {
		t.Errorf("server never saw SNI and Host %q", missing)
	}
}

func TestVerifyInternalWithoutCAFails(t *testing.T) {
	fx := newVerifyFixture(t)
	out, err := runCLI(t, fx.args("--roots-file", fx.rootsFile, "-o", "json")...)
	if err == nil {
		t.Fatalf("verify passed, want a failure for the internal host without --ca-file:\n%s", out)
	}
	if code := exitCode(err); code != exitFailed {
		t.Errorf("exit code = %d, want %d", code, exitFailed)
	}

	var report verifyReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("output is not the JSON report: %v\n%s", err, out)
	}
	if report.Failed != 1 || len(report.Results) != 3 {
		t.Fatalf("failed = %d of %d, want 1 of 3:\n%s", report.Failed, len(report.Results), out)
	}
	for _, r := range report.Results {
		if r.Host != fx.internal {
			if r.Outcome != "served" {
				t.Errorf("%s via %s: outcome %s (%s), want served", r.Host, r.ClientPath, r.Outcome, r.Detail)
			}
			continue
		}
		if !r.Private {
			t.Errorf("%s is not marked private", r.Host)
		}
		if r.Outcome != "handshake-failure" || !strings.Contains(r.Detail, "unknown authority") {
			t.Errorf("%s: outcome %s (%s), want handshake-failure for an unknown authority", r.Host, r.Outcome, r.Detail)
		}
		if r.Issuer != "verify test private CA" || len(r.SANs) != 1 || r.NotAfter.IsZero() {
			t.Errorf("%s: served certificate not described: issuer %q, SANs %v, notAfter %s", r.Host, r.Issuer, r.SANs, r.NotAfter)
		}
	}
}

func TestVerifyRefusedAddress(t *testing.T) {
	fx := newVerifyFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	out, err := runCLI(t, "verify", "--plan", fx.planFile, "--address", "direct="+closed,
		"--host", fx.internal, "--ca-file", fx.caFile, "--timeout", "2s")
	if code := exitCode(err); err == nil || code != exitFailed {
		t.Fatalf("err = %v (exit %d), want exit %d:\n%s", err, code, exitFailed, out)
	}
	if !strings.Contains(out, " refused ") {
		t.Errorf("table does not report refused:\n%s", out)
	}
}

func TestVerifyRejectsBadFlags(t *testing.T) {
	fx := newVerifyFixture(t)
	notPEM := filepath.Join(t.TempDir(), "empty.pem")
	writeFile(t, notPEM, []byte("not a certificate\n"))

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing plan", []string{"verify"}, "missing --plan"},
		{"unknown host", []string{"verify", "--plan", fx.planFile, "--host", "nope.example.org"}, `invalid --host "nope.example.org"`},
		{"address without path", []string{"verify", "--plan", fx.planFile, "--address", "127.0.0.1:443"}, "want PATH=HOST:PORT"},
		{"address for unknown path", []string{"verify", "--plan", fx.planFile, "--address", "vpn=127.0.0.1:443"}, `no client path "vpn"`},
		{"address without port", []string{"verify", "--plan", fx.planFile, "--address", "direct=127.0.0.1"}, "want PATH=HOST:PORT"},
		{"CA file without PEM", []string{"verify", "--plan", fx.planFile, "--ca-file", notPEM}, "no PEM CERTIFICATE block"},
		{"zero timeout", []string{"verify", "--plan", fx.planFile, "--timeout", "0s"}, "invalid --timeout"},
		{"bad format", []string{"verify", "--plan", fx.planFile, "-o", "yaml"}, "invalid output format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if code := exitCode(err); code != exitError {
				t.Errorf("exit code = %d, want %d", code, exitError)
			}
		})
	}
}
