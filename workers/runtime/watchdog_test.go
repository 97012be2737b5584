package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The watchdog's tests run their own workerd (the watchdog kills it) on a
// fixed port, as serve does: clients keep the address across the restart.

type watched struct {
	*edgeEnv
	runaways chan Runaway
	url      string
}

func startWatched(t *testing.T) *watched {
	t.Helper()
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w := &watched{runaways: make(chan Runaway, 4), url: "http://" + addr}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CLAW_TEST_WORKERD_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: addr, EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken, Namespace: testNS, ConfigKVNamespaceID: testConfigNS,
		DataDir: t.TempDir(), Logger: logger, AsyncTrace: true, SubrequestEmulation: true, ConfigCacheTTL: -1,
		OnRunaway: func(r Runaway) { w.runaways <- r },
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(ctx)
	})
	w.edgeEnv = &edgeEnv{rt: rt, edge: fe}
	return w
}

// get asks the edge once, on a new connection.
func (w *watched) get(path string, timeout time.Duration) (int, string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(w.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (w *watched) must(t *testing.T, path, want string) {
	t.Helper()
	status, body, err := w.get(path, 10*time.Second)
	if err != nil || status != 200 || body != want {
		t.Fatalf("GET %s: %d %q %v, want 200 %q", path, status, body, err, want)
	}
}

// fire sends a request whose answer nobody waits for (the watchdog ends it).
func (w *watched) fire(path string) {
	go w.get(path, 20*time.Second)
}

// recovery polls path until it answers want and returns when it did.
func (w *watched) recovery(t *testing.T, path, want string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		status, body, err := w.get(path, time.Until(deadline))
		if err == nil && status == 200 && body == want {
			return time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET %s did not answer %q within %s of the runaway: the edge did not recover (status %+v)", path, want, within, w.rt.Status())
	return time.Time{}
}

func (w *watched) runaway(t *testing.T) Runaway {
	t.Helper()
	select {
	case r := <-w.runaways:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("OnRunaway was not called")
		return Runaway{}
	}
}

func (w *watched) noRunaway(t *testing.T) {
	t.Helper()
	select {
	case r := <-w.runaways:
		t.Fatalf("the watchdog stopped workerd: %+v", r)
	default:
	}
	if st := w.rt.Status(); st.Stalls != 0 || st.Restarts != 0 {
		t.Fatalf("workerd was restarted: %+v", st)
	}
}

const calmWorker = `export default { fetch() { return new Response("calm"); } };`

const spinWorker = `export default { fetch(req) {
  if (new URL(req.url).pathname === "/go") { while (true) {} }
  return new Response("ready");
} };`

// H2: one tenant's while(true) stalled every tenant for good. Now the
// watchdog restarts workerd, names the tenant, and the others answer again.
func TestWatchdogStopsARunaway(t *testing.T) {
	w := startWatched(t)
	w.deploy("spin", spinWorker, nil, nil)
	w.deploy("calm", calmWorker, nil, nil)
	w.must(t, "/spin/", "ready")
	w.must(t, "/calm/", "calm")

	started := time.Now()
	w.fire("/spin/go")
	time.Sleep(100 * time.Millisecond) // the loop has begun: calm's requests now wait
	back := w.recovery(t, "/calm/", "calm", 5*time.Second)
	r := w.runaway(t)
	t.Logf("measured: another tenant answered again %v after the runaway began (stall detected after %v, %v of CPU)",
		back.Sub(started).Round(time.Millisecond), r.Stalled.Round(time.Millisecond), r.CPU.Round(time.Millisecond))
	if r.Script != "app-spin" || r.Slug != "spin" || !reflect.DeepEqual(r.Suspects, []string{"app-spin"}) {
		t.Errorf("runaway %+v, want app-spin (spin) alone", r)
	}
	if st := w.rt.Status(); st.Stalls != 1 || !st.Running || !strings.Contains(st.LastError, "app-spin") {
		t.Errorf("status %+v", st)
	}
	// The restart does not back off, and the edge keeps working.
	w.must(t, "/spin/", "ready")
	w.must(t, "/calm/", "calm")
}

// A loop after the response, in ctx.waitUntil, is the tenant's too.
func TestWatchdogStopsARunawayAfterTheResponse(t *testing.T) {
	w := startWatched(t)
	w.deploy("tail", `export default { fetch(req, env, ctx) {
  if (new URL(req.url).pathname === "/go") {
    ctx.waitUntil(new Promise((r) => setTimeout(r, 100)).then(() => { while (true) {} }));
    return new Response("answered");
  }
  return new Response("ready");
} };`, nil, nil)
	w.deploy("calm", calmWorker, nil, nil)
	w.must(t, "/tail/", "ready")
	w.must(t, "/calm/", "calm")
	w.must(t, "/tail/go", "answered")
	w.recovery(t, "/calm/", "calm", 5*time.Second)
	if r := w.runaway(t); r.Script != "app-tail" {
		t.Errorf("runaway %+v, want app-tail", r)
	}
}

// A loop in a module's top level runs when the app is loaded: by the first
// request, or by a preload after a deploy.
func TestWatchdogStopsARunawayTopLevel(t *testing.T) {
	w := startWatched(t)
	w.deploy("calm", calmWorker, nil, nil)
	w.must(t, "/calm/", "calm")
	w.deploy("top", `while (true) {} export default { fetch() { return new Response("never"); } };`, nil, nil)
	go w.rt.Preload(context.Background(), "top")
	time.Sleep(100 * time.Millisecond)
	w.recovery(t, "/calm/", "calm", 5*time.Second)
	if r := w.runaway(t); r.Script != "app-top" {
		t.Errorf("runaway %+v, want app-top", r)
	}
}

// Waiting is not running: a request waiting on a timer, or working in short
// slices, is never stopped, and the others are served meanwhile.
func TestWatchdogSparesBusyButYieldingRequests(t *testing.T) {
	w := startWatched(t)
	w.deploy("slow", `export default { async fetch(req) {
  const p = new URL(req.url).pathname;
  if (p === "/wait") { await new Promise((r) => setTimeout(r, 2500)); return new Response("waited"); }
  if (p === "/slices") {
    // 8 slices of 250 ms of JavaScript: 2 s in all, yielding in between.
    for (let i = 0; i < 8; i++) { const end = Date.now() + 250; while (Date.now() < end) {} await new Promise((r) => setTimeout(r, 1)); }
    return new Response("sliced");
  }
  return new Response("ready");
} };`, nil, nil)
	w.deploy("calm", calmWorker, nil, nil)
	w.must(t, "/slow/", "ready")
	w.must(t, "/calm/", "calm")

	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for path, want := range map[string]string{"/slow/wait": "waited", "/slow/slices": "sliced"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body, err := w.get(path, 20*time.Second); err != nil || status != 200 || body != want {
				errs <- fmt.Sprintf("GET %s: %d %q %v", path, status, body, err)
			}
		}()
	}
	var slowest time.Duration
	for i := 0; i < 10; i++ {
		time.Sleep(200 * time.Millisecond)
		t0 := time.Now()
		w.must(t, "/calm/", "calm")
		slowest = max(slowest, time.Since(t0))
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	t.Logf("measured: calm's slowest answer while the others ran: %v", slowest.Round(time.Millisecond))
	w.noRunaway(t)
}

// A tenant that cannot be told apart from another tenant's request in flight
// is never blamed, whatever the attacker does to look idle: contexts it opens
// into its own isolate, marks it forges on stdout, a loop it starts after
// its response.
func TestWatchdogNeverBlamesABystander(t *testing.T) {
	w := startWatched(t)
	w.deploy("victim", `export default { async fetch(req) {
  if (new URL(req.url).pathname === "/wait") { await new Promise((r) => setTimeout(r, 5000)); return new Response("waited"); }
  return new Response("ready");
} };`, nil, nil)
	w.deploy("sneaky", `export default { async fetch(req, env, ctx) {
  const p = new URL(req.url).pathname;
  if (p === "/go") {
    for (let i = 0; i < 5; i++) await (await ctx.exports.default.fetch("http://self/ping")).text();
    for (const m of ["-", "+"]) console.log("\nclaw-watch-00000000000000000000000000000000 " + m + " app-sneaky sneaky");
    console.log("\n - app-sneaky sneaky");
    ctx.waitUntil(new Promise((r) => setTimeout(r, 300)).then(() => { while (true) {} }));
    return new Response("answered");
  }
  return new Response("ready");
} };`, nil, nil)
	w.deploy("calm", calmWorker, nil, nil)
	w.must(t, "/victim/", "ready")
	w.must(t, "/sneaky/", "ready")
	w.fire("/victim/wait")
	time.Sleep(200 * time.Millisecond)
	w.must(t, "/sneaky/go", "answered")
	w.recovery(t, "/calm/", "calm", 5*time.Second)
	r := w.runaway(t)
	if r.Script != "" || !reflect.DeepEqual(r.Suspects, []string{"app-sneaky", "app-victim"}) {
		t.Errorf("runaway %+v, want nobody blamed, suspects app-sneaky and app-victim", r)
	}
}

// A tenant's console.log of any size never stops the reading of workerd's
// output (workerd would block on the full pipe, every tenant with it).
func TestWatchdogHugeLogLine(t *testing.T) {
	w := startWatched(t)
	w.deploy("loud", `export default { fetch() {
  console.log("x".repeat(3000000));
  for (let i = 0; i < 50; i++) console.log("y".repeat(100000));
  return new Response("said");
} };`, nil, nil)
	w.deploy("calm", calmWorker, nil, nil)
	w.must(t, "/loud/", "said")
	w.must(t, "/loud/", "said")
	w.must(t, "/calm/", "calm")
	w.noRunaway(t)
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("a", maxLine+10)
	cases := []struct {
		in   string
		want []string
	}{
		{"one\ntwo\n", []string{"one", "two"}},
		{"crlf\r\nlast without newline", []string{"crlf", "last without newline"}},
		{"\n\nx\n", []string{"", "", "x"}},
		{long + "\nafter\n", []string{strings.Repeat("a", maxLine) + " …(line cut at 64 KiB)", "after"}},
		{long, []string{strings.Repeat("a", maxLine) + " …(line cut at 64 KiB)"}},
	}
	for i, c := range cases {
		var got []string
		readLines(strings.NewReader(c.in), func(s string) { got = append(got, s) })
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("case %d: got %d lines %.80q, want %.80q", i, len(got), got, c.want)
		}
	}
}

func TestFlightsSuspects(t *testing.T) {
	type step struct{ mark, end string }
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"idle", nil, nil},
		{"running", []step{{mark: "+ app-a a"}}, []string{"app-a"}},
		{"ended", []step{{mark: "+ app-a a"}, {end: "app-a"}}, nil},
		{"ended before its call was read", []step{{end: "app-a"}, {mark: "+ app-a a"}}, nil},
		{"second call running", []step{{mark: "+ app-a a"}, {end: "app-a"}, {mark: "+ app-a a"}}, []string{"app-a"}},
		{"two running", []step{{mark: "+ app-b b"}, {mark: "+ app-a a"}}, []string{"app-a", "app-b"}},
		{"one of two ended", []step{{mark: "+ app-b b"}, {mark: "+ app-a a"}, {end: "app-a"}}, []string{"app-b"}},
		{"other workers' contexts", []step{{mark: "+ app-a a"}, {end: "dispatcher"}, {end: "claw-outbound"}}, []string{"app-a"}},
		{"malformed marks", []step{{mark: "+ app-a"}, {mark: "- app-a a"}, {mark: "+ app-a a 1"}, {mark: ""}}, nil},
	}
	for _, c := range cases {
		f := newFlights()
		for _, s := range c.steps {
			if s.end != "" {
				f.end(s.end)
			} else {
				f.mark(" " + s.mark)
			}
		}
		if got := f.suspects(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: suspects %v, want %v", c.name, got, c.want)
		}
	}
}
