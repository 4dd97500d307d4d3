package plan

import (
	"testing"
	"time"
)

var issued = time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)

func TestRenewalTimeClassicWithRequestedDuration(t *testing.T) {
	notAfter := issued.Add(90 * day)

	// duration 168h with renewBefore 56h (one third of the requested 168h):
	// renewBefore is shorter than the real 90-day lifetime, so it applies.
	got := RenewalTime(issued, notAfter, 56*time.Hour, nil)
	if want := issued.Add(87*day + 16*time.Hour); !got.Equal(want) {
		t.Errorf("RenewalTime(90d, renewBefore 56h) = %s, want %s (day 87.7, \"day 88\")", got, want)
	}

	// duration 168h with renewBefore unset: cert-manager ignores the
	// requested duration and renews two thirds into the real lifetime.
	got = RenewalTime(issued, notAfter, 0, nil)
	if want := issued.Add(60 * day); !got.Equal(want) {
		t.Errorf("RenewalTime(90d, renewBefore unset) = %s, want %s (day 60)", got, want)
	}
}

func TestRenewalTimeShortLived(t *testing.T) {
	notAfter := issued.Add(160 * time.Hour)

	// renewBefore unset: two thirds of 160 h = 106h40m, 4.44 days. The
	// "about every 4.7 days" of the runbook is not what this rule gives; 4.7
	// days needs renewBeforePercentage 30 (112 h, 4.67 days) or a
	// renewBefore of about 47 h.
	got := RenewalTime(issued, notAfter, 0, nil)
	if want := issued.Add(106*time.Hour + 40*time.Minute); !got.Equal(want) {
		t.Errorf("RenewalTime(160h, unset) = %s, want %s", got, want)
	}

	got = RenewalTime(issued, notAfter, 56*time.Hour, nil)
	if want := issued.Add(104 * time.Hour); !got.Equal(want) {
		t.Errorf("RenewalTime(160h, renewBefore 56h) = %s, want %s (4.33 days)", got, want)
	}

	pct := int32(30)
	got = RenewalTime(issued, notAfter, 0, &pct)
	if want := issued.Add(112 * time.Hour); !got.Equal(want) {
		t.Errorf("RenewalTime(160h, 30%%) = %s, want %s (4.67 days)", got, want)
	}
}

func TestRenewalTimeFallbacks(t *testing.T) {
	notAfter := issued.Add(160 * time.Hour)

	// A renewBefore not shorter than the real lifetime falls back to a third.
	got := RenewalTime(issued, notAfter, 168*time.Hour, nil)
	if want := issued.Add(106*time.Hour + 40*time.Minute); !got.Equal(want) {
		t.Errorf("RenewalTime(renewBefore 168h > lifetime) = %s, want %s", got, want)
	}

	// A percentage outside (0, 100) is ignored.
	for _, p := range []int32{0, 100, 120} {
		pct := p
		got = RenewalTime(issued, notAfter, 0, &pct)
		if want := issued.Add(106*time.Hour + 40*time.Minute); !got.Equal(want) {
			t.Errorf("RenewalTime(%d%%) = %s, want the default %s", p, got, want)
		}
	}

	// renewBefore wins over a percentage.
	pct := int32(50)
	got = RenewalTime(issued, notAfter, 10*time.Hour, &pct)
	if want := issued.Add(150 * time.Hour); !got.Equal(want) {
		t.Errorf("RenewalTime(10h and 50%%) = %s, want %s", got, want)
	}
}

func TestRenewalTimeTruncatesToSecond(t *testing.T) {
	notAfter := issued.Add(90*day + 1500*time.Millisecond)
	got := RenewalTime(issued, notAfter, time.Hour, nil)
	if got.Nanosecond() != 0 {
		t.Errorf("RenewalTime = %s, want a whole second", got)
	}
}

func TestProfileLifetime(t *testing.T) {
	cases := []struct {
		profile string
		at      time.Time
		want    time.Duration
	}{
		{"classic", time.Date(2027, 2, 9, 23, 59, 0, 0, time.UTC), 90 * day},
		{"classic", time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC), 64 * day},
		{"", time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC), 64 * day},
		{"classic", time.Date(2028, 2, 16, 0, 0, 0, 0, time.UTC), 45 * day},
		{"tlsserver", time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC), 90 * day},
		{"tlsserver", time.Date(2026, 5, 13, 0, 0, 0, 0, time.UTC), 45 * day},
		{"shortlived", issued, 160 * time.Hour},
		{"tls-client", issued, 0},
	}
	for _, c := range cases {
		if got := ProfileLifetime(c.profile, c.at); got != c.want {
			t.Errorf("ProfileLifetime(%q, %s) = %s, want %s", c.profile, c.at.Format(time.DateOnly), got, c.want)
		}
	}
}

func TestAuthorizationReuse(t *testing.T) {
	if got := AuthorizationReuse(ProfileClassic); got != 30*day {
		t.Errorf("classic = %s, want 720h", got)
	}
	if got := AuthorizationReuse(ProfileShortLived); got != 7*time.Hour {
		t.Errorf("shortlived = %s, want 7h", got)
	}
}
