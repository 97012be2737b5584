package syncer_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/syncer"
)

// TestTailConsumerOnUserWorkers: with a tail worker configured (Cloudflare), every user worker is
// uploaded with tail_consumers naming it. The emulator refuses the upload while the tail worker
// does not exist, as Cloudflare does; once bootstrap uploaded it, the deploy goes through and the
// script's settings carry it. Without one (the local edge) nothing is named.
func TestTailConsumerOnUserWorkers(t *testing.T) {
	db := modeltest.SQLite(t)
	e := newEnv(t, db)
	ctx := context.Background()
	s := syncer.New(syncer.Options{
		Store: e.store, CF: e.cf, Namespace: namespace, ConfigKV: e.kvID, Key: e.key, TailWorker: workers.TailWorker,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkerID: "tail", Lease: 30 * time.Second,
	})
	app, err := e.store.CreateApp(ctx, e.tenant, "tailed", "Tailed")
	if err != nil {
		t.Fatal(err)
	}
	e.version(app, module(1))
	if _, err := e.store.Deploy(ctx, app, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RunJob(ctx, app.JobTarget()); err == nil || !strings.Contains(err.Error(), "402claw-tail") {
		t.Fatalf("deploy before the tail worker exists: %v", err)
	}
	if _, err := e.cf.UploadWorker(ctx, workers.TailWorker, workers.TailUpload(workers.BootstrapOptions{IngestURL: "https://portal.example.com/internal/telemetry", IngestToken: "tok"})); err != nil {
		t.Fatal(err)
	}
	// A 400 is a permanent failure (the deployment failed); deploying again goes through.
	if _, err := e.store.Deploy(ctx, app, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RunJob(ctx, app.JobTarget()); err != nil || e.edgeScript("app-tailed") == nil {
		t.Fatalf("deploy with the tail worker: %v", err)
	}
	settings := func(slug string) string {
		req, _ := http.NewRequest("GET", e.url+"/client/v4/accounts/acc/workers/dispatch/namespaces/"+namespace+"/scripts/app-"+slug+"/settings", nil)
		req.Header.Set("Authorization", "Bearer local")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if got := settings("tailed"); !strings.Contains(got, `"tail_consumers":[{"service":"402claw-tail"}]`) {
		t.Fatalf("settings of the user worker: %s", got)
	}
	// The local edge's syncer names no tail worker.
	local := e.syncer(db.Gorm, "local")
	other, err := e.store.CreateApp(ctx, e.tenant, "untailed", "Untailed")
	if err != nil {
		t.Fatal(err)
	}
	e.version(other, module(2))
	if _, err := e.store.Deploy(ctx, other, 0); err != nil {
		t.Fatal(err)
	}
	if err := local.RunJob(ctx, other.JobTarget()); err != nil {
		t.Fatal(err)
	}
	if got := settings("untailed"); strings.Contains(got, "tail_consumers") {
		t.Fatalf("a local upload names a tail consumer: %s", got)
	}
}
