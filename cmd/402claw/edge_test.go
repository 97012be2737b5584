package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/runtime"
)

// lockedBuffer is a log sink the test can read while the edge writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve's local edge preloads an app whenever its config document is
// written through the local Cloudflare API, so a deploy is served on the
// next request, not after the dispatcher's config cache (5 s) expires.
func TestLocalEdgePreloadsOnConfigWrite(t *testing.T) {
	wd, err := runtime.FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING local edge test: %v", err)
	}
	cfg := &Config{DataDir: t.TempDir(), LocalCFAddr: "127.0.0.1:0", EdgeAddr: "127.0.0.1:0", WorkerdPath: wd,
		BaseURL: "http://127.0.0.1:1", BaseDomain: "localhost", CFNamespace: "402claw"}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := withLocalEdge(context.Background())
	e, err := startEdge(ctx, cfg, "ingest-token", make([]byte, 32), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	if e.runtime == nil {
		t.Fatalf("the local edge did not start: %v", e.runtimeErr)
	}
	deploy := func(version int) {
		src := fmt.Sprintf(`export default { fetch() { return new Response("v%d"); } };`, version)
		info, err := e.cf.UploadUserScript(ctx, e.namespace, "app-shop", workers.ScriptUpload{MainModule: "index.js",
			Modules: []workers.ScriptModule{{Name: "index.js", Content: []byte(src)}}, CompatibilityDate: "2026-11-01"})
		if err != nil {
			t.Fatal(err)
		}
		doc := fmt.Sprintf(`{"v":1,"config_version":%d,"slug":"shop","script":"app-shop","etag":%q,"status":"active","plan":{"subRequests":10},"routes":[],"egress":[]}`, version, info.ETag)
		if err := e.cf.PutKVBulk(ctx, e.kvID, []workers.KVPair{workers.ConfigPair(make([]byte, 32), workers.ConfigKey("shop"), []byte(doc))}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() string {
		resp, err := http.Get(e.runtime.URL() + "/shop/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	preloads := func() (n int) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `msg="app preloaded"`) && strings.Contains(line, "app=shop found=true loaded=true") {
				n++
			}
		}
		return n
	}
	waitPreload := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for preloads() < n {
			if time.Now().After(deadline) {
				t.Fatalf("no preload #%d of shop in the log:\n%s", n, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	deploy(1)
	waitPreload(1)
	if got := get(); got != "v1" {
		t.Fatalf("after the first deploy: %q", got)
	}
	// The request above cached version 1's config for 5 s; the preload that
	// follows the second write replaces it.
	deploy(2)
	waitPreload(2)
	if got := get(); got != "v2" {
		t.Fatalf("after the second deploy and its preload: %q (the config cache was not refreshed)", got)
	}
}
