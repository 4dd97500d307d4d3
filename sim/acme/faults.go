package acme

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"time"

	"github.com/certwave/certwave/ratelimit"
)

// Faults are the knobs that inject failures. The zero value injects none.
// Each knob is a list of rules, and each rule is active during its Window
// for the names it matches.
//
// Names in every rule are path.Match patterns against the name as ordered,
// and an empty list matches every name. "*" matches any run of characters,
// dots included, so "*.example.com" matches every name under example.com
// and the wildcard name itself. A wildcard authorization is matched as
// "*.<domain>", and "\\*.example.com" matches only the wildcard name.
type Faults struct {
	// RejectDNS01 fails DNS-01 challenges.
	RejectDNS01 []DNS01Failure
	// IssuanceDelay keeps finalized orders "processing".
	IssuanceDelay []IssuanceDelay
	// ServerErrors responds to requests with a server error instead of
	// forwarding them to Pebble.
	ServerErrors []ServerErrors
	// RateLimit responds 429 to new orders, regardless of the limits.
	RateLimit []ForcedRateLimit
}

// Window is when a fault rule is active, in wall-clock time (Options.Now):
// from From, inclusive, to Until, exclusive. A zero From is active from the
// start and a zero Until never ends.
type Window struct {
	From, Until time.Time
}

// Contains reports whether t falls inside the window.
func (w Window) Contains(t time.Time) bool {
	if !w.From.IsZero() && t.Before(w.From) {
		return false
	}
	return w.Until.IsZero() || t.Before(w.Until)
}

func (w Window) String() string {
	from, until := "start", "never"
	if !w.From.IsZero() {
		from = w.From.Format(time.RFC3339)
	}
	if !w.Until.IsZero() {
		until = w.Until.Format(time.RFC3339)
	}
	return from + " to " + until
}

// DNS01Failure fails the DNS-01 challenge of every authorization for a
// matching name whose challenge response arrives during Window. The front
// responds to the challenge response itself, without forwarding it to
// Pebble, with the challenge invalid and a urn:ietf:params:acme:error:dns
// problem, and from then on shows the authorization and its orders as
// invalid. The failure spends a failed-authorization token like a real one.
type DNS01Failure struct {
	Names []string
	Window
}

// IssuanceDelay keeps an order "processing" for Delay after Pebble accepted
// its finalize request, when the order has a matching name and the finalize
// request came during Window. The front shows the order without its
// certificate URL and with a Retry-After header until the delay has passed.
// The tokens are spent when Pebble accepts the finalize request. When
// several rules match, the longest delay applies.
type IssuanceDelay struct {
	Names []string
	// Delay is in model time: the front divides it by Options.TimeScale.
	// It must be positive.
	Delay time.Duration
	Window
}

// ServerErrors injects HTTP 5xx responses during Window. Such a request
// never reaches Pebble, so it spends nothing.
type ServerErrors struct {
	// Share is the fraction of matching requests that fail, from 0 to 1.
	// Zero means every matching request.
	Share float64
	// Endpoints limits the rule to these endpoints. Empty means every ACME
	// endpoint, or only newOrder when Names is set. The ledger endpoint is
	// exempt, because ServeHTTP serves it before it draws a fault.
	Endpoints []Endpoint
	// Names limits the rule to newOrder requests with a matching
	// identifier, the only requests whose names the front reads before it
	// forwards them. Empty matches every request.
	Names []string
	// Status is the HTTP status of the response, 500 to 599. Zero means 500, which
	// Let's Encrypt sends with Retry-After: 60.
	Status int
	Window
}

// ForcedRateLimit rejects new orders with a matching name during Window
// with a rateLimited problem. The order is refused before the limits are
// checked, so it spends nothing.
type ForcedRateLimit struct {
	Names []string
	// RetryAfter is the wait sent in the Retry-After header, in model time.
	// Zero means the rest of the window when Window.Until is set, as Let's
	// Encrypt names the time a limit lets up, and one hour otherwise.
	RetryAfter time.Duration
	Window
}

// ForcedLimit is the limit name in the ledger's decision of an order that
// a ForcedRateLimit rule refused.
const ForcedLimit ratelimit.Name = "fault:rate-limit"

// serverErrorRetryAfter is the Retry-After Boulder's WFE sends with a 500
// response (wfe2/wfe.go sendError, v0.20260921.0), in model time.
const serverErrorRetryAfter = 60 * time.Second

// defaultForcedRetryAfter is ForcedRateLimit.RetryAfter when unset and the
// window has no end.
const defaultForcedRetryAfter = time.Hour

func (f Faults) withDefaults() (Faults, error) {
	// Copy the rule slices, so that filling in defaults leaves the
	// caller's Options as they were.
	f.RejectDNS01 = slices.Clone(f.RejectDNS01)
	f.IssuanceDelay = slices.Clone(f.IssuanceDelay)
	f.ServerErrors = slices.Clone(f.ServerErrors)
	f.RateLimit = slices.Clone(f.RateLimit)

	for i, r := range f.RejectDNS01 {
		if err := checkRule(fmt.Sprintf("RejectDNS01[%d]", i), r.Names, r.Window); err != nil {
			return f, err
		}
	}
	for i, r := range f.IssuanceDelay {
		field := fmt.Sprintf("IssuanceDelay[%d]", i)
		if err := checkRule(field, r.Names, r.Window); err != nil {
			return f, err
		}
		if r.Delay <= 0 {
			return f, fmt.Errorf("acme front: Faults.%s.Delay %s is invalid: use a positive delay, or remove the rule", field, r.Delay)
		}
	}
	for i := range f.ServerErrors {
		if err := f.ServerErrors[i].withDefaults(fmt.Sprintf("ServerErrors[%d]", i)); err != nil {
			return f, err
		}
	}
	for i, r := range f.RateLimit {
		field := fmt.Sprintf("RateLimit[%d]", i)
		if err := checkRule(field, r.Names, r.Window); err != nil {
			return f, err
		}
		if r.RetryAfter < 0 {
			return f, fmt.Errorf("acme front: Faults.%s.RetryAfter %s is negative: use 0 for the rest of the window, or %s without one", field, r.RetryAfter, defaultForcedRetryAfter)
		}
	}
	return f, nil
}

func (se *ServerErrors) withDefaults(field string) error {
	if err := checkRule(field, se.Names, se.Window); err != nil {
		return err
	}
	if se.Share < 0 || se.Share > 1 {
		return fmt.Errorf("acme front: Faults.%s.Share %g is invalid: use a fraction from 0 to 1", field, se.Share)
	}
	if se.Share == 0 {
		se.Share = 1
	}
	if se.Status == 0 {
		se.Status = 500
	}
	if se.Status < 500 || se.Status > 599 {
		return fmt.Errorf("acme front: Faults.%s.Status %d is invalid: use a 5xx status such as 500 or 503", field, se.Status)
	}
	for _, e := range se.Endpoints {
		if !slices.Contains(knownEndpoints, e) {
			return fmt.Errorf("acme front: Faults.%s endpoint %q is unknown: use one of %v", field, e, knownEndpoints)
		}
	}
	if len(se.Names) > 0 {
		if len(se.Endpoints) == 0 {
			se.Endpoints = []Endpoint{EndpointNewOrder}
		}
		if !slices.Equal(se.Endpoints, []Endpoint{EndpointNewOrder}) {
			return fmt.Errorf("acme front: Faults.%s selects names on endpoints %v: names are read only from newOrder requests, so set Endpoints to [%s] or leave Names empty",
				field, se.Endpoints, EndpointNewOrder)
		}
	}
	return nil
}

// checkRule checks the name patterns and the window of one rule.
func checkRule(field string, names []string, w Window) error {
	for _, p := range names {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("acme front: Faults.%s name pattern %q is invalid: %w (use path.Match syntax, for example *.example.com)", field, p, err)
		}
	}
	if !w.From.IsZero() && !w.Until.IsZero() && w.Until.Before(w.From) {
		return fmt.Errorf("acme front: Faults.%s window ends at %s, before its start at %s: set Until after From, or zero for no end",
			field, w.Until.Format(time.RFC3339), w.From.Format(time.RFC3339))
	}
	return nil
}

// logStart logs every fault rule, so a run's log shows what was injected.
func (f Faults) logStart(log *slog.Logger, timeScale float64) {
	for _, r := range f.RejectDNS01 {
		log.Info("fault knob: refuse DNS-01 challenges", "names", r.Names, "window", r.Window)
	}
	for _, r := range f.IssuanceDelay {
		log.Info("fault knob: delay issuance", "names", r.Names, "modelDelay", r.Delay,
			"wallDelay", time.Duration(float64(r.Delay)/timeScale), "window", r.Window)
	}
	for _, r := range f.ServerErrors {
		log.Info("fault knob: server errors", "share", r.Share, "endpoints", r.Endpoints, "names", r.Names,
			"status", r.Status, "window", r.Window)
	}
	for _, r := range f.RateLimit {
		log.Info("fault knob: force 429 on new orders", "names", r.Names, "modelRetryAfter", r.RetryAfter, "window", r.Window)
	}
}

// failsDNS01 reports whether a DNS01Failure rule active at now matches
// name.
func (f Faults) failsDNS01(name string, now time.Time) bool {
	for _, r := range f.RejectDNS01 {
		if r.Contains(now) && matchesAny(r.Names, name) {
			return true
		}
	}
	return false
}

// issuanceDelay returns the longest delay of the IssuanceDelay rules that
// match one of names and were active at finalized, or zero.
func (f Faults) issuanceDelay(names []string, finalized time.Time) time.Duration {
	var delay time.Duration
	for _, r := range f.IssuanceDelay {
		if r.Contains(finalized) && r.Delay > delay && slices.ContainsFunc(names, func(n string) bool { return matchesAny(r.Names, n) }) {
			delay = r.Delay
		}
	}
	return delay
}

// forcedRateLimit returns the first ForcedRateLimit rule active at now that
// matches one of names, and the matching name.
func (f Faults) forcedRateLimit(names []string, now time.Time) (ForcedRateLimit, string, bool) {
	for _, r := range f.RateLimit {
		if !r.Contains(now) {
			continue
		}
		for _, n := range names {
			if matchesAny(r.Names, n) {
				return r, n, true
			}
		}
	}
	return ForcedRateLimit{}, "", false
}

// retryAfter returns the model-time wait a refusal by r at now announces.
func (r ForcedRateLimit) retryAfter(now time.Time, scale float64) time.Duration {
	switch {
	case r.RetryAfter > 0:
		return r.RetryAfter
	case !r.Until.IsZero():
		return time.Duration(float64(r.Until.Sub(now)) * scale)
	default:
		return defaultForcedRetryAfter
	}
}

// matchesAny reports whether name matches one of the path.Match patterns,
// or whether patterns is empty. The patterns were validated by
// withDefaults.
func matchesAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// serverErrorFor returns the first ServerErrors rule that is active,
// covers the endpoint and picks the request. byName selects the rules with
// Names, matched against the names of a newOrder request; the other rules
// are drawn before the front reads the request.
func (f *Front) serverErrorFor(endpoint Endpoint, names []string, byName bool) (ServerErrors, bool) {
	now := f.clock.Wall()
	for _, rule := range f.opts.Faults.ServerErrors {
		if !rule.Contains(now) || (len(rule.Endpoints) > 0 && !slices.Contains(rule.Endpoints, endpoint)) {
			continue
		}
		if byName != (len(rule.Names) > 0) {
			continue
		}
		if byName && !slices.ContainsFunc(names, func(n string) bool { return matchesAny(rule.Names, n) }) {
			continue
		}
		if rule.Share < 1 {
			f.faultMu.Lock()
			draw := f.rng.Float64()
			f.faultMu.Unlock()
			if draw >= rule.Share {
				continue
			}
		}
		return rule, true
	}
	return ServerErrors{}, false
}

// respondServerError records and sends an injected server error.
func (f *Front) respondServerError(w http.ResponseWriter, r *http.Request, endpoint Endpoint, names []string, status int) {
	f.mu.Lock()
	f.record(Entry{Event: EventServerError, Endpoint: endpoint, Status: status, Names: names,
		Detail: fmt.Sprintf("the ServerErrors fault knob responded to %s %s", r.Method, r.URL.Path)})
	f.saveOrLog()
	f.mu.Unlock()
	f.writeProblem(w, r, status, problem{
		Type:   problemServerInternal,
		Detail: fmt.Sprintf("server error injected by the acme front's fault knob for the %s endpoint", endpoint),
	}, f.clock.retryAfterSeconds(serverErrorRetryAfter))
}
