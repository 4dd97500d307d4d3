// Package acme runs a front for Pebble that enforces Let's Encrypt's rate
// limits, so that a rehearsal on real cert-manager meets the refusals it
// would meet in production.
//
// The front is an HTTPS reverse proxy. It forwards every request to Pebble
// with the client's Host header, because Pebble builds the URLs in its
// responses from that header. It decodes the flattened JWS bodies (RFC 8555,
// section 6.2) of newOrder, finalize, authorization and challenge requests
// to learn the account, the identifiers, the profile and an ARI "replaces"
// field. It does not verify signatures, because Pebble does.
//
// The limits are decided by certwave's ratelimit package (Boulder's limiter
// code) in the order Let's Encrypt applies them:
//   - newOrder checks new orders per account, certificates per registered
//     domain, duplicate certificates and failed authorizations, and spends a
//     new-order token. A renewal (the exact name set was issued in the last
//     120 days) skips the per-domain check, and an ARI replacement skips
//     every check except the pause of an identifier. If Pebble then rejects
//     the order, the front refunds the token, as Boulder's WFE does.
//   - A finalize request that Pebble accepts counts as the issuance: it
//     spends the per-domain tokens (none for a renewal) and a
//     duplicate-certificate token, and records the name set for later
//     renewals.
//   - An authorization that turns invalid spends a failed-authorization
//     token, and a valid one resets the consecutive-failure count.
//
// A refusal is HTTP 429 with a problem document of type
// urn:ietf:params:acme:error:rateLimited, a Retry-After header and a fresh
// Replay-Nonce from Pebble.
//
// Scaled time: Options.TimeScale divides every limit period. The front runs
// the limiter on a model clock that advances TimeScale times faster than the
// wall clock, and divides the model-time RetryIn by TimeScale for the
// Retry-After header. The renewal window of 120 days shrinks by the same
// factor, matching Pebble profiles whose lifetimes are divided by the same
// factor (see LetsEncryptProfiles).
//
// State: with Options.StateFile set, the front writes the limiter buckets,
// the issued name sets, the orders in flight and the ledger to that file
// after every change. It loads them again at start, so a renewal after a
// restart of the front is still a renewal.
//
// Ledger: every order, decision, spend, refund, authorization outcome and
// injected fault is appended to a ledger, which Front.Ledger returns and
// GET /certwave/ledger serves as JSON.
//
// Faults: Options.Faults holds the knobs that make the front misbehave on
// purpose, each a list of rules with names and a time window. Each knob is
// documented on its rule type and every rule is logged at start.
package acme
