package models

import (
	"context"
	"fmt"
)

// PaymentsBefore returns up to limit ledger rows of an app with an id below before (0: from the
// newest), newest first, and the cursor of the next page (0: none). Ids only grow, so a cursor
// stays right while rows are added.
func (s *Store) PaymentsBefore(ctx context.Context, appID, before uint, limit int) ([]Payment, uint, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := s.db.WithContext(ctx).Where("app_id = ?", appID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []Payment
	if err := q.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: unable to list payments of app %d: %w", appID, err)
	}
	var next uint
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}
