package harness

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/internal/kubecluster"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/model"
	"github.com/certwave/certwave/topology"
)

// ClusterWorld is an existing cluster as a harness world: its own API
// server, cert-manager, ACME issuer and gateway controller. It creates the
// scenario's topology there, labelled with ClusterWorldLabel, and deletes
// what it and the engine created when it closes.
type ClusterWorld struct {
	opts    ClusterOptions
	log     *slog.Logger
	context string
	// admin reaches the whole cluster. c lists only the scenario's
	// namespaces (scopedClient), so that other tenants' objects do not
	// enter the judgement.
	admin client.WithWatch
	c     client.Client
	acme  *kubecluster.OrderObserver
	// prober probes hosts through paths, the names of the client paths.
	prober engine.Prober
	paths  []string
	// targets are the host and client-path pairs sampled for availability.
	targets []probeTarget
	waits   *scaledWaits
	run     *clusterRun
	cancel  context.CancelFunc
	done    chan struct{}

	// baseline is when the world finished opening. The Orders that
	// existed then reissued the copied Certificates and are not the run's.
	baseline time.Time

	mu    sync.Mutex
	avail map[string]*weightedSamples
	last  time.Time
	// orders is true for the run's Orders and false for those that
	// existed at the baseline.
	orders map[types.UID]bool
	trace  []TraceEvent
}

var _ World = (*ClusterWorld)(nil)

// clusterScheme returns the kinds the cluster world reads and writes: the
// inventory's kinds plus cert-manager's ACME Orders.
func clusterScheme() *runtime.Scheme {
	s := topology.Scheme()
	if err := acmev1.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("building the scheme: %v", err))
	}
	return s
}

// OpenCluster opens the cluster world on the cluster opts names. It
// rejects a context not named in opts.DisposableContext before it
// connects. Then it checks what the scenario needs: CRDs, a running
// cert-manager controller, the scenario's ACME issuers (Ready, in the
// cluster already), a gateway controller that accepts the scenario's
// GatewayClasses, and probes that reach the data plane. For what is
// missing it returns an error that Run reports as unsupported. It creates the
// inventory's objects, waits until every Certificate is Ready and starts
// sampling availability and ACME Orders. On failure it deletes what it
// created.
func OpenCluster(ctx context.Context, inv *topology.Inventory, s *scenarios.Scenario, opts ClusterOptions, log io.Writer) (_ *ClusterWorld, err error) {
	cfg, contextName, err := opts.target()
	if err != nil {
		return nil, err
	}
	if reason := unsupportedWorldOptions(s.World); reason != "" {
		return nil, unsupportedInCluster("world options", reason)
	}
	admin, err := client.NewWithWatch(cfg, client.Options{Scheme: clusterScheme()})
	if err != nil {
		return nil, fmt.Errorf("cluster world: connecting to context %s: %w", contextName, err)
	}
	logger := slog.New(slog.NewTextHandler(orDiscard(log), nil)).With("world", "cluster", "context", contextName)
	w := &ClusterWorld{opts: opts, log: logger, context: contextName, admin: admin,
		waits: &scaledWaits{scale: opts.timeScale()}, avail: map[string]*weightedSamples{}, orders: map[types.UID]bool{}}

	if err := w.preflight(ctx, inv, s); err != nil {
		return nil, err
	}
	// The seed model builds the inventory's objects exactly as the model
	// and local worlds start from them.
	seed, err := model.New(inv, model.Options{Seed: 1, Start: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("cluster world: building the inventory's objects: %w", err)
	}
	objects, err := inventoryObjects(ctx, seed.Client())
	if err != nil {
		return nil, err
	}
	w.run = newClusterRun(admin, s.Name, logger)
	defer func() {
		if err != nil {
			if cleanupErr := w.run.cleanup(context.WithoutCancel(ctx), opts.Keep); cleanupErr != nil {
				w.log.Error("cleaning up after a failed open", "error", cleanupErr)
			}
		}
	}()
	if err := w.run.create(ctx, inv, objects, opts.readyTimeout()); err != nil {
		return nil, err
	}
	w.c = scopedClient(admin, w.run.namespaces)
	w.acme = &kubecluster.OrderObserver{Client: w.c}
	w.note("created %d objects labelled %s=%s; ACME orders are counted from cert-manager's Orders in the scenario's namespaces, not at the ACME server",
		len(w.run.created), ClusterWorldLabel, w.run.id)

	if err := w.openProber(inv, seed.ClientPaths()); err != nil {
		return nil, err
	}
	if err := waitCertificatesReady(ctx, w.c, opts.readyTimeout()); err != nil {
		return nil, fmt.Errorf("cluster world: %w", err)
	}
	if err := w.waitServed(ctx, opts.readyTimeout()); err != nil {
		return nil, err
	}

	w.baseline = time.Now()
	if err := w.sampleOrders(ctx); err != nil {
		return nil, fmt.Errorf("cluster world: reading ACME Orders: %w", err)
	}
	w.mu.Lock()
	for uid := range w.orders {
		w.orders[uid] = false
	}
	w.mu.Unlock()
	loopCtx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	w.last = w.baseline
	go w.loop(loopCtx)
	w.log.Info("cluster world open", "objects", len(w.run.created), "run", w.run.id, "timeScale", opts.timeScale())
	return w, nil
}

// unsupportedInCluster is the error of a capability the cluster lacks.
func unsupportedInCluster(capability, reason string) error {
	return &unsupportedError{reason: fmt.Sprintf("in world cluster: %s: %s", capability, reason)}
}

// unsupportedWorldOptions returns why the cluster world cannot give the
// scenario's world options, or "": they select cert-manager, Envoy Gateway
// and Let's Encrypt behaviour, and on a cluster those are what it runs.
func unsupportedWorldOptions(o scenarios.World) string {
	var reasons []string
	if o.GatewayAPIEnabled != nil && !*o.GatewayAPIEnabled {
		reasons = append(reasons, "gatewayAPIEnabled: false turns the gateway-shim off, which the cluster world cannot do to the cluster's cert-manager")
	}
	if o.CertManagerVersion != "" {
		reasons = append(reasons, fmt.Sprintf("certManagerVersion %s selects the model's cert-manager rules; the cluster runs its own version", o.CertManagerVersion))
	}
	if o.EnvoyGatewayVersion != "" {
		reasons = append(reasons, fmt.Sprintf("envoyGatewayVersion %s selects the model's Envoy Gateway rules; the cluster runs its own gateway controller", o.EnvoyGatewayVersion))
	}
	if o.ConcurrentWorkers > 0 {
		reasons = append(reasons, "concurrentWorkers sets cert-manager's workers, which the cluster world cannot change")
	}
	if o.LegacyRateLimits {
		reasons = append(reasons, "legacyRateLimits selects the model's pre-2025 limits; the cluster's ACME server applies its own")
	}
	return strings.Join(reasons, "; ")
}

// note records a fact about the run in the trace and the log.
func (w *ClusterWorld) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.log.Info(msg)
	w.mu.Lock()
	w.trace = append(w.trace, TraceEvent{At: time.Now(), Kind: "cluster", Object: "world", Detail: msg})
	w.mu.Unlock()
}

// Close stops sampling and deletes what the world and the engine created,
// unless ClusterOptions.Keep is set.
func (w *ClusterWorld) Close() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	return w.run.cleanup(context.Background(), w.opts.Keep)
}

func (w *ClusterWorld) Client() client.Client     { return w.c }
func (w *ClusterWorld) Clock() engine.Clock       { return engine.WallClock{} }
func (w *ClusterWorld) Prober() engine.Prober     { return w.prober }
func (w *ClusterWorld) ACME() engine.ACMEObserver { return w.acme }
func (w *ClusterWorld) ClientPaths() []string     { return w.paths }

// Context returns the name of the kube context the world runs on.
func (w *ClusterWorld) Context() string { return w.context }

// RunID returns the value of ClusterWorldLabel on the objects the world
// created.
func (w *ClusterWorld) RunID() string { return w.run.id }

// TimeScale divides the plan's waits and the harness's own sleeps.
func (w *ClusterWorld) TimeScale() int { return w.opts.timeScale() }

// RecordActivity implements activityRecorder: the engine's scaled waits
// weigh the availability.
func (w *ClusterWorld) RecordActivity(a engine.Activity) { w.waits.record(a) }

// ACMEOrders counts the Orders cert-manager created in the scenario's
// namespaces since the world opened, including those it has deleted since
// the last sample.
func (w *ClusterWorld) ACMEOrders() int {
	if err := w.sampleOrders(context.Background()); err != nil {
		w.log.Error("reading ACME Orders", "error", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ours := range w.orders {
		if ours {
			n++
		}
	}
	return n
}

// LockedOutUntil returns zero: the cluster world does not exhaust an ACME
// server's limits (lock-out-time is unsupported).
func (w *ClusterWorld) LockedOutUntil(string) time.Time { return time.Time{} }

// Unsupported returns why the cluster world cannot rehearse need.
func (w *ClusterWorld) Unsupported(need string) string {
	return clusterUnsupported(w.opts.timeScale())[need]
}

// Trace returns the world's notes, probe changes and sampling errors,
// with the ACME events of the Orders since the world opened.
func (w *ClusterWorld) Trace() []TraceEvent {
	w.mu.Lock()
	out := append([]TraceEvent(nil), w.trace...)
	w.mu.Unlock()
	events, err := w.acme.ACMEEvents(context.Background(), w.baseline)
	if err != nil {
		out = append(out, TraceEvent{At: time.Now(), Kind: "error", Object: "Orders", Detail: err.Error()})
	}
	for _, e := range events {
		object := "Order/" + strings.Join(e.Names, ",")
		if e.Certificate != "" {
			object = "Certificate/" + e.Certificate
		}
		out = append(out, TraceEvent{At: e.At, Kind: "acme", Object: object,
			Detail: strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Type, strings.Join(e.Names, ","), e.Detail))})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// loop samples availability and Orders until the world closes.
func (w *ClusterWorld) loop(ctx context.Context) {
	runEvery(ctx, clusterSampleInterval, w.done, func(ctx context.Context) {
		w.sampleProbes(ctx)
		if err := w.sampleOrders(ctx); err != nil && ctx.Err() == nil {
			w.recordError("Orders", err)
		}
	})
}

// sampleOrders records the Orders it has not seen before as the run's.
func (w *ClusterWorld) sampleOrders(ctx context.Context) error {
	var list acmev1.OrderList
	if err := w.c.List(ctx, &list); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range list.Items {
		if _, seen := w.orders[o.UID]; !seen {
			w.orders[o.UID] = true
		}
	}
	return nil
}

// recordError keeps a sampling error in the trace, once per distinct
// message in a row.
func (w *ClusterWorld) recordError(object string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.trace); n > 0 && w.trace[n-1].Kind == "error" && w.trace[n-1].Detail == err.Error() {
		return
	}
	w.trace = append(w.trace, TraceEvent{At: time.Now(), Kind: "error", Object: object, Detail: err.Error()})
	w.log.Error("sampling the cluster", "object", object, "error", err)
}
