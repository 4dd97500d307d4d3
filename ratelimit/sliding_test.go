package ratelimit

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// issuePerDay runs a schedule of perDay new certificates a day, one an hour
// from midnight, each for a different name under example.com, and returns
// how many were issued each day.
func issuePerDay(t *testing.T, m Model, days, perDay int) []int {
	t.Helper()
	issued := make([]int, days)
	for day := range days {
		for i := range perDay {
			now := t0.Add(time.Duration(day*24+i) * time.Hour)
			o := Order{Account: "acct-a", Names: []string{fmt.Sprintf("d%d-%d.example.com", day, i)}}
			d := issue(m, now, o)
			if d.Error != "" {
				t.Errorf("%T day %d order %d: %s", m, day+1, i+1, d.Error)
			}
			if d.Allowed {
				issued[day]++
			}
		}
	}
	return issued
}

// Before 2025 Let's Encrypt counted 50 certificates per registered domain in
// a sliding 7-day window, so at 10 a day the cap came on day 5
// (letsencrypt.org/docs/rate-limits as of 2024, before the 2025 token
// bucket).
func TestSlidingWindowCapOnDay5(t *testing.T) {
	m := NewSlidingWindow()
	for day := range 5 {
		for i := range 10 {
			now := t0.Add(time.Duration(day*24+i) * time.Hour)
			o := Order{Account: "acct-a", Names: []string{fmt.Sprintf("d%d-%d.example.com", day, i)}}
			if d := issue(m, now, o); !d.Allowed {
				t.Fatalf("day %d certificate %d refused: %+v", day+1, i+1, d)
			}
		}
	}
	if got := m.Remaining(t0.Add(4*24*time.Hour+10*time.Hour), CertificatesPerDomain, "example.com"); got != 0 {
		t.Errorf("Remaining after day 5 = %d, want 0", got)
	}
	now := t0.Add(5 * 24 * time.Hour)
	d := m.CheckNewOrder(now, Order{Account: "acct-a", Names: []string{"d5-0.example.com"}})
	if d.Allowed {
		t.Fatalf("day 6 certificate allowed: %+v", d)
	}
	if d.Limit != CertificatesPerDomain || d.Key != "example.com" {
		t.Errorf("refused by %s %q, want %s example.com", d.Limit, d.Key, CertificatesPerDomain)
	}
	// The first certificate of day 1 leaves the window 7 days after it was
	// issued, 2 days after day 6 starts.
	if d.RetryIn != 48*time.Hour {
		t.Errorf("RetryIn = %v, want 48h", d.RetryIn)
	}
}

// The same 10-a-day schedule over 16 days on both models. Sliding window: 50
// in any 7 days, so days 6-7 and 13-14 issue nothing, 120 in total. Token
// bucket (letsencrypt.org/docs/rate-limits): by hour 9 of day k (from 0) the
// bucket has given 50 + floor((24k+9)h / 201.6min) tokens. That covers the
// 10(k+1) requested through k=14 and gives 159 of the 160 requested by k=15,
// the 16th day.
func TestSlidingWindowComparedWithTokenBucket(t *testing.T) {
	const days = 16
	sliding := issuePerDay(t, NewSlidingWindow(), days, 10)
	bucket := issuePerDay(t, newTestModel(t), days, 10)

	wantSliding := []int{10, 10, 10, 10, 10, 0, 0, 10, 10, 10, 10, 10, 0, 0, 10, 10}
	wantBucket := []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9}
	if !slices.Equal(sliding, wantSliding) {
		t.Errorf("sliding window issued per day %v, want %v", sliding, wantSliding)
	}
	if !slices.Equal(bucket, wantBucket) {
		t.Errorf("token bucket issued per day %v, want %v", bucket, wantBucket)
	}
	sum := func(s []int) (n int) {
		for _, v := range s {
			n += v
		}
		return n
	}
	if got := sum(sliding); got != 120 {
		t.Errorf("sliding window issued %d in total, want 120", got)
	}
	if got := sum(bucket); got != 159 {
		t.Errorf("token bucket issued %d in total, want 159", got)
	}
}

// Renewals were exempt from the per-domain limit and not counted, but
// duplicates were 5 a week, renewals included (letsencrypt.org/docs/rate-limits as of
// 2024).
func TestSlidingWindowRenewalsAndDuplicates(t *testing.T) {
	m := NewSlidingWindow()
	for i := range 50 {
		issue(m, t0, appOrder("acct-a", i))
	}
	o := appOrder("acct-b", 3)
	for i := range 4 {
		d := issue(m, t0.Add(time.Duration(i)*time.Hour), o)
		if !d.Allowed || !d.Renewal {
			t.Fatalf("renewal %d: %+v, want allowed as a renewal", i+1, d)
		}
	}
	d := m.CheckNewOrder(t0.Add(4*time.Hour), o)
	if d.Allowed || d.Limit != DuplicateCertificate {
		t.Fatalf("6th duplicate: %+v, want refused by %s", d, DuplicateCertificate)
	}
	if d.RetryIn != 7*24*time.Hour-4*time.Hour {
		t.Errorf("RetryIn = %v, want 164h", d.RetryIn)
	}
	if got := m.Remaining(t0, CertificatesPerDomain, "example.com"); got != 0 {
		t.Errorf("Remaining(example.com) = %d, want 0 (renewals not counted, 50 new)", got)
	}
}

// 5 failed validations per account per hostname per hour
// (letsencrypt.org/docs/rate-limits as of 2024).
func TestSlidingWindowFailedAuthorizations(t *testing.T) {
	m := NewSlidingWindow()
	for i := range 5 {
		m.RecordAuthorizationFailure(t0.Add(time.Duration(i)*time.Minute), "acct-a", "app.example.com")
	}
	d := m.CheckAuthorization(t0.Add(5*time.Minute), "acct-a", "app.example.com")
	if d.Allowed || d.Limit != FailedAuthorizationsPerIdentifier {
		t.Fatalf("6th authorization: %+v, want refused by %s", d, FailedAuthorizationsPerIdentifier)
	}
	if d.RetryIn != 55*time.Minute {
		t.Errorf("RetryIn = %v, want 55m", d.RetryIn)
	}
	if d := m.CheckAuthorization(t0.Add(time.Hour), "acct-a", "app.example.com"); !d.Allowed {
		t.Errorf("authorization an hour later refused: %+v", d)
	}
}
