// Package verror is a compile-only stand-in for vcert's pkg/verror.
package verror

import "errors"

// ServerUnavailableError marks a Venafi server that could not be reached.
var ServerUnavailableError = errors.New("venafi server unavailable")
