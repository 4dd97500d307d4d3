package ratelimit

import (
	"testing"
	"time"
)

// Numbers from letsencrypt.org/docs/rate-limits, which gives each limit as a
// burst per period and rounds the refill interval.
func TestLimitsMatchDocumentation(t *testing.T) {
	tests := []struct {
		name      Name
		burst     int64
		period    time.Duration
		docPer    time.Duration // refill interval as the page rounds it
		tolerance time.Duration
	}{
		{CertificatesPerDomain, 50, 168 * time.Hour, 202 * time.Minute, time.Minute},
		{DuplicateCertificate, 5, 168 * time.Hour, 34 * time.Hour, 30 * time.Minute},
		{NewOrdersPerAccount, 300, 3 * time.Hour, 36 * time.Second, 0},
		{FailedAuthorizationsPerIdentifier, 5, time.Hour, 12 * time.Minute, 0},
		{ConsecutiveAuthorizationFailures, 1152, 1152 * 24 * time.Hour, 24 * time.Hour, 0},
	}
	limits := Limits()
	if len(limits) != len(tests) {
		t.Fatalf("Limits() returned %d limits, want %d", len(limits), len(tests))
	}
	for i, tc := range tests {
		t.Run(string(tc.name), func(t *testing.T) {
			l := limits[i]
			if l.Name != tc.name {
				t.Fatalf("Limits()[%d].Name = %q, want %q", i, l.Name, tc.name)
			}
			if l.Burst != tc.burst {
				t.Errorf("Burst = %d, want %d", l.Burst, tc.burst)
			}
			if l.Period != tc.period {
				t.Errorf("Period = %v, want %v", l.Period, tc.period)
			}
			if l.Per*time.Duration(l.Burst) != l.Period {
				t.Errorf("Per*Burst = %v, want Period %v", l.Per*time.Duration(l.Burst), l.Period)
			}
			if diff := (l.Per - tc.docPer).Abs(); diff > tc.tolerance {
				t.Errorf("Per = %v, want %v within %v", l.Per, tc.docPer, tc.tolerance)
			}
			if l.Source == "" || l.Description == "" {
				t.Errorf("Source %q or Description %q is empty", l.Source, l.Description)
			}
		})
	}
}

// The registered domain is eTLD+1 by the Public Suffix List
// (letsencrypt.org/docs/rate-limits).
func TestRegisteredDomain(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{"www.example.com", "example.com", false},
		{"*.Example.COM", "example.com", false},
		{"new.blog.example.co.uk", "example.co.uk", false},
		{"example.com", "example.com", false},
		{"co.uk", "", true},
		{"", "", true},
	}
	for _, tc := range tests {
		got, err := RegisteredDomain(tc.name)
		if (err != nil) != tc.wantErr {
			t.Errorf("RegisteredDomain(%q) error = %v, want error %t", tc.name, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("RegisteredDomain(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A duplicate is the exact same set of names, ignoring order and case
// (letsencrypt.org/docs/rate-limits).
func TestNameSetKeyIgnoresOrderAndCase(t *testing.T) {
	a := NameSetKey([]string{"www.example.com", "Example.com"})
	b := NameSetKey([]string{"EXAMPLE.COM", "www.example.com", "example.com"})
	if a != b {
		t.Errorf("NameSetKey differs: %q and %q", a, b)
	}
	if want := "example.com,www.example.com"; a != want {
		t.Errorf("NameSetKey = %q, want %q", a, want)
	}
}

func TestAuthorizationKeyRoundTrip(t *testing.T) {
	account := "https://acme.example/acct/42"
	key := AuthorizationKey(account, "App.Example.com")
	gotAccount, gotIdent, err := splitAuthorizationKey(key)
	if err != nil {
		t.Fatalf("splitAuthorizationKey(%q): %v", key, err)
	}
	if gotAccount != account {
		t.Errorf("account = %q, want %q", gotAccount, account)
	}
	if gotIdent != "app.example.com" {
		t.Errorf("identifier = %q, want %q", gotIdent, "app.example.com")
	}
}
