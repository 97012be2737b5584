package runtime

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"time"
)

// maxLine is where readLines cuts a line.
const maxLine = 64 * 1024

// readPace is the pause after a read that emptied one of workerd's output
// pipes. The dispatcher writes a line per call into a tenant, each in a write
// of its own; read as they came, every line cost a wake-up on both sides
// (measured: about 40 µs more CPU per request in the runtime and up to 30 µs
// in workerd; with Go's poller and this pause, no better). Read in blocking
// mode (outputPipe) and paced, a read takes what came meanwhile and a write
// seldom wakes a reader: +5–10 µs per request, within the noise. The pipe
// holds 64 KiB; a line waits at most readPace, a full pipe is read at once.
const readPace = 5 * time.Millisecond

type pacedReader struct{ r io.Reader }

func (p pacedReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == nil && n < len(b) {
		time.Sleep(readPace)
	}
	return n, err
}

// readLines calls fn with every line of rd, without its line ending, until rd
// ends. A line longer than maxLine is cut there and the rest of it dropped:
// the reading must never stop, or workerd blocks writing a tenant's
// console.log to a full pipe, and every tenant with it.
func readLines(rd io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(pacedReader{rd}, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			fn(string(line) + " …(line cut at 64 KiB)")
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		if len(line) > 0 {
			fn(strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"))
		}
		if err != nil {
			return
		}
	}
}

// lineTail keeps the last lines of workerd's output for error messages.
type lineTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *lineTail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > 10 {
		t.lines = t.lines[len(t.lines)-10:]
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := ""
	for i, l := range t.lines {
		if i > 0 {
			out += " | "
		}
		out += l
	}
	return out
}
