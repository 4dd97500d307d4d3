package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/plan"
)

func TestProgressLineShowsTimeLeft(t *testing.T) {
	now := time.Date(2027, 1, 5, 18, 38, 0, 0, time.UTC)
	soak := engine.Activity{Step: "p3-w1-soak-blog", Kind: plan.StepSoak, Description: engine.ActivitySoak, Until: now.Add(3*time.Hour + 12*time.Minute)}
	got := progressLine(40, 160, soak, now)
	want := "[######..................] 40/160 steps | p3-w1-soak-blog: soak, 3h12m left (until 2027-01-05 21:50 UTC)"
	if got != want {
		t.Errorf("soak line:\n got %q\nwant %q", got, want)
	}

	gate := engine.Activity{Step: "p3-w1-wait-ready-blog", Description: engine.ActivityGate, Until: now.Add(30 * time.Second)}
	if got := progressLine(0, 160, gate, now); !strings.HasSuffix(got, "waiting for the gate, 30s before it times out (until 2027-01-05 18:38 UTC)") {
		t.Errorf("gate line %q does not end with the time before the timeout", got)
	}

	acting := engine.Activity{Step: "p3-w1-add-listener-blog", Description: string(plan.StepAddListener)}
	if got := progressLine(160, 160, acting, now); got != "[########################] 160/160 steps | p3-w1-add-listener-blog: add-listener" {
		t.Errorf("acting line %q", got)
	}
}

func TestFormatLeftUnits(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second:                            "42s",
		17*time.Minute + 20*time.Second:             "17m",
		26*time.Hour + 5*time.Minute:                "1d2h5m",
		-time.Second + 2*time.Hour + 59*time.Minute: "2h59m",
	} {
		if got := formatLeft(d); got != want {
			t.Errorf("formatLeft(%s) = %q, want %q", d, got, want)
		}
	}
}

// Outside a terminal each activity and each finished step is a line of its
// own, so a CronJob's log shows what the run waits for.
func TestProgressDisplayWritesLinesOutsideTerminal(t *testing.T) {
	now := time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	p := newProgressDisplay(&out, 3, 10, func() time.Time { return now })
	p.Activity(engine.Activity{Step: "p2-soak-blog", Description: engine.ActivitySoak, Until: now.Add(24 * time.Hour)})
	p.StepDone("p2-soak-blog")
	p.Close()

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "3/10 steps | p2-soak-blog: soak, 1d0h0m left") {
		t.Errorf("activity line %q", lines[0])
	}
	if lines[1] != "[4/10 steps, 40%] done p2-soak-blog" {
		t.Errorf("step line %q", lines[1])
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("output outside a terminal contains carriage returns: %q", out.String())
	}
}

func TestStatusPrinterThrottles(t *testing.T) {
	if statusPrinter("model", 11, io.Discard) != nil {
		t.Error("the model world prints status lines")
	}
	var out bytes.Buffer
	status := statusPrinter("local", 11, &out)
	status("local-smoke", "opening the local world")
	status("local-smoke", "step 0.1: annotate")
	status("local-smoke", "step 0.2: annotate")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %d lines, want 2 (the opening and the first step):\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "opening the local world") {
		t.Errorf("first line = %q, want the opening", lines[0])
	}
	if !strings.Contains(lines[1], "step 0.1: annotate") {
		t.Errorf("second line = %q, want step 0.1", lines[1])
	}
}
