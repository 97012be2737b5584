package runtime

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testNS       = "claw-test"
	testConfigNS = "config-ns"
)

// edgeEnv is one workerd shared by the package's tests: starting workerd
// takes about a second, and every test uses its own apps.
type edgeEnv struct {
	rt      *Runtime
	edge    *fakeEdge
	ingest  *ingestServer
	allowed *httptest.Server
	client  *http.Client
}

var (
	sharedOnce sync.Once
	shared     *edgeEnv
	sharedErr  error
	cleanups   []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

type ingestServer struct {
	*httptest.Server
	mu          sync.Mutex
	events      []map[string]any
	logs        []map[string]any
	bad         int
	settlements []map[string]any // the payment lock's outbox records
}

func newIngest() *ingestServer {
	s := &ingestServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer ingest-secret" {
			s.bad++
			w.WriteHeader(401)
			return
		}
		var body struct {
			Events      []map[string]any `json:"events"`
			Logs        []map[string]any `json:"logs"`
			Settlements []map[string]any `json:"settlements"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			s.bad++
			w.WriteHeader(400)
			return
		}
		s.events = append(s.events, body.Events...)
		s.logs = append(s.logs, body.Logs...)
		s.settlements = append(s.settlements, body.Settlements...)
		w.WriteHeader(204)
	}))
	return s
}

// waitEvent polls for an event matching pred (events leave through
// waitUntil, after the response).
func (s *ingestServer) waitEvent(t *testing.T, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, e := range s.events {
			if pred(e) {
				s.mu.Unlock()
				return e
			}
		}
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no matching telemetry event arrived")
	return nil
}

func edge(t *testing.T) *edgeEnv {
	t.Helper()
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	sharedOnce.Do(func() {
		e := &edgeEnv{edge: newFakeEdge(), ingest: newIngest(), client: &http.Client{Timeout: 20 * time.Second}}
		edgeSrv := httptest.NewServer(e.edge)
		e.allowed = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "allowed:"+r.URL.Path)
		}))
		cleanups = append(cleanups, edgeSrv.Close, e.ingest.Close, e.allowed.Close)
		dir, err := os.MkdirTemp("", "claw-runtime-test")
		if err != nil {
			sharedErr = err
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		if os.Getenv("CLAW_TEST_WORKERD_LOG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		e.rt, sharedErr = Start(context.Background(), Options{
			WorkerdPath:         wd,
			ListenAddr:          "127.0.0.1:0",
			EdgeAPIURL:          edgeSrv.URL,
			EdgeAPIToken:        testRuntimeToken,
			PrivateEgress:       true, // e.allowed, the tests' upstream, is on loopback
			TrustClientIP:       true, // tests tell callers apart by CF-Connecting-IP, as a proxy in front would
			Namespace:           testNS,
			ConfigKVNamespaceID: testConfigNS,
			BaseDomain:          "localhost",
			IngestURL:           e.ingest.URL + "/ingest",
			IngestToken:         "ingest-secret",
			DataDir:             dir,
			Logger:              logger,
			AsyncTrace:          true,
			SubrequestEmulation: true,
			ConfigCacheTTL:      -1, // tests rewrite configs and expect the next request to see them
		})
		if sharedErr == nil {
			rt := e.rt
			cleanups = append(cleanups, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				rt.Stop(ctx)
			})
		}
		shared = e
	})
	if sharedErr != nil {
		t.Fatalf("starting the runtime: %v", sharedErr)
	}
	return shared
}

type appConfig struct {
	V             int              `json:"v"`
	ConfigVersion int              `json:"config_version"`
	Slug          string           `json:"slug"`
	Script        string           `json:"script"`
	Etag          string           `json:"etag"`
	TenantID      int              `json:"tenant_id"`
	Status        string           `json:"status"`
	Reason        string           `json:"reason"`
	Plan          map[string]any   `json:"plan"`
	Routes        []map[string]any `json:"routes"`
	APIKeys       []string         `json:"api_keys"`
	Egress        []string         `json:"egress"`
	KV            map[string]any   `json:"kv"`
}

// deploy uploads src as the app's script and writes its config document,
// like the portal's write-through does.
func (e *edgeEnv) deploy(slug, src string, bindings []map[string]any, edit func(*appConfig)) appConfig {
	script := "app-" + slug
	etag := ""
	if src != "" {
		etag = e.edge.putScript(testNS, script, src, bindings)
	}
	cfg := appConfig{V: 1, ConfigVersion: 1, Slug: slug, Script: script, Etag: etag, TenantID: 3, Status: "active",
		Plan: map[string]any{"key": "free", "cpuMs": 50, "subRequests": 10}, Routes: []map[string]any{}, APIKeys: []string{}, Egress: []string{}}
	if edit != nil {
		edit(&cfg)
	}
	e.writeConfig(cfg)
	return cfg
}

func (e *edgeEnv) writeConfig(cfg appConfig) {
	b, _ := json.Marshal(cfg)
	e.edge.putKV(testConfigNS, "app:"+cfg.Slug, b)
}

type result struct {
	status int
	header http.Header
	body   string
}

func (r result) errorCode() string {
	var v struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal([]byte(r.body), &v)
	return v.Error.Code
}

// do sends one HTTP/1.1 request written by hand, so that paths like "//app"
// and any Host header reach workerd exactly as given.
func (e *edgeEnv) do(t *testing.T, method, host, path string, hdr map[string]string) result {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.rt.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if host == "" {
		host = e.rt.Addr()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.80s (host %q): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(body)}
}

const echoWorker = `export default { async fetch(req, env) {
  const u = new URL(req.url);
  return Response.json({ path: u.pathname, search: u.search, fwd: req.headers.get("x-forwarded-path"), greeting: env.GREETING ?? null, secret: env.TOKEN ?? null });
} };`

func TestRouting(t *testing.T) {
	e := edge(t)
	e.deploy("echo", echoWorker, nil, nil)
	longPath := "/" + strings.Repeat("a", 3000)
	longQuery := "?q=" + strings.Repeat("b", 6000)
	cases := []struct {
		name, host, path string
		status           int
		code             string // error code, when the edge answers itself
		wantPath         string // the path the tenant saw
	}{
		{"path", "", "/echo/x/y", 200, "", "/x/y"},
		{"path root of app", "", "/echo", 200, "", "/"},
		{"path trailing slash", "", "/echo/", 200, "", "/"},
		{"double slash", "", "//echo/x", 200, "", "/x"},
		{"upper case app", "", "/ECHO/x", 200, "", "/x"},
		{"index", "", "/", 404, "no_app", ""},
		{"not a slug", "", "/ab/x", 404, "no_app", ""},
		{"encoded slug", "", "/%65cho/x", 404, "no_app", ""},
		{"host", "echo.localhost", "/x", 200, "", "/x"},
		{"host with port", "echo.localhost:8787", "/x", 200, "", "/x"},
		{"host trailing dot", "echo.localhost.", "/x", 200, "", "/x"},
		{"host upper case", "ECHO.LOCALHOST", "/x", 200, "", "/x"},
		{"punycode host", "xn--bcher-kva.localhost", "/x", 404, "app_not_found", ""},
		{"host keeps the full path", "echo.localhost", "/echo/x", 200, "", "/echo/x"},
		{"other host falls back to the path", "example.com", "/echo/x", 200, "", "/x"},
		{"long path", "", "/echo" + longPath, 200, "", longPath},
		{"long query", "", "/echo/q" + longQuery, 200, "", "/q"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, "GET", c.host, c.path, nil)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "PAYMENT-RESPONSE") {
				t.Errorf("expose headers %q", got)
			}
			if c.code != "" {
				if r.errorCode() != c.code {
					t.Fatalf("error code %q, want %q: %s", r.errorCode(), c.code, r.body)
				}
				return
			}
			var got struct{ Path, Search, Fwd string }
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("tenant body: %v: %s", err, r.body)
			}
			if got.Path != c.wantPath {
				t.Errorf("tenant saw path %.60q, want %.60q", got.Path, c.wantPath)
			}
			wantFwd, _, _ := strings.Cut(c.path, "?")
			if got.Fwd != wantFwd {
				t.Errorf("x-forwarded-path %.60q, want %.60q", got.Fwd, wantFwd)
			}
			if strings.Contains(c.path, "?") && got.Search != longQuery {
				t.Errorf("query lost: %.60q", got.Search)
			}
		})
	}
}

// TestEdgeFavicon: a browser's /favicon.ico on a URL with no app gets the edge's icon, not
// 404 no_app; an app's own /favicon.ico still reaches the app.
func TestEdgeFavicon(t *testing.T) {
	e := edge(t)
	e.deploy("echo", echoWorker, nil, nil)
	r := e.do(t, "GET", "", "/favicon.ico", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(r.body, "<svg") {
		t.Fatalf("edge /favicon.ico: %d %q %.80s", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = e.do(t, "GET", "echo.localhost", "/favicon.ico", nil)
	if r.status != 200 || !strings.Contains(r.body, `"path":"/favicon.ico"`) {
		t.Fatalf("the app's own /favicon.ico: %d %.120s", r.status, r.body)
	}
}

func TestAppStatus(t *testing.T) {
	e := edge(t)
	e.deploy("suspended-app", echoWorker, nil, func(c *appConfig) { c.Status = "suspended"; c.Reason = "Unpaid invoice." })
	e.deploy("paused-app", echoWorker, nil, func(c *appConfig) { c.Status = "paused" })
	e.deploy("undeployed", "", nil, nil)
	cases := []struct {
		path   string
		status int
		code   string
		msg    string
	}{
		{"/no-such-app/x", 404, "app_not_found", ""},
		{"/suspended-app/x", 403, "app_suspended", "Unpaid invoice."},
		{"/paused-app/x", 403, "app_paused", ""},
		{"/undeployed/x", 404, "app_not_deployed", ""},
	}
	for _, c := range cases {
		r := e.do(t, "GET", "", c.path, nil)
		if r.status != c.status || r.errorCode() != c.code || !strings.Contains(r.body, c.msg) {
			t.Errorf("%s: %d %s, want %d %s %q", c.path, r.status, r.body, c.status, c.code, c.msg)
		}
	}
}

func TestPreflight(t *testing.T) {
	e := edge(t)
	r := e.do(t, "OPTIONS", "", "/whatever-app/x", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
	if r.status != 204 {
		t.Fatalf("preflight status %d", r.status)
	}
	allow := r.header.Get("Access-Control-Allow-Headers")
	for _, h := range []string{"PAYMENT-SIGNATURE", "X-API-Key", "Authorization", "Content-Type"} {
		if !strings.Contains(allow, h) {
			t.Errorf("allow headers %q lack %s", allow, h)
		}
	}
}

func TestWorkerFailures(t *testing.T) {
	e := edge(t)
	e.deploy("thrower", `export default { fetch() { throw new Error("secret internals /srv/db.js:12"); } };`, nil, nil)
	r := e.do(t, "GET", "", "/thrower/", nil)
	if r.status != 500 || r.errorCode() != "worker_exception" || strings.Contains(r.body, "secret") {
		t.Fatalf("throwing worker: %d %s", r.status, r.body)
	}
	e.deploy("spinner", `export default { fetch() { const end = Date.now() + 60; let x = 0; while (Date.now() < end) x++; return new Response("spun " + x); } };`, nil, nil)
	r = e.do(t, "GET", "", "/spinner/", nil)
	if r.status != 200 {
		t.Fatalf("spinning worker: %d %s (CPU limits are not enforced locally)", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, ok := e.rt.CPUStatsFor("app-spinner")
		if ok && st.Requests >= 1 {
			if st.Max < 50*time.Millisecond || st.Max > 5*time.Second {
				t.Fatalf("measured %v for a 60 ms spin", st.Max)
			}
			t.Logf("spinner JS time %v", st.Max)
			// The same measurement waits for the request's telemetry event, once.
			d, ok := e.rt.TakeRequestCPU("app-spinner")
			if !ok || d < 50*time.Millisecond || d != st.Max {
				t.Fatalf("TakeRequestCPU = %v %v, want the measured %v", d, ok, st.Max)
			}
			if d, ok := e.rt.TakeRequestCPU("app-spinner"); ok {
				t.Fatalf("a second TakeRequestCPU gave %v: one request, one measurement", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CPU measurement for app-spinner; have %+v", e.rt.CPUStats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSubrequestLimit(t *testing.T) {
	e := edge(t)
	src := `export default { async fetch(req) {
  const n = Number(new URL(req.url).searchParams.get("n"));
  const target = new URL(req.url).searchParams.get("t");
  for (let i = 0; i < n; i++) { try { await (await fetch(target + "/" + i)).text(); } catch {} }
  return new Response("did " + n);
} };`
	e.deploy("fetcher", src, nil, func(c *appConfig) { c.Egress = []string{"127.0.0.1"} })
	r := e.do(t, "GET", "", "/fetcher/?n=10&t="+e.allowed.URL, nil)
	if r.status != 200 || r.body != "did 10" {
		t.Fatalf("10 subrequests on a 10 plan: %d %s", r.status, r.body)
	}
	if r.header.Get("X-Claw-Subrequests") != "" {
		t.Errorf("internal usage header leaked to the client")
	}
	r = e.do(t, "GET", "", "/fetcher/?n=11&t="+e.allowed.URL, nil)
	if r.status != 429 || r.errorCode() != "subrequest_limit_exceeded" {
		t.Fatalf("11 subrequests on a 10 plan: %d %s", r.status, r.body)
	}
	e.ingest.waitEvent(t, func(ev map[string]any) bool {
		return ev["app"] == "fetcher" && ev["subrequests"] == float64(10) && ev["status_code"] == float64(200)
	})
}

func TestEgress(t *testing.T) {
	e := edge(t)
	src := `export default { async fetch(req) {
  const r = await fetch(new URL(req.url).searchParams.get("t"));
  return new Response(await r.text(), { status: r.status });
} };`
	e.deploy("egress-app", src, nil, func(c *appConfig) { c.Egress = []string{"api.example.com", "127.0.0.1"} })
	r := e.do(t, "GET", "", "/egress-app/?t="+e.allowed.URL+"/ok", nil)
	if r.status != 200 || r.body != "allowed:/ok" {
		t.Fatalf("allowed egress: %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "", "/egress-app/?t=http://blocked.example.net/x", nil)
	if r.status != 403 || !strings.Contains(r.body, "blocked.example.net") || r.errorCode() != "egress_blocked" {
		t.Fatalf("blocked egress: %d %s", r.status, r.body)
	}
	e.ingest.waitEvent(t, func(ev map[string]any) bool {
		return ev["app"] == "egress-app" && ev["error_code"] == "egress_blocked" && ev["host"] == "blocked.example.net"
	})
	// The allowlist is part of the loaded worker: changing it takes effect
	// on the next request.
	e.deploy("egress-app", src, nil, func(c *appConfig) { c.Egress = []string{"api.example.com"} })
	r = e.do(t, "GET", "", "/egress-app/?t="+e.allowed.URL+"/ok", nil)
	if r.status != 403 {
		t.Fatalf("egress after removing 127.0.0.1: %d %s", r.status, r.body)
	}
}

func TestHotSwap(t *testing.T) {
	e := edge(t)
	// A nonce keeps the etags new when the test runs again in one process.
	nonce := fmt.Sprintf("// %d\n", time.Now().UnixNano())
	before := e.edge.reads(testNS, "app-swapper")
	e.deploy("swapper", nonce+`export default { fetch() { return new Response("one"); } };`, nil, nil)
	if r := e.do(t, "GET", "", "/swapper/", nil); r.body != "one" {
		t.Fatalf("first version: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "", "/swapper/", nil); r.body != "one" {
		t.Fatalf("first version again: %d %s", r.status, r.body)
	}
	if n := e.edge.reads(testNS, "app-swapper") - before; n != 1 {
		t.Errorf("script read %d times for two requests of one etag, want 1", n)
	}
	e.deploy("swapper", nonce+`export default { fetch() { return new Response("two"); } };`, nil, nil)
	if r := e.do(t, "GET", "", "/swapper/", nil); r.body != "two" {
		t.Fatalf("after re-upload: %d %s", r.status, r.body)
	}
}

func TestVarsAndKV(t *testing.T) {
	e := edge(t)
	src := `export default { async fetch(req, env) {
  const u = new URL(req.url);
  if (u.pathname === "/put") { await env.KV.put(u.searchParams.get("k"), u.searchParams.get("v"), { metadata: { by: "test" } }); return new Response("ok"); }
  if (u.pathname === "/get") { const { value, metadata } = await env.KV.getWithMetadata(u.searchParams.get("k")); return Response.json({ value, metadata }); }
  if (u.pathname === "/list") { const l = await env.KV.list({ prefix: u.searchParams.get("p") || "" }); return Response.json(l.keys.map(k => k.name)); }
  if (u.pathname === "/del") { await env.KV.delete(u.searchParams.get("k")); return new Response("ok"); }
  return Response.json({ greeting: env.GREETING, token: env.TOKEN, cfg: env.SETTINGS });
} };`
	for _, app := range []string{"kv-one", "kv-two"} {
		e.deploy(app, src, []map[string]any{
			{"type": "plain_text", "name": "GREETING", "text": "hi " + app},
			{"type": "secret_text", "name": "TOKEN", "text": "s3cret"},
			{"type": "json", "name": "SETTINGS", "json": map[string]any{"n": 1}},
			{"type": "kv_namespace", "name": "KV", "namespace_id": "ns-" + app},
		}, func(c *appConfig) { c.KV = map[string]any{"namespace_id": "ns-" + app} })
	}
	r := e.do(t, "GET", "", "/kv-one/", nil)
	if r.body != `{"greeting":"hi kv-one","token":"s3cret","cfg":{"n":1}}` {
		t.Fatalf("vars: %d %s", r.status, r.body)
	}
	steps := []struct{ path, want string }{
		{"/kv-one/put?k=color&v=blue", "ok"},
		{"/kv-one/put?k=colour&v=navy", "ok"},
		{"/kv-two/put?k=color&v=red", "ok"},
		{"/kv-one/get?k=color", `{"value":"blue","metadata":{"by":"test"}}`},
		{"/kv-two/get?k=color", `{"value":"red","metadata":{"by":"test"}}`},
		{"/kv-two/get?k=colour", `{"value":null,"metadata":null}`},
		{"/kv-one/list?p=col", `["color","colour"]`},
		{"/kv-two/list", `["color"]`},
		{"/kv-one/del?k=color", "ok"},
		{"/kv-one/get?k=color", `{"value":null,"metadata":null}`},
	}
	for _, s := range steps {
		if r := e.do(t, "GET", "", s.path, nil); r.status != 200 || r.body != s.want {
			t.Fatalf("%s: %d %s, want %s", s.path, r.status, r.body, s.want)
		}
	}
	if v, ok := e.edge.getKV("ns-kv-two", "color"); !ok || string(v) != "red" {
		t.Errorf("kv-two's value is not in its own namespace: %q %v", v, ok)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestAPIKeyAccess(t *testing.T) {
	e := edge(t)
	route := func(access, path string) map[string]any {
		r := map[string]any{"method": "GET", "path": path, "access": access, "settle": "after"}
		if access == "x402" {
			r["requirements"] = map[string]any{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
				"asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
				"maxTimeoutSeconds": 60, "extra": map[string]any{"name": "USDC", "version": "2"}}
		}
		return r
	}
	cfg := e.deploy("keyed", echoWorker, nil, func(c *appConfig) {
		c.Routes = []map[string]any{route("api_key", "/private/*"), route("x402", "/paid"), route("public", "/open")}
		c.APIKeys = []string{sha("good-key"), sha("revoked-key")}
	})
	cfg.APIKeys = []string{sha("good-key")} // the tenant revoked a key
	e.writeConfig(cfg)
	cases := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"good key header", "/keyed/private/a", map[string]string{"X-API-Key": "good-key"}, 200, ""},
		{"good key bearer", "/keyed/private/a", map[string]string{"Authorization": "Bearer good-key"}, 200, ""},
		{"bad key", "/keyed/private/a", map[string]string{"X-API-Key": "nope"}, 403, "api_key_invalid"},
		{"revoked key", "/keyed/private/a", map[string]string{"X-API-Key": "revoked-key"}, 403, "api_key_invalid"},
		{"missing key", "/keyed/private", nil, 401, "api_key_required"},
		{"public route", "/keyed/open", nil, 200, ""},
		{"unmatched path is public", "/keyed/elsewhere", nil, 200, ""},
		{"x402 route", "/keyed/paid", nil, 402, "payment_required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, "GET", "", c.path, c.hdr)
			if r.status != c.status || (c.code != "" && r.errorCode() != c.code) {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
}

func TestTelemetry(t *testing.T) {
	e := edge(t)
	e.deploy("tele", echoWorker, nil, func(c *appConfig) {
		c.TenantID = 77
		c.Routes = []map[string]any{{"method": "GET", "path": "/users/:id", "access": "public"}}
	})
	e.do(t, "GET", "", "/tele/users/5", nil)
	ev := e.ingest.waitEvent(t, func(ev map[string]any) bool { return ev["app"] == "tele" })
	want := map[string]any{"tenant_id": float64(77), "worker_name": "app-tele", "route": "GET /users/:id", "method": "GET",
		"status_code": float64(200), "error_code": nil, "payment_required": false, "payment_success": false}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %s = %#v, want %#v (event %v)", k, ev[k], v, ev)
		}
	}
	for _, k := range []string{"ts", "settlement_result", "cpu_ms", "subrequests", "duration_ms"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("event lacks %s", k)
		}
	}
	e.ingest.mu.Lock()
	bad := e.ingest.bad
	e.ingest.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d ingest requests were malformed or unauthenticated", bad)
	}
}

func TestConfigFiles(t *testing.T) {
	files, err := configFiles(Options{ListenAddr: "127.0.0.1:8787", Namespace: `ns"x`, ConfigKVNamespaceID: "c", IngestToken: "a\\b\n", FacilitatorURL: "http://127.0.0.1:7/f", EdgeAPIToken: "rt"},
		"127.0.0.1:9", "/data/payment-locks", egressEndpoint{addr: "127.0.0.1:5", header: "X-Claw-Egress-Token", token: "et"})
	if err != nil {
		t.Fatal(err)
	}
	capnp := files["config.capnp"]
	for _, want := range []string{`text = "ns\"x"`, `text = "a\\b\n"`, `address = "127.0.0.1:9"`, `(name = "dispatcher.js", esModule = embed "modules/dispatcher.js")`,
		`(name = "FACILITATOR_URL", text = "http://127.0.0.1:7/f")`, `(name = "LOCK", durableObjectNamespace = "PaymentLock")`,
		`disk = (path = "/data/payment-locks", writable = true)`, `durableObjectStorage = (localDisk = "payment-locks")`,
		`(name = "edge-api", external = (address = "127.0.0.1:9", http = (injectRequestHeaders = [ (name = "Authorization", value = "Bearer rt") ])))`,
		`(name = "tenant-egress", external = (address = "127.0.0.1:5", http = (style = proxy, injectRequestHeaders = [ (name = "X-Claw-Egress-Token", value = "et"), (name = "Host", value = "claw-egress") ])))`,
		`(name = "EGRESS", service = "tenant-egress")`} {
		if !strings.Contains(capnp, want) {
			t.Errorf("config lacks %s", want)
		}
	}
	for name := range files {
		if name != "config.capnp" && !strings.Contains(capnp, fmt.Sprintf("embed %q", name)) {
			t.Errorf("file %s is written but not embedded", name)
		}
	}
}

func TestWorkerName(t *testing.T) {
	cases := map[string]string{
		"LOADER:app-hello@abc#x~0": "app-hello",
		"LOADER:claw-outbound#k1":  "claw-outbound",
		"dispatcher":               "dispatcher",
		"config-kv":                "config-kv",
		"app-x@":                   "app-x",
	}
	for in, want := range cases {
		if got := workerName(in); got != want {
			t.Errorf("workerName(%q) = %q, want %q", in, got, want)
		}
	}
}
