package topology

import (
	"strconv"
	"strings"
)

// Minor releases of cert-manager v1 that changed what the gateway-shim
// does with a listener, read from pkg/controller/certificate-shim/sync.go
// of v1.17.1, v1.18.0, v1.20.0, v1.21.0 and v1.21.2.
const (
	// ShimSkipsPassthroughMinor is the release from which the shim skips
	// TLS passthrough listeners without an event. Before it, validation
	// rejects them with a BadConfig event (tls.mode: Unsupported value).
	ShimSkipsPassthroughMinor = 18
	// ShimIgnoreListenersMinor is the release that added the annotation
	// cert-manager.io/ignore-tls-listeners. Earlier releases do not read it.
	ShimIgnoreListenersMinor = 21
)

// Minor returns the minor version of a cert-manager v1 release, 17 for
// v1.17.1, or 0 when the version is unknown or not v1.
func (c CertManager) Minor() int {
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(c.Version), "v"), ".")
	if len(parts) < 2 || parts[0] != "1" {
		return 0
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0
	}
	return minor
}

// ShimSkipsPassthrough reports whether the shim skips TLS passthrough
// listeners silently. An unknown version counts as a current one: either
// way the shim creates no Certificate for them, and only the event differs.
func (c CertManager) ShimSkipsPassthrough() bool {
	minor := c.Minor()
	return minor == 0 || minor >= ShimSkipsPassthroughMinor
}

// ShimReadsIgnoreListeners reports whether the shim honours
// cert-manager.io/ignore-tls-listeners. An unknown version counts as one
// that does not, so a plan never relies on the annotation unchecked.
func (c CertManager) ShimReadsIgnoreListeners() bool {
	return c.Minor() >= ShimIgnoreListenersMinor
}
