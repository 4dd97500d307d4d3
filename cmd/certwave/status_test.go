package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/ratelimit"
)

func TestStatusShowsStopAndNextCommand(t *testing.T) {
	p := &plan.Plan{Steps: []plan.Step{
		{ID: "p0-preflight", Phase: 0, At: planStart},
		{ID: "p3-w1-add-listener-blog", Phase: 3, Wave: 1, At: planStart.Add(48 * time.Hour)},
		{ID: "p3-w1-wait-ready", Phase: 3, Wave: 1, At: planStart.Add(48 * time.Hour)},
	}}
	prog := &engine.Progress{
		Completed: []string{"p0-preflight", "p3-w1-add-listener-blog"},
		Wave:      "phase3-wave1",
		InFlight:  &engine.InFlight{Step: "p3-w1-wait-ready", StartedAt: planStart.Add(49 * time.Hour)},
		LastStop: &engine.Stop{
			Rule: engine.RuleFailedCertificate, Reason: "Certificate network/blog-tls failed: DNS01 self-check failed",
			Objects: []string{"Certificate/network/blog-tls"}, At: planStart.Add(50 * time.Hour), Step: "p3-w1-wait-ready",
			Next: "inspect the objects, then certwave run --plan plan.yaml --resume or certwave rollback --plan plan.yaml --phase 3",
		},
	}
	report := statusReport{Plan: "plan.yaml", PlanDigest: "sha256:abc", Context: "prod", Progress: "ConfigMap/certwave-system/certwave-run-abc"}
	fillProgress(&report, p, prog)
	now := metav1.NewTime(planStart)
	report.Pending, report.Failing = certificateProblems([]cmapi.Certificate{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "blog-tls"}, Status: cmapi.CertificateStatus{
			LastFailureTime: &now,
			Conditions:      []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionFalse, Reason: "Failed", Message: "DNS01 self-check failed"}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "cloud-tls"}, Status: cmapi.CertificateStatus{
			Conditions: []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionFalse, Reason: "DoesNotExist", Message: "Issuing certificate"}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "auth-tls"}, Status: cmapi.CertificateStatus{
			Conditions: []cmapi.CertificateCondition{{Type: cmapi.CertificateConditionReady, Status: cmmeta.ConditionTrue}},
		}},
	})
	var out bytes.Buffer
	writeStatus(&out, &report)
	text := out.String()
	for _, want := range []string{
		"2 of 3 steps done, phase 3, wave phase3-wave1",
		"In flight: p3-w1-wait-ready since",
		"Next step: p3-w1-wait-ready",
		"Pending Certificates: 1\n  network/cloud-tls",
		"Failing Certificates: 1\n  network/blog-tls: Ready=False Failed: DNS01 self-check failed",
		"rule failed-certificate",
		"objects: Certificate/network/blog-tls",
		"next: inspect the objects, then certwave run --plan plan.yaml --resume",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}

func TestLedgerBudgetSpendsTokens(t *testing.T) {
	at := planStart
	ledger := engine.Ledger{Waves: []engine.WaveLedger{{Key: "phase3-wave1", Events: []engine.ACMEEvent{
		{At: at, Type: engine.ACMEOrder, Names: []string{"blog.example.com"}},
		{At: at, Type: engine.ACMEIssued, Names: []string{"blog.example.com"}},
		{At: at, Type: engine.ACMEOrder, Names: []string{"git.example.com"}},
		{At: at, Type: engine.ACMEIssued, Names: []string{"git.example.com"}},
	}}}}
	// Issuances returns the ledger's issuances when the cluster shows none.
	issued := []engine.Issuance{
		{At: at, Names: []string{"blog.example.com"}, Source: engine.IssuanceFromLedger},
		{At: at, Names: []string{"git.example.com"}, Source: engine.IssuanceFromLedger},
	}
	got := map[string]int64{}
	for _, b := range ledgerBudget(ledger, issued, "ClusterIssuer/letsencrypt", at) {
		got[b.Limit+" "+b.Key] = b.Remaining
	}
	if n := got[string(ratelimit.CertificatesPerDomain)+" example.com"]; n != 48 {
		t.Errorf("CertificatesPerDomain example.com = %d, want 48 after two issuances", n)
	}
	if n := got[string(ratelimit.DuplicateCertificate)+" blog.example.com"]; n != 4 {
		t.Errorf("duplicate-certificate bucket of blog.example.com = %d, want 4", n)
	}
	if n := got[string(ratelimit.NewOrdersPerAccount)+" ClusterIssuer/letsencrypt"]; n != 298 {
		t.Errorf("NewOrdersPerAccount = %d, want 298", n)
	}
}

func TestRehearsalGateChecksFindings(t *testing.T) {
	dir := t.TempDir()
	p := &plan.Plan{APIVersion: plan.APIVersion, Source: "reference"}
	rec := &rehearsalRecord{PlanDigest: p.Digest(), Verdict: "pass", World: "model", Seed: 1, AcceptFindings: []string{"fixed-sni-client"}}
	if err := writeRehearsal(rehearsalPath(dir, p.Digest()), rec); err != nil {
		t.Fatal(err)
	}
	if _, _, err := requireRehearsal(dir, "plan.yaml", p, []string{"fixed-sni-client"}); err != nil {
		t.Errorf("a passing rehearsal with the same accepted finding: %v", err)
	}
	_, _, err := requireRehearsal(dir, "plan.yaml", p, []string{"gateway-api-disabled"})
	if err == nil || !strings.Contains(err.Error(), "--accept-finding gateway-api-disabled") {
		t.Errorf("a finding the rehearsal did not accept: %v", err)
	}

	other := &plan.Plan{APIVersion: plan.APIVersion, Domain: "example.org"}
	if err := writeRehearsal(rehearsalPath(dir, other.Digest()), rec); err != nil {
		t.Fatal(err)
	}
	_, path, err := requireRehearsal(dir, "plan.yaml", other, nil)
	if err == nil || !strings.Contains(err.Error(), "is for plan") {
		t.Errorf("a record under the wrong digest: %v", err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("record path %s is not in %s", path, dir)
	}
}

func TestInterruptibleStoreSavesAfterCancel(t *testing.T) {
	inner := &engine.MemoryStore{}
	s := interruptibleStore{inner}

	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Save(interrupted, &engine.Progress{PlanDigest: "a"}); err != nil {
		t.Fatalf("Save after an interrupt: %v", err)
	}
	if p, _ := inner.Load(context.Background()); p == nil {
		t.Fatal("nothing saved after an interrupt")
	}

	lost, cancelLost := context.WithCancelCause(context.Background())
	cancelLost(engine.ErrLeaseLost)
	probe := &cancelCheckingStore{}
	if err := (interruptibleStore{probe}).Save(lost, &engine.Progress{PlanDigest: "b"}); err != nil {
		t.Fatal(err)
	}
	if !probe.sawCancelled {
		t.Error("after the Lease was lost, Save ran with a live context")
	}
}

// cancelCheckingStore records whether Save got a cancelled context.
type cancelCheckingStore struct {
	engine.MemoryStore
	sawCancelled bool
}

func (s *cancelCheckingStore) Save(ctx context.Context, p *engine.Progress) error {
	s.sawCancelled = ctx.Err() != nil
	return nil
}
