package acme

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// upstreamResponse is Pebble's complete response to a forwarded request.
type upstreamResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// hopHeaders are the hop-by-hop headers (RFC 9110, section 7.6.1) a proxy
// does not forward, plus the ones the front sets itself.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Content-Length", "Accept-Encoding",
}

// forward sends the request to Pebble with the client's Host header, because
// Pebble builds the URLs in its responses and checks the JWS "url" header
// against the Host header.
func (f *Front) forward(r *http.Request, body []byte) (*upstreamResponse, error) {
	target := *f.upstream
	target.Path = r.URL.Path
	target.RawPath = r.URL.RawPath
	target.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request to Pebble for %s: %w", r.URL.Path, err)
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Host = r.Host
	resp, err := f.client.Do(out)
	if err != nil {
		return nil, fmt.Errorf("forwarding %s %s to Pebble at %s: %w", r.Method, r.URL.Path, f.opts.PebbleURL, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading Pebble's response to %s %s: %w", r.Method, r.URL.Path, err)
	}
	header := resp.Header.Clone()
	for _, h := range hopHeaders {
		header.Del(h)
	}
	return &upstreamResponse{Status: resp.StatusCode, Header: header, Body: respBody}, nil
}

// writeResponse sends an upstream response to the client.
func writeResponse(w http.ResponseWriter, resp *upstreamResponse) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// relay forwards a request and sends Pebble's response back unchanged.
func (f *Front) relay(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, err := f.forward(r, body)
	if err != nil {
		f.writeUpstreamError(w, r, err)
		return
	}
	writeResponse(w, resp)
}

// writeUpstreamError responds 502 when Pebble could not be reached.
func (f *Front) writeUpstreamError(w http.ResponseWriter, r *http.Request, err error) {
	f.log.Error("forwarding to Pebble failed", "method", r.Method, "path", r.URL.Path, "error", err)
	f.writeProblem(w, r, http.StatusBadGateway, problem{
		Type:   problemServerInternal,
		Detail: fmt.Sprintf("the acme front could not reach Pebble: %v", err),
	}, 0)
}

// freshNonce fetches a nonce from Pebble's newNonce endpoint, so that a
// client can retry after a response the front made itself. It returns ""
// and logs when the request fails.
func (f *Front) freshNonce(r *http.Request) string {
	target := *f.upstream
	target.Path = pebbleNoncePath
	req, err := http.NewRequestWithContext(r.Context(), http.MethodHead, target.String(), nil)
	if err != nil {
		f.log.Error("building the newNonce request failed", "error", err)
		return ""
	}
	req.Host = r.Host
	req.Header.Set("User-Agent", "certwave-acme-front")
	resp, err := f.client.Do(req)
	if err != nil {
		f.log.Error("fetching a nonce from Pebble failed, so the response has no Replay-Nonce", "error", err)
		return ""
	}
	resp.Body.Close()
	return resp.Header.Get("Replay-Nonce")
}

// writeProblem sends an RFC 7807 problem document the way an ACME server
// does: with a fresh Replay-Nonce for POST requests, the directory index
// link, and Retry-After when retryAfterSeconds is positive.
func (f *Front) writeProblem(w http.ResponseWriter, r *http.Request, status int, p problem, retryAfterSeconds int64) {
	p.Status = status
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		body = []byte(`{"type": "` + problemServerInternal + `"}`)
	}
	f.writeACME(w, r, "application/problem+json", body)
	if retryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds, 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeACME sets the headers of a response the front makes itself, except
// the status line. Callers then set extra headers, call WriteHeader and
// write body.
func (f *Front) writeACME(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	if r.Method == http.MethodPost {
		if nonce := f.freshNonce(r); nonce != "" {
			w.Header().Set("Replay-Nonce", nonce)
		}
	}
	w.Header().Add("Link", fmt.Sprintf("<https://%s%s>;rel=\"index\"", r.Host, pebbleDirectoryPath))
	w.Header().Set("Cache-Control", "public, max-age=0, no-cache")
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
}
