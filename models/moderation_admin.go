package models

import (
	"context"
	"fmt"
	"time"
)

// SetPlanReviewPolicy sets the review policy of a plan: off, first or always ("" counts as off).
func (s *Store) SetPlanReviewPolicy(ctx context.Context, planKey, policy string) error {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Plan{}).Where("key = ?", planKey).Count(&n).Error; err != nil {
		return fmt.Errorf("store: unable to read plan %s: %w", planKey, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	if policy == "" || !ValidReviewPolicy(policy) {
		return fieldErr("review_policy", "Choose off, first or always.")
	}
	res := s.db.WithContext(ctx).Model(&Plan{}).Where("key = ?", planKey).
		Updates(map[string]any{"review_policy": policy, "updated_at": time.Now()})
	if res.Error != nil {
		return fmt.Errorf("store: unable to set the review policy of plan %s: %w", planKey, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RescanByID returns one re-scan run.
func (s *Store) RescanByID(ctx context.Context, id uint) (*Rescan, error) {
	var rs []Rescan
	if err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read re-scan %d: %w", id, err)
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	return &rs[0], nil
}

// AdminCounts are the numbers on the admin overview.
type AdminCounts struct {
	Tenants, Suspended  int64 // tenants, and those suspended
	Apps, AppsModerated int64 // apps, and those an admin suspended or took down
	PendingReviews      int64 // versions waiting for an admin
	OpenReports         int64 // abuse reports nobody decided yet
	FailingSyncJobs     int64 // sync jobs that failed their last attempt
	Plans               int64
	AuditToday          int64 // audit rows of the last 24 hours
}

// AdminCounts counts what the admin overview shows, each with one indexed COUNT.
func (s *Store) AdminCounts(ctx context.Context) (AdminCounts, error) {
	var c AdminCounts
	db := s.db.WithContext(ctx)
	for _, q := range []struct {
		dst   *int64
		model any
		where string
		args  []any
	}{
		{&c.Tenants, &Tenant{}, "", nil},
		{&c.Suspended, &Tenant{}, "status = ?", []any{TenantSuspended}},
		{&c.Apps, &App{}, "", nil},
		{&c.AppsModerated, &App{}, "moderation_state <> ''", nil},
		{&c.PendingReviews, &Version{}, "review_state = ?", []any{ReviewPending}},
		{&c.OpenReports, &AbuseReport{}, "state = ?", []any{ReportOpen}},
		{&c.FailingSyncJobs, &SyncJob{}, "desired_gen > done_gen AND last_error <> ''", nil},
		{&c.Plans, &Plan{}, "", nil},
		{&c.AuditToday, &AuditEvent{}, "created_at >= ?", []any{time.Now().Add(-24 * time.Hour)}},
	} {
		tx := db.Model(q.model)
		if q.where != "" {
			tx = tx.Where(q.where, q.args...)
		}
		if err := tx.Count(q.dst).Error; err != nil {
			return c, fmt.Errorf("store: unable to count for the admin overview: %w", err)
		}
	}
	return c, nil
}
