package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Gates: each reads the world once and reports whether a condition is met,
// with a detail naming what is missing. The poll loop repeats them.

// certState is a Certificate's state as cert-manager's status reports it.
type certState struct {
	exists bool
	// ready: Ready=True and status.notAfter in the future. cert-manager
	// does not re-evaluate Ready at expiry, so notAfter decides.
	ready bool
	// failed: not ready, and issuance failed (status.lastFailureTime set,
	// or Issuing=False with reason Failed).
	failed bool
	// failure identifies the failure, so a new one differs from an old one.
	failure string
	// pendingSince is when the Certificate stopped being Ready, or was
	// created.
	pendingSince time.Time
	revision     int
	// issuing: Issuing=True, an issuance in flight.
	issuing bool
	detail  string
	// messages are the condition messages, searched for rate-limit errors.
	messages []string
}

func certificateState(c *cmv1.Certificate, now time.Time) certState {
	s := certState{exists: true, pendingSince: c.CreationTimestamp.Time}
	if c.Status.Revision != nil {
		s.revision = *c.Status.Revision
	}
	readyTrue := false
	failureDetail := ""
	for _, cond := range c.Status.Conditions {
		s.messages = append(s.messages, cond.Message)
		switch cond.Type {
		case cmv1.CertificateConditionReady:
			readyTrue = cond.Status == cmmeta.ConditionTrue
			if cond.LastTransitionTime != nil {
				s.pendingSince = cond.LastTransitionTime.Time
			}
			s.detail = "Ready=" + string(cond.Status) + " " + cond.Reason + ": " + cond.Message
		case cmv1.CertificateConditionIssuing:
			s.issuing = cond.Status == cmmeta.ConditionTrue
			if cond.Status == cmmeta.ConditionFalse && cond.Reason == "Failed" {
				s.failed = true
				s.failure = "issuing-failed:" + cond.Message
				failureDetail = "Issuing=False Failed: " + cond.Message
			}
		}
	}

	notAfterOK := c.Status.NotAfter == nil || c.Status.NotAfter.After(now)
	s.ready = readyTrue && notAfterOK
	if readyTrue && !notAfterOK {
		s.detail = "Ready=True but expired at " + c.Status.NotAfter.UTC().Format(time.RFC3339)
	}
	if c.Status.LastFailureTime != nil {
		s.failed = true
		s.failure = c.Status.LastFailureTime.UTC().Format(time.RFC3339Nano)
	}
	if s.ready {
		s.failed, s.failure = false, ""
	}
	if s.failed && failureDetail != "" {
		s.detail = failureDetail
	}
	return s
}

// certificateReady reads the Certificate namespace/name and its Secret. It
// holds when the Certificate is ready and the Secret exists.
func (e *Engine) certificateReady(ctx context.Context, key string) (certState, bool, error) {
	ns, name := splitKey(key)
	c := &cmv1.Certificate{}
	err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)
	if apierrors.IsNotFound(err) {
		return certState{detail: "Certificate " + key + " not created yet"}, false, nil
	}
	if err != nil {
		return certState{}, false, fmt.Errorf("get Certificate %s: %w", key, err)
	}
	s := certificateState(c, e.clock.Now())
	if !s.ready {
		return s, false, nil
	}
	secret := &corev1.Secret{}
	err = e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Spec.SecretName}, secret)
	if apierrors.IsNotFound(err) {
		s.detail = "Secret " + ns + "/" + c.Spec.SecretName + " missing"
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("get Secret %s/%s: %w", ns, c.Spec.SecretName, err)
	}
	return s, true, nil
}

// listenerReady holds when the Gateway's status reports the listener
// Programmed=True and ResolvedRefs=True.
func (e *Engine) listenerReady(ctx context.Context, gateway, listener string) (bool, string, error) {
	ns, name := splitKey(gateway)
	gw := &gwv1.Gateway{}
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, gw); err != nil {
		return false, "", fmt.Errorf("get Gateway %s: %w", gateway, err)
	}
	for _, ls := range gw.Status.Listeners {
		if string(ls.Name) != listener {
			continue
		}
		for _, t := range []gwv1.ListenerConditionType{gwv1.ListenerConditionProgrammed, gwv1.ListenerConditionResolvedRefs} {
			if !meta.IsStatusConditionTrue(ls.Conditions, string(t)) {
				return false, conditionDetail(ls.Conditions, string(t), "listener "+listener+" of Gateway "+gateway), nil
			}
		}
		return true, "", nil
	}
	return false, "listener " + listener + " of Gateway " + gateway + " has no status yet", nil
}

// routeAttached holds when the HTTPRoute's status has the parent
// gateway/section with Accepted=True.
func (e *Engine) routeAttached(ctx context.Context, route, gateway, section string) (bool, string, error) {
	ns, name := splitKey(route)
	r := &gwv1.HTTPRoute{}
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		return false, "", fmt.Errorf("get HTTPRoute %s: %w", route, err)
	}
	gwNS, gwName := splitKey(gateway)
	for _, p := range r.Status.Parents {
		refNS := ns
		if p.ParentRef.Namespace != nil {
			refNS = string(*p.ParentRef.Namespace)
		}
		refSection := ""
		if p.ParentRef.SectionName != nil {
			refSection = string(*p.ParentRef.SectionName)
		}
		if refNS != gwNS || string(p.ParentRef.Name) != gwName || refSection != section {
			continue
		}
		if meta.IsStatusConditionTrue(p.Conditions, string(gwv1.RouteConditionAccepted)) {
			return true, "", nil
		}
		return false, conditionDetail(p.Conditions, string(gwv1.RouteConditionAccepted), "HTTPRoute "+route+" on "+gateway+"/"+section), nil
	}
	return false, fmt.Sprintf("HTTPRoute %s has no status for parent %s section %q yet", route, gateway, section), nil
}

func conditionDetail(conds []metav1.Condition, t, what string) string {
	c := meta.FindStatusCondition(conds, t)
	if c == nil {
		return what + ": no " + t + " condition"
	}
	return fmt.Sprintf("%s: %s=%s %s: %s", what, t, c.Status, c.Reason, c.Message)
}

// pendingRequest describes why the newest CertificateRequest of the
// Certificate namespace/name is not Ready, such as an issuer that does not
// exist, or returns "" when there is none or it reports no reason. The
// Certificate's own condition reports only that its Secret is missing.
func (e *Engine) pendingRequest(ctx context.Context, key string) (string, error) {
	ns, name := splitKey(key)
	var list cmv1.CertificateRequestList
	if err := e.listOptional(ctx, &list, client.InNamespace(ns)); err != nil {
		return "", err
	}
	var newest *cmv1.CertificateRequest
	newestRevision := -1
	for i := range list.Items {
		r := &list.Items[i]
		if r.Annotations[cmv1.CertificateNameKey] != name {
			continue
		}
		revision, err := strconv.Atoi(r.Annotations[cmv1.CertificateRequestRevisionAnnotationKey])
		if err != nil {
			revision = 0
		}
		if revision > newestRevision {
			newest, newestRevision = r, revision
		}
	}
	if newest == nil {
		return "", nil
	}
	for _, c := range newest.Status.Conditions {
		if c.Type == cmv1.CertificateRequestConditionReady && c.Status != cmmeta.ConditionTrue && c.Message != "" {
			return fmt.Sprintf("CertificateRequest %s/%s %s: %s", ns, newest.Name, c.Reason, c.Message), nil
		}
	}
	return "", nil
}
