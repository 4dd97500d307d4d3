package acme

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// challengeDNS01 is the DNS-01 challenge type (RFC 8555, section 8.4).
const challengeDNS01 = "dns-01"

// handleAuthorization forwards an authorization request, learns the
// authorization's identifier and challenges, records its outcome once, and
// shows an authorization refused by the RejectDNS01 knob as invalid.
func (f *Front) handleAuthorization(w http.ResponseWriter, r *http.Request, body []byte) {
	id := resourceID(r.URL.Path, pebbleAuthzPath)
	var account string
	if req, err := decodeJWS(body); err == nil {
		account = req.Account()
	}
	resp, err := f.forward(r, body)
	if err != nil {
		f.writeUpstreamError(w, r, err)
		return
	}
	var authz authzResource
	if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &authz) != nil || authz.Identifier.Value == "" {
		writeResponse(w, resp)
		return
	}
	f.mu.Lock()
	rec := f.rememberAuthorization(id, account, authz)
	if rec.Refused {
		resp.Body = refusedAuthorizationBody(resp.Body, rec)
	} else {
		f.noteOutcome(rec, authz.Status)
	}
	f.mu.Unlock()
	writeResponse(w, resp)
}

// rememberAuthorization creates or updates the record of an authorization
// from Pebble's response. Callers hold f.mu.
func (f *Front) rememberAuthorization(id, account string, authz authzResource) *authzRecord {
	rec := f.authzs[id]
	if rec == nil {
		rec = &authzRecord{ID: id, Created: f.clock.Wall()}
		f.authzs[id] = rec
	}
	if rec.Account == "" {
		rec.Account = account
	}
	rec.Identifier = authz.Identifier.Value
	rec.Name = authz.Identifier.Value
	if authz.Wildcard {
		rec.Name = "*." + authz.Identifier.Value
	}
	// A non-pending authorization lists only the challenge that decided it,
	// so keep the full list from the first response.
	if len(authz.Challenges) > len(rec.Challenges) {
		rec.Challenges = authz.Challenges
	}
	f.indexChallenges(rec)
	return rec
}

// indexChallenges maps the challenge IDs of an authorization to it. Callers
// hold f.mu or own f exclusively.
func (f *Front) indexChallenges(rec *authzRecord) {
	for _, c := range rec.Challenges {
		if id := resourceID(c.URL, pebbleChallengePath); id != "" {
			f.challenges[id] = rec.ID
		}
	}
}

// noteOutcome records the first valid or invalid status of an authorization
// in the limiter and the ledger. Callers hold f.mu.
func (f *Front) noteOutcome(rec *authzRecord, status string) {
	if rec.Outcome != "" || (status != statusValid && status != statusInvalid) {
		return
	}
	rec.Outcome = status
	now := f.clock.Now()
	entry := Entry{Endpoint: EndpointAuthorization, Authorization: rec.ID, Account: rec.Account, Names: []string{rec.Name}}
	if status == statusInvalid {
		f.model.RecordAuthorizationFailure(now, rec.Account, rec.Identifier)
		entry.Event = EventAuthorizationInvalid
	} else {
		f.model.RecordAuthorizationSuccess(now, rec.Account, rec.Identifier)
		entry.Event = EventAuthorizationValid
	}
	if len(rec.Orders) > 0 {
		entry.Order = rec.Orders[len(rec.Orders)-1]
	}
	f.record(entry)
	f.saveOrLog()
}

// refusedAuthorization returns the first authorization of an order that the
// RejectDNS01 knob failed, or nil. Callers hold f.mu.
func (f *Front) refusedAuthorization(rec *orderRecord) *authzRecord {
	for _, id := range rec.Authorizations {
		if a := f.authzs[id]; a != nil && a.Refused {
			return a
		}
	}
	return nil
}

// handleChallenge fails a DNS-01 challenge itself when the RejectDNS01 knob
// matches the name. Otherwise it forwards the request and records the
// outcome that Pebble's response shows.
func (f *Front) handleChallenge(w http.ResponseWriter, r *http.Request, body []byte) {
	id := resourceID(r.URL.Path, pebbleChallengePath)
	req, err := decodeJWS(body)
	// A challenge response has a payload ("{}"); POST-as-GET has none.
	isResponse := err == nil && len(req.Payload) > 0

	f.mu.Lock()
	rec := f.authzs[f.challenges[id]]
	chal, found := findChallenge(rec, id)
	refuse := found && chal.Type == challengeDNS01 &&
		(rec.Refused || (isResponse && f.opts.Faults.failsDNS01(rec.Name, f.clock.Wall())))
	if refuse {
		if !rec.Refused {
			rec.Refused = true
			f.record(Entry{Event: EventDNS01Refused, Endpoint: EndpointChallenge, Authorization: rec.ID,
				Account: rec.Account, Names: []string{rec.Name}, Detail: "the RejectDNS01 fault knob matches the name"})
			f.noteOutcome(rec, statusInvalid)
		}
		invalid := refusedChallenge(chal, rec)
		f.mu.Unlock()
		f.writeRefusedChallenge(w, r, rec, invalid)
		return
	}
	f.mu.Unlock()

	resp, err := f.forward(r, body)
	if err != nil {
		f.writeUpstreamError(w, r, err)
		return
	}
	var updated challengeResource
	if found && resp.Status == http.StatusOK && json.Unmarshal(resp.Body, &updated) == nil {
		f.mu.Lock()
		f.noteOutcome(rec, updated.Status)
		f.mu.Unlock()
	}
	writeResponse(w, resp)
}

// findChallenge returns the challenge with the given ID of an authorization.
func findChallenge(rec *authzRecord, id string) (challengeResource, bool) {
	if rec == nil {
		return challengeResource{}, false
	}
	for _, c := range rec.Challenges {
		if resourceID(c.URL, pebbleChallengePath) == id {
			return c, true
		}
	}
	return challengeResource{}, false
}

// refusedChallenge returns the challenge as invalid with a DNS problem.
func refusedChallenge(c challengeResource, rec *authzRecord) challengeResource {
	c.Status = statusInvalid
	c.Error = &problem{
		Type:   problemDNS,
		Detail: fmt.Sprintf("DNS-01 validation of %s refused by the acme front's RejectDNS01 fault knob", rec.Name),
		Status: http.StatusBadRequest,
	}
	return c
}

// refusedAuthorizationBody shows an authorization as invalid with only its
// refused DNS-01 challenge, as an ACME server lists only the challenge that
// decided a finished authorization.
func refusedAuthorizationBody(body []byte, rec *authzRecord) []byte {
	var challenges []challengeResource
	for _, c := range rec.Challenges {
		if c.Type == challengeDNS01 {
			challenges = append(challenges, refusedChallenge(c, rec))
		}
	}
	return rewriteJSON(body, func(o map[string]any) {
		o["status"] = statusInvalid
		o["challenges"] = challenges
	})
}

// writeRefusedChallenge sends the refused challenge with the headers an ACME
// server sends: a fresh nonce and the "up" link to the authorization.
func (f *Front) writeRefusedChallenge(w http.ResponseWriter, r *http.Request, rec *authzRecord, c challengeResource) {
	body, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		f.log.Error("encoding the invalid challenge failed", "authorization", rec.ID, "error", err)
		http.Error(w, "encoding the challenge failed", http.StatusInternalServerError)
		return
	}
	f.writeACME(w, r, "application/json", body)
	w.Header().Add("Link", fmt.Sprintf("<https://%s%s%s>;rel=\"up\"", r.Host, pebbleAuthzPath, rec.ID))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
