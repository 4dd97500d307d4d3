package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certwave/certwave/plan"
)

// Ledger records, per wave, the ACME orders, issuances and refusals and the
// results of the steps. It serialises to JSON as part of Progress.
type Ledger struct {
	Waves []WaveLedger `json:"waves"`
	// Other are ACME events for Certificates no wave created, such as
	// renewals of the wildcard Certificate.
	Other []ACMEEvent `json:"other,omitempty"`
}

// WaveLedger is the record of one wave, or of one phase's steps outside
// waves.
type WaveLedger struct {
	// Key is phase<N>-wave<M>, as waveKey builds it.
	Key     string    `json:"key"`
	Phase   int       `json:"phase"`
	Wave    int       `json:"wave"`
	Started time.Time `json:"started"`
	// Ended is when the wave's last step so far finished.
	Ended         time.Time    `json:"ended,omitzero"`
	Orders        int          `json:"orders"`
	Issuances     int          `json:"issuances"`
	Refusals      int          `json:"refusals"`
	AuthzFailures int          `json:"authzFailures"`
	Events        []ACMEEvent  `json:"events,omitempty"`
	Steps         []StepResult `json:"steps,omitempty"`
	// Retried is set when the wave needed a retry: a refusal, a failed
	// authorization, a second order for one Certificate or a failed
	// Certificate. RetryReasons list which.
	Retried      bool     `json:"retried,omitempty"`
	RetryReasons []string `json:"retryReasons,omitempty"`
}

// StepResult is the outcome of one step.
type StepResult struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Outcome is done, stopped, failed or rolled-back.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Step outcomes.
const (
	OutcomeDone       = "done"
	OutcomeStopped    = "stopped"
	OutcomeFailed     = "failed"
	OutcomeRolledBack = "rolled-back"
)

func waveKey(s *plan.Step) string { return fmt.Sprintf("phase%d-wave%d", s.Phase, s.Wave) }

// wave returns the ledger entry for key, creating it when missing.
func (l *Ledger) wave(key string, phase, wave int, now time.Time) *WaveLedger {
	for i := range l.Waves {
		if l.Waves[i].Key == key {
			return &l.Waves[i]
		}
	}
	l.Waves = append(l.Waves, WaveLedger{Key: key, Phase: phase, Wave: wave, Started: now})
	return &l.Waves[len(l.Waves)-1]
}

func (l *Ledger) find(key string) *WaveLedger {
	for i := range l.Waves {
		if l.Waves[i].Key == key {
			return &l.Waves[i]
		}
	}
	return nil
}

// events returns every ACME event of the ledger: the waves' and Other.
func (l *Ledger) events() []ACMEEvent {
	var out []ACMEEvent
	for _, w := range l.Waves {
		out = append(out, w.Events...)
	}
	return append(out, l.Other...)
}

func (w *WaveLedger) markRetried(reason string) {
	w.Retried = true
	if !slices.Contains(w.RetryReasons, reason) {
		w.RetryReasons = append(w.RetryReasons, reason)
	}
}

// record adds an ACME event to the wave and updates its counters.
func (w *WaveLedger) record(ev ACMEEvent) {
	switch ev.Type {
	case ACMEOrder:
		for _, prev := range w.Events {
			if prev.Type == ACMEOrder && !ev.Renewal && !prev.Renewal && ev.Certificate != "" && prev.Certificate == ev.Certificate {
				w.markRetried("second order for Certificate " + ev.Certificate)
				break
			}
		}
		w.Orders++
	case ACMEIssued:
		w.Issuances++
	case ACMERefused:
		w.Refusals++
		w.markRetried(fmt.Sprintf("order refused by %s for %s", ev.Limit, strings.Join(ev.Names, ",")))
	case ACMEAuthzFailed:
		w.AuthzFailures++
		w.markRetried("authorization failed for " + strings.Join(ev.Names, ","))
	}
	w.Events = append(w.Events, ev)
}

// ingestACME reads the ACME events since the last read into the ledger and
// returns an observation for each refusal.
func (e *Engine) ingestACME(ctx context.Context, st *runState) ([]observation, error) {
	since := st.prog.ACMESince
	events, err := e.world.ACME().ACMEEvents(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read ACME events since %s: %w", since.Format(time.RFC3339), err)
	}
	var obs []observation
	latest := since
	for _, ev := range events {
		if ev.At.Before(since) || (ev.At.Equal(since) && st.seenAtWatermark(ev)) {
			continue
		}
		if ev.At.After(latest) {
			latest = ev.At
		}
		key := e.index.waveOf(ev)
		if w := st.prog.Ledger.find(key); key != "" && w != nil {
			w.record(ev)
		} else if key != "" {
			phase, wave := e.index.wavePosition(key)
			st.prog.Ledger.wave(key, phase, wave, ev.At).record(ev)
		} else {
			st.prog.Ledger.Other = append(st.prog.Ledger.Other, ev)
		}
		if ev.Type == ACMERefused {
			object := ev.Certificate
			if object == "" {
				object = strings.Join(ev.Names, ",")
			} else {
				object = "Certificate/" + object
			}
			obs = append(obs, observation{
				rule:    RuleRateLimited,
				objects: []string{object},
				state:   ev.At.UTC().Format(time.RFC3339Nano),
				reason:  fmt.Sprintf("ACME order refused by %s, retry in %s", ev.Limit, ev.RetryIn),
			})
		}
	}
	st.prog.ACMESince = latest
	return obs, nil
}

// seenAtWatermark reports whether ev, stamped exactly at the watermark, is
// already in the ledger: ACMEEvents returns the events at since again.
func (st *runState) seenAtWatermark(ev ACMEEvent) bool {
	contains := func(events []ACMEEvent) bool {
		return slices.ContainsFunc(events, func(other ACMEEvent) bool { return sameEvent(other, ev) })
	}
	if contains(st.prog.Ledger.Other) {
		return true
	}
	for i := range st.prog.Ledger.Waves {
		if contains(st.prog.Ledger.Waves[i].Events) {
			return true
		}
	}
	return false
}

// sameEvent compares two events field by field; times are compared with
// Equal because an event read back from the store has another Location.
func sameEvent(a, b ACMEEvent) bool {
	return a.At.Equal(b.At) && a.Type == b.Type && slices.Equal(a.Names, b.Names) &&
		a.Certificate == b.Certificate && a.Renewal == b.Renewal && a.Limit == b.Limit &&
		a.RetryIn == b.RetryIn && a.Detail == b.Detail
}
