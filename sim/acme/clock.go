package acme

import (
	"fmt"
	"sync"
	"time"
)

// clockState is the persisted mapping from wall time to model time: the
// model time at RealAnchor is ModelAnchor, and model time runs Scale times
// faster than wall time from there.
type clockState struct {
	RealAnchor  time.Time `json:"realAnchor"`
	ModelAnchor time.Time `json:"modelAnchor"`
	Scale       float64   `json:"scale"`
}

// modelClock converts wall time to the model time the limiter runs on. Model
// time never goes backwards, even if the wall clock does, because the
// ratelimit models require monotonic event times.
type modelClock struct {
	wall func() time.Time

	mu    sync.Mutex
	state clockState
	last  time.Time
}

// newModelClock starts a clock at scale. A saved state continues the saved
// mapping up to now, so the time the front was down counts at the old scale,
// and the new scale applies from now on.
func newModelClock(wall func() time.Time, scale float64, saved *clockState) (*modelClock, error) {
	if scale < 1 {
		return nil, fmt.Errorf("time scale %g is invalid: use 1 for real time or a larger factor", scale)
	}
	now := wall()
	c := &modelClock{wall: wall}
	if saved == nil || saved.Scale < 1 {
		c.state = clockState{RealAnchor: now, ModelAnchor: now, Scale: scale}
	} else {
		modelNow := saved.at(now)
		c.state = clockState{RealAnchor: now, ModelAnchor: modelNow, Scale: scale}
	}
	c.last = c.state.ModelAnchor
	return c, nil
}

// at returns the model time of wall time t.
func (s clockState) at(t time.Time) time.Time {
	elapsed := t.Sub(s.RealAnchor)
	return s.ModelAnchor.Add(time.Duration(float64(elapsed) * s.Scale))
}

// Now returns the current model time.
func (c *modelClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.state.at(c.wall())
	if t.Before(c.last) {
		return c.last
	}
	c.last = t
	return t
}

// Wall returns the current wall time.
func (c *modelClock) Wall() time.Time {
	return c.wall()
}

// ToWall converts a model-time duration to wall time.
func (c *modelClock) ToWall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.state.Scale)
}

// snapshot returns the mapping to persist.
func (c *modelClock) snapshot() clockState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// retryAfterSeconds converts a model-time wait to whole wall seconds for a
// Retry-After header, rounded up and at least 1, so a client never retries
// before the bucket has refilled.
func (c *modelClock) retryAfterSeconds(d time.Duration) int64 {
	wall := c.ToWall(d)
	seconds := int64(wall / time.Second)
	if wall%time.Second != 0 {
		seconds++
	}
	return max(seconds, 1)
}
