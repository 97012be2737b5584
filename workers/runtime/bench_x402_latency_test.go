package runtime

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers/facilitator"
)

// settleCounter counts the settlements the dev facilitator answered with success: the money
// that moved.
type settleCounter struct {
	next    http.Handler
	settled atomic.Int64
}

type statusRecorder struct {
	http.ResponseWriter
	body strings.Builder
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.body.Write(b)
	return s.ResponseWriter.Write(b)
}

func (c *settleCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/settle" {
		c.next.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	c.next.ServeHTTP(rec, r)
	if strings.Contains(rec.body.String(), `"success":true`) {
		c.settled.Add(1)
	}
}

// rssKB is a process's resident memory (VmRSS, kB; 0 where /proc is missing).
func rssKB(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestBenchX402Latency measures what a payer waits for a paid call when the facilitator is as
// slow as a real chain (dev facilitator: verify 40 ms, settle 1,500 ms): the dispatcher's
// "after" and "optimistic" routes against a worker built from the official @x402/hono
// middleware, in the same workerd against the same facilitator, p50 and p99 of
// CLAW_BENCH_X402_N calls (default 60) made CLAW_BENCH_X402_C at a time (default 10). Then
// CLAW_BENCH_SOAK_CALLERS concurrent payers (default 200) pay the "after" route for
// CLAW_BENCH_SOAK (default 10s; the goal is 60s): every 200 must match exactly one
// settlement at the facilitator (no lost, no double payment), and workerd's memory is reported.
// Measurement only; runs with CLAW_BENCH=1.
//
//	CLAW_BENCH=1 go test -run TestBenchX402Latency -v ./workers/runtime/
func TestBenchX402Latency(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1 to run")
	}
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING benchmark: %v", err)
	}
	if _, err := os.Stat("../../node_modules/@x402/hono/package.json"); err != nil {
		t.Skip("SKIPPING benchmark: node_modules/@x402/hono is missing (run npm ci)")
	}
	envInt := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	n, conc, callers := envInt("CLAW_BENCH_X402_N", 60), envInt("CLAW_BENCH_X402_C", 10), envInt("CLAW_BENCH_SOAK_CALLERS", 200)
	soak := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CLAW_BENCH_SOAK")); err == nil && d >= 0 {
		soak = d
	}
	f, err := facilitator.New(facilitator.Options{Behaviour: facilitator.Behaviour{VerifyDelay: 40 * time.Millisecond, SettleDelay: 1500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counter := &settleCounter{next: f}
	fac := httptest.NewServer(counter)
	defer fac.Close()
	sdkModule := bundleSDKWorker(t, fac.URL)

	b := startX402Bench(t, wd, sdkModule, fac.URL)
	b.e.deploy("hello", helloWorker, nil, func(c *appConfig) {
		route := func(path, settle string) map[string]any {
			return map[string]any{"method": "GET", "path": path, "access": "x402", "settle": settle, "requirements": b.ours,
				"resource": map[string]any{"description": "A paid answer", "mimeType": "text/plain"}}
		}
		c.Routes = []map[string]any{route("/paid", "after"), route("/fast", "optimistic")}
	})
	if _, err := b.e.rt.Preload(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	// The SDK worker's own requirement (the client copies it from its 402).
	b.get(b.sdkURL+"/free", "")
	var pr x402.PaymentRequired
	for range 2 {
		_, hdr, _ := b.get(b.sdkURL+"/paid", "")
		if x402.DecodeHeader(hdr.Get("PAYMENT-REQUIRED"), &pr) == nil && len(pr.Accepts) > 0 {
			break
		}
	}
	if len(pr.Accepts) == 0 {
		t.Fatal("no challenge from the SDK worker")
	}
	b.sdk = pr.Accepts[0]

	measure := func(name, url string, req x402.Requirements, count int) []time.Duration {
		sigs := make([]string, count)
		for i := range sigs {
			sigs[i] = signFor(t, req, url)
		}
		lat := make([]time.Duration, count)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= count {
						return
					}
					start := time.Now()
					if st, _, body := b.get(url, sigs[i]); st != 200 {
						t.Errorf("%s: %d %.200s", name, st, body)
					}
					lat[i] = time.Since(start)
				}
			}()
		}
		wg.Wait()
		return lat
	}
	ourAfter, ourFast := b.e.rt.URL()+"/hello/paid", b.e.rt.URL()+"/hello/fast"
	sdkURL := b.sdkURL + "/paid"
	// Warm-up: both sides' code compiled, connections open.
	measure("warm-up ours", ourAfter, b.ours, conc)
	measure("warm-up optimistic", ourFast, b.ours, conc)
	measure("warm-up SDK", sdkURL, b.sdk, conc)
	sdk := measure("SDK", sdkURL, b.sdk, n)
	after := measure("after", ourAfter, b.ours, n)
	fast := measure("optimistic", ourFast, b.ours, n)
	sdk2 := measure("SDK again", sdkURL, b.sdk, n) // the reference before and after ours
	sdk = append(sdk, sdk2...)
	for _, m := range []struct {
		name string
		d    []time.Duration
		goal string
	}{{"after", after, "≤ 1.02×"}, {"optimistic", fast, "≤ 0.05×"}} {
		p50, p99 := percentile(m.d, 0.5), percentile(m.d, 0.99)
		r50, r99 := percentile(sdk, 0.5), percentile(sdk, 0.99)
		t.Logf("%-10s p50 %8v (SDK %8v) %.3f×   p99 %8v (SDK %8v) %.3f×   goal %s", m.name, p50.Round(time.Millisecond), r50.Round(time.Millisecond),
			float64(p50)/float64(r50), p99.Round(time.Millisecond), r99.Round(time.Millisecond), float64(p99)/float64(r99), m.goal)
	}

	if soak <= 0 {
		return
	}
	// Soak: callers payers in a loop on the after route.
	time.Sleep(2 * time.Second) // optimistic settlements of the last phase finish
	pid := b.e.rt.Status().PID
	rss0 := rssKB(pid)
	settled0 := counter.settled.Load()
	var ok, refused, failed atomic.Int64
	var peak atomic.Int64
	var errMu sync.Mutex
	var errs []string
	stop := time.Now().Add(soak)
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
				if r := int64(rssKB(pid)); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("GET", ourAfter, nil)
				req.Header.Set("PAYMENT-SIGNATURE", signFor(t, b.ours, ourAfter))
				resp, err := client.Do(req)
				if err != nil {
					if failed.Add(1) <= 3 {
						errMu.Lock()
						errs = append(errs, err.Error())
						errMu.Unlock()
					}
					continue
				}
				if resp.StatusCode != 200 {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
					errMu.Lock()
					if len(errs) < 6 {
						errs = append(errs, fmt.Sprintf("HTTP %d %s", resp.StatusCode, body))
					}
					errMu.Unlock()
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 402, 429, 503:
					refused.Add(1)
				default:
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	time.Sleep(500 * time.Millisecond)
	settled := counter.settled.Load() - settled0
	t.Logf("soak: %d callers for %v: %d paid answers (%.1f/s), %d settlements at the facilitator, %d refused, %d failed; workerd RSS %d → peak %d → %d kB",
		callers, soak, ok.Load(), float64(ok.Load())/soak.Seconds(), settled, refused.Load(), failed.Load(), rss0, peak.Load(), rssKB(pid))
	for _, e := range errs {
		t.Logf("soak: a failed request: %s", e)
	}
	// Every payment is a fresh authorization the facilitator settles at most once, so a double
	// charge would show as more settlements than requests that could have been answered; a
	// settlement beyond the 200s is a payment whose answer never reached its caller.
	if settled < ok.Load() || settled > ok.Load()+failed.Load() {
		t.Errorf("%d paid answers, %d failed requests, %d settlements: a payment settled twice or an answer without one", ok.Load(), failed.Load(), settled)
	}
	if lost := settled - ok.Load(); lost > 0 {
		t.Errorf("%d payments settled whose answer never reached the caller (its request failed)", lost)
	}
}
