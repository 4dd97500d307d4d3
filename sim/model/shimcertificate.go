package model

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// translateAnnotations copies the Gateway annotations the shim supports
// onto the Certificate: common name, alt names, duration, renew-before,
// renew-before-percentage, usages, revision history limit, private key
// algorithm, encoding, size and rotation policy, and the secret template.
// The X.509 subject and e-mail annotations are not modelled.
func translateAnnotations(crt *cmapi.Certificate, ann map[string]string) error {
	bad := func(key string, err error) error {
		return fmt.Errorf("invalid ingress annotation %q: %v", key, err)
	}

	if v, ok := ann[cmapi.CommonNameAnnotationKey]; ok {
		crt.Spec.CommonName = v
	}
	if v, ok := ann[cmapi.AltNamesAnnotationKey]; ok && v != "" {
		crt.Spec.DNSNames = append(crt.Spec.DNSNames, strings.Split(v, ",")...)
	}

	for _, d := range []struct {
		key string
		set func(*metav1.Duration)
	}{
		{cmapi.DurationAnnotationKey, func(v *metav1.Duration) { crt.Spec.Duration = v }},
		{cmapi.RenewBeforeAnnotationKey, func(v *metav1.Duration) { crt.Spec.RenewBefore = v }},
	} {
		if v, ok := ann[d.key]; ok {
			parsed, err := time.ParseDuration(v)
			if err != nil {
				return bad(d.key, err)
			}
			d.set(&metav1.Duration{Duration: parsed})
		}
	}

	if v, ok := ann[cmapi.RenewBeforePercentageAnnotationKey]; ok {
		pct, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return bad(cmapi.RenewBeforePercentageAnnotationKey, err)
		}
		crt.Spec.RenewBeforePercentage = new(int32(pct))
	}
	if v, ok := ann[cmapi.UsagesAnnotationKey]; ok {
		var usages []cmapi.KeyUsage
		for _, u := range strings.Split(v, ",") {
			usages = append(usages, cmapi.KeyUsage(strings.TrimSpace(u)))
		}
		crt.Spec.Usages = usages
	}
	if v, ok := ann[cmapi.RevisionHistoryLimitAnnotationKey]; ok {
		limit, err := strconv.ParseInt(v, 10, 32)
		if err != nil || limit < 1 {
			return bad(cmapi.RevisionHistoryLimitAnnotationKey, fmt.Errorf("revision history limit must be a positive number %q", v))
		}
		crt.Spec.RevisionHistoryLimit = new(int32(limit))
	}

	pk := &cmapi.CertificatePrivateKey{}
	if v, ok := ann[cmapi.PrivateKeyAlgorithmAnnotationKey]; ok {
		pk.Algorithm = cmapi.PrivateKeyAlgorithm(v)
	}
	if v, ok := ann[cmapi.PrivateKeyEncodingAnnotationKey]; ok {
		pk.Encoding = cmapi.PrivateKeyEncoding(v)
	}
	if v, ok := ann[cmapi.PrivateKeySizeAnnotationKey]; ok {
		size, err := strconv.Atoi(v)
		if err != nil {
			return bad(cmapi.PrivateKeySizeAnnotationKey, err)
		}
		pk.Size = size
	}
	if v, ok := ann[cmapi.PrivateKeyRotationPolicyAnnotationKey]; ok {
		if v != string(cmapi.RotationPolicyNever) && v != string(cmapi.RotationPolicyAlways) {
			return bad(cmapi.PrivateKeyRotationPolicyAnnotationKey, fmt.Errorf("invalid private key rotation policy %q", v))
		}
		pk.RotationPolicy = cmapi.PrivateKeyRotationPolicy(v)
	}
	if *pk != (cmapi.CertificatePrivateKey{}) {
		crt.Spec.PrivateKey = pk
	}

	if v, ok := ann[cmapi.IngressSecretTemplate]; ok {
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		tmpl := &cmapi.CertificateSecretTemplate{}
		if err := dec.Decode(tmpl); err != nil {
			return bad(cmapi.IngressSecretTemplate, err)
		}
		if len(tmpl.Annotations) > 0 || len(tmpl.Labels) > 0 {
			crt.Spec.SecretTemplate = tmpl
		}
	}
	return nil
}

// certNeedsUpdate is cert-manager's comparison of an owned Certificate with
// the desired one; it ignores annotations, usages and renewBeforePercentage
// as cert-manager does.
func certNeedsUpdate(a, b *cmapi.Certificate) bool {
	if !reflect.DeepEqual(a.Labels, b.Labels) && !(len(a.Labels) == 0 && len(b.Labels) == 0) {
		return true
	}
	if a.Spec.CommonName != b.Spec.CommonName || a.Spec.SecretName != b.Spec.SecretName ||
		a.Spec.IssuerRef.Name != b.Spec.IssuerRef.Name || a.Spec.IssuerRef.Kind != b.Spec.IssuerRef.Kind {
		return true
	}
	if !reflect.DeepEqual(a.Spec.DNSNames, b.Spec.DNSNames) && !(len(a.Spec.DNSNames) == 0 && len(b.Spec.DNSNames) == 0) {
		return true
	}
	if !reflect.DeepEqual(a.Spec.RevisionHistoryLimit, b.Spec.RevisionHistoryLimit) {
		return true
	}
	var pa, pb cmapi.CertificatePrivateKey
	if a.Spec.PrivateKey != nil {
		pa = *a.Spec.PrivateKey
	}
	if b.Spec.PrivateKey != nil {
		pb = *b.Spec.PrivateKey
	}
	if pa.Algorithm == cmapi.Ed25519KeyAlgorithm {
		pa.Size, pb.Size = 0, 0
	}
	if pa != pb {
		return true
	}
	return !durationsEqual(a.Spec.Duration, b.Spec.Duration) || !durationsEqual(a.Spec.RenewBefore, b.Spec.RenewBefore)
}

func durationsEqual(a, b *metav1.Duration) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Duration == b.Duration
}
