//go:build !linux

package runtime

import "time"

// threadCPU is unknown outside Linux: the watchdog falls back to wall time.
func threadCPU(int) (time.Duration, bool) { return 0, false }
