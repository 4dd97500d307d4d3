package kubecluster

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	acmev1 "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/ratelimit"
)

// cert-manager's annotations on a CertificateRequest (v1.21).
const (
	annotationCertificateName     = "cert-manager.io/certificate-name"
	annotationCertificateRevision = "cert-manager.io/certificate-revision"
)

// OrderObserver reads the ACME events of a real cluster from cert-manager's
// Orders (acme.cert-manager.io/v1) and the CertificateRequests that own
// them: an order when an Order was created, issued when it is valid,
// refused when it errored with a rate-limit problem and authz-failed when
// it went invalid.
//
// NOTE: cert-manager deletes old CertificateRequests, and their Orders
// with them, beyond a Certificate's revisionHistoryLimit. Events of a
// deleted Order that certwave did not read while it ran are missing from
// the ledger.
type OrderObserver struct {
	Client client.Client
}

var _ engine.ACMEObserver = (*OrderObserver)(nil)

// ACMEEvents implements engine.ACMEObserver.
func (o *OrderObserver) ACMEEvents(ctx context.Context, since time.Time) ([]engine.ACMEEvent, error) {
	var orders acmev1.OrderList
	if err := o.Client.List(ctx, &orders); err != nil {
		return nil, fmt.Errorf("list ACME Orders: %w", err)
	}
	var requests cmapi.CertificateRequestList
	if err := o.Client.List(ctx, &requests); err != nil {
		return nil, fmt.Errorf("list CertificateRequests: %w", err)
	}
	byName := map[string]*cmapi.CertificateRequest{}
	for i := range requests.Items {
		cr := &requests.Items[i]
		byName[cr.Namespace+"/"+cr.Name] = cr
	}

	var out []engine.ACMEEvent
	for i := range orders.Items {
		for _, ev := range orderEvents(&orders.Items[i], byName) {
			if !ev.At.Before(since) {
				out = append(out, ev)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// orderEvents returns the events of one Order.
func orderEvents(order *acmev1.Order, requests map[string]*cmapi.CertificateRequest) []engine.ACMEEvent {
	names := append([]string(nil), order.Spec.DNSNames...)
	if len(names) == 0 && order.Spec.CommonName != "" {
		names = []string{order.Spec.CommonName}
	}
	base := engine.ACMEEvent{Names: names}
	var cr *cmapi.CertificateRequest
	for _, ref := range order.OwnerReferences {
		if ref.Kind == "CertificateRequest" {
			cr = requests[order.Namespace+"/"+ref.Name]
		}
	}
	if cr != nil {
		if name := cr.Annotations[annotationCertificateName]; name != "" {
			base.Certificate = cr.Namespace + "/" + name
		}
		// NOTE: a later revision of the same Certificate is taken as a
		// renewal. Let's Encrypt decides by the exact name set issued in
		// the last 120 days, so a revision that changed its dnsNames is
		// counted wrongly here.
		if rev, err := strconv.Atoi(cr.Annotations[annotationCertificateRevision]); err == nil && rev > 1 {
			base.Renewal = true
		}
	}

	created := base
	created.Type, created.At = engine.ACMEOrder, order.CreationTimestamp.Time
	events := []engine.ACMEEvent{created}

	failedAt := order.CreationTimestamp.Time
	if order.Status.FailureTime != nil {
		failedAt = order.Status.FailureTime.Time
	}
	switch order.Status.State {
	case acmev1.Valid:
		issued := base
		issued.Type, issued.At = engine.ACMEIssued, order.CreationTimestamp.Time
		if cr != nil {
			for _, c := range cr.Status.Conditions {
				if c.Type == cmapi.CertificateRequestConditionReady && c.LastTransitionTime != nil {
					issued.At = c.LastTransitionTime.Time
				}
			}
		}
		events = append(events, issued)
	case acmev1.Errored:
		if isRateLimited(order.Status.Reason) {
			refused := base
			refused.Type, refused.At = engine.ACMERefused, failedAt
			refused.Limit, refused.RetryIn = parseRateLimit(order.Status.Reason, failedAt)
			refused.Detail = order.Status.Reason
			events = append(events, refused)
		}
	case acmev1.Invalid:
		failed := base
		failed.Type, failed.At, failed.Detail = engine.ACMEAuthzFailed, failedAt, order.Status.Reason
		events = append(events, failed)
	}
	return events
}

func isRateLimited(reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "ratelimited") || strings.Contains(r, "rate limit") || strings.Contains(r, "429")
}

// retryAfterPattern finds the time in Let's Encrypt's "retry after
// 2025-01-02 15:04:05 UTC" or an RFC 3339 time after "retry after".
var retryAfterPattern = regexp.MustCompile(`(?i)retry after (\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?: UTC|Z|[+-]\d{2}:\d{2}))`)

// parseRateLimit returns the limit a rate-limit problem names and the wait
// from at until its retry-after time, when the message contains them.
func parseRateLimit(reason string, at time.Time) (string, time.Duration) {
	r := strings.ToLower(reason)
	limit := "rate-limit"
	switch {
	case strings.Contains(r, "exact set"):
		limit = string(ratelimit.DuplicateCertificate)
	case strings.Contains(r, "registered domain"):
		limit = string(ratelimit.CertificatesPerDomain)
	case strings.Contains(r, "new orders"):
		limit = string(ratelimit.NewOrdersPerAccount)
	case strings.Contains(r, "failed authorizations"):
		limit = string(ratelimit.FailedAuthorizationsPerIdentifier)
	}
	m := retryAfterPattern.FindStringSubmatch(reason)
	if m == nil {
		return limit, 0
	}
	for _, layout := range []string{"2006-01-02 15:04:05 MST", time.RFC3339} {
		if t, err := time.Parse(layout, m[1]); err == nil && t.After(at) {
			return limit, t.Sub(at)
		}
	}
	return limit, 0
}
