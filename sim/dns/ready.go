package dns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	miekgdns "github.com/miekg/dns"
)

// errPortInUse means that named could not bind its port because another
// process took it after freePort had checked it.
var errPortInUse = errors.New("port already in use")

// readyPollInterval is the wait between two rounds of readiness queries.
const readyPollInterval = 100 * time.Millisecond

// waitReady polls until named returns every zone's SOA record over UDP
// and TCP, named exits, its log reports a port in use, or the start
// timeout or ctx ends. Its errors carry the last lines of named's log.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	for {
		err := s.checkZones(ctx)
		if err == nil {
			return nil
		}
		if logContains(s.logPath, "address in use") {
			return fmt.Errorf("named could not listen on %s: %w; last lines of %s:\n%s", s.addr, errPortInUse, s.logPath, tailFile(s.logPath, 20))
		}
		select {
		case <-s.done:
			return fmt.Errorf("named exited before it responded on %s (%v); last lines of %s:\n%s%s", s.addr, s.waitErr, s.logPath, tailFile(s.logPath, 20), appArmorHint(s.logPath))
		case <-ctx.Done():
			return fmt.Errorf("named did not respond on %s within %s: %v; last lines of %s:\n%s", s.addr, s.opts.StartTimeout, err, s.logPath, tailFile(s.logPath, 20))
		case <-ticker.C:
		}
	}
}

// checkZones queries each zone's SOA record over UDP and TCP.
func (s *Server) checkZones(ctx context.Context) error {
	for _, zone := range s.zones {
		for _, network := range []string{"udp", "tcp"} {
			if err := querySOA(ctx, network, s.addr, zone); err != nil {
				return err
			}
		}
	}
	return nil
}

// querySOA succeeds when addr returns the zone's SOA record in an
// authoritative response.
func querySOA(ctx context.Context, network, addr, zone string) error {
	query := new(miekgdns.Msg)
	query.SetQuestion(miekgdns.Fqdn(zone), miekgdns.TypeSOA)
	query.RecursionDesired = false
	client := &miekgdns.Client{Net: network, Timeout: time.Second}
	reply, _, err := client.ExchangeContext(ctx, query, addr)
	if err != nil {
		return fmt.Errorf("SOA query for %s over %s: %w", zone, network, err)
	}
	if reply.Rcode != miekgdns.RcodeSuccess || !reply.Authoritative {
		return fmt.Errorf("SOA query for %s over %s returned %s (authoritative: %t)", zone, network, miekgdns.RcodeToString[reply.Rcode], reply.Authoritative)
	}
	for _, record := range reply.Answer {
		if _, ok := record.(*miekgdns.SOA); ok {
			return nil
		}
	}
	return fmt.Errorf("SOA query for %s over %s returned no SOA record", zone, network)
}

// appArmorHint returns a hint when the log shows a denied file access,
// which Debian's AppArmor profile for /usr/sbin/named causes outside
// /etc/bind, /var/lib/bind and /var/cache/bind on hosts that enforce it.
func appArmorHint(logPath string) string {
	if !logContains(logPath, "permission denied") {
		return ""
	}
	return "\nnamed was denied a file. If AppArmor enforces the profile usr.sbin.named on this host, set it to complain mode (aa-complain /usr/sbin/named) or set Options.NamedPath to a copy of named outside /usr/sbin."
}

func logContains(path, text string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return bytes.Contains(bytes.ToLower(data), []byte(text))
}

// tailFile returns the last n lines of a file, or why it cannot.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func trimDot(name string) string {
	return strings.TrimSuffix(name, ".")
}
