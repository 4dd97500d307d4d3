package kubecluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PrivateCARoots returns the CA certificates issued through the Ready
// CertificateRequests of namespace, or nil when there are none yet.
// CertificateRequests carry certificates, never private keys.
func PrivateCARoots(ctx context.Context, c client.Client, namespace string) (*x509.CertPool, error) {
	var list cmapi.CertificateRequestList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	pool, n := x509.NewCertPool(), 0
	for _, cr := range list.Items {
		if !certificateRequestReady(&cr) {
			continue
		}
		rest := cr.Status.Certificate
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err == nil && cert.IsCA {
				pool.AddCert(cert)
				n++
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	return pool, nil
}

func certificateRequestReady(cr *cmapi.CertificateRequest) bool {
	for _, c := range cr.Status.Conditions {
		if c.Type == cmapi.CertificateRequestConditionReady && c.Status == cmmeta.ConditionTrue {
			return true
		}
	}
	return false
}
