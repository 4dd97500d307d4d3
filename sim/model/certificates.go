package model

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

// certState is the model's memory of one Certificate (by UID), beyond
// what its status holds: the requests and the issuance in flight.
type certState struct {
	uid types.UID
	key string // namespace/name
	// inputs are the resource versions the Certificate was last
	// reconciled at. Like cert-manager's informers, the model reconciles a
	// Certificate only when it, its Secret or its issuer changes, or when
	// a scheduled recheck comes due. So Ready is not re-evaluated at
	// expiry by itself.
	inputs string
	force  bool
	// scheduled holds the recheck times already queued.
	scheduled map[int64]bool
	// current issued the certificate in the Secret; next is the latest
	// request (the one backoff compares the spec with).
	current, next *requestRecord
	issuing       *issuance
	// templateKeys are the secretTemplate annotations and labels last
	// written to the Secret, so that removed ones are deleted.
	templateKeys []string
	lastReady    string
}

// requestRecord is one CertificateRequest the model made.
type requestRecord struct {
	name     string
	revision int
	spec     specFingerprint
	public   crypto.PublicKey
}

// issuance is a request in flight.
type issuance struct {
	req      *requestRecord
	key      ed25519.PrivateKey
	canceled bool
	// pending is true while the issuer is missing or not Ready.
	pending bool
	// started is true once the issuer took the request.
	started bool
}

// certRound caches what one syncCertificates run reads: the Secrets by
// namespace/name, issuer inputs by reference and the Certificates by
// namespace/secretName.
type certRound struct {
	secrets  map[string]*corev1.Secret
	issuers  map[string]string
	bySecret map[string][]*cmapi.Certificate
}

// recheckAt schedules a reconcile of the Certificate at t.
func (w *World) recheckAt(st *certState, t time.Time) {
	if !t.After(w.sched.now) {
		return
	}
	if st.scheduled == nil {
		st.scheduled = map[int64]bool{}
	}
	if st.scheduled[t.UnixNano()] {
		return
	}
	st.scheduled[t.UnixNano()] = true
	w.sched.at(t, func() {
		delete(st.scheduled, t.UnixNano())
		st.force = true
		w.certWake = true
	})
}

// syncCertificates reconciles every Certificate whose inputs changed or
// whose recheck is due, in namespace/name order.
func (w *World) syncCertificates() bool {
	skip := w.unchanged("certificates", "Certificate", "Certificate/status", "Secret",
		"ClusterIssuer", "ClusterIssuer/status", "Issuer", "Issuer/status")
	if skip && !w.certWake {
		return false
	}
	w.certWake = false
	ctx := context.Background()
	// The lists share their items with the client's cache, so the
	// controllers below only read them and write copies.
	var list cmapi.CertificateList
	if err := w.listShared(ctx, &list); err != nil {
		w.recordError("list Certificates", err)
		return false
	}
	// The store lists by "namespace/name", which differs from namespace,
	// then name, when one namespace's name is a prefix of another's. Sort
	// a copy then: listShared's array is shared with later calls.
	if !certificatesSorted(list.Items) {
		list.Items = slices.Clone(list.Items)
		sortCertificates(list.Items)
	}

	var secrets corev1.SecretList
	if err := w.listShared(ctx, &secrets); err != nil {
		w.recordError("list Secrets", err)
		return false
	}
	round := &certRound{secrets: map[string]*corev1.Secret{}, issuers: map[string]string{}, bySecret: map[string][]*cmapi.Certificate{}}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		round.secrets[s.Namespace+"/"+s.Name] = s
	}
	for i := range list.Items {
		c := &list.Items[i]
		k := c.Namespace + "/" + c.Spec.SecretName
		round.bySecret[k] = append(round.bySecret[k], c)
	}
	w.round = round
	defer func() { w.round = nil }()

	changed := false
	live := map[types.UID]bool{}
	for i := range list.Items {
		c := &list.Items[i]
		live[c.UID] = true
		st := w.certs[c.UID]
		if st == nil {
			st = &certState{uid: c.UID, key: c.Namespace + "/" + c.Name}
			w.certs[c.UID] = st
		}
		secret := round.secrets[c.Namespace+"/"+c.Spec.SecretName]
		inputs := c.ResourceVersion + "/" + secretVersion(secret) + "/" + w.issuerInputs(c)
		if inputs == st.inputs && !st.force {
			continue
		}
		changedInputs := inputs != st.inputs
		st.inputs, st.force = inputs, false
		if w.reconcileCertificate(c, secret, st, changedInputs) {
			changed = true
		}
	}

	uids := make([]string, 0, len(w.certs))
	for uid := range w.certs {
		uids = append(uids, string(uid))
	}
	sort.Strings(uids)
	for _, uid := range uids {
		if st := w.certs[types.UID(uid)]; !live[st.uid] {
			if st.issuing != nil {
				st.issuing.canceled = true
			}
			delete(w.certs, st.uid)
			w.record(traceCertificate, "Certificate/"+st.key, "deleted; issuance state dropped")
		}
	}
	return changed
}

// reconcileCertificate is the trigger, request and readiness controllers
// of cert-manager for one Certificate. The readiness controller runs only
// when the inputs changed: a scheduled recheck wakes the trigger alone, as
// in cert-manager. It returns true when it wrote.
func (w *World) reconcileCertificate(c *cmapi.Certificate, secret *corev1.Secret, st *certState, changedInputs bool) bool {
	changed := w.syncSecretTemplate(c, secret, st)
	if changed {
		secret = w.peekSecret(c.Namespace, c.Spec.SecretName)
	}
	updated := c.DeepCopy()
	var start *policyResult

	switch {
	case st.issuing != nil:
		if diff := st.issuing.req.spec.diff(fingerprintOf(c)); len(diff) > 0 {
			// The request manager replaces a request that no longer
			// matches the spec; the Certificate stays Issuing.
			w.record(traceRequest, "CertificateRequest/"+c.Namespace+"/"+st.issuing.req.name, "superseded: %v", diff)
			st.issuing.canceled = true
			st.issuing = nil
			start = &policyResult{reason: reasonRequestChanged, message: fmt.Sprintf("Fields on the next CertificateRequest not up to date: %v", diff)}
		} else if st.issuing.pending {
			defer w.proceedIssuance(c.Namespace, c.Name, st)
		}
	default:
		start = w.triggerDecision(updated, secret, st)
	}

	if start != nil {
		setCertificateCondition(updated, cmapi.CertificateConditionIssuing, cmmeta.ConditionTrue, start.reason, start.message, w.sched.now)
	}
	if changedInputs {
		w.setReadiness(updated, secret, st)
	}

	if !apiequality.Semantic.DeepEqual(c.Status, updated.Status) {
		if err := w.api.Status().Update(context.Background(), updated, client.FieldOwner("cert-manager-certificates-readiness")); err != nil {
			w.recordError("update status of Certificate/"+st.key, err)
			return changed
		}
		changed = true
	}
	if start != nil {
		w.emitEvent(updated, corev1.EventTypeNormal, "Issuing", start.message)
		w.record(traceCertificate, "Certificate/"+st.key, "issuing: %s: %s", start.reason, start.message)
		w.startIssuance(updated, secret, st)
		changed = true
	}
	return changed
}

// triggerDecision is cert-manager's trigger controller: it returns the
// reason to issue, or nil, and schedules the next recheck.
func (w *World) triggerDecision(c *cmapi.Certificate, secret *corev1.Secret, st *certState) *policyResult {
	if cond := certificateCondition(c, cmapi.CertificateConditionIssuing); cond != nil && cond.Status == cmmeta.ConditionTrue {
		// Someone else set Issuing=True, as cmctl renew does with reason
		// ManuallyTriggered: cert-manager's request manager issues.
		return &policyResult{reason: cond.Reason, message: cond.Message}
	}
	if owner := w.secretOwner(c); owner != c.Name {
		// cert-manager v1.21.2 CertificateOwnsSecret: one Certificate per
		// Secret issues; the others requeue every 3 minutes.
		w.recheckAt(st, w.sched.now.Add(3*time.Minute))
		return nil
	}
	if c.Status.LastFailureTime != nil {
		specChanged := st.next != nil && len(st.next.spec.diff(fingerprintOf(c))) > 0
		if !specChanged {
			attempts := 0
			if c.Status.FailedIssuanceAttempts != nil {
				attempts = *c.Status.FailedIssuanceAttempts
			}
			retry := c.Status.LastFailureTime.Time.Add(backoffDelay(attempts))
			if w.sched.now.Before(retry) {
				w.recheckAt(st, retry)
				return nil
			}
		}
	}
	res := w.triggerPolicy(policyInput{cert: c, secret: secret, current: st.current, now: w.sched.now})
	if !res.ok {
		return &res
	}
	if pair, _, err := w.secretKeyPair(secret); err == nil {
		w.recheckAt(st, renewalTime(pair.cert.NotBefore, pair.cert.NotAfter, c.Spec))
	}
	return nil
}

// setReadiness is cert-manager's readiness controller: the Ready condition
// and the notBefore, notAfter and renewalTime of the Secret's certificate.
func (w *World) setReadiness(c *cmapi.Certificate, secret *corev1.Secret, st *certState) {
	res, pair := w.readinessPolicy(policyInput{cert: c, secret: secret, current: st.current, now: w.sched.now})
	status := cmmeta.ConditionTrue
	if !res.ok {
		status = cmmeta.ConditionFalse
	}
	setCertificateCondition(c, cmapi.CertificateConditionReady, status, res.reason, res.message, w.sched.now)
	if pair != nil {
		nb, na := metav1.NewTime(pair.cert.NotBefore), metav1.NewTime(pair.cert.NotAfter)
		rt := metav1.NewTime(renewalTime(pair.cert.NotBefore, pair.cert.NotAfter, c.Spec))
		c.Status.NotBefore, c.Status.NotAfter, c.Status.RenewalTime = &nb, &na, &rt
	} else {
		c.Status.NotBefore, c.Status.NotAfter, c.Status.RenewalTime = nil, nil, nil
	}
	ready := string(status) + "/" + res.reason
	if ready != st.lastReady {
		st.lastReady = ready
		w.record(traceCertificate, "Certificate/"+st.key, "Ready=%s %s", status, res.reason)
	}
}

// secretOwner returns the name of the Certificate allowed to issue into c's
// Secret when several Certificates in the namespace name it: the one the
// Secret's certificate-name annotation names, else the oldest, then the
// first by name.
func (w *World) secretOwner(c *cmapi.Certificate) string {
	var dups []*cmapi.Certificate
	if w.round != nil {
		dups = append(dups, w.round.bySecret[c.Namespace+"/"+c.Spec.SecretName]...)
	}
	if len(dups) <= 1 {
		return c.Name
	}
	sort.Slice(dups, func(i, j int) bool {
		a, b := dups[i].CreationTimestamp, dups[j].CreationTimestamp
		if a.Equal(&b) {
			return dups[i].Name < dups[j].Name
		}
		return a.Before(&b)
	})
	if s := w.peekSecret(c.Namespace, c.Spec.SecretName); s != nil {
		if name, ok := s.Annotations[cmapi.CertificateNameKey]; ok {
			for _, d := range dups {
				if d.Name == name {
					return name
				}
			}
		}
	}
	return dups[0].Name
}

// setCertificateCondition sets a condition, keeping its transition time
// when the status does not change.
func setCertificateCondition(c *cmapi.Certificate, t cmapi.CertificateConditionType, status cmmeta.ConditionStatus, reason, message string, now time.Time) {
	for i := range c.Status.Conditions {
		cond := &c.Status.Conditions[i]
		if cond.Type != t {
			continue
		}
		if cond.Status != status {
			ts := metav1.NewTime(now)
			cond.LastTransitionTime = &ts
		}
		cond.Status, cond.Reason, cond.Message = status, reason, message
		cond.ObservedGeneration = c.Generation
		return
	}
	ts := metav1.NewTime(now)
	c.Status.Conditions = append(c.Status.Conditions, cmapi.CertificateCondition{
		Type: t, Status: status, Reason: reason, Message: message,
		LastTransitionTime: &ts, ObservedGeneration: c.Generation,
	})
}

func certificateCondition(c *cmapi.Certificate, t cmapi.CertificateConditionType) *cmapi.CertificateCondition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == t {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}

func removeCertificateCondition(c *cmapi.Certificate, t cmapi.CertificateConditionType) {
	out := c.Status.Conditions[:0]
	for _, cond := range c.Status.Conditions {
		if cond.Type != t {
			out = append(out, cond)
		}
	}
	c.Status.Conditions = out
}

// getSecret returns a Secret, or nil when it does not exist.
func (w *World) getSecret(namespace, name string) *corev1.Secret {
	var s corev1.Secret
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		if !apierrors.IsNotFound(err) {
			w.recordError("get Secret/"+namespace+"/"+name, err)
		}
		return nil
	}
	return &s
}

// peekSecret is getSecret without the copy, for callers that only read
// the Secret; see objectStore.peek.
func (w *World) peekSecret(namespace, name string) *corev1.Secret {
	if o, ok := w.api.peek(&corev1.Secret{}, namespace, name).(*corev1.Secret); ok {
		return o
	}
	return nil
}

// secretVersion returns a Secret's resource version, "-" when it is nil.
func secretVersion(s *corev1.Secret) string {
	if s == nil {
		return "-"
	}
	return s.ResourceVersion
}

// certificatesSorted reports whether items are in sortCertificates' order.
func certificatesSorted(items []cmapi.Certificate) bool {
	for i := 1; i < len(items); i++ {
		a, b := &items[i-1], &items[i]
		if cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name)) > 0 {
			return false
		}
	}
	return true
}

func sortCertificates(items []cmapi.Certificate) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
}
