package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/402claw/402claw/workers/localcf"
	"github.com/402claw/402claw/workers/runtime"
)

// TestEdgeCheckCommand runs `402claw edge check` as an operator would, with credentials that
// point at the emulator (CLAW_CF_BASE_URL) and the local runtime as the edge (--edge-url), then
// `402claw reconcile` with its safety-valve flags.
func TestEdgeCheckCommand(t *testing.T) {
	wd, err := runtime.FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING the edge check command test: %v", err)
	}
	keyHex := strings.Repeat("ab", 32)
	key, _ := models.ParseKey(keyHex)
	emu, err := localcf.New(t.TempDir(), localcf.Options{Token: "cf-token", RuntimeToken: "runtime", SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	fac, err := facilitator.New(facilitator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fac.Close() })
	facSrv := httptest.NewServer(fac)
	t.Cleanup(facSrv.Close)
	ctx := context.Background()
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: "cf-token", AccountID: "acc", BaseURL: api.URL + "/client/v4"})
	pre, err := workers.Bootstrap(ctx, cf, workers.BootstrapOptions{Namespace: "402claw", SkipWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.Start(ctx, runtime.Options{WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: api.URL, EdgeAPIToken: "runtime",
		Namespace: "402claw", ConfigKVNamespaceID: pre.KVNamespaceID, DataDir: t.TempDir(), ConfigKey: workers.ConfigKeyHex(key),
		FacilitatorURL: facSrv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(sctx)
	})
	env := map[string]string{
		"CLAW_CF_API_TOKEN": "cf-token", "CLAW_CF_ACCOUNT_ID": "acc", "CLAW_CF_BASE_URL": api.URL + "/client/v4",
		"CLAW_CF_KV_NAMESPACE_ID": pre.KVNamespaceID, "CLAW_SECRET_KEY": keyHex, "CLAW_BASE_DOMAIN": "apps.example.com",
		"CLAW_BASE_URL": "https://portal.example.com", "CLAW_INGEST_TOKEN": "ingest", "CLAW_FACILITATOR_URL": facSrv.URL, "CLAW_DATA_DIR": t.TempDir(),
	}
	getenv := func(k string) string { return env[k] }

	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"edge", "check", "--edge-url", rt.URL()}, getenv, &out, &errOut); err != nil {
		t.Fatalf("edge check: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"PASS  bootstrap again", "PASS  call a priced route", "HTTP 402", "edge check passed", `items nested under "script" with tags, no cursor`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// A rule broken: every KV write refused. The command fails, naming the step.
	emu.SetFaults(localcf.Faults{KVUnsuccessfulRate: 1})
	out.Reset()
	err = run(ctx, []string{"edge", "check", "--edge-url", rt.URL()}, getenv, &out, &errOut)
	emu.SetFaults(localcf.Faults{})
	if !errors.Is(err, workers.ErrCheckFailed) || !strings.Contains(out.String(), "FAIL  KV bulk write and list") {
		t.Errorf("with KV refused: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"edge", "check", "--edge-url", "ftp://x"}, getenv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--edge-url") {
		t.Errorf("a bad --edge-url: %v", err)
	}
	if err := run(ctx, []string{"edge", "check"}, func(k string) string { return "" }, &out, &errOut); err == nil || !strings.Contains(err.Error(), "CLAW_CF_API_TOKEN") {
		t.Errorf("without credentials: %v", err)
	}

	// reconcile, with and without its flags, against the same account.
	if err := run(ctx, []string{"migrate"}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"reconcile", "--allow-mass-delete"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "listed 0 of our scripts") {
		t.Errorf("reconcile: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"reconcile", "--everything"}, getenv, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("an unknown reconcile flag: %v", err)
	}
}
