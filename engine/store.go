package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"
)

// Progress is the persisted state of a run: enough to resume after a kill or
// a stop without repeating a completed step.
type Progress struct {
	// PlanDigest is the plan's Digest; a run refuses progress saved for
	// another plan.
	PlanDigest string `json:"planDigest"`
	// Completed are the IDs of the steps done, in the order they finished.
	Completed []string `json:"completed"`
	// Wave is the ledger key of the wave the last step belonged to.
	Wave string `json:"wave,omitempty"`
	// InFlight is the step that started and did not finish.
	InFlight *InFlight `json:"inFlight,omitempty"`
	Ledger   Ledger    `json:"ledger"`
	// LastStop is the stop the last run ended with; the next run
	// acknowledges it and continues.
	LastStop *Stop `json:"lastStop,omitempty"`
	// Acknowledged are the observation keys of stops already reported, so a
	// resumed run does not stop again for the same state.
	Acknowledged []string `json:"acknowledged,omitempty"`
	// RestoredListeners are listeners a phase-4 rollback put back; certwave
	// owns them from then on.
	RestoredListeners []RestoredListener `json:"restoredListeners,omitempty"`
	// ACMESince is the time up to which the ACME events are in the ledger.
	ACMESince time.Time `json:"acmeSince"`
	// Staged are the steps a GitOps run staged and has not committed yet,
	// and Pending the commit waiting to be merged and applied.
	Staged  []string       `json:"staged,omitempty"`
	Pending *PendingCommit `json:"pending,omitempty"`
}

// InFlight is a step that started: its start time bounds its timeouts and
// soak across a kill, and Baseline keeps values read at the start, such as
// a Certificate's revision before a renewal.
type InFlight struct {
	Step      string            `json:"step"`
	StartedAt time.Time         `json:"startedAt"`
	Baseline  map[string]string `json:"baseline,omitempty"`
}

// RestoredListener names a listener, by Gateway (namespace/name) and
// listener name, that a rollback restored from the plan's inventory.
type RestoredListener struct {
	Gateway  string `json:"gateway"`
	Listener string `json:"listener"`
}

// Store loads and saves a run's Progress.
type Store interface {
	// Load returns the saved progress, or nil and no error when nothing
	// was saved yet.
	Load(ctx context.Context) (*Progress, error)
	// Save replaces the saved progress.
	Save(ctx context.Context, p *Progress) error
}

// MemoryStore keeps progress in memory. Save keeps a deep copy, so that
// the engine's later changes never reach what was saved, and Load decodes
// that copy's JSON encoding, so that a resumed run reads only what a
// FileStore or ConfigMapStore would have kept. It is safe for concurrent
// use.
//
// Save copies instead of encoding because the engine saves twice per step:
// encoding the growing ledger each time was a tenth of a model run.
type MemoryStore struct {
	mu    sync.Mutex
	saved *Progress
}

var _ Store = (*MemoryStore)(nil)

// Load implements Store.
func (s *MemoryStore) Load(context.Context) (*Progress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved == nil {
		return nil, nil
	}
	data, err := json.Marshal(s.saved)
	if err != nil {
		return nil, fmt.Errorf("encode progress: %w", err)
	}
	p := &Progress{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode progress: %w", err)
	}
	return p, nil
}

// Save implements Store.
func (s *MemoryStore) Save(_ context.Context, p *Progress) error {
	saved := cloneValue(reflect.ValueOf(p)).Interface().(*Progress)
	s.mu.Lock()
	s.saved = saved
	s.mu.Unlock()
	return nil
}

// FileStore keeps progress in a JSON file. Save writes a temporary file in
// the same directory and renames it over the old one, so a kill leaves
// either the old or the new progress, never a torn file.
type FileStore struct {
	Path string
}

var _ Store = (*FileStore)(nil)

// Load implements Store.
func (s *FileStore) Load(context.Context) (*Progress, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read progress: %w", err)
	}
	p := &Progress{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode progress file %s: %w", s.Path, err)
	}
	return p, nil
}

// Save implements Store.
func (s *FileStore) Save(_ context.Context, p *Progress) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode progress: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Path), filepath.Base(s.Path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save progress to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save progress to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save progress to %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	return nil
}
