package runtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/402claw/402claw/workers/localcf"
)

// The conformance tests drive the dispatcher in workerd with the official
// x402 client (testdata/x402client.mjs: @x402/fetch + @x402/evm + viem), the
// local Cloudflare API and the dev facilitator. The tenant records every run
// in its KV store, so "ran exactly once" is counted where the code runs.

const payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

// viemPayer is the address of the client's key (Anvil account #1).
const viemPayer = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

const countingWorker = `export default { async fetch(req, env) {
  const u = new URL(req.url);
  await env.KV.put("run:" + u.pathname + ":" + crypto.randomUUID(), "1");
  if (u.pathname.startsWith("/fail") || u.pathname === "/before-fail") return new Response("tenant failed", { status: 500 });
  if (u.pathname.startsWith("/broken")) {
    // 200 and a first chunk, then the body fails: an answer that never completes.
    let sent = false;
    return new Response(new ReadableStream({ pull(c) {
      if (sent) { c.error(new Error("the tenant's stream broke")); return; }
      sent = true; c.enqueue(new TextEncoder().encode('{"partial":'));
    } }), { headers: { "content-type": "application/json" } });
  }
  return Response.json({ ok: true, path: u.pathname, sawSignature: req.headers.has("payment-signature") });
} };`

// facilitatorProxy serves the dev facilitator and can play a broken one.
type facilitatorProxy struct {
	f       *facilitator.Facilitator
	mode    atomic.Int32 // one of the fac* constants
	settles atomic.Int64 // settle calls that reached the facilitator
	shift   atomic.Int64 // added to the facilitator's clock, in ns
	// pendingLeft settles are answered settlement_pending (with a transaction) before
	// the facilitator sees one: the broadcast of a real chain, not yet confirmed.
	pendingLeft atomic.Int32
}

const (
	facOK          = iota
	facUnreachable // the connection is closed without an answer
	facError       // 503
	facSettleFails // verify works, settle answers success:false
)

func (p *facilitatorProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.mode.Load() {
	case facUnreachable:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	case facError:
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	case facSettleFails:
		if r.URL.Path == "/settle" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"success":false,"errorReason":"invalid_exact_evm_insufficient_balance","transaction":"","network":"eip155:84532","payer":"`+viemPayer+`"}`)
			return
		}
	}
	if r.URL.Path == "/settle" {
		if p.pendingLeft.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"success":false,"errorReason":"settlement_pending","transaction":"0x`+strings.Repeat("ab", 32)+`","network":"eip155:84532","payer":"`+viemPayer+`"}`)
			return
		}
		p.pendingLeft.Store(0)
		p.settles.Add(1)
	}
	p.f.ServeHTTP(w, r)
}

// conformance is one runtime with its local API, facilitator and ingest.
type conformance struct {
	t       *testing.T
	node    string
	cf      *httptest.Server
	fac     *facilitatorProxy
	facSrv  *httptest.Server
	ingest  *ingestServer
	e       *edgeEnv
	kvNS    string
	cfgNS   string
	dataDir string
	req     x402.Requirements
	opts    Options
}

func newConformance(t *testing.T) *conformance {
	t.Helper()
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPED: x402 conformance with the official client did not run: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: x402 conformance with the official client did not run: node is not installed")
	}
	for _, pkg := range []string{"@x402/fetch", "@x402/evm", "@x402/core", "viem"} {
		if _, err := os.Stat("../../node_modules/" + pkg + "/package.json"); err != nil {
			t.Skipf("SKIPPED: x402 conformance with the official client did not run: node_modules/%s is missing (run npm ci)", pkg)
		}
	}
	c := &conformance{t: t, node: node, dataDir: t.TempDir(), ingest: newIngest()}
	t.Cleanup(c.ingest.Close)
	cf, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: testRuntimeToken, SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	c.cf = httptest.NewServer(cf)
	t.Cleanup(c.cf.Close)
	f, err := facilitator.New(facilitator.Options{Now: func() time.Time { return time.Now().Add(time.Duration(c.fac.shift.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c.fac = &facilitatorProxy{f: f}
	c.facSrv = httptest.NewServer(c.fac)
	t.Cleanup(c.facSrv.Close)

	c.api("POST", "workers/dispatch/namespaces", "application/json", []byte(`{"name":"prod"}`), nil)
	var ns struct {
		Result struct{ ID string } `json:"result"`
	}
	c.api("POST", "storage/kv/namespaces", "application/json", []byte(`{"title":"config"}`), &ns)
	c.cfgNS = ns.Result.ID
	c.api("POST", "storage/kv/namespaces", "application/json", []byte(`{"title":"shop-kv"}`), &ns)
	c.kvNS = ns.Result.ID
	c.upload("app-shop", countingWorker)

	c.req, err = x402.Resolve(x402.DefaultNetwork, "10000", payTo)
	if err != nil {
		t.Fatal(err)
	}
	// The document is the portal's own (workers.BuildConfig), not one written by hand.
	paid := func(path, settle string) models.Route {
		return models.Route{Method: "GET", Path: path, Access: models.AccessX402, Network: c.req.Network, Amount: c.req.Amount,
			PayTo: payTo, Settle: settle, Description: "A paid answer", MimeType: "application/json"}
	}
	// Optimistic routes with their own refusal time (Route.RefuseSeconds → refuse_s).
	refusing := func(path string, secs int) models.Route {
		r := paid(path, "optimistic")
		r.RefuseSeconds = &secs
		return r
	}
	st := models.EdgeState{
		App:     models.App{ID: 1, TenantID: 7, Slug: "shop", ScriptName: "app-shop", Status: models.AppActive},
		Tenant:  models.Tenant{ID: 7, Status: models.TenantActive},
		Plan:    models.Plan{Key: "free", CPUMs: 50, SubRequests: 10},
		Version: &models.Version{SHA256: "v1"},
		Routes: []models.Route{
			{Method: "GET", Path: "/free", Access: models.AccessPublic},
			paid("/paid", "after"), paid("/replay/*", "after"), paid("/fail/*", "after"), paid("/before", "before"),
			paid("/before-fail", "before"), paid("/down", "after"), paid("/settle-fails/*", "after"),
			paid("/pending/*", "after"), paid("/pending-before/*", "before"), paid("/optimistic/*", "optimistic"),
			paid("/broken/*", "after"), refusing("/quick/*", 3), refusing("/never/*", 0),
			// Base mainnet: USDC at its mainnet address, EIP-712 domain "USD Coin" version 2.
			{Method: "GET", Path: "/mainnet/*", Access: models.AccessX402, Network: "eip155:8453", Amount: "10000",
				PayTo: payTo, Settle: "after", Description: "A paid answer on Base", MimeType: "application/json"},
		},
	}
	built, err := workers.BuildConfig(st, 1)
	if err != nil {
		t.Fatal(err)
	}
	doc := built.Encode()
	c.api("PUT", "storage/kv/namespaces/"+c.cfgNS+"/values/"+workers.ConfigKey(st.App.Slug), "application/octet-stream", doc, nil)

	c.opts = Options{WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: c.cf.URL, EdgeAPIToken: testRuntimeToken, Namespace: "prod",
		ConfigKVNamespaceID: c.cfgNS, DataDir: c.dataDir, FacilitatorURL: c.facSrv.URL,
		IngestURL: c.ingest.URL + "/ingest", IngestToken: "ingest-secret", PortalURL: c.ingest.URL + "/portal",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if os.Getenv("CLAW_TEST_WORKERD_LOG") != "" {
		c.opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	c.start()
	return c
}

func (c *conformance) start() {
	c.t.Helper()
	rt, err := Start(context.Background(), c.opts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.e = &edgeEnv{rt: rt}
	c.t.Cleanup(func() { c.stop() })
}

func (c *conformance) stop() {
	if c.e == nil || c.e.rt == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.e.rt.Stop(ctx)
	c.e.rt = nil
}

func (c *conformance) api(method, path, ctype string, body []byte, out any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.cf.URL+"/client/v4/accounts/acct/"+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func (c *conformance) upload(script, src string) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	meta, _ := json.Marshal(map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01",
		"bindings": []map[string]any{{"type": "kv_namespace", "name": "KV", "namespace_id": c.kvNS}}})
	mw.WriteField("metadata", string(meta))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="index.js"; filename="index.js"`)
	h.Set("Content-Type", "application/javascript+module")
	p, _ := mw.CreatePart(h)
	io.WriteString(p, src)
	mw.Close()
	c.api("PUT", "workers/dispatch/namespaces/prod/scripts/"+script, mw.FormDataContentType(), buf.Bytes(), nil)
}

// runs counts the tenant's recorded runs for a path.
func (c *conformance) runs(path string) int {
	c.t.Helper()
	var keys struct {
		Result []struct{ Name string } `json:"result"`
	}
	c.api("GET", "storage/kv/namespaces/"+c.kvNS+"/keys?prefix="+url.QueryEscape("run:"+path+":"), "", nil, &keys)
	return len(keys.Result)
}

// client runs the official client; stdin may be nil.
func (c *conformance) client(out any, stdin any, args ...string) {
	c.t.Helper()
	cmd := exec.Command(c.node, append([]string{"testdata/x402client.mjs"}, args...)...)
	if stdin != nil {
		b, _ := json.Marshal(stdin)
		cmd.Stdin = bytes.NewReader(b)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("node %v: %v\n%s", args, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		c.t.Fatalf("node %v printed %q: %v", args, b, err)
	}
}

type payResult struct {
	Status  int                      `json:"status"`
	Body    string                   `json:"body"`
	Receipt *x402.SettlementResponse `json:"receipt"`
	Cache   string                   `json:"cacheControl"`
	Error   string                   `json:"error"`
}

func (c *conformance) pay(path string) payResult {
	c.t.Helper()
	var r payResult
	c.client(&r, nil, "pay", c.e.rt.URL()+"/shop"+path)
	return r
}

// sign has the official client sign each PaymentRequired; it returns the
// PAYMENT-SIGNATURE values.
func (c *conformance) sign(prs ...x402.PaymentRequired) []string {
	c.t.Helper()
	var out []string
	for _, pr := range prs {
		var r struct {
			Header string `json:"header"`
			Error  string `json:"error"`
		}
		c.client(&r, pr, "sign")
		if r.Error != "" || r.Header == "" {
			c.t.Fatalf("client could not sign %+v: %s", pr, r.Error)
		}
		out = append(out, r.Header)
	}
	return out
}

func (c *conformance) challengeFor(path string, edit func(*x402.Requirements)) x402.PaymentRequired {
	req := c.req
	req.Extra = map[string]string{}
	for k, v := range c.req.Extra {
		req.Extra[k] = v
	}
	if edit != nil {
		edit(&req)
	}
	return x402.PaymentRequired{X402Version: 2, Resource: &x402.Resource{URL: c.e.rt.URL() + "/shop" + path}, Accepts: []x402.Requirements{req}}
}

// withAccepted replaces the "accepted" of a signed payment, leaving the
// signed authorization alone.
func withAccepted(t *testing.T, header string, edit func(map[string]any)) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	edit(p["accepted"].(map[string]any))
	b, _ = json.Marshal(p)
	return base64.StdEncoding.EncodeToString(b)
}

func (c *conformance) send(path, sig string) result {
	c.t.Helper()
	return c.e.do(c.t, "GET", "", "/shop"+path, map[string]string{"PAYMENT-SIGNATURE": sig})
}

func decodeRequired(t *testing.T, r result) x402.PaymentRequired {
	t.Helper()
	var pr x402.PaymentRequired
	if err := x402.DecodeHeader(r.header.Get("PAYMENT-REQUIRED"), &pr); err != nil {
		t.Fatalf("402 without a readable PAYMENT-REQUIRED (%d %s): %v", r.status, r.body, err)
	}
	return pr
}

func TestX402Conformance(t *testing.T) {
	c := newConformance(t)

	// The SDK worker fails the paid request after a free one with a 500;
	// these two must come first after the start.
	t.Run("free path first, then a paid request", func(t *testing.T) {
		if r := c.e.do(t, "GET", "", "/shop/free", nil); r.status != 200 {
			t.Fatalf("free path: %d %s", r.status, r.body)
		}
		r := c.pay("/paid")
		if r.Error != "" || r.Status != 200 {
			t.Fatalf("official client: %d %s %s", r.Status, r.Error, r.Body)
		}
		if r.Receipt == nil || !r.Receipt.Success || r.Receipt.Network != x402.DefaultNetwork || r.Receipt.Payer != viemPayer || !strings.HasPrefix(r.Receipt.Transaction, "0x") {
			t.Fatalf("receipt as the client decoded it: %+v", r.Receipt)
		}
		if !r.Receipt.Simulated {
			t.Errorf("a dev facilitator receipt must say simulated: %+v", r.Receipt)
		}
		if r.Cache != "private" {
			t.Errorf("paid answer Cache-Control = %q, want private", r.Cache)
		}
		if !strings.Contains(r.Body, `"sawSignature":false`) {
			t.Errorf("tenant saw the payment header or did not answer: %s", r.Body)
		}
		if n := c.runs("/paid"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
		ev := c.ingest.waitEvent(t, func(e map[string]any) bool { return e["route"] == "GET /paid" && e["payment_success"] == true })
		want := map[string]any{"settlement_result": "success", "payer": viemPayer, "amount": "10000", "network": x402.DefaultNetwork,
			"transaction": r.Receipt.Transaction, "verify_result": "valid", "status_code": float64(200), "app": "shop"}
		for k, v := range want {
			if ev[k] != v {
				t.Errorf("telemetry %s = %v, want %v", k, ev[k], v)
			}
		}
	})

	t.Run("unpaid call gives a challenge the client parses", func(t *testing.T) {
		var r struct {
			Status          int                  `json:"status"`
			PaymentRequired x402.PaymentRequired `json:"paymentRequired"`
			HeaderBytes     int                  `json:"headerBytes"`
			Cache           string               `json:"cacheControl"`
			Expose          string               `json:"expose"`
			Error           string               `json:"error"`
		}
		c.client(&r, nil, "challenge", c.e.rt.URL()+"/shop/paid?x=1")
		if r.Error != "" || r.Status != 402 {
			t.Fatalf("challenge: %+v", r)
		}
		pr := r.PaymentRequired
		if pr.X402Version != 2 || len(pr.Accepts) != 1 || pr.Resource == nil || pr.Resource.URL != c.e.rt.URL()+"/shop/paid?x=1" || pr.Resource.Description != "A paid answer" {
			t.Fatalf("PaymentRequired as the client read it: %+v", pr)
		}
		got, _ := json.Marshal(pr.Accepts[0])
		want, _ := json.Marshal(c.req)
		if !bytes.Equal(got, want) {
			t.Errorf("accepts[0] = %s, want %s", got, want)
		}
		if r.HeaderBytes == 0 || r.HeaderBytes > 1536 {
			t.Errorf("PAYMENT-REQUIRED is %d bytes; keep it well under 2 KB (the payment-identifier declaration takes ~350)", r.HeaderBytes)
		}
		if r.Cache != "no-store" || !strings.Contains(r.Expose, "PAYMENT-REQUIRED") || !strings.Contains(r.Expose, "PAYMENT-RESPONSE") {
			t.Errorf("402 headers: cache %q expose %q", r.Cache, r.Expose)
		}
	})

	t.Run("browsers get a page", func(t *testing.T) {
		r := c.e.do(t, "GET", "", "/shop/paid", map[string]string{"Accept": "text/html,application/xhtml+xml"})
		if r.status != 402 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
		}
		// The "report this API" link goes to the portal's public form (its origin is the
		// telemetry endpoint's).
		for _, want := range []string{"0.01 USDC", "Base Sepolia", payTo, "A paid answer", `href="` + c.ingest.URL + `/portal/report?app=shop"`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if len(r.body) > 8<<10 || strings.Contains(r.body, "<script") {
			t.Errorf("page is %d bytes or carries a script", len(r.body))
		}
		decodeRequired(t, r)
	})

	t.Run("v1 header and preflight", func(t *testing.T) {
		r := c.e.do(t, "GET", "", "/shop/paid", map[string]string{"X-PAYMENT": "eyJ4NDAyVmVyc2lvbiI6MX0="})
		if r.status != 402 || r.errorCode() != "x402_version_not_supported" || !strings.Contains(decodeRequired(t, r).Error, "version 2") {
			t.Errorf("v1 payment: %d %s", r.status, r.body)
		}
		r = c.e.do(t, "OPTIONS", "", "/shop/paid", map[string]string{"Origin": "https://x.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "payment-signature"})
		if r.status != 204 || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "PAYMENT-SIGNATURE") {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
	})

	t.Run("tampered payments", func(t *testing.T) {
		other := "0x1111111111111111111111111111111111111111"
		base := c.challengeFor("/paid", nil)
		sigs := c.sign(base,
			c.challengeFor("/paid", func(r *x402.Requirements) { r.Amount = "1" }),
			c.challengeFor("/paid", func(r *x402.Requirements) { r.PayTo = other }),
			c.challengeFor("/paid", func(r *x402.Requirements) {
				n, _ := x402.NetworkByCAIP2("eip155:8453")
				r.Network, r.Asset, r.Extra = n.CAIP2, n.Asset, map[string]string{"name": n.EIP712Name, "version": n.EIP712Version}
			}),
		)
		restore := func(m map[string]any) {
			b, _ := json.Marshal(c.req)
			json.Unmarshal(b, &m) // overwrite every field with ours
			for k := range m {
				if _, ok := map[string]bool{"scheme": true, "network": true, "amount": true, "asset": true, "payTo": true, "maxTimeoutSeconds": true, "extra": true}[k]; !ok {
					delete(m, k)
				}
			}
		}
		cases := []struct {
			name, sig, code, reason string
		}{
			{"accepted amount", withAccepted(t, sigs[0], func(m map[string]any) { m["amount"] = "1" }), "no_matching_requirements", "No matching payment requirements"},
			{"accepted payTo", withAccepted(t, sigs[0], func(m map[string]any) { m["payTo"] = other }), "no_matching_requirements", "No matching payment requirements"},
			{"accepted network", withAccepted(t, sigs[0], func(m map[string]any) { m["network"] = "eip155:8453" }), "no_matching_requirements", "No matching payment requirements"},
			{"accepted extra name", withAccepted(t, sigs[0], func(m map[string]any) { m["extra"].(map[string]any)["name"] = "USD Coin" }), "no_matching_requirements", "No matching payment requirements"},
			{"accepted extra field", withAccepted(t, sigs[0], func(m map[string]any) { m["extra"].(map[string]any)["fee"] = "1" }), "no_matching_requirements", "No matching payment requirements"},
			{"signed a lower amount", withAccepted(t, sigs[1], restore), "payment_invalid", facilitator.ReasonValueMismatch},
			{"signed another payTo", withAccepted(t, sigs[2], restore), "payment_invalid", facilitator.ReasonRecipient},
			{"signed on another network", withAccepted(t, sigs[3], restore), "payment_invalid", facilitator.ReasonSignature},
			{"not base64 JSON", "%%%", "invalid_payment_header", "Invalid payment: PAYMENT-SIGNATURE is not base64 JSON"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := c.send("/paid", tc.sig)
				if r.status != 402 || r.errorCode() != tc.code {
					t.Fatalf("%d %s, want 402 %s", r.status, r.body, tc.code)
				}
				if got := decodeRequired(t, r).Error; got != tc.reason {
					t.Errorf("PAYMENT-REQUIRED error = %q, want %q", got, tc.reason)
				}
			})
		}
		if n := c.runs("/paid"); n != 1 {
			t.Errorf("tampered payments ran the tenant: %d runs, want the 1 paid one", n)
		}
		// The untampered payment is still good: refusals took no lock.
		if r := c.send("/paid", sigs[0]); r.status != 200 {
			t.Errorf("the untampered payment after the refusals: %d %s", r.status, r.body)
		}
	})

	t.Run("expired authorization", func(t *testing.T) {
		sig := c.sign(c.challengeFor("/paid", nil))[0]
		c.fac.shift.Store(int64(2 * time.Minute)) // past validBefore (now + 60 s)
		r := c.send("/paid", sig)
		c.fac.shift.Store(0)
		if r.status != 402 || decodeRequired(t, r).Error != facilitator.ReasonValidBefore {
			t.Fatalf("expired: %d %s", r.status, r.body)
		}
	})

	t.Run("replay in sequence and concurrently runs the tenant once", func(t *testing.T) {
		sig := c.sign(c.challengeFor("/replay/seq", nil))[0]
		if r := c.send("/replay/seq", sig); r.status != 200 || r.header.Get("PAYMENT-RESPONSE") == "" {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		for range 2 {
			if r := c.send("/replay/seq", sig); r.status != 402 {
				t.Fatalf("replay: %d %s", r.status, r.body)
			}
		}
		if n := c.runs("/replay/seq"); n != 1 {
			t.Errorf("sequential replays: tenant ran %d times, want 1", n)
		}

		sig = c.sign(c.challengeFor("/replay/par", nil))[0]
		before := c.fac.settles.Load()
		var wg sync.WaitGroup
		statuses := make([]int, 10)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = c.send("/replay/par", sig).status
			}()
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			switch s {
			case 200:
				ok++
			case 402:
			default:
				t.Errorf("concurrent replay answered %d", s)
			}
		}
		if ok != 1 {
			t.Errorf("%d of 10 concurrent uses succeeded (%v), want 1", ok, statuses)
		}
		if n := c.runs("/replay/par"); n != 1 {
			t.Errorf("concurrent replays: tenant ran %d times, want 1", n)
		}
		if s := c.fac.settles.Load() - before; s != 1 {
			t.Errorf("%d settle calls, want 1", s)
		}
	})

	var failedSig string
	t.Run("tenant error settles nothing", func(t *testing.T) {
		before := c.fac.settles.Load()
		r := c.pay("/fail/a")
		if r.Status != 500 || r.Receipt != nil {
			t.Fatalf("tenant 500 through the client: %+v", r)
		}
		failedSig = c.sign(c.challengeFor("/fail/b", nil))[0]
		if r := c.send("/fail/b", failedSig); r.status != 500 || r.header.Get("PAYMENT-RESPONSE") != "" {
			t.Fatalf("tenant 500: %d %v", r.status, r.header)
		}
		if s := c.fac.settles.Load() - before; s != 0 {
			t.Errorf("%d settle calls after tenant errors, want 0", s)
		}
		// The facilitator still holds the nonce as unused …
		var p x402.PaymentPayload
		x402.DecodeHeader(failedSig, &p)
		body, _ := json.Marshal(x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: c.req})
		resp, err := http.Post(c.facSrv.URL+"/verify", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var v x402.VerifyResponse
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if !v.IsValid {
			t.Errorf("nonce of the unsettled payment: %+v, want still valid", v)
		}
		// … yet the payment already ran code, so it never runs again.
		if r := c.send("/fail/b", failedSig); r.status != 402 || r.errorCode() != "payment_already_used" {
			t.Errorf("replay of the unsettled payment: %d %s", r.status, r.body)
		}
		if n := c.runs("/fail/b"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
	})

	t.Run("settle before", func(t *testing.T) {
		r := c.pay("/before")
		if r.Status != 200 || r.Receipt == nil || !r.Receipt.Success {
			t.Fatalf("settle-before: %+v", r)
		}
		// Settled first: the receipt comes even when the tenant then fails.
		before := c.fac.settles.Load()
		sig := c.sign(c.challengeFor("/before-fail", nil))[0]
		res := c.send("/before-fail", sig)
		if res.status != 500 || res.header.Get("PAYMENT-RESPONSE") == "" || c.fac.settles.Load()-before != 1 {
			t.Errorf("settle-before with a failing tenant: %d receipt %q", res.status, res.header.Get("PAYMENT-RESPONSE"))
		}
		// A failed settle runs nothing.
		c.fac.mode.Store(facSettleFails)
		sig = c.sign(c.challengeFor("/before", nil))[0]
		res = c.send("/before", sig)
		c.fac.mode.Store(facOK)
		var s x402.SettlementResponse
		if res.status != 402 || x402.DecodeHeader(res.header.Get("PAYMENT-RESPONSE"), &s) != nil || s.Success || s.ErrorReason != "invalid_exact_evm_insufficient_balance" {
			t.Errorf("failed settle-before: %d %s %+v", res.status, res.body, s)
		}
		if n := c.runs("/before"); n != 1 {
			t.Errorf("tenant ran %d times on /before, want 1", n)
		}
	})

	t.Run("failed settle after the tenant withholds its answer", func(t *testing.T) {
		c.fac.mode.Store(facSettleFails)
		sig := c.sign(c.challengeFor("/settle-fails/x", nil))[0]
		r := c.send("/settle-fails/x", sig)
		c.fac.mode.Store(facOK)
		var s x402.SettlementResponse
		if r.status != 402 || strings.Contains(r.body, `"ok":true`) || x402.DecodeHeader(r.header.Get("PAYMENT-RESPONSE"), &s) != nil || s.ErrorReason != "invalid_exact_evm_insufficient_balance" {
			t.Errorf("failed settle: %d %s %+v", r.status, r.body, s)
		}
		if decodeRequired(t, r).Error != "invalid_exact_evm_insufficient_balance" {
			t.Errorf("challenge after a failed settle lacks the reason")
		}
	})

	t.Run("facilitator down", func(t *testing.T) {
		sig := c.sign(c.challengeFor("/down", nil))[0]
		for _, m := range []struct {
			mode   int32
			status int
			code   string
		}{{facUnreachable, 503, "facilitator_unreachable"}, {facError, 503, "facilitator_error"}} {
			c.fac.mode.Store(m.mode)
			r := c.send("/down", sig)
			c.fac.mode.Store(facOK)
			if r.status != m.status || r.errorCode() != m.code || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("Retry-After") == "" {
				t.Errorf("mode %d: %d %s, want %d %s", m.mode, r.status, r.body, m.status, m.code)
			}
		}
		if n := c.runs("/down"); n != 0 {
			t.Errorf("tenant ran %d times while the facilitator was down", n)
		}
		if r := c.send("/down", sig); r.status != 200 {
			t.Errorf("the same payment once the facilitator is back: %d %s", r.status, r.body)
		}
	})

	t.Run("used payments survive a restart", func(t *testing.T) {
		if failedSig == "" {
			t.Skip("needs the tenant-error payment")
		}
		c.stop()
		c.start()
		// Valid at the facilitator (never settled), remembered by the lock.
		if r := c.send("/fail/b", failedSig); r.status != 402 || r.errorCode() != "payment_already_used" {
			t.Errorf("after restart: %d %s", r.status, r.body)
		}
		if n := c.runs("/fail/b"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
	})
}
