package model

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

// defaultCADuration is cert-manager's default requested duration, which
// CA and SelfSigned issuers honour (cert-manager v1.21.2
// pkg/apis/certmanager/v1/const.go).
const defaultCADuration = 90 * day

// startIssuance creates the next private key and CertificateRequest and
// hands the request to the issuer.
//
// NOTE: spec.revisionHistoryLimit is not applied: every revision's
// CertificateRequest and Order stay until their Certificate is deleted.
func (w *World) startIssuance(c *cmapi.Certificate, secret *corev1.Secret, st *certState) {
	revision := 1
	if c.Status.Revision != nil {
		revision = *c.Status.Revision + 1
	}
	key := w.nextPrivateKey(c, secret)
	csr, err := newCSR(c.Spec.CommonName, c.Spec.DNSNames, key)
	if err != nil {
		w.recordError("create CSR for Certificate/"+st.key, err)
		return
	}

	req := &requestRecord{name: requestName(c.Name, revision), revision: revision, spec: fingerprintOf(c), public: key.Public()}
	cr := &cmapi.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.Namespace,
			Name:      req.name,
			Annotations: map[string]string{
				cmapi.CertificateNameKey:                      c.Name,
				cmapi.CertificateRequestRevisionAnnotationKey: fmt.Sprint(revision),
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(c, cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind))},
		},
		Spec: cmapi.CertificateRequestSpec{
			Request:   csr,
			IssuerRef: c.Spec.IssuerRef,
			Duration:  c.Spec.Duration,
			IsCA:      c.Spec.IsCA,
			Usages:    c.Spec.Usages,
		},
	}

	ctx := context.Background()
	w.deleteRequestsOfRevision(c, revision)
	w.stampNew(cr)
	if err := w.api.Create(ctx, cr, client.FieldOwner("cert-manager-certificates-request-manager")); err != nil {
		w.recordError("create CertificateRequest/"+c.Namespace+"/"+req.name, err)
		return
	}

	w.record(traceRequest, "CertificateRequest/"+c.Namespace+"/"+req.name, "created for revision %d, dnsNames %s", revision, strings.Join(c.Spec.DNSNames, ","))
	st.issuing = &issuance{req: req, key: key}
	st.next = req
	w.proceedIssuance(c.Namespace, c.Name, st)
}

// requestName names a Certificate's request for a revision as cert-manager
// v1.21.2 does with its StableCertificateRequestName feature, on by default
// (pkg/controller/certificates/requestmanager): <certificate>-<revision>,
// which a local-stack run confirmed. Certificate names longer than 233
// characters, which cert-manager hashes, are not modelled.
func requestName(certificate string, revision int) string {
	return fmt.Sprintf("%s-%d", certificate, revision)
}

// deleteRequestsOfRevision deletes the Certificate's earlier request for
// the revision about to be requested: the request manager removes a
// failed request before it retries (deleteCurrentFailedRequests in
// cert-manager v1.21.2). Requests are named after their revision (see
// requestName), so there is at most one. The new request has the same
// name, and so would its Order: cert-manager's ACME issuer retries until
// Kubernetes' garbage collector has removed the old Order, which takes
// about a second. The model runs the collector at once instead.
func (w *World) deleteRequestsOfRevision(c *cmapi.Certificate, revision int) {
	ctx := context.Background()
	var cr cmapi.CertificateRequest
	key := client.ObjectKey{Namespace: c.Namespace, Name: requestName(c.Name, revision)}
	if err := w.api.Get(ctx, key, &cr); err != nil {
		if !apierrors.IsNotFound(err) {
			w.recordError("get CertificateRequest/"+key.String(), err)
		}
		w.collectGarbage()
		return
	}
	if metav1.IsControlledBy(&cr, c) && cr.Annotations[cmapi.CertificateRequestRevisionAnnotationKey] == fmt.Sprint(revision) {
		if err := w.api.Delete(ctx, &cr); err != nil && !apierrors.IsNotFound(err) {
			w.recordError("delete CertificateRequest/"+key.String(), err)
		} else {
			w.gcPending = true
		}
	}
	w.collectGarbage()
}

// nextPrivateKey returns a fresh key, or the Secret's key when the rotation
// policy is Never (the default before cert-manager v1.18) and the Secret
// holds an ed25519 key.
func (w *World) nextPrivateKey(c *cmapi.Certificate, secret *corev1.Secret) ed25519.PrivateKey {
	rotate := w.rules.rotateKeys
	if pk := c.Spec.PrivateKey; pk != nil && pk.RotationPolicy != "" {
		rotate = pk.RotationPolicy == cmapi.RotationPolicyAlways
	}
	if !rotate && secret != nil {
		if k, err := parseKey(secret.Data[corev1.TLSPrivateKeyKey]); err == nil {
			if ek, ok := k.(ed25519.PrivateKey); ok {
				return ek
			}
		}
	}
	return w.newKey()
}

// requestNames returns the identifiers of an ACME order: the dnsNames, plus
// the common name when it is not among them, lowercased, sorted, unique.
func requestNames(c *cmapi.Certificate) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append(append([]string(nil), c.Spec.DNSNames...), c.Spec.CommonName) {
		n = strings.ToLower(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// proceedIssuance hands the request in flight to its issuer, or leaves it
// pending while the issuer is missing or not Ready.
func (w *World) proceedIssuance(namespace, name string, st *certState) {
	iss := st.issuing
	if iss == nil || iss.canceled || iss.started {
		return
	}
	var c cmapi.Certificate
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil {
		return
	}
	issuer, found := w.lookupIssuer(namespace, c.Spec.IssuerRef)
	if !found || !issuer.ready {
		if !iss.pending {
			msg := fmt.Sprintf("Referenced %q not found", c.Spec.IssuerRef.Kind+"/"+c.Spec.IssuerRef.Name)
			if found {
				msg = "Referenced issuer does not have a Ready status condition"
			}
			w.setRequestCondition(namespace, iss.req.name, cmmeta.ConditionFalse, "Pending", msg, nil)
			w.record(traceRequest, "CertificateRequest/"+namespace+"/"+iss.req.name, "pending: %s", msg)
		}
		iss.pending = true
		return
	}
	iss.pending = false
	iss.started = true
	now := w.sched.now
	switch issuer.typ() {
	case issuerTypeACME:
		w.acme.startOrder(&c, st, issuer)
	case issuerTypeSelfSigned, issuerTypeCA:
		var parent *authority
		if issuer.typ() == issuerTypeCA {
			a, err := w.caAuthority(issuer)
			if err != nil {
				w.failIssuance(namespace, name, st, err.Error())
				return
			}
			parent = a
		}
		duration := defaultCADuration
		if c.Spec.Duration != nil {
			duration = c.Spec.Duration.Duration
		}
		notAfter := now.Add(duration)
		if parent != nil && notAfter.After(parent.cert.NotAfter) {
			notAfter = parent.cert.NotAfter
		}
		certPEM, err := w.sign(leafRequest{commonName: c.Spec.CommonName, dnsNames: c.Spec.DNSNames, isCA: c.Spec.IsCA,
			notBefore: now, notAfter: notAfter, public: iss.key.Public()}, parent, iss.key)
		if err != nil {
			w.failIssuance(namespace, name, st, "signing failed: "+err.Error())
			return
		}
		var caPEM []byte
		if parent != nil {
			caPEM = parent.certPEM
		} else {
			caPEM = certPEM
		}
		w.completeIssuance(namespace, name, st, certPEM, caPEM, issuer)
	default:
		iss.started = false
		iss.pending = true
		w.record(traceRequest, "CertificateRequest/"+namespace+"/"+iss.req.name, "pending: issuer %s has a type the model cannot sign for", issuer.key())
	}
}

// completeIssuance stores the issued certificate in the Secret and marks
// the request and the Certificate issued.
func (w *World) completeIssuance(namespace, name string, st *certState, certPEM, caPEM []byte, issuer *issuerView) {
	iss := st.issuing
	if iss == nil || iss.canceled {
		return
	}
	ctx := context.Background()
	var c cmapi.Certificate
	if err := w.api.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil || c.UID != st.uid {
		return
	}
	keyPEM, err := encodeKey(iss.key)
	if err != nil {
		w.recordError("encode key of Certificate/"+st.key, err)
		return
	}
	leaf, err := w.parseCertificate(certPEM)
	if err != nil {
		w.recordError("parse issued certificate of Certificate/"+st.key, err)
		return
	}
	if err := w.writeIssuedSecret(&c, issuer, leaf.Subject.CommonName, certPEM, keyPEM, caPEM); err != nil {
		w.recordError("write Secret/"+namespace+"/"+c.Spec.SecretName, err)
		return
	}
	w.setRequestCondition(namespace, iss.req.name, cmmeta.ConditionTrue, "Issued", "Certificate fetched from issuer successfully", certPEM)

	updated := c.DeepCopy()
	removeCertificateCondition(updated, cmapi.CertificateConditionIssuing)
	revision := iss.req.revision
	updated.Status.Revision = &revision
	updated.Status.LastFailureTime = nil
	updated.Status.FailedIssuanceAttempts = nil
	if err := w.api.Status().Update(ctx, updated, client.FieldOwner("cert-manager-certificates-issuing")); err != nil {
		w.recordError("update status of Certificate/"+st.key, err)
	}
	st.current = iss.req
	st.issuing = nil
	w.emitEvent(updated, corev1.EventTypeNormal, "Issuing", "The certificate has been successfully issued")
	w.record(traceCertificate, "Certificate/"+st.key, "issued revision %d: notBefore %s notAfter %s renewal %s",
		revision, formatTime(leaf.NotBefore), formatTime(leaf.NotAfter),
		formatTime(renewalTime(leaf.NotBefore, leaf.NotAfter, c.Spec)))
}

// writeIssuedSecret creates or updates the Certificate's Secret with the
// key pair and cert-manager's annotations, keeping annotations and labels
// other writers set (a reflector mirror's, for example).
func (w *World) writeIssuedSecret(c *cmapi.Certificate, issuer *issuerView, commonName string, certPEM, keyPEM, caPEM []byte) error {
	ctx := context.Background()
	s := w.getSecret(c.Namespace, c.Spec.SecretName)
	create := s == nil
	if create {
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Spec.SecretName}, Type: corev1.SecretTypeTLS}
		w.stampNew(s)
	}

	s.Data = map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}
	if len(caPEM) > 0 {
		s.Data[cmmeta.TLSCAKey] = caPEM
	}

	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	kind := issuer.kind
	s.Annotations[cmapi.IssuerNameAnnotationKey] = issuer.name
	s.Annotations[cmapi.IssuerKindAnnotationKey] = kind
	s.Annotations[cmapi.IssuerGroupAnnotationKey] = "cert-manager.io"
	s.Annotations[cmapi.CertificateNameKey] = c.Name
	s.Annotations[cmapi.CommonNameAnnotationKey] = commonName
	s.Annotations[cmapi.AltNamesAnnotationKey] = strings.Join(c.Spec.DNSNames, ",")
	s.Annotations[cmapi.IPSANAnnotationKey] = ""
	s.Annotations[cmapi.URISANAnnotationKey] = ""
	s.Labels[cmapi.PartOfCertManagerControllerLabelKey] = "true"
	if t := c.Spec.SecretTemplate; t != nil {
		for k, v := range t.Annotations {
			s.Annotations[k] = v
		}
		for k, v := range t.Labels {
			s.Labels[k] = v
		}
	}

	owner := client.FieldOwner("cert-manager-certificates-issuing")
	if create {
		if err := w.api.Create(ctx, s, owner); err != nil {
			return err
		}
	} else if err := w.api.Update(ctx, s, owner); err != nil {
		return err
	}
	w.record(traceSecret, "Secret/"+s.Namespace+"/"+s.Name, "written by cert-manager for Certificate %s", c.Name)
	return nil
}

// failIssuance marks the request failed and the Certificate's issuance
// failed; the trigger then backs off (1h doubling to 32h).
func (w *World) failIssuance(namespace, name string, st *certState, message string) {
	iss := st.issuing
	if iss == nil || iss.canceled {
		return
	}
	st.issuing = nil
	ctx := context.Background()
	now := metav1.NewTime(w.sched.now)
	w.setRequestCondition(namespace, iss.req.name, cmmeta.ConditionFalse, "Failed", message, nil)
	var c cmapi.Certificate
	if err := w.api.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil || c.UID != st.uid {
		return
	}
	updated := c.DeepCopy()
	attempts := 1
	if c.Status.FailedIssuanceAttempts != nil {
		attempts = *c.Status.FailedIssuanceAttempts + 1
	}
	updated.Status.FailedIssuanceAttempts = &attempts
	updated.Status.LastFailureTime = &now
	msg := "The certificate request has failed to complete and will be retried: " + message
	setCertificateCondition(updated, cmapi.CertificateConditionIssuing, cmmeta.ConditionFalse, reasonFailed, msg, w.sched.now)
	if err := w.api.Status().Update(ctx, updated, client.FieldOwner("cert-manager-certificates-issuing")); err != nil {
		w.recordError("update status of Certificate/"+st.key, err)
		return
	}
	w.emitEvent(updated, corev1.EventTypeWarning, reasonFailed, msg)
	w.record(traceCertificate, "Certificate/"+st.key, "issuance failed (attempt %d, retry after %s): %s",
		attempts, backoffDelay(attempts), message)
}

// setRequestCondition sets a CertificateRequest's Ready condition, and its
// certificate when issued.
func (w *World) setRequestCondition(namespace, name string, status cmmeta.ConditionStatus, reason, message string, certPEM []byte) {
	ctx := context.Background()
	var cr cmapi.CertificateRequest
	if err := w.api.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cr); err != nil {
		if !apierrors.IsNotFound(err) {
			w.recordError("get CertificateRequest/"+namespace+"/"+name, err)
		}
		return
	}
	now := metav1.NewTime(w.sched.now)
	cond := cmapi.CertificateRequestCondition{Type: cmapi.CertificateRequestConditionReady, Status: status,
		Reason: reason, Message: message, LastTransitionTime: &now}
	cr.Status.Conditions = []cmapi.CertificateRequestCondition{cond}
	if certPEM != nil {
		cr.Status.Certificate = certPEM
	}
	if reason == "Failed" {
		cr.Status.FailureTime = &now
	}
	if err := w.api.Status().Update(ctx, &cr, client.FieldOwner("cert-manager-certificaterequests-issuer")); err != nil {
		w.recordError("update status of CertificateRequest/"+namespace+"/"+name, err)
	}
}

// lifetimeAt returns the lifetime of a certificate the issuer would sign
// at t; the world uses it to place the inventory's certificates before
// Start.
func (w *World) lifetimeAt(c *cmapi.Certificate, issuer *issuerView, t time.Time) time.Duration {
	if issuer != nil && issuer.typ() == issuerTypeACME {
		return profileLifetime(w.acmeProfile(issuer), t)
	}
	if c.Spec.Duration != nil {
		return c.Spec.Duration.Duration
	}
	return defaultCADuration
}
