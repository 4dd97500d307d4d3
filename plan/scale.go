package plan

import (
	"encoding/json"
	"time"
)

// Scale returns a copy of p whose waits are divided by scale: each
// step's start keeps its place but its distance from the plan's start is
// divided, and so are soak durations and the soak options. Ready timeouts
// and observe-renewal windows stay, because cert-manager's issuance time
// does not scale.
func Scale(p *Plan, scale int) (*Plan, error) {
	if scale == 1 {
		return p, nil
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	out := &Plan{}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, err
	}

	start := out.Options.Start
	n := time.Duration(scale)
	shift := func(t time.Time) time.Time {
		if t.IsZero() || t.Before(start) {
			return t
		}
		return start.Add(t.Sub(start) / n)
	}

	for i := range out.Steps {
		s := &out.Steps[i]
		s.At = shift(s.At)
		if s.Kind == StepSoak {
			s.Duration /= n
		}
	}
	out.Options.WaveSoak /= n
	out.Options.CanarySoak /= n
	out.End = shift(out.End)
	return out, nil
}
