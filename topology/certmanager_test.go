package topology

import "testing"

// The release boundaries come from cert-manager's certificate-shim:
// passthrough listeners are skipped silently from v1.18.0, and
// ignore-tls-listeners exists from v1.21.0.
func TestCertManagerShimRulesByVersion(t *testing.T) {
	cases := []struct {
		version              string
		minor                int
		skipsPassthrough     bool
		readsIgnoreListeners bool
	}{
		{"v1.17.1", 17, false, false},
		{"v1.18.0", 18, true, false},
		{"1.20.3", 20, true, false},
		{"v1.21.0", 21, true, true},
		{"v1.21.2", 21, true, true},
		{"", 0, true, false},
		{"v2.0.0", 0, true, false},
		{"latest", 0, true, false},
	}
	for _, c := range cases {
		cm := CertManager{Version: c.version}
		if got := cm.Minor(); got != c.minor {
			t.Errorf("Minor of %q = %d, want %d", c.version, got, c.minor)
		}
		if got := cm.ShimSkipsPassthrough(); got != c.skipsPassthrough {
			t.Errorf("ShimSkipsPassthrough of %q = %t, want %t", c.version, got, c.skipsPassthrough)
		}
		if got := cm.ShimReadsIgnoreListeners(); got != c.readsIgnoreListeners {
			t.Errorf("ShimReadsIgnoreListeners of %q = %t, want %t", c.version, got, c.readsIgnoreListeners)
		}
	}
}
