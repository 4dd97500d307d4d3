package model

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestSchedulerSettlesOncePerInstant checks that runUntil settles the
// controllers after the last event of each instant, an event scheduled
// for that instant while it runs included, and never between two events
// of one instant.
func TestSchedulerSettlesOncePerInstant(t *testing.T) {
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &scheduler{now: start}
	var log []string
	s.after(time.Minute, func() { log = append(log, "a") })
	s.after(time.Minute, func() {
		log = append(log, "b")
		s.after(0, func() { log = append(log, "c") })
	})
	s.after(2*time.Minute, func() { log = append(log, "d") })
	if err := s.runUntil(context.Background(), start.Add(time.Hour), func() { log = append(log, "settle") }); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c", "settle", "d", "settle"}
	if !slices.Equal(log, want) {
		t.Errorf("order = %v, want %v", log, want)
	}
	if !s.now.Equal(start.Add(time.Hour)) {
		t.Errorf("clock = %s, want %s", s.now, start.Add(time.Hour))
	}
}

// TestSchedulerSettlesBeforeStopping checks that a run stopped between two
// events of one instant still settles the events it ran.
func TestSchedulerSettlesBeforeStopping(t *testing.T) {
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &scheduler{now: start}
	ctx, cancel := context.WithCancel(context.Background())
	var log []string
	s.after(time.Minute, func() { log = append(log, "a"); cancel() })
	s.after(time.Minute, func() { log = append(log, "b") })
	err := s.runUntil(ctx, start.Add(time.Hour), func() { log = append(log, "settle") })
	if err == nil {
		t.Fatal("runUntil returned no error after its context was canceled")
	}
	if want := []string{"a", "settle"}; !slices.Equal(log, want) {
		t.Errorf("order = %v, want %v", log, want)
	}
}
