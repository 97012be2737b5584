package tail_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/workers/runtime"
	"github.com/402claw/402claw/workers/tail"
)

// tenantJS logs and, on /boom, throws: what a tenant's worker does.
const tenantJS = `export default {
  async fetch(request) {
    const url = new URL(request.url);
    console.log("hello", { path: url.pathname });
    if (url.pathname === "/boom") {
      console.error("about to fail");
      throw new Error("boom");
    }
    return new Response("ok");
  },
};
`

type record struct {
	App       string `json:"app"`
	RequestID string `json:"request_id"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Route     string `json:"route"`
	Status    int    `json:"status"`
	Dropped   int    `json:"dropped"`
	Lines     []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	} `json:"lines"`
}

// TestTailWorkerInWorkerd: real workerd runs a tenant worker with the tail worker as its tail
// consumer (as Cloudflare does with tail_consumers); the tail worker posts the request's lines
// and its uncaught exception to an ingest endpoint with the ingest token, with the request id
// and route the dispatcher put on the request.
func TestTailWorkerInWorkerd(t *testing.T) {
	bin, err := runtime.FindWorkerd()
	if err != nil {
		t.Skip(err)
	}
	var mu sync.Mutex
	var got []record
	var auths []string
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Logs []record }
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &in); err != nil {
			t.Errorf("ingest body: %v: %s", err, b)
		}
		mu.Lock()
		got = append(got, in.Logs...)
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(200)
	}))
	defer ingest.Close()

	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tenant.js", tenantJS)
	var mods []string
	for name, text := range tail.Modules() {
		write(name, text)
		mods = append(mods, fmt.Sprintf("(name = %q, esModule = embed %q)", name, name))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	write("config.capnp", fmt.Sprintf(`using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "app-shop", worker = (modules = [(name = "tenant.js", esModule = embed "tenant.js")], compatibilityDate = "2026-11-01", tails = ["tail"])),
    (name = "tail", worker = (modules = [%s], compatibilityDate = "2026-11-01",
      bindings = [(name = "INGEST_URL", text = %q), (name = "INGEST_TOKEN", text = "ingest-secret"), (name = "SCRIPT_NAME", text = "app-shop")], globalOutbound = "net")),
    (name = "net", network = (allow = ["public", "local"])),
  ],
  sockets = [(name = "http", address = %q, http = (), service = "app-shop")],
);
`, strings.Join(mods, ", "), ingest.URL+"/internal/telemetry", addr))
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.capnp"), "--experimental")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	call := func(path, rid string) int {
		deadline := time.Now().Add(15 * time.Second)
		for {
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			req.Header.Set("claw-request-id", rid)
			req.Header.Set("claw-route", "GET "+path)
			r, err := http.DefaultClient.Do(req)
			if err == nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				return r.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("workerd does not answer: %v\n%s", err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if s := call("/items", "rid-ok"); s != 200 {
		t.Fatalf("/items: %d", s)
	}
	if s := call("/boom", "rid-boom"); s != 500 {
		t.Fatalf("/boom: %d", s)
	}
	byID := map[string]record{}
	deadline := time.Now().Add(10 * time.Second)
	for len(byID) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		for _, r := range got {
			byID[r.RequestID] = r
		}
		mu.Unlock()
	}
	ok, boom := byID["rid-ok"], byID["rid-boom"]
	if ok.App != "shop" || ok.Route != "GET /items" || ok.Path != "/items" || ok.Status != 200 || len(ok.Lines) != 1 || ok.Lines[0].Level != "info" || ok.Lines[0].Message != `hello {"path":"/items"}` {
		t.Fatalf("the good request's record: %+v (all: %+v)\n%s", ok, got, stderr.String())
	}
	if boom.Status != 500 || len(boom.Lines) != 3 || boom.Lines[1].Level != "error" || boom.Lines[1].Message != "about to fail" ||
		!strings.HasPrefix(boom.Lines[2].Message, "Uncaught Error: boom") || !strings.Contains(boom.Lines[2].Message, "tenant.js:7:13") {
		t.Fatalf("the failing request's record: %+v", boom)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range auths {
		if a != "Bearer ingest-secret" {
			t.Fatalf("ingest authorization %q", a)
		}
	}
}
