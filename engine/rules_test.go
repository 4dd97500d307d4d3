package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// runToStop runs the test plan and returns the stop it ends with.
func runToStop(t *testing.T, w *testWorld, opts Options) *Stop {
	t.Helper()
	res, err := newTestEngine(t, w, testPlan(), opts).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Stopped == nil {
		t.Fatal("Run completed, want a stop")
	}
	return res.Stopped
}

// assertNothingDeleted checks that stopping deleted no object and that the
// Certificates and Secrets named still exist.
func assertNothingDeleted(t *testing.T, w *testWorld, certificates ...string) {
	t.Helper()
	if d := w.client.deleted(); len(d) > 0 {
		t.Errorf("deleted %v, want nothing deleted by a stop", d)
	}
	for _, key := range certificates {
		ns, name := splitKey(key)
		c := &cmv1.Certificate{}
		if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
			t.Errorf("Certificate %s: %v", key, err)
		}
	}
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: "network", Name: "example-com-tls"}, &corev1.Secret{}); err != nil {
		t.Errorf("wildcard Secret: %v", err)
	}
}

func TestStopFailedCertificate(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.failing["blog-tls"] = "Failed to finalize Order: 400 urn:ietf:params:acme:error:unauthorized"
	store := &MemoryStore{}
	stop := runToStop(t, w, Options{Store: store})
	if stop.Rule != RuleFailedCertificate {
		t.Fatalf("rule = %s (%s), want %s", stop.Rule, stop.Reason, RuleFailedCertificate)
	}
	if stop.Step != "p2-wait-ready-blog" {
		t.Errorf("step = %s, want p2-wait-ready-blog", stop.Step)
	}
	if !slices.Contains(stop.Objects, "Certificate/network/blog-tls") {
		t.Errorf("objects = %v, want Certificate/network/blog-tls", stop.Objects)
	}
	if !strings.Contains(stop.Next, "certwave run --plan PLAN --resume") || !strings.Contains(stop.Next, "rollback --plan PLAN --phase 2") {
		t.Errorf("next = %q, want resume and rollback commands", stop.Next)
	}
	assertNothingDeleted(t, w, "network/blog-tls")

	// Resuming acknowledges that failure; the Certificate then runs out of
	// its ready timeout, which stops again.
	again := runToStop(t, w, Options{Store: store})
	if again.Rule != RuleFailedCertificate || !strings.Contains(again.Reason, "not ready after") {
		t.Errorf("second stop = %v, want failed-certificate for the ready timeout", again)
	}
	assertNothingDeleted(t, w, "network/blog-tls")
}

func TestStopFailedCertificateWaitsGracePeriod(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.failing["wiki-tls"] = "signing failed"
	var waveStart time.Time
	stop := runToStop(t, w, Options{PollInterval: time.Minute, StopAfterStep: func(id string) bool {
		if id == "p1-b1-add-listener-wiki" {
			waveStart = w.clock.now
		}
		return false
	}})
	if stop.Rule != RuleFailedCertificate {
		t.Fatalf("rule = %s, want %s", stop.Rule, RuleFailedCertificate)
	}
	if waited := stop.At.Sub(waveStart); waited < failedCertificateGrace {
		t.Errorf("stopped %s after the wave started, want at least %s", waited, failedCertificateGrace)
	}
}

func failingCertificate(ns, name string) *cmv1.Certificate {
	return &cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cmv1.CertificateSpec{DNSNames: []string{name + ".example.org"}, SecretName: name,
			IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "other"}},
		Status: cmv1.CertificateStatus{LastFailureTime: ptr.To(metav1.NewTime(testStart.Add(-time.Hour)))},
	}
}

func TestStopTooManyPending(t *testing.T) {
	objs := testObjects()
	for _, n := range []string{"a", "b", "c", "d"} {
		objs = append(objs, failingCertificate("other", n))
	}
	w := newTestWorld(t, objs...)
	for _, n := range []string{"a", "b", "c", "d"} {
		w.failing[n] = "still failing"
	}
	stop := runToStop(t, w, Options{})
	if stop.Rule != RuleTooManyPending {
		t.Fatalf("rule = %s (%s), want %s", stop.Rule, stop.Reason, RuleTooManyPending)
	}
	if len(stop.Objects) != 4 {
		t.Errorf("objects = %v, want the 4 failing Certificates", stop.Objects)
	}
	assertNothingDeleted(t, w, "other/a", "other/b", "other/c", "other/d")
}

func TestThreeFailingCertificatesDoNotStop(t *testing.T) {
	objs := testObjects()
	for _, n := range []string{"a", "b", "c"} {
		objs = append(objs, failingCertificate("other", n))
	}
	w := newTestWorld(t, objs...)
	for _, n := range []string{"a", "b", "c"} {
		w.failing[n] = "still failing"
	}
	res, err := newTestEngine(t, w, testPlan(), Options{Until: "1"}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Errorf("Run: err=%v stop=%v, want no stop with 3 failing Certificates", err, res.Stopped)
	}
}

func TestStopRateLimitedEvent(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.events = append(w.events, ACMEEvent{At: testStart.Add(time.Minute), Type: ACMERefused, Names: []string{"blog.example.com"},
		Certificate: "network/blog-tls", Limit: "CertificatesPerDomain", RetryIn: 3 * time.Hour})
	stop := runToStop(t, w, Options{})
	if stop.Rule != RuleRateLimited {
		t.Fatalf("rule = %s (%s), want %s", stop.Rule, stop.Reason, RuleRateLimited)
	}
	if !slices.Equal(stop.Objects, []string{"Certificate/network/blog-tls"}) {
		t.Errorf("objects = %v", stop.Objects)
	}
	if !strings.Contains(stop.Reason, "CertificatesPerDomain") || !strings.Contains(stop.Next, "retry-after") {
		t.Errorf("stop = %+v, want the limit in the reason and the wait in next", stop)
	}
	assertNothingDeleted(t, w)
}

func TestStopRateLimitedMessage(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.failing["blog-tls"] = "Failed to create Order: 429 urn:ietf:params:acme:error:rateLimited: too many certificates"
	stop := runToStop(t, w, Options{})
	if stop.Rule != RuleRateLimited {
		t.Fatalf("rule = %s (%s), want %s", stop.Rule, stop.Reason, RuleRateLimited)
	}
	if !slices.Contains(stop.Objects, "Certificate/network/blog-tls") {
		t.Errorf("objects = %v", stop.Objects)
	}
	assertNothingDeleted(t, w, "network/blog-tls")
}

func TestStopRepeatedRetries(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.authzFailures["git-tls"] = true
	w.authzFailures["docs-tls"] = true
	stop := runToStop(t, w, Options{})
	if stop.Rule != RuleRepeatedRetries {
		t.Fatalf("rule = %s (%s), want %s", stop.Rule, stop.Reason, RuleRepeatedRetries)
	}
	if !slices.Equal(stop.Objects, []string{"phase3-wave1", "phase3-wave2"}) {
		t.Errorf("objects = %v, want both phase 3 waves", stop.Objects)
	}
	if !strings.HasPrefix(stop.Step, "p3-w2-") {
		t.Errorf("stopped at %s, want in the second wave", stop.Step)
	}
	assertNothingDeleted(t, w, "network/git-tls", "network/docs-tls")
}

func TestStopAmbiguousShimTestNoReaction(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	w.shimOff = true
	store := &MemoryStore{}
	stop := runToStop(t, w, Options{Store: store, Until: "0"})
	if stop.Rule != RuleAmbiguousShimTest || stop.Step != "p0-shim-test-network-external" {
		t.Fatalf("stop = %v, want %s at p0-shim-test-network-external", stop, RuleAmbiguousShimTest)
	}
	if !slices.Equal(stop.Objects, []string{"Gateway/network/external"}) {
		t.Errorf("objects = %v", stop.Objects)
	}
	if !strings.Contains(stop.Reason, "a Warning BadConfig event") {
		t.Errorf("reason %q does not quote the plan's expectation", stop.Reason)
	}
	assertNothingDeleted(t, w)

	// Resuming is the operator's decision to go on, so the test passes.
	res, err := newTestEngine(t, w, testPlan(), Options{Store: store, Until: "0"}).Run(context.Background())
	if err != nil || res.Stopped != nil {
		t.Errorf("resumed run: err=%v stop=%v, want phase 0 done", err, res.Stopped)
	}
}

func TestStopAmbiguousShimTestUnexpectedSecret(t *testing.T) {
	objs := testObjects()
	gw := objs[0].(*gwv1.Gateway)
	// A hostname on the wildcard listener makes the shim take over the
	// wildcard Secret with a Certificate of its own.
	gw.Spec.Listeners[1].Hostname = ptr.To(gwv1.Hostname("*.example.com"))
	w := newTestWorld(t, objs...)
	stop := runToStop(t, w, Options{})
	if stop.Rule != RuleAmbiguousShimTest {
		t.Fatalf("rule = %s (%s), want %s", stop.Rule, stop.Reason, RuleAmbiguousShimTest)
	}
	if !slices.Equal(stop.Objects, []string{"Certificate/network/example-com-tls"}) {
		t.Errorf("objects = %v, want the unexpected Certificate", stop.Objects)
	}
	assertNothingDeleted(t, w, "network/example-com-tls", "network/example-com")
}

func TestRetryRuleWindow(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	e := newTestEngine(t, w, testPlan(), Options{})
	st := &runState{prog: &Progress{Ledger: Ledger{Waves: []WaveLedger{
		{Key: "phase3-wave1", Started: testStart.Add(-8 * 24 * time.Hour), Retried: true},
		{Key: "phase3-wave2", Started: testStart.Add(-time.Hour), Retried: true},
		{Key: "phase3-wave3", Started: testStart, Retried: false},
	}}}}
	if obs := e.retryRule(st); len(obs) != 0 {
		t.Errorf("retry rule fired for one retried wave in 7 days: %v", obs)
	}
	st.prog.Ledger.Waves[2].Retried = true
	if obs := e.retryRule(st); len(obs) != 1 {
		t.Errorf("retry rule did not fire for two retried waves in 7 days")
	}
}

// versionedClient reports a list version that changes only when bumped,
// as the model world's client reports its writes.
type versionedClient struct {
	client.Client
	version int
}

func (c *versionedClient) ListVersion(string) string { return fmt.Sprint(c.version) }

type versionedWorld struct {
	*testWorld
	c *versionedClient
}

func (w versionedWorld) Client() client.Client { return w.c }

// certificateRules reuses its last result while the Certificates are
// unchanged, but a Ready Certificate that expires is unsettled again
// without any write.
func TestSettledCertificatesExpireWithoutWrite(t *testing.T) {
	w := newTestWorld(t, testObjects()...)
	ctx := context.Background()
	vc := &versionedClient{Client: w.client}
	certs := &cmv1.CertificateList{}
	if err := vc.List(ctx, certs); err != nil {
		t.Fatal(err)
	}
	if len(certs.Items) == 0 {
		t.Fatal("the test world has no Certificate")
	}
	expiry := testStart.Add(time.Hour)
	for i := range certs.Items {
		c := &certs.Items[i]
		c.Status.Conditions = []cmv1.CertificateCondition{{Type: cmv1.CertificateConditionReady, Status: cmmeta.ConditionTrue}}
		c.Status.NotAfter = &metav1.Time{Time: expiry}
		if err := vc.Status().Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(versionedWorld{testWorld: w, c: vc}, testPlan(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &runState{prog: &Progress{}, completed: map[string]bool{}}

	if obs, settled, err := e.certificateRules(ctx, st); err != nil || !settled || len(obs) != 0 {
		t.Fatalf("before expiry: settled %t, observations %v, err %v; want settled and none", settled, obs, err)
	}
	w.clock.now = expiry.Add(time.Minute)
	if _, settled, err := e.certificateRules(ctx, st); err != nil || settled {
		t.Errorf("after expiry with no write: settled %t, err %v; want unsettled", settled, err)
	}
}

func TestJoinReasonsCountsTheRest(t *testing.T) {
	reasons := []string{"a failed", "b failed", "c failed", "d failed", "e failed"}
	got := joinReasons(reasons)
	want := "a failed; b failed; c failed; and 2 more like these (the stop's objects name them all)"
	if got != want {
		t.Errorf("joinReasons = %q, want %q", got, want)
	}
	if got := joinReasons(reasons[:3]); got != "a failed; b failed; c failed" {
		t.Errorf("joinReasons of three = %q", got)
	}
}
