package harness

import (
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/engine/tlsprobe"
)

// Environment variables of the cluster world (ClusterOptionsFromEnv).
const (
	EnvKubeconfig        = "CERTWAVE_KUBECONFIG"
	EnvContext           = "CERTWAVE_CONTEXT"
	EnvDisposableContext = "CERTWAVE_DISPOSABLE_CONTEXT"
	EnvClusterTimeScale  = "CERTWAVE_CLUSTER_TIME_SCALE"
	EnvClusterKeep       = "CERTWAVE_CLUSTER_KEEP"
	EnvClusterAddresses  = "CERTWAVE_CLUSTER_ADDRESSES"
	EnvClusterRoots      = "CERTWAVE_CLUSTER_ROOTS"
)

// ClusterWorldLabel marks every object the cluster world creates. Its
// value names the run.
const ClusterWorldLabel = "certwave.io/cluster-world"

// defaultClusterReadyTimeout bounds each wait while the cluster world
// opens, unless ClusterOptions.ReadyTimeout sets another.
const defaultClusterReadyTimeout = 5 * time.Minute

// clusterSampleInterval is how often the cluster world probes every host
// for availability and reads the ACME Orders.
const clusterSampleInterval = 2 * time.Second

// ClusterOptions select the existing cluster the cluster world runs on and
// how it runs there.
type ClusterOptions struct {
	// Kubeconfig is the kubeconfig file, and Context the context in it
	// (default: its current context).
	Kubeconfig string
	Context    string
	// DisposableContext must equal the name of the context in use. It is
	// the operator's statement that the cluster is a disposable test
	// cluster, where scenarios may create and delete objects and place
	// ACME orders.
	DisposableContext string
	// TimeScale divides the plan's waits. Zero or 1 runs in real time.
	// Above 1 the cluster must be marked as a test stack (label
	// certwave.io/test-stack=true on Namespace kube-system), whose
	// cert-manager backoff and ACME limits were divided the same way.
	TimeScale int
	// Keep leaves the objects the world created in the cluster when it
	// closes.
	Keep bool
	// Addresses maps a client path to the host:port its probes dial, such
	// as the Gateway's LoadBalancer address. A path without one dials port
	// 443 of the probed name.
	Addresses map[string]string
	// Roots verify the certificates of public hosts, such as the roots of
	// Let's Encrypt's staging environment. Nil means the system roots.
	Roots *x509.CertPool
	// Prober, when set, replaces the TLS prober. Tests use it to stand in
	// a modelled data plane where no real one runs.
	Prober engine.Prober
	// ReadyTimeout bounds each wait while the world opens: controllers
	// setting status, Certificates Ready, the first probe served. Zero
	// means 5 minutes.
	ReadyTimeout time.Duration
}

// ClusterOptionsFromEnv reads the cluster world's options from the
// environment: CERTWAVE_KUBECONFIG, CERTWAVE_CONTEXT,
// CERTWAVE_DISPOSABLE_CONTEXT, CERTWAVE_CLUSTER_TIME_SCALE,
// CERTWAVE_CLUSTER_KEEP (1 or true), CERTWAVE_CLUSTER_ADDRESSES
// (comma-separated PATH=HOST:PORT) and CERTWAVE_CLUSTER_ROOTS (a PEM
// file). KUBECONFIG is not read, so that the world never opens a cluster
// only because it is the shell's default.
func ClusterOptionsFromEnv() (ClusterOptions, error) {
	o := ClusterOptions{
		Kubeconfig:        os.Getenv(EnvKubeconfig),
		Context:           os.Getenv(EnvContext),
		DisposableContext: os.Getenv(EnvDisposableContext),
	}
	if v := os.Getenv(EnvClusterTimeScale); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("invalid %s %q: want a whole number of 1 or more", EnvClusterTimeScale, v)
		}
		o.TimeScale = n
	}
	if v := os.Getenv(EnvClusterKeep); v != "" {
		keep, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("invalid %s %q: want 1, true, 0 or false", EnvClusterKeep, v)
		}
		o.Keep = keep
	}
	if v := os.Getenv(EnvClusterAddresses); v != "" {
		addresses, err := ParseAddresses(EnvClusterAddresses, strings.Split(v, ","))
		if err != nil {
			return o, err
		}
		o.Addresses = addresses
	}
	if v := os.Getenv(EnvClusterRoots); v != "" {
		roots, err := tlsprobe.ReadRoots(EnvClusterRoots, v)
		if err != nil {
			return o, err
		}
		o.Roots = roots
	}
	return o, nil
}

func (o ClusterOptions) timeScale() int { return max(o.TimeScale, 1) }

func (o ClusterOptions) readyTimeout() time.Duration {
	if o.ReadyTimeout > 0 {
		return o.ReadyTimeout
	}
	return defaultClusterReadyTimeout
}

// clusterUnsupported returns the capabilities the cluster world cannot
// rehearse at time scale scale, with the reason. A real data plane
// (gateway-data-plane) is the cluster's own, so it is supported.
func clusterUnsupported(scale int) map[string]string {
	return map[string]string{
		"compressed-backoff": "cert-manager's failure backoff (1 h doubling to 32 h in v1.21) runs as the cluster's cert-manager is configured, " +
			"and the cluster world cannot change that configuration",
		"compressed-dns01": "cert-manager sleeps a fixed 60 s after every DNS01 self-check, which no setting shortens",
		"short-renew-before": "cert-manager rejects renewBefore below 5 minutes and duration below 1 hour, " +
			"so renewal cadences of days cannot be compressed",
		"virtual-months": "months of plan time need the model world; the cluster's certificates and ACME limits run on the wall clock",
		"wall-hours": fmt.Sprintf("the plan's waits take more than an hour of wall time at time scale %d; "+
			"rehearse it on the model world, or on a test stack whose cert-manager and ACME server are scaled further", scale),
		"faults": "the cluster world cannot inject faults into the cluster's ACME server or DNS",
		"lock-out-time": "a lock-out spends the ACME server's real limits for the registered domain, " +
			"which on Let's Encrypt keeps new certificates for it refused for days after the run",
	}
}
