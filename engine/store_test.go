package engine

import (
	"context"
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

func TestMemoryStoreReturnsCopies(t *testing.T) {
	store := &MemoryStore{}
	ctx := context.Background()
	p := sampleProgress()
	if err := store.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Completed[0] = "changed"
	got, _ := store.Load(ctx)
	if got.Completed[0] != "p0-preflight" {
		t.Error("MemoryStore shares memory with the saved progress")
	}
}
