package ratelimit

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/weppos/publicsuffix-go/publicsuffix"
)

// RegisteredDomain returns the registered domain (eTLD+1 by the Public
// Suffix List) of a DNS name, ignoring a leading "*." and letter case. It
// uses the same list and code as Boulder's CertificatesPerDomain buckets
// (github.com/weppos/publicsuffix-go), so its result is the bucket key. A
// name that is itself a public suffix, such as "co.uk", has no registered
// domain and returns an error.
func RegisteredDomain(name string) (string, error) {
	host := strings.TrimPrefix(strings.ToLower(name), "*.")
	if host == "" {
		return "", errors.New("ratelimit: registered domain of an empty name: the name is missing")
	}
	domain, err := publicsuffix.Domain(host)
	if err != nil {
		return "", fmt.Errorf("ratelimit: no registered domain for %q: %w", name, err)
	}
	return domain, nil
}

// NameSetKey returns the key of the DuplicateCertificate bucket and of the
// renewal history for a set of names: the names lowercased, deduplicated,
// sorted and joined with commas, so order and case do not matter.
func NameSetKey(names []string) string {
	return strings.Join(canonicalNames(names), ",")
}

// AuthorizationKey returns the key of the FailedAuthorizationsPerIdentifier
// and ConsecutiveAuthorizationFailures buckets: "account:identifier", with
// the identifier lowercased. The identifier follows the last colon.
func AuthorizationKey(account, identifier string) string {
	return account + ":" + strings.ToLower(identifier)
}

// splitAuthorizationKey is the inverse of AuthorizationKey.
func splitAuthorizationKey(key string) (account, identifier string, err error) {
	i := strings.LastIndex(key, ":")
	if i < 0 || i == len(key)-1 {
		return "", "", fmt.Errorf("ratelimit: invalid authorization key %q: expected account:identifier", key)
	}
	return key[:i], key[i+1:], nil
}

// canonicalNames returns names lowercased, deduplicated and sorted, the
// order Boulder hashes for its name-set buckets.
func canonicalNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// validateNames returns the canonical names of an order, or an error when
// the order has no names or an empty one.
func validateNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, errors.New("ratelimit: order has no names: add at least one DNS name")
	}
	if slices.Contains(names, "") {
		return nil, fmt.Errorf("ratelimit: order names %q contain an empty name", names)
	}
	return canonicalNames(names), nil
}

// authorizationIdentifier returns the identifier an ACME authorization is
// for: ACME validates a wildcard name as its base name.
func authorizationIdentifier(name string) string {
	return strings.TrimPrefix(strings.ToLower(name), "*.")
}

// registrationID maps an account name to the positive int64 registration ID
// that Boulder's bucket keys need. It is an FNV-1a hash, so it is the same in
// every process and a snapshot stays valid after a restart.
func registrationID(account string) int64 {
	h := fnv.New64a()
	h.Write([]byte(account))
	id := int64(h.Sum64() & math.MaxInt64)
	if id == 0 {
		// Boulder treats registration ID 0 as missing.
		return 1
	}
	return id
}
