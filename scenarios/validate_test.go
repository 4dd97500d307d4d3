package scenarios

import (
	"strings"
	"testing"
)

func TestParseRejectsBadFields(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown field",
			yaml: "name: x\ndescription: d\ntopology: {reference: true}\nexpect: {stop: none}\nbogus: 1\n",
			want: []string{"bad.yaml:5: field bogus: unknown field; use one of actions,"},
		},
		{
			name: "bad fault kind",
			yaml: "name: x\ndescription: d\ntopology: {reference: true}\nfaults:\n  - kind: dns-fail\nexpect: {stop: none}\n",
			want: []string{"bad.yaml:5: field faults[0].kind", `"dns-fail"`, "dns01-fail"},
		},
		{
			name: "unknown field of an inline topology",
			yaml: "name: x\ndescription: d\ntopology:\n  inline:\n    gateways:\n      - name: edge\n        listeners: [{name: https, protocl: HTTPS}]\nexpect: {stop: none}\n",
			want: []string{"bad.yaml:7: field topology.inline.gateways[0].listeners[0].protocl: unknown field (did you mean protocol?)"},
		},
		{
			name: "wrong type in an inline topology",
			yaml: "name: x\ndescription: d\ntopology:\n  inline:\n    certificates: [{name: c, duration: 168h}]\nexpect: {stop: none}\n",
			want: []string{"bad.yaml:5: field topology.inline.certificates[0].duration", `"168h"`, "nanoseconds"},
		},
		{
			name: "two topologies",
			yaml: "name: x\ndescription: d\ntopology: {reference: true, gitops: {dir: /x}}\nexpect: {stop: none}\n",
			want: []string{"bad.yaml:3: field topology", "exactly one"},
		},
		{
			name: "no expectation",
			yaml: "name: x\ndescription: d\ntopology: {reference: true}\n",
			want: []string{"field expect", "at least one outcome"},
		},
		{
			name: "bad duration",
			yaml: "name: x\ndescription: d\ntopology: {reference: true}\nplan: {waveSoak: 3 days}\nexpect: {stop: none}\n",
			want: []string{"bad.yaml:4:", `"3 days"`, "14d"},
		},
		{
			name: "bad stop rule",
			yaml: "name: x\ndescription: d\ntopology: {reference: true}\nexpect:\n  stop: ratelimit\n",
			want: []string{"bad.yaml:5: field expect.stop", "rate-limited"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("Parse accepted an invalid scenario")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseDays(t *testing.T) {
	s, err := Parse("ok.yaml", []byte("name: x\ndescription: d\ntopology: {reference: true}\nrun: {observeFor: 1.5d}\nexpect: {stop: none}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Run.ObserveFor.D().Hours(); got != 36 {
		t.Errorf("observeFor = %vh, want 36h", got)
	}
}

func TestBuiltinScenariosValid(t *testing.T) {
	list, err := LoadDir(Builtin, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		t.Fatal("no built-in scenarios")
	}
}

// A misspelled field names the line, the field and the section as the
// file spells them, not the schema's Go types.
func TestUnknownFieldNamesSectionAndLine(t *testing.T) {
	_, err := Parse("typo.yaml", []byte("name: typo\ntopology: {reference: true}\nexpect:\n  minAvailabilty: 0.9\n"))
	if err == nil {
		t.Fatal("a misspelled field was accepted")
	}
	want := "typo.yaml:4: field expect.minAvailabilty: unknown field (did you mean minAvailability?); use one of "
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "scenarios.") {
		t.Errorf("error = %q, want it to start with %q and name no Go type", err, want)
	}
}

// TestUnknownFieldsAllAtOnce checks that one parse reports the unknown
// fields of every section, the inline inventory's included.
func TestUnknownFieldsAllAtOnce(t *testing.T) {
	_, err := Parse("typo.yaml", []byte("name: typo\ndescription: d\nplan: {wavesize: 3}\ntopology:\n  inline:\n    gateways: [{name: edge, clas: envoy}]\nexpcet: {stop: none}\n"))
	if err == nil {
		t.Fatal("misspelled fields were accepted")
	}
	for _, want := range []string{
		"typo.yaml:3: field plan.wavesize: unknown field (did you mean waveSize?)",
		"typo.yaml:6: field topology.inline.gateways[0].clas: unknown field (did you mean class?)",
		"typo.yaml:7: field expcet: unknown field",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}
