package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func newTestModel(t testing.TB) Model {
	t.Helper()
	m, err := NewModel()
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	return m
}

// issue checks a new order and records its issuance when it is allowed.
func issue(m Model, now time.Time, o Order) Decision {
	d := m.CheckNewOrder(now, o)
	if d.Allowed {
		m.RecordIssuance(now, o)
	}
	return d
}

// appOrder is an order for the certificate of app i under example.com.
func appOrder(account string, i int) Order {
	return Order{Account: account, Names: []string{fmt.Sprintf("app%d.example.com", i), fmt.Sprintf("www.app%d.example.com", i)}}
}

// fillDomain issues 50 new certificates under example.com at now, which
// empties its CertificatesPerDomain bucket.
func fillDomain(t *testing.T, m Model, now time.Time, account string) {
	t.Helper()
	for i := range 50 {
		if d := issue(m, now, appOrder(account, i)); !d.Allowed {
			t.Fatalf("certificate %d refused: %+v", i+1, d)
		}
	}
}

// 50 certificates per registered domain, one back every 202 minutes
// (letsencrypt.org/docs/rate-limits).
func TestCertificatesPerDomain51stRefused(t *testing.T) {
	m := newTestModel(t)
	fillDomain(t, m, t0, "acct-a")

	d := m.CheckNewOrder(t0, appOrder("acct-a", 50))
	if d.Allowed {
		t.Fatalf("51st certificate allowed: %+v", d)
	}
	if d.Limit != CertificatesPerDomain {
		t.Errorf("Limit = %q, want %q", d.Limit, CertificatesPerDomain)
	}
	if d.Key != "example.com" {
		t.Errorf("Key = %q, want example.com", d.Key)
	}
	if d.Remaining != 0 {
		t.Errorf("Remaining = %d, want 0", d.Remaining)
	}
	if diff := (d.RetryIn - 202*time.Minute).Abs(); diff > time.Minute {
		t.Errorf("RetryIn = %v, want 3h22m within a minute", d.RetryIn)
	}
	if got := m.Remaining(t0, CertificatesPerDomain, "example.com"); got != 0 {
		t.Errorf("Remaining(example.com) = %d, want 0", got)
	}
}

// Tokens come back one every 202 minutes (201m36s exactly, 168h/50)
// (letsencrypt.org/docs/rate-limits).
func TestCertificatesPerDomainTokenComesBack(t *testing.T) {
	m := newTestModel(t)
	fillDomain(t, m, t0, "acct-a")

	if d := m.CheckNewOrder(t0.Add(201*time.Minute), appOrder("acct-a", 50)); d.Allowed {
		t.Fatalf("certificate allowed after 201 min: %+v", d)
	}
	after := t0.Add(202 * time.Minute)
	if d := issue(m, after, appOrder("acct-a", 50)); !d.Allowed {
		t.Fatalf("certificate refused after 202 min: %+v", d)
	}
	d := m.CheckNewOrder(after, appOrder("acct-a", 51))
	if d.Allowed || d.Limit != CertificatesPerDomain {
		t.Errorf("second certificate after 202 min: %+v, want refused by %s", d, CertificatesPerDomain)
	}
}

// A renewal, the exact name set issued to any account in the last 120 days,
// is neither checked nor charged per registered domain
// (letsencrypt.org/docs/rate-limits).
func TestRenewalPassesWhileDomainBucketEmpty(t *testing.T) {
	m := newTestModel(t)
	fillDomain(t, m, t0, "acct-a")
	later := t0.Add(24 * time.Hour)

	renewal := Order{Account: "acct-b", Names: []string{"WWW.APP7.example.com", "app7.EXAMPLE.com"}}
	if !m.IsRenewal(later, renewal.Names) {
		t.Fatalf("IsRenewal(%v) = false, want true", renewal.Names)
	}
	d := issue(m, later, renewal)
	if !d.Allowed {
		t.Fatalf("renewal refused: %+v", d)
	}
	if !d.Renewal {
		t.Errorf("Renewal = false, want true")
	}
	// One day refilled 7 tokens (1440 min / 201.6 min). The renewal took none.
	if got := m.Remaining(later, CertificatesPerDomain, "example.com"); got != 7 {
		t.Errorf("Remaining(example.com) = %d, want 7", got)
	}
	if got := m.Remaining(later, NewOrdersPerAccount, "acct-b"); got != 300 {
		t.Errorf("Remaining(new orders, acct-b) = %d, want 300 (renewals are exempt)", got)
	}
}

// 5 certificates per exact name set, one back every 34 hours, and renewals
// count
// (letsencrypt.org/docs/rate-limits).
func TestDuplicateCertificate6thRefused(t *testing.T) {
	m := newTestModel(t)
	o := appOrder("acct-a", 1)
	for i := range 5 {
		if d := issue(m, t0, o); !d.Allowed {
			t.Fatalf("duplicate %d refused: %+v", i+1, d)
		}
	}
	d := m.CheckNewOrder(t0, o)
	if d.Allowed {
		t.Fatalf("6th duplicate allowed: %+v", d)
	}
	if d.Limit != DuplicateCertificate {
		t.Errorf("Limit = %q, want %q", d.Limit, DuplicateCertificate)
	}
	if want := NameSetKey(o.Names); d.Key != want {
		t.Errorf("Key = %q, want %q", d.Key, want)
	}
	if !d.Renewal {
		t.Errorf("Renewal = false, want true")
	}
	if diff := (d.RetryIn - 34*time.Hour).Abs(); diff > 30*time.Minute {
		t.Errorf("RetryIn = %v, want about 34h", d.RetryIn)
	}
	if d.RetryIn != 33*time.Hour+36*time.Minute {
		t.Errorf("RetryIn = %v, want 33h36m (168h/5)", d.RetryIn)
	}
}

// 5 failed authorizations per identifier per account, one back every 12
// minutes (letsencrypt.org/docs/rate-limits).
func TestFailedAuthorization6thRefused(t *testing.T) {
	m := newTestModel(t)
	const account, ident = "acct-a", "app.example.com"
	for i := range 5 {
		now := t0.Add(time.Duration(i) * time.Minute)
		if d := m.CheckAuthorization(now, account, ident); !d.Allowed {
			t.Fatalf("authorization %d refused: %+v", i+1, d)
		}
		m.RecordAuthorizationFailure(now, account, ident)
	}
	now := t0.Add(5 * time.Minute)
	d := m.CheckAuthorization(now, account, ident)
	if d.Allowed {
		t.Fatalf("6th authorization allowed: %+v", d)
	}
	if d.Limit != FailedAuthorizationsPerIdentifier {
		t.Errorf("Limit = %q, want %q", d.Limit, FailedAuthorizationsPerIdentifier)
	}
	if want := AuthorizationKey(account, ident); d.Key != want {
		t.Errorf("Key = %q, want %q", d.Key, want)
	}
	// Five spends at minutes 0-4 use up the hour that started at minute 0.
	// At minute 5 one token needs 7 more minutes.
	if d.RetryIn != 7*time.Minute {
		t.Errorf("RetryIn = %v, want 7m", d.RetryIn)
	}
	order := m.CheckNewOrder(now, Order{Account: account, Names: []string{ident}})
	if order.Allowed || order.Limit != FailedAuthorizationsPerIdentifier {
		t.Errorf("new order for the identifier: %+v, want refused by %s", order, FailedAuthorizationsPerIdentifier)
	}
	if other := m.CheckAuthorization(now, "acct-b", ident); !other.Allowed {
		t.Errorf("another account refused: %+v", other)
	}
}

// 1,152 consecutive failures pause the identifier and a success resets the
// count (letsencrypt.org/docs/rate-limits).
func TestConsecutiveFailuresPauseIdentifier(t *testing.T) {
	m := newTestModel(t)
	const account, ident = "acct-a", "app.example.com"
	for range 1152 {
		m.RecordAuthorizationFailure(t0, account, ident)
	}
	d := m.CheckAuthorization(t0, account, ident)
	if d.Allowed || d.Limit != ConsecutiveAuthorizationFailures {
		t.Fatalf("authorization after 1152 failures: %+v, want refused by %s", d, ConsecutiveAuthorizationFailures)
	}
	if d.RetryIn != 24*time.Hour {
		t.Errorf("RetryIn = %v, want 24h", d.RetryIn)
	}
	order := m.CheckNewOrder(t0, Order{Account: account, Names: []string{"*." + ident}, Replaces: true})
	if order.Allowed || order.Limit != ConsecutiveAuthorizationFailures {
		t.Errorf("ARI order for a paused identifier: %+v, want refused by %s", order, ConsecutiveAuthorizationFailures)
	}

	m.RecordAuthorizationSuccess(t0, account, ident)
	d = m.CheckAuthorization(t0, account, ident)
	if d.Allowed || d.Limit != FailedAuthorizationsPerIdentifier {
		t.Errorf("authorization after reset: %+v, want refused by %s only", d, FailedAuthorizationsPerIdentifier)
	}
	if got := m.Remaining(t0, ConsecutiveAuthorizationFailures, AuthorizationKey(account, ident)); got != 1152 {
		t.Errorf("Remaining(pausing) after reset = %d, want 1152", got)
	}
	if d := m.CheckAuthorization(t0.Add(time.Hour), account, ident); !d.Allowed {
		t.Errorf("authorization an hour after reset refused: %+v", d)
	}
}

// Each registered domain in a certificate costs one token
// (letsencrypt.org/docs/rate-limits).
func TestMultipleRegisteredDomainsSpendOneEach(t *testing.T) {
	m := newTestModel(t)
	o := Order{Account: "acct-a", Names: []string{"a.example.com", "b.example.com", "example.org", "www.example.org", "shop.example.co.uk"}}
	if d := issue(m, t0, o); !d.Allowed {
		t.Fatalf("order refused: %+v", d)
	}
	want := map[string]int64{"example.com": 49, "example.org": 49, "example.co.uk": 49, "example.net": 50}
	for domain, remaining := range want {
		if got := m.Remaining(t0, CertificatesPerDomain, domain); got != remaining {
			t.Errorf("Remaining(%s) = %d, want %d", domain, got, remaining)
		}
	}
}

// With several limits hit, Let's Encrypt reports the latest reset
// (letsencrypt.org/docs/rate-limits).
func TestSeveralRefusalsReportLatestReset(t *testing.T) {
	tests := []struct {
		name        string
		failAt      time.Duration // after t0, when the 5 failures happen
		checkAt     time.Duration
		wantLimit   Name
		wantKey     string
		wantRetryIn time.Duration
	}{
		{
			// Per-domain: 201m36s - 5m. Failed authorizations: 12m - 5m.
			name: "per-domain later", failAt: 0, checkAt: 5 * time.Minute,
			wantLimit: CertificatesPerDomain, wantKey: "example.com", wantRetryIn: 196*time.Minute + 36*time.Second,
		},
		{
			// Per-domain: 201m36s - 200m. Failed authorizations: 12m.
			name: "failed authorizations later", failAt: 200 * time.Minute, checkAt: 200 * time.Minute,
			wantLimit: FailedAuthorizationsPerIdentifier, wantKey: AuthorizationKey("acct-a", "new.example.com"), wantRetryIn: 12 * time.Minute,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t)
			fillDomain(t, m, t0, "acct-b")
			for range 5 {
				m.RecordAuthorizationFailure(t0.Add(tc.failAt), "acct-a", "new.example.com")
			}
			d := m.CheckNewOrder(t0.Add(tc.checkAt), Order{Account: "acct-a", Names: []string{"new.example.com"}})
			if d.Allowed {
				t.Fatalf("order allowed: %+v", d)
			}
			if d.Limit != tc.wantLimit {
				t.Errorf("Limit = %q, want %q", d.Limit, tc.wantLimit)
			}
			if d.Key != tc.wantKey {
				t.Errorf("Key = %q, want %q", d.Key, tc.wantKey)
			}
			if d.RetryIn != tc.wantRetryIn {
				t.Errorf("RetryIn = %v, want %v", d.RetryIn, tc.wantRetryIn)
			}
		})
	}
}

// The renewal exemption looks back 120 days (Boulder wfe2/wfe.go and
// ra/ra.go query FQDNSetTimestampsForWindow with 120 days).
func TestRenewalWindow(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want bool
	}{
		{119 * 24 * time.Hour, true},
		{120 * 24 * time.Hour, false},
		{121 * 24 * time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.age.String(), func(t *testing.T) {
			m := newTestModel(t)
			o := appOrder("acct-a", 1)
			issue(m, t0, o)
			now := t0.Add(tc.age)
			if got := m.IsRenewal(now, o.Names); got != tc.want {
				t.Errorf("IsRenewal = %t, want %t", got, tc.want)
			}
			if got := m.CheckNewOrder(now, o).Renewal; got != tc.want {
				t.Errorf("CheckNewOrder().Renewal = %t, want %t", got, tc.want)
			}
		})
	}
}

// An ARI replacement skips every order-time limit (Boulder wfe2/wfe.go
// NewOrder), but at issuance Boulder's RA charges per registered domain
// unless the exact name set is a renewal (ra/ra.go countCertificateIssued).
func TestARIReplacementSkipsOrderChecks(t *testing.T) {
	m := newTestModel(t)
	fillDomain(t, m, t0, "acct-a")

	d := m.CheckNewOrder(t0, Order{Account: "acct-a", Names: []string{"new.example.com"}, Replaces: true})
	if !d.Allowed || !d.Renewal {
		t.Fatalf("ARI replacement: %+v, want allowed as a renewal", d)
	}
	if got := m.Remaining(t0, NewOrdersPerAccount, "acct-a"); got != 250 {
		t.Errorf("Remaining(new orders) = %d, want 250 (the replacement spends none)", got)
	}
	replacement := Order{Account: "acct-a", Names: []string{"new.example.net"}, Replaces: true}
	m.RecordIssuance(t0, replacement)
	if got := m.Remaining(t0, CertificatesPerDomain, "example.net"); got != 49 {
		t.Errorf("Remaining(example.net) = %d, want 49", got)
	}
}

func TestAllowedOrderReportsTightestBucket(t *testing.T) {
	m := newTestModel(t)
	d := m.CheckNewOrder(t0, Order{Account: "acct-a", Names: []string{"app.example.com"}})
	if !d.Allowed {
		t.Fatalf("order refused: %+v", d)
	}
	// After this order: 49 per domain, 4 duplicates, 299 orders and 4
	// failed authorizations. The tie goes to the duplicate bucket.
	if d.Limit != DuplicateCertificate || d.Remaining != 4 {
		t.Errorf("Decision = %+v, want %s with 4 remaining", d, DuplicateCertificate)
	}
	if got := m.Remaining(t0, NewOrdersPerAccount, "acct-a"); got != 299 {
		t.Errorf("Remaining(new orders) = %d, want 299", got)
	}
}

func TestInvalidOrderRefused(t *testing.T) {
	for _, m := range []Model{newTestModel(t), NewSlidingWindow()} {
		for _, names := range [][]string{nil, {"app.example.com", ""}} {
			d := m.CheckNewOrder(t0, Order{Account: "acct-a", Names: names})
			if d.Allowed {
				t.Errorf("%T order %q allowed: %+v", m, names, d)
			}
			if d.Error == "" {
				t.Errorf("%T order %q: Error is empty", m, names)
			}
			if d.Limit != "" {
				t.Errorf("%T order %q: Limit = %q, want none", m, names, d.Limit)
			}
		}
	}
}

// The bucket keys built here must be the keys Boulder's transactions write.
func TestBucketKeysMatchBoulder(t *testing.T) {
	m, err := newBoulderModel()
	if err != nil {
		t.Fatal(err)
	}
	o := Order{Account: "acct-a", Names: []string{"app.example.com"}}
	issue(m, t0, o)
	m.RecordAuthorizationFailure(t0, "acct-a", "*.app.example.com")

	want := map[string]bool{}
	for _, tc := range []struct {
		limit Name
		key   string
	}{
		{CertificatesPerDomain, "example.com"},
		{DuplicateCertificate, NameSetKey(o.Names)},
		{NewOrdersPerAccount, "acct-a"},
		{FailedAuthorizationsPerIdentifier, AuthorizationKey("acct-a", "app.example.com")},
		{ConsecutiveAuthorizationFailures, AuthorizationKey("acct-a", "app.example.com")},
	} {
		ref, err := newBucketRef(tc.limit, tc.key)
		if err != nil {
			t.Fatalf("newBucketRef(%s, %q): %v", tc.limit, tc.key, err)
		}
		want[ref.boulderKey] = true
	}
	got := map[string]bool{}
	for _, k := range m.source.trackedKeys() {
		got[k] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("Boulder wrote no bucket %q (wrote %v)", k, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Boulder wrote %d buckets %v, want %d", len(got), got, len(want))
	}
}

func BenchmarkCheckNewOrder(b *testing.B) {
	m := newTestModel(b)
	now := t0
	for i := 0; b.Loop(); i++ {
		// One order a minute stays under 300 orders per 3 hours.
		now = now.Add(time.Minute)
		m.CheckNewOrder(now, appOrder("acct-a", i))
	}
}
