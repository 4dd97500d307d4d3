package model

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// Reasons of cert-manager's trigger and readiness policies (cert-manager
// v1.21.2 internal/controller/certificates/policies/constants.go).
const (
	reasonDoesNotExist         = "DoesNotExist"
	reasonMissingData          = "MissingData"
	reasonInvalidKeyPair       = "InvalidKeyPair"
	reasonInvalidCertificate   = "InvalidCertificate"
	reasonSecretMismatch       = "SecretMismatch"
	reasonIncorrectIssuer      = "IncorrectIssuer"
	reasonIncorrectCertificate = "IncorrectCertificate"
	reasonRequestChanged       = "RequestChanged"
	reasonRenewing             = "Renewing"
	reasonExpired              = "Expired"
	reasonReady                = "Ready"
	reasonFailed               = "Failed"
)

// Backoff after a failed issuance: the defaults of cert-manager's
// certificateRequestMinimumBackoffDuration and ...MaximumBackoffDuration
// (cert-manager v1.21.2 pkg/controller/certificates/trigger).
const (
	minimumBackoff = time.Hour
	maximumBackoff = 32 * time.Hour
)

// backoffDelay returns the wait after the given number of consecutive
// failed issuances: 1h, 2h, 4h ... capped at 32h.
func backoffDelay(failedAttempts int) time.Duration {
	if failedAttempts <= 0 {
		return minimumBackoff
	}
	computed := minimumBackoff * time.Duration(math.Pow(2, float64(failedAttempts-1)))
	if computed < minimumBackoff || computed > maximumBackoff {
		return maximumBackoff
	}
	return computed
}

// renewalTime returns cert-manager's renewal time of an issued certificate
// (v1.21.2 pkg/util/pki/renewaltime.go, without ARI and renewal windows).
// It is notAfter minus spec.renewBefore when that is positive and shorter
// than the actual lifetime notAfter - notBefore. Otherwise it is notAfter
// minus renewBeforePercentage of the lifetime when that is in (0, 100),
// else minus a third of the lifetime. The result is truncated to the
// second, and the requested spec.duration plays no part.
func renewalTime(notBefore, notAfter time.Time, spec cmapi.CertificateSpec) time.Time {
	lifetime := notAfter.Sub(notBefore)
	before := lifetime / 3
	switch {
	case spec.RenewBefore != nil && spec.RenewBefore.Duration > 0 && spec.RenewBefore.Duration < lifetime:
		before = spec.RenewBefore.Duration
	case spec.RenewBeforePercentage != nil && *spec.RenewBeforePercentage > 0 && *spec.RenewBeforePercentage < 100:
		before = time.Duration(float64(lifetime) * float64(*spec.RenewBeforePercentage) / 100)
	}
	return notAfter.Add(-before).Truncate(time.Second)
}

// policyInput is the input of cert-manager's policy chains.
type policyInput struct {
	cert   *cmapi.Certificate
	secret *corev1.Secret
	// current is the request that issued the certificate in the Secret,
	// nil when unknown.
	current *requestRecord
	now     time.Time
}

// policyResult is the first failed policy, or ok.
type policyResult struct {
	ok      bool
	reason  string
	message string
}

var policyOK = policyResult{ok: true}

// evaluateSecret runs the checks shared by the trigger and readiness chains
// of cert-manager v1.21.2 (policies.go), in their order. The private-key
// algorithm check (SecretPrivateKeyMismatchesSpec) is left out.
//
// NOTE: the model issues ed25519 keys whatever spec.privateKey requests,
// so it cannot compare the key algorithm with the spec.
func (w *World) evaluateSecret(in policyInput) (policyResult, *keyPair) {
	pair, reason, err := w.secretKeyPair(in.secret)
	if err != nil {
		msg := "Issuing certificate as " + err.Error()
		if reason == reasonDoesNotExist {
			msg = "Issuing certificate as Secret does not exist"
		}
		return policyResult{reason: reason, message: msg}, nil
	}
	ann := in.secret.Annotations
	if !secretIssuerAnnotationsMatch(ann, in.cert.Spec.IssuerRef.Name, in.cert.Spec.IssuerRef.Kind, in.cert.Spec.IssuerRef.Group) {
		return policyResult{reason: reasonIncorrectIssuer, message: fmt.Sprintf(
			"Issuing certificate as Secret was previously issued by %q", formatIssuerRef(ann))}, pair
	}
	if name, ok := ann[cmapi.CertificateNameKey]; ok && name != in.cert.Name {
		return policyResult{reason: reasonIncorrectCertificate, message: fmt.Sprintf(
			"Secret was issued for %q. If this message is not transient, you might have two conflicting Certificates pointing to the same secret.", name)}, pair
	}
	if in.current != nil && !publicKeysEqual(in.current.public, pair.key.Public()) {
		return policyResult{reason: reasonSecretMismatch, message: "Secret contains a private key that does not match the current CertificateRequest"}, pair
	}
	if in.current != nil {
		if diff := in.current.spec.diff(fingerprintOf(in.cert)); len(diff) > 0 {
			return policyResult{reason: reasonRequestChanged, message: fmt.Sprintf(
				"Fields on existing CertificateRequest resource not up to date: %v", diff)}, pair
		}
	} else if v := fuzzyAltNamesViolations(pair, in.cert.Spec); len(v) > 0 {
		return policyResult{reason: reasonSecretMismatch, message: fmt.Sprintf(
			"Issuing certificate as Existing issued Secret is not up to date for spec: %v", v)}, pair
	}
	return policyOK, pair
}

// triggerPolicy is cert-manager's trigger chain: the shared checks, then
// CurrentCertificateNearingExpiry.
func (w *World) triggerPolicy(in policyInput) policyResult {
	res, pair := w.evaluateSecret(in)
	if !res.ok {
		return res
	}
	rt := renewalTime(pair.cert.NotBefore, pair.cert.NotAfter, in.cert.Spec)
	if !in.now.Before(rt) {
		return policyResult{reason: reasonRenewing, message: fmt.Sprintf(
			"Renewing certificate as renewal was scheduled at %s", formatTime(rt))}
	}
	return policyOK
}

// readinessPolicy is cert-manager's readiness chain: the shared checks,
// then CurrentCertificateHasExpired.
func (w *World) readinessPolicy(in policyInput) (policyResult, *keyPair) {
	res, pair := w.evaluateSecret(in)
	if !res.ok {
		return res, pair
	}
	if in.now.After(pair.cert.NotAfter) {
		return policyResult{reason: reasonExpired, message: fmt.Sprintf(
			"Certificate expired on %s", pair.cert.NotAfter.UTC().Format(time.RFC1123))}, pair
	}
	return policyResult{ok: true, reason: reasonReady, message: "Certificate is up to date and has not expired"}, pair
}

// secretIssuerAnnotationsMatch is cert-manager's SecretIssuerAnnotationsMatch
// (v1.21.2 pkg/api/util/issuers.go): a present name annotation must equal
// the issuer name, and the kind and group annotations, defaulting to Issuer
// and cert-manager.io when absent, must equal the reference's. A Secret
// without annotations, such as a reflector mirror, therefore matches an
// Issuer reference but not a ClusterIssuer one.
func secretIssuerAnnotationsMatch(ann map[string]string, name, kind, group string) bool {
	n, hasName := ann[cmapi.IssuerNameAnnotationKey]
	k, hasKind := ann[cmapi.IssuerKindAnnotationKey]
	g, hasGroup := ann[cmapi.IssuerGroupAnnotationKey]
	if (hasName || hasKind || hasGroup) && n != name {
		return false
	}
	return defaultKind(k) == defaultKind(kind) && defaultGroup(g) == defaultGroup(group)
}

func defaultKind(k string) string {
	if k == "" {
		return cmapi.IssuerKind
	}
	return k
}

func defaultGroup(g string) string {
	if g == "" {
		return "cert-manager.io"
	}
	return g
}

func formatIssuerRef(ann map[string]string) string {
	return fmt.Sprintf("%s.%s/%s", defaultKind(ann[cmapi.IssuerKindAnnotationKey]),
		defaultGroup(ann[cmapi.IssuerGroupAnnotationKey]), ann[cmapi.IssuerNameAnnotationKey])
}

// fuzzyAltNamesViolations is cert-manager's FuzzyX509AltNamesMatchSpec for
// DNS names: names may move between the common name and the SANs.
func fuzzyAltNamesViolations(pair *keyPair, spec cmapi.CertificateSpec) []string {
	expected := sets.New(spec.DNSNames...)
	if spec.CommonName != "" {
		expected.Insert(spec.CommonName)
	}
	actual := sets.New(pair.cert.DNSNames...)
	if cn := pair.cert.Subject.CommonName; cn != "" {
		actual.Insert(cn)
	}
	if actual.Equal(expected) {
		return nil
	}
	var v []string
	if (spec.CommonName != "" && !actual.Has(spec.CommonName)) ||
		(pair.cert.Subject.CommonName != "" && !expected.Has(pair.cert.Subject.CommonName)) {
		v = append(v, "spec.commonName")
	}
	if !actual.HasAll(spec.DNSNames...) || !expected.HasAll(pair.cert.DNSNames...) {
		v = append(v, "spec.dnsNames")
	}
	return v
}

// specFingerprint is the part of a Certificate spec that a
// CertificateRequest carries, compared by cert-manager's RequestMatchesSpec.
type specFingerprint struct {
	commonName string
	dnsNames   []string
	duration   string
	issuer     string
	isCA       bool
	usages     string
}

func fingerprintOf(c *cmapi.Certificate) specFingerprint {
	names := append([]string(nil), c.Spec.DNSNames...)
	sort.Strings(names)
	names = slices.Compact(names)
	duration := ""
	if c.Spec.Duration != nil {
		duration = c.Spec.Duration.Duration.String()
	}
	usages := make([]string, 0, len(c.Spec.Usages))
	for _, u := range c.Spec.Usages {
		usages = append(usages, string(u))
	}
	sort.Strings(usages)
	ref := c.Spec.IssuerRef
	return specFingerprint{
		commonName: c.Spec.CommonName,
		dnsNames:   names,
		duration:   duration,
		issuer:     defaultKind(ref.Kind) + "." + defaultGroup(ref.Group) + "/" + ref.Name,
		isCA:       c.Spec.IsCA,
		usages:     strings.Join(usages, ","),
	}
}

// diff lists the spec fields in which other differs, as cert-manager names
// them in its messages.
func (f specFingerprint) diff(other specFingerprint) []string {
	var out []string
	if f.commonName != other.commonName {
		out = append(out, "spec.commonName")
	}
	if !slices.Equal(f.dnsNames, other.dnsNames) {
		out = append(out, "spec.dnsNames")
	}
	if f.duration != other.duration {
		out = append(out, "spec.duration")
	}
	if f.issuer != other.issuer {
		out = append(out, "spec.issuerRef")
	}
	if f.isCA != other.isCA {
		out = append(out, "spec.isCA")
	}
	if f.usages != other.usages {
		out = append(out, "spec.usages")
	}
	return out
}
