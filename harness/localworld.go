package harness

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

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
	"faults":             "the scenario's faults are not yet passed to the rate-limit front's fault knobs",
	"lock-out-time": "the front decides each order with Boulder's limiter, " +
		"which reports a bucket's refill time only in an order's decision",
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

	// baseline is the number of ledger entries from before the run:
	// cert-manager reissues the inventory's certificates once at start,
	// because their Secrets come from the model's CA.
	baseline int

	mu        sync.Mutex
	mirrorErr error
}

var _ World = (*LocalWorld)(nil)

// OpenLocal starts the stack, creates the inventory's objects as the model
// builds them, starts the mirror loop and waits until every Certificate is
// Ready. It stops everything it started when it fails. The scenario gives
// the world options (profile, gateway-shim, Envoy Gateway version); Close
// stops the world.
//
// NOTE: it creates no cert-manager Deployment, so a plan made with
// certwave plan --kubeconfig against this world reads the gateway-shim as
// off.
func OpenLocal(ctx context.Context, inv *topology.Inventory, s *scenarios.Scenario, start time.Time, log io.Writer) (w *LocalWorld, err error) {
	logger := slog.New(slog.NewTextHandler(orDiscard(log), nil))
	zones := registeredDomains(inv)
	st, err := local.Start(ctx, local.Options{
		Log:  logger,
		ACME: &local.ACMEOptions{Zones: zones, Profile: s.World.Profile, TimeScale: DefaultLocalTimeScale},
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
	seed, err := model.New(inv, model.Options{Seed: 1, Start: start})
	if err != nil {
		return nil, fmt.Errorf("local world: building the inventory's objects: %w", err)
	}
	if err := copyInventory(ctx, seed.Client(), c); err != nil {
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
	w.baseline = len(w.front.Ledger())
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
			return fmt.Errorf("local world: Certificates %s not Ready within %s after start", strings.Join(pending, ", "), timeout)
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
	defer close(w.done)
	t := time.NewTicker(mirrorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.mirror.Sync(ctx, time.Now()); err != nil && ctx.Err() == nil {
				w.mu.Lock()
				w.mirrorErr = err
				w.mu.Unlock()
			}
		}
	}
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
func (w *LocalWorld) ACMEOrders() int {
	n := 0
	for _, e := range w.ledger() {
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
		out = append(out, TraceEvent{At: e.Time, Kind: "acme", Object: "Order/" + e.Order,
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

// copyInventory creates in the API server the objects the model built
// from the inventory: Namespaces, GatewayClasses, issuers, Certificates,
// their Secrets, Gateways and HTTPRoutes. It leaves out what the stack's
// controllers make: reflector's mirrors, CertificateRequests, Orders and
// the ACME ClusterIssuer the stack created. Status is left to the
// controllers; owner references are dropped, because their UIDs are the
// model's.
func copyInventory(ctx context.Context, from, to client.Client) error {
	lists := []client.ObjectList{
		&corev1.NamespaceList{}, &gwapiv1.GatewayClassList{}, &cmapi.ClusterIssuerList{}, &cmapi.IssuerList{},
		&corev1.SecretList{}, &cmapi.CertificateList{}, &gwapiv1.GatewayList{}, &gwapiv1.HTTPRouteList{},
	}
	for _, list := range lists {
		if err := from.List(ctx, list); err != nil {
			return err
		}
		items, err := model.ListObjects(list)
		if err != nil {
			return err
		}
		for _, o := range items {
			if _, mirror := o.GetAnnotations()["reflector.v1.k8s.emberstack.com/auto-reflects"]; mirror {
				continue
			}
			o.SetResourceVersion("")
			o.SetUID("")
			o.SetManagedFields(nil)
			o.SetOwnerReferences(nil)
			o.SetCreationTimestamp(metav1.Time{})
			clearStatus(o)
			if err := to.Create(ctx, o, client.FieldOwner("certwave-inventory")); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("local world: creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	return nil
}

// clearStatus zeroes the Status field of a typed object, if it has one.
func clearStatus(o client.Object) {
	if f := reflect.ValueOf(o).Elem().FieldByName("Status"); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// orDiscard returns w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
