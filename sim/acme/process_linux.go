package acme

import "syscall"

// pebbleProcessAttributes makes the kernel kill Pebble when the process
// that started it dies, so a test killed by its timeout leaves no Pebble
// behind.
//
// NOTE: Linux sends the signal when the OS thread that started Pebble
// exits. The Go runtime ends a thread only when a goroutine exits while
// locked to it, so Pebble is killed early when the caller starts it from
// such a goroutine.
func pebbleProcessAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
