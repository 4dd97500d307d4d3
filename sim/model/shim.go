package model

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

// The gateway-shim model follows cert-manager v1.21.2
// pkg/controller/certificate-shim (sync.go, helper.go). It runs only when
// Gateway API support is enabled; otherwise annotations are ignored
// without events.

const shimFieldOwner = "cert-manager-gateway-shim"

var gatewayGVK = gwapiv1.SchemeGroupVersion.WithKind("Gateway")

// syncShim reconciles every annotated Gateway: it creates, updates and
// deletes the Certificates the Gateway owns.
func (w *World) syncShim() bool {
	if !w.shimEnabled || w.unchanged("shim", "Gateway", "Certificate") {
		return false
	}
	var list gwapiv1.GatewayList
	if err := w.listShared(context.Background(), &list); err != nil {
		w.recordError("list Gateways", err)
		return false
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].Namespace+"/"+list.Items[i].Name < list.Items[j].Namespace+"/"+list.Items[j].Name
	})
	changed := false
	for i := range list.Items {
		if w.syncGatewayCertificates(&list.Items[i]) {
			changed = true
		}
	}
	return changed
}

func hasShimAnnotation(gw *gwapiv1.Gateway) bool {
	_, issuer := gw.Annotations[cmapi.IngressIssuerNameAnnotationKey]
	_, clusterIssuer := gw.Annotations[cmapi.IngressClusterIssuerNameAnnotationKey]
	return issuer || clusterIssuer
}

func (w *World) syncGatewayCertificates(gw *gwapiv1.Gateway) bool {
	if !hasShimAnnotation(gw) || gw.DeletionTimestamp != nil {
		return false
	}
	issuerRef, err := shimIssuer(gw.Annotations)
	if err != nil {
		w.emitEvent(gw, corev1.EventTypeWarning, "BadConfig", "Could not determine issuer for ingress due to bad annotations: "+err.Error())
		return false
	}
	desired, err := w.desiredCertificates(gw, issuerRef)
	if err != nil {
		w.shimNote(gw, "error", err.Error())
		return false
	}
	ctx := context.Background()
	changed := false
	for _, crt := range desired {
		existing, _ := w.api.peek(&cmapi.Certificate{}, crt.Namespace, crt.Name).(*cmapi.Certificate)
		switch {
		case existing == nil:
			w.stampNew(crt)
			if err := w.api.Create(ctx, crt, client.FieldOwner(shimFieldOwner)); err != nil {
				w.recordError("create Certificate/"+crt.Namespace+"/"+crt.Name, err)
				continue
			}
			w.emitEvent(gw, corev1.EventTypeNormal, "CreateCertificate", fmt.Sprintf("Successfully created Certificate %q", crt.Name))
			w.record(traceShim, "Certificate/"+crt.Namespace+"/"+crt.Name, "created for Gateway %s: dnsNames %s, issuer %s/%s",
				gw.Name, strings.Join(crt.Spec.DNSNames, ","), crt.Spec.IssuerRef.Kind, crt.Spec.IssuerRef.Name)
			changed = true
		case metav1.GetControllerOf(existing) == nil || !metav1.IsControlledBy(existing, gw):
			// cert-manager only logs this; there is no Event.
			w.shimNote(gw, "skip-"+crt.Name, fmt.Sprintf("Certificate %s exists and is not owned by this Gateway; left alone", crt.Name))
		case certNeedsUpdate(existing, crt):
			updated := existing.DeepCopy()
			updated.Spec = crt.Spec
			updated.Labels = crt.Labels
			if len(crt.Annotations) > 0 {
				merged := maps.Clone(updated.Annotations)
				if merged == nil {
					merged = map[string]string{}
				}
				maps.Copy(merged, crt.Annotations)
				updated.Annotations = merged
			}
			if err := w.api.Update(ctx, updated, client.FieldOwner(shimFieldOwner)); err != nil {
				w.recordError("update Certificate/"+crt.Namespace+"/"+crt.Name, err)
				continue
			}
			w.emitEvent(gw, corev1.EventTypeNormal, "UpdateCertificate", fmt.Sprintf("Successfully updated Certificate %q", crt.Name))
			w.record(traceShim, "Certificate/"+crt.Namespace+"/"+crt.Name, "updated for Gateway %s: dnsNames %s",
				gw.Name, strings.Join(crt.Spec.DNSNames, ","))
			changed = true
		}
	}
	return w.deleteUnrequiredCertificates(gw) || changed
}

// shimNote traces a shim decision once per Gateway version.
func (w *World) shimNote(gw *gwapiv1.Gateway, topic, detail string) {
	key := string(gw.UID) + "/" + topic
	if w.shim[key] == gw.ResourceVersion+detail {
		return
	}
	w.shim[key] = gw.ResourceVersion + detail
	w.record(traceShim, "Gateway/"+gw.Namespace+"/"+gw.Name, "%s", detail)
}

// deleteUnrequiredCertificates deletes the Certificates the Gateway owns
// whose Secret no listener references any more.
func (w *World) deleteUnrequiredCertificates(gw *gwapiv1.Gateway) bool {
	ctx := context.Background()
	var list cmapi.CertificateList
	if err := w.listShared(ctx, &list); err != nil {
		w.recordError("list Certificates", err)
		return false
	}
	// Sort a copy: listShared's array is shared with later calls.
	list.Items = slices.Clone(list.Items)
	sortCertificates(list.Items)
	changed := false
	for i := range list.Items {
		crt := &list.Items[i]
		if crt.Namespace != gw.Namespace || !metav1.IsControlledBy(crt, gw) || secretNameUsedIn(crt.Spec.SecretName, gw) {
			continue
		}
		if err := w.api.Delete(ctx, crt); err != nil {
			w.recordError("delete Certificate/"+crt.Namespace+"/"+crt.Name, err)
			continue
		}
		w.gcPending = true
		w.emitEvent(gw, corev1.EventTypeNormal, "DeleteCertificate", fmt.Sprintf("Successfully deleted unrequired Certificate %q", crt.Name))
		w.record(traceShim, "Certificate/"+crt.Namespace+"/"+crt.Name, "deleted: no listener of Gateway %s references Secret %s", gw.Name, crt.Spec.SecretName)
		changed = true
	}
	return changed
}

func secretNameUsedIn(secretName string, gw *gwapiv1.Gateway) bool {
	for _, l := range gw.Spec.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			if string(ref.Name) == secretName {
				return true
			}
		}
	}
	return false
}

// shimIssuer reads cert-manager.io/issuer, cluster-issuer, issuer-kind and
// issuer-group, rejecting the combinations cert-manager rejects.
func shimIssuer(ann map[string]string) (cmmeta.IssuerReference, error) {
	var ref cmmeta.IssuerReference
	var errs []string
	issuer, hasIssuer := ann[cmapi.IngressIssuerNameAnnotationKey]
	if hasIssuer {
		ref.Name, ref.Kind = issuer, cmapi.IssuerKind
	}
	clusterIssuer, hasCluster := ann[cmapi.IngressClusterIssuerNameAnnotationKey]
	if hasCluster {
		ref.Name, ref.Kind = clusterIssuer, cmapi.ClusterIssuerKind
	}
	kind, hasKind := ann[cmapi.IssuerKindAnnotationKey]
	if hasKind {
		ref.Kind = kind
	}
	group, hasGroup := ann[cmapi.IssuerGroupAnnotationKey]
	if hasGroup {
		ref.Group = group
	}

	if ref.Name == "" {
		errs = append(errs, "failed to determine issuer name to be used for ingress resource")
	}
	if hasIssuer && hasCluster {
		errs = append(errs, fmt.Sprintf("both %q and %q may not be set", cmapi.IngressIssuerNameAnnotationKey, cmapi.IngressClusterIssuerNameAnnotationKey))
	}
	if hasCluster && hasGroup {
		errs = append(errs, fmt.Sprintf("both %q and %q may not be set", cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IssuerGroupAnnotationKey))
	}
	if hasCluster && hasKind {
		errs = append(errs, fmt.Sprintf("both %q and %q may not be set", cmapi.IngressClusterIssuerNameAnnotationKey, cmapi.IssuerKindAnnotationKey))
	}
	if len(errs) > 0 {
		return ref, fmt.Errorf("%s", strings.Join(errs, ", "))
	}
	return ref, nil
}

// desiredCertificates returns one Certificate per Secret the Gateway's TLS
// listeners reference, named after the Secret, with the hostnames of every
// listener sharing that Secret, sorted by name. It emits BadConfig for
// listeners it skips.
func (w *World) desiredCertificates(gw *gwapiv1.Gateway, issuerRef cmmeta.IssuerReference) ([]*cmapi.Certificate, error) {
	hosts := map[string][]string{}
	var order []string
	for i, l := range gw.Spec.Listeners {
		if l.Protocol != gwapiv1.HTTPSProtocolType && l.Protocol != gwapiv1.TLSProtocolType {
			continue
		}
		if listenerTLSMode(l) == gwapiv1.TLSModePassthrough && w.rules.shimSkipsPassthrough {
			continue
		}
		if w.rules.shimReadsIgnoreListeners && ignoredListener(gw.Annotations, string(l.Name)) {
			continue
		}
		if errs := validateListener(field.NewPath("spec", "listeners").Index(i), l, gw.Namespace); len(errs) > 0 {
			w.emitEvent(gw, corev1.EventTypeWarning, "BadConfig", "Skipped a listener block: "+errs.ToAggregate().Error())
			continue
		}
		for _, ref := range l.TLS.CertificateRefs {
			name := string(ref.Name)
			if _, seen := hosts[name]; !seen {
				order = append(order, name)
			}
			hosts[name] = append(hosts[name], string(*l.Hostname))
		}
	}
	sort.Strings(order)
	labels := maps.Clone(gw.Labels)
	delete(labels, "applyset.kubernetes.io/part-of")
	var out []*cmapi.Certificate
	for _, secret := range order {
		var dnsNames []string
		seen := map[string]bool{}
		for _, h := range hosts[secret] {
			if !seen[h] {
				seen[h] = true
				dnsNames = append(dnsNames, h)
			}
		}
		crt := &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: gw.Namespace, Name: secret, Labels: maps.Clone(labels),
				Annotations: map[string]string{
					cmacme.ACMECertificateHTTP01ParentRefKind: "Gateway",
					cmacme.ACMECertificateHTTP01ParentRefName: gw.Name,
				},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(gw, gatewayGVK)},
			},
			Spec: cmapi.CertificateSpec{
				DNSNames: dnsNames, SecretName: secret, IssuerRef: issuerRef,
				Usages: cmapi.DefaultKeyUsages(),
			},
		}
		if err := translateAnnotations(crt, gw.Annotations); err != nil {
			return nil, err
		}
		out = append(out, crt)
	}
	return out, nil
}

// listenerTLSMode returns the listener's TLS mode with the CRD default
// (Terminate) applied; the fake API server does not apply CRD defaults.
func listenerTLSMode(l gwapiv1.Listener) gwapiv1.TLSModeType {
	if l.TLS == nil || l.TLS.Mode == nil {
		return gwapiv1.TLSModeTerminate
	}
	return *l.TLS.Mode
}

func ignoredListener(ann map[string]string, name string) bool {
	list, ok := ann[cmapi.CertificateIgnoreTLSListeners]
	if !ok {
		return false
	}
	for _, n := range strings.Split(list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// validateListener is cert-manager's validateGatewayListenerBlock, with the
// CRD defaults for group, kind and mode.
func validateListener(path *field.Path, l gwapiv1.Listener, namespace string) field.ErrorList {
	var errs field.ErrorList
	if l.Hostname == nil || *l.Hostname == "" {
		errs = append(errs, field.Required(path.Child("hostname"), "the hostname cannot be empty"))
	}
	if l.TLS == nil {
		return append(errs, field.Required(path.Child("tls"), "the TLS block cannot be empty"))
	}
	if len(l.TLS.CertificateRefs) == 0 {
		errs = append(errs, field.Required(path.Child("tls").Child("certificateRef"), "listener has no certificateRefs"))
	}
	for i, ref := range l.TLS.CertificateRefs {
		p := path.Child("tls").Child("certificateRef").Index(i)
		if ref.Group != nil && *ref.Group != "core" && *ref.Group != "" {
			errs = append(errs, field.NotSupported(p.Child("group"), *ref.Group, []string{"core", ""}))
		}
		if ref.Kind != nil && *ref.Kind != "Secret" && *ref.Kind != "" {
			errs = append(errs, field.NotSupported(p.Child("kind"), *ref.Kind, []string{"Secret", ""}))
		}
		if ref.Namespace != nil && string(*ref.Namespace) != namespace {
			errs = append(errs, field.Invalid(p.Child("namespace"), *ref.Namespace, "cross-namespace secret references are not allowed in listeners"))
		}
	}
	if mode := listenerTLSMode(l); mode != gwapiv1.TLSModeTerminate {
		errs = append(errs, field.NotSupported(path.Child("tls").Child("mode"), mode, []string{string(gwapiv1.TLSModeTerminate)}))
	}
	return errs
}
