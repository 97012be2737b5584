package runtime

// Hostile tenants against the real edge: each row is an attack a tenant's
// worker (or a consumer) tried, and what the edge must answer. Every new way
// out found later gets a row here.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/localcf"
)

// hostileEdge is a runtime of its own on the real local Cloudflare API, with
// the platform's other listener (a stand-in portal) and an upstream that
// stands in for a public host.
type hostileEdge struct {
	*edgeEnv
	cf         *workers.Cloudflare
	cfURL      string
	apiPort    string // the emulated Cloudflare API's
	kvID       string
	key        []byte
	portal     *httptest.Server
	upstream   *httptest.Server
	portalHits atomic.Int64
}

const hostileNS = "hostile"

// The tenant's weapon: fetch (or connect to) whatever the request names and
// show what came back.
const attackerWorker = `import { connect } from "cloudflare:sockets";
export default { async fetch(req, env) {
  const u = new URL(req.url);
  const t = u.searchParams.get("t");
  const method = u.searchParams.get("m") || "GET";
  if (u.pathname === "/connect") {
    try { const s = connect(t); await s.opened; return new Response("CONNECTED", { status: 200 }); }
    catch (e) { return new Response("connect refused: " + e.message, { status: 502 }); }
  }
  if (u.pathname === "/forge-usage") {
    return new Response("ok", { headers: { "x-claw-subrequests": "1000000" } });
  }
  try {
    const init = { method, headers: { authorization: "Bearer anything", "content-type": "application/json" } };
    if (method !== "GET") init.body = u.searchParams.get("b") || "{}";
    const r = await fetch(t, init);
    return new Response("status=" + r.status + " body=" + (await r.text()).slice(0, 2000), { status: 200 });
  } catch (e) {
    return new Response("fetch failed: " + e.message, { status: 200 });
  }
} };`

const victimWorker = `export default { fetch(req, env) { return new Response("victim:" + env.SECRET.length); } };`

func startHostileEdge(t *testing.T, private bool) *hostileEdge {
	t.Helper()
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	h := &hostileEdge{key: []byte("0123456789abcdef0123456789abcdef")}
	emu, err := localcf.New(t.TempDir(), localcf.Options{Token: "api-token", RuntimeToken: testRuntimeToken, SecretKey: h.key})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(emu)
	h.portal = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.portalHits.Add(1)
		io.WriteString(w, "PORTAL PAGE")
	}))
	h.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "public upstream")
	}))
	t.Cleanup(func() { api.Close(); h.portal.Close(); h.upstream.Close(); emu.Close() })
	h.cfURL = api.URL
	h.apiPort = port(api)
	h.cf = workers.NewCloudflare(workers.CloudflareConfig{APIToken: "api-token", AccountID: "acct", BaseURL: api.URL + "/client/v4", MaxRetries: -1})
	res, err := workers.Bootstrap(context.Background(), h.cf, workers.BootstrapOptions{Namespace: hostileNS, SkipWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	h.kvID = res.KVNamespaceID

	up := netip.MustParseAddrPort(h.upstream.Listener.Addr().String())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CLAW_TEST_WORKERD_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	opts := Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: api.URL, EdgeAPIToken: testRuntimeToken,
		Namespace: hostileNS, ConfigKVNamespaceID: h.kvID, DataDir: t.TempDir(), Logger: logger,
		SubrequestEmulation: true, ConfigCacheTTL: -1, PrivateEgress: private,
		Platform: []string{h.portal.Listener.Addr().String()}, ConfigKey: workers.ConfigKeyHex(h.key),
		egressResolver: hostileDNS{
			"public.example":   {up.Addr().String()},
			"rebind.example":   {"127.0.0.1"},
			"metadata.example": {"169.254.169.254"},
			"v6.example":       {"::1"},
		},
	}
	if !private {
		opts.egressExempt = []netip.AddrPort{up}
	}
	rt, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(ctx)
	})
	h.edgeEnv = &edgeEnv{rt: rt}
	return h
}

type hostileDNS map[string][]string

func (m hostileDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := m[strings.ToLower(host)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// deploy uploads an app the way the portal does: script with its bindings,
// config document with the portal's keyed digest.
func (h *hostileEdge) deploy(t *testing.T, slug, src string, bindings []workers.Binding, egress []string, routes []map[string]any) {
	t.Helper()
	ctx := context.Background()
	info, err := h.cf.UploadUserScript(ctx, hostileNS, "app-"+slug, workers.ScriptUpload{MainModule: "index.js",
		Modules: []workers.ScriptModule{{Name: "index.js", Content: []byte(src)}}, CompatibilityDate: "2026-11-01", Bindings: bindings})
	if err != nil {
		t.Fatal(err)
	}
	if routes == nil {
		routes = []map[string]any{}
	}
	doc, _ := json.Marshal(map[string]any{"v": 1, "config_version": 1, "slug": slug, "script": "app-" + slug, "etag": info.ETag,
		"tenant_id": 1, "status": "active", "plan": map[string]any{"cpuMs": 50, "subRequests": 10}, "routes": routes,
		"api_keys": []any{}, "egress": egress})
	if err := h.cf.PutKVBulk(ctx, h.kvID, []workers.KVPair{workers.ConfigPair(h.key, workers.ConfigKey(slug), doc)}); err != nil {
		t.Fatal(err)
	}
}

func port(s *httptest.Server) string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

// TestHostileEgress: C1 of the security review. Tenant A's allowlist names
// every local address (as if validation had been bypassed), and A's worker
// tries every way to the emulated Cloudflare API (B's secrets and config),
// the portal, cloud metadata and raw sockets. Before the fix, the first row
// answered B's secret bindings in clear.
func TestHostileEgress(t *testing.T) {
	h := startHostileEdge(t, false)
	h.deploy(t, "victim", victimWorker, []workers.Binding{{"type": "secret_text", "name": "SECRET", "text": "victim-secret-value"}}, []string{}, nil)
	apiPort, portalPort, upPort := h.apiPort, port(h.portal), port(h.upstream)
	egress := []string{"127.0.0.1", "localhost", "[::1]", "rebind.example", "metadata.example", "v6.example", "public.example", "0.0.0.0",
		"127.0.0.2", "2130706433", "0x7f000001", "127.1"}
	h.deploy(t, "attacker", attackerWorker, nil, egress, nil)

	runtimeScript := "/runtime/namespaces/" + hostileNS + "/scripts/app-victim"
	cases := []struct {
		name, target, method, body string
	}{
		{"emulator runtime endpoint by loopback literal", "http://127.0.0.1:" + apiPort + runtimeScript, "", ""},
		{"emulator by localhost", "http://localhost:" + apiPort + runtimeScript, "", ""},
		{"emulator by IPv6 loopback", "http://[::1]:" + apiPort + runtimeScript, "", ""},
		{"emulator by another loopback address", "http://127.0.0.2:" + apiPort + runtimeScript, "", ""},
		{"emulator by decimal address", "http://2130706433:" + apiPort + runtimeScript, "", ""},
		{"emulator by hex address", "http://0x7f000001:" + apiPort + runtimeScript, "", ""},
		{"emulator by short address", "http://127.1:" + apiPort + runtimeScript, "", ""},
		{"emulator by the unspecified address", "http://0.0.0.0:" + apiPort + runtimeScript, "", ""},
		{"emulator by a name that resolves to loopback", "http://rebind.example:" + apiPort + runtimeScript, "", ""},
		{"emulator by a name with an IPv6 loopback answer", "http://v6.example:" + apiPort + runtimeScript, "", ""},
		{"emulator by a redirect from an allowed public host", "http://public.example:" + upPort + "/?to=" + url.QueryEscape("http://127.0.0.1:"+apiPort+runtimeScript), "", ""},
		{"victim's config rewritten through the API", "http://127.0.0.1:" + apiPort + "/client/v4/accounts/acct/storage/kv/namespaces/" + h.kvID + "/values/app:victim", "PUT", `{"v":1,"status":"active"}`},
		{"victim's KV written through the runtime endpoint", "http://127.0.0.1:" + apiPort + "/runtime/kv/" + h.kvID + "/app:victim?urlencoded=true", "PUT", "{}"},
		{"portal pages", "http://127.0.0.1:" + portalPort + "/dashboard", "", ""},
		{"portal dev facilitator", "http://localhost:" + portalPort + "/dev-facilitator/supported", "", ""},
		{"cloud metadata by name", "http://metadata.example/latest/meta-data/", "", ""},
		{"the edge itself", h.rt.URL() + "/victim/", "", ""},
	}
	portalBefore := h.portalHits.Load()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"t": {c.target}, "m": {c.method}, "b": {c.body}}
			r := h.do(t, "GET", "", "/attacker/?"+q.Encode(), nil)
			if strings.Contains(r.body, "victim-secret-value") || strings.Contains(r.body, "PORTAL PAGE") || strings.Contains(r.body, "victim:") {
				t.Fatalf("the attack got through: %s", r.body)
			}
			if !strings.Contains(r.body, "status=403") || !strings.Contains(r.body, "egress_blocked") {
				t.Fatalf("want the edge's 403 egress_blocked, got %d %s", r.status, r.body)
			}
		})
	}
	if n := h.portalHits.Load() - portalBefore; n != 0 {
		t.Errorf("the portal saw %d requests from tenant code", n)
	}
	t.Run("raw TCP socket to the emulator", func(t *testing.T) {
		r := h.do(t, "GET", "", "/attacker/connect?"+url.Values{"t": {"127.0.0.1:" + apiPort}}.Encode(), nil)
		if r.status == 200 || strings.Contains(r.body, "CONNECTED") {
			t.Fatalf("connect() reached the emulator: %d %s", r.status, r.body)
		}
	})
	t.Run("an allowed public host still works", func(t *testing.T) {
		r := h.do(t, "GET", "", "/attacker/?"+url.Values{"t": {"http://public.example:" + upPort + "/"}}.Encode(), nil)
		if !strings.Contains(r.body, "status=200 body=public upstream") {
			t.Fatalf("allowed egress: %d %s", r.status, r.body)
		}
	})
	t.Run("a redirect off the allowlist is refused hop by hop", func(t *testing.T) {
		r := h.do(t, "GET", "", "/attacker/?"+url.Values{"t": {"http://public.example:" + upPort + "/?to=" + url.QueryEscape("http://elsewhere.example/")}}.Encode(), nil)
		if !strings.Contains(r.body, "status=403") || !strings.Contains(r.body, "elsewhere.example") {
			t.Fatalf("redirect to a host not on the allowlist: %d %s", r.status, r.body)
		}
	})
	t.Run("the victim is untouched", func(t *testing.T) {
		if r := h.do(t, "GET", "", "/victim/", nil); r.status != 200 || r.body != "victim:19" {
			t.Fatalf("victim after the attacks: %d %s", r.status, r.body)
		}
	})
}

// TestHostilePrivateEgress: with CLAW_EDGE_PRIVATE_EGRESS=allow tenants may
// reach services on this machine, but never the platform's own listeners.
func TestHostilePrivateEgress(t *testing.T) {
	h := startHostileEdge(t, true)
	apiPort, portalPort, upPort := h.apiPort, port(h.portal), port(h.upstream)
	h.deploy(t, "attacker", attackerWorker, nil, []string{"127.0.0.1", "localhost", "rebind.example"}, nil)
	for _, target := range []string{
		"http://127.0.0.1:" + apiPort + "/runtime/namespaces/" + hostileNS + "/scripts/app-attacker",
		"http://localhost:" + portalPort + "/",
		"http://rebind.example:" + portalPort + "/",
		h.rt.URL() + "/attacker/",
		// The control socket (preload, facilitator probe, the watchdog's ping) answers anyone who reaches it.
		"http://" + func() string { h.rt.mu.Lock(); defer h.rt.mu.Unlock(); return h.rt.warmAddr }() + "/ping",
	} {
		r := h.do(t, "GET", "", "/attacker/?"+url.Values{"t": {target}}.Encode(), nil)
		if !strings.Contains(r.body, "status=403") || strings.Contains(r.body, "PORTAL PAGE") {
			t.Errorf("%s: %d %s, want 403", target, r.status, r.body)
		}
	}
	r := h.do(t, "GET", "", "/attacker/?"+url.Values{"t": {"http://127.0.0.1:" + upPort + "/"}}.Encode(), nil)
	if !strings.Contains(r.body, "status=200 body=public upstream") {
		t.Fatalf("a private service must be reachable in private mode: %d %s", r.status, r.body)
	}
}

// TestHostileConfigForgery: a config document written without the portal's
// key (here straight into the emulator's KV, as a leaked token or a hole
// elsewhere would) is refused by the dispatcher, even with the real
// document's digest copied onto it; before, it was obeyed.
func TestHostileConfigForgery(t *testing.T) {
	h := startHostileEdge(t, false)
	h.deploy(t, "victim", victimWorker, []workers.Binding{{"type": "secret_text", "name": "SECRET", "text": "victim-secret-value"}}, []string{}, nil)
	if r := h.do(t, "GET", "", "/victim/", nil); r.status != 200 {
		t.Fatalf("victim before: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	keys, err := h.cf.KVKeysWithDigest(ctx, h.kvID, "app:victim")
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	forged := []byte(`{"v":1,"config_version":2,"slug":"victim","script":"app-victim","status":"active","plan":{},"routes":[],"api_keys":[],"egress":["evil.example"]}`)
	if err := h.cf.PutKVBulk(ctx, h.kvID, []workers.KVPair{{Key: "app:victim", Value: string(forged), Metadata: map[string]string{"sha256": keys[0].SHA256}}}); err != nil {
		t.Fatal(err)
	}
	r := h.do(t, "GET", "", "/victim/", nil)
	if r.status != 503 || r.errorCode() != "config_invalid" {
		t.Fatalf("forged config: %d %s, want 503 config_invalid", r.status, r.body)
	}
}

// TestHostileUsageReport: L3. The subrequest count in telemetry comes from
// the platform, not from a header the tenant's response can carry.
func TestHostileUsageReport(t *testing.T) {
	e := edge(t)
	e.deploy("forger", attackerWorker, nil, nil)
	r := e.do(t, "GET", "", "/forger/forge-usage", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ev := e.ingest.waitEvent(t, func(ev map[string]any) bool { return ev["app"] == "forger" })
	if ev["subrequests"] != nil && ev["subrequests"] != float64(0) {
		t.Fatalf("a forged usage header reached telemetry: subrequests=%v", ev["subrequests"])
	}
}

// TestHostileHead: M4. HEAD on a GET route gets the route's access rule;
// before, it matched no route, ran the priced handler for free and leaked
// its headers.
func TestHostileHead(t *testing.T) {
	e := edge(t)
	const src = `export default { fetch(req) { return new Response(req.method === "HEAD" ? null : "body", { headers: { "x-handler-ran": "yes" } }); } };`
	req := map[string]any{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
		"asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		"maxTimeoutSeconds": 60, "extra": map[string]any{"name": "USDC", "version": "2"}}
	e.deploy("headed", src, nil, func(c *appConfig) {
		c.Routes = []map[string]any{
			{"method": "GET", "path": "/paid", "access": "x402", "settle": "after", "requirements": req},
			{"method": "GET", "path": "/keyed", "access": "api_key"},
			{"method": "GET", "path": "/open", "access": "public"},
		}
		c.APIKeys = []string{sha("good-key")}
	})
	cases := []struct {
		name, path string
		hdr        map[string]string
		status     int
		ran        bool
	}{
		{"priced GET route", "/headed/paid", nil, 402, false},
		{"api_key GET route without a key", "/headed/keyed", nil, 401, false},
		{"api_key GET route with a key", "/headed/keyed", map[string]string{"X-API-Key": "good-key"}, 200, true},
		{"public GET route", "/headed/open", nil, 200, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, "HEAD", "", c.path, c.hdr)
			if r.status != c.status || (r.header.Get("x-handler-ran") == "yes") != c.ran {
				t.Fatalf("HEAD %s: %d, handler ran: %q; want %d, ran %v", c.path, r.status, r.header.Get("x-handler-ran"), c.status, c.ran)
			}
		})
	}
}

// TestPaywallPageTellsTheTruth: L5. The 402 page promised "charged only when
// the request succeeds" on settle-before routes too.
func TestPaywallPageTellsTheTruth(t *testing.T) {
	e := edge(t)
	req := map[string]any{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
		"asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		"maxTimeoutSeconds": 60, "extra": map[string]any{"name": "USDC", "version": "2"}}
	e.deploy("pages", echoWorker, nil, func(c *appConfig) {
		c.ConfigVersion = 2
		c.Routes = []map[string]any{
			{"method": "GET", "path": "/before", "access": "x402", "settle": "before", "requirements": req},
			{"method": "GET", "path": "/after", "access": "x402", "settle": "after", "requirements": req},
		}
	})
	for path, want := range map[string]string{
		"/pages/before": "you are charged even if the app then fails",
		"/pages/after":  "if it fails, you are not charged",
	} {
		r := e.do(t, "GET", "", path, map[string]string{"Accept": "text/html"})
		if r.status != 402 || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d, page lacks %q", path, r.status, want)
		}
		if strings.Contains(r.body, "charged only when the request succeeds") {
			t.Errorf("%s: the page still makes the old promise", path)
		}
	}
}
