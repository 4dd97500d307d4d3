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

	"sigs.k8s.io/controller-runtime/pkg/client"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/ratelimit"
	"github.com/certwave/certwave/scenarios"
	"github.com/certwave/certwave/sim/acme"
	"github.com/certwave/certwave/sim/model"
	"github.com/certwave/certwave/sim/stack/local"
	"github.com/certwave/certwave/topology"
)

// DefaultLocalTimeScale divides the plan's waits on the local world: a day
// of soak takes a minute. cert-manager's issuance (about 61 s for DNS01)
// does not scale.
const DefaultLocalTimeScale = 1440

// mirrorInterval is how often the local world runs the modelled Envoy
// Gateway and reflector controllers against the API server.
const mirrorInterval = 500 * time.Millisecond

// localUnsupported are the capabilities the local world cannot rehearse,
// with the reason. A scenario needing one is reported unsupported.
var localUnsupported = map[string]string{
	"compressed-backoff": "cert-manager's failure backoff scales only through its minimum and maximum settings, " +
		"and its exponential steps are not modelled at a time scale",
	"compressed-dns01": "cert-manager sleeps a fixed 60 s after every DNS01 self-check, which no setting shortens",
	"short-renew-before": "cert-manager refuses renewBefore below 5 minutes and duration below 1 hour, " +
		"so renewal cadences of days cannot be compressed",
	"gateway-data-plane": "no Envoy data plane runs without Docker; probes answer from the modelled data plane",
	"virtual-months":     "months of virtual time need the model world; real certificates and limits run on the wall clock",
	"lock-out-time": "the front decides each order with Boulder's limiter, " +
		"which reports a bucket's refill time only in an order's decision",
	needDelayPastReadyTimeout: "the front divides an issuance delay by the time scale like every plan wait, " +
		"but the engine's ready timeout and cert-manager's issuance run unscaled on the wall clock, " +
		"so a delay-issuance fault meant to outlast the ready timeout ends long before it",
	needShortFaultWindow: "the engine runs behind the plan's scaled schedule by each real issuance " +
		"(about 61 s for DNS01, a day of plan time at the time scale of 1440), " +
		"so a fault window shorter than a day of plan time misses the orders it was placed on",
}

// LocalWorld is the local stack of real components as a harness world:
// real kube-apiserver, etcd, cert-manager, Pebble behind the rate-limit
// front and BIND, with the model's Envoy Gateway and reflector controllers
// running against the API server through a model.Mirror.
type LocalWorld struct {
	stack  *local.Stack
	c      client.Client
	mirror *model.Mirror
	front  *acme.Front
	paths  []string
	scale  int
	// waits weighs availability by the virtual time each wall second
	// stands for.
	waits  *scaledWaits
	cancel context.CancelFunc
	done   chan struct{}

	// baseline is the number of ledger entries from before the run: the
	// prior issuances the front counted at start, and the orders of
	// Certificates whose Secrets the stack could not sign
	// (SignStartingSecrets), which cert-manager issued while the world
	// opened.
	baseline int

	mu        sync.Mutex
	mirrorErr error
}

var _ World = (*LocalWorld)(nil)

// OpenLocal starts the stack, creates the inventory's objects as the model
// builds them, starts the mirror loop and waits until every Certificate is
// Ready. The Secrets get keys and certificates that cert-manager takes as
// current (Stack.SignStartingSecrets), and the front counts the ACME ones
// as issued before the start, so opening places no ACME order. It stops
// everything it started when it fails. The scenario gives the world
// options (profile, gateway-shim, Envoy Gateway version) and its faults
// (localFaults); Close stops the world.
//
// NOTE: it creates no cert-manager Deployment, so a plan made with
// certwave plan --kubeconfig against this world reads the gateway-shim as
// off.
func OpenLocal(ctx context.Context, inv *topology.Inventory, s *scenarios.Scenario, start time.Time, log io.Writer) (w *LocalWorld, err error) {
	opened := time.Now()
	logger := slog.New(slog.NewTextHandler(orDiscard(log), nil))
	zones := registeredDomains(inv)
	faults, err := localFaults(s.Faults, start, DefaultLocalTimeScale)
	if err != nil {
		return nil, fmt.Errorf("local world: %w", err)
	}
	seed, err := model.New(inv, model.Options{Seed: 1, Start: start})
	if err != nil {
		return nil, fmt.Errorf("local world: building the inventory's objects: %w", err)
	}
	objects, err := inventoryObjects(ctx, seed.Client())
	if err != nil {
		return nil, err
	}
	st, err := local.Start(ctx, local.Options{
		Log: logger,
		ACME: &local.ACMEOptions{Zones: zones, Profile: s.World.Profile, TimeScale: DefaultLocalTimeScale,
			Faults: faults, PriorIssuances: local.PriorIssuances(objects, local.DefaultACMEIssuerName, start)},
		CertManager: local.CertManagerOptions{
			DisableGatewayAPI: s.World.GatewayAPIEnabled != nil && !*s.World.GatewayAPIEnabled,
		},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = st.Stop()
		}
	}()

	c, err := client.New(st.RESTConfig(), client.Options{Scheme: topology.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("local world: client: %w", err)
	}
	// NOTE: the starting certificates keep the model's validity, which is
	// plan time, on the wall clock: they come up for renewal weeks after
	// any local run, where the model may renew them during a long one.
	if err := st.SignStartingSecrets(ctx, objects); err != nil {
		return nil, fmt.Errorf("local world: %w", err)
	}
	if err := copyInventory(ctx, objects, c); err != nil {
		return nil, err
	}

	waits := &scaledWaits{scale: DefaultLocalTimeScale}
	mirror, err := model.NewMirror(inv, model.Options{Start: start, EnvoyGatewayVersion: s.World.EnvoyGatewayVersion, TimeWeight: waits.weight}, c)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	w = &LocalWorld{stack: st, c: c, mirror: mirror, front: st.ACME().Front, paths: seed.ClientPaths(),
		scale: DefaultLocalTimeScale, waits: waits, cancel: cancel, done: make(chan struct{})}
	if _, err := mirror.Sync(ctx, time.Now()); err != nil {
		cancel()
		return nil, err
	}
	go w.loop(loopCtx)
	if err := waitCertificatesReady(ctx, c, 5*time.Minute); err != nil {
		_ = w.Close()
		return nil, err
	}
	atOpen := w.front.Ledger()
	w.baseline = len(atOpen)
	logger.Info("local world open", "took", time.Since(opened).Round(time.Millisecond), "acmeOrders", countOrders(atOpen))
	return w, nil
}

// waitCertificatesReady waits until every Certificate is Ready, polling
// every second.
func waitCertificatesReady(ctx context.Context, c client.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var list cmapi.CertificateList
		if err := c.List(ctx, &list); err != nil {
			return err
		}
		var pending []string
		for _, crt := range list.Items {
			ready := false
			for _, cond := range crt.Status.Conditions {
				ready = ready || (cond.Type == cmapi.CertificateConditionReady && cond.Status == "True")
			}
			if !ready {
				pending = append(pending, crt.Namespace+"/"+crt.Name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Certificates %s not Ready within %s after start", strings.Join(pending, ", "), timeout)
		}
		if err := (engine.WallClock{}).Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// ledger returns the front's ledger entries of the run.
func (w *LocalWorld) ledger() []acme.Entry {
	entries := w.front.Ledger()
	if w.baseline > len(entries) {
		return nil
	}
	return entries[w.baseline:]
}

// loop runs the mirror until the world closes.
func (w *LocalWorld) loop(ctx context.Context) {
	runEvery(ctx, mirrorInterval, w.done, func(ctx context.Context) {
		if _, err := w.mirror.Sync(ctx, time.Now()); err != nil && ctx.Err() == nil {
			w.mu.Lock()
			w.mirrorErr = err
			w.mu.Unlock()
		}
	})
}

// Close stops the mirror loop and every server of the stack.
func (w *LocalWorld) Close() error {
	w.cancel()
	<-w.done
	return w.stack.Stop()
}

func (w *LocalWorld) Client() client.Client     { return w.c }
func (w *LocalWorld) Clock() engine.Clock       { return engine.WallClock{} }
func (w *LocalWorld) Prober() engine.Prober     { return w.mirror.Prober() }
func (w *LocalWorld) ACME() engine.ACMEObserver { return frontObserver{w} }
func (w *LocalWorld) ClientPaths() []string     { return w.paths }

// Kubeconfig is the path of a kubeconfig with the API server's admin
// token, for commands such as certwave run.
func (w *LocalWorld) Kubeconfig() string { return w.stack.Kubeconfig() }

// ACMERootPEM returns the root that signs the certificates of the stack's
// ACME server, Pebble, which makes a new one at every start: what a probe
// of a public host must trust in place of Let's Encrypt's roots.
func (w *LocalWorld) ACMERootPEM(ctx context.Context) ([]byte, error) {
	return w.stack.ACME().Pebble.IssuerRootPEM(ctx)
}

// TimeScale divides the plan's waits and the harness's own sleeps.
func (w *LocalWorld) TimeScale() int { return w.scale }

// ACMEOrders counts the new-order requests the front decided.
func (w *LocalWorld) ACMEOrders() int { return countOrders(w.ledger()) }

// countOrders counts the new-order requests among ledger entries.
func countOrders(entries []acme.Entry) int {
	n := 0
	for _, e := range entries {
		switch e.Event {
		case acme.EventOrderCreated, acme.EventOrderRefused, acme.EventOrderForced429, acme.EventOrderRejected:
			n++
		}
	}
	return n
}

func (w *LocalWorld) Availability() map[string]float64 { return w.mirror.Availability() }

// RecordActivity implements activityRecorder: the engine's scaled waits
// weigh the availability.
func (w *LocalWorld) RecordActivity(a engine.Activity) { w.waits.record(a) }

// LockedOutUntil returns zero: the front decides each order with Boulder's
// limiter, which reports a bucket's refill time only in an order's decision.
func (w *LocalWorld) LockedOutUntil(string) time.Time { return time.Time{} }

// Trace merges the mirror's trace with the front's ledger.
func (w *LocalWorld) Trace() []TraceEvent {
	var out []TraceEvent
	for _, e := range w.mirror.Trace() {
		out = append(out, TraceEvent{At: e.At, Kind: e.Kind, Object: e.Object, Detail: e.Detail})
	}
	for _, e := range w.ledger() {
		// A refused DNS-01 challenge belongs to an authorization, which
		// the front records without its order.
		object := "Order/" + e.Order
		if e.Order == "" && e.Authorization != "" {
			object = "Authorization/" + e.Authorization
		}
		out = append(out, TraceEvent{At: e.Time, Kind: "acme", Object: object,
			Detail: fmt.Sprintf("%s %s %s", e.Event, strings.Join(e.Names, ","), e.Detail)})
	}
	w.mu.Lock()
	if w.mirrorErr != nil {
		out = append(out, TraceEvent{At: time.Now(), Kind: "error", Object: "mirror", Detail: w.mirrorErr.Error()})
	}
	w.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Unsupported returns why the local world cannot rehearse need.
func (w *LocalWorld) Unsupported(need string) string { return localUnsupported[need] }

// frontObserver reads the ACME events of the engine's ledger from the
// front's ledger.
type frontObserver struct{ w *LocalWorld }

func (o frontObserver) ACMEEvents(_ context.Context, since time.Time) ([]engine.ACMEEvent, error) {
	var out []engine.ACMEEvent
	for _, e := range o.w.ledger() {
		if e.Time.Before(since) {
			continue
		}
		ev := engine.ACMEEvent{At: e.Time, Names: e.Names, Renewal: e.Renewal, Detail: e.Detail}
		switch e.Event {
		case acme.EventOrderCreated:
			ev.Type = engine.ACMEOrder
		case acme.EventOrderRefused, acme.EventOrderForced429:
			ev.Type = engine.ACMERefused
			if e.Decision != nil {
				ev.Limit = string(e.Decision.Limit)
				ev.RetryIn = e.Decision.RetryIn
			}
		case acme.EventIssued:
			ev.Type = engine.ACMEIssued
		case acme.EventAuthorizationInvalid, acme.EventDNS01Refused:
			ev.Type = engine.ACMEAuthzFailed
		default:
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

// registeredDomains returns the registered domains of the inventory's
// hostnames: the zones BIND serves.
func registeredDomains(inv *topology.Inventory) []string {
	seen := map[string]bool{}
	var out []string
	add := func(host string) {
		host = strings.TrimPrefix(host, "*.")
		if d, err := ratelimit.RegisteredDomain(host); err == nil && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, r := range inv.Routes {
		for _, h := range r.Hostnames {
			add(h)
		}
	}
	for _, c := range inv.Certificates {
		for _, h := range c.DNSNames {
			add(h)
		}
	}
	sort.Strings(out)
	return out
}

// orDiscard returns w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
