package dns_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	miekgdns "github.com/miekg/dns"

	simdns "github.com/certwave/certwave/sim/dns"
)

const (
	challengeName = "_acme-challenge.app.example.com."
	challengeZone = "example.com."
)

// startServer starts named for the zones, or skips the test when named is
// not installed. Cleanup prints named's log if the test failed, then stops
// the server.
func startServer(t *testing.T, opts simdns.Options) *simdns.Server {
	t.Helper()
	if opts.NamedPath == "" {
		if _, err := simdns.FindNamed(); err != nil {
			t.Skipf("skipping: %v", err)
		}
	}
	server, err := simdns.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, err := os.ReadFile(server.LogPath())
			t.Logf("named log %s (read error: %v):\n%s", server.LogPath(), err, log)
		}
		if err := server.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return server
}

// changeRecord adds (insert) or removes one TXT value at challengeName in
// the form of cert-manager v1.21.2's RFC2136 solver
// (pkg/issuer/acme/dns/rfc2136, changeRecord): the zone in the zone
// section, the record with a TTL of 60 s in the update section, and a
// TSIG signature with a fudge of 300 s when keyName is set. Its HMAC
// provider computes the same hmac-sha256 as miekg/dns's default one.
func changeRecord(t *testing.T, network, addr string, insert bool, value, keyName, secret string) *miekgdns.Msg {
	t.Helper()
	record := &miekgdns.TXT{
		Hdr: miekgdns.RR_Header{Name: challengeName, Rrtype: miekgdns.TypeTXT, Class: miekgdns.ClassINET, Ttl: 60},
		Txt: []string{value},
	}
	update := new(miekgdns.Msg)
	update.SetUpdate(challengeZone)
	if insert {
		update.Insert([]miekgdns.RR{record})
	} else {
		update.Remove([]miekgdns.RR{record})
	}
	client := &miekgdns.Client{Net: network, Timeout: 5 * time.Second}
	if keyName != "" {
		update.SetTsig(miekgdns.Fqdn(keyName), miekgdns.HmacSHA256, 300, time.Now().Unix())
		client.TsigSecret = map[string]string{miekgdns.Fqdn(keyName): secret}
	}
	reply, _, err := client.Exchange(update, addr)
	if reply == nil {
		t.Fatalf("update over %s to %s returned no reply: %v", network, addr, err)
	}
	return reply
}

// changeSigned is changeRecord with the server's key, and fails the test
// unless the server accepts the update.
func changeSigned(t *testing.T, server *simdns.Server, network string, insert bool, value string) {
	t.Helper()
	key := server.TSIG()
	reply := changeRecord(t, network, server.Addr(), insert, value, key.Name, key.Secret)
	if reply.Rcode != miekgdns.RcodeSuccess {
		t.Fatalf("signed update over %s (insert %t, value %q): rcode %s, want NOERROR", network, insert, value, miekgdns.RcodeToString[reply.Rcode])
	}
}

// queryTXT sends a non-recursive TXT query over network ("udp" or "tcp").
func queryTXT(t *testing.T, network, addr, name string) *miekgdns.Msg {
	t.Helper()
	query := new(miekgdns.Msg)
	query.SetQuestion(name, miekgdns.TypeTXT)
	query.RecursionDesired = false
	client := &miekgdns.Client{Net: network, Timeout: 5 * time.Second}
	reply, _, err := client.Exchange(query, addr)
	if err != nil {
		t.Fatalf("TXT query for %s over %s: %v", name, network, err)
	}
	return reply
}

// querySOA sends a non-recursive SOA query over UDP.
func querySOA(t *testing.T, addr, name string) *miekgdns.Msg {
	t.Helper()
	query := new(miekgdns.Msg)
	query.SetQuestion(name, miekgdns.TypeSOA)
	query.RecursionDesired = false
	client := &miekgdns.Client{Net: "udp", Timeout: 5 * time.Second}
	reply, _, err := client.Exchange(query, addr)
	if err != nil {
		t.Fatalf("SOA query for %s: %v", name, err)
	}
	return reply
}

func txtValues(reply *miekgdns.Msg) []string {
	var values []string
	for _, record := range reply.Answer {
		if txt, ok := record.(*miekgdns.TXT); ok {
			values = append(values, strings.Join(txt.Txt, ""))
		}
	}
	slices.Sort(values)
	return values
}

func TestSignedUpdateAnsweredOverUDPAndTCP(t *testing.T) {
	server := startServer(t, simdns.Options{Zones: []string{"example.com", "example.net"}})

	// cert-manager finds the zone by asking for the SOA of each parent of
	// the challenge name: it needs NXDOMAIN below the zone apex and the
	// SOA record at the apex.
	for _, name := range []string{challengeName, "app.example.com."} {
		reply := querySOA(t, server.Addr(), name)
		if reply.Rcode != miekgdns.RcodeNameError {
			t.Errorf("SOA for %s: rcode %s, want NXDOMAIN", name, miekgdns.RcodeToString[reply.Rcode])
		}
	}
	apex := querySOA(t, server.Addr(), challengeZone)
	if apex.Rcode != miekgdns.RcodeSuccess || len(apex.Answer) != 1 || apex.Answer[0].Header().Rrtype != miekgdns.TypeSOA {
		t.Errorf("SOA for %s: rcode %s, answer %v, want NOERROR with one SOA record", challengeZone, miekgdns.RcodeToString[apex.Rcode], apex.Answer)
	}

	changeSigned(t, server, "udp", true, "token")
	changeSigned(t, server, "tcp", true, "token-tcp")
	for _, network := range []string{"udp", "tcp"} {
		reply := queryTXT(t, network, server.Addr(), challengeName)
		if reply.Rcode != miekgdns.RcodeSuccess {
			t.Errorf("TXT over %s: rcode %s, want NOERROR", network, miekgdns.RcodeToString[reply.Rcode])
		}
		if !reply.Authoritative {
			t.Errorf("TXT over %s: answer is not authoritative", network)
		}
		if got, want := txtValues(reply), []string{"token", "token-tcp"}; !slices.Equal(got, want) {
			t.Errorf("TXT over %s = %q, want %q", network, got, want)
		}
	}

	changeSigned(t, server, "udp", false, "token")
	reply := queryTXT(t, "tcp", server.Addr(), challengeName)
	if got, want := txtValues(reply), []string{"token-tcp"}; !slices.Equal(got, want) {
		t.Errorf("TXT after removing one value = %q, want %q", got, want)
	}

	changeSigned(t, server, "tcp", false, "token-tcp")
	for _, network := range []string{"udp", "tcp"} {
		reply := queryTXT(t, network, server.Addr(), challengeName)
		if reply.Rcode != miekgdns.RcodeNameError {
			t.Errorf("TXT over %s after removal: rcode %s, want NXDOMAIN", network, miekgdns.RcodeToString[reply.Rcode])
		}
		if got := txtValues(reply); len(got) != 0 {
			t.Errorf("TXT over %s after removal = %q, want none", network, got)
		}
	}
}

func TestUpdateWithoutValidKeyRejected(t *testing.T) {
	server := startServer(t, simdns.Options{Zones: []string{"example.com"}})
	key := server.TSIG()
	otherSecret := "c2VjcmV0LXRoYXQtbmFtZWQtZG9lcy1ub3Qta25vdyE="

	tests := []struct {
		name    string
		keyName string
		secret  string
		want    []int
	}{
		{"unsigned", "", "", []int{miekgdns.RcodeRefused}},
		{"unknown key", "other-key", otherSecret, []int{miekgdns.RcodeNotAuth}},
		{"wrong secret", key.Name, otherSecret, []int{miekgdns.RcodeNotAuth}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			reply := changeRecord(t, "udp", server.Addr(), true, "token", test.keyName, test.secret)
			if !slices.Contains(test.want, reply.Rcode) {
				t.Errorf("update rcode = %s, want one of %v", miekgdns.RcodeToString[reply.Rcode], test.want)
			}
			answer := queryTXT(t, "udp", server.Addr(), challengeName)
			if got := txtValues(answer); len(got) != 0 {
				t.Errorf("TXT after rejected update = %q, want none", got)
			}
		})
	}

	// The same message signed with the right key succeeds, so the cases
	// above fail for the key and not for the form of the message.
	reply := changeRecord(t, "udp", server.Addr(), true, "token", key.Name, key.Secret)
	if reply.Rcode != miekgdns.RcodeSuccess {
		t.Errorf("signed update rcode = %s, want NOERROR", miekgdns.RcodeToString[reply.Rcode])
	}
}

func TestOtherZonesRefusedWithoutRecursion(t *testing.T) {
	server := startServer(t, simdns.Options{Zones: []string{"example.com"}})

	// A recursive query for a zone the server does not serve must not be
	// resolved elsewhere: recursion is off.
	query := new(miekgdns.Msg)
	query.SetQuestion("example.org.", miekgdns.TypeSOA)
	client := &miekgdns.Client{Net: "udp", Timeout: 5 * time.Second}
	reply, _, err := client.Exchange(query, server.Addr())
	if err != nil {
		t.Fatalf("SOA query for example.org: %v", err)
	}
	if reply.Rcode != miekgdns.RcodeRefused {
		t.Errorf("SOA for example.org: rcode %s, want REFUSED", miekgdns.RcodeToString[reply.Rcode])
	}
	if reply.RecursionAvailable {
		t.Errorf("SOA for example.org: recursion available flag set")
	}
	if len(reply.Answer) != 0 {
		t.Errorf("SOA for example.org: answer %v, want none", reply.Answer)
	}

	// With DNSSEC validation on, named 9.18 primes its root hints by
	// querying the root servers and logs it.
	namedLog, err := os.ReadFile(server.LogPath())
	if err != nil {
		t.Fatalf("read named log: %v", err)
	}
	if strings.Contains(string(namedLog), "priming") {
		t.Errorf("named's log shows a root priming query; the server must send no queries:\n%s", namedLog)
	}
}

func TestSecretKeptOutOfLogs(t *testing.T) {
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	server := startServer(t, simdns.Options{Zones: []string{"example.com"}, Log: logger})
	key := server.TSIG()

	if key.Secret == "" {
		t.Fatal("TSIG secret is empty")
	}
	if strings.Contains(logged.String(), key.Secret) {
		t.Errorf("the Go log contains the TSIG secret")
	}
	if !strings.Contains(logged.String(), "named ready") {
		t.Errorf("Go log has no \"named ready\" message:\n%s", logged.String())
	}
	namedLog, err := os.ReadFile(server.LogPath())
	if err != nil {
		t.Fatalf("read named log: %v", err)
	}
	if strings.Contains(string(namedLog), key.Secret) {
		t.Errorf("named's log contains the TSIG secret")
	}
	for _, formatted := range []string{key.String(), key.GoString()} {
		if strings.Contains(formatted, key.Secret) {
			t.Errorf("formatted key %q contains the secret", formatted)
		}
	}

	info, err := os.Stat(filepath.Join(server.Dir(), "named.conf"))
	if err != nil {
		t.Fatalf("stat named.conf: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("named.conf mode = %o, want 600", mode)
	}
}

func TestStopEndsNamed(t *testing.T) {
	server := startServer(t, simdns.Options{Zones: []string{"example.com"}})
	pid := server.PID()
	dir := server.Dir()

	if err := server.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to named (pid %d) after Stop: %v, want ESRCH", pid, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s after Stop: %v, want it removed", dir, err)
	}
	if err := server.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestAccessorsReturnServerSettings(t *testing.T) {
	dir := t.TempDir()
	server := startServer(t, simdns.Options{Zones: []string{"Example.COM.", "example.net"}, Dir: dir, TSIGKeyName: "acme-update."})

	if got, want := server.Zones(), []string{"example.com", "example.net"}; !slices.Equal(got, want) {
		t.Errorf("Zones() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(server.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT", server.Addr())
	}
	key := server.TSIG()
	if key.Name != "acme-update" || key.Algorithm != "hmac-sha256" {
		t.Errorf("TSIG() = %v, want name acme-update and algorithm hmac-sha256", key)
	}
	if server.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", server.Dir(), dir)
	}
	if err := server.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "named.log")); err != nil {
		t.Errorf("named.log in a caller's directory after Stop: %v, want it kept", err)
	}
}
