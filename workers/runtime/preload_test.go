package runtime

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A preload loads the app's worker before any request: the first request
// then reads no script. Only the module's top level runs.
func TestPreloadLoadsTheWorker(t *testing.T) {
	e := edge(t)
	e.deploy("preload-me", `let n = 0; export default { fetch() { n++; return new Response("calls " + n); } };`, nil, nil)
	if got := e.edge.reads(testNS, "app-preload-me"); got != 0 {
		t.Fatalf("script read %d times before the preload", got)
	}
	res, err := e.rt.Preload(context.Background(), "preload-me")
	if err != nil || !res.Found || !res.Loaded {
		t.Fatalf("Preload = %+v, %v", res, err)
	}
	if got := e.edge.reads(testNS, "app-preload-me"); got != 1 {
		t.Fatalf("script read %d times by the preload, want 1", got)
	}
	// The tenant's fetch never ran during the preload: the first call is 1.
	if r := e.do(t, "GET", "", "/preload-me/", nil); r.status != 200 || r.body != "calls 1" {
		t.Fatalf("first request: %d %q", r.status, r.body)
	}
	if got := e.edge.reads(testNS, "app-preload-me"); got != 1 {
		t.Fatalf("the first request read the script again (%d reads)", got)
	}
	// Preloading a loaded app loads nothing.
	if _, err := e.rt.Preload(context.Background(), "preload-me"); err != nil {
		t.Fatal(err)
	}
	if got := e.edge.reads(testNS, "app-preload-me"); got != 1 {
		t.Fatalf("a second preload read the script (%d reads)", got)
	}
}

func TestPreloadBadInput(t *testing.T) {
	e := edge(t)
	e.deploy("preload-paused", `export default { fetch() { return new Response("x"); } };`, nil, func(c *appConfig) { c.Status = "paused" })
	e.deploy("preload-nocode", "", nil, nil)
	e.deploy("preload-throws", `throw new Error("boom at the top level"); export default {};`, nil, nil)
	cases := []struct {
		slug    string
		found   bool
		loaded  bool
		wantErr string
	}{
		{"no-such-app", false, false, ""},
		{"preload-paused", true, false, ""},                       // not loaded: it answers 403 anyway
		{"preload-nocode", true, false, ""},                       // no code deployed yet: nothing to load, no error
		{"preload-throws", false, false, "boom at the top level"}, // the reason reaches the log
		{"Not A Slug", false, false, "400"},
		{"../../x", false, false, "400"},
	}
	for _, c := range cases {
		res, err := e.rt.Preload(context.Background(), c.slug)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Preload(%q) = %+v, %v; want an error with %q", c.slug, res, err, c.wantErr)
			}
			continue
		}
		if err != nil || res.Found != c.found || res.Loaded != c.loaded {
			t.Errorf("Preload(%q) = %+v, %v; want found %v loaded %v", c.slug, res, err, c.found, c.loaded)
		}
	}
	// A failed preload leaves the app working once it has code.
	e.deploy("preload-nocode", `export default { fetch() { return new Response("now"); } };`, nil, func(c *appConfig) { c.ConfigVersion = 2 })
	if r := e.do(t, "GET", "", "/preload-nocode/", nil); r.status != 200 || r.body != "now" {
		t.Fatalf("after deploying: %d %q", r.status, r.body)
	}
}

// With a long config cache, a rewritten document is seen only after a
// preload (the portal preloads after every write) — and at once.
func TestPreloadRefreshesTheConfigCache(t *testing.T) {
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	long := func(o *Options) { o.ConfigCacheTTL = time.Hour }
	rt := startOwnEdge(t, wd, srv.URL, long)
	e := &edgeEnv{rt: rt, edge: fe}
	e.deploy("cached", `export default { fetch() { return new Response("v1"); } };`, nil, nil)
	if r := e.do(t, "GET", "", "/cached/", nil); r.body != "v1" {
		t.Fatalf("v1: %d %q", r.status, r.body)
	}
	e.deploy("cached", `export default { fetch() { return new Response("v2"); } };`, nil, func(c *appConfig) { c.ConfigVersion = 2 })
	if r := e.do(t, "GET", "", "/cached/", nil); r.body != "v1" {
		t.Fatalf("without a preload the cached config should still serve v1: %d %q", r.status, r.body)
	}
	rt.PreloadLater("cached")
	rt.PreloadLater("cached") // coalesces with the first
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do(t, "GET", "", "/cached/", nil)
		if r.body == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after PreloadLater: %d %q", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// After a start every app is preloaded.
	if err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt2 := startOwnEdge(t, wd, srv.URL, long)
	before := fe.reads(testNS, "app-cached")
	e2 := &edgeEnv{rt: rt2, edge: fe}
	if r := e2.do(t, "GET", "", "/cached/", nil); r.body != "v2" {
		t.Fatalf("after a restart: %d %q", r.status, r.body)
	}
	if got := fe.reads(testNS, "app-cached"); got != before {
		t.Fatalf("the first request after a start read the script (%d → %d reads): the start did not preload it", before, got)
	}
}

// startOwnEdge starts a runtime of the test's own (not the shared one) on
// the fake local API at apiURL, stopped when the test ends; edit changes
// the options first.
func startOwnEdge(t *testing.T, wd, apiURL string, edit func(*Options)) *Runtime {
	t.Helper()
	opts := Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: apiURL, EdgeAPIToken: testRuntimeToken, Namespace: testNS,
		ConfigKVNamespaceID: testConfigNS, DataDir: t.TempDir(), SubrequestEmulation: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&opts)
	}
	rt, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Stop(context.Background()) })
	return rt
}
