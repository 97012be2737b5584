package runtime

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const logOneLineWorker = `export default { fetch(req) { console.log("served", req.method, new URL(req.url).pathname); return new Response("hello"); } };`

// TestBenchLogCapture measures what log capture costs the edge: the same
// worker, which logs one line per request, behind two local edges in one run,
// one capturing (lines shipped to an ingest endpoint in batches) and one
// with NoLogCapture (the line goes to workerd's stdout, discarded), in
// alternating rounds. A measurement, not a check: CLAW_BENCH=1. Needs wrk.
//
//	CLAW_BENCH=1 go test -run 'TestBenchLogCapture$' -v ./workers/runtime/
func TestBenchLogCapture(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1 to run")
	}
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING benchmark: %v", err)
	}
	dur := 5 * time.Second
	// wrk when installed (as TestBench), otherwise a Go client with the same 16 connections.
	loadFn := func(url string) float64 {
		if _, err := exec.LookPath("wrk"); err == nil {
			rps, _ := load(t, url, dur, 16)
			return rps
		}
		return goLoad(t, url, dur, 16)
	}
	// The ingest endpoint runs on the same cores as the edges: it reads and discards each post
	// and only counts log records, so that the run measures the edge, not a JSON parser.
	ingest := newCountingIngest()
	defer ingest.Close()
	start := func(capture bool) (*Runtime, func()) {
		fe := newFakeEdge()
		srv := httptest.NewServer(fe)
		rt, err := Start(context.Background(), Options{
			WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken, Namespace: testNS,
			IngestURL: ingest.URL + "/ingest", IngestToken: "ingest-secret", ConfigKVNamespaceID: testConfigNS, DataDir: t.TempDir(),
			SubrequestEmulation: true, NoLogCapture: !capture, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		e := &edgeEnv{rt: rt, edge: fe}
		e.deploy("hello", logOneLineWorker, nil, nil)
		if r := e.do(t, "GET", "", "/hello/", nil); r.body != "hello" {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		return rt, func() { rt.Stop(context.Background()); srv.Close() }
	}
	on, stopOn := start(true)
	defer stopOn()
	off, stopOff := start(false)
	defer stopOff()
	// CLAW_BENCH_ROUNDS alternating rounds (default 3): on a shared machine more rounds give
	// a median worth reading, and the spread says how noisy the run was.
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("CLAW_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	var ratios []float64
	for i := range rounds {
		o := loadFn(off.URL() + "/hello/")
		c := loadFn(on.URL() + "/hello/")
		ratios = append(ratios, c/o)
		t.Logf("round %d: without capture %.0f req/s, with capture %.0f req/s: %.3f×", i+1, o, c, c/o)
	}
	sort.Float64s(ratios)
	n := ingest.logs.Load()
	t.Logf("log capture, median of %d rounds: %.3f× the throughput without capture (goal ≥ 0.95×; rounds ranged %.3f× to %.3f×); %d log records reached the ingest endpoint in %d posts",
		rounds, ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], n, ingest.posts.Load())
}

// countingIngest accepts the edge's posts like the portal's ingest endpoint but does not parse
// them: it counts the log records of {"logs":[…]} bodies by their "lines" key (a message's own
// quotes arrive escaped, so it cannot match).
type countingIngest struct {
	*httptest.Server
	logs  atomic.Int64
	posts atomic.Int64
}

func newCountingIngest() *countingIngest {
	s := &countingIngest{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.posts.Add(1)
		if bytes.HasPrefix(body, []byte(`{"logs":`)) {
			s.logs.Add(int64(bytes.Count(body, []byte(`"lines":[`))))
		}
		w.WriteHeader(204)
	}))
	return s
}

// goLoad sends requests over conns keep-alive connections for d and returns requests per second.
func goLoad(t *testing.T, url string, d time.Duration, conns int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	var n atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				r, err := client.Get(url)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode == 200 {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}
