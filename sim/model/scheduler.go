package model

import (
	"container/heap"
	"context"
	"time"

	"github.com/certwave/certwave/engine"
)

// event is one scheduled action of the discrete-event scheduler.
type event struct {
	at  time.Time
	seq uint64
	run func()
}

// eventQueue is a min-heap of events by time, then by insertion sequence,
// so events due at the same instant run in the order they were scheduled.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// scheduler is the virtual clock and its pending events. It runs on the
// caller's goroutine: nothing happens between calls to runUntil.
type scheduler struct {
	now   time.Time
	seq   uint64
	queue eventQueue
}

// at schedules run at t; a time in the past runs at the next step, at the
// current virtual time.
func (s *scheduler) at(t time.Time, run func()) {
	if t.Before(s.now) {
		t = s.now
	}
	s.seq++
	heap.Push(&s.queue, &event{at: t, seq: s.seq, run: run})
}

// after schedules run d after the current virtual time.
func (s *scheduler) after(d time.Duration, run func()) {
	s.at(s.now.Add(d), run)
}

// runUntil runs every event due at or before t in time order, then sets
// the clock to t. Events scheduled while it runs are included when they
// are due by t. It stops early, with the clock at the last event run,
// when ctx is done.
//
// settle runs once per instant, after every event due at that instant,
// including events scheduled for that instant while it runs. The
// controllers then see the changes of one instant together, as a
// controller's work queue collects the objects changed since its last
// reconcile. So fifty Secrets renewed at one instant cost one Gateway
// translation, and a state that lasted no virtual time is never observed.
func (s *scheduler) runUntil(ctx context.Context, t time.Time, settle func()) error {
	unsettled := false
	for len(s.queue) > 0 && !s.queue[0].at.After(t) {
		if err := ctx.Err(); err != nil {
			if unsettled {
				settle()
			}
			return err
		}
		e := heap.Pop(&s.queue).(*event)
		s.now = e.at
		e.run()
		if unsettled = len(s.queue) > 0 && s.queue[0].at.Equal(s.now); unsettled {
			continue
		}
		settle()
	}
	if t.After(s.now) {
		s.now = t
	}
	return ctx.Err()
}

// virtualClock is the engine's view of the world's scheduler.
type virtualClock struct{ w *World }

var _ engine.Clock = virtualClock{}

// Now returns the virtual time.
func (c virtualClock) Now() time.Time { return c.w.Now() }

// Sleep advances the virtual clock by d, running every event due until
// then, and returns at once in wall-clock terms.
func (c virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	return c.w.sleep(ctx, d)
}
