package acme

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/certwave/certwave/ratelimit"
)

// handleFinalize forwards a finalize request and, when Pebble accepts it,
// spends the issuance tokens. Pebble v2.10.3 accepts a finalize request only
// for a ready order with a matching CSR and then issues in the background
// (wfe.FinalizeOrder), so the front counts acceptance as the issuance.
//
// NOTE: if Pebble's background issuance fails (ca.CompleteOrder only logs
// it), the tokens stay spent and the ledger still shows the issuance.
func (f *Front) handleFinalize(w http.ResponseWriter, r *http.Request, body []byte) {
	id := resourceID(r.URL.Path, pebbleFinalizePath)
	req, decodeErr := decodeJWS(body)
	var csrNames []string
	if decodeErr == nil {
		csrNames, decodeErr = decodeFinalize(req.Payload)
	}

	resp, err := f.forward(r, body)
	if err != nil {
		f.mu.Lock()
		f.record(Entry{Event: EventFinalizeRejected, Endpoint: EndpointFinalize, Order: id,
			Account: req.Account(), Names: csrNames, Status: http.StatusBadGateway, Detail: err.Error()})
		f.saveOrLog()
		f.mu.Unlock()
		f.writeUpstreamError(w, r, err)
		return
	}

	f.recordFinalize(r, id, resp, req.Account(), csrNames, decodeErr)
	writeResponse(w, resp)
}

// recordFinalize spends the issuance tokens when Pebble accepted the
// finalize request, records the outcome and adjusts the response.
func (f *Front) recordFinalize(r *http.Request, id string, resp *upstreamResponse, account string, csrNames []string, decodeErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.saveOrLog()

	entry := Entry{Endpoint: EndpointFinalize, Order: id, Account: account, Names: csrNames, Status: resp.Status}
	rec := f.orders[id]
	if rec != nil {
		entry.Account, entry.Names = rec.Account, rec.Names
		entry.Profile, entry.Replaces = rec.Profile, rec.Replaces
	}
	if resp.Status != http.StatusOK {
		entry.Event = EventFinalizeRejected
		entry.Detail = problemSummary(resp.Body)
		f.record(entry)
		return
	}

	entry.Event = EventIssued
	if len(entry.Names) == 0 {
		entry.Detail = fmt.Sprintf("issuance not counted: the order is unknown to the front and its CSR could not be read (%v)", decodeErr)
		f.log.Error("Pebble issued a certificate the front cannot count", "order", id, "error", decodeErr)
	} else {
		now := f.clock.Now()
		entry.Renewal = f.model.IsRenewal(now, entry.Names)
		f.model.RecordIssuance(now, ratelimit.Order{Account: entry.Account, Names: entry.Names, Replaces: entry.Replaces != ""})
		entry.Spent = issuanceCharges(entry.Names, entry.Renewal)
	}
	if rec != nil {
		rec.Finalized = f.clock.Wall()
		resp.Body = f.delayIssuance(rec, resp)
	}
	// Let's Encrypt's WFE sets Location to the order URL on a finalize
	// response (Boulder wfe2/wfe.go FinalizeOrder), and golang.org/x/crypto/acme
	// and cert-manager's fork of it poll that URL until the order is valid.
	// Pebble v2.10.3 sends none, so the front adds it.
	if resp.Header.Get("Location") == "" && id != "" {
		resp.Header.Set("Location", "https://"+r.Host+pebbleOrderPath+id)
	}
	f.record(entry)
}

// issuanceCharges lists the tokens an issuance takes: one per registered
// domain unless it is a renewal, and one for the exact name set.
func issuanceCharges(names []string, renewal bool) []Charge {
	var charges []Charge
	if !renewal {
		seen := map[string]bool{}
		for _, n := range names {
			domain, err := ratelimit.RegisteredDomain(n)
			if err != nil {
				// Boulder's bucket for a public suffix is the name itself.
				domain = n
			}
			if !seen[domain] {
				seen[domain] = true
				charges = append(charges, Charge{Limit: ratelimit.CertificatesPerDomain, Key: domain})
			}
		}
	}
	return append(charges, Charge{Limit: ratelimit.DuplicateCertificate, Key: ratelimit.NameSetKey(names)})
}

// handleOrder forwards an order request and adjusts Pebble's response: an
// order with a refused DNS-01 challenge is invalid, and a valid order stays
// "processing" while the IssuanceDelay knob holds it.
func (f *Front) handleOrder(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, err := f.forward(r, body)
	if err != nil {
		f.writeUpstreamError(w, r, err)
		return
	}

	f.adjustOrder(resourceID(r.URL.Path, pebbleOrderPath), resp)
	writeResponse(w, resp)
}

// adjustOrder applies the fault knobs to Pebble's order response and records
// an order seen invalid for the first time.
func (f *Front) adjustOrder(id string, resp *upstreamResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := f.orders[id]
	if rec == nil || resp.Status != http.StatusOK {
		return
	}
	var order orderResource
	if err := json.Unmarshal(resp.Body, &order); err != nil {
		return
	}

	refused := f.refusedAuthorization(rec)
	switch {
	case refused != nil:
		detail := fmt.Sprintf("the DNS-01 challenge for %s was refused by the acme front's RejectDNS01 fault knob", refused.Name)
		resp.Body = rewriteJSON(resp.Body, func(o map[string]any) {
			o["status"] = statusInvalid
			o["error"] = problem{Type: problemDNS, Detail: detail, Status: http.StatusBadRequest}
		})
		f.noteOrderInvalid(rec, detail)
	case order.Status == statusInvalid:
		f.noteOrderInvalid(rec, "Pebble reports the order invalid")
	case order.Status == statusValid:
		resp.Body = f.delayIssuance(rec, resp)
	}
}

// noteOrderInvalid records the first time an order is seen invalid. Callers
// hold f.mu.
func (f *Front) noteOrderInvalid(rec *orderRecord, detail string) {
	if rec.Invalid {
		return
	}
	rec.Invalid = true
	f.record(Entry{Event: EventOrderInvalid, Endpoint: EndpointOrder, Order: rec.ID, Account: rec.Account,
		Names: rec.Names, Profile: rec.Profile, Detail: detail})
	f.saveOrLog()
}

// delayIssuance returns the order body as the client may see it now: while
// the IssuanceDelay knob holds a finalized order, a valid order is shown as
// "processing" without its certificate URL, with a Retry-After header.
// Callers hold f.mu.
func (f *Front) delayIssuance(rec *orderRecord, resp *upstreamResponse) []byte {
	if rec.Finalized.IsZero() {
		return resp.Body
	}
	delay := f.clock.ToWall(f.opts.Faults.issuanceDelay(rec.Names, rec.Finalized))
	if delay <= 0 {
		return resp.Body
	}
	left := rec.Finalized.Add(delay).Sub(f.clock.Wall())
	if left <= 0 {
		return resp.Body
	}
	resp.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(left.Seconds()))))
	return rewriteJSON(resp.Body, func(o map[string]any) {
		if o["status"] == statusValid || o["status"] == statusProcessing {
			o["status"] = statusProcessing
			delete(o, "certificate")
		}
	})
}
