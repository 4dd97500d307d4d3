package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/certwave/certwave/internal/fixtures"
)

// fixtureTree returns the home-lab GitOps tree, skipping the test when it
// is absent.
func fixtureTree(t *testing.T) string {
	t.Helper()
	return fixtures.Homelab(t)
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestInventoryJSONContract(t *testing.T) {
	tree := fixtureTree(t)
	out, err := runCLI(t, "inventory", "--from-dir", tree, "--set", "SECRET_DOMAIN=example.com", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Gateways []struct {
			Namespace, Name, Class string
			Listeners              []struct {
				Name, Protocol, Hostname string
				Port                     int
				Routes                   []string
			}
		}
		Findings []struct {
			ID, Severity string
			Objects      []string
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not the JSON contract: %v", err)
	}
	routes := map[string]int{}
	for _, gw := range v.Gateways {
		for _, l := range gw.Listeners {
			routes[gw.Namespace+"/"+gw.Name+"/"+l.Name] = len(l.Routes)
		}
	}
	// Counted by hand from the tree; see topology's fixture test.
	want := map[string]int{
		"network/internal/https":      67,
		"network/external/https":      9,
		"istio-system/istio/https":    1,
		"mcp-system/mcp-gateway/mcps": 7,
		"network/tcp/ssh":             0,
	}
	for k, n := range want {
		if routes[k] != n {
			t.Errorf("listener %s has %d routes, want %d", k, routes[k], n)
		}
	}
	ids := map[string]bool{}
	for _, f := range v.Findings {
		ids[f.ID] = true
		if f.Severity == "" || len(f.Objects) == 0 {
			t.Errorf("finding %s lacks severity or objects", f.ID)
		}
	}
	for _, id := range []string{"gateway-api-disabled", "mirrored-secret-gateway", "fixed-sni-client", "shim-skipped-listener"} {
		if !ids[id] {
			t.Errorf("finding %s missing", id)
		}
	}
}

func TestPlanSchedulesEveryHTTPSRoute(t *testing.T) {
	tree := fixtureTree(t)
	out, err := runCLI(t, "plan", "--from-dir", tree, "--set", "SECRET_DOMAIN=example.com",
		"--start", "2027-01-04T09:00:00Z", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Steps []struct {
			Kind  string
			Route string
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	flipped := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind == "flip-route" {
			flipped[s.Route] = true
		}
	}
	// Every route on an HTTPS listener of the fixture except those that
	// need no flip: 67 internal + 9 external + 1 istio.
	if len(flipped) < 70 {
		t.Errorf("plan flips %d routes, want the HTTPS routes of the tree (77)", len(flipped))
	}
}

func TestInventoryRejectsBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"inventory"}, "choose exactly one input"},
		{[]string{"inventory", "--reference", "--set", "NOEQUALS"}, `invalid --set "NOEQUALS"`},
		{[]string{"inventory", "--reference", "-o", "xml"}, `invalid output format "xml"`},
		{[]string{"plan", "--reference", "--wave-size", "0"}, "invalid --wave-size 0"},
		{[]string{"plan", "--reference", "--variant", "acme"}, `invalid --variant "acme"`},
		{[]string{"inventory", "--kubeconfig", "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
	}
	for _, c := range cases {
		_, err := runCLI(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("certwave %v: error %v, want it to contain %q", c.args, err, c.want)
		}
	}
}

func TestPlanFlagDayRefused(t *testing.T) {
	_, err := runCLI(t, "plan", "--reference", "--variant", "all-acme", "--wave-size", "100",
		"--wave-soak", "0s", "--canary-soak", "0s", "--start", "2027-01-04T09:00:00Z")
	if err == nil {
		t.Fatal("flag-day plan accepted")
	}
	if !strings.Contains(err.Error(), "CertificatesPerDomain") || exitCode(err) != exitFailed {
		t.Errorf("error %v (exit %d), want a CertificatesPerDomain refusal with exit %d", err, exitCode(err), exitFailed)
	}
}
