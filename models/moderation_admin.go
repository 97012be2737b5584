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
