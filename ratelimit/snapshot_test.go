package ratelimit

import (
	"testing"
	"time"
)

// A restarted ACME front must keep its buckets and its renewal history, or
// it would treat a renewal as a new certificate
// (letsencrypt.org/docs/rate-limits).
func TestSnapshotKeepsRenewal(t *testing.T) {
	models := map[string]func() Model{
		"boulder":        func() Model { return newTestModel(t) },
		"sliding window": NewSlidingWindow,
	}
	for name, newModel := range models {
		t.Run(name, func(t *testing.T) {
			m := newModel()
			renewed := appOrder("acct-a", 0)
			for i := range 10 {
				issue(m, t0, appOrder("acct-a", i))
			}
			later := t0.Add(time.Hour)
			wantRemaining := m.Remaining(later, CertificatesPerDomain, "example.com")

			data, err := m.(Snapshotter).Snapshot()
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			restored, err := RestoreModel(data)
			if err != nil {
				t.Fatalf("RestoreModel: %v", err)
			}
			if _, ok := restored.(Snapshotter); !ok {
				t.Errorf("restored %T does not implement Snapshotter", restored)
			}
			if got := restored.Remaining(later, CertificatesPerDomain, "example.com"); got != wantRemaining {
				t.Errorf("Remaining(example.com) after restore = %d, want %d", got, wantRemaining)
			}
			month := t0.Add(30 * 24 * time.Hour)
			if !restored.IsRenewal(month, renewed.Names) {
				t.Errorf("IsRenewal after restore = false, want true")
			}
			if d := restored.CheckNewOrder(month, renewed); !d.Allowed || !d.Renewal {
				t.Errorf("renewal after restore: %+v, want allowed as a renewal", d)
			}
		})
	}
}

func TestRestoreModelRejectsInvalidSnapshot(t *testing.T) {
	tests := map[string]string{
		"not JSON":      "{",
		"wrong version": `{"version": 2, "model": "boulder"}`,
		"unknown model": `{"version": 1, "model": "pebble"}`,
		"unknown limit": `{"version": 1, "model": "sliding-window", "windows": {"Nope": {"k": ["2026-12-01T00:00:00Z"]}}}`,
	}
	for name, data := range tests {
		if _, err := RestoreModel([]byte(data)); err == nil {
			t.Errorf("RestoreModel(%s) returned no error", name)
		}
	}
}
