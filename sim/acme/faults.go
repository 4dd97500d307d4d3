package acme

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// serverErrorRetryAfter is the Retry-After Boulder's WFE sends with a 500
// response (wfe2/wfe.go sendError, v0.20260921.0), in model time.
const serverErrorRetryAfter = 60 * time.Second

// injectServerError responds with the ServerErrors knob's status
// when the knob picks it, and reports whether it did.
func (f *Front) injectServerError(w http.ResponseWriter, r *http.Request, endpoint Endpoint) bool {
	knob := f.opts.Faults.ServerErrors
	if knob.Share <= 0 {
		return false
	}
	if len(knob.Endpoints) > 0 && !slices.Contains(knob.Endpoints, endpoint) {
		return false
	}
	if knob.Share < 1 {
		f.faultMu.Lock()
		draw := f.rng.Float64()
		f.faultMu.Unlock()
		if draw >= knob.Share {
			return false
		}
	}
	f.mu.Lock()
	f.record(Entry{Event: EventServerError, Endpoint: endpoint, Status: knob.Status,
		Detail: fmt.Sprintf("the ServerErrors fault knob responded to %s %s", r.Method, r.URL.Path)})
	f.saveOrLog()
	f.mu.Unlock()
	f.writeProblem(w, r, knob.Status, problem{
		Type:   problemServerInternal,
		Detail: fmt.Sprintf("server error injected by the acme front's fault knob for the %s endpoint", endpoint),
	}, f.clock.retryAfterSeconds(serverErrorRetryAfter))
	return true
}
