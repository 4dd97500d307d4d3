package model

import (
	"errors"
	"testing"
	"time"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// A tunnel in front of the external Gateway whose ingress rule matches
// every subdomain still carries only the hosts whose DNS points at that
// Gateway: an internal host is never published through it, so probing it
// there would count an outage that no client has.
func TestTunnelCarriesOnlyItsGatewayHosts(t *testing.T) {
	inv := topology.Reference()
	inv.ClientPaths = append(inv.ClientPaths, topology.ClientPath{
		Name: "tunnel", Kind: topology.ClientPathFixedSNI, Gateway: "network/external",
		ServerName: "external.example.com", Hostnames: []string{"*.example.com"},
	})
	w, err := New(inv, Options{Seed: 1, Start: testStart})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := w.Prober().Probe(t.Context(), "adguard.example.com", "tunnel"); !errors.Is(err, ErrHostNotCarried) {
		t.Errorf("tunnel probe of internal host adguard: err = %v, want ErrHostNotCarried", err)
	}
	if res := probe(t, w, "adguard.example.com", "direct"); res.Outcome != engine.OutcomeServed {
		t.Errorf("direct probe of adguard: %s (%s), want served", res.Outcome, res.Detail)
	}
	if res := probe(t, w, "blog.example.com", "tunnel"); res.Outcome != engine.OutcomeServed {
		t.Errorf("tunnel probe of external host blog: %s (%s), want served", res.Outcome, res.Detail)
	}
	w.Advance(time.Hour)
	if got := w.Availability()["adguard.example.com"]; got != 1 {
		t.Errorf("availability of adguard = %v, want 1 (the tunnel does not count)", got)
	}
}
