package runtime

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers/facilitator"
)

// TestProfileServe keeps an edge with a paid route running for external
// tools (wrk, perf, a CDP client): CLAW_PROFILE=<seconds>; README, Profiling.
func TestProfileServe(t *testing.T) {
	secs := os.Getenv("CLAW_PROFILE")
	if secs == "" {
		t.Skip("set CLAW_PROFILE")
	}
	d, err := time.ParseDuration(secs + "s")
	if err != nil {
		t.Fatalf("CLAW_PROFILE=%q: %v", secs, err)
	}
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING profile: %v", err)
	}
	f, err := facilitator.New(facilitator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fac := httptest.NewServer(f)
	defer fac.Close()
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken, Namespace: testNS,
		ConfigKVNamespaceID: testConfigNS, DataDir: t.TempDir(), AsyncTrace: os.Getenv("CLAW_PROFILE_TRACE") != "", FacilitatorURL: fac.URL,
		SubrequestEmulation: true, Logger: benchLogger(), extraArgs: strings.Fields(os.Getenv("CLAW_PROFILE_ARGS")),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Stop(context.Background())
	e := &edgeEnv{rt: rt, edge: fe}
	req, _ := x402.Resolve(x402.DefaultNetwork, "10000", payTo)
	e.deploy("hello", helloWorker, nil, func(c *appConfig) {
		c.Routes = []map[string]any{{"method": "GET", "path": "/paid", "access": "x402", "settle": "after", "requirements": req,
			"resource": map[string]any{"description": "A paid answer", "mimeType": "text/plain"}}}
	})
	var sigs []string
	for range 2000 {
		sigs = append(sigs, signFor(t, req, rt.URL()+"/hello/paid"))
	}
	if err := os.WriteFile(filepath.Join(os.TempDir(), "claw-sigs.txt"), []byte(strings.Join(sigs, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("EDGE %s PID %d\n", rt.URL(), rt.Status().PID)
	if err := os.WriteFile(filepath.Join(os.TempDir(), "claw-edge.txt"), []byte(fmt.Sprintf("%s %d\n", rt.URL(), rt.Status().PID)), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	for _, w := range rt.CPUStats() {
		fmt.Printf("%s %d %v\n", w.Worker, w.Requests, w.Mean())
	}
}
