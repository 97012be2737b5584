package syncer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/workers"
)

func TestReconcileRepairsDrift(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		s := e.syncer(db.Gorm, "r1")
		var apps []*models.App
		for i := range 4 {
			a, err := e.store.CreateApp(ctx, e.tenant, fmt.Sprintf("app-%d", i), "A")
			if err != nil {
				t.Fatal(err)
			}
			e.version(a, module(i))
			if _, err := e.store.Deploy(ctx, a, 0); err != nil {
				t.Fatal(err)
			}
			if err := s.RunJob(ctx, a.JobTarget()); err != nil {
				t.Fatal(err)
			}
			apps = append(apps, a)
		}
		if rep, err := s.Reconcile(ctx); err != nil || rep.Drift() != 0 || rep.Checked != 4 {
			t.Fatalf("reconcile of a synced edge = %+v, %v", rep, err)
		}

		// Drift: a deleted script, a script with other content, a stray script with our tag, a
		// tampered document and a stray document.
		if err := e.cf.DeleteUserScript(ctx, namespace, apps[0].ScriptName); err != nil {
			t.Fatal(err)
		}
		other := workers.ScriptUpload{MainModule: "worker.js", CompatibilityDate: workers.CompatibilityDate,
			Modules: []workers.ScriptModule{{Name: "worker.js", Content: []byte(module(99))}},
			Tags:    []string{workers.OwnerTag, "app:app-1", "sha:0000000000000000"}}
		if _, err := e.cf.UploadUserScript(ctx, namespace, apps[1].ScriptName, other); err != nil {
			t.Fatal(err)
		}
		other.Tags = []string{workers.OwnerTag, "app:ghost"}
		if _, err := e.cf.UploadUserScript(ctx, namespace, "app-ghost", other); err != nil {
			t.Fatal(err)
		}
		foreign := other
		foreign.Tags = []string{"someone-else"}
		if _, err := e.cf.UploadUserScript(ctx, namespace, "not-ours", foreign); err != nil {
			t.Fatal(err)
		}
		if err := e.cf.PutKV(ctx, e.kvID, workers.ConfigKey(apps[2].Slug), []byte(`{"v":1,"status":"active","script":"evil"}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.cf.PutKV(ctx, e.kvID, workers.ConfigKey("ghost"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		// A forgery as whoever can write KV would make it: a document paying someone else,
		// with the plain SHA-256 of its bytes as the digest in its metadata.
		forged := []byte(`{"v":1,"status":"active","script":"app-3","routes":[{"access":"x402","requirements":{"payTo":"0xattacker"}}]}`)
		sum := sha256.Sum256(forged)
		if err := e.cf.PutKVBulk(ctx, e.kvID, []workers.KVPair{{Key: workers.ConfigKey(apps[3].Slug), Value: string(forged),
			Metadata: map[string]string{"sha256": hex.EncodeToString(sum[:])}}}); err != nil {
			t.Fatal(err)
		}

		rep, err := s.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := syncerReport{Missing: 1, Wrong: 1, Stray: 1, KVFixed: 2, KVStray: 1}
		if got := (syncerReport{rep.MissingScripts, rep.WrongScripts, rep.StrayScripts, rep.KVFixed, rep.KVStray}); got != want || rep.Errors != 0 {
			t.Fatalf("report = %+v, want %+v", rep, want)
		}
		for _, a := range apps {
			e.checkEdge(a)
		}
		if b := e.edgeScript("app-ghost"); b != nil {
			t.Error("stray script survived")
		}
		if b := e.edgeScript("not-ours"); b == nil {
			t.Error("a script without our tag was deleted")
		}
		if _, err := e.cf.GetKV(ctx, e.kvID, workers.ConfigKey("ghost")); err == nil {
			t.Error("stray document survived")
		}
		if rep, err := s.Reconcile(ctx); err != nil || rep.Drift() != 0 {
			t.Errorf("second reconcile = %+v, %v", rep, err)
		}
	})
}

type syncerReport struct{ Missing, Wrong, Stray, KVFixed, KVStray int }

// TestReconcileSkipsPendingApps: an app whose job is pending is the job's to write, so the
// reconciler must not push the state it read (which may be older) over it.
func TestReconcileSkipsPendingApps(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	s := e.syncer(e.db.Gorm, "r1")
	a, _ := e.store.CreateApp(ctx, e.tenant, "pending-app", "P")
	rep, err := s.Reconcile(ctx)
	if err != nil || rep.Pending != 1 || rep.Checked != 0 || rep.KVFixed != 0 {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	if _, err := e.cf.GetKV(ctx, e.kvID, workers.ConfigKey(a.Slug)); err == nil {
		t.Error("reconcile wrote the document of a pending app")
	}
}

// TestBenchmarkSync measures deploy latency and a full reconcile of 10,000 apps. It runs only
// with CLAW_BENCH=1 (about a minute of setup on SQLite).
func TestBenchmarkSync(t *testing.T) {
	if os.Getenv("CLAW_BENCH") != "1" {
		t.Skip("set CLAW_BENCH=1 to run the sync benchmark")
	}
	db := modeltest.SQLite(t)
	if os.Getenv("CLAW_TEST_POSTGRES_URL") != "" && os.Getenv("CLAW_BENCH_DB") == "postgres" {
		db = modeltest.Postgres(t)
	}
	e := newEnv(t, db)
	ctx := context.Background()
	s := e.syncer(db.Gorm, "bench")

	// Deploy latency: save a version, deploy, RunJob → the emulator holds it.
	a, _ := e.store.CreateApp(ctx, e.tenant, "latency", "L")
	var total, worst time.Duration
	const deploys = 50
	for i := range deploys {
		start := time.Now()
		e.version(a, module(i))
		if _, err := e.store.Deploy(ctx, a, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.RunJob(ctx, a.JobTarget()); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	t.Logf("deploy latency (save → edge holds it) on %s: mean %v, worst %v over %d deploys", db.Name, total/deploys, worst, deploys)

	// 10,000 apps with a deployed version, in sync in the database, scripts at the edge, no
	// config documents: the reconcile must write 10,000 documents.
	const n = 10000
	start := time.Now()
	v := e.version(a, module(-1))
	now := time.Now().UTC()
	apps := make([]models.App, n)
	for i := range apps {
		slug := fmt.Sprintf("b%05d", i)
		apps[i] = models.App{TenantID: e.tenant.ID, Slug: slug, Name: slug, ScriptName: "app-" + slug, Status: models.AppActive,
			DesiredVersionID: &v.ID, DeployedVersionID: &v.ID, Generation: 1, SyncedGeneration: 1, SyncState: models.SyncInSync, CreatedAt: now, UpdatedAt: now}
	}
	for i := range apps {
		up := workers.BuildScript(apps[i], *v, nil, models.Plan{Key: "pro"})
		apps[i].ScriptFingerprint = workers.Fingerprint(up, e.key)
	}
	if err := db.Gorm.CreateInBatches(&apps, 500).Error; err != nil {
		t.Fatal(err)
	}
	jobs := make([]models.SyncJob, n)
	for i := range jobs {
		id := apps[i].ID
		jobs[i] = models.SyncJob{Kind: models.JobApp, Target: models.AppJobTarget(id), AppID: &id, DesiredGen: 1, DoneGen: 1, NextAt: now}
	}
	if err := db.Gorm.CreateInBatches(&jobs, 500).Error; err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range apps {
		wg.Add(1)
		sem <- struct{}{}
		go func(app models.App) {
			defer func() { <-sem; wg.Done() }()
			up := workers.WithFingerprint(workers.BuildScript(app, *v, nil, models.Plan{Key: "pro"}), app.ScriptFingerprint)
			if _, err := e.cf.UploadUserScript(ctx, namespace, app.ScriptName, up); err != nil {
				t.Error(err)
			}
		}(apps[i])
	}
	wg.Wait()
	t.Logf("setup of %d apps and scripts: %v", n, time.Since(start))

	start = time.Now()
	rep, err := s.Reconcile(ctx)
	cold := time.Since(start)
	if err != nil || rep.KVFixed != n || rep.Checked != n+1 {
		t.Fatalf("cold reconcile = %+v, %v", rep, err)
	}
	start = time.Now()
	rep, err = s.Reconcile(ctx)
	warm := time.Since(start)
	if err != nil || rep.Drift() != 0 {
		t.Fatalf("warm reconcile = %+v, %v", rep, err)
	}
	t.Logf("reconcile of %d apps on %s: %v writing every config document (bulk), %v when nothing drifted", n+1, db.Name, cold, warm)
	if cold > time.Minute {
		t.Errorf("reconcile took %v, goal < 60 s", cold)
	}
}
