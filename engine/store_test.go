package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func sampleProgress() *Progress {
	return &Progress{
		PlanDigest: "sha256:abc",
		Completed:  []string{"p0-preflight", "p0-annotate-network-external"},
		Wave:       "phase0-wave0",
		InFlight:   &InFlight{Step: "p0-shim-test-network-external", StartedAt: testStart, Baseline: map[string]string{"revision": "2"}},
		Ledger: Ledger{Waves: []WaveLedger{{Key: "phase0-wave0", Started: testStart, Orders: 1,
			Events: []ACMEEvent{{At: testStart, Type: ACMEOrder, Names: []string{"blog.example.com"}, Certificate: "network/blog-tls"}}}}},
		LastStop:  &Stop{Rule: RuleRateLimited, Reason: "refused", Objects: []string{"Certificate/network/blog-tls"}, At: testStart, Keys: []string{"k"}},
		ACMESince: testStart.Add(time.Hour),
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	store := &FileStore{Path: filepath.Join(dir, "progress.json")}
	ctx := context.Background()
	if p, err := store.Load(ctx); p != nil || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want nil, nil", p, err)
	}
	want := sampleProgress()
	if err := store.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Completed, want.Completed) || got.InFlight.Baseline["revision"] != "2" || got.LastStop.Rule != RuleRateLimited {
		t.Errorf("loaded %+v, want %+v", got, want)
	}
	if !got.ACMESince.Equal(want.ACMESince) || !sameEvent(got.Ledger.Waves[0].Events[0], want.Ledger.Waves[0].Events[0]) {
		t.Error("times or events changed in the round trip")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only progress.json (no temporary file left)", len(entries))
	}
}

func TestFileStoreKeepsOldFileOnFailure(t *testing.T) {
	dir := t.TempDir()
	store := &FileStore{Path: filepath.Join(dir, "progress.json")}
	ctx := context.Background()
	if err := store.Save(ctx, sampleProgress()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	next := sampleProgress()
	next.Completed = append(next.Completed, "p0-shim-test-network-external")
	if err := store.Save(ctx, next); err == nil && os.Geteuid() != 0 {
		t.Error("Save into a read-only directory succeeded")
	}
	got, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 && len(got.Completed) != 2 {
		t.Errorf("completed = %v, want the old progress intact", got.Completed)
	}
}

// TestMemoryStoreKeepsWhatWasSaved changes every nested slice, map and
// pointer of a saved Progress afterwards and checks that Load still
// returns what was saved, as decoded from JSON.
func TestMemoryStoreKeepsWhatWasSaved(t *testing.T) {
	ctx := context.Background()
	store := &MemoryStore{}
	p := sampleWithCommit()
	if err := store.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	wantJSON, err := json.Marshal(sampleWithCommit())
	if err != nil {
		t.Fatal(err)
	}

	p.Completed[0] = "changed"
	p.Completed = append(p.Completed, "appended")
	p.InFlight.Baseline["revision"] = "9"
	p.Ledger.Waves[0].Events[0].Names[0] = "changed.example.com"
	p.Ledger.Waves[0].Orders = 7
	p.LastStop.Objects[0] = "changed"
	p.Pending.Steps[0] = "changed"
	p.RestoredListeners[0].Listener = "changed"

	for range 2 {
		got, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("Load after changing the saved value:\n got %s\nwant %s", gotJSON, wantJSON)
		}
		// A loaded value is the caller's own: changing it does not
		// change the next Load.
		got.Completed[0] = "changed by the caller"
	}
}

func sampleWithCommit() *Progress {
	p := sampleProgress()
	p.Pending = &PendingCommit{Ref: "certwave/p1", Steps: []string{"p1-a"}, At: testStart}
	p.RestoredListeners = []RestoredListener{{Gateway: "network/internal", Listener: "https-blog"}}
	return p
}
