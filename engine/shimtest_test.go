package engine

import (
	"testing"
	"time"
)

// Event timestamps are kept to the second (metav1.Time is encoded with
// second precision), so a BadConfig event cert-manager records a few
// milliseconds after the annotation reads as earlier than it. The shim
// test must still count it: on the local stack it once stopped a run as
// ambiguous although the real controller had reacted.
func TestIsRecentAllowsTheAnnotationsOwnSecond(t *testing.T) {
	since := time.Date(2026, 12, 5, 0, 28, 43, 500_000_000, time.UTC)
	cases := []struct {
		event time.Time
		want  bool
	}{
		{since.Truncate(time.Second), true},
		{since.Add(time.Second).Truncate(time.Second), true},
		{since.Add(-time.Second).Truncate(time.Second), false},
		{time.Time{}, true},
	}
	for _, c := range cases {
		if got := isRecent(c.event, since); got != c.want {
			t.Errorf("isRecent(%s, %s) = %t, want %t", c.event.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano), got, c.want)
		}
	}
}
