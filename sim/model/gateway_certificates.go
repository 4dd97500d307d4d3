package model

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// reasonPartiallyInvalidCertificateRef is the ResolvedRefs reason Envoy
// Gateway sets on a listener that is served with some of its
// certificateRefs while others are invalid (status.ListenerReasonPartiallyInvalidCertificateRef).
const reasonPartiallyInvalidCertificateRef = "PartiallyInvalidCertificateRef"

// certificateRefError is one certificateRef that Envoy Gateway rejects,
// with the ResolvedRefs reason it counts as.
type certificateRefError struct {
	reason  gwapiv1.ListenerConditionReason
	message string
}

// resolveCertificates checks a terminating listener's certificateRefs as
// Envoy Gateway's validateTerminateModeAndGetTLSSecrets and
// parseCertsFromTLSSecretsData do, keeps the valid certificates and
// reports whether the listener has at least one. Every ref is checked:
// with some valid, the listener is served with those and ResolvedRefs is
// False PartiallyInvalidCertificateRef. With none, ResolvedRefs is False
// RefNotPermitted when every ref was a cross-namespace ref without a
// ReferenceGrant, else InvalidCertificateRef.
//
// The certificates' validity is judged on the world's clock when the
// edge is computed, as Envoy Gateway judges it on the wall clock when it
// translates: the status changes at the first translation after a
// certificate expires, which a write of a Gateway, route, GatewayClass,
// ReferenceGrant or referenced Secret triggers (gatewaySecretWrites).
//
// NOTE: Envoy Gateway also translates again at each resync of its
// informers' cache (controller-runtime's SyncPeriod, 10 hours by
// default), which the model does not schedule.
func (w *World) resolveCertificates(gw *gwapiv1.Gateway, ls *listenerState, grants []gwapiv1.ReferenceGrant) bool {
	refs := ls.spec.TLS.CertificateRefs
	if len(refs) == 0 {
		ls.setCondition(gwapiv1.ListenerConditionProgrammed, false, string(gwapiv1.ListenerReasonInvalid), "Listener must have at least 1 TLS certificate ref")
		return false
	}

	var refErrs []certificateRefError
	var secrets []*corev1.Secret
	for i, ref := range refs {
		s, err := w.checkCertificateRef(gw, i, ref, grants)
		if err != nil {
			refErrs = append(refErrs, *err)
			continue
		}
		secrets = append(secrets, s)
	}
	if len(secrets) == 0 {
		reason := gwapiv1.ListenerReasonRefNotPermitted
		for _, e := range refErrs {
			if e.reason != gwapiv1.ListenerReasonRefNotPermitted {
				reason = gwapiv1.ListenerReasonInvalidCertificateRef
			}
		}
		ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, false, string(reason), "No valid secrets exist: "+joinRefErrors(refErrs))
		return false
	}

	var parseErrs, warnings, seenDomains []string
	for _, s := range secrets {
		pair, warning, err := w.servingKeyPair(s, &seenDomains, &ls.validity)
		if err != nil {
			parseErrs = append(parseErrs, fmt.Sprintf("%s/%s: %v", s.Namespace, s.Name, err))
			continue
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
		if ls.cert == nil {
			ls.cert = pair
		}
		ls.certNames = append(ls.certNames, pair.cert.DNSNames...)
	}
	if ls.cert == nil {
		ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, false, string(gwapiv1.ListenerReasonInvalidCertificateRef),
			"No valid secrets exist: "+strings.Join(parseErrs, "; ")+".")
		return false
	}
	for _, e := range append(parseErrs, warnings...) {
		refErrs = append(refErrs, certificateRefError{reason: reasonPartiallyInvalidCertificateRef, message: e})
	}
	if len(refErrs) > 0 {
		ls.setCondition(gwapiv1.ListenerConditionResolvedRefs, false, reasonPartiallyInvalidCertificateRef,
			"Some secrets are invalid: "+joinRefErrors(refErrs))
	}
	return true
}

// checkCertificateRef checks what Envoy Gateway checks of one
// certificateRef before it parses the Secret: the group and kind, a
// ReferenceGrant for another namespace, and a Secret of type
// kubernetes.io/tls with both tls.crt and tls.key. It returns the Secret
// when the ref passes.
func (w *World) checkCertificateRef(gw *gwapiv1.Gateway, i int, ref gwapiv1.SecretObjectReference, grants []gwapiv1.ReferenceGrant) (*corev1.Secret, *certificateRefError) {
	invalid := func(format string, args ...any) *certificateRefError {
		return &certificateRefError{reason: gwapiv1.ListenerReasonInvalidCertificateRef, message: fmt.Sprintf("certificate ref %d: ", i) + fmt.Sprintf(format, args...)}
	}
	if ref.Group != nil && *ref.Group != "" {
		return nil, invalid("group %s is not supported: leave it empty.", *ref.Group)
	}
	if ref.Kind != nil && *ref.Kind != "Secret" {
		return nil, invalid("kind %s is not supported: use Secret.", *ref.Kind)
	}
	ns := certificateRefNamespace(gw, ref)
	key := ns + "/" + string(ref.Name)
	if ns != gw.Namespace && !referenceGranted(grants, gw.Namespace, ns, string(ref.Name)) {
		return nil, &certificateRefError{reason: gwapiv1.ListenerReasonRefNotPermitted,
			message: fmt.Sprintf("certificate ref %d: Certificate ref to secret %s not permitted by any ReferenceGrant.", i, key)}
	}
	s := w.peekSecret(ns, string(ref.Name))
	switch {
	case s == nil:
		return nil, invalid("Secret %s does not exist.", key)
	case s.Type != corev1.SecretTypeTLS:
		return nil, invalid("Secret %s has type %q: use %s.", key, s.Type, corev1.SecretTypeTLS)
	case len(s.Data[corev1.TLSCertKey]) == 0 || len(s.Data[corev1.TLSPrivateKeyKey]) == 0:
		return nil, invalid("Secret %s must contain %s and %s.", key, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return s, nil
}

func certificateRefNamespace(gw *gwapiv1.Gateway, ref gwapiv1.SecretObjectReference) string {
	if ref.Namespace != nil && *ref.Namespace != "" {
		return string(*ref.Namespace)
	}
	return gw.Namespace
}

func joinRefErrors(errs []certificateRefError) string {
	messages := make([]string, len(errs))
	for i, e := range errs {
		messages[i] = e.message
	}
	return strings.Join(messages, "; ")
}

// referenceGranted reports whether a ReferenceGrant in the Secret's
// namespace lets Gateways of fromNamespace refer to the Secret name, as
// Envoy Gateway's isCrossNamespaceReferencePermitted decides: a from entry
// for group gateway.networking.k8s.io, kind Gateway and fromNamespace,
// and a to entry for the core group, kind Secret and that name or no
// name.
func referenceGranted(grants []gwapiv1.ReferenceGrant, fromNamespace, secretNamespace, name string) bool {
	for _, g := range grants {
		if g.Namespace != secretNamespace {
			continue
		}
		fromAllowed := false
		for _, f := range g.Spec.From {
			if f.Group == gwapiv1.GroupName && f.Kind == "Gateway" && string(f.Namespace) == fromNamespace {
				fromAllowed = true
				break
			}
		}
		if !fromAllowed {
			continue
		}
		for _, t := range g.Spec.To {
			if t.Group == "" && t.Kind == "Secret" && (t.Name == nil || *t.Name == "" || string(*t.Name) == name) {
				return true
			}
		}
	}
	return false
}

// servingKeyPair parses a TLS Secret as Envoy Gateway's
// parseCertsFromTLSSecretsData does. Every certificate of tls.crt must be
// within its validity at the world's time, and the private key must match
// the leaf. No domain may be one that an earlier Secret of the listener
// already covers with the same public key algorithm, and seenDomains
// collects those across the listener's Secrets.
//
// Version rules: from Envoy Gateway 1.9 (validateServingCertificateChain)
// a certificate of the chain outside its validity rejects the Secret. In
// 1.8 (filterValidCertificates) it is dropped and the rest is used, with
// a warning that makes the listener's ResolvedRefs
// PartiallyInvalidCertificateRef; the model then rejects the Secret only
// when the leaf is outside its validity.
//
// NOTE: Envoy Gateway 1.8 does not check that the key matches the
// certificate (v1.9 added the tls.X509KeyPair check), so under 1.8 rules
// the model rejects a mismatched Secret at translation that 1.8 would
// pass on to Envoy, which rejects it.
func (w *World) servingKeyPair(s *corev1.Secret, seenDomains *[]string, validity *validityWindow) (pair *keyPair, warning string, err error) {
	pair, _, err = w.secretKeyPair(s)
	if err != nil {
		return nil, "", err
	}
	now := w.sched.now
	boundValidity(validity, pair.cert, now)
	if bytes.Count(s.Data[corev1.TLSCertKey], []byte("-----BEGIN")) > 1 {
		// The validity window does not follow the chain's certificates,
		// so a translation with a chain is reused at this instant only.
		validity.narrow(now)
	}
	if err := checkValidity(pair.cert, now); err != nil {
		return nil, "", err
	}
	if err := checkChainValidity(s.Data[corev1.TLSCertKey], now); err != nil {
		if w.rules.wholeChainValidity {
			return nil, "", err
		}
		warning = fmt.Sprintf("%s/%s has some invalid certificates: %v", s.Namespace, s.Name, err)
	}

	domains := pair.cert.DNSNames
	if len(domains) == 0 && pair.cert.Subject.CommonName != "" {
		domains = []string{pair.cert.Subject.CommonName}
	}
	algorithm := pair.cert.PublicKeyAlgorithm.String()
	for _, d := range domains {
		if slices.Contains(*seenDomains, algorithm+"/"+d) {
			return nil, "", fmt.Errorf("another certificate of the listener already covers %s with public key algorithm %s", d, algorithm)
		}
	}
	for _, d := range domains {
		*seenDomains = append(*seenDomains, algorithm+"/"+d)
	}
	return pair, warning, nil
}

// boundValidity narrows validity to the last instant at which
// checkValidity judges c as it does at now.
func boundValidity(validity *validityWindow, c *x509.Certificate, now time.Time) {
	if !now.After(c.NotAfter) {
		validity.narrow(c.NotAfter)
	}
	if now.Before(c.NotBefore) {
		validity.narrow(c.NotBefore.Add(-time.Nanosecond))
	}
}

// checkValidity returns an error when now is outside the certificate's
// validity.
func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.After(c.NotAfter) {
		return fmt.Errorf("certificate %s expired at %s", c.Subject.CommonName, formatTime(c.NotAfter))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("certificate %s is not valid before %s", c.Subject.CommonName, formatTime(c.NotBefore))
	}
	return nil
}

// checkChainValidity checks the certificates after the leaf in PEM data.
// The model issues Secrets with the leaf only, so it usually returns
// before decoding anything.
func checkChainValidity(data []byte, now time.Time) error {
	if bytes.Count(data, []byte("-----BEGIN")) < 2 {
		return nil
	}
	_, rest := pem.Decode(data)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil
		}
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return fmt.Errorf("tls.crt contains an invalid certificate: %w", err)
		}
		for _, c := range certs {
			if err := checkValidity(c, now); err != nil {
				return err
			}
		}
	}
}
