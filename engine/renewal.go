package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
)

// The condition cmctl renew sets to make cert-manager issue a Certificate
// again (cmctl renewCertificate, with cert-manager v1.21.2's Issuing
// condition type).
const (
	reasonManuallyTriggered  = "ManuallyTriggered"
	messageManuallyTriggered = "Certificate re-issuance manually triggered"
)

// observeRenewal triggers a renewal of the canary's Certificate, as cmctl
// renew does, and waits until it is issued again: its status.revision
// passes the value read before the trigger, or the ledger records an
// issuance for it since the step started. The step's duration is the
// timeout. The baseline and the trigger are saved in the progress, so a
// resumed step neither triggers a second renewal nor loses the baseline.
func (e *Engine) observeRenewal(ctx context.Context, st *runState, step *plan.Step) error {
	key := e.stepCertificate(step)
	if key == "" || step.Duration <= 0 {
		return fmt.Errorf("invalid plan: step %s needs a Certificate (or host) and a duration", step.ID)
	}
	fl := st.prog.InFlight
	if fl.Baseline == nil {
		fl.Baseline = map[string]string{}
	}
	if _, ok := fl.Baseline["revision"]; !ok {
		rev, err := e.certificateRevision(ctx, key)
		if err != nil {
			return err
		}
		fl.Baseline["revision"] = strconv.Itoa(rev)
		if err := e.save(ctx, st); err != nil {
			return err
		}
	}
	base, err := strconv.Atoi(fl.Baseline["revision"])
	if err != nil {
		return fmt.Errorf("invalid saved revision %q for step %s: %w", fl.Baseline["revision"], step.ID, err)
	}

	if fl.Baseline["triggered"] == "" {
		ch, err := e.renewalChange(ctx, step.ID, key, base)
		if err != nil {
			return err
		}
		if ch != nil {
			if err := e.actuator.Execute(ctx, ch); err != nil {
				return err
			}
			fmt.Fprintf(e.out, "  %s %s: %s\n", ch.Op, ch.Object(), ch.Summary)
		}
		fl.Baseline["triggered"] = "true"
		if err := e.save(ctx, st); err != nil {
			return err
		}
	}

	renewed, err := e.poll(ctx, st, fl.StartedAt.Add(step.Duration), func(ctx context.Context) (bool, error) {
		rev, err := e.certificateRevision(ctx, key)
		return rev > base || st.issuedSince(key, fl.StartedAt), err
	})
	if err != nil || renewed {
		return err
	}
	return e.gateStop(step, fmt.Sprintf("no renewal of Certificate %s within %s (revision still %d)", key, step.Duration, base), "Certificate/"+key)
}

// renewalChange sets Issuing=True with reason ManuallyTriggered on the
// Certificate's status, keeping its other conditions. The merge patch
// carries the resourceVersion it was built from, so it fails instead of
// overwriting a status cert-manager changed in between. It returns nil when
// the Certificate is already issuing or was issued past baseRevision.
func (e *Engine) renewalChange(ctx context.Context, step, key string, baseRevision int) (*Change, error) {
	ns, name := splitKey(key)
	c := &cmv1.Certificate{}
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Certificate %s not found: it must exist before its renewal is observed", key)
		}
		return nil, fmt.Errorf("get Certificate %s: %w", key, err)
	}
	if c.Status.Revision != nil && *c.Status.Revision > baseRevision {
		return nil, nil
	}

	var conditions []cmv1.CertificateCondition
	for _, cond := range c.Status.Conditions {
		if cond.Type == cmv1.CertificateConditionIssuing {
			if cond.Status == cmmeta.ConditionTrue {
				return nil, nil
			}
			continue
		}
		conditions = append(conditions, cond)
	}
	now := metav1.NewTime(e.clock.Now())
	conditions = append(conditions, cmv1.CertificateCondition{
		Type: cmv1.CertificateConditionIssuing, Status: cmmeta.ConditionTrue,
		Reason: reasonManuallyTriggered, Message: messageManuallyTriggered,
		LastTransitionTime: &now, ObservedGeneration: c.Generation,
	})

	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cmv1.CertificateStatus{Conditions: conditions})
	if err != nil {
		return nil, err
	}
	body := map[string]any{"status": map[string]any{"conditions": status["conditions"]}}
	data, err := json.Marshal(mergePatch(copyMap(body), map[string]any{"metadata": map[string]any{"resourceVersion": c.ResourceVersion}}))
	if err != nil {
		return nil, err
	}
	return &Change{
		Step: step, Op: OpPatch, SubResource: "status", GVK: gvkCertificate, Namespace: ns, Name: name,
		Summary: "trigger a renewal of Certificate " + key + " (Issuing=True, ManuallyTriggered, as cmctl renew does)",
		Patch:   client.RawPatch(types.MergePatchType, data),
		Expect: func(live map[string]any) (map[string]any, error) {
			if live == nil {
				return nil, fmt.Errorf("Certificate %s not found", key)
			}
			return mergePatch(copyMap(live), copyMap(body)), nil
		},
	}, nil
}
