package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/evanw/esbuild/pkg/api"
)

// sdkWorkerSource is the comparison: the official @x402/hono middleware as
// its README sets it up, one paid route and one free one.
const sdkWorkerSource = `
import { Hono } from "hono";
import { paymentMiddleware, x402ResourceServer } from "@x402/hono";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { HTTPFacilitatorClient } from "@x402/core/server";

// Workers allow no I/O at module scope, where the middleware would fetch
// the facilitator's /supported: build the app on the first request.
function build() {
  const facilitator = new HTTPFacilitatorClient({ url: __FACILITATOR_URL__ });
  const server = new x402ResourceServer(facilitator).register("eip155:84532", new ExactEvmScheme());
  const app = new Hono();
  app.use(paymentMiddleware({
    "GET /paid": { accepts: { scheme: "exact", price: "$0.01", network: "eip155:84532", payTo: __PAY_TO__ }, description: "A paid answer", mimeType: "text/plain" },
  }, server));
  app.get("/paid", (c) => c.text("hello"));
  app.get("/free", (c) => c.text("free"));
  return app;
}
let app;
export default {
  fetch(request, env, ctx) {
    app ??= build();
    return app.fetch(request, env, ctx);
  },
};
`

func bundleSDKWorker(t *testing.T, facilitatorURL string) string {
	t.Helper()
	res := api.Build(api.BuildOptions{
		Stdin:      &api.StdinOptions{Contents: sdkWorkerSource, ResolveDir: "../..", Loader: api.LoaderJS},
		Bundle:     true,
		Format:     api.FormatESModule,
		Platform:   api.PlatformBrowser,
		Conditions: []string{"workerd", "worker", "browser", "import"},
		Target:     api.ES2022,
		// nodejs_compat provides the Node built-ins the SDK imports.
		External: []string{"node:*", "cloudflare:*", "url", "crypto", "buffer", "stream", "util", "events", "path", "fs", "os", "http", "https", "zlib", "assert", "net", "tls", "process", "string_decoder", "async_hooks"},
		Define:   map[string]string{"__FACILITATOR_URL__": strconv.Quote(facilitatorURL), "__PAY_TO__": strconv.Quote(payTo)},
		Write:    false,
	})
	if len(res.Errors) > 0 {
		t.Fatalf("esbuild: %+v", res.Errors)
	}
	return string(res.OutputFiles[0].Contents)
}

type x402Bench struct {
	t      *testing.T
	e      *edgeEnv
	sdkURL string
	client *http.Client
	ours   x402.Requirements
	sdk    x402.Requirements
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startX402Bench(t *testing.T, wd, sdkModule, facURL string) *x402Bench {
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	t.Cleanup(srv.Close)
	sdkAddr := freePort(t)
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken, Namespace: testNS,
		ConfigKVNamespaceID: testConfigNS, DataDir: t.TempDir(), AsyncTrace: true, FacilitatorURL: facURL,
		Logger: benchLogger(),
		bench:  &benchService{addr: sdkAddr, module: sdkModule},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Stop(context.Background()) })
	b := &x402Bench{t: t, e: &edgeEnv{rt: rt, edge: fe}, sdkURL: "http://" + sdkAddr, client: &http.Client{Timeout: 20 * time.Second}}
	b.ours, _ = x402.Resolve(x402.DefaultNetwork, "10000", payTo)
	b.e.deploy("hello", helloWorker, nil, func(c *appConfig) {
		c.Routes = []map[string]any{
			{"method": "GET", "path": "/paid", "access": "x402", "settle": "after", "requirements": b.ours,
				"resource": map[string]any{"description": "A paid answer", "mimeType": "text/plain"}},
		}
	})
	// serve preloads an app after every write of its config document (the
	// local API's change hook); CLAW_BENCH_NOPRELOAD=1 measures without.
	if os.Getenv("CLAW_BENCH_NOPRELOAD") == "" {
		if _, err := rt.Preload(context.Background(), "hello"); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *x402Bench) get(url, sig string) (int, http.Header, string) {
	req, _ := http.NewRequest("GET", url, nil)
	if sig != "" {
		req.Header.Set("PAYMENT-SIGNATURE", sig)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func signFor(t *testing.T, req x402.Requirements, url string) string {
	key, _ := facilitator.DevWallet()
	nonce, err := facilitator.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, err := facilitator.SignPayment(key, req, &x402.Resource{URL: url}, now.Add(-10*time.Minute), now.Add(time.Duration(req.MaxTimeoutSeconds)*time.Second), nonce)
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodeHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// jsPerRequest is the JS time the named worker spent over a phase of n
// requests, Durable Object contexts of the worker included.
func (b *x402Bench) jsPerRequest(n int, workers ...string) time.Duration {
	// Let the PaymentLock's write-behind (FLUSH_MS = 250) run and the trace
	// reader catch up: the storage writes belong to this phase.
	time.Sleep(700 * time.Millisecond)
	var total time.Duration
	for _, w := range b.e.rt.CPUStats() {
		for _, name := range workers {
			if w.Worker == name {
				total += w.Total
			}
		}
	}
	return total / time.Duration(n)
}

// TestBenchX402 compares the JS time per request (workerd --async-trace) of
// the dispatcher's paywall with a worker built from the official @x402/hono
// middleware, in the same workerd, with the dev facilitator on loopback:
// a paid request, an unpaid 402, and the first request after start.
// Measurement only; runs with CLAW_BENCH=1 (CLAW_BENCH_X402_N requests per
// phase, default 300).
//
//	CLAW_BENCH=1 go test -run TestBenchX402 -v ./workers/runtime/
func TestBenchX402(t *testing.T) {
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
	n := 300
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_X402_N")); err == nil && v > 0 {
		n = v
	}
	f, err := facilitator.New(facilitator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fac := httptest.NewUnstartedServer(f)
	var facConns atomic.Int64
	fac.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			facConns.Add(1)
		}
	}
	fac.Start()
	defer fac.Close()
	defer func() { t.Logf("facilitator connections: %d", facConns.Load()) }()
	sdkModule := bundleSDKWorker(t, fac.URL)
	t.Logf("SDK worker bundle: %d KB", len(sdkModule)/1024)

	// Discovery run: the SDK's exact requirement (the client must copy it),
	// and the order free path → paid path right after a start.
	b := startX402Bench(t, wd, sdkModule, fac.URL)
	st, _, body := b.get(b.sdkURL+"/free", "")
	if st != 200 {
		t.Fatalf("SDK free path: %d %s", st, body)
	}
	st, hdr, body := b.get(b.sdkURL+"/paid", "")
	var pr x402.PaymentRequired
	if err := x402.DecodeHeader(hdr.Get("PAYMENT-REQUIRED"), &pr); err != nil || len(pr.Accepts) == 0 {
		t.Logf("SDK worker, first paid request after a free one: %d %.200s (the known SDK failure)", st, body)
		st, hdr, body = b.get(b.sdkURL+"/paid", "")
		if err := x402.DecodeHeader(hdr.Get("PAYMENT-REQUIRED"), &pr); err != nil || len(pr.Accepts) == 0 {
			t.Fatalf("SDK worker challenge: %d %s", st, body)
		}
	} else {
		t.Logf("SDK worker, first paid request after a free one: %d (challenge) — the SDK failure did not show", st)
	}
	sdkReq := pr.Accepts[0]
	t.Logf("SDK challenge header %d bytes; ours %d bytes", len(hdr.Get("PAYMENT-REQUIRED")), func() int {
		_, h, _ := b.get(b.e.rt.URL()+"/hello/paid", "")
		return len(h.Get("PAYMENT-REQUIRED"))
	}())
	b.e.rt.Stop(context.Background())

	// Measured run.
	b = startX402Bench(t, wd, sdkModule, fac.URL)
	b.sdk = sdkReq
	ourURL, sdkURL := b.e.rt.URL()+"/hello/paid", b.sdkURL+"/paid"
	// pair measures our dispatcher and the SDK worker on the same kind of
	// request, count each, and reads both at the end: whatever the
	// dispatcher does after its answer (the PaymentLock's write-behind, its
	// Durable Object turns) is counted as ours even when it runs during the
	// SDK worker's requests.
	pair := func(name string, ourReq, sdkReq *x402.Requirements, count int) (time.Duration, time.Duration) {
		sign := func(req *x402.Requirements, url string) []string {
			sigs := make([]string, count)
			if req != nil {
				for i := range sigs {
					sigs[i] = signFor(t, *req, url)
				}
			}
			return sigs
		}
		ourSigs, sdkSigs := sign(ourReq, ourURL), sign(sdkReq, sdkURL)
		want := 402
		if ourReq != nil {
			want = 200
		}
		time.Sleep(700 * time.Millisecond)
		b.e.rt.ResetCPUStats()
		// One block each, ours first: alternating request by request made
		// both slower (each evicts the other's code from the CPU caches) and
		// the ratio worse for the dispatcher, whose request also runs the
		// tenant's isolate (README, Benchmark).
		for _, side := range []struct {
			url  string
			sigs []string
		}{{ourURL, ourSigs}, {sdkURL, sdkSigs}} {
			for i := range count {
				if st, _, body := b.get(side.url, side.sigs[i]); st != want {
					t.Fatalf("%s %s: %d %.300s, want %d", name, side.url, st, body, want)
				}
			}
		}
		o := b.jsPerRequest(count, "dispatcher")
		d := b.jsPerRequest(count, "bench-worker")
		var detail []string
		for _, w := range b.e.rt.CPUStats() {
			detail = append(detail, fmt.Sprintf("%s %d ctx %v", w.Worker, w.Requests, w.Total))
		}
		t.Logf("%-8s dispatcher %8v, SDK worker %8v JS/request  (%s)", name, o.Round(time.Microsecond), d.Round(time.Microsecond), strings.Join(detail, "; "))
		return o, d
	}
	firstOurs, firstSDK := pair("first", &b.ours, &b.sdk, 1)
	pair("warm-up", &b.ours, &b.sdk, 100)
	paidOurs, paidSDK := pair("paid", &b.ours, &b.sdk, n)
	unpaidOurs, unpaidSDK := pair("unpaid", nil, nil, n*3)
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	t.Logf("paid   %v vs %v: %.2f× (goal ≤ 0.5×)", paidOurs.Round(time.Microsecond), paidSDK.Round(time.Microsecond), ratio(paidOurs, paidSDK))
	t.Logf("unpaid %v vs %v: %.2f× (goal ≤ 0.6×)", unpaidOurs.Round(time.Microsecond), unpaidSDK.Round(time.Microsecond), ratio(unpaidOurs, unpaidSDK))
	t.Logf("first  %v vs %v: %.2f× (goal ≤ 0.2×)", firstOurs.Round(time.Microsecond), firstSDK.Round(time.Microsecond), ratio(firstOurs, firstSDK))
	out, _ := json.Marshal(map[string]any{"paid": []any{paidOurs.Microseconds(), paidSDK.Microseconds()},
		"unpaid": []any{unpaidOurs.Microseconds(), unpaidSDK.Microseconds()}, "first": []any{firstOurs.Microseconds(), firstSDK.Microseconds()}})
	t.Logf("µs: %s", out)
}

func benchLogger() *slog.Logger {
	if os.Getenv("CLAW_TEST_WORKERD_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
