package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmac "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations/certmanager/v1"
	cmmetaac "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

var (
	gvkCertificate   = cmv1.SchemeGroupVersion.WithKind("Certificate")
	gvkClusterIssuer = cmv1.SchemeGroupVersion.WithKind("ClusterIssuer")
	gvkSecret        = corev1.SchemeGroupVersion.WithKind("Secret")
)

// caDuration is the lifetime of the private CA certificate when the plan
// does not describe the CA: ten years, as the planner requests.
const caDuration = 10 * 365 * 24 * time.Hour

// reflectionAnnotations are the emberstack reflector keys remove-reflection
// takes off the wildcard Certificate's secretTemplate and Secret.
var reflectionAnnotations = []string{
	topology.AnnotationReflectionAllowed,
	topology.AnnotationReflectionAllowedNamespaces,
	topology.AnnotationReflectionAutoEnabled,
	topology.AnnotationReflectionAutoNamespaces,
}

// applyChange builds an OpApply change whose expected effect is cfg merged
// into the object: right for objects certwave creates and for fields no
// other manager holds.
func applyChange(step, summary string, gvk schema.GroupVersionKind, namespace, name string, cfg runtime.ApplyConfiguration) (*Change, error) {
	cfgMap, err := toMap(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", gvk.Kind, name, err)
	}
	return &Change{
		Step: step, Summary: summary, Op: OpApply, GVK: gvk, Namespace: namespace, Name: name, Config: cfg,
		Expect: func(live map[string]any) (map[string]any, error) {
			return deepMerge(copyMap(live), copyMap(cfgMap)), nil
		},
	}, nil
}

// issuerChanges creates the issuer of a create-issuer step: a self-signed
// or a CA ClusterIssuer, as step.Issuer specifies. A step without Issuer
// creates the whole private CA at once: the self-signed ClusterIssuer, the
// CA Certificate it signs and the CA ClusterIssuer on that Certificate's
// Secret. The caller then waits for the CA Certificate.
func (e *Engine) issuerChanges(step *plan.Step) ([]*Change, error) {
	ca := e.index.ca
	if spec := step.Issuer; spec != nil {
		if spec.Kind != "" && spec.Kind != "ClusterIssuer" {
			return nil, fmt.Errorf("invalid plan: step %s creates a %s, but certwave creates only ClusterIssuers", step.ID, spec.Kind)
		}
		issuerSpec := cmac.IssuerSpec()
		switch spec.Type {
		case topology.IssuerSelfSigned:
			issuerSpec.WithSelfSigned(cmac.SelfSignedIssuer())
		case topology.IssuerCA:
			issuerSpec.WithCA(cmac.CAIssuer().WithSecretName(spec.CASecret))
		default:
			return nil, fmt.Errorf("invalid plan: step %s creates an issuer of type %q; expected %s or %s", step.ID, spec.Type, topology.IssuerSelfSigned, topology.IssuerCA)
		}
		ch, err := applyChange(step.ID, fmt.Sprintf("create the %s ClusterIssuer %s", spec.Type, spec.Name),
			gvkClusterIssuer, "", spec.Name, cmac.ClusterIssuer(spec.Name).WithSpec(issuerSpec))
		if err != nil {
			return nil, err
		}
		return []*Change{ch}, nil
	}

	selfSigned := cmac.ClusterIssuer(ca.SelfSigned).
		WithSpec(cmac.IssuerSpec().WithSelfSigned(cmac.SelfSignedIssuer()))
	caCert := cmac.Certificate(ca.Issuer, ca.Namespace).
		WithSpec(cmac.CertificateSpec().
			WithIsCA(true).
			WithCommonName(ca.CommonName).
			WithSecretName(ca.Issuer).
			WithDuration(metav1.Duration{Duration: caDuration}).
			WithIssuerRef(issuerRef("ClusterIssuer", ca.SelfSigned)))
	caIssuer := cmac.ClusterIssuer(ca.Issuer).
		WithSpec(cmac.IssuerSpec().WithCA(cmac.CAIssuer().WithSecretName(ca.Issuer)))

	var out []*Change
	for _, c := range []struct {
		summary   string
		gvk       schema.GroupVersionKind
		namespace string
		name      string
		cfg       runtime.ApplyConfiguration
	}{
		{"create the self-signed ClusterIssuer " + ca.SelfSigned, gvkClusterIssuer, "", ca.SelfSigned, selfSigned},
		{"create the private CA Certificate " + ca.Namespace + "/" + ca.Issuer, gvkCertificate, ca.Namespace, ca.Issuer, caCert},
		{"create the CA ClusterIssuer " + ca.Issuer, gvkClusterIssuer, "", ca.Issuer, caIssuer},
	} {
		ch, err := applyChange(step.ID, c.summary, c.gvk, c.namespace, c.name, c.cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

func issuerRef(kind, name string) *cmmetaac.IssuerReferenceApplyConfiguration {
	return cmmetaac.IssuerReference().WithName(name).WithKind(kind).WithGroup("cert-manager.io")
}

// certificateChange creates the Certificate of a create-certificate step:
// the private CA's root, or a manual Certificate for a host whose Gateway
// cannot be annotated safely. It follows step.CertificateSpec; a step
// without one gets a Certificate named by step.Certificate for step.Hosts,
// from the first host's issuer.
func (e *Engine) certificateChange(step *plan.Step) (*Change, error) {
	cs := step.CertificateSpec
	if cs == nil {
		if step.Certificate == "" || len(step.Hosts) == 0 {
			return nil, fmt.Errorf("invalid plan: step %s needs a certificateSpec, or a certificate and hosts", step.ID)
		}
		ns, name := splitKey(step.Certificate)
		cs = &plan.CertificateSpec{Namespace: ns, Name: name, SecretName: name, DNSNames: step.Hosts,
			IssuerRef: e.plan.Options.ACMEIssuer, Duration: e.plan.Options.Duration}
		if step.Listener != nil && step.Listener.SecretName != "" {
			cs.SecretName = step.Listener.SecretName
		}
		if h := e.index.hosts[step.Hosts[0]]; h != nil && h.Issuer != "" {
			cs.IssuerRef = h.Issuer
		}
	}

	kind, issuerName, ok := strings.Cut(cs.IssuerRef, "/")
	if !ok {
		return nil, fmt.Errorf("invalid issuer %q in step %s: expected Kind/name", cs.IssuerRef, step.ID)
	}

	spec := cmac.CertificateSpec().WithSecretName(cs.SecretName).WithIssuerRef(issuerRef(kind, issuerName))
	if len(cs.DNSNames) > 0 {
		spec.WithDNSNames(cs.DNSNames...)
	}
	if cs.CommonName != "" {
		spec.WithCommonName(cs.CommonName)
	}
	if cs.IsCA {
		spec.WithIsCA(true)
	}
	if cs.Duration > 0 {
		spec.WithDuration(metav1.Duration{Duration: cs.Duration})
	}
	if cs.RenewBefore > 0 {
		spec.WithRenewBefore(metav1.Duration{Duration: cs.RenewBefore})
	}

	cfg := cmac.Certificate(cs.Name, cs.Namespace).WithSpec(spec)
	return applyChange(step.ID, fmt.Sprintf("create Certificate %s/%s", cs.Namespace, cs.Name),
		gvkCertificate, cs.Namespace, cs.Name, cfg)
}

// wildcardRestoreChange applies a Certificate as the plan's inventory
// recorded it, reflector annotations included. A phase-4 rollback uses it
// to put back the wildcard Certificate.
func wildcardRestoreChange(step string, c *topology.Certificate) (*Change, error) {
	spec := cmac.CertificateSpec().
		WithDNSNames(c.DNSNames...).
		WithSecretName(c.SecretName).
		WithIssuerRef(issuerRef(c.IssuerRef.Kind, c.IssuerRef.Name))
	if c.CommonName != "" {
		spec.WithCommonName(c.CommonName)
	}
	if c.Duration > 0 {
		spec.WithDuration(metav1.Duration{Duration: c.Duration})
	}
	if c.RenewBefore > 0 {
		spec.WithRenewBefore(metav1.Duration{Duration: c.RenewBefore})
	}
	if len(c.SecretAnnotations) > 0 {
		spec.WithSecretTemplate(cmac.CertificateSecretTemplate().WithAnnotations(c.SecretAnnotations))
	}
	cfg := cmac.Certificate(c.Name, c.Namespace).WithSpec(spec)
	return applyChange(step, "restore Certificate "+c.Namespace+"/"+c.Name+" and its reflector annotations",
		gvkCertificate, c.Namespace, c.Name, cfg)
}

// removeReflectionChanges takes the reflector annotations off the
// Certificate's secretTemplate and off its Secret, so reflector stops
// mirroring it. It uses JSON merge patches because the annotations belong
// to another manager (the GitOps tool that created the Certificate), whose
// fields a certwave apply cannot remove. Keys already absent are skipped,
// and with nothing left to remove it returns no change.
func (e *Engine) removeReflectionChanges(ctx context.Context, step, certificate string) ([]*Change, error) {
	ns, name := splitKey(certificate)
	var out []*Change
	secretName := ""
	live, err := e.read(ctx, gvkCertificate, ns, name)
	if err != nil {
		return nil, err
	}
	if live != nil {
		secretName, _ = nested(live, "spec")["secretName"].(string)
		present := nested(live, "spec", "secretTemplate", "annotations")
		if patch := nullPatch(present); patch != nil {
			ch, err := mergePatchChange(step, "remove reflector annotations from the secretTemplate of Certificate "+certificate,
				gvkCertificate, ns, name, map[string]any{"spec": map[string]any{"secretTemplate": map[string]any{"annotations": patch}}})
			if err != nil {
				return nil, err
			}
			out = append(out, ch)
		}
	} else if inv, err := e.inventoryCertificate(certificate); err == nil {
		secretName = inv.SecretName
	}
	if secretName == "" {
		return out, nil
	}
	secret, err := e.read(ctx, gvkSecret, ns, secretName)
	if err != nil || secret == nil {
		return out, err
	}
	if patch := nullPatch(nested(secret, "metadata", "annotations")); patch != nil {
		ch, err := mergePatchChange(step, "remove reflector annotations from Secret "+ns+"/"+secretName,
			gvkSecret, ns, secretName, map[string]any{"metadata": map[string]any{"annotations": patch}})
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// nullPatch returns a merge-patch body that deletes the reflector keys
// present in annotations, or nil when none is.
func nullPatch(annotations map[string]any) map[string]any {
	var patch map[string]any
	for _, k := range reflectionAnnotations {
		if _, ok := annotations[k]; ok {
			if patch == nil {
				patch = map[string]any{}
			}
			patch[k] = nil
		}
	}
	return patch
}

func mergePatchChange(step, summary string, gvk schema.GroupVersionKind, namespace, name string, body map[string]any) (*Change, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return &Change{
		Step: step, Summary: summary, Op: OpPatch, GVK: gvk, Namespace: namespace, Name: name,
		Patch: client.RawPatch(types.MergePatchType, data),
		Expect: func(live map[string]any) (map[string]any, error) {
			if live == nil {
				return nil, fmt.Errorf("%s %s/%s not found", gvk.Kind, namespace, name)
			}
			return mergePatch(copyMap(live), copyMap(body)), nil
		},
	}, nil
}

// deleteChange deletes one object. certwave deletes only Certificates
// (the wildcard in phase 4, its own manual ones on rollback), never a
// Secret.
func deleteChange(step, summary string, gvk schema.GroupVersionKind, namespace, name string) *Change {
	return &Change{
		Step: step, Summary: summary, Op: OpDelete, GVK: gvk, Namespace: namespace, Name: name,
		Expect: func(map[string]any) (map[string]any, error) { return nil, nil },
	}
}
