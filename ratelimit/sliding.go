package ratelimit

import (
	"math"
	"sync"
	"time"
)

// windowLimit is a limit of the legacy model: at most Max events per key in
// any Window.
type windowLimit struct {
	Max    int
	Window time.Duration
}

// legacyLimits are Let's Encrypt's limits before the 2025 move to token
// buckets, as letsencrypt.org/docs/rate-limits stated them. Each registered
// domain got 50 certificates per week, and since March 2019 renewals were
// exempt and not counted. Each exact name set got 5 certificates per week,
// each account 300 new orders per 3 hours, and each account and hostname 5
// failed validations per hour. There was no pausing limit.
var legacyLimits = map[Name]windowLimit{
	CertificatesPerDomain:             {Max: 50, Window: 7 * 24 * time.Hour},
	DuplicateCertificate:              {Max: 5, Window: 7 * 24 * time.Hour},
	NewOrdersPerAccount:               {Max: 300, Window: 3 * time.Hour},
	FailedAuthorizationsPerIdentifier: {Max: 5, Window: time.Hour},
}

// slidingWindowModel counts events in a fixed window that slides with time,
// so a key that used its allowance waits until its oldest event leaves the
// window. At 10 certificates a day the 50-per-week cap is reached on day 5,
// and nothing more is issued until day 8.
type slidingWindowModel struct {
	mu sync.Mutex
	// events holds the event times per limit and key, oldest first.
	events map[Name]map[string][]time.Time
	issued issuedSets
	last   time.Time
}

// NewSlidingWindow returns the legacy pre-2025 Model, for comparison with the
// default one. ARI replacements skip the per-domain check like renewals, but
// the other order-time checks still apply.
func NewSlidingWindow() Model {
	return newSlidingWindowModel()
}

func newSlidingWindowModel() *slidingWindowModel {
	m := &slidingWindowModel{events: map[Name]map[string][]time.Time{}, issued: issuedSets{}}
	for name := range legacyLimits {
		m.events[name] = map[string][]time.Time{}
	}
	return m
}

func (m *slidingWindowModel) at(now time.Time) {
	if now.After(m.last) {
		m.last = now
	}
}

// inWindow returns the events of key still inside the window at now, and
// drops the older ones.
func (m *slidingWindowModel) inWindow(now time.Time, name Name, key string) []time.Time {
	start := now.Add(-legacyLimits[name].Window)
	events := m.events[name][key]
	i := 0
	for i < len(events) && !events[i].After(start) {
		i++
	}
	events = events[i:]
	if len(events) == 0 {
		delete(m.events[name], key)
	} else {
		m.events[name][key] = events
	}
	return events
}

// read returns the reading of one key for a request of cost 1.
func (m *slidingWindowModel) read(now time.Time, name Name, key string) reading {
	limit := legacyLimits[name]
	events := m.inWindow(now, name, key)
	r := reading{limit: name, key: key}
	if len(events) < limit.Max {
		r.remaining = int64(limit.Max - len(events) - 1)
		return r
	}
	// The request fits once all but Max-1 of the events have left the
	// window, so the last event that has to leave is events[len-Max].
	r.retryIn = events[len(events)-limit.Max].Add(limit.Window).Sub(now)
	return r
}

func (m *slidingWindowModel) add(now time.Time, name Name, key string) {
	m.inWindow(now, name, key)
	m.events[name][key] = append(m.events[name][key], now)
}

func (m *slidingWindowModel) CheckNewOrder(now time.Time, o Order) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	names, err := validateNames(o.Names)
	if err != nil {
		return invalid(err)
	}
	renewal := m.issued.isRenewal(now, NameSetKey(names))
	var readings []reading
	if !renewal && !o.Replaces {
		domains, err := domainBucketRefs(names)
		if err != nil {
			return invalid(err)
		}
		for _, ref := range domains {
			readings = append(readings, m.read(now, CertificatesPerDomain, ref.key))
		}
	}
	readings = append(readings,
		m.read(now, DuplicateCertificate, NameSetKey(names)),
		m.read(now, NewOrdersPerAccount, o.Account))
	for _, n := range names {
		readings = append(readings, m.read(now, FailedAuthorizationsPerIdentifier, AuthorizationKey(o.Account, authorizationIdentifier(n))))
	}
	d := decide(readings)
	d.Renewal = renewal || o.Replaces
	if d.Allowed {
		m.add(now, NewOrdersPerAccount, o.Account)
	}
	return d
}

// RecordIssuance counts the certificate once per registered domain unless it
// is a renewal, and once for its name set. It ignores an order whose names
// CheckNewOrder reports as invalid.
func (m *slidingWindowModel) RecordIssuance(now time.Time, o Order) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	names, err := validateNames(o.Names)
	if err != nil {
		return
	}
	setKey := NameSetKey(names)
	if !m.issued.isRenewal(now, setKey) {
		domains, err := domainBucketRefs(names)
		if err == nil {
			for _, ref := range domains {
				m.add(now, CertificatesPerDomain, ref.key)
			}
		}
	}
	m.add(now, DuplicateCertificate, setKey)
	m.issued.record(now, setKey)
}

func (m *slidingWindowModel) RecordAuthorizationFailure(now time.Time, account, ident string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)
	m.add(now, FailedAuthorizationsPerIdentifier, AuthorizationKey(account, authorizationIdentifier(ident)))
}

func (m *slidingWindowModel) CheckAuthorization(now time.Time, account, ident string) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)
	return decide([]reading{m.read(now, FailedAuthorizationsPerIdentifier, AuthorizationKey(account, authorizationIdentifier(ident)))})
}

// RecordAuthorizationSuccess does nothing, because the legacy limits had no
// consecutive-failure count.
func (m *slidingWindowModel) RecordAuthorizationSuccess(now time.Time, account, ident string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)
}

func (m *slidingWindowModel) IsRenewal(now time.Time, names []string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)
	return m.issued.isRenewal(now, NameSetKey(names))
}

// Remaining returns math.MaxInt64 for ConsecutiveAuthorizationFailures, which
// the legacy model does not have (Boulder reports a disabled limit the same
// way), and 0 for an unknown name.
func (m *slidingWindowModel) Remaining(now time.Time, name Name, key string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	limit, ok := legacyLimits[name]
	switch {
	case name == ConsecutiveAuthorizationFailures:
		return math.MaxInt64
	case !ok:
		return 0
	}
	return int64(max(limit.Max-len(m.inWindow(now, name, key)), 0))
}
