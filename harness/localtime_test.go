package harness

import (
	"testing"
	"time"

	"github.com/certwave/certwave/engine"
)

// Wall time inside a soak or a wait for a step's start stands for scale
// times as much virtual time. Issuance and gates count as they are.
func TestScaledWaitsWeighOnlyScaledWaits(t *testing.T) {
	t0 := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	s := &scaledWaits{scale: 1440, marks: []waitMark{
		{at: t0, scaled: false},                      // add-listener
		{at: t0.Add(65 * time.Second), scaled: true}, // soak
		{at: t0.Add(125 * time.Second), scaled: false},
	}}
	for _, tc := range []struct {
		from, to time.Duration
		want     time.Duration
	}{
		{0, 65 * time.Second, 65 * time.Second},
		{65 * time.Second, 125 * time.Second, 24 * time.Hour},
		{60 * time.Second, 70 * time.Second, 5*time.Second + 5*1440*time.Second},
		{120 * time.Second, 130 * time.Second, 5*1440*time.Second + 5*time.Second},
		{-10 * time.Second, 0, 10 * time.Second},
	} {
		if got := s.weight(t0.Add(tc.from), t0.Add(tc.to)); got != tc.want {
			t.Errorf("weight(+%s, +%s) = %s, want %s", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestScaledWaitsRecordsActivities(t *testing.T) {
	s := &scaledWaits{scale: 10}
	s.record(engine.Activity{Step: "p3-w1-soak", Description: engine.ActivitySoak})
	s.record(engine.Activity{Step: "p3-w2-add-listener-blog", Description: "add-listener"})
	if len(s.marks) != 2 || !s.marks[0].scaled || s.marks[1].scaled {
		t.Errorf("marks %+v, want a scaled soak then an unscaled step", s.marks)
	}
}
