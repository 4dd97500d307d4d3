package kubecluster

import (
	"testing"
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/ratelimit"
)

var planStart = time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)

func TestOrderEventsFromCertManager(t *testing.T) {
	created := metav1.NewTime(planStart)
	failed := metav1.NewTime(planStart.Add(time.Minute))
	cr := &cmapi.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "blog-tls-2", Annotations: map[string]string{
			annotationCertificateName: "blog-tls", annotationCertificateRevision: "2",
		}},
	}
	order := &acmev1.Order{
		ObjectMeta: metav1.ObjectMeta{Namespace: "network", Name: "blog-tls-2-1", CreationTimestamp: created,
			OwnerReferences: []metav1.OwnerReference{{Kind: "CertificateRequest", Name: "blog-tls-2"}}},
		Spec: acmev1.OrderSpec{DNSNames: []string{"blog.example.com"}},
		Status: acmev1.OrderStatus{State: acmev1.Errored, FailureTime: &failed,
			Reason: "Failed to create Order: 429 urn:ietf:params:acme:error:rateLimited: too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2027-01-05 09:00:00 UTC"},
	}
	events := orderEvents(order, map[string]*cmapi.CertificateRequest{"network/blog-tls-2": cr})
	if len(events) != 2 {
		t.Fatalf("got %d events, want an order and a refusal: %+v", len(events), events)
	}
	if ev := events[0]; ev.Type != engine.ACMEOrder || ev.Certificate != "network/blog-tls" || !ev.Renewal || !ev.At.Equal(planStart) {
		t.Errorf("order event %+v", ev)
	}
	ev := events[1]
	if ev.Type != engine.ACMERefused || ev.Limit != string(ratelimit.DuplicateCertificate) {
		t.Errorf("refusal %+v, want limit %s", ev, ratelimit.DuplicateCertificate)
	}
	if want := 24*time.Hour - time.Minute; ev.RetryIn != want {
		t.Errorf("retry in %s, want %s", ev.RetryIn, want)
	}
}
