package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// jsonDuration serialises a duration as a Go duration string ("12h",
// "3h22m"), so a plan file reads as the options were given. Decoding also
// accepts a number of nanoseconds.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(formatDuration(time.Duration(d)))
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parsed, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: want a Go duration such as 12h or 3h22m", s)
		}
		*d = jsonDuration(parsed)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s: want a Go duration string such as 12h", b)
	}
	*d = jsonDuration(n)
	return nil
}

// formatDuration returns d as time.Duration.String does, without trailing
// zero units: 12h, 3h22m, 1m30s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

type optionsAlias Options

type optionsJSON struct {
	*optionsAlias
	Duration     jsonDuration `json:"duration,omitempty"`
	WaveSoak     jsonDuration `json:"waveSoak"`
	CanarySoak   jsonDuration `json:"canarySoak"`
	ReadyTimeout jsonDuration `json:"readyTimeout"`
	RenewBefore  jsonDuration `json:"renewBefore,omitempty"`
}

// MarshalJSON writes the durations as Go duration strings.
func (o Options) MarshalJSON() ([]byte, error) {
	alias := optionsAlias(o)
	return json.Marshal(optionsJSON{
		optionsAlias: &alias,
		Duration:     jsonDuration(o.Duration),
		WaveSoak:     jsonDuration(o.WaveSoak),
		CanarySoak:   jsonDuration(o.CanarySoak),
		ReadyTimeout: jsonDuration(o.ReadyTimeout),
		RenewBefore:  jsonDuration(o.RenewBefore),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Options) UnmarshalJSON(b []byte) error {
	aux := optionsJSON{optionsAlias: (*optionsAlias)(o)}
	if err := decodeStrict(b, &aux); err != nil {
		return err
	}
	o.Duration = time.Duration(aux.Duration)
	o.WaveSoak = time.Duration(aux.WaveSoak)
	o.CanarySoak = time.Duration(aux.CanarySoak)
	o.ReadyTimeout = time.Duration(aux.ReadyTimeout)
	o.RenewBefore = time.Duration(aux.RenewBefore)
	return nil
}

type stepAlias Step

type stepJSON struct {
	*stepAlias
	Duration jsonDuration `json:"duration,omitempty"`
}

// MarshalJSON writes Duration as a Go duration string.
func (s Step) MarshalJSON() ([]byte, error) {
	alias := stepAlias(s)
	return json.Marshal(stepJSON{stepAlias: &alias, Duration: jsonDuration(s.Duration)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Step) UnmarshalJSON(b []byte) error {
	aux := stepJSON{stepAlias: (*stepAlias)(s)}
	if err := decodeStrict(b, &aux); err != nil {
		return err
	}
	s.Duration = time.Duration(aux.Duration)
	return nil
}

type certificateSpecAlias CertificateSpec

type certificateSpecJSON struct {
	*certificateSpecAlias
	Duration    jsonDuration `json:"duration,omitempty"`
	RenewBefore jsonDuration `json:"renewBefore,omitempty"`
}

// MarshalJSON writes the durations as Go duration strings.
func (c CertificateSpec) MarshalJSON() ([]byte, error) {
	alias := certificateSpecAlias(c)
	return json.Marshal(certificateSpecJSON{certificateSpecAlias: &alias, Duration: jsonDuration(c.Duration), RenewBefore: jsonDuration(c.RenewBefore)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *CertificateSpec) UnmarshalJSON(b []byte) error {
	aux := certificateSpecJSON{certificateSpecAlias: (*certificateSpecAlias)(c)}
	if err := decodeStrict(b, &aux); err != nil {
		return err
	}
	c.Duration = time.Duration(aux.Duration)
	c.RenewBefore = time.Duration(aux.RenewBefore)
	return nil
}

type planAlias Plan

type planJSON struct {
	*planAlias
	LowerBound jsonDuration `json:"lowerBound"`
	PublicSpan jsonDuration `json:"publicSpan"`
}

// MarshalJSON writes LowerBound and PublicSpan as Go duration strings.
func (p Plan) MarshalJSON() ([]byte, error) {
	alias := planAlias(p)
	return json.Marshal(planJSON{planAlias: &alias, LowerBound: jsonDuration(p.LowerBound), PublicSpan: jsonDuration(p.PublicSpan)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Plan) UnmarshalJSON(b []byte) error {
	aux := planJSON{planAlias: (*planAlias)(p)}
	if err := decodeStrict(b, &aux); err != nil {
		return err
	}
	p.LowerBound = time.Duration(aux.LowerBound)
	p.PublicSpan = time.Duration(aux.PublicSpan)
	return nil
}

// decodeStrict decodes JSON into v and rejects unknown fields. The custom
// decoders use it too, because a decoder's DisallowUnknownFields does not
// reach into an UnmarshalJSON method.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// JSON returns the plan as indented JSON.
func (p *Plan) JSON() ([]byte, error) {
	return json.MarshalIndent(p, "", "  ")
}

// YAML returns the plan as YAML (the JSON form, converted by
// sigs.k8s.io/yaml, so field names match).
func (p *Plan) YAML() ([]byte, error) {
	return yaml.Marshal(p)
}

// Load reads a plan written by YAML or JSON and checks its apiVersion.
// Unknown fields are an error, so a plan from a newer certwave is not
// silently cut down. Decoding a Plan, Options or Step with encoding/json
// rejects them too.
func Load(path string) (*Plan, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading plan: %w", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid plan %s: %w", path, err)
	}
	var p Plan
	if err := decodeStrict(js, &p); err != nil {
		return nil, fmt.Errorf("invalid plan %s: %w", path, err)
	}
	if p.APIVersion != APIVersion {
		return nil, fmt.Errorf("invalid plan %s: apiVersion %q, want %q: regenerate it with this certwave", path, p.APIVersion, APIVersion)
	}
	return &p, nil
}

// Digest returns "sha256:" and the hex SHA-256 of the canonical JSON of what
// decides the plan's actions: apiVersion, domain, options, cohorts, phases,
// steps, orders and breach. Findings' wording, the budget projection (which
// follows from the orders) and the inventory (origins, skipped counts) are
// left out, so rewording a finding or reloading the same inventory from
// another checkout keeps the digest.
func (p *Plan) Digest() string {
	canonical := struct {
		APIVersion string         `json:"apiVersion"`
		Domain     string         `json:"domain"`
		Options    Options        `json:"options"`
		Cohorts    []Cohort       `json:"cohorts"`
		Phases     []Phase        `json:"phases"`
		Steps      []Step         `json:"steps"`
		Orders     []PlannedOrder `json:"orders"`
		Breach     *Breach        `json:"breach"`
	}{p.APIVersion, p.Domain, p.Options, p.Cohorts, p.Phases, p.Steps, p.Orders, p.Breach}
	b, err := json.Marshal(canonical)
	if err != nil {
		// Marshal fails only on channels, functions and cyclic values, and the
		// plan contains none.
		panic(fmt.Sprintf("plan: digest: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
