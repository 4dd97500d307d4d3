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
// Other parts of the world (Pebble, the ACME front, a DNS server) join
// through Options.BeforeCertManager and Stack.StartProcess, which tie their
// processes to the stack's teardown.
package local
