package main

import (
	"context"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// The retention job deletes raw events past the retention, in batches, and nothing else.
func TestDeleteOldTelemetry(t *testing.T) {
	db := modeltest.SQLite(t)
	store := models.NewStore(db.Gorm)
	now := time.Now().UTC()
	n := retentionBatch + 3
	old := make([]models.TelemetryEvent, n)
	for i := range old {
		old[i] = models.TelemetryEvent{AppSlug: "a", Route: "/r", TS: now.Add(-8 * 24 * time.Hour), ReceivedAt: now}
	}
	fresh := models.TelemetryEvent{AppSlug: "a", Route: "/r", TS: now.Add(-time.Hour), ReceivedAt: now}
	if err := db.Gorm.CreateInBatches(old, 500).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Create(&fresh).Error; err != nil {
		t.Fatal(err)
	}
	deleted, err := deleteOldTelemetry(context.Background(), store, now.Add(-168*time.Hour))
	if err != nil || deleted != int64(n) {
		t.Fatalf("deleted %d, %v; want %d (more than one batch)", deleted, err, n)
	}
	var left []models.TelemetryEvent
	db.Gorm.Find(&left)
	if len(left) != 1 || left[0].ID != fresh.ID {
		t.Fatalf("left %d events, want only the fresh one", len(left))
	}
}
