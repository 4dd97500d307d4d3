//go:build !linux

package dns

import "syscall"

// processAttributes returns nil: only Linux can tie named's life to its
// parent's, so elsewhere only Stop ends it.
func processAttributes() *syscall.SysProcAttr {
	return nil
}
