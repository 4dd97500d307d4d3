package harness

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings for a process that rehearses on the model
// world. A reference migration allocates about 270 MB and keeps little of
// it. With Go's default target (GOGC=100), background marking took about
// an eighth of the suite's CPU time on the project's 2-core machine. A
// target of 400 % with a soft limit of 1 GiB cut the suite's wall time by
// about a sixth there, and raised its peak resident size from about
// 235 MB to 530 MB (docs/benchmarks.md).
const (
	modelGCPercent   = 400
	modelMemoryLimit = 1 << 30
)

// TuneGC applies the settings above unless the user set GOGC or
// GOMEMLIMIT, which then take precedence. It returns a function that
// restores the previous settings.
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(modelGCPercent)
	limit := debug.SetMemoryLimit(modelMemoryLimit)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
