// Package model is certwave's deterministic model world. Its Kubernetes
// API is an in-memory object store with the projects' server-side apply
// schemas. Around it run models of cert-manager (gateway-shim,
// issuance, renewal, backoff), Let's Encrypt (rate limits through package
// ratelimit, profiles, DNS01 timing, faults), emberstack reflector and
// Envoy Gateway (listener and route status, TLS serving). A discrete-event
// scheduler on a virtual clock drives them all. One seed drives every
// random choice, so the same seed and calls give a byte-identical trace.
package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// World is one model world. Its methods may be called from several
// goroutines, but the world runs only inside them: between calls nothing
// happens, and virtual time moves only in Clock().Sleep and Advance.
type World struct {
	mu    sync.Mutex
	opts  Options
	rules rules
	inv   *topology.Inventory
	rng   *rand.Rand
	log   *slog.Logger

	sched  scheduler
	scheme *runtime.Scheme
	// api is the object store the model's controllers use directly;
	// client wraps it for the engine.
	api           *objectStore
	client        *apiClient
	typeConverter chainConverter

	shimEnabled bool
	trace       []TraceEvent
	uidSeq      int
	eventSeq    int
	// events maps object UID, reason and message to the Event's name, to
	// aggregate repeats.
	events map[string]string

	certs   map[types.UID]*certState
	acme    *acmeModel
	pki     *pkiState
	plane   *dataplane
	avail   *availability
	issuers map[string]bool // issuer key -> last traced readiness
	shim    map[string]string
	// gcPending is set by deletions; the garbage collector runs only then.
	gcPending bool
	// writes counts writes per kind; seen holds, per controller, the
	// counts it last ran at.
	writes map[string]uint64
	seen   map[string]string
	// certWake is set when a Certificate's scheduled recheck comes due.
	certWake bool
	// round caches reads during one syncCertificates run.
	round *certRound
	// lastEdge is the edge syncGatewayStatus computed last, and
	// lastEdgeVersion the write counters of edgeKinds it was computed at.
	// rebuildDataplane reuses it while those counters are unchanged.
	lastEdge        *edge
	lastEdgeVersion string
	// objectWrites counts writes per object of the kinds a listener
	// translation reads, and translations holds each Gateway's last
	// translation; see translateListeners.
	objectWrites map[string]uint64
	translations map[string]*listenerTranslation
	// secretIndex holds the Secrets Gateways reference; see
	// gatewayReferencesSecret.
	secretIndex *gatewaySecretIndex
	// edgeOnly limits the controllers to those a Mirror runs.
	edgeOnly bool
}

var _ engine.World = (*World)(nil)

// maxSettleRounds bounds the controllers' reaction to one change. Each
// round runs every controller once; a world that keeps changing after this
// many rounds is traced as an error.
const maxSettleRounds = 25

// New builds a model world from an inventory: its namespaces, Gateway
// classes, Gateways, HTTPRoutes, issuers, Certificates issued before Start
// (with real certificates in their Secrets) and reflector mirrors, then
// lets the controllers settle. New does not modify inv; the world keeps
// reading it, so the caller must not change it afterwards.
func New(inv *topology.Inventory, opts Options) (*World, error) {
	w, err := newWorld(inv, opts)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.build(); err != nil {
		return nil, err
	}
	w.settle()
	return w, nil
}

// newWorld builds a world with no objects and its controllers idle.
func newWorld(inv *topology.Inventory, opts Options) (*World, error) {
	if inv == nil {
		return nil, errors.New("model: nil inventory: pass topology.Reference() or a loaded inventory")
	}
	if err := opts.normalize(inv.CertManager.Version); err != nil {
		return nil, err
	}
	r, err := opts.rules()
	if err != nil {
		return nil, err
	}
	shared, err := sharedSchemes()
	if err != nil {
		return nil, err
	}
	scheme := shared.scheme
	w := &World{
		opts:         opts,
		rules:        r,
		inv:          inv,
		rng:          rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		sched:        scheduler{now: opts.Start},
		scheme:       scheme,
		events:       map[string]string{},
		certs:        map[types.UID]*certState{},
		issuers:      map[string]bool{},
		shim:         map[string]string{},
		writes:       map[string]uint64{},
		seen:         map[string]string{},
		objectWrites: map[string]uint64{},
		translations: map[string]*listenerTranslation{},
	}
	w.log = newLogger(w, opts.Log)
	w.log.Info("model world", "seed", opts.Seed, "options", opts.String(), "inventory", inv.Source)

	w.typeConverter = shared.typeConverter
	w.api = newObjectStore(w)
	w.client = &apiClient{Client: w.api, w: w}
	w.shimEnabled = inv.CertManager.GatewayAPIEnabled
	if opts.GatewayAPIEnabled != nil {
		w.shimEnabled = *opts.GatewayAPIEnabled
	}
	w.log.Info("cert-manager gateway-shim", "enabled", w.shimEnabled, "setting", r.gatewayAPISetting,
		"acmeProfiles", r.acmeProfiles, "defaultRotationPolicy", map[bool]string{true: "Always", false: "Never"}[r.rotateKeys])
	w.acme, err = newACMEModel(w)
	if err != nil {
		return nil, err
	}
	w.pki = newPKIState()
	w.avail = newAvailability(w)
	return w, nil
}

// Client returns the Kubernetes client. Every successful write runs the
// model's controllers at the current virtual time before returning.
func (w *World) Client() client.Client { return w.client }

// Clock returns the virtual clock.
func (w *World) Clock() engine.Clock { return virtualClock{w: w} }

// Prober returns the TLS prober of the modelled data plane.
func (w *World) Prober() engine.Prober { return prober{w: w} }

// ACME returns the Let's Encrypt model's ledger.
func (w *World) ACME() engine.ACMEObserver { return acmeObserver{w: w} }

// ClientPaths lists the client path names, sorted.
func (w *World) ClientPaths() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for _, p := range w.clientPaths() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// Now returns the virtual time.
func (w *World) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sched.now
}

// Advance moves the virtual clock forward by d, running every event due.
func (w *World) Advance(d time.Duration) {
	_ = w.sleep(context.Background(), d)
}

// sleep runs the scheduler up to now+d.
func (w *World) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d < 0 {
		d = 0
	}
	err := w.sched.runUntil(ctx, w.sched.now.Add(d), w.settle)
	w.avail.observe()
	if err != nil {
		return fmt.Errorf("model: sleep interrupted at %s: %w", formatTime(w.sched.now), err)
	}
	return nil
}

// afterWrite traces an engine write and lets the controllers react.
func (w *World) afterWrite(verb string, ref objectRef) {
	w.record(traceAPI, ref.String(), "%s", verb)
	if strings.HasPrefix(verb, "delete") {
		w.gcPending = true
	}
	w.settle()
}

// settle runs the controllers in a fixed order until none of them changes
// anything, then rebuilds the data plane and accounts availability.
func (w *World) settle() {
	converged := false
	for range maxSettleRounds {
		changed := false
		if w.edgeOnly {
			changed = w.syncReflector() || changed
			changed = w.syncGatewayStatus() || changed
			if !changed {
				converged = true
				break
			}
			continue
		}
		changed = w.collectGarbage() || changed
		changed = w.syncShim() || changed
		changed = w.syncIssuers() || changed
		changed = w.syncCertificates() || changed
		changed = w.syncReflector() || changed
		changed = w.syncGatewayStatus() || changed
		if !changed {
			converged = true
			break
		}
	}
	if !converged {
		w.recordError("settle", fmt.Errorf("controllers still changing objects after %d rounds", maxSettleRounds))
	}
	w.rebuildDataplane()
	w.avail.observe()
}
