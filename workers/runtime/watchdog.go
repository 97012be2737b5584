package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The watchdog. workerd runs every isolate on one thread and enforces no CPU
// limit, so one tenant's `while(true)` stalls every tenant, for good. Nothing
// inside workerd 1.20261117.1 can stop it (measured, README "Watchdog"):
// loaded workers' `limits: {cpuMs}` are ignored, and the inspector handles
// Runtime.terminateExecution and Debugger.pause on the stalled thread, so
// neither is ever answered. What works is to kill workerd and start it again
// (about 200 ms to listen) — which also ends the other requests in flight.
//
// Stalled means: no sign of progress (a probe answered, a request context
// ended in the async trace, a call into a tenant began or settled) while
// workerd's event-loop thread burned CPU time: StallCPU of it, or
// stallMinCPU once nothing moved for stallAfter (on a loaded machine the
// runaway gets a fraction of a core; 2.4 s for 1 s of CPU was measured). CPU
// time, not wall time alone: a machine too busy to schedule workerd, or a
// request waiting on I/O, burns none, and is left alone.
const (
	// StallCPU is how much CPU time workerd's event loop may spend without
	// answering before the watchdog restarts workerd: 5× the largest plan's
	// per-request CPU limit, in one piece, without yielding.
	StallCPU    = time.Second
	stallAfter  = 1500 * time.Millisecond
	stallMinCPU = 500 * time.Millisecond
	// stallWall replaces the CPU rule where the thread's CPU time cannot be
	// read (not Linux): wall time without progress.
	stallWall = 2 * time.Second
	// stuckWarn: no progress for this long without burning CPU (workerd
	// stopped, or blocked outside JavaScript) is logged, never killed.
	stuckWarn   = 10 * time.Second
	probeEvery  = 250 * time.Millisecond
	watchTick   = 50 * time.Millisecond
	probeExpiry = 30 * time.Second
)

// Runaway is what the watchdog reports when it restarted workerd.
type Runaway struct {
	// Script is the tenant script that was running (Slug its app), empty
	// when the watchdog cannot tell: then Suspects holds every tenant that
	// may have been running, and none of them is to blame.
	Script, Slug string
	Suspects     []string
	Stalled      time.Duration // wall time without progress
	CPU          time.Duration // CPU time workerd's event loop burned meanwhile (0: unknown)
	At           time.Time
}

// flights follows the calls into tenants of one workerd process: the
// dispatcher announces each on stdout before it starts ("+ <script> <slug>",
// after the secret), and the async trace reports the request contexts that
// ended. A tenant may be running while more of its calls began than its
// contexts ended: a call under way, a response streaming on, ctx.waitUntil
// work.
type flights struct {
	mu       sync.Mutex
	calls    map[string]int    // calls begun, per script
	ended    map[string]int    // request contexts ended (trace)
	slugs    map[string]string // script → app
	progress atomic.Int64      // bumped by every sign of life
}

func newFlights() *flights {
	return &flights{calls: map[string]int{}, ended: map[string]int{}, slugs: map[string]string{}}
}

// mark records one announcement: the text after the secret.
func (f *flights) mark(s string) {
	fields := strings.Fields(s)
	if len(fields) != 3 || fields[0] != "+" {
		return
	}
	f.mu.Lock()
	f.calls[fields[1]]++
	f.slugs[fields[1]] = fields[2]
	f.mu.Unlock()
	f.progress.Add(1)
}

// end records the end of a request context of worker (trace).
func (f *flights) end(worker string) {
	f.mu.Lock()
	f.ended[worker]++
	f.mu.Unlock()
	f.progress.Add(1)
}

// suspects are the scripts that may be running. A load that failed opened no
// context and keeps its script a suspect: an error on the side of blaming
// nobody, never on the side of blaming the wrong tenant. Once the stall
// began nothing is written, so both counts are complete by the time the
// watchdog asks (a context that ended before its call was read is counted
// all the same).
func (f *flights) suspects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for s, n := range f.calls {
		if n > f.ended[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (f *flights) slug(script string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slugs[script]
}

// newWatchMark is the secret the dispatcher's marks start with.
func newWatchMark() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "claw-watch-" + hex.EncodeToString(b)
}

// watch guards one workerd process (pid) until exited closes: it probes the
// warm-up socket at addr and calls stop once when the event loop stalls.
func (r *Runtime) watch(pid int, addr string, f *flights, exited <-chan struct{}, stop func(Runaway)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var probing atomic.Bool
	probe := func() {
		defer probing.Store(false)
		pctx, pcancel := context.WithTimeout(ctx, probeExpiry)
		defer pcancel()
		req, _ := http.NewRequestWithContext(pctx, http.MethodPost, "http://"+addr+"/ping", nil)
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent {
			f.progress.Add(1)
		}
	}

	tick := time.NewTicker(watchTick)
	defer tick.Stop()
	var lastProbe time.Time
	seen := f.progress.Load()
	since := time.Now()
	cpuAt, cpuOK := threadCPU(pid)
	warned := false
	for {
		select {
		case <-exited:
			return
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(lastProbe) >= probeEvery && probing.CompareAndSwap(false, true) {
			lastProbe = now
			go probe()
		}
		cpu, ok := threadCPU(pid)
		if p := f.progress.Load(); p != seen || ok != cpuOK {
			seen, since, cpuAt, cpuOK, warned = p, now, cpu, ok, false
			continue
		}
		stalled, burned := now.Sub(since), cpu-cpuAt
		if (ok && (burned >= StallCPU || stalled >= stallAfter && burned >= stallMinCPU)) || (!ok && stalled >= stallWall) {
			rw := Runaway{Suspects: f.suspects(), Stalled: stalled, At: now}
			if ok {
				rw.CPU = burned
			}
			if len(rw.Suspects) == 1 {
				rw.Script = rw.Suspects[0]
				rw.Slug = f.slug(rw.Script)
			}
			stop(rw)
			return
		}
		if !warned && stalled >= stuckWarn {
			warned = true
			r.log.Warn("workerd has not answered for a while but is not running JavaScript; the watchdog leaves it alone",
				"for", stalled.Round(time.Millisecond), "cpu", burned.Round(time.Millisecond))
		}
	}
}
