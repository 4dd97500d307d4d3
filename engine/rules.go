package engine

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
)

// rateLimitPattern matches a rate-limit error in a cert-manager message:
// the ACME problem type rateLimited or an HTTP 429.
var rateLimitPattern = regexp.MustCompile(`rateLimited|\b429\b`)

// isRateLimitMessage reports whether m matches rateLimitPattern. The
// substring test skips the regexp for the common message that matches
// neither alternative, which observe checks on every poll.
func isRateLimitMessage(m string) bool {
	if !strings.Contains(m, "rateLimited") && !strings.Contains(m, "429") {
		return false
	}
	return rateLimitPattern.MatchString(m)
}

// observe reads the ACME events into the ledger and checks the stop rules
// that hold at any moment (failed-certificate, too-many-pending,
// rate-limited, repeated-retries). It returns a *stopSignal when one fires
// for a state not yet acknowledged.
func (e *Engine) observe(ctx context.Context, st *runState) error {
	obs, err := e.ingestACME(ctx, st)
	if err != nil {
		return err
	}
	certObs, settled, err := e.certificateRules(ctx, st)
	if err != nil {
		return err
	}
	obs = append(obs, certObs...)
	if !settled {
		msgObs, err := e.rateLimitMessages(ctx)
		if err != nil {
			return err
		}
		obs = append(obs, msgObs...)
	}
	obs = append(obs, e.retryRule(st)...)
	if stop := e.newStop(obs, st.prog.Acknowledged); stop != nil {
		return &stopSignal{stop: stop}
	}
	return nil
}

// certificateRules checks every Certificate in the cluster: a failed one
// of a wave that started at least failedCertificateGrace ago fires
// failed-certificate, and more than maxStuckCertificates failed or pending
// longer than the ready timeout fire too-many-pending. A rate-limit error
// in any condition message fires rate-limited. It also reports whether all
// Certificates are settled: Ready, not issuing and without a failure.
func (e *Engine) certificateRules(ctx context.Context, st *runState) ([]observation, bool, error) {
	list, err := e.listCertificates(ctx)
	if err != nil {
		return nil, false, err
	}
	now := e.clock.Now()
	if e.certificatesVersion != "" && e.certificatesVersion == e.settledVersion && now.Before(e.settledUntil) {
		return nil, true, nil
	}
	var obs []observation
	var stuck []string
	settled := true
	// until is the earliest notAfter: a settled Certificate turns
	// unsettled only through a write or by expiring.
	until := farFuture
	for i := range list.Items {
		c := &list.Items[i]
		key := c.Namespace + "/" + c.Name
		s := certificateState(c, now)
		if c.Status.NotAfter != nil && c.Status.NotAfter.Time.Before(until) {
			until = c.Status.NotAfter.Time
		}
		if s.pendingSince.IsZero() {
			// Without a creation or transition time, pending counts from
			// when this run first saw the Certificate.
			s.pendingSince = st.firstSeen(key, now)
		}
		if s.failed || (!s.ready && now.Sub(s.pendingSince) >= e.readyTimeout(nil)) {
			stuck = append(stuck, "Certificate/"+key)
		}
		if !s.ready || s.issuing || c.Status.LastFailureTime != nil {
			settled = false
		}
		// cert-manager copies a failed order's error into the Issuing
		// condition, also when a renewal fails and Ready stays True.
		for _, m := range s.messages {
			if isRateLimitMessage(m) {
				obs = append(obs, observation{rule: RuleRateLimited, objects: []string{"Certificate/" + key}, state: m,
					reason: "Certificate " + key + " reports a rate-limit error: " + m})
			}
		}
		wave := st.prog.Ledger.find(e.index.certWave[key])
		if !s.failed || wave == nil || now.Sub(wave.Started) < failedCertificateGrace {
			continue
		}
		wave.markRetried("Certificate " + key + " failed")
		obs = append(obs, observation{
			rule: RuleFailedCertificate, objects: []string{"Certificate/" + key}, state: s.failure,
			reason: fmt.Sprintf("Certificate %s of wave %s failed: %s", key, wave.Key, s.detail),
		})
	}
	if len(stuck) > maxStuckCertificates {
		slices.Sort(stuck)
		obs = append(obs, observation{
			rule: RuleTooManyPending, objects: stuck, state: strings.Join(stuck, ","),
			reason: fmt.Sprintf("%d Certificates are failing or pending longer than %s (at most %d allowed)", len(stuck), e.readyTimeout(nil), maxStuckCertificates),
		})
	}
	e.settledVersion = ""
	if settled && len(obs) == 0 {
		e.settledVersion, e.settledUntil = e.certificatesVersion, until
	}
	return obs, settled, nil
}

// farFuture bounds a search for the earliest time.
var farFuture = time.Date(9999, time.December, 31, 0, 0, 0, 0, time.UTC)

// listVersioner is implemented by clients that track their writes without
// a request to the API server. ListVersion returns a value that changes
// whenever an object of the kind or one of its subresources is written.
type listVersioner interface {
	ListVersion(kind string) string
}

// listCertificates lists every Certificate. It reuses the previous list
// while the client reports no write to Certificates since, so the caller
// must not modify the list.
func (e *Engine) listCertificates(ctx context.Context) (*cmv1.CertificateList, error) {
	versioner, ok := e.client.(listVersioner)
	version := ""
	if ok {
		version = versioner.ListVersion("Certificate")
		if e.certificates != nil && version == e.certificatesVersion {
			return e.certificates, nil
		}
	}
	list := &cmv1.CertificateList{}
	if err := e.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list Certificates: %w", err)
	}
	if ok {
		e.certificates, e.certificatesVersion = list, version
	}
	return list, nil
}

// rateLimitMessages looks for rate-limit errors on CertificateRequests
// (condition messages) and ACME Orders (status.reason). A world whose
// client does not serve those kinds is skipped. observe calls it only while
// some Certificate is not settled, because an error there also leaves its
// Certificate issuing or failed.
func (e *Engine) rateLimitMessages(ctx context.Context) ([]observation, error) {
	var obs []observation
	requests := &cmv1.CertificateRequestList{}
	if err := e.listOptional(ctx, requests); err != nil {
		return nil, err
	}
	for _, r := range requests.Items {
		for _, c := range r.Status.Conditions {
			if isRateLimitMessage(c.Message) {
				obj := "CertificateRequest/" + r.Namespace + "/" + r.Name
				obs = append(obs, observation{rule: RuleRateLimited, objects: []string{obj}, state: c.Message,
					reason: obj + " reports a rate-limit error: " + c.Message})
			}
		}
	}
	orders := &acmev1.OrderList{}
	if err := e.listOptional(ctx, orders); err != nil {
		return nil, err
	}
	for _, o := range orders.Items {
		if isRateLimitMessage(o.Status.Reason) {
			obj := "Order/" + o.Namespace + "/" + o.Name
			obs = append(obs, observation{rule: RuleRateLimited, objects: []string{obj}, state: o.Status.Reason,
				reason: obj + " reports a rate-limit error: " + o.Status.Reason})
		}
	}
	return obs, nil
}

// listOptional lists into list and treats a kind the client or the cluster
// does not know as an empty list.
func (e *Engine) listOptional(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := e.client.List(ctx, list, opts...)
	if err == nil || meta.IsNoMatchError(err) || runtime.IsNotRegisteredError(err) {
		return nil
	}
	return fmt.Errorf("list %T: %w", list, err)
}

// retryRule fires repeated-retries when more than maxRetriedWaves waves
// that needed retries ran within retryWindow.
func (e *Engine) retryRule(st *runState) []observation {
	now := e.clock.Now()
	var retried []string
	for _, w := range st.prog.Ledger.Waves {
		last := w.Started
		if w.Ended.After(last) {
			last = w.Ended
		}
		if w.Retried && now.Sub(last) <= retryWindow {
			retried = append(retried, w.Key)
		}
	}
	if len(retried) <= maxRetriedWaves {
		return nil
	}
	return []observation{{
		rule: RuleRepeatedRetries, objects: retried, state: strings.Join(retried, ","),
		reason: fmt.Sprintf("%d waves needed retries within %s (%s); at most %d may", len(retried), retryWindow, strings.Join(retried, ", "), maxRetriedWaves),
	}}
}

// readyTimeout is how long a Certificate may take to become Ready: the
// step's duration, else the plan's ReadyTimeout, else ten minutes. Ten
// minutes is an estimate of a batch queueing through cert-manager's five
// challenge workers, each holding a DNS01 challenge at least 60 s.
func (e *Engine) readyTimeout(step *plan.Step) time.Duration {
	if step != nil && step.Duration > 0 {
		return step.Duration
	}
	if e.plan.Options.ReadyTimeout > 0 {
		return e.plan.Options.ReadyTimeout
	}
	return 10 * time.Minute
}

// firstSeen returns when this run first saw the Certificate key.
func (st *runState) firstSeen(key string, now time.Time) time.Time {
	if st.seen == nil {
		st.seen = map[string]time.Time{}
	}
	if t, ok := st.seen[key]; ok {
		return t
	}
	st.seen[key] = now
	return now
}
