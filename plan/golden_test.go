package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/certwave/certwave/topology"
)

var update = flag.Bool("update", false, "rewrite the golden plans in testdata")

var goldenCases = []struct {
	file    string
	variant Variant
}{
	{"reference-hybrid.yaml", VariantHybrid},
	{"reference-all-acme.yaml", VariantAllACME},
}

func TestGoldenPlans(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.file, func(t *testing.T) {
			opts := testOptions()
			opts.Variant = c.variant
			p := mustPlan(t, topology.Reference(), opts)
			got, err := p.YAML()
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden plan (run go test ./plan -run TestGoldenPlans -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("plan differs from %s; rerun with -update and review the diff:\n%s", path, firstDifference(string(want), string(got)))
			}
		})
	}
}

// firstDifference returns the first line where two texts differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) && i < len(g); i++ {
		if w[i] != g[i] {
			return "line " + itoa(i+1) + ":\n  want: " + w[i] + "\n  got:  " + g[i]
		}
	}
	return "lengths differ: want " + itoa(len(w)) + " lines, got " + itoa(len(g))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestLoadRoundTrip(t *testing.T) {
	p := referencePlan(t)
	dir := t.TempDir()

	yamlPath := filepath.Join(dir, "plan.yaml")
	out, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(yamlPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(yamlPath)
	if err != nil {
		t.Fatalf("Load(YAML): %v", err)
	}
	if loaded.Digest() != p.Digest() {
		t.Error("the loaded YAML plan has another digest")
	}
	if !reflect.DeepEqual(loaded.Steps, p.Steps) || !reflect.DeepEqual(loaded.Options, p.Options) {
		t.Error("steps or options change through YAML")
	}
	again, err := loaded.YAML()
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("re-serialised plan differs: %s", firstDifference(string(out), string(again)))
	}

	jsonPath := filepath.Join(dir, "plan.json")
	js, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	fromJSON, err := Load(jsonPath)
	if err != nil {
		t.Fatalf("Load(JSON): %v", err)
	}
	if fromJSON.Digest() != p.Digest() || fromJSON.LowerBound != p.LowerBound {
		t.Error("the loaded JSON plan differs")
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"wrong apiVersion": "apiVersion: certwave.io/v0\n",
		"unknown field":    "apiVersion: " + APIVersion + "\nwaves: 3\n",
		"bad duration":     "apiVersion: " + APIVersion + "\nlowerBound: three days\n",
	}
	for name, content := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil {
			t.Errorf("%s: Load accepted %q", name, content)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDurationsSerialiseAsStrings(t *testing.T) {
	js, err := referencePlan(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"waveSoak": "12h"`, `"canarySoak": "24h"`, `"readyTimeout": "5m"`, `"lowerBound": "36h"`, `"duration": "24h"`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}
