//go:build !linux

package acme

import "syscall"

// pebbleProcessAttributes returns nil: only Linux can tie Pebble's life to
// its parent's, so elsewhere only Stop ends it.
func pebbleProcessAttributes() *syscall.SysProcAttr {
	return nil
}
