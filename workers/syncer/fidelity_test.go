package syncer_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/localcf"
	"github.com/402claw/402claw/workers/syncer"
)

// fleet creates n apps in sync at the edge: rows written in bulk, scripts uploaded as the
// syncer would, config documents written by a first reconcile.
func (e *env) fleet(s *syncer.Syncer, n int) []models.App {
	e.t.Helper()
	ctx := context.Background()
	owner, err := e.store.CreateApp(ctx, e.tenant, "fleet-owner", "F")
	if err != nil {
		e.t.Fatal(err)
	}
	v := e.version(owner, module(-1))
	// The owner app has a version but no deployment: keep it out of the way.
	if err := e.db.Gorm.Exec(`DELETE FROM sync_jobs WHERE app_id = ?`, owner.ID).Error; err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.Gorm.Exec(`DELETE FROM apps WHERE id = ?`, owner.ID).Error; err != nil {
		e.t.Fatal(err)
	}
	now := time.Now().UTC()
	apps := make([]models.App, n)
	for i := range apps {
		slug := fmt.Sprintf("f%05d", i)
		apps[i] = models.App{TenantID: e.tenant.ID, Slug: slug, Name: slug, ScriptName: "app-" + slug, Status: models.AppActive,
			DesiredVersionID: &v.ID, DeployedVersionID: &v.ID, Generation: 1, SyncedGeneration: 1, SyncState: models.SyncInSync, CreatedAt: now, UpdatedAt: now}
		apps[i].ScriptFingerprint = workers.Fingerprint(workers.BuildScript(apps[i], *v, nil, models.Plan{Key: "pro"}), e.key)
	}
	if err := e.db.Gorm.CreateInBatches(&apps, 500).Error; err != nil {
		e.t.Fatal(err)
	}
	jobs := make([]models.SyncJob, n)
	for i := range jobs {
		id := apps[i].ID
		jobs[i] = models.SyncJob{Kind: models.JobApp, Target: models.AppJobTarget(id), AppID: &id, DesiredGen: 1, DoneGen: 1, NextAt: now}
	}
	if err := e.db.Gorm.CreateInBatches(&jobs, 500).Error; err != nil {
		e.t.Fatal(err)
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
				e.t.Error(err)
			}
		}(apps[i])
	}
	wg.Wait()
	rep, err := s.Reconcile(ctx)
	if err != nil || rep.KVFixed != n || rep.MissingScripts+rep.WrongScripts+rep.StrayScripts != 0 {
		e.t.Fatalf("first reconcile of the fleet: %+v, %v", rep, err)
	}
	return apps
}

// scriptWrites counts uploads and deletes of scripts at the emulator.
func (e *env) scriptWrites() (count func() int64, stop func()) {
	var n atomic.Int64
	stop = e.emu.OnChange(func(ev localcf.Event) {
		if ev.Kind == "script" {
			n.Add(1)
		}
	})
	return n.Load, stop
}

// TestReconcileConvergesUnderEveryListShape: 2,500 apps (more than two pages of 1,000) and the
// list-scripts answer in each shape Cloudflare's sources describe, with and without a cursor.
// Each run repairs exactly the drift planted — one script deleted, one changed, one stray —
// and leaves alone a script of ours under a foreign name; the next run finds nothing, and
// neither uploads nor deletes anything.
func TestReconcileConvergesUnderEveryListShape(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	s := e.syncer(e.db.Gorm, "shapes")
	const n = 2500
	start := time.Now()
	apps := e.fleet(s, n)
	t.Logf("setup of %d apps, scripts and documents: %v", n, time.Since(start))
	writes, stop := e.scriptWrites()
	defer stop()
	foreign := workers.ScriptUpload{MainModule: "w.js", CompatibilityDate: workers.CompatibilityDate,
		Modules: []workers.ScriptModule{{Name: "w.js", Content: []byte(module(7))}}, Tags: []string{workers.OwnerTag, "shard:00"}}
	if _, err := e.cf.UploadUserScript(ctx, namespace, "zz-not-an-app", foreign); err != nil {
		t.Fatal(err)
	}
	shapes := []localcf.Listing{
		{Shape: localcf.ListNested},
		{Shape: localcf.ListNested, Cursor: true},
		{Shape: localcf.ListFlat, Cursor: true},
		{Shape: localcf.ListFlat},
		{Shape: localcf.ListFlatNoTags},
		{Shape: localcf.ListFlatNoTags, Cursor: true},
	}
	for i, shape := range shapes {
		name := string(shape.Shape)
		if shape.Cursor {
			name += "+cursor"
		}
		t.Run(name, func(t *testing.T) {
			e.emu.SetListing(shape)
			gone, changed := apps[3*i], apps[3*i+1]
			if err := e.cf.DeleteUserScript(ctx, namespace, gone.ScriptName); err != nil {
				t.Fatal(err)
			}
			wrong := foreign
			wrong.Tags = []string{workers.OwnerTag, workers.ShardTag(changed.ScriptName), "sha:0000000000000000"}
			if _, err := e.cf.UploadUserScript(ctx, namespace, changed.ScriptName, wrong); err != nil {
				t.Fatal(err)
			}
			stray := fmt.Sprintf("app-stray-%d", i)
			wrong.Tags = []string{workers.OwnerTag, workers.ShardTag(stray)}
			if _, err := e.cf.UploadUserScript(ctx, namespace, stray, wrong); err != nil {
				t.Fatal(err)
			}
			before := writes()
			start := time.Now()
			rep, err := s.Reconcile(ctx)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if rep.MissingScripts != 1 || rep.WrongScripts != 1 || rep.StrayScripts != 1 || rep.KVFixed != 0 || rep.KVStray != 0 || rep.Errors != 0 || rep.Blocked {
				t.Fatalf("report %+v", rep)
			}
			if w := writes() - before; w != 3 {
				t.Errorf("%d script writes, want 3 (two uploads, one delete)", w)
			}
			if e.edgeScript(stray) != nil || e.edgeScript("zz-not-an-app") == nil {
				t.Errorf("stray survived or a foreign name was deleted")
			}
			e.checkEdge(&gone)
			e.checkEdge(&changed)
			before = writes()
			start2 := time.Now()
			again, err := s.Reconcile(ctx)
			took2 := time.Since(start2)
			if err != nil || again.Drift() != 0 || again.Errors != 0 || writes() != before {
				t.Fatalf("second run: %+v, %v, %d writes", again, err, writes()-before)
			}
			t.Logf("%s: %s; reconcile with 3 repairs %v, without drift %v (%d listed, %d per-script reads)", name, again.ListShape, took.Round(time.Millisecond), took2.Round(time.Millisecond), again.Listed, again.Reads)
		})
	}
}

// deployedFleet is n apps deployed through the normal path (jobs run at once).
func (e *env) deployedFleet(s *syncer.Syncer, n int) []*models.App {
	e.t.Helper()
	ctx := context.Background()
	if err := e.db.Gorm.Exec(`UPDATE plans SET max_apps = 1000 WHERE key = 'pro'`).Error; err != nil {
		e.t.Fatal(err)
	}
	var apps []*models.App
	for i := range n {
		a, err := e.store.CreateApp(ctx, e.tenant, fmt.Sprintf("valve-%02d", i), "V")
		if err != nil {
			e.t.Fatal(err)
		}
		e.version(a, module(i))
		if _, err := e.store.Deploy(ctx, a, 0); err != nil {
			e.t.Fatal(err)
		}
		if err := s.RunJob(ctx, a.JobTarget()); err != nil {
			e.t.Fatal(err)
		}
		apps = append(apps, a)
	}
	return apps
}

// TestSafetyValveOnAnEmptyListing: the listing suddenly comes back empty while 30 apps are
// deployed. Believing it would re-upload everything; the run holds back instead, deletes and
// uploads nothing, and the stored report carries the alert for /admin/sync.
func TestSafetyValveOnAnEmptyListing(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	s := e.syncer(e.db.Gorm, "valve")
	e.deployedFleet(s, 30)
	writes, stop := e.scriptWrites()
	defer stop()
	e.emu.SetFaults(localcf.Faults{EmptyScriptLists: true})
	rep, err := s.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Blocked || rep.MissingScripts != 0 || rep.StrayScripts != 0 || writes() != 0 {
		t.Fatalf("report %+v, %d script writes", rep, writes())
	}
	last, err := e.store.LastReconcileReport(ctx)
	if err != nil || last == nil || !last.Blocked || !strings.Contains(last.BlockedReason, "shows none of our scripts") ||
		!strings.Contains(last.BlockedReason, "30 apps are deployed") || !strings.Contains(last.BlockedReason, "--allow-mass-upload") {
		t.Fatalf("stored report %+v, %v", last, err)
	}
	// The operator's override reads each script before uploading anything: all are there.
	forced, err := s.ReconcileWith(ctx, syncer.ReconcileOptions{AllowMassUpload: true})
	if err != nil || forced.Blocked || forced.MissingScripts != 0 || forced.Reads != 30 || writes() != 0 {
		t.Fatalf("forced run: %+v, %v, %d writes", forced, err, writes())
	}
}

// TestSafetyValveOnMassDeletion: the database lost 25 of its 30 apps (an old backup restored);
// their scripts and documents look stray. 25 is more than max(20, 2%), so nothing is deleted
// until the operator says so.
func TestSafetyValveOnMassDeletion(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	s := e.syncer(e.db.Gorm, "valve")
	apps := e.deployedFleet(s, 30)
	for _, a := range apps[:25] {
		if err := e.db.Gorm.Exec(`DELETE FROM sync_jobs WHERE app_id = ?`, a.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := e.db.Gorm.Exec(`DELETE FROM deployments WHERE app_id = ?`, a.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := e.db.Gorm.Exec(`DELETE FROM apps WHERE id = ?`, a.ID).Error; err != nil {
			t.Fatal(err)
		}
	}
	writes, stop := e.scriptWrites()
	defer stop()
	rep, err := s.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Blocked || rep.WouldDeleteScripts != 25 || rep.WouldDeleteDocs != 25 || rep.DeleteLimit != 20 || rep.StrayScripts+rep.KVStray != 0 || writes() != 0 {
		t.Fatalf("report %+v, %d script writes", rep, writes())
	}
	if keys, _ := e.cf.KVKeys(ctx, e.kvID, "app:"); len(keys) != 30 {
		t.Errorf("%d config documents left, want all 30", len(keys))
	}
	last, _ := e.store.LastReconcileReport(ctx)
	if last == nil || !last.Blocked || last.WouldDeleteScripts != 25 || !strings.Contains(last.BlockedReason, "would have deleted 25 of the 30 scripts listed") {
		t.Fatalf("stored report %+v", last)
	}
	forced, err := s.ReconcileWith(ctx, syncer.ReconcileOptions{AllowMassDelete: true})
	if err != nil || forced.Blocked || forced.StrayScripts != 25 || forced.KVStray != 25 || writes() != 25 {
		t.Fatalf("forced run: %+v, %v, %d writes", forced, err, writes())
	}
	for _, a := range apps[25:] {
		e.checkEdge(a)
	}
}

// TestKVUnsuccessfulKeysFailTheJob: a config document Cloudflare keeps refusing (named in
// unsuccessful_keys of a 200) fails the job with the key named; one refused now and then is
// written by the client's retries.
func TestKVUnsuccessfulKeysFailTheJob(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	s := e.syncer(e.db.Gorm, "kv")
	a, _ := e.store.CreateApp(ctx, e.tenant, "refused", "R")
	e.version(a, module(1))
	if _, err := e.store.Deploy(ctx, a, 0); err != nil {
		t.Fatal(err)
	}
	e.emu.SetFaults(localcf.Faults{KVUnsuccessfulRate: 1, KVUnsuccessfulPrefix: "app:refused"})
	err := s.RunJob(ctx, a.JobTarget())
	if err == nil || !strings.Contains(err.Error(), "app:refused") {
		t.Fatalf("job with a refused document: %v", err)
	}
	var j models.SyncJob
	e.db.Gorm.Where("target = ?", a.JobTarget()).First(&j)
	if j.DoneGen >= j.DesiredGen || !strings.Contains(j.LastError, "KV keys were not stored after 4 tries: app:refused") {
		t.Fatalf("job %+v", j)
	}
	e.emu.SetFaults(localcf.Faults{KVUnsuccessfulRate: 0.5, Seed: 4})
	e.db.Gorm.Exec(`UPDATE sync_jobs SET next_at = ? WHERE id = ?`, time.Now().Add(-time.Minute), j.ID)
	if err := s.RunJob(ctx, a.JobTarget()); err != nil {
		t.Fatalf("with half the writes refused, the retries should get through: %v", err)
	}
	if e.emu.FaultStats().KVUnsuccessful == 0 {
		t.Fatal("no write was refused: the test proves nothing")
	}
	e.emu.SetFaults(localcf.Faults{})
	e.checkEdge(a)
}
