//go:build !linux

package runtime

import (
	"os"
	"time"
)

// threadCPU is unknown outside Linux: the watchdog falls back to wall time.
func threadCPU(int) (time.Duration, bool) { return 0, false }

func outputPipe() (r, w *os.File, err error) { return os.Pipe() }
