package acme

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a wall clock that tests advance by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, time.December, 7, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakePebble responds to the requests the front forwards with canned RFC 8555
// objects, building URLs from the Host header as Pebble does. It counts the
// requests per path prefix.
type fakePebble struct {
	server *httptest.Server

	mu sync.Mutex
	// newOrderStatus is the status of newOrder responses, 201 when zero.
	newOrderStatus int
	// authzStatus is the status authorizations report; "pending" when
	// empty.
	authzStatus string
	orders      int
	calls       map[string]int
	names       map[string]string // authorization ID to name
}

func newFakePebble(t *testing.T) *fakePebble {
	t.Helper()
	p := &fakePebble{calls: map[string]int{}, names: map[string]string{}}
	p.server = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.server.Close)
	return p
}

func (p *fakePebble) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[prefix]
}

func (p *fakePebble) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	base := "https://" + r.Host
	prefix := r.URL.Path
	if i := strings.Index(prefix[1:], "/"); i >= 0 {
		prefix = prefix[:i+2]
	}
	p.calls[prefix]++
	w.Header().Set("Replay-Nonce", fmt.Sprintf("nonce-%d", p.calls[prefix]))
	body, _ := io.ReadAll(r.Body)
	switch prefix {
	case pebbleNoncePath:
		w.WriteHeader(http.StatusOK)
	case pebbleNewOrderPath:
		if p.newOrderStatus != 0 && p.newOrderStatus != http.StatusCreated {
			w.WriteHeader(p.newOrderStatus)
			fmt.Fprint(w, `{"type": "urn:ietf:params:acme:error:malformed", "detail": "rejected by the fake"}`)
			return
		}
		req, err := decodeJWS(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		order, _ := decodeNewOrder(req.Payload)
		p.orders++
		id := fmt.Sprintf("o%d", p.orders)
		var authzs []string
		for i, ident := range order.Identifiers {
			authzID := fmt.Sprintf("%s-a%d", id, i)
			p.names[authzID] = ident.Value
			authzs = append(authzs, base+pebbleAuthzPath+authzID)
		}
		w.Header().Set("Location", base+pebbleOrderPath+id)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "pending", "identifiers": order.Identifiers, "authorizations": authzs,
			"finalize": base + pebbleFinalizePath + id, "profile": order.Profile,
		})
	case pebbleFinalizePath:
		fmt.Fprint(w, `{"status": "processing"}`)
	case pebbleOrderPath:
		id := strings.TrimPrefix(r.URL.Path, pebbleOrderPath)
		fmt.Fprintf(w, `{"status": "valid", "certificate": "%s%s%s"}`, base, pebbleCertificatePath, id)
	case pebbleAuthzPath:
		id := strings.TrimPrefix(r.URL.Path, pebbleAuthzPath)
		status := p.authzStatus
		if status == "" {
			status = "pending"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"identifier": identifier{Type: "dns", Value: strings.TrimPrefix(p.names[id], "*.")},
			"wildcard":   strings.HasPrefix(p.names[id], "*."),
			"status":     status,
			"challenges": []challengeResource{
				{Type: "http-01", URL: base + pebbleChallengePath + id + "-http", Token: "tok", Status: "pending"},
				{Type: challengeDNS01, URL: base + pebbleChallengePath + id + "-dns", Token: "tok", Status: "pending"},
			},
		})
	case pebbleChallengePath:
		fmt.Fprintf(w, `{"type": "dns-01", "url": "%s%s", "status": "processing"}`, base, r.URL.Path)
	default:
		fmt.Fprint(w, `{}`)
	}
}

// jwsBody returns a flattened JWS with a dummy signature, which the front
// does not check. A nil payload makes a POST-as-GET body.
func jwsBody(t *testing.T, account, url string, payload any) []byte {
	t.Helper()
	header, err := json.Marshal(map[string]string{
		"alg": "ES256", "kid": "https://front.test/my-account/" + account, "nonce": "n", "url": url,
	})
	if err != nil {
		t.Fatal(err)
	}
	var payloadJSON []byte
	if payload != nil {
		if payloadJSON, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	enc := base64.RawURLEncoding
	body, err := json.Marshal(map[string]string{
		"protected": enc.EncodeToString(header),
		"payload":   enc.EncodeToString(payloadJSON),
		"signature": enc.EncodeToString([]byte("not checked")),
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// testFront is a front on a fake Pebble and a fake clock, driven through
// ServeHTTP.
type testFront struct {
	*Front
	t      *testing.T
	pebble *fakePebble
	clock  *fakeClock
}

func newTestFront(t *testing.T, pebble *fakePebble, clock *fakeClock, opts Options) *testFront {
	t.Helper()
	if pebble == nil {
		pebble = newFakePebble(t)
	}
	if clock == nil {
		clock = newFakeClock()
	}
	opts.PebbleURL = pebble.server.URL
	opts.PebbleRoots = pebble.server.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	opts.Now = clock.Now
	f, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testFront{Front: f, t: t, pebble: pebble, clock: clock}
}

// post sends a signed POST for account to path on the front.
func (tf *testFront) post(account, path string, payload any) *httptest.ResponseRecorder {
	tf.t.Helper()
	url := "https://front.test" + path
	req := httptest.NewRequest(http.MethodPost, url, strings.NewReader(string(jwsBody(tf.t, account, url, payload))))
	req.Header.Set("Content-Type", "application/jose+json")
	req.Header.Set("User-Agent", "certwave-test")
	rec := httptest.NewRecorder()
	tf.ServeHTTP(rec, req)
	return rec
}

// newOrder posts a newOrder for names and returns the response and the order
// ID ("" when refused).
func (tf *testFront) newOrder(account string, names ...string) (*httptest.ResponseRecorder, string) {
	tf.t.Helper()
	return tf.newOrderRequest(account, newOrderRequest{Identifiers: dnsIdentifiers(names), Profile: ProfileClassic})
}

func (tf *testFront) newOrderRequest(account string, req newOrderRequest) (*httptest.ResponseRecorder, string) {
	tf.t.Helper()
	rec := tf.post(account, pebbleNewOrderPath, req)
	return rec, resourceID(rec.Header().Get("Location"), pebbleOrderPath)
}

// issue creates an order for names and finalizes it, failing the test when
// either step is not accepted.
func (tf *testFront) issue(account string, names ...string) string {
	tf.t.Helper()
	rec, id := tf.newOrder(account, names...)
	if rec.Code != http.StatusCreated {
		tf.t.Fatalf("newOrder %v: HTTP %d %s, want 201", names, rec.Code, rec.Body)
	}
	rec = tf.post(account, pebbleFinalizePath+id, map[string]string{"csr": csrFor(tf.t, names...)})
	if rec.Code != http.StatusOK {
		tf.t.Fatalf("finalize %v: HTTP %d %s, want 200", names, rec.Code, rec.Body)
	}
	return id
}

func dnsIdentifiers(names []string) []identifier {
	ids := make([]identifier, len(names))
	for i, n := range names {
		ids[i] = identifier{Type: "dns", Value: n}
	}
	return ids
}

// countEvent returns how many ledger entries have the event.
func countEvent(entries []Entry, event Event) int {
	return countEvents(entries)[event]
}

// lastEntry returns the newest ledger entry.
func lastEntry(t *testing.T, f *Front) Entry {
	t.Helper()
	entries := f.Ledger()
	if len(entries) == 0 {
		t.Fatal("ledger is empty")
	}
	return entries[len(entries)-1]
}
