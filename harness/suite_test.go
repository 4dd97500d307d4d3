package harness

import (
	"bytes"
	"context"
	"testing"

	"github.com/certwave/certwave/scenarios"
)

// knownGaps are built-in scenarios the model world does not pass yet, with
// the reason. Each is reported as skipped by name, never as passed.
var knownGaps = map[string]string{}

// TestScenarioSuite runs every built-in scenario on the model world as a
// regression test.
func TestScenarioSuite(t *testing.T) {
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		t.Run(s.Name, func(t *testing.T) {
			r := Run(context.Background(), s, Options{World: "model", Seed: 1})
			switch r.Verdict {
			case VerdictPass:
				return
			case VerdictUnsupported:
				t.Skipf("unsupported: %s", r.Unsupported)
			}
			if reason, ok := knownGaps[s.Name]; ok {
				t.Skipf("known gap of the model world: %s; failures: %v", reason, r.Failures)
			}
			for _, f := range r.Failures {
				t.Error(f)
			}
			t.Logf("replay: %s", r.Replay())
		})
	}
}

func BenchmarkReferenceMigration(b *testing.B) {
	s, err := scenarios.Parse("bench.yaml", []byte(`
name: bench-reference
description: the reference topology through every phase
topology: {reference: true}
expect: {stop: none}
`))
	if err != nil {
		b.Fatal(err)
	}
	defer TuneGC()()
	for b.Loop() {
		r := Run(context.Background(), s, Options{World: "model", Seed: 1})
		if r.Verdict != VerdictPass {
			b.Fatalf("reference migration %s: %v", r.Verdict, r.Failures)
		}
	}
}

func BenchmarkSuite(b *testing.B) {
	list, err := scenarios.LoadDir(scenarios.Builtin, ".")
	if err != nil {
		b.Fatal(err)
	}
	defer TuneGC()()
	for b.Loop() {
		RunSuite(context.Background(), list, Options{World: "model", Seed: 1}, nil)
	}
}

// TestSameSeedSameTrace runs one scenario twice with one seed through the
// engine and the model: the traces must be byte-identical.
func TestSameSeedSameTrace(t *testing.T) {
	s := builtinScenario(t, "mirrored-secret-early")
	var first, second bytes.Buffer
	Run(context.Background(), s, Options{World: "model", Seed: 7, Trace: &first})
	Run(context.Background(), s, Options{World: "model", Seed: 7, Trace: &second})
	if first.Len() == 0 {
		t.Fatal("empty trace")
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("two runs with seed 7 gave different traces")
	}
}
