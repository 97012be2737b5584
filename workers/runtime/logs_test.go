package runtime

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLogs polls for the log records of one request id (they leave through
// waitUntil, after the response) until pred holds for their lines.
func (s *ingestServer) waitLogs(t *testing.T, rid string, pred func(recs []map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var recs []map[string]any
		s.mu.Lock()
		for _, r := range s.logs {
			if r["request_id"] == rid {
				recs = append(recs, r)
			}
		}
		s.mu.Unlock()
		if len(recs) > 0 && pred(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log records for request %s matched; got %v", rid, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func linesOf(recs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		ls, _ := r["lines"].([]any)
		for _, l := range ls {
			out = append(out, l.(map[string]any))
		}
	}
	return out
}

const loggingWorker = `import { helper } from "./lib.js";
export default { async fetch(req, env, ctx) {
  const u = new URL(req.url);
  if (u.pathname === "/log") { console.log("hello", {n: 1}, [2]); console.info("info line"); console.debug("dbg"); return new Response("ok"); }
  if (u.pathname === "/error") { console.error("bad thing:", new Error("inner")); return new Response("no", { status: 502 }); }
  if (u.pathname === "/throw") { helper(); }
  if (u.pathname === "/late") { ctx.waitUntil(new Promise((r) => setTimeout(r, 20)).then(() => console.warn("after the response"))); return new Response("ok"); }
  if (u.pathname === "/big") { console.log("x".repeat(1 << 20)); return new Response("ok"); }
  if (u.pathname === "/flood") { for (let i = 0; i < 100000; i++) console.log("line " + i); return new Response("ok"); }
  if (u.pathname === "/env") { return Response.json(Object.keys(env)); }
  return new Response("quiet");
} };`

const loggingLib = `export function helper() {
  throw new TypeError("kaboom from helper");
}`

func TestLogCapture(t *testing.T) {
	e := edge(t)
	script := "app-logs"
	etag := e.edge.putModules(testNS, script, "index.js", map[string]string{"index.js": loggingWorker, "lib.js": loggingLib}, nil)
	e.deployScript("logs", script, etag, func(c *appConfig) {
		c.Routes = []map[string]any{{"method": "GET", "path": "/log", "access": "public"}}
	})

	r := e.do(t, "GET", "", "/logs/log", map[string]string{"Claw-Request-Id": "forged", "Claw-Route": "forged"})
	rid := r.header.Get("Claw-Request-Id")
	if r.status != 200 || len(rid) != 32 || rid == "forged" {
		t.Fatalf("GET /log: %d, request id %q", r.status, rid)
	}
	if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Claw-Request-Id") {
		t.Errorf("Claw-Request-Id is not exposed to browsers: %q", r.header.Get("Access-Control-Expose-Headers"))
	}
	recs := e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 3 })
	if recs[0]["app"] != "logs" || recs[0]["route"] != "GET /log" || recs[0]["path"] != "/logs/log" || recs[0]["status"] != float64(200) || recs[0]["method"] != "GET" {
		t.Errorf("record = %v", recs[0])
	}
	got := linesOf(recs)
	want := [][2]string{{"info", `hello {"n":1} [2]`}, {"info", "info line"}, {"debug", "dbg"}}
	for i, w := range want {
		if got[i]["level"] != w[0] || got[i]["message"] != w[1] {
			t.Errorf("line %d = %v, want %v", i, got[i], w)
		}
	}

	r = e.do(t, "GET", "", "/logs/error", nil)
	rid = r.header.Get("Claw-Request-Id")
	recs = e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 1 })
	l := linesOf(recs)[0]
	if l["level"] != "error" || !strings.HasPrefix(l["message"].(string), "bad thing: Error: inner\n") || !strings.Contains(l["message"].(string), "index.js:") {
		t.Errorf("console.error line = %v", l)
	}
	if recs[0]["status"] != float64(502) {
		t.Errorf("status = %v", recs[0]["status"])
	}

	r = e.do(t, "GET", "", "/logs/throw", nil)
	rid = r.header.Get("Claw-Request-Id")
	if r.status != 500 || rid == "" {
		t.Fatalf("GET /throw: %d %q", r.status, rid)
	}
	recs = e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 1 })
	msg := linesOf(recs)[0]["message"].(string)
	t.Logf("stack: %s", msg)
	if !strings.HasPrefix(msg, "Uncaught TypeError: kaboom from helper\n") || !strings.Contains(msg, "lib.js:2:") || !strings.Contains(msg, "index.js:6:") || strings.Contains(msg, "claw-") {
		t.Errorf("uncaught exception line = %q", msg)
	}

	r = e.do(t, "GET", "", "/logs/late", nil)
	rid = r.header.Get("Claw-Request-Id")
	recs = e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 1 })
	if l := linesOf(recs)[0]; l["level"] != "warn" || l["message"] != "after the response" {
		t.Errorf("late line = %v", l)
	}

	r = e.do(t, "GET", "", "/logs/big", nil)
	rid = r.header.Get("Claw-Request-Id")
	recs = e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 1 })
	if m := linesOf(recs)[0]["message"].(string); len(m) > 17000 || !strings.HasSuffix(m, "[truncated: 1032192 more characters]") {
		t.Errorf("1 MiB line: %d characters, ends %q", len(m), m[max(0, len(m)-60):])
	}

	r = e.do(t, "GET", "", "/logs/flood", nil)
	rid = r.header.Get("Claw-Request-Id")
	recs = e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 1 })
	if n, d := len(linesOf(recs)), recs[0]["dropped"]; n != 1000 || d != float64(99000) {
		t.Errorf("100,000 lines: kept %d, dropped %v", n, d)
	}

	r = e.do(t, "GET", "", "/logs/env", nil)
	if strings.Contains(r.body, "CLAW") {
		t.Errorf("the tenant's env shows the log sink: %s", r.body)
	}
}

// putModules stores a worker of several modules and returns its etag.
func (f *fakeEdge) putModules(ns, name, main string, mods map[string]string, bindings []map[string]any) string {
	var all strings.Builder
	var list []map[string]string
	for n, src := range mods {
		all.WriteString(n + "\x00" + src + "\x00")
		list = append(list, map[string]string{"name": n, "content_type": "application/javascript+module",
			"content_b64": base64.StdEncoding.EncodeToString([]byte(src))})
	}
	sum := sha256.Sum256([]byte(all.String() + fmtBindings(bindings)))
	etag := hex.EncodeToString(sum[:])
	if bindings == nil {
		bindings = []map[string]any{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scripts[ns] == nil {
		f.scripts[ns] = map[string]any{}
	}
	f.scripts[ns][name] = map[string]any{
		"name": name, "etag": etag, "main_module": main,
		"compatibility_date": "2026-11-01", "compatibility_flags": []string{},
		"bindings": bindings, "modules": list,
	}
	return etag
}

// deployScript writes the config document of an app whose script is already stored.
func (e *edgeEnv) deployScript(slug, script, etag string, edit func(*appConfig)) {
	cfg := appConfig{V: 1, ConfigVersion: 1, Slug: slug, Script: script, Etag: etag, TenantID: 3, Status: "active",
		Plan: map[string]any{"key": "free", "cpuMs": 50, "subRequests": 10}, Routes: []map[string]any{}, APIKeys: []string{}, Egress: []string{}}
	if edit != nil {
		edit(&cfg)
	}
	e.writeConfig(cfg)
}

// TestLogCaptureBatches: the wrapper gathers the records of an isolate's requests and sends
// them to the Logs entrypoint in batches. Of many concurrent requests, every one's record
// arrives exactly once, with its own request id, path and line.
func TestLogCaptureBatches(t *testing.T) {
	e := edge(t)
	e.deploy("many", `export default { fetch(req) { const p = new URL(req.url).pathname; console.log("line of " + p); return new Response("ok"); } };`, nil, nil)
	const n = 230
	rids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := e.do(t, "GET", "", fmt.Sprintf("/many/r%d", i), nil)
			if r.status != 200 {
				t.Errorf("request %d: %d %s", i, r.status, r.body)
			}
			rids[i] = r.header.Get("Claw-Request-Id")
		}()
	}
	wg.Wait()
	for i, rid := range rids {
		recs := e.ingest.waitLogs(t, rid, func(recs []map[string]any) bool { return len(linesOf(recs)) >= 1 })
		want := fmt.Sprintf("/many/r%d", i)
		if len(recs) != 1 || recs[0]["path"] != want || recs[0]["app"] != "many" {
			t.Fatalf("request %d: records %v", i, recs)
		}
		if ls := linesOf(recs); len(ls) != 1 || ls[0]["message"] != fmt.Sprintf("line of /r%d", i) {
			t.Fatalf("request %d: lines %v", i, ls)
		}
	}
}
