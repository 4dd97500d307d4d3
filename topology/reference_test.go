package topology

import "testing"

func TestReferenceCounts(t *testing.T) {
	inv := Reference()

	// Route counts per Gateway from the migration runbook.
	want := map[string]int{
		"network/external":       11,
		"network/internal":       50,
		"mcp-system/mcp-gateway": 9,
		"istio-system/istio":     2,
	}
	got := map[string]int{}
	for _, a := range inv.Attachments() {
		if a.Listener != "https" {
			t.Errorf("route %s attached to listener %s, want https", a.Route, a.Listener)
		}
		got[a.Gateway]++
	}
	for gw, n := range want {
		if got[gw] != n {
			t.Errorf("Gateway %s has %d routes, want %d", gw, got[gw], n)
		}
	}
	if len(inv.Routes) != 72 {
		t.Errorf("got %d routes, want 72", len(inv.Routes))
	}
}

func TestReferenceMirrors(t *testing.T) {
	inv := Reference()

	src := inv.Secret("network", WildcardSecret)
	if src == nil || src.IssuedBy != "network/example.com" {
		t.Fatalf("wildcard Secret = %+v, want issued by network/example.com", src)
	}
	for _, ns := range []string{"istio-system", "mcp-system"} {
		m := inv.Secret(ns, WildcardSecret)
		if m == nil {
			t.Errorf("no mirror of the wildcard Secret in %s", ns)
			continue
		}
		if m.MirrorOf != "network/"+WildcardSecret {
			t.Errorf("mirror in %s: MirrorOf = %q", ns, m.MirrorOf)
		}
	}
	if len(inv.Secrets) != 3 {
		t.Errorf("got %d Secrets, want the source and two mirrors", len(inv.Secrets))
	}
}

func TestHostnameMatches(t *testing.T) {
	cases := []struct {
		pattern, host string
		want          bool
	}{
		{"", "a.example.com", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"a.example.com", "A.example.com", true},
		{"a.example.com", "b.example.com", false},
	}
	for _, c := range cases {
		if got := HostnameMatches(c.pattern, c.host); got != c.want {
			t.Errorf("HostnameMatches(%q, %q) = %v, want %v", c.pattern, c.host, got, c.want)
		}
	}
}

func TestClientPathCarriesHostname(t *testing.T) {
	all := ClientPath{Name: "direct", Kind: ClientPathDirect}
	tunnel := ClientPath{Name: "tunnel", Kind: ClientPathFixedSNI, Hostnames: []string{"*.example.com", "example.org"}}
	cases := []struct {
		path ClientPath
		host string
		want bool
	}{
		{all, "anything.example.net", true},
		{tunnel, "blog.example.com", true},
		{tunnel, "EXAMPLE.org", true},
		{tunnel, "example.com", false},
		{tunnel, "blog.example.net", false},
	}
	for _, c := range cases {
		if got := c.path.CarriesHostname(c.host); got != c.want {
			t.Errorf("path %s carries %q = %v, want %v", c.path.Name, c.host, got, c.want)
		}
	}
}
