package engine

import (
	"context"
	"fmt"
	"sort"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
)

// reasonBadConfig is the reason of the Warning event cert-manager's
// gateway-shim records on a Gateway listener it skips (v1.21.2).
const reasonBadConfig = "BadConfig"

// shimTest checks that the gateway-shim reacted to the Gateway's
// annotation: within the timeout it must have created a Certificate owned
// by the Gateway for a Secret the plan expects, or recorded a BadConfig
// event on the Gateway. A Certificate for any other Secret, or no reaction
// at all, is ambiguous and stops the run; the Certificate is left in place.
// Once the operator resumes past that stop, the test passes.
func (e *Engine) shimTest(ctx context.Context, st *runState, step *plan.Step) error {
	ns, name := splitKey(step.Gateway)
	since := e.annotatedAt(st, step)
	expected := e.index.expectedSecrets(step.Gateway)
	var unexpected []observation
	var outcome string
	reacted, err := e.poll(ctx, st, st.prog.InFlight.StartedAt.Add(e.readyTimeout(step)), func(ctx context.Context) (bool, error) {
		certs := &cmv1.CertificateList{}
		if err := e.client.List(ctx, certs, client.InNamespace(ns)); err != nil {
			return false, fmt.Errorf("list Certificates in %s: %w", ns, err)
		}
		unexpected = nil
		for i := range certs.Items {
			c := &certs.Items[i]
			owner := metav1.GetControllerOf(c)
			if owner == nil || owner.Kind != "Gateway" || owner.Name != name {
				continue
			}
			if !expected[c.Spec.SecretName] {
				unexpected = append(unexpected, observation{
					rule: RuleAmbiguousShimTest, objects: []string{"Certificate/" + ns + "/" + c.Name}, state: "unexpected-secret:" + c.Spec.SecretName,
					reason: fmt.Sprintf("the gateway-shim created Certificate %s/%s for Secret %s, which the plan does not expect on Gateway %s (left in place)", ns, c.Name, c.Spec.SecretName, step.Gateway),
				})
			} else if outcome == "" {
				outcome = "the gateway-shim created Certificate " + ns + "/" + c.Name
			}
		}
		if len(unexpected) > 0 {
			return true, nil
		}
		if outcome != "" {
			return true, nil
		}

		events := &corev1.EventList{}
		if err := e.client.List(ctx, events, client.InNamespace(ns)); err != nil {
			return false, fmt.Errorf("list Events in %s: %w", ns, err)
		}
		for _, ev := range events.Items {
			if ev.InvolvedObject.Kind == "Gateway" && ev.InvolvedObject.Name == name && ev.Reason == reasonBadConfig && isRecent(eventTime(&ev), since) {
				outcome = "the gateway-shim recorded BadConfig: " + ev.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}

	obs := unexpected
	if !reacted {
		obs = []observation{{
			rule: RuleAmbiguousShimTest, objects: []string{"Gateway/" + step.Gateway}, state: "no-reaction:" + since.UTC().Format(time.RFC3339),
			reason: fmt.Sprintf("annotating Gateway %s produced neither a Certificate nor a BadConfig event within %s; the plan expected: %s", step.Gateway, e.readyTimeout(step), step.Expect),
		}}
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].key() < obs[j].key() })
	if stop := e.newStop(obs, st.prog.Acknowledged); stop != nil {
		return &stopSignal{stop: stop}
	}

	if outcome == "" {
		outcome = "ambiguous result acknowledged by the operator"
	}
	e.log.Info("shim test passed", "gateway", step.Gateway, "outcome", outcome)
	fmt.Fprintf(e.out, "  shim test on %s: %s\n", step.Gateway, outcome)
	return nil
}

// annotatedAt returns when the latest annotate-gateway step on the step's
// Gateway started, from the ledger; events older than that are not a
// reaction to it. Without such a step it is the test's own start.
func (e *Engine) annotatedAt(st *runState, step *plan.Step) time.Time {
	at := time.Time{}
	for i := range e.plan.Steps {
		s := &e.plan.Steps[i]
		if s.Kind != plan.StepAnnotateGateway || s.Gateway != step.Gateway {
			continue
		}
		for _, w := range st.prog.Ledger.Waves {
			for _, r := range w.Steps {
				if r.ID == s.ID && r.Outcome == OutcomeDone && r.Started.After(at) {
					at = r.Started
				}
			}
		}
	}
	if at.IsZero() {
		return st.prog.InFlight.StartedAt
	}
	return at
}

// isRecent reports whether an event time is at or after since; an event
// without any time counts as recent.
func isRecent(t, since time.Time) bool {
	// The API server keeps an Event's timestamps to the second. An event
	// recorded later within since's second therefore reads as earlier.
	return t.IsZero() || !t.Before(since.Truncate(time.Second))
}

// eventTime returns the latest time an event carries, or zero.
func eventTime(ev *corev1.Event) time.Time {
	t := ev.CreationTimestamp.Time
	for _, c := range []time.Time{ev.FirstTimestamp.Time, ev.LastTimestamp.Time, ev.EventTime.Time} {
		if c.After(t) {
			t = c
		}
	}
	return t
}
