package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestSyncJobTargetMigration: jobs written with the old "app:<id>" target are renamed to
// "sync:app:<id>", so the syncer claims them under the name it now uses; running the step
// again renames nothing twice, and a target of another kind is left alone.
func TestSyncJobTargetMigration(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Sync Targets")
		app, err := s.CreateApp(ctx, tn, "targets", "T")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := job(t, db, app).Target, fmt.Sprintf("sync:app:%d", app.ID); got != want {
			t.Fatalf("new job's target %q, want %q", got, want)
		}
		// A database written before version 90: the job carries the edge's prefix.
		old := fmt.Sprintf("app:%d", app.ID)
		if err := db.Gorm.Exec(`UPDATE sync_jobs SET target = ? WHERE app_id = ?`, old, app.ID).Error; err != nil {
			t.Fatal(err)
		}
		other := models.SyncJob{Kind: "other", Target: "other:1", NextAt: time.Now()}
		if err := db.Gorm.Create(&other).Error; err != nil {
			t.Fatal(err)
		}
		for _, m := range models.Migrations() {
			if m.Name != "sync_job_target_prefix" {
				continue
			}
			for range 2 {
				if err := m.Up(db.Gorm); err != nil {
					t.Fatal(err)
				}
			}
		}
		var targets []string
		if err := db.Gorm.Model(&models.SyncJob{}).Order("target").Pluck("target", &targets).Error; err != nil {
			t.Fatal(err)
		}
		if want := []string{"other:1", app.JobTarget()}; fmt.Sprint(targets) != fmt.Sprint(want) {
			t.Fatalf("targets after the migration %q, want %q", targets, want)
		}
		now := time.Now()
		if _, ok, err := s.ClaimSyncJob(ctx, app.JobTarget(), models.Lease{Owner: "t", Until: now.Add(time.Minute)}, now); err != nil || !ok {
			t.Fatalf("claim the renamed job: %v %v", ok, err)
		}
	})
}
