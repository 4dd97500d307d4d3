package model

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

// clusterResourceNamespace is the namespace of the Secrets of
// ClusterIssuers: cert-manager's --cluster-resource-namespace, which
// defaults to the namespace it runs in.
const clusterResourceNamespace = "cert-manager"

// Issuer types the model issues from.
const (
	issuerTypeACME       = "ACME"
	issuerTypeCA         = "CA"
	issuerTypeSelfSigned = "SelfSigned"
	issuerTypeOther      = "Other"
)

// issuerView is an Issuer or ClusterIssuer as issuance needs it.
type issuerView struct {
	kind, namespace, name string
	spec                  cmapi.IssuerSpec
	ready                 bool
	resourceVersion       string
}

// key returns Kind/name or Kind/namespace/name; it is also the ACME
// account of an ACME issuer.
func (i *issuerView) key() string {
	if i.namespace == "" {
		return i.kind + "/" + i.name
	}
	return i.kind + "/" + i.namespace + "/" + i.name
}

// typ returns ACME, CA, SelfSigned or Other.
func (i *issuerView) typ() string {
	switch {
	case i.spec.ACME != nil:
		return issuerTypeACME
	case i.spec.CA != nil:
		return issuerTypeCA
	case i.spec.SelfSigned != nil:
		return issuerTypeSelfSigned
	default:
		return issuerTypeOther
	}
}

// secretNamespace returns the namespace of the issuer's Secrets.
func (i *issuerView) secretNamespace() string {
	if i.kind == cmapi.ClusterIssuerKind {
		return clusterResourceNamespace
	}
	return i.namespace
}

// lookupIssuer finds the issuer a Certificate in namespace refers to.
func (w *World) lookupIssuer(namespace string, ref cmmeta.IssuerReference) (*issuerView, bool) {
	if defaultGroup(ref.Group) != "cert-manager.io" {
		return nil, false
	}
	ctx := context.Background()
	if ref.Kind == cmapi.ClusterIssuerKind {
		var ci cmapi.ClusterIssuer
		if err := w.api.Get(ctx, client.ObjectKey{Name: ref.Name}, &ci); err != nil {
			return nil, false
		}
		return &issuerView{kind: cmapi.ClusterIssuerKind, name: ci.Name, spec: ci.Spec,
			ready: issuerReady(ci.Status), resourceVersion: ci.ResourceVersion}, true
	}
	var is cmapi.Issuer
	if err := w.api.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &is); err != nil {
		return nil, false
	}
	return &issuerView{kind: cmapi.IssuerKind, namespace: namespace, name: is.Name, spec: is.Spec,
		ready: issuerReady(is.Status), resourceVersion: is.ResourceVersion}, true
}

// issuerInputs renders the issuer's version and readiness for change
// detection.
func (w *World) issuerInputs(c *cmapi.Certificate) string {
	key := c.Namespace + "|" + c.Spec.IssuerRef.Kind + "|" + c.Spec.IssuerRef.Name + "|" + c.Spec.IssuerRef.Group
	if w.round != nil {
		if v, ok := w.round.issuers[key]; ok {
			return v
		}
	}
	v := "missing"
	if is, ok := w.lookupIssuer(c.Namespace, c.Spec.IssuerRef); ok {
		v = fmt.Sprintf("%s:%t", is.resourceVersion, is.ready)
	}
	if w.round != nil {
		w.round.issuers[key] = v
	}
	return v
}

func issuerReady(s cmapi.IssuerStatus) bool {
	for _, c := range s.Conditions {
		if c.Type == cmapi.IssuerConditionReady {
			return c.Status == cmmeta.ConditionTrue
		}
	}
	return false
}

// syncIssuers sets each issuer's Ready condition as cert-manager's issuer
// controllers do: ACME and SelfSigned issuers are Ready, a CA issuer is
// Ready once its Secret holds a valid CA key pair.
//
// NOTE: other issuer types (Vault, Venafi, external issuers) keep whatever
// status they have and their requests stay pending: the model cannot sign
// for them.
func (w *World) syncIssuers() bool {
	if w.unchanged("issuers", "ClusterIssuer", "Issuer", "Secret") {
		return false
	}
	ctx := context.Background()
	changed := false
	var cis cmapi.ClusterIssuerList
	if err := w.api.List(ctx, &cis); err != nil {
		w.recordError("list ClusterIssuers", err)
		return false
	}
	sort.Slice(cis.Items, func(i, j int) bool { return cis.Items[i].Name < cis.Items[j].Name })
	for i := range cis.Items {
		ci := &cis.Items[i]
		view := &issuerView{kind: cmapi.ClusterIssuerKind, name: ci.Name, spec: ci.Spec}
		updated := ci.DeepCopy()
		if w.setIssuerReady(view, &updated.Status) && !apiequality.Semantic.DeepEqual(ci.Status, updated.Status) {
			if err := w.api.Status().Update(ctx, updated, client.FieldOwner("cert-manager-issuers")); err != nil {
				w.recordError("update status of "+view.key(), err)
				continue
			}
			changed = true
		}
	}

	var iss cmapi.IssuerList
	if err := w.api.List(ctx, &iss); err != nil {
		w.recordError("list Issuers", err)
		return changed
	}
	sort.Slice(iss.Items, func(i, j int) bool {
		return iss.Items[i].Namespace+"/"+iss.Items[i].Name < iss.Items[j].Namespace+"/"+iss.Items[j].Name
	})
	for i := range iss.Items {
		is := &iss.Items[i]
		view := &issuerView{kind: cmapi.IssuerKind, namespace: is.Namespace, name: is.Name, spec: is.Spec}
		updated := is.DeepCopy()
		if w.setIssuerReady(view, &updated.Status) && !apiequality.Semantic.DeepEqual(is.Status, updated.Status) {
			if err := w.api.Status().Update(ctx, updated, client.FieldOwner("cert-manager-issuers")); err != nil {
				w.recordError("update status of "+view.key(), err)
				continue
			}
			changed = true
		}
	}
	return changed
}

// setIssuerReady computes the Ready condition into status; it returns
// false for issuer types the model leaves alone.
func (w *World) setIssuerReady(view *issuerView, status *cmapi.IssuerStatus) bool {
	var ready bool
	var reason, message string
	switch view.typ() {
	case issuerTypeACME:
		ready, reason, message = true, "ACMEAccountRegistered", "The ACME account was registered with the ACME server"
	case issuerTypeSelfSigned:
		ready, reason, message = true, "IsReady", ""
	case issuerTypeCA:
		if _, err := w.caAuthority(view); err != nil {
			ready, reason, message = false, "ErrGetKeyPair", err.Error()
		} else {
			ready, reason, message = true, "KeyPairVerified", "Signing CA verified"
		}
	default:
		return false
	}

	cond := cmapi.IssuerCondition{Type: cmapi.IssuerConditionReady, Status: cmmeta.ConditionFalse, Reason: reason, Message: message}
	if ready {
		cond.Status = cmmeta.ConditionTrue
	}
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != cmapi.IssuerConditionReady {
			continue
		}
		if old.Status == cond.Status {
			cond.LastTransitionTime = old.LastTransitionTime
		}
		if cond.LastTransitionTime == nil {
			now := metav1.NewTime(w.sched.now)
			cond.LastTransitionTime = &now
		}
		status.Conditions[i] = cond
		w.traceIssuer(view, ready, reason)
		return true
	}

	now := metav1.NewTime(w.sched.now)
	cond.LastTransitionTime = &now
	status.Conditions = append(status.Conditions, cond)
	w.traceIssuer(view, ready, reason)
	return true
}

func (w *World) traceIssuer(view *issuerView, ready bool, reason string) {
	if prev, seen := w.issuers[view.key()]; seen && prev == ready {
		return
	}
	w.issuers[view.key()] = ready
	w.record(traceIssuer, view.key(), "Ready=%t %s", ready, reason)
}

// caAuthority loads a CA issuer's signing key pair from its Secret.
func (w *World) caAuthority(view *issuerView) (*authority, error) {
	name := view.spec.CA.SecretName
	s := w.peekSecret(view.secretNamespace(), name)
	if s == nil {
		return nil, fmt.Errorf("Error getting keypair for CA issuer: secrets %q not found", name)
	}
	pair, _, err := w.secretKeyPair(s)
	if err != nil {
		return nil, fmt.Errorf("Error getting keypair for CA issuer: %v", err)
	}
	if !pair.cert.IsCA {
		return nil, fmt.Errorf("Error getting keypair for CA issuer: certificate in Secret %q is not a CA", name)
	}
	return &authority{cert: pair.cert, certPEM: s.Data[corev1.TLSCertKey], key: pair.key}, nil
}

// ownedKinds are the kinds whose controller owner the model's garbage
// collector checks, in deletion order.
var ownedKinds = []struct {
	list  client.ObjectList
	kind  string
	items func(client.ObjectList) []client.Object
}{
	{&cmapi.CertificateList{}, "Certificate", func(l client.ObjectList) []client.Object {
		var out []client.Object
		for i := range l.(*cmapi.CertificateList).Items {
			out = append(out, &l.(*cmapi.CertificateList).Items[i])
		}
		return out
	}},
	{&cmapi.CertificateRequestList{}, "CertificateRequest", func(l client.ObjectList) []client.Object {
		var out []client.Object
		for i := range l.(*cmapi.CertificateRequestList).Items {
			out = append(out, &l.(*cmapi.CertificateRequestList).Items[i])
		}
		return out
	}},
	{&cmacme.OrderList{}, "Order", func(l client.ObjectList) []client.Object {
		var out []client.Object
		for i := range l.(*cmacme.OrderList).Items {
			out = append(out, &l.(*cmacme.OrderList).Items[i])
		}
		return out
	}},
}

// collectGarbage deletes the objects whose controller owner is gone, like
// the Kubernetes garbage collector (which the fake client lacks). It runs
// only after a deletion.
func (w *World) collectGarbage() bool {
	if !w.gcPending {
		return false
	}
	w.gcPending = false
	ctx := context.Background()
	changed := false
	for _, k := range ownedKinds {
		list := k.list.DeepCopyObject().(client.ObjectList)
		if err := w.api.List(ctx, list); err != nil {
			w.recordError("list "+k.kind, err)
			continue
		}
		objs := k.items(list)
		sort.Slice(objs, func(i, j int) bool {
			return objs[i].GetNamespace()+"/"+objs[i].GetName() < objs[j].GetNamespace()+"/"+objs[j].GetName()
		})
		for _, o := range objs {
			owner := metav1.GetControllerOf(o)
			if owner == nil || w.ownerExists(o.GetNamespace(), owner) {
				continue
			}
			if err := w.api.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
				w.recordError("garbage-collect "+k.kind+"/"+o.GetNamespace()+"/"+o.GetName(), err)
				continue
			}
			w.record(traceGC, k.kind+"/"+o.GetNamespace()+"/"+o.GetName(), "deleted: owner %s/%s is gone", owner.Kind, owner.Name)
			w.gcPending = true
			changed = true
		}
	}
	return changed
}

// ownerExists reports whether the owner, in namespace unless
// cluster-scoped, exists with the referenced UID.
func (w *World) ownerExists(namespace string, ref *metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false
	}
	obj, err := w.scheme.New(gv.WithKind(ref.Kind))
	if err != nil {
		return true // unknown kinds are left alone
	}
	o, ok := obj.(client.Object)
	if !ok {
		return true
	}
	if namespaced, err := w.api.IsObjectNamespaced(o); err == nil && !namespaced {
		namespace = ""
	}
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: ref.Name}, o); err != nil {
		return !apierrors.IsNotFound(err)
	}
	return o.GetUID() == ref.UID
}
