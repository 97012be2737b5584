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

// UsageRouteKnown reports whether route ("METHOD /path", as the edge reports it) is one the
// app has now or has usage rollups for: a usage query for any other route is a mistake.
func (s *Store) UsageRouteKnown(ctx context.Context, appID uint, route string) (bool, error) {
	routes, err := s.Routes(ctx, appID)
	if err != nil {
		return false, err
	}
	for _, r := range routes {
		if RouteLabel(r) == route {
			return true, nil
		}
	}
	var n int64
	// The rollups' unique key starts with (app_id, route): one index probe.
	err = s.db.WithContext(ctx).Model(&UsageRollup{}).Where("app_id = ? AND route = ?", appID, route).Limit(1).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("store: unable to look up route %q of app %d: %w", route, appID, err)
	}
	return n > 0, nil
}

// RouteLabel is a route as the dispatcher names it in telemetry (dispatcher.js): "GET /path",
// or the bare path for a route stored without a method.
func RouteLabel(r Route) string {
	if r.Method == "" {
		return r.Path
	}
	return r.Method + " " + r.Path
}
