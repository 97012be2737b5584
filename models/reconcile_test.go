package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestReconcileReports: the newest report comes back as saved, and the table keeps the last 50.
func TestReconcileReports(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		if r, err := s.LastReconcileReport(ctx); err != nil || r != nil {
			t.Fatalf("before any run: %+v, %v", r, err)
		}
		start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		for i := range 60 {
			r := &models.ReconcileReport{StartedAt: start.Add(time.Duration(i) * time.Minute), Checked: i, Listed: i}
			if i == 59 {
				r.Blocked, r.BlockedReason, r.WouldDeleteScripts, r.DeleteLimit = true, "would delete 2400 of 2500", 2400, 50
				r.ListShape = "items nested under \"script\" with tags, no cursor"
			}
			if err := s.SaveReconcileReport(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		last, err := s.LastReconcileReport(ctx)
		if err != nil || last == nil {
			t.Fatalf("last report: %v", err)
		}
		if !last.Blocked || last.Checked != 59 || last.WouldDeleteScripts != 2400 || last.DeleteLimit != 50 || !last.StartedAt.Equal(start.Add(59*time.Minute)) ||
			last.ListShape != "items nested under \"script\" with tags, no cursor" {
			t.Errorf("last report = %+v", last)
		}
		var n int64
		db.Gorm.Model(&models.ReconcileReport{}).Count(&n)
		if n != 50 {
			t.Errorf("%d reports kept, want 50", n)
		}
	})
}
