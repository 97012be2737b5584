package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const helloWorker = `export default { fetch() { return new Response("hello"); } };`

// TestBench compares the local edge (dispatcher → namespace shim → tenant
// "hello" worker, subrequest emulation on) with the same worker served
// directly by workerd. It is a measurement, not a check, and runs only with
// CLAW_BENCH=1. Needs wrk.
//
//  1. Memory: a fresh workerd each side, exactly CLAW_BENCH_REQUESTS
//     (default 100,000) requests, then workerd's RSS.
//
//  2. Throughput: the same two processes, alternating direct and edge runs
//     of CLAW_BENCH_DURATION (default 5s) CLAW_BENCH_ROUNDS times (default
//     3): the machine is shared, so each ratio compares neighbouring runs.
//
//  3. JS time per request from the async trace, in a second pair of
//     processes (tracing slows every context); CLAW_BENCH_NOTRACE=1 skips it.
//
// The edge sends telemetry to a fake ingest endpoint, as it does under
// `make run` (CLAW_BENCH_NOINGEST=1 switches it off); CLAW_BENCH_NOSUB=1
// switches the subrequest emulation off; CLAW_BENCH_V8FLAGS replaces the
// edge's V8Flags (space-separated).
//
//	CLAW_BENCH=1 go test -run 'TestBench$' -v ./workers/runtime/
func TestBench(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1 to run")
	}
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING benchmark: %v", err)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("SKIPPING benchmark: wrk is not installed")
	}
	dur := 5 * time.Second
	if v, err := time.ParseDuration(os.Getenv("CLAW_BENCH_DURATION")); err == nil {
		dur = v
	}
	conns := 16
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_CONNS")); err == nil && v > 0 {
		conns = v
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	total := 100000
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_REQUESTS")); err == nil && v > 0 {
		total = v
	}
	emulate := os.Getenv("CLAW_BENCH_NOSUB") == ""
	if v, ok := os.LookupEnv("CLAW_BENCH_V8FLAGS"); ok {
		V8Flags = strings.Fields(v)
	}

	startEdge := func(traced bool) (*Runtime, func()) {
		fe := newFakeEdge()
		srv := httptest.NewServer(fe)
		// Telemetry on, as under `make run` (CLAW_BENCH_NOINGEST=1: off).
		ingestURL := srv.URL + "/ingest"
		if os.Getenv("CLAW_BENCH_NOINGEST") != "" {
			ingestURL = ""
		}
		rt, err := Start(context.Background(), Options{
			WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken, Namespace: testNS, IngestURL: ingestURL,
			ConfigKVNamespaceID: testConfigNS, DataDir: t.TempDir(), AsyncTrace: traced, SubrequestEmulation: emulate,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		e := &edgeEnv{rt: rt, edge: fe}
		e.deploy("hello", helloWorker, nil, nil)
		if r := e.do(t, "GET", "", "/hello/", nil); r.body != "hello" {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		return rt, func() { rt.Stop(context.Background()); srv.Close() }
	}

	// 1. Memory after exactly `total` requests, fresh processes. The edge
	// runs with V8Flags; direct workerd is measured with its defaults (the
	// goal's baseline) and with the same flags (like for like).
	sameFlags := startDirect(t, wd, false, V8Flags...)
	sRPS := loadCount(t, "http://"+sameFlags.addr+"/", total, conns)
	sRSS := rssMB(sameFlags.cmd.Process.Pid)
	sameFlags.stop()
	direct := startDirect(t, wd, false)
	directURL := "http://" + direct.addr + "/"
	dRPS := loadCount(t, directURL, total, conns)
	dRSS := rssMB(direct.cmd.Process.Pid)
	rt, stopEdge := startEdge(false)
	edgeURL := rt.URL() + "/hello/"
	eRPS := loadCount(t, edgeURL, total, conns)
	eRSS := rssMB(rt.Status().PID)
	t.Logf("memory after %d requests: direct RSS %.0f MB (%.0f req/s), edge RSS %.0f MB (%.0f req/s): %.2f× (goal ≤ 1.5×)",
		total, dRSS, dRPS, eRSS, eRPS, eRSS/dRSS)
	t.Logf("memory, like for like: direct with %v RSS %.0f MB (%.0f req/s): edge %.2f×", V8Flags, sRSS, sRPS, eRSS/sRSS)

	// 2. Throughput, alternating.
	// Besides req/s, each run reports workerd's CPU time (user + system) per
	// request: on a shared machine it moves far less than req/s, and while
	// workerd's one thread is the bottleneck the throughput ratio follows it.
	var ratios, cpuRatios []float64
	for i := range rounds {
		c0 := cpuTime(direct.cmd.Process.Pid)
		d, dn := load(t, directURL, dur, conns)
		c1 := cpuTime(direct.cmd.Process.Pid)
		e0 := cpuTime(rt.Status().PID)
		e, en := load(t, edgeURL, dur, conns)
		e1 := cpuTime(rt.Status().PID)
		dCPU, eCPU := perRequest(c1-c0, dn), perRequest(e1-e0, en)
		ratios = append(ratios, e/d)
		cpuRatios = append(cpuRatios, float64(dCPU)/float64(eCPU))
		t.Logf("round %d: direct %.0f req/s (%v CPU/req), edge %.0f req/s (%v CPU/req): %.2f× (CPU %.2f×)", i+1, d, dCPU, e, eCPU, e/d, cpuRatios[i])
	}
	sort.Float64s(ratios)
	sort.Float64s(cpuRatios)
	t.Logf("throughput: median %.2f× direct over %d rounds (min %.2f×, max %.2f×; goal ≥ 0.4×); emulation %v",
		ratios[len(ratios)/2], rounds, ratios[0], ratios[len(ratios)-1], emulate)
	t.Logf("workerd CPU per request: direct ÷ edge median %.2f× (min %.2f×, max %.2f×)", cpuRatios[len(cpuRatios)/2], cpuRatios[0], cpuRatios[len(cpuRatios)-1])
	t.Logf("RSS at the end: direct %.0f MB, edge %.0f MB", rssMB(direct.cmd.Process.Pid), rssMB(rt.Status().PID))
	direct.stop()
	stopEdge()

	// 3. JS time per request, traced.
	if os.Getenv("CLAW_BENCH_NOTRACE") != "" {
		return
	}
	d := min(dur, 5*time.Second)
	direct = startDirect(t, wd, true)
	load(t, "http://"+direct.addr+"/", d, conns)
	time.Sleep(300 * time.Millisecond)
	directJS := meanOf(direct.cpu.snapshot(), "main")
	direct.stop()
	rt, stopEdge = startEdge(true)
	rt.ResetCPUStats()
	load(t, rt.URL()+"/hello/", d, conns)
	time.Sleep(300 * time.Millisecond) // let the trace reader catch up
	disp, _ := rt.CPUStatsFor("dispatcher")
	tenant, _ := rt.CPUStatsFor("app-hello")
	cfgKV, _ := rt.CPUStatsFor("config-kv")
	stopEdge()
	t.Logf("JS per request (traced): direct %v; edge: dispatcher %v over %d requests (goal ≤ 100µs), tenant %v, config-kv reads %d",
		directJS, disp.Mean(), disp.Requests, tenant.Mean(), cfgKV.Requests)
}

// loadCount sends exactly n requests over conns keep-alive connections
// (wrk cannot stop at a count) and returns requests/s.
func loadCount(t *testing.T, url string, n, conns int) float64 {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	defer client.CloseIdleConnections()
	var next, bad, retried atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := client.Get(url)
				for tries := 0; err != nil && tries < 3; tries++ {
					// A keep-alive connection closed by workerd under load:
					// the request is sent again on a new one.
					retried.Add(1)
					resp, err = client.Get(url)
				}
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d of %d requests failed", bad.Load(), n)
	}
	if r := retried.Load(); r > 0 {
		t.Logf("%d requests were sent again after a closed connection", r)
	}
	return float64(n) / time.Since(start).Seconds()
}

func meanOf(ws []WorkerCPU, name string) time.Duration {
	for _, w := range ws {
		if w.Worker == name {
			return w.Mean()
		}
	}
	return 0
}

type directWorkerd struct {
	cmd  *exec.Cmd
	addr string
	cpu  *cpuStats
	stop func()
}

func startDirect(t *testing.T, wd string, traced bool, v8Flags ...string) *directWorkerd {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.js"), []byte(helloWorker), 0o644)
	os.WriteFile(filepath.Join(dir, "config.capnp"), []byte(`using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = (modules = [ (name = "hello.js", esModule = embed "hello.js") ], compatibilityDate = "2026-11-01")) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
  v8Flags = [ `+capnpList(v8Flags)+` ] );
`), 0o644)
	d := &directWorkerd{cpu: newCPUStats()}
	args := []string{"serve", "--experimental", "--control-fd", "3"}
	fifo := filepath.Join(dir, "trace.fifo")
	if traced {
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--async-trace", fifo)
	}
	ctlR, ctlW, _ := os.Pipe()
	d.cmd = exec.Command(wd, append(args, "config.capnp")...)
	d.cmd.Dir = dir
	d.cmd.ExtraFiles = []*os.File{ctlW}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctlW.Close()
	var tf *os.File
	if traced {
		var err error
		if tf, err = os.OpenFile(fifo, os.O_RDWR, 0); err != nil {
			t.Fatal(err)
		}
		go d.cpu.consume(tf)
	}
	d.stop = func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		if tf != nil {
			tf.Close()
		}
	}
	t.Cleanup(d.stop)
	sc := bufio.NewScanner(ctlR)
	for sc.Scan() {
		if m := regexp.MustCompile(`"port":(\d+)`).FindStringSubmatch(sc.Text()); m != nil {
			d.addr = "127.0.0.1:" + m[1]
			return d
		}
	}
	t.Fatal("direct workerd did not listen")
	return nil
}

// load drives url for dur and returns requests/s and the request count.
func load(t *testing.T, url string, dur time.Duration, conns int) (float64, int64) {
	if wrk, err := exec.LookPath("wrk"); err == nil {
		out, err := exec.Command(wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(dur.Seconds()))+"s", url).CombinedOutput()
		if err != nil {
			t.Fatalf("wrk: %v: %s", err, out)
		}
		rps := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindSubmatch(out)
		n := regexp.MustCompile(`(\d+) requests in`).FindSubmatch(out)
		if rps == nil || n == nil || strings.Contains(string(out), "Non-2xx") {
			t.Fatalf("wrk output: %s", out)
		}
		r, _ := strconv.ParseFloat(string(rps[1]), 64)
		c, _ := strconv.ParseInt(string(n[1]), 10, 64)
		return r, c
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns}
	client := &http.Client{Transport: tr}
	var count, bad atomic.Int64
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d failed requests", bad.Load())
	}
	return float64(count.Load()) / time.Since(start).Seconds(), count.Load()
}

// cpuTime is the user + system CPU time the process has used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): utime is the
	// 12th, stime the 13th, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func perRequest(d time.Duration, n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}
