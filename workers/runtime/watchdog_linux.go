package runtime

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// threadCPU is the CPU time of workerd's event loop, its main thread (every
// isolate runs there; the other thread is V8's platform worker).
func threadCPU(pid int) (time.Duration, bool) {
	task := "/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid)
	// schedstat: nanoseconds on the CPU, first field.
	if b, err := os.ReadFile(task + "/schedstat"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return time.Duration(ns), true
			}
		}
	}
	// stat: utime and stime in clock ticks (100 per second on Linux), the
	// 14th and 15th fields; the command name before them may hold spaces.
	b, err := os.ReadFile(task + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * 10 * time.Millisecond, true
}

// outputPipe is a pipe for workerd's stdout or stderr whose read end blocks in
// read(2) instead of going through Go's poller (see readPace).
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(p[0]), "workerd-output"), os.NewFile(uintptr(p[1]), "workerd-output"), nil
}
