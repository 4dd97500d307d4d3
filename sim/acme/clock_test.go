package acme

import (
	"testing"
	"time"
)

func TestModelClockScales(t *testing.T) {
	wall := newFakeClock()
	start := wall.Now()
	c, err := newModelClock(wall.Now, 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	wall.Advance(time.Minute)
	if got, want := c.Now(), start.Add(time.Hour); !got.Equal(want) {
		t.Errorf("model time after one wall minute = %s, want %s", got, want)
	}
	if got := c.retryAfterSeconds(time.Hour + time.Millisecond); got != 61 {
		t.Errorf("retryAfterSeconds(1h1ms) = %d, want 61 (rounded up)", got)
	}
	if got := c.retryAfterSeconds(0); got != 1 {
		t.Errorf("retryAfterSeconds(0) = %d, want at least 1", got)
	}
}

func TestModelClockNeverGoesBack(t *testing.T) {
	wall := newFakeClock()
	c, err := newModelClock(wall.Now, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	wall.Advance(time.Hour)
	later := c.Now()
	wall.Advance(-30 * time.Minute)
	if got := c.Now(); got.Before(later) {
		t.Errorf("model time went back from %s to %s when the wall clock did", later, got)
	}
}

func TestModelClockRestartKeepsModelTime(t *testing.T) {
	wall := newFakeClock()
	first, err := newModelClock(wall.Now, 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	wall.Advance(time.Minute)
	saved := first.snapshot()

	// The front is down for a minute, then restarts at scale 120.
	wall.Advance(time.Minute)
	second, err := newModelClock(wall.Now, 120, &saved)
	if err != nil {
		t.Fatal(err)
	}
	start := saved.ModelAnchor
	if got, want := second.Now(), start.Add(2*time.Hour); !got.Equal(want) {
		t.Errorf("model time at restart = %s, want %s (two wall minutes at scale 60)", got, want)
	}
	wall.Advance(time.Minute)
	if got, want := second.Now(), start.Add(4*time.Hour); !got.Equal(want) {
		t.Errorf("model time a minute after restart = %s, want %s (the new scale)", got, want)
	}
}

func TestLetsEncryptProfiles(t *testing.T) {
	tests := []struct {
		at                    time.Time
		classic, tlsServer    time.Duration
		shortLivedValiditySec uint64
	}{
		{time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC), 90 * day, 90 * day, 576000},
		{time.Date(2026, time.December, 7, 0, 0, 0, 0, time.UTC), 90 * day, 45 * day, 576000},
		{time.Date(2027, time.March, 1, 0, 0, 0, 0, time.UTC), 64 * day, 45 * day, 576000},
		{time.Date(2028, time.March, 1, 0, 0, 0, 0, time.UTC), 45 * day, 45 * day, 576000},
	}
	for _, tc := range tests {
		lifetimes := LetsEncryptLifetimes(tc.at)
		if lifetimes[ProfileClassic] != tc.classic || lifetimes[ProfileTLSServer] != tc.tlsServer {
			t.Errorf("lifetimes at %s = %v, want classic %s and tlsserver %s", tc.at.Format(time.DateOnly), lifetimes, tc.classic, tc.tlsServer)
		}
		profiles := LetsEncryptProfiles(tc.at, 1)
		if got := profiles[ProfileShortLived].ValidityPeriod; got != tc.shortLivedValiditySec {
			t.Errorf("shortlived validity = %d s, want %d (160 hours)", got, tc.shortLivedValiditySec)
		}
		if !profiles[ProfileClassic].PromoteCommonName || profiles[ProfileTLSServer].PromoteCommonName {
			t.Errorf("common name promotion = classic %t, tlsserver %t; want true, false",
				profiles[ProfileClassic].PromoteCommonName, profiles[ProfileTLSServer].PromoteCommonName)
		}
	}
	scaled := LetsEncryptProfiles(time.Date(2026, time.December, 7, 0, 0, 0, 0, time.UTC), 1440)
	if got := scaled[ProfileClassic].ValidityPeriod; got != 5400 {
		t.Errorf("classic validity at scale 1440 = %d s, want 5400 (90 days / 1440)", got)
	}
	if got := LetsEncryptProfiles(time.Now(), 1e12)[ProfileShortLived].ValidityPeriod; got != 1 {
		t.Errorf("validity at a huge scale = %d s, want the 1 s floor", got)
	}
}
