package main

import (
	"context"
	"testing"

	"github.com/certwave/certwave/engine"
)

func TestScaledDigestStoreSavesPlanDigest(t *testing.T) {
	ctx := context.Background()
	inner := &engine.MemoryStore{}
	s := scaledDigestStore{Store: inner, planDigest: "sha256:plan", scaledDigest: "sha256:scaled"}

	engineProgress := &engine.Progress{PlanDigest: "sha256:scaled", Completed: []string{"p0-preflight"}}
	if err := s.Save(ctx, engineProgress); err != nil {
		t.Fatal(err)
	}
	if engineProgress.PlanDigest != "sha256:scaled" {
		t.Errorf("Save changed the engine's progress to digest %s", engineProgress.PlanDigest)
	}
	saved, err := inner.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if saved.PlanDigest != "sha256:plan" {
		t.Errorf("saved digest %s, want the plan file's sha256:plan", saved.PlanDigest)
	}

	loaded, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.PlanDigest != "sha256:scaled" {
		t.Errorf("loaded digest %s, want the scaled plan's sha256:scaled for the engine", loaded.PlanDigest)
	}
	if len(loaded.Completed) != 1 {
		t.Errorf("loaded %d completed steps, want 1", len(loaded.Completed))
	}
}

func TestScaledDigestStoreLoadsScaledDigest(t *testing.T) {
	ctx := context.Background()
	inner := &engine.MemoryStore{}
	if err := inner.Save(ctx, &engine.Progress{PlanDigest: "sha256:scaled"}); err != nil {
		t.Fatal(err)
	}
	s := scaledDigestStore{Store: inner, planDigest: "sha256:plan", scaledDigest: "sha256:scaled"}
	loaded, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.PlanDigest != "sha256:scaled" {
		t.Errorf("progress saved with the scaled digest loads as %s, want sha256:scaled", loaded.PlanDigest)
	}
}
