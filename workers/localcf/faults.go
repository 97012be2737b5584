package localcf

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults make the emulator misbehave like a real API on a bad day, so the portal's retries and
// its outbox are exercised locally. They apply to /client/v4/ requests only, never to /runtime/.
// Rates are fractions in [0,1]; DropRate, ErrorRate and RateLimitRate are exclusive outcomes of
// one draw, so their sum is the share of requests that fail.
type Faults struct {
	ErrorRate     float64       // answered 500 or 503 with a Cloudflare-style envelope
	RateLimitRate float64       // answered 429 with Retry-After: 1
	DropRate      float64       // connection closed without an answer
	Latency       time.Duration // added to every request before it is handled
	Seed          int64         // the same seed gives the same sequence of outcomes
	// KVUnsuccessfulRate is the share of keys a bulk write leaves unstored and names in
	// unsuccessful_keys of its 200 answer, as Cloudflare may. KVUnsuccessfulPrefix, when
	// set, limits it to keys starting with it.
	KVUnsuccessfulRate   float64
	KVUnsuccessfulPrefix string
	// EmptyScriptLists makes the list-scripts call answer success with no items: the
	// listing that "suddenly comes back empty".
	EmptyScriptLists bool
}

// FaultStats counts what the fault injector did since the last SetFaults.
type FaultStats struct {
	Requests    int
	Errors      int
	RateLimited int
	Dropped     int
	// KVUnsuccessful counts keys bulk writes left unstored.
	KVUnsuccessful int
}

type faultState struct {
	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
	stats  FaultStats
}

// SetFaults replaces the fault configuration and resets the statistics and the random sequence.
func (s *Server) SetFaults(f Faults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.faults = f
	s.faults.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x402c1a3))
	s.faults.stats = FaultStats{}
}

// FaultStats returns the counters since the last SetFaults.
func (s *Server) FaultStats() FaultStats {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.stats
}

type faultKind int

const (
	faultNone faultKind = iota
	faultDrop
	faultError500
	faultError503
	faultRateLimit
)

func (s *Server) drawFault() (faultKind, time.Duration) {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.stats.Requests++
	f := fs.faults
	if f.DropRate+f.ErrorRate+f.RateLimitRate <= 0 {
		return faultNone, f.Latency
	}
	// Two draws per request whatever the outcome, so a seed fixes the whole sequence.
	x, y := fs.rng.Float64(), fs.rng.Float64()
	switch {
	case x < f.DropRate:
		fs.stats.Dropped++
		return faultDrop, f.Latency
	case x < f.DropRate+f.ErrorRate:
		fs.stats.Errors++
		if y < 0.5 {
			return faultError500, f.Latency
		}
		return faultError503, f.Latency
	case x < f.DropRate+f.ErrorRate+f.RateLimitRate:
		fs.stats.RateLimited++
		return faultRateLimit, f.Latency
	}
	return faultNone, f.Latency
}

// injectFault decides the request's fate before any state is touched, so a faulted request
// never half-applies. It reports whether the request should proceed.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	kind, latency := s.drawFault()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	switch kind {
	case faultDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return false
			}
		}
		panic(http.ErrAbortHandler)
	case faultError500, faultError503:
		status := http.StatusInternalServerError
		if kind == faultError503 {
			status = http.StatusServiceUnavailable
		}
		// Under workers Cloudflare's transient failure is 10013 workers.api.error.unknown;
		// under storage/kv 10013 means "namespace not found", so a KV fault must not use it.
		if strings.Contains(r.URL.Path, "/storage/kv/") {
			writeError(w, status, codeInternal, "An unknown error has occurred")
		} else {
			writeError(w, status, codeWorkersUnknown, "workers.api.error.unknown")
		}
		return false
	case faultRateLimit:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, 10429, "Rate limited. Please wait and consider throttling your request speed")
		return false
	}
	return true
}

// kvUnsuccessful picks the keys of a bulk write that fail, per KVUnsuccessfulRate (one draw per
// eligible key, from the seeded sequence).
func (s *Server) kvUnsuccessful(keys []string) map[string]bool {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.faults
	if f.KVUnsuccessfulRate <= 0 {
		return nil
	}
	out := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, f.KVUnsuccessfulPrefix) {
			continue
		}
		if fs.rng.Float64() < f.KVUnsuccessfulRate {
			out[k] = true
			fs.stats.KVUnsuccessful++
		}
	}
	return out
}

func (s *Server) emptyScriptLists() bool {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.faults.EmptyScriptLists
}
