package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers/runtime"
)

// H2 end to end: an app whose request loops forever stalls the local edge; the watchdog
// restarts workerd and names it, serve stops the app and pushes the stop to the edge, and the
// app's consumers then read why it answers 403, while the other apps are served.
func TestServeStopsAnAppThatStallsTheEdge(t *testing.T) {
	wd, err := runtime.FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING local edge test: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	edgeAddr := ln.Addr().String() // fixed, as in serve: clients keep it across the restart
	ln.Close()
	cfg := &Config{DataDir: t.TempDir(), LocalCFAddr: "127.0.0.1:0", EdgeAddr: edgeAddr, WorkerdPath: wd,
		BaseURL: "http://127.0.0.1:1", BaseDomain: "localhost", CFNamespace: "402claw"}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := openPlatform(withLocalEdge(ctx), cfg, log, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.edge.close()
	if p.edge.runtime == nil {
		t.Fatalf("the local edge did not start: %v", p.edge.runtimeErr)
	}
	go p.edge.stopRunaways(ctx, p.store, p.syncer.RunJob, log)

	_, tenant, err := p.store.SignUp(ctx, "loop@example.com", "h", "Loop", models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(slug, src string) *models.App {
		a, err := p.store.CreateApp(ctx, tenant, slug, slug)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.store.CreateVersion(ctx, a, 1, models.NewVersion{MainModule: "index.js", Sources: map[string]string{"index.js": src}, Bundle: []byte(src)}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.store.Deploy(ctx, a, 0); err != nil {
			t.Fatal(err)
		}
		if err := p.syncer.RunJob(ctx, a.JobTarget()); err != nil {
			t.Fatalf("sync %s: %v", slug, err)
		}
		return a
	}
	loopy := deploy("loopy", `export default { fetch(req) {
  if (new URL(req.url).pathname === "/go") { while (true) {} }
  return new Response("ready");
} };`)
	deploy("steady", `export default { fetch() { return new Response("steady"); } };`)

	get := func(path string, timeout time.Duration) (int, string) {
		c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + edgeAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15 s; log:\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	eventually("loopy answers", func() bool { s, b := get("/loopy/", 5*time.Second); return s == 200 && b == "ready" })

	go get("/loopy/go", 20*time.Second)
	eventually("the app is stopped", func() bool { a, _ := p.store.AppByID(ctx, loopy.ID); return models.IsCPUStop(a) })
	eventually("its consumers read why", func() bool {
		s, b := get("/loopy/", 5*time.Second)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal([]byte(b), &e)
		return s == 403 && e.Error.Code == "app_paused" && strings.HasPrefix(e.Error.Message, models.CPUStopReason)
	})
	if s, b := get("/steady/", 5*time.Second); s != 200 || b != "steady" {
		t.Errorf("another app after the restart: %d %s", s, b)
	}
	if st := p.edge.runtime.Status(); st.Stalls != 1 {
		t.Errorf("runtime status %+v", st)
	}
}
