package model

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"

	"github.com/certwave/certwave/ratelimit"
	"github.com/certwave/certwave/topology"
)

// initialIssue is one inventory Certificate to issue before Start.
type initialIssue struct {
	cert   *cmapi.Certificate
	issuer *issuerView
	at     time.Time
}

// buildCertificates creates the inventory's Certificates and issues each
// before Start. It issues them in time order because the rate-limit model
// requires times that never go backwards.
func (w *World) buildCertificates() error {
	var plan []initialIssue
	for _, ic := range w.inv.Certificates {
		c := certificateObject(ic)
		w.stampNew(c)
		if err := w.api.Create(context.Background(), c, client.FieldOwner(inventoryFieldOwner)); err != nil {
			return fmt.Errorf("model: creating Certificate %s/%s: %w", c.Namespace, c.Name, err)
		}
		issuer, ok := w.lookupIssuer(c.Namespace, c.Spec.IssuerRef)
		if !ok {
			continue
		}
		lifetime := w.lifetimeAt(c, issuer, w.sched.now)
		age := w.opts.InitialCertificateAge
		if age == 0 {
			// due is how long after notBefore the renewal comes.
			due := renewalTime(time.Time{}, time.Time{}.Add(lifetime), c.Spec).Sub(time.Time{})
			window := due - 2*day
			if window <= 0 {
				age = due / 2
			} else {
				age = day + time.Duration(w.rng.Int64N(int64(window/time.Second)))*time.Second
			}
		}
		plan = append(plan, initialIssue{cert: c, issuer: issuer, at: w.sched.now.Add(-age)})
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at.Before(plan[j].at) })
	for _, p := range plan {
		if err := w.issueInitial(p); err != nil {
			return err
		}
	}
	return nil
}

func certificateObject(ic topology.Certificate) *cmapi.Certificate {
	c := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ic.Namespace, Name: ic.Name},
		Spec: cmapi.CertificateSpec{
			SecretName: ic.SecretName, CommonName: ic.CommonName, DNSNames: append([]string(nil), ic.DNSNames...),
			IssuerRef: cmmeta.IssuerReference{Kind: ic.IssuerRef.Kind, Name: ic.IssuerRef.Name},
			IsCA:      ic.IsCA,
		},
	}
	if ic.Duration > 0 {
		c.Spec.Duration = &metav1.Duration{Duration: ic.Duration}
	}
	if ic.RenewBefore > 0 {
		c.Spec.RenewBefore = &metav1.Duration{Duration: ic.RenewBefore}
	}
	if len(ic.SecretAnnotations) > 0 {
		c.Spec.SecretTemplate = &cmapi.CertificateSecretTemplate{Annotations: cloneMap(ic.SecretAnnotations)}
	}
	return c
}

// issueInitial issues one inventory Certificate at p.at, as if cert-manager
// had done it then, and records an ACME issuance in the rate-limit model.
func (w *World) issueInitial(p initialIssue) error {
	c := p.cert
	key := w.newKey()
	certPEM, caPEM, err := w.signInitial(p, key)
	if err != nil {
		return fmt.Errorf("model: issuing Certificate %s/%s before start: %w", c.Namespace, c.Name, err)
	}
	if certPEM == nil {
		return nil
	}

	st := &certState{uid: c.UID, key: c.Namespace + "/" + c.Name}
	w.certs[c.UID] = st
	req := &requestRecord{name: c.Name + "-1", revision: 1, spec: fingerprintOf(c), public: key.Public()}
	st.issuing = &issuance{key: key, req: req}
	csr, err := newCSR(c.Spec.CommonName, c.Spec.DNSNames, key)
	if err != nil {
		return err
	}
	cr := &cmapi.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: req.name,
			Annotations:     map[string]string{cmapi.CertificateNameKey: c.Name, cmapi.CertificateRequestRevisionAnnotationKey: "1"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(c, cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind))}},
		Spec: cmapi.CertificateRequestSpec{Request: csr, IssuerRef: c.Spec.IssuerRef, Duration: c.Spec.Duration},
	}
	w.stampNew(cr)
	cr.CreationTimestamp = metav1.NewTime(p.at)
	if err := w.api.Create(context.Background(), cr, client.FieldOwner(inventoryFieldOwner)); err != nil {
		return fmt.Errorf("model: creating CertificateRequest %s/%s: %w", cr.Namespace, cr.Name, err)
	}

	// The issuance is written at its own time, before Start.
	saved := w.sched.now
	w.sched.now = p.at
	w.completeIssuance(c.Namespace, c.Name, st, certPEM, caPEM, p.issuer)
	w.sched.now = saved
	return nil
}

// signInitial signs the certificate of an inventory Certificate issued at
// p.at. It returns no certificate, and no error, for an issuer the model
// cannot sign for or a CA issuer without a valid key pair.
func (w *World) signInitial(p initialIssue, key ed25519.PrivateKey) (certPEM, caPEM []byte, err error) {
	c := p.cert
	switch p.issuer.typ() {
	case issuerTypeACME:
		server := p.issuer.spec.ACME.Server
		ca, err := w.acmeAuthority(server)
		if err != nil {
			return nil, nil, err
		}
		limits, err := w.acme.limitsFor(server)
		if err != nil {
			return nil, nil, err
		}
		names := requestNames(c)
		notBefore := p.at.Add(-letsEncryptBackdate)
		lifetime := profileLifetime(w.acmeProfile(p.issuer), p.at)
		certPEM, err = w.sign(leafRequest{commonName: c.Spec.CommonName, dnsNames: names, notBefore: notBefore,
			notAfter: notBefore.Add(lifetime), public: key.Public()}, ca, nil)
		if err != nil {
			return nil, nil, err
		}
		limits.RecordIssuance(p.at, ratelimit.Order{Account: p.issuer.key(), Names: names})
		for _, n := range names {
			w.acme.authorizations[p.issuer.key()+"|"+n] = p.at
		}
		return certPEM, nil, nil
	case issuerTypeCA:
		ca, err := w.caAuthority(p.issuer)
		if err != nil {
			w.record(traceCertificate, "Certificate/"+c.Namespace+"/"+c.Name, "not issued before start: %v", err)
			return nil, nil, nil
		}
		certPEM, err = w.sign(leafRequest{commonName: c.Spec.CommonName, dnsNames: c.Spec.DNSNames, isCA: c.Spec.IsCA,
			notBefore: p.at, notAfter: p.at.Add(w.lifetimeAt(c, p.issuer, p.at)), public: key.Public()}, ca, nil)
		return certPEM, ca.certPEM, err
	case issuerTypeSelfSigned:
		certPEM, err = w.sign(leafRequest{commonName: c.Spec.CommonName, dnsNames: c.Spec.DNSNames, isCA: c.Spec.IsCA,
			notBefore: p.at, notAfter: p.at.Add(w.lifetimeAt(c, p.issuer, p.at)), public: key.Public()}, nil, key)
		return certPEM, certPEM, err
	default:
		return nil, nil, nil
	}
}
