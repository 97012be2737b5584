package workers_test

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

	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/402claw/402claw/workers/localcf"
	"github.com/402claw/402claw/workers/runtime"
)

// TestEdgeCheckAgainstTheEmulator runs `402claw edge check`'s script against the emulator in
// each of its list-scripts modes, with the local runtime (workerd running our dispatcher)
// serving the edge, so the calls through the dispatcher — the 402 included — are real.
func TestEdgeCheckAgainstTheEmulator(t *testing.T) {
	wd, err := runtime.FindWorkerd("..")
	if err != nil {
		t.Skipf("SKIPPING the edge check against the emulator: %v", err)
	}
	key := bytes.Repeat([]byte{9}, 32)
	emu, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: "runtime", SecretKey: key})
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
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: "t", AccountID: "acc", BaseURL: api.URL + "/client/v4", MaxRetries: -1, KVRetryBackoff: time.Millisecond})
	ctx := context.Background()
	bopts := workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "localhost", FacilitatorURL: facSrv.URL, ConfigKey: workers.ConfigKeyHex(key)}
	pre, err := workers.Bootstrap(ctx, cf, workers.BootstrapOptions{Namespace: bopts.Namespace, SkipWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.Start(ctx, runtime.Options{WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: api.URL, EdgeAPIToken: "runtime",
		Namespace: bopts.Namespace, ConfigKVNamespaceID: pre.KVNamespaceID, DataDir: t.TempDir(), ConfigKey: workers.ConfigKeyHex(key),
		FacilitatorURL: facSrv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(sctx)
	})
	modes := []struct {
		listing   localcf.Listing
		wantShape string
	}{
		{localcf.Listing{Shape: localcf.ListNested}, `items nested under "script" with tags, no cursor`},
		{localcf.Listing{Shape: localcf.ListFlat, Cursor: true}, `flat items with tags, paged by cursor (1 pages)`},
		{localcf.Listing{Shape: localcf.ListFlatNoTags}, `flat items without tags, no cursor`},
		{localcf.Listing{Shape: localcf.ListFlatNoTags, Cursor: true}, `flat items without tags, paged by cursor (1 pages)`},
	}
	for _, m := range modes {
		t.Run(m.wantShape, func(t *testing.T) {
			emu.SetListing(m.listing)
			var out bytes.Buffer
			rep, err := workers.EdgeCheck(ctx, cf, workers.CheckOptions{Bootstrap: bopts, EdgeURL: rt.URL(), SecretKey: key, Propagation: 10 * time.Second, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("edge check output:\n%s", out.String())
			var names []string
			for _, s := range rep.Steps {
				names = append(names, s.Name)
			}
			want := "bootstrap,bootstrap again,upload a throwaway app,read it back,list by tag,KV bulk write and list,write the app's config,call a free route,call a priced route,delete by tag,clean up"
			if strings.Join(names, ",") != want {
				t.Errorf("steps %q", names)
			}
			if rep.Listing != m.wantShape || !strings.Contains(out.String(), "PASS  list by tag") || !strings.Contains(out.String(), m.wantShape) {
				t.Errorf("listing %q, want %q:\n%s", rep.Listing, m.wantShape, out.String())
			}
			if last := workers.DispatcherMigrations[len(workers.DispatcherMigrations)-1].Tag; !strings.Contains(out.String(), "already at "+last) {
				t.Errorf("the second bootstrap should find the dispatcher at %s:\n%s", last, out.String())
			}
			if keys, _ := cf.KVKeys(ctx, pre.KVNamespaceID, ""); len(keys) != 0 {
				t.Errorf("left behind: %q", keys)
			}
			if left, _ := cf.ListUserScripts(ctx, bopts.Namespace); len(left) != 0 {
				t.Errorf("scripts left behind: %+v", left)
			}
		})
	}

	t.Run("a KV write Cloudflare keeps refusing", func(t *testing.T) {
		emu.SetFaults(localcf.Faults{KVUnsuccessfulRate: 1, KVUnsuccessfulPrefix: "check:"})
		defer emu.SetFaults(localcf.Faults{})
		var out bytes.Buffer
		_, err := workers.EdgeCheck(ctx, cf, workers.CheckOptions{Bootstrap: bopts, EdgeURL: rt.URL(), SecretKey: key, Propagation: time.Second, Out: &out})
		if !errors.Is(err, workers.ErrCheckFailed) || !strings.Contains(err.Error(), `at "KV bulk write and list": cloudflare: 3 KV keys were not stored after 4 tries: check:`) {
			t.Fatalf("err = %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "FAIL  KV bulk write and list") || strings.Contains(out.String(), "call a priced route") || !strings.Contains(out.String(), "PASS  clean up") {
			t.Errorf("output:\n%s", out.String())
		}
	})
}

// TestEdgeCheckCatchesTheOldBootstrap: the check run with the bootstrap before this fix (every
// migration sent without old_tag, on every upload) fails at its second bootstrap with
// Cloudflare's own 10079, as a real account would have answered.
func TestEdgeCheckCatchesTheOldBootstrap(t *testing.T) {
	cf, _ := newStrictEmulator(t)
	oldBootstrap := func(ctx context.Context, cf *workers.Cloudflare, o workers.BootstrapOptions) (workers.BootstrapResult, error) {
		skip := o
		skip.SkipWorkers = true
		r, err := workers.Bootstrap(ctx, cf, skip)
		if err != nil {
			return r, err
		}
		if r.Outbound, err = cf.UploadWorker(ctx, workers.OutboundWorker, workers.OutboundUpload(o)); err != nil {
			return r, err
		}
		if r.Dispatcher, err = cf.UploadWorker(ctx, workers.DispatcherWorker, workers.DispatcherUpload(o, r.KVNamespaceID)); err != nil {
			return r, err
		}
		return r, nil
	}
	var out bytes.Buffer
	_, err := workers.EdgeCheck(context.Background(), cf, workers.CheckOptions{Bootstrap: workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "localhost"},
		EdgeURL: "http://127.0.0.1:1", Out: &out, BootstrapFunc: oldBootstrap})
	if !errors.Is(err, workers.ErrCheckFailed) || !strings.Contains(err.Error(), `at "bootstrap again"`) ||
		!strings.Contains(err.Error(), "10079 Migration tag precondition failed; current tag is "+workers.DispatcherMigrations[len(workers.DispatcherMigrations)-1].Tag) {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "PASS  bootstrap ") || !strings.Contains(out.String(), "FAIL  bootstrap again") {
		t.Errorf("output:\n%s", out.String())
	}
}
