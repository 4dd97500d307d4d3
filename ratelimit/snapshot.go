package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Snapshotter is a Model whose state can be saved, for example by an ACME
// front before it restarts, and loaded again with RestoreModel. Both models
// of this package implement it.
type Snapshotter interface {
	// Snapshot encodes the state as JSON. State that no longer affects any
	// decision after the latest event time is left out.
	Snapshot() ([]byte, error)
}

const snapshotVersion = 1

// Model kinds in a snapshot.
const (
	boulderKind       = "boulder"
	slidingWindowKind = "sliding-window"
)

// snapshot is the JSON form of a model's state.
type snapshot struct {
	Version int    `json:"version"`
	Model   string `json:"model"`
	// Last is the latest event time the model saw.
	Last time.Time `json:"last"`
	// Buckets maps Boulder's bucket keys to their theoretical arrival times
	// (boulder model only).
	Buckets map[string]time.Time `json:"buckets,omitempty"`
	// Windows holds the event times per limit and key, oldest first
	// (sliding-window model only).
	Windows map[Name]map[string][]time.Time `json:"windows,omitempty"`
	// Issued maps name sets (NameSetKey) to their latest issuance.
	Issued map[string]time.Time `json:"issued,omitempty"`
}

func (m *boulderModel) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	tats, err := m.source.BatchGet(context.Background(), m.source.trackedKeys())
	if err != nil {
		return nil, fmt.Errorf("ratelimit: reading buckets for a snapshot: %w", err)
	}
	// A bucket whose TAT has passed is full, the same as no bucket.
	maps.DeleteFunc(tats, func(_ string, tat time.Time) bool {
		return !tat.After(m.last)
	})
	return json.Marshal(snapshot{
		Version: snapshotVersion,
		Model:   boulderKind,
		Last:    m.last,
		Buckets: tats,
		Issued:  m.issued.live(m.last),
	})
}

func (m *slidingWindowModel) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	windows := map[Name]map[string][]time.Time{}
	for name, byKey := range m.events {
		for _, key := range slices.Collect(maps.Keys(byKey)) {
			events := m.inWindow(m.last, name, key)
			if len(events) == 0 {
				continue
			}
			if windows[name] == nil {
				windows[name] = map[string][]time.Time{}
			}
			windows[name][key] = slices.Clone(events)
		}
	}
	return json.Marshal(snapshot{
		Version: snapshotVersion,
		Model:   slidingWindowKind,
		Last:    m.last,
		Windows: windows,
		Issued:  m.issued.live(m.last),
	})
}

// RestoreModel returns a Model with the state of a Snapshot, of the same
// kind (Boulder-backed or sliding-window) as the model that took it.
func RestoreModel(data []byte) (Model, error) {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("ratelimit: invalid snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("ratelimit: snapshot version %d is not supported: expected %d", s.Version, snapshotVersion)
	}
	switch s.Model {
	case boulderKind:
		return restoreBoulder(s)
	case slidingWindowKind:
		return restoreSlidingWindow(s)
	default:
		return nil, fmt.Errorf("ratelimit: snapshot of unknown model %q: expected %q or %q", s.Model, boulderKind, slidingWindowKind)
	}
}

func restoreBoulder(s snapshot) (*boulderModel, error) {
	m, err := newBoulderModel()
	if err != nil {
		return nil, err
	}
	if len(s.Buckets) > 0 {
		if err := m.source.BatchSet(context.Background(), s.Buckets); err != nil {
			return nil, fmt.Errorf("ratelimit: restoring buckets: %w", err)
		}
	}
	maps.Copy(m.issued, s.Issued)
	m.at(s.Last)
	return m, nil
}

func restoreSlidingWindow(s snapshot) (*slidingWindowModel, error) {
	m := newSlidingWindowModel()
	for name, byKey := range s.Windows {
		if _, ok := legacyLimits[name]; !ok {
			return nil, fmt.Errorf("ratelimit: snapshot has events of limit %q, which the sliding-window model does not have", name)
		}
		for key, events := range byKey {
			sorted := slices.Clone(events)
			slices.SortFunc(sorted, time.Time.Compare)
			m.events[name][key] = sorted
		}
	}
	maps.Copy(m.issued, s.Issued)
	m.at(s.Last)
	return m, nil
}
