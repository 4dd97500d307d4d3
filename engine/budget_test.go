package engine

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
)

// issuedRequests returns n CertificateRequests of another team, each
// issued by issuer for its own name under example.com at issued.
func issuedRequests(t *testing.T, n int, issuer string, issued time.Time) []client.Object {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var out []client.Object
	for i := range n {
		name := fmt.Sprintf("service-%d", i)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name + ".example.com"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &cmv1.CertificateRequest{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: name + "-1", Annotations: map[string]string{cmv1.CertificateNameKey: name}},
			Spec: cmv1.CertificateRequestSpec{
				Request:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
				IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: issuer},
			},
			Status: cmv1.CertificateRequestStatus{Conditions: []cmv1.CertificateRequestCondition{{
				Type: cmv1.CertificateRequestConditionReady, Status: cmmeta.ConditionTrue,
				Reason: cmv1.CertificateRequestReasonIssued, LastTransitionTime: &metav1.Time{Time: issued},
			}}},
		})
	}
	return out
}

// budgetPlan is the test plan with one new order for the phase-3 wave 1
// listener and a reserve of 6.
func budgetPlan() *plan.Plan {
	p := testPlan()
	p.Options.Reserve = 6
	p.Orders = []plan.PlannedOrder{{Step: "p3-w1-add-listener-git", Certificate: "network/git-tls", Names: []string{"git.example.com"}}}
	return p
}

// waveStart returns when wave key of the budget plan starts on a test
// world without other issuances.
func waveStart(t *testing.T, key string) time.Time {
	t.Helper()
	res, err := newTestEngine(t, newTestWorld(t, testObjects()...), budgetPlan(), Options{Out: &bytes.Buffer{}}).Run(context.Background())
	if err != nil {
		t.Fatalf("baseline Run: %v", err)
	}
	if wl := res.Ledger.find(key); wl != nil {
		return wl.Started
	}
	t.Fatalf("baseline run has no wave %s", key)
	return time.Time{}
}

// Let's Encrypt allows 50 certificates per registered domain in 7 days.
// With 44 issued by another team a minute before the wave, at most 6
// remain, and the wave's one order would leave 5, below the reserve of 6.
// The engine stops before the wave's first step. The next run stops again,
// because the bucket has not refilled.
func TestBudgetStopsWaveThatCutsIntoReserve(t *testing.T) {
	issued := waveStart(t, "phase3-wave1").Add(-time.Minute)
	objs := append(testObjects(), issuedRequests(t, 44, "letsencrypt-production", issued)...)
	w := newTestWorld(t, objs...)
	p := budgetPlan()
	store := &MemoryStore{}
	var out bytes.Buffer
	res, err := newTestEngine(t, w, p, Options{Out: &out, Store: store}).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Stopped == nil || res.Stopped.Rule != RuleBudgetReserve {
		t.Fatalf("stop = %v, want rule %s", res.Stopped, RuleBudgetReserve)
	}
	if res.Stopped.Step != "p3-w1-add-listener-git" {
		t.Errorf("stopped at step %s, want p3-w1-add-listener-git", res.Stopped.Step)
	}
	for _, want := range []string{"example.com", "reserve of 6", "44 seen as issued CertificateRequests"} {
		if !strings.Contains(res.Stopped.Reason, want) {
			t.Errorf("reason %q does not mention %q", res.Stopped.Reason, want)
		}
	}
	if got := getGateway(t, w, "external"); slices.Contains(listenerNames(got), "https-git") {
		t.Errorf("listener https-git was added after the budget stop")
	}

	again, err := newTestEngine(t, w, p, Options{Out: &out, Store: store}).Run(context.Background())
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if again.Stopped == nil || again.Stopped.Rule != RuleBudgetReserve {
		t.Errorf("second run stop = %v, want rule %s again: the budget stop is never acknowledged", again.Stopped, RuleBudgetReserve)
	}
}

// Issuances older than 7 days, and issuances by an issuer that is not on
// the plan's ACME server, do not count against the per-domain bucket.
func TestBudgetIgnoresOldAndOtherServerIssuances(t *testing.T) {
	start := waveStart(t, "phase3-wave1")
	objs := append(testObjects(), issuedRequests(t, 44, "letsencrypt-production", start.Add(-8*24*time.Hour))...)
	w := newTestWorld(t, objs...)
	res, err := newTestEngine(t, w, budgetPlan(), Options{Out: &bytes.Buffer{}}).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Stopped != nil {
		t.Fatalf("run with old issuances stopped: %v", res.Stopped)
	}

	objs = append(testObjects(), issuedRequests(t, 44, "private-ca", start.Add(-time.Minute))...)
	w = newTestWorld(t, objs...)
	res, err = newTestEngine(t, w, budgetPlan(), Options{Out: &bytes.Buffer{}}).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Stopped != nil {
		t.Fatalf("run with another issuer's issuances stopped: %v", res.Stopped)
	}
}
