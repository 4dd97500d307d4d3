// Package dns starts a private BIND 9 name server (`named`) on 127.0.0.1
// for the DNS01 challenges of certwave's `local` world.
//
// The server is authoritative for the zones that the caller names, serves
// UDP and TCP on one free port, never recurses and accepts RFC 2136
// dynamic updates signed with a TSIG key (hmac-sha256) that Start generates.
// cert-manager's RFC2136 solver adds and removes the `_acme-challenge` TXT
// records with that key. Its DNS01 self-checks query the server over UDP
// and fall back to TCP only on truncation or timeout (cert-manager
// v1.21.2, pkg/issuer/acme/dns/util/wait.go). Pebble v2.10.3, started with
// `-dnsserver`, validates over TCP only (va/va.go).
//
// named runs as the current user, in the foreground (`-g`), from a
// configuration, zone files and journals in its own directory. It does not
// read /etc/bind and is not a systemd service. Its log goes to named.log in
// that directory. Start waits until named returns every zone's SOA record
// over UDP and TCP. Stop ends the process by PID.
//
// Debian's package bind9 provides named, and hack/install-bind.sh installs
// it. Options.NamedPath or $CERTWAVE_NAMED selects another binary.
//
// The TSIG secret is written only to named.conf (mode 0600). TSIGKey
// redacts it when formatted or logged, and callers pass it on only in a
// Kubernetes Secret.
package dns
