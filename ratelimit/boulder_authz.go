package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/letsencrypt/boulder/identifier"
)

// boulderModel's authorization limits are failed authorizations per
// identifier per account and the consecutive failures that pause an
// identifier.

// pausingRefs returns the ConsecutiveAuthorizationFailures buckets of the
// identifiers of names for account.
func pausingRefs(account string, names []string) ([]bucketRef, error) {
	var refs []bucketRef
	for _, n := range canonicalNames(namesToIdentifiers(names)) {
		ref, err := newBucketRef(ConsecutiveAuthorizationFailures, AuthorizationKey(account, n))
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

func namesToIdentifiers(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = authorizationIdentifier(n)
	}
	return out
}

// checkPaused reports whether Boulder's limiter finds any of the buckets
// empty, which means the identifier is paused.
//
// NOTE: Let's Encrypt pauses an identifier when the consecutive-failure
// bucket refuses a spend and keeps it paused until the subscriber unpauses
// it by hand. The model has no unpause step, so an identifier counts as
// paused only while that bucket is empty, and the pause lifts when a token
// comes back a day later.
func (m *boulderModel) checkPaused(now time.Time, regID int64, refs []bucketRef) (bool, error) {
	for _, ref := range refs {
		_, ident, err := splitAuthorizationKey(ref.key)
		if err != nil {
			return false, err
		}
		txn, err := m.builder.FailedAuthorizationsForPausingPerDomainPerAccountTransaction(regID, identifier.NewDNS(ident))
		if err != nil {
			return false, fmt.Errorf("ratelimit: building the pausing transaction failed: %w", err)
		}
		d, err := m.limiter.Check(context.Background(), txn)
		if err != nil {
			return false, fmt.Errorf("ratelimit: pausing check failed: %w", err)
		}
		if !allowedBy(d, now) {
			return true, nil
		}
	}
	return false, nil
}

func (m *boulderModel) RecordAuthorizationFailure(now time.Time, account, ident string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	regID := registrationID(account)
	id := identifier.NewDNS(authorizationIdentifier(ident))
	if txn, err := m.builder.FailedAuthorizationsPerDomainPerAccountSpendOnlyTransaction(regID, id); err == nil {
		_, _ = m.limiter.Spend(context.Background(), txn)
	}
	// A refused spend here is what makes Let's Encrypt pause the identifier.
	if txn, err := m.builder.FailedAuthorizationsForPausingPerDomainPerAccountTransaction(regID, id); err == nil {
		_, _ = m.limiter.Spend(context.Background(), txn)
	}
}

func (m *boulderModel) CheckAuthorization(now time.Time, account, ident string) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	d, err := m.checkAuthorization(now, account, authorizationIdentifier(ident))
	if err != nil {
		return invalid(err)
	}
	return d
}

func (m *boulderModel) checkAuthorization(now time.Time, account, ident string) (Decision, error) {
	if ident == "" {
		return Decision{}, errors.New("ratelimit: authorization check without an identifier: pass the DNS name")
	}
	regID := registrationID(account)
	key := AuthorizationKey(account, ident)

	failed, err := newBucketRef(FailedAuthorizationsPerIdentifier, key)
	if err != nil {
		return Decision{}, err
	}
	pausing, err := newBucketRef(ConsecutiveAuthorizationFailures, key)
	if err != nil {
		return Decision{}, err
	}

	txns, err := m.builder.FailedAuthorizationsPerDomainPerAccountCheckOnlyTransactions(regID, identifier.ACMEIdentifiers{identifier.NewDNS(ident)})
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: building the failed-authorization transactions failed: %w", err)
	}
	allowed := true
	for _, txn := range txns {
		d, err := m.limiter.Check(context.Background(), txn)
		if err != nil {
			return Decision{}, fmt.Errorf("ratelimit: failed-authorization check failed: %w", err)
		}
		allowed = allowed && allowedBy(d, now)
	}
	paused, err := m.checkPaused(now, regID, []bucketRef{pausing})
	if err != nil {
		return Decision{}, err
	}

	readings, err := m.read(now, []bucketRef{failed, pausing})
	if err != nil {
		return Decision{}, err
	}
	return verdict(allowed && !paused, readings), nil
}

func (m *boulderModel) RecordAuthorizationSuccess(now time.Time, account, ident string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at(now)

	id := identifier.NewDNS(authorizationIdentifier(ident))
	txns, err := m.builder.NewPausingResetTransactions(registrationID(account), id)
	if err != nil {
		return
	}
	_ = m.limiter.BatchReset(context.Background(), txns)
}
