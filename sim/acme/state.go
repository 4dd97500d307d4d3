package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// recordRetention is how long the front keeps the record of an order or an
// authorization. Pebble v2.10.3 expires orders one day after creation
// (wfe.NewOrder), so two days of wall time outlive every order.
const recordRetention = 48 * time.Hour

// orderRecord is the front's record of an order that Pebble created.
type orderRecord struct {
	ID       string   `json:"id"`
	Account  string   `json:"account"`
	Names    []string `json:"names"`
	Profile  string   `json:"profile,omitempty"`
	Replaces string   `json:"replaces,omitempty"`
	Renewal  bool     `json:"renewal,omitempty"`
	// Created is the wall time Pebble created the order.
	Created        time.Time `json:"created"`
	Authorizations []string  `json:"authorizations"`
	// Finalized is the wall time Pebble accepted the finalize request, zero
	// before.
	Finalized time.Time `json:"finalized,omitzero"`
	// Invalid is true once the ledger has an EventOrderInvalid for it.
	Invalid bool `json:"invalid,omitempty"`
}

// authzRecord is the front's record of an authorization.
type authzRecord struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	// Name is the identifier as ordered: "*.example.com" for a wildcard
	// authorization of example.com.
	Name       string              `json:"name"`
	Identifier string              `json:"identifier"`
	Orders     []string            `json:"orders"`
	Challenges []challengeResource `json:"challenges"`
	// Outcome is "valid" or "invalid" once the ledger has recorded it.
	Outcome string `json:"outcome,omitempty"`
	// Refused is true when the RejectDNS01 knob failed it.
	Refused bool      `json:"refused,omitempty"`
	Created time.Time `json:"created"`
}

// stateDocument is the JSON form of the state file.
type stateDocument struct {
	Version int        `json:"version"`
	Clock   clockState `json:"clock"`
	// Limits is a ratelimit snapshot.
	Limits         json.RawMessage         `json:"limits"`
	Orders         map[string]*orderRecord `json:"orders"`
	Authorizations map[string]*authzRecord `json:"authorizations"`
	Seq            int                     `json:"seq"`
	Ledger         []Entry                 `json:"ledger"`
}

// loadState reads the state file, returning nil when it does not exist.
func loadState(file string) (*stateDocument, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acme front: reading state file: %w", err)
	}
	var doc stateDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("acme front: state file %s is not valid JSON (%v): delete it to start with empty state", file, err)
	}
	if doc.Version != stateVersion {
		return nil, fmt.Errorf("acme front: state file %s has version %d, expected %d: delete it to start with empty state", file, doc.Version, stateVersion)
	}
	return &doc, nil
}

// restoreModel rebuilds the limiter from a saved snapshot, refusing a
// snapshot of the other model kind.
func restoreModel(file string, snapshot json.RawMessage, slidingWindow bool) (ratelimit.Model, error) {
	var kind struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(snapshot, &kind); err != nil {
		return nil, fmt.Errorf("acme front: state file %s has an invalid limiter snapshot (%v): delete it to start with empty state", file, err)
	}
	want := "boulder"
	if slidingWindow {
		want = "sliding-window"
	}
	if kind.Model != want {
		return nil, fmt.Errorf("acme front: state file %s contains a %q limiter but the options select %q: set SlidingWindow to match or delete the file", file, kind.Model, want)
	}
	m, err := ratelimit.RestoreModel(snapshot)
	if err != nil {
		return nil, fmt.Errorf("acme front: restoring limiter from %s: %w", file, err)
	}
	return m, nil
}

// newModel returns an empty limiter of the selected kind.
func newModel(slidingWindow bool) (ratelimit.Model, error) {
	if slidingWindow {
		return ratelimit.NewSlidingWindow(), nil
	}
	return ratelimit.NewModel()
}

// snapshotModel returns the limiter snapshot. Both ratelimit models
// implement Snapshotter.
func snapshotModel(m ratelimit.Model) (json.RawMessage, error) {
	s, ok := m.(ratelimit.Snapshotter)
	if !ok {
		return nil, fmt.Errorf("acme front: limiter %T cannot be saved", m)
	}
	return s.Snapshot()
}

// save writes the state file, if any, atomically: a crash leaves the old or
// the new file, never a partial one. Callers hold f.mu.
func (f *Front) save() error {
	if f.opts.StateFile == "" {
		return nil
	}
	f.pruneRecords()
	limits, err := snapshotModel(f.model)
	if err != nil {
		return err
	}
	doc := stateDocument{
		Version:        stateVersion,
		Clock:          f.clock.snapshot(),
		Limits:         limits,
		Orders:         f.orders,
		Authorizations: f.authzs,
		Seq:            f.seq,
		Ledger:         f.ledger,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("acme front: encoding state: %w", err)
	}

	dir := filepath.Dir(f.opts.StateFile)
	tmp, err := os.CreateTemp(dir, filepath.Base(f.opts.StateFile)+".*.tmp")
	if err != nil {
		return fmt.Errorf("acme front: writing state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("acme front: writing state file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("acme front: writing state file %s: %w", tmp.Name(), err)
	}

	if err := os.Rename(tmp.Name(), f.opts.StateFile); err != nil {
		return fmt.Errorf("acme front: replacing state file: %w", err)
	}
	return nil
}

// saveOrLog saves the state and logs a failure, because the request that
// changed the state has already been sent a response or must still get one.
// Callers hold f.mu.
func (f *Front) saveOrLog() {
	if err := f.save(); err != nil {
		f.log.Error("saving acme front state failed; a restart would lose the latest changes", "error", err)
	}
}

// pruneRecords drops orders and authorizations older than recordRetention.
// Callers hold f.mu.
func (f *Front) pruneRecords() {
	cutoff := f.clock.Wall().Add(-recordRetention)
	maps.DeleteFunc(f.orders, func(_ string, o *orderRecord) bool { return o.Created.Before(cutoff) })
	maps.DeleteFunc(f.authzs, func(_ string, a *authzRecord) bool { return a.Created.Before(cutoff) })
}
