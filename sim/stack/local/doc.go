// Package local starts the real components of certwave's `local` world on
// 127.0.0.1, without Docker: etcd, kube-apiserver, kube-controller-manager
// running only its garbage collector, and certwave's build of the
// cert-manager v1.21.2 controller, out of cluster with Gateway API support.
// It installs the Gateway API standard CRDs and cert-manager's CRDs from the
// Go module cache by server-side apply.
//
// The binaries come from the cache that `make components` fills
// ($CERTWAVE_CACHE/components, default ~/.cache/certwave/components). Start
// reports the missing ones with MissingBinariesError.
//
// Every server listens on a free port of 127.0.0.1 and writes its log to
// the stack's directory. Stop ends them by PID in reverse start order, so
// kube-apiserver stops while etcd still runs; Start does the same when it
// fails. Options.Keep leaves them running for inspection.
//
// Options.ACME adds the ACME side of the world before the controller
// starts: a private BIND (sim/dns) authoritative for ACMEOptions.Zones,
// Pebble v2.10.3 validating DNS01 against that BIND with Let's Encrypt's
// profiles, and the rate-limit front of sim/acme in this process, each on
// a free port of 127.0.0.1. The controller then runs with that BIND as its
// only DNS01 nameserver (recursiveNameserversOnly), so no self-check leaves
// the machine. The stack creates the TSIG Secret and an ACME ClusterIssuer
// (letsencrypt-production unless named otherwise) that orders through the
// front and solves DNS01 with the RFC2136 solver, and waits until the
// issuer has registered its account. Stack.ACME returns the servers, and
// the front's ledger counts every order and issuance.
//
// A DNS01 issuance takes about 61 s, because cert-manager v1.21.2 sleeps a
// fixed 60 s after its DNS01 self-check succeeds (Solver.Check in
// pkg/issuer/acme/dns/dns.go). No flag or option changes that sleep, and
// ACMEOptions.TimeScale does not shorten it.
//
// Other parts of the world join through Options.BeforeCertManager and
// Stack.StartProcess, which tie their processes to the stack's teardown.
package local
