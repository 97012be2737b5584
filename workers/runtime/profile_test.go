package runtime

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers/facilitator"
)

// TestProfileServe keeps an edge running for external tools (wrk, perf, a
// CDP client): CLAW_PROFILE=<seconds>.
func TestProfileServe(t *testing.T) {
	secs := os.Getenv("CLAW_PROFILE")
	if secs == "" {
		t.Skip("set CLAW_PROFILE")
	}
	d, _ := time.ParseDuration(secs + "s")
	wd, _ := FindWorkerd("../..")
	f, _ := facilitator.New(facilitator.Options{})
	fac := httptest.NewServer(f)
	defer fac.Close()
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, Namespace: testNS,
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
	os.WriteFile("/tmp/claw-sigs.txt", []byte(strings.Join(sigs, "\n")), 0o644)
	fmt.Printf("EDGE %s PID %d\n", rt.URL(), rt.Status().PID)
	os.WriteFile("/tmp/claw-edge.txt", []byte(fmt.Sprintf("%s %d\n", rt.URL(), rt.Status().PID)), 0o644)
	time.Sleep(d)
	for _, w := range rt.CPUStats() {
		fmt.Printf("%s %d %v\n", w.Worker, w.Requests, w.Mean())
	}
}
