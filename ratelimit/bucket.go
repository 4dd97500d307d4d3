package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/letsencrypt/boulder/identifier"
	"github.com/letsencrypt/boulder/ratelimits"
)

// trackedSource is Boulder's in-memory bucket store that also remembers
// which bucket keys hold a state, so that Snapshot can list them (the
// in-memory store has no listing). Bucket states are created only through
// BatchSet and BatchSetNotExisting, and BatchIncrement, which this type
// cannot override because its argument type is unexported, only changes
// existing buckets.
type trackedSource struct {
	ratelimits.Source

	mu   sync.Mutex
	keys map[string]struct{}
}

func newTrackedSource() *trackedSource {
	return &trackedSource{Source: ratelimits.NewInmemSource(), keys: map[string]struct{}{}}
}

func (s *trackedSource) track(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.keys[k] = struct{}{}
	}
}

func (s *trackedSource) BatchSet(ctx context.Context, buckets map[string]time.Time) error {
	for k := range buckets {
		s.track(k)
	}
	return s.Source.BatchSet(ctx, buckets)
}

func (s *trackedSource) BatchSetNotExisting(ctx context.Context, buckets map[string]time.Time) (map[string]bool, error) {
	for k := range buckets {
		s.track(k)
	}
	return s.Source.BatchSetNotExisting(ctx, buckets)
}

func (s *trackedSource) BatchDelete(ctx context.Context, keys []string) error {
	s.mu.Lock()
	for _, k := range keys {
		delete(s.keys, k)
	}
	s.mu.Unlock()
	return s.Source.BatchDelete(ctx, keys)
}

// trackedKeys returns the keys that may hold a bucket state.
func (s *trackedSource) trackedKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.keys))
	for k := range s.keys {
		keys = append(keys, k)
	}
	return keys
}

// readBucket returns the reading of a bucket of limit l whose theoretical
// arrival time (TAT) is tat, for a request of cost 1 at now. found is false
// when the store holds no state, which means a full bucket.
//
// NOTE: Boulder's Decision keeps remaining and retryIn unexported and its
// Result method adds 0-3% random jitter to the retry time, so the numbers
// are computed here from the stored TAT with the same GCRA arithmetic as
// Boulder's maybeSpend (ratelimits/gcra.go, v0.20260921.0). Boulder's own
// verdict still decides whether a request is allowed.
func readBucket(l Limit, key string, tat time.Time, found bool, now time.Time) reading {
	// Boulder precomputes these from the config as Period/Count and
	// emission interval times Burst, with Count equal to Burst.
	emission := l.Period.Nanoseconds() / l.Burst
	burstOffset := emission * l.Burst

	nowNanos := now.UnixNano()
	tatNanos := nowNanos
	if found && tat.UnixNano() > nowNanos {
		tatNanos = tat.UnixNano()
	}
	// credit is the capacity the bucket holds now, in nanoseconds of refill.
	credit := nowNanos - (tatNanos - burstOffset)
	r := reading{limit: l.Name, key: key}
	if credit < emission {
		r.remaining = credit / emission
		r.retryIn = time.Duration(emission - credit)
		return r
	}
	r.remaining = (credit - emission) / emission
	return r
}

// bucketRef names one bucket in both key formats: certwave's (as in
// Decision.Key) and Boulder's (as in its store).
type bucketRef struct {
	limit      Name
	key        string
	boulderKey string
}

// boulderName returns Boulder's enum for a certwave limit name.
func boulderName(name Name) (ratelimits.Name, error) {
	n, ok := ratelimits.StringToName[string(name)]
	if !ok {
		return ratelimits.Unknown, fmt.Errorf("ratelimit: limit %q is unknown to Boulder's ratelimits package", name)
	}
	return n, nil
}

// newBucketRef builds the reference of the bucket of limit name for a
// certwave key, with Boulder's exported BuildBucketKey so that the key is
// the one Boulder's transactions use.
func newBucketRef(name Name, key string) (bucketRef, error) {
	enum, err := boulderName(name)
	if err != nil {
		return bucketRef{}, err
	}
	var boulderKey string
	switch name {
	case NewOrdersPerAccount:
		boulderKey, err = ratelimits.BuildBucketKey(enum, registrationID(key), identifier.ACMEIdentifier{}, nil, netip.Addr{})
	case CertificatesPerDomain:
		boulderKey, err = ratelimits.BuildBucketKey(enum, 0, identifier.NewDNS(strings.ToLower(key)), nil, netip.Addr{})
	case DuplicateCertificate:
		// BuildBucketKey sorts the slice in place, so it gets its own.
		idents := identifier.NewDNSSlice(strings.Split(key, ","))
		boulderKey, err = ratelimits.BuildBucketKey(enum, 0, identifier.ACMEIdentifier{}, idents, netip.Addr{})
	case FailedAuthorizationsPerIdentifier, ConsecutiveAuthorizationFailures:
		account, ident, splitErr := splitAuthorizationKey(key)
		if splitErr != nil {
			return bucketRef{}, splitErr
		}
		boulderKey, err = ratelimits.BuildBucketKey(enum, registrationID(account), identifier.NewDNS(ident), nil, netip.Addr{})
	default:
		return bucketRef{}, fmt.Errorf("ratelimit: limit %q is not tracked", name)
	}
	if err != nil {
		return bucketRef{}, fmt.Errorf("ratelimit: bucket key for %s %q: %w", name, key, err)
	}
	return bucketRef{limit: name, key: key, boulderKey: boulderKey}, nil
}

// domainBucketRefs returns the CertificatesPerDomain buckets of an order,
// one per distinct registered domain. Boulder's BuildBucketKey finds the
// registered domain, so a name that is itself a public suffix is its own
// bucket as in Boulder. The certwave key is Boulder's key without its
// "enum:" prefix.
func domainBucketRefs(names []string) ([]bucketRef, error) {
	enum, err := boulderName(CertificatesPerDomain)
	if err != nil {
		return nil, err
	}
	var refs []bucketRef
	seen := map[string]bool{}
	for _, n := range names {
		boulderKey, err := ratelimits.BuildBucketKey(enum, 0, identifier.NewDNS(n), nil, netip.Addr{})
		if err != nil {
			return nil, fmt.Errorf("ratelimit: registered domain of %q: %w", n, err)
		}
		if seen[boulderKey] {
			continue
		}
		seen[boulderKey] = true
		_, domain, _ := strings.Cut(boulderKey, ":")
		refs = append(refs, bucketRef{limit: CertificatesPerDomain, key: domain, boulderKey: boulderKey})
	}
	return refs, nil
}
