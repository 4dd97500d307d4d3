package acme

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// handleNewOrder checks the limits of a newOrder request and forwards it to
// Pebble when they allow it.
func (f *Front) handleNewOrder(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := decodeJWS(body)
	var order newOrderRequest
	if err == nil {
		order, err = decodeNewOrder(req.Payload)
	}
	if err != nil {
		// Pebble rejects what the front cannot read, with the right problem.
		f.mu.Lock()
		f.record(Entry{Event: EventUndecoded, Endpoint: EndpointNewOrder, Detail: err.Error()})
		f.saveOrLog()
		f.mu.Unlock()
		f.relay(w, r, body)
		return
	}
	names, otherTypes := order.dnsNames()
	entry := Entry{
		Endpoint: EndpointNewOrder,
		Account:  req.Account(),
		Names:    names,
		Profile:  order.Profile,
		Replaces: order.Replaces,
	}
	if order.Profile == "" {
		f.log.Warn("newOrder without a profile: Pebble picks a random one where Let's Encrypt would pick classic",
			"account", entry.Account, "names", names)
	}
	if rule, ok := f.serverErrorFor(EndpointNewOrder, names, true); ok {
		f.respondServerError(w, r, EndpointNewOrder, names, rule.Status)
		return
	}
	if f.forcedRateLimit(w, r, entry) {
		return
	}

	resp, decision, err := f.checkAndCreateOrder(r, body, entry, order.Replaces != "", otherTypes)
	switch {
	case !decision.Allowed && decision.Error == "":
		f.writeRateLimited(w, r, decision)
	case err != nil:
		f.writeUpstreamError(w, r, err)
	default:
		writeResponse(w, resp)
	}
}

// checkAndCreateOrder checks the limits and, when they allow the order,
// forwards it to Pebble, refunding the new-order token if Pebble rejects it.
// It records the outcome in the ledger. The response is nil when the limits
// refused the order or Pebble could not be reached.
func (f *Front) checkAndCreateOrder(r *http.Request, body []byte, entry Entry, replaces, otherTypes bool) (*upstreamResponse, ratelimit.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.saveOrLog()

	// The snapshot taken before the check is the refund: restoring it undoes
	// the new-order token when Pebble rejects the order. f.mu keeps other
	// changes out until then.
	before, snapErr := snapshotModel(f.model)
	if snapErr != nil {
		f.log.Error("saving the limiter before a newOrder check failed, so a rejected order will not be refunded", "error", snapErr)
	}
	decision := f.model.CheckNewOrder(f.clock.Now(), ratelimit.Order{Account: entry.Account, Names: entry.Names, Replaces: replaces})
	entry.Decision = &decision
	entry.Renewal = decision.Renewal
	if otherTypes {
		entry.Detail = "the order has non-DNS identifiers, which the limits do not count"
	}
	if !decision.Allowed && decision.Error == "" {
		entry.Event = EventOrderRefused
		entry.Status = http.StatusTooManyRequests
		f.record(entry)
		return nil, decision, nil
	}
	if decision.Error != "" {
		// Pebble judges names the limiter cannot evaluate, such as a public
		// suffix.
		entry.Detail = "limits not evaluated: " + decision.Error
	}

	resp, err := f.forward(r, body)
	if err != nil || resp.Status != http.StatusCreated {
		entry.Event = EventOrderRejected
		entry.Refunded = f.refundNewOrder(before, entry.Account, decision)
		if err != nil {
			entry.Status = http.StatusBadGateway
			entry.Detail = err.Error()
		} else {
			entry.Status = resp.Status
			entry.Detail = problemSummary(resp.Body)
		}
		f.record(entry)
		return resp, decision, err
	}

	id := resourceID(resp.Header.Get("Location"), pebbleOrderPath)
	var created orderResource
	if err := json.Unmarshal(resp.Body, &created); err != nil {
		f.log.Error("Pebble's new order is not JSON, so its authorizations are not tracked", "order", id, "error", err)
	}
	if created.Profile != "" {
		entry.Profile = created.Profile
	}
	entry.Event = EventOrderCreated
	entry.Order = id
	entry.Status = resp.Status
	f.rememberOrder(entry, created)
	f.record(entry)
	return resp, decision, nil
}

// rememberOrder stores a created order and links its authorizations to it.
// Callers hold f.mu.
func (f *Front) rememberOrder(entry Entry, created orderResource) {
	if entry.Order == "" {
		f.log.Error("Pebble's new order has no Location header, so its finalize request will be matched by CSR only",
			"account", entry.Account, "names", entry.Names)
		return
	}
	now := f.clock.Wall()
	rec := &orderRecord{
		ID:       entry.Order,
		Account:  entry.Account,
		Names:    entry.Names,
		Profile:  entry.Profile,
		Replaces: entry.Replaces,
		Renewal:  entry.Renewal,
		Created:  now,
	}
	for _, u := range created.Authorizations {
		authzID := resourceID(u, pebbleAuthzPath)
		if authzID == "" {
			continue
		}
		rec.Authorizations = append(rec.Authorizations, authzID)
		a := f.authzs[authzID]
		if a == nil {
			a = &authzRecord{ID: authzID, Account: entry.Account, Created: now}
			f.authzs[authzID] = a
		}
		a.Orders = append(a.Orders, entry.Order)
	}
	f.orders[entry.Order] = rec
}

// refundNewOrder restores the limiter as it was before the check and returns
// the token that restoring gave back: the new-order token, which Boulder's
// WFE refunds when order creation fails. Renewals and ARI replacements did
// not spend it. Callers hold f.mu.
func (f *Front) refundNewOrder(before []byte, account string, d ratelimit.Decision) []Charge {
	if before == nil || !d.Allowed {
		return nil
	}
	restored, err := ratelimit.RestoreModel(before)
	if err != nil {
		f.log.Error("refunding a rejected order failed, so its new-order token stays spent", "account", account, "error", err)
		return nil
	}
	f.model = restored
	if d.Renewal {
		return nil
	}
	return []Charge{{Limit: ratelimit.NewOrdersPerAccount, Key: account}}
}

// forcedRateLimit responds 429 when an active RateLimit rule matches a name
// of the order, and reports whether it did.
func (f *Front) forcedRateLimit(w http.ResponseWriter, r *http.Request, entry Entry) bool {
	now := f.clock.Wall()
	rule, matched, ok := f.opts.Faults.forcedRateLimit(entry.Names, now)
	if !ok {
		return false
	}
	wait := rule.retryAfter(now, f.opts.TimeScale)
	entry.Event = EventOrderForced429
	entry.Status = http.StatusTooManyRequests
	entry.Decision = &ratelimit.Decision{Limit: ForcedLimit, Key: matched, RetryIn: wait}
	entry.Detail = fmt.Sprintf("the RateLimit fault knob matches %q", matched)
	f.mu.Lock()
	f.record(entry)
	f.saveOrLog()
	f.mu.Unlock()
	retryAfter := f.clock.retryAfterSeconds(wait)
	f.writeProblem(w, r, http.StatusTooManyRequests, problem{
		Type:   problemRateLimited,
		Detail: fmt.Sprintf("rate limit forced by the acme front's fault knob for %q: retry after %d seconds", matched, retryAfter),
	}, retryAfter)
	return true
}

// writeRateLimited responds to a refusal by the limits as Let's Encrypt does:
// HTTP 429, a rateLimited problem, Retry-After and a link to the rate-limit
// documentation.
func (f *Front) writeRateLimited(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
	retryAfter := f.clock.retryAfterSeconds(d.RetryIn)
	retryAt := f.clock.Wall().Add(time.Duration(retryAfter) * time.Second).UTC()
	w.Header().Add("Link", "<https://letsencrypt.org/docs/rate-limits/>;rel=\"help\"")
	f.writeProblem(w, r, http.StatusTooManyRequests, problem{
		Type:   problemRateLimited,
		Detail: refusalDetail(d, retryAt, f.opts.TimeScale),
	}, retryAfter)
}

// refusalDetail explains a refusal, naming the limit, its bucket and the
// time to retry.
func refusalDetail(d ratelimit.Decision, retryAt time.Time, scale float64) string {
	var burst int64
	var period time.Duration
	for _, l := range ratelimit.Limits() {
		if l.Name == d.Limit {
			burst, period = l.Burst, l.Period
		}
	}
	retry := retryAt.Format("2006-01-02 15:04:05 MST")
	var reason string
	switch d.Limit {
	case ratelimit.CertificatesPerDomain:
		reason = fmt.Sprintf("too many new certificates (%d per %s) for the registered domain %q", burst, period, d.Key)
	case ratelimit.DuplicateCertificate:
		reason = fmt.Sprintf("too many certificates (%d per %s) for the exact set of names %q", burst, period, d.Key)
	case ratelimit.NewOrdersPerAccount:
		reason = fmt.Sprintf("too many new orders (%d per %s) from account %q", burst, period, d.Key)
	case ratelimit.FailedAuthorizationsPerIdentifier:
		reason = fmt.Sprintf("too many failed authorizations (%d per %s) for account:identifier %q", burst, period, d.Key)
	case ratelimit.ConsecutiveAuthorizationFailures:
		reason = fmt.Sprintf("account:identifier %q is paused after %d consecutive failed authorizations", d.Key, burst)
	default:
		reason = fmt.Sprintf("limit %s refused bucket %q", d.Limit, d.Key)
	}
	detail := fmt.Sprintf("%s: retry after %s", reason, retry)
	if scale != 1 {
		detail += fmt.Sprintf(" (limit periods are divided by the time scale %g)", scale)
	}
	return detail
}

// problemSummary returns "type: detail" of a problem document, or the start
// of the body when it is not one.
func problemSummary(body []byte) string {
	var p problem
	if err := json.Unmarshal(body, &p); err == nil && p.Type != "" {
		return p.Type + ": " + p.Detail
	}
	const maxLen = 200
	if len(body) > maxLen {
		body = body[:maxLen]
	}
	return string(body)
}
