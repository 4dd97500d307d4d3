//go:build !linux

package local

import "syscall"

// processAttributes returns nil: only Linux can tie a server's life to its
// parent's.
func processAttributes(keep bool) *syscall.SysProcAttr {
	return nil
}
