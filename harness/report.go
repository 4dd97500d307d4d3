package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Verdicts of a scenario.
const (
	VerdictPass        = "pass"
	VerdictFail        = "fail"
	VerdictUnsupported = "unsupported"
)

// Result is the outcome of one scenario on one world.
type Result struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	World    string `json:"world"`
	// Suite is the scenario folder, empty for the built-in scenarios.
	Suite string `json:"suite,omitempty"`
	// PlanFile is set on the rehearsal of a saved plan: the plan file and
	// the findings accepted, as certwave simulate --plan takes them.
	PlanFile string `json:"planFile,omitempty"`
	Seed     int64  `json:"seed"`
	Verdict  string `json:"verdict"`
	// Failures lists every expectation that did not hold. Unsupported is
	// the reason the world cannot rehearse the scenario.
	Failures    []string `json:"failures,omitempty"`
	Unsupported string   `json:"unsupported,omitempty"`
	// Notes are facts the run observed that the report shows, such as a
	// lock-out time or the hostnames exposed in CT logs.
	Notes           []string      `json:"notes,omitempty"`
	ACMEOrders      int           `json:"acmeOrders"`
	MinAvailability float64       `json:"minAvailability"`
	VirtualDuration time.Duration `json:"virtualDuration"`
	// Ran is set once the scenario's world opened: without it ACMEOrders,
	// MinAvailability and VirtualDuration were never measured.
	Ran  bool          `json:"ran"`
	Wall time.Duration `json:"wall"`
	Stop string        `json:"stop,omitempty"`
	// replayArgs are Options.ReplayArgs.
	replayArgs []string
}

// MarshalJSON writes the durations as Go duration strings ("132h0m0s")
// rather than nanoseconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		VirtualDuration string `json:"virtualDuration"`
		Wall            string `json:"wall"`
	}{plain(r), r.VirtualDuration.String(), r.Wall.String()})
}

// StopPlanRejected is Result.Stop when the planner rejected the plan
// because it breaches a rate limit.
const StopPlanRejected = "plan-rejected"

// Replay returns the command that reruns the scenario with the same seed.
func (r *Result) Replay() string {
	if r.PlanFile != "" {
		return fmt.Sprintf("certwave simulate --world %s --plan %s --seed %d", r.World, r.PlanFile, r.Seed)
	}
	suite := ""
	if r.Suite != "" {
		suite = " --suite " + r.Suite
	}
	extra := ""
	if len(r.replayArgs) > 0 {
		extra = " " + strings.Join(r.replayArgs, " ")
	}
	return fmt.Sprintf("certwave simulate --world %s%s%s --scenario %s --seed %d", r.World, suite, extra, r.Scenario, r.Seed)
}

// measured renders the ACME orders, the minimum availability and the
// virtual duration, or "-" for each when the world never opened.
func (r *Result) measured() (orders, availability, span string) {
	if !r.Ran {
		return "-", "-", "-"
	}
	return fmt.Sprint(r.ACMEOrders), percent(r.MinAvailability), virtual(r.VirtualDuration)
}

// durationHeading names the duration column: the model world's clock is
// virtual, while the local and cluster worlds run on the wall clock.
func durationHeading(results []Result) string {
	for _, r := range results {
		if r.World != "" && r.World != "model" {
			return "duration (wall clock)"
		}
	}
	return "virtual duration"
}

// WriteTable writes one line per scenario in a terminal table, then the
// replay command of each failed scenario.
func WriteTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SCENARIO\tVERDICT\tACME ORDERS\tMIN AVAILABILITY\t%s\tWALL\tSTOP\n", strings.ToUpper(durationHeading(results)))
	for _, r := range results {
		orders, avail, span := r.measured()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Scenario, r.Verdict, orders, avail, span, r.Wall.Round(time.Millisecond), dash(r.Stop))
	}
	tw.Flush()

	pass, fail, unsupported := Count(results)
	fmt.Fprintf(w, "\n%d passed, %d failed, %d unsupported\n", pass, fail, unsupported)
	for _, r := range results {
		switch r.Verdict {
		case VerdictFail:
			fmt.Fprintf(w, "\nFAIL %s (%s)\n", r.Scenario, r.File)
			for _, f := range r.Failures {
				fmt.Fprintf(w, "  - %s\n", f)
			}
			fmt.Fprintf(w, "  replay: %s\n", r.Replay())
		case VerdictUnsupported:
			fmt.Fprintf(w, "\nUNSUPPORTED %s: %s\n", r.Scenario, r.Unsupported)
		}
	}
}

// WriteMarkdown writes the report of a suite run.
func WriteMarkdown(w io.Writer, world string, seed int64, results []Result) {
	pass, fail, unsupported := Count(results)
	fmt.Fprintf(w, "# certwave rehearsal report\n\nWorld `%s`, seed %d: %d passed, %d failed, %d unsupported.\n\n", world, seed, pass, fail, unsupported)
	fmt.Fprintf(w, "| scenario | verdict | ACME orders | min availability | %s | wall | stop |\n", durationHeading(results))
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range results {
		orders, avail, span := r.measured()
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.Scenario, r.Verdict, orders, avail, span, r.Wall.Round(time.Millisecond), dash(r.Stop))
	}
	for _, r := range results {
		if len(r.Failures) == 0 && len(r.Notes) == 0 && r.Unsupported == "" {
			continue
		}
		fmt.Fprintf(w, "\n## %s\n\n", r.Scenario)
		if r.Unsupported != "" {
			fmt.Fprintf(w, "Unsupported in world %s: %s\n\n", r.World, r.Unsupported)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		for _, f := range r.Failures {
			fmt.Fprintf(w, "- FAILED: %s\n", f)
		}
		if r.Verdict == VerdictFail {
			fmt.Fprintf(w, "\nReplay: `%s`\n", r.Replay())
		}
	}
}

// Count returns the number of passed, failed and unsupported results.
func Count(results []Result) (pass, fail, unsupported int) {
	for _, r := range results {
		switch r.Verdict {
		case VerdictPass:
			pass++
		case VerdictFail:
			fail++
		default:
			unsupported++
		}
	}
	return pass, fail, unsupported
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

// virtual renders a duration in days from one day up, else as a Go
// duration without trailing zero units: 2h45m, 5m, 90s.
func virtual(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
