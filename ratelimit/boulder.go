package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jmhodges/clock"
	"github.com/letsencrypt/boulder/identifier"
	blog "github.com/letsencrypt/boulder/log"
	"github.com/letsencrypt/boulder/ratelimits"
)

// boulderModel decides with Boulder's ratelimits package: its transaction
// builder, its GCRA limiter and its in-memory store, on a fake clock that
// every method sets to the time of the event. It follows the calls that
// Boulder's WFE and RA make (wfe2/wfe.go, ra/ra.go, v0.20260921.0).
type boulderModel struct {
	// mu serialises the methods, because each one sets the shared clock.
	mu      sync.Mutex
	clk     clock.FakeClock
	source  *trackedSource
	limiter *ratelimits.Limiter
	builder *ratelimits.TransactionBuilder
	limits  map[Name]Limit
	issued  issuedSets
	// last is the latest event time, used to drop expired state from
	// snapshots.
	last time.Time
}

// NewModel returns the default Model, which decides Let's Encrypt's limits
// with Boulder's own limiter code configured from Limits.
func NewModel() (Model, error) {
	return newBoulderModel()
}

func newBoulderModel() (*boulderModel, error) {
	limits := Limits()
	// A nil Prometheus registerer leaves Boulder's metrics unregistered. The
	// logger is only used when loading overrides, which certwave never does.
	builder, err := ratelimits.NewTransactionBuilder(boulderDefaults(limits), nil, nil, blog.NewMock())
	if err != nil {
		return nil, fmt.Errorf("ratelimit: configuring Boulder's limits: %w", err)
	}
	clk := clock.NewFake()
	source := newTrackedSource()
	limiter, err := ratelimits.NewLimiter(clk, source, nil)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: creating Boulder's limiter: %w", err)
	}
	m := &boulderModel{
		clk:     clk,
		source:  source,
		limiter: limiter,
		builder: builder,
		limits:  map[Name]Limit{},
		issued:  issuedSets{},
	}
	for _, l := range limits {
		m.limits[l.Name] = l
	}
	return m, nil
}

// at sets the clock to now. Callers hold mu.
func (m *boulderModel) at(now time.Time) {
	m.clk.Set(now)
	if now.After(m.last) {
		m.last = now
	}
}

// read returns the readings of the buckets at now.
func (m *boulderModel) read(now time.Time, refs []bucketRef) ([]reading, error) {
	keys := make([]string, len(refs))
	for i, ref := range refs {
		keys[i] = ref.boulderKey
	}
	tats, err := m.source.BatchGet(context.Background(), keys)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: reading buckets failed: %w", err)
	}
	readings := make([]reading, len(refs))
	for i, ref := range refs {
		tat, found := tats[ref.boulderKey]
		readings[i] = readBucket(m.limits[ref.limit], ref.key, tat, found, now)
	}
	return readings, nil
}

// allowedBy reports Boulder's verdict for a decision of its limiter.
func allowedBy(d *ratelimits.Decision, now time.Time) bool {
	return d.Result(now) == nil
}

// verdict combines Boulder's verdict with the readings that explain it.
func verdict(allowed bool, readings []reading) Decision {
	d := decide(readings)
	if d.Allowed == allowed {
		return d
	}
	// The readings use Boulder's arithmetic, so this means a bucket was
	// missed; report the mismatch rather than a wrong reason.
	d.Allowed = allowed
	d.RetryIn = 0
	d.Error = fmt.Sprintf("ratelimit: Boulder decided allowed=%t but the bucket readings disagree", allowed)
	return d
}

// orderRefs returns the buckets Boulder's NewOrderLimitTransactions checks
// for an order, in the tie-break order of decide.
//
// NOTE: Boulder checks failed authorizations at order time under the order's
// names as written, so "*.example.com" is checked in a different bucket
// from the one that failures of its authorization (for "example.com") fill.
// The model keeps that behaviour.
func orderRefs(account string, names []string, renewal bool) ([]bucketRef, error) {
	var refs []bucketRef
	if !renewal {
		domains, err := domainBucketRefs(names)
		if err != nil {
			return nil, err
		}
		refs = append(refs, domains...)
	}
	dup, err := newBucketRef(DuplicateCertificate, NameSetKey(names))
	if err != nil {
		return nil, err
	}
	refs = append(refs, dup)
	if !renewal {
		orders, err := newBucketRef(NewOrdersPerAccount, account)
		if err != nil {
			return nil, err
		}
		refs = append(refs, orders)
	}
	for _, n := range names {
		ref, err := newBucketRef(FailedAuthorizationsPerIdentifier, AuthorizationKey(account, n))
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

func (m *boulderModel) CheckNewOrder(now time.Time, o Order) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	d, err := m.checkNewOrder(now, o)
	if err != nil {
		return invalid(err)
	}
	return d
}

func (m *boulderModel) checkNewOrder(now time.Time, o Order) (Decision, error) {
	names, err := validateNames(o.Names)
	if err != nil {
		return Decision{}, err
	}
	regID := registrationID(o.Account)
	renewal := m.issued.isRenewal(now, NameSetKey(names))

	// Let's Encrypt's WFE refuses paused identifiers before any other check,
	// ARI replacements included.
	pausing, err := pausingRefs(o.Account, names)
	if err != nil {
		return Decision{}, err
	}
	paused, err := m.checkPaused(now, regID, pausing)
	if err != nil {
		return Decision{}, err
	}

	// An ARI replacement skips every order-time limit (wfe2/wfe.go).
	if o.Replaces && !paused {
		return Decision{Allowed: true, Renewal: true}, nil
	}

	refs, err := orderRefs(o.Account, names, renewal || o.Replaces)
	if err != nil {
		return Decision{}, err
	}
	if paused {
		readings, err := m.read(now, append(refs, pausing...))
		if err != nil {
			return Decision{}, err
		}
		return verdict(false, readings), nil
	}

	readings, err := m.read(now, refs)
	if err != nil {
		return Decision{}, err
	}
	txns, err := m.builder.NewOrderLimitTransactions(regID, identifier.NewDNSSlice(names), renewal)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: building new-order transactions failed: %w", err)
	}
	// BatchSpend spends the new-order token only when every check passes.
	bd, err := m.limiter.BatchSpend(context.Background(), txns)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: spending new-order limits failed: %w", err)
	}
	d := verdict(allowedBy(bd, now), readings)
	d.Renewal = renewal
	return d, nil
}

// RecordIssuance ignores an order whose names CheckNewOrder reports as
// invalid, because the interface has no error result.
func (m *boulderModel) RecordIssuance(now time.Time, o Order) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	names, err := validateNames(o.Names)
	if err != nil {
		return
	}
	setKey := NameSetKey(names)
	regID := registrationID(o.Account)
	// Boulder's RA charges by the name-set history alone, so an ARI
	// replacement of a different name set pays per-domain tokens (ra/ra.go).
	var txns []ratelimits.Transaction
	if !m.issued.isRenewal(now, setKey) {
		domainTxns, err := m.builder.CertificatesPerDomainSpendOnlyTransactions(regID, identifier.NewDNSSlice(names))
		if err == nil {
			txns = append(txns, domainTxns...)
		}
	}
	if dupTxn, err := m.builder.CertificatesPerFQDNSetSpendOnlyTransaction(identifier.NewDNSSlice(names)); err == nil {
		txns = append(txns, dupTxn)
	}
	// Spend-only transactions are best effort, so an empty bucket stays empty.
	_, _ = m.limiter.BatchSpend(context.Background(), txns)
	m.issued.record(now, setKey)
}

func (m *boulderModel) IsRenewal(now time.Time, names []string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)
	return m.issued.isRenewal(now, NameSetKey(names))
}

func (m *boulderModel) Remaining(now time.Time, name Name, key string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	ref, err := newBucketRef(name, key)
	if err != nil {
		return 0
	}
	readings, err := m.read(now, []bucketRef{ref})
	if err != nil {
		return 0
	}
	r := readings[0]
	if r.refuses() {
		return r.remaining
	}
	// The reading counts what is left after one more request.
	return r.remaining + 1
}
