package runtime

import (
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"
)

// TestBenchLimiter measures what the per-caller limit check (quota.js: a per-minute window is
// counted in the dispatcher isolate's memory) adds to a request through the local edge: a public
// route with a per-minute limit that is never reached against the same worker's route without
// limits, in one edge and in alternating rounds. The budget: ≤ 0.5 ms on the p50 of a
// request and ≤ 10% of the throughput. A measurement, not a check: runs with CLAW_BENCH=1.
//
//	CLAW_BENCH=1 CLAW_BENCH_DURATION=3s go test -run 'TestBenchLimiter$' -v ./workers/runtime/
func TestBenchLimiter(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1 to run")
	}
	e := edge(t)
	e.deploy("benchlim", helloWorker, nil, func(c *appConfig) {
		c.Routes = []map[string]any{
			{"method": "GET", "path": "/open", "access": "public"},
			{"method": "GET", "path": "/limited", "access": "public", "limits": map[string]any{"perMinute": 1_000_000_000}},
		}
	})
	dur := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("CLAW_BENCH_DURATION")); err == nil {
		dur = v
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	base := e.rt.URL() + "/benchlim"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	// p50 of n sequential requests on one keep-alive connection.
	p50 := func(url string, n int) time.Duration {
		ds := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", url, resp.StatusCode)
			}
			ds = append(ds, time.Since(t0))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[n/2]
	}
	// Warm both routes (the worker, the limiter object).
	p50(base+"/open", 200)
	p50(base+"/limited", 200)
	var dP50 []time.Duration
	var ratios []float64
	for i := range rounds {
		open, limited := p50(base+"/open", 1000), p50(base+"/limited", 1000)
		rOpen, _ := load(t, base+"/open", dur, 16)
		rLim, _ := load(t, base+"/limited", dur, 16)
		dP50 = append(dP50, limited-open)
		ratios = append(ratios, rLim/rOpen)
		t.Logf("round %d: p50 %v without limits, %v with (+%v); throughput %.0f/s without, %.0f/s with (%.3f×)",
			i+1, open, limited, limited-open, rOpen, rLim, rLim/rOpen)
	}
	sort.Slice(dP50, func(i, j int) bool { return dP50[i] < dP50[j] })
	sort.Float64s(ratios)
	t.Logf("median of %d rounds: p50 +%v (goal ≤ 0.5 ms), throughput %.3f× (goal ≥ 0.90×)", rounds, dP50[len(dP50)/2], ratios[len(ratios)/2])
}
