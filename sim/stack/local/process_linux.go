package local

import "syscall"

// processAttributes makes the kernel kill a server when the process that
// started it dies, so a crashed test leaves no server behind. With keep
// set, servers outlive their parent on purpose.
//
// NOTE: Linux sends the signal when the OS thread that started the server
// exits. The Go runtime ends a thread only when a goroutine exits while
// locked to it. This package never does that, but a caller that starts the
// stack from such a goroutine would see its servers killed early.
func processAttributes(keep bool) *syscall.SysProcAttr {
	if keep {
		return nil
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
