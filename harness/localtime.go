package harness

import (
	"sync"
	"time"

	"github.com/certwave/certwave/engine"
)

// scaledWaits records when the engine runs a wait that the plan's time
// scale divides (a step's start time or a soak), so that availability on
// the local world weighs those wall seconds as the virtual time they stand
// for. Issuance and the gates run at wall-clock speed and count as they
// are: a host down while its certificate is issued is down for the same
// seconds in a real cluster.
type scaledWaits struct {
	mu    sync.Mutex
	scale int
	// marks are the activity changes, in time order.
	marks []waitMark
}

type waitMark struct {
	at     time.Time
	scaled bool
}

// record notes the engine's activity at the wall time of the call.
func (s *scaledWaits) record(a engine.Activity) {
	scaled := a.Description == engine.ActivityStartTime || a.Description == engine.ActivitySoak
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, waitMark{at: time.Now(), scaled: scaled})
}

// weight returns the virtual time from..to stands for: its parts inside
// scaled waits count scale times.
func (s *scaledWaits) weight(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	scaled := false
	for _, m := range s.marks {
		if m.at.After(from) {
			break
		}
		scaled = m.scaled
	}
	var total time.Duration
	cur := from
	for _, m := range s.marks {
		if !m.at.After(from) {
			continue
		}
		if !m.at.Before(to) {
			break
		}
		total += s.segment(m.at.Sub(cur), scaled)
		cur, scaled = m.at, m.scaled
	}
	return total + s.segment(to.Sub(cur), scaled)
}

func (s *scaledWaits) segment(d time.Duration, scaled bool) time.Duration {
	if scaled {
		return d * time.Duration(s.scale)
	}
	return d
}
