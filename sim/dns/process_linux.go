package dns

import "syscall"

// processAttributes makes the kernel kill named when the process that
// started it dies, so a crashed test leaves no server behind.
//
// NOTE: Linux sends the signal when the OS thread that started named
// exits. The Go runtime ends a thread only when a goroutine exits while
// locked to it, so named is killed early when the caller starts it from
// such a goroutine.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
