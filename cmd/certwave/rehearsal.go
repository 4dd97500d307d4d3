package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certwave/certwave/harness"
	"github.com/certwave/certwave/plan"
)

// rehearsalRecord is the file `simulate --plan` writes and `run --apply`
// requires: the outcome of the latest rehearsal of one plan digest.
type rehearsalRecord struct {
	PlanDigest string    `json:"planDigest"`
	PlanFile   string    `json:"planFile"`
	Verdict    string    `json:"verdict"`
	World      string    `json:"world"`
	Seed       int64     `json:"seed"`
	RecordedAt time.Time `json:"recordedAt"`
	// ACMEOrders is the number of ACME orders the rehearsal placed.
	ACMEOrders      int      `json:"acmeOrders"`
	MinAvailability float64  `json:"minAvailability"`
	VirtualDuration string   `json:"virtualDuration"`
	AcceptFindings  []string `json:"acceptFindings,omitempty"`
	Failures        []string `json:"failures,omitempty"`
}

// defaultRehearsalDir is .certwave/rehearsals beside the plan file.
func defaultRehearsalDir(planFile string) string {
	return filepath.Join(filepath.Dir(planFile), ".certwave", "rehearsals")
}

// rehearsalPath is the record of digest in dir, named by the digest's hex.
func rehearsalPath(dir, digest string) string {
	return filepath.Join(dir, strings.TrimPrefix(digest, "sha256:")+".json")
}

func writeRehearsal(path string, rec *rehearsalRecord) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the rehearsal record: %w", err)
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the rehearsal record: %w", err)
	}
	return os.Rename(tmp, path)
}

// requireRehearsal returns the passing rehearsal of p recorded in dir, or
// an error naming what is missing and the command that fixes it. Every
// finding the run accepts must have been accepted in that rehearsal.
func requireRehearsal(dir, planFile string, p *plan.Plan, accepted []string) (*rehearsalRecord, string, error) {
	digest := p.Digest()
	path := rehearsalPath(dir, digest)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, path, fmt.Errorf("no rehearsal of this plan (digest %s) in %s: run certwave simulate --plan %s first, or pass --without-rehearsal to act without one", digest, dir, planFile)
	}
	if err != nil {
		return nil, path, fmt.Errorf("reading the rehearsal record: %w", err)
	}
	rec := &rehearsalRecord{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, path, fmt.Errorf("invalid rehearsal record %s: %w: run certwave simulate --plan %s again", path, err, planFile)
	}
	if rec.PlanDigest != digest {
		return nil, path, fmt.Errorf("rehearsal record %s is for plan %s, not this plan (%s): run certwave simulate --plan %s again", path, rec.PlanDigest, digest, planFile)
	}
	if rec.Verdict != string(harness.VerdictPass) {
		detail := ""
		if len(rec.Failures) > 0 {
			detail = ": " + strings.Join(rec.Failures, "; ")
		}
		return rec, path, fmt.Errorf("the latest rehearsal of this plan did not pass (%s, verdict %s, seed %d, recorded %s)%s; change the plan and rehearse it again",
			path, rec.Verdict, rec.Seed, rec.RecordedAt.UTC().Format(time.RFC3339), detail)
	}
	for _, id := range accepted {
		if !slices.Contains(rec.AcceptFindings, id) {
			return rec, path, fmt.Errorf("this run accepts finding %s, but the rehearsal %s did not: run certwave simulate --plan %s --accept-finding %s", id, path, planFile, id)
		}
	}
	return rec, path, nil
}

// describeRehearsal is the line a run prints about the rehearsal it relies
// on.
func describeRehearsal(path string, rec *rehearsalRecord) string {
	return fmt.Sprintf("relying on rehearsal %s: %s on world %s, seed %d, recorded %s, %d ACME orders, lowest availability %.4f",
		path, rec.Verdict, rec.World, rec.Seed, rec.RecordedAt.UTC().Format(time.RFC3339), rec.ACMEOrders, rec.MinAvailability)
}

// checkAccepted checks that each accepted finding ID names a blocker
// finding of the plan, the only kind the preflight stops on. A misspelt
// ID would otherwise go unnoticed until the preflight stops on the
// finding it meant.
func checkAccepted(p *plan.Plan, accepted []string) error {
	var blockers []string
	severity := map[string]plan.Severity{}
	for _, f := range p.Findings {
		severity[f.ID] = f.Severity
		if f.Severity == plan.SeverityBlocker && !slices.Contains(blockers, f.ID) {
			blockers = append(blockers, f.ID)
		}
	}
	for _, id := range accepted {
		if slices.Contains(blockers, id) {
			continue
		}
		if s, ok := severity[id]; ok {
			return fmt.Errorf("invalid --accept-finding %q: it is a %s finding, not a blocker, so the preflight does not stop on it; leave it out", id, s)
		}
		if len(blockers) == 0 {
			return fmt.Errorf("invalid --accept-finding %q: the plan has no blocker findings, so leave the flag out", id)
		}
		return fmt.Errorf("invalid --accept-finding %q: the plan has no blocker finding with that ID; its blockers are %s", id, strings.Join(blockers, ", "))
	}
	return nil
}

// runSimulatePlan rehearses a plan file and records the outcome.
func runSimulatePlan(cmd *cobra.Command, f *simulateFlags) error {
	p, err := plan.Load(f.planFile)
	if err != nil {
		return err
	}
	if err := checkAccepted(p, f.accept); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	digest := p.Digest()
	fmt.Fprintf(stderr, "certwave simulate: plan %s (digest %s), world %s, seed %d\n", f.planFile, digest, f.world, f.seed)
	res, err := harness.RehearsePlan(cmd.Context(), p, harness.PlanRehearsal{AcceptFindings: f.accept},
		harness.Options{World: f.world, Seed: f.seed})
	if err != nil {
		return err
	}
	res.PlanFile = f.planFile
	for _, id := range f.accept {
		res.PlanFile += " --accept-finding " + id
	}
	rec := &rehearsalRecord{
		PlanDigest: digest, PlanFile: f.planFile, Verdict: string(res.Verdict), World: f.world, Seed: res.Seed,
		RecordedAt: time.Now().UTC(), ACMEOrders: res.ACMEOrders, MinAvailability: res.MinAvailability,
		VirtualDuration: res.VirtualDuration.String(), AcceptFindings: f.accept, Failures: res.Failures,
	}
	dir := f.rehearsals
	if dir == "" {
		dir = defaultRehearsalDir(f.planFile)
	}
	path := rehearsalPath(dir, digest)
	if err := writeRehearsal(path, rec); err != nil {
		return err
	}

	if f.output == formatJSON {
		if err := writeStructured(cmd.OutOrStdout(), formatJSON, res); err != nil {
			return err
		}
	} else {
		harness.WriteTable(cmd.OutOrStdout(), []harness.Result{res})
	}
	fmt.Fprintf(stderr, "recorded %s (verdict %s)\n", path, res.Verdict)
	if res.Verdict != harness.VerdictPass {
		return withCode(exitFailed, fmt.Errorf("the rehearsal of plan %s did not pass: %s", f.planFile, strings.Join(res.Failures, "; ")))
	}
	return nil
}
