package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestStacksNameTheTenantsFiles: a two-file app deployed through the portal runs at the real
// edge as one bundle (worker.js), yet the stack the tenant sees — in the Logs API and in the
// test console's logs of the request — names lib.js line 2, where the tenant's code threw, and
// the line of index.js that called it; console.error of an Error too.
func TestStacksNameTheTenantsFiles(t *testing.T) {
	s := startServe(t, nil)
	tn := s.signUp(t, "maps@example.com", "Maps Co")
	tn.deploy("maps", map[string]string{
		"index.js": `import { fail } from "./lib.js";
export default { async fetch(req) {
  if (new URL(req.url).pathname.endsWith("/logged")) { try { fail(); } catch (e) { console.error("caught:", e); } return new Response("ok"); }
  return fail();
} };
`,
		"lib.js": `export function fail() {
  throw new Error("from lib");
}
`,
	}, `[{"method":"GET","path":"/boom","access":"public"},{"method":"GET","path":"/logged","access":"public"}]`)
	s.edgeEventually(t, "/maps/logged", func(st int, _ string) bool { return st == 200 })

	logLines := func(query string) []string {
		t.Helper()
		var out []string
		for i := 0; i < 60 && len(out) == 0; i++ {
			_, body := tn.api("GET", "/api/v1/apps/maps/logs"+query, "")
			var pg struct{ Lines []struct{ Message string } }
			json.Unmarshal([]byte(body), &pg)
			for _, l := range pg.Lines {
				out = append(out, l.Message)
			}
			if len(out) == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		return out
	}

	// Through the test console: the uncaught exception in the request's logs.
	a := tn.console("maps", url.Values{"method": {"GET"}, "path": {"/boom"}})
	if !strings.HasPrefix(a.statusText, "500") {
		t.Fatalf("console /boom: %q %s", a.statusText, a.errors)
	}
	poll, ok := a.doc.Find(".console-logs").Attr("hx-get")
	if !ok {
		t.Fatal("no logs panel")
	}
	var panel string
	for i := 0; i < 60 && !strings.Contains(panel, "from lib"); i++ {
		time.Sleep(50 * time.Millisecond)
		_, panel = tn.do("GET", poll, nil, nil)
	}
	if !strings.Contains(panel, "lib.js:2:") || !strings.Contains(panel, "index.js:4:") || strings.Contains(panel, "worker.js") {
		t.Fatalf("the console's logs of the request do not name the tenant's files:\n%s", panel)
	}

	// Through the Logs API: the same line, and a logged (caught) error's stack.
	rid := ""
	if u, err := url.Parse(poll); err == nil {
		rid = u.Query().Get("request_id")
	}
	lines := logLines("?request_id=" + url.QueryEscape(rid))
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "Uncaught Error: from lib") || !strings.Contains(lines[0], "lib.js:2:") || strings.Contains(lines[0], "worker.js") {
		t.Fatalf("uncaught line through the API: %q", lines)
	}
	r := callEdge(t, s.Edge+"/maps/logged")
	lines = logLines("?request_id=" + url.QueryEscape(r))
	if len(lines) != 1 || !strings.Contains(lines[0], "caught: Error: from lib") || !strings.Contains(lines[0], "lib.js:2:") || !strings.Contains(lines[0], "index.js:3:") {
		t.Fatalf("logged error through the API: %q", lines)
	}
}

// callEdge makes one request to the edge and returns its request id.
func callEdge(t *testing.T, u string) string {
	t.Helper()
	_, h, _ := call(t, "GET", u, "")
	rid := h.Get("Claw-Request-Id")
	if rid == "" {
		t.Fatalf("%s: no request id", u)
	}
	return rid
}
