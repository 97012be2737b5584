package runtime

import (
	"bufio"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// WorkerCPU is the JavaScript time measured for one worker from workerd's
// async trace: the time its request contexts held the isolate lock (turns,
// from "locked" to "end"), plus the turns of its Durable Objects. It is
// measured, never enforced: CPU limits are enforced only on Cloudflare.
type WorkerCPU struct {
	Worker   string        // the script name (loader ids are reduced to it), or a local service name
	Requests int64         // request contexts that ended
	Total    time.Duration // JS time over all of them, Durable Object turns included
	Max      time.Duration // the slowest request
	Last     time.Duration // the most recent request
}

// Mean is the JS time per request.
func (w WorkerCPU) Mean() time.Duration {
	if w.Requests == 0 {
		return 0
	}
	return w.Total / time.Duration(w.Requests)
}

type cpuStats struct {
	mu      sync.Mutex
	workers map[string]*WorkerCPU
	open    map[int64]*traceCtx
	// recent holds, per worker, the JS time of its latest requests in the order they ended,
	// until telemetry ingest takes them (TakeRequestCPU).
	recent map[string][]measured
}

// measured is one request's JS time and when the trace reported its end.
type measured struct {
	js time.Duration
	at time.Time
}

// Bounds of the per-request queue: what ingest has not taken by then belongs to requests
// whose events never came (preloads, lost batches), and must not be given to later ones.
const (
	recentMax = 4096
	recentAge = 2 * time.Minute
)

type traceCtx struct {
	worker string
	iso    int64
	js     time.Duration
	actor  bool
	self   bool // a call from the worker's own isolate (ctx.exports), not from the dispatcher
}

func newCPUStats() *cpuStats {
	return &cpuStats{workers: map[string]*WorkerCPU{}, open: map[int64]*traceCtx{}, recent: map[string][]measured{}}
}

// CPUStats returns the measured JS time per worker, sorted by name. Empty
// unless Options.AsyncTrace is set.
func (r *Runtime) CPUStats() []WorkerCPU {
	return r.cpu.snapshot()
}

// CPUStatsFor returns the measurement of one script (or local service).
func (r *Runtime) CPUStatsFor(worker string) (WorkerCPU, bool) {
	r.cpu.mu.Lock()
	defer r.cpu.mu.Unlock()
	w, ok := r.cpu.workers[worker]
	if !ok {
		return WorkerCPU{}, false
	}
	return *w, true
}

// TakeRequestCPU returns the JS time of the oldest request of worker that ended and has not
// been taken yet, for telemetry ingest to put into that request's event: the dispatcher sends
// its event before workerd writes the request's trace, so the two meet in the portal. Requests
// of one worker are matched in the order they ended; with several in flight at once a value
// may land on a neighbour's event, but every measured request is counted once, so the sums per
// app and hour are right.
func (r *Runtime) TakeRequestCPU(worker string) (time.Duration, bool) {
	return r.cpu.take(worker, time.Now())
}

func (c *cpuStats) take(worker string, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.recent[worker]
	for len(q) > 0 && now.Sub(q[0].at) > recentAge {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(c.recent, worker)
		return 0, false
	}
	m := q[0]
	if len(q) == 1 {
		delete(c.recent, worker)
	} else {
		c.recent[worker] = q[1:]
	}
	return m.js, true
}

// ResetCPUStats forgets all measurements (benchmarks measure one phase).
func (r *Runtime) ResetCPUStats() {
	r.cpu.mu.Lock()
	defer r.cpu.mu.Unlock()
	r.cpu.workers = map[string]*WorkerCPU{}
	r.cpu.recent = map[string][]measured{}
}

func (c *cpuStats) snapshot() []WorkerCPU {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]WorkerCPU, 0, len(c.workers))
	for _, w := range c.workers {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Worker < out[j].Worker })
	return out
}

// traceEvent holds the fields of the async-trace lines we use; workerd
// writes one JSON object per line, times in nanoseconds.
type traceEvent struct {
	E       string          `json:"e"`
	Ctx     int64           `json:"ctx"`
	Iso     int64           `json:"iso"`
	Worker  string          `json:"worker"`
	Actor   json.RawMessage `json:"actor"`
	Locked  int64           `json:"locked"`
	End     int64           `json:"end"`
	FromIso int64           `json:"fromIso"`
}

func (c *cpuStats) consume(rd io.Reader) { c.follow(rd, nil) }

// follow reads one workerd process's trace to its end. ended, when not nil,
// is told the worker of every request context that ends, except Durable
// Objects' and those a worker opened into its own isolate (the watchdog
// counts calls into tenants; a tenant calling itself is not one of them).
func (c *cpuStats) follow(rd io.Reader, ended func(worker string)) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 256*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		// Most lines are neither contexts nor turns; skip them unparsed.
		if !(hasEvent(line, "turn") || hasEvent(line, "ctx") || hasEvent(line, "ctx_end") || hasEvent(line, "link")) {
			continue
		}
		var ev traceEvent
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		if w := c.apply(ev); w != "" && ended != nil {
			ended(w)
		}
	}
	c.mu.Lock()
	c.open = map[int64]*traceCtx{} // a new process numbers contexts afresh
	c.mu.Unlock()
}

func hasEvent(line []byte, e string) bool {
	prefix := `{"e":"` + e + `"`
	return len(line) >= len(prefix) && string(line[:len(prefix)]) == prefix
}

// apply records one event; for the end of a request context that the
// dispatcher (or the runtime) opened, it returns the context's worker.
func (c *cpuStats) apply(ev traceEvent) (ended string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.E {
	case "ctx":
		actor := len(ev.Actor) > 0 && string(ev.Actor) != "null"
		c.open[ev.Ctx] = &traceCtx{worker: workerName(ev.Worker), iso: ev.Iso, actor: actor}
	case "link":
		// A context's lines come together when it ends, "ctx" first: the
		// link of a call a worker made into its own isolate names that isolate.
		if t, ok := c.open[ev.Ctx]; ok && ev.FromIso == t.iso {
			t.self = true
		}
	case "turn":
		t, ok := c.open[ev.Ctx]
		if !ok || ev.End <= ev.Locked || ev.Locked <= 0 {
			return ""
		}
		d := time.Duration(ev.End - ev.Locked)
		if t.actor {
			// A Durable Object's context lives as long as the object, so
			// its turns count for its worker as they happen (the PaymentLock's
			// work is the dispatcher's), not as requests.
			c.worker(t.worker).Total += d
			return ""
		}
		t.js += d
	case "ctx_end":
		t, ok := c.open[ev.Ctx]
		if !ok {
			return ""
		}
		delete(c.open, ev.Ctx)
		if t.actor {
			return ""
		}
		w := c.worker(t.worker)
		w.Requests++
		w.Total += t.js
		w.Last = t.js
		w.Max = max(w.Max, t.js)
		if !t.self {
			q := c.recent[t.worker]
			if len(q) >= recentMax {
				q = q[1:]
			}
			c.recent[t.worker] = append(q, measured{js: t.js, at: time.Now()})
			return t.worker
		}
	}
	return ""
}

func (c *cpuStats) worker(name string) *WorkerCPU {
	w := c.workers[name]
	if w == nil {
		w = &WorkerCPU{Worker: name}
		c.workers[name] = w
	}
	return w
}

// workerName reduces a loader id ("LOADER:<script>@<etag>#<outbound>~<gen>",
// as workerd names workers loaded through our LOADER binding) to the script
// name, so measurements survive hot swaps and allowlist changes.
func workerName(s string) string {
	s = strings.TrimPrefix(s, "LOADER:")
	if i := strings.IndexAny(s, "@#"); i > 0 {
		return s[:i]
	}
	return s
}
