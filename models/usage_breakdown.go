package models

import (
	"context"
	"fmt"
	"sort"

	"gorm.io/gorm"
)

// UsageTotal is one app's (or one app route's) usage summed over a range.
type UsageTotal struct {
	AppID       uint
	Route       string // "" when the totals are per app
	Requests    int64
	Paid        int64
	Errors      int64
	LimitHits   int64
	Subrequests int64
	CPUMs       float64
	// RevenueAtomic is real revenue only (simulated settlements excluded), as in UsageBucket.
	RevenueAtomic string
}

// UsageBreakdown sums a query's range per app, or per app and route when byRoute is set; the
// query's Route, if any, narrows it to one route. Rows come sorted by requests, most first,
// then by app and route. Apps or routes without a request or a payment in the range are left
// out.
func (s *Store) UsageBreakdown(ctx context.Context, q UsageQuery, byRoute bool) ([]UsageTotal, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	if len(q.AppIDs) == 0 {
		return nil, nil
	}
	scope := func(db *gorm.DB) *gorm.DB {
		db = db.Where("app_id IN ? AND hour >= ? AND hour < ?", q.AppIDs, q.From, q.To)
		if q.Route != "" {
			db = db.Where("route = ?", q.Route)
		}
		return db
	}
	group, routeCol := "app_id", "'' AS route"
	if byRoute {
		group, routeCol = "app_id, route", "route"
	}
	db := s.db.WithContext(ctx)
	var rows []UsageTotal
	err = scope(db.Model(&UsageRollup{})).
		Select("app_id, " + routeCol + ", SUM(requests) AS requests, SUM(paid) AS paid, SUM(errors) AS errors, SUM(limit_hits) AS limit_hits, SUM(subrequests) AS subrequests, SUM(cpu_ms) AS cpu_ms").
		Group(group).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to sum usage: %w", err)
	}
	type key struct {
		app   uint
		route string
	}
	at := map[key]int{}
	for i := range rows {
		rows[i].RevenueAtomic = "0"
		at[key{rows[i].AppID, rows[i].Route}] = i
	}
	var revs []RevenueRollup
	if err := scope(db.Where("simulated = ?", false)).Find(&revs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to sum revenue: %w", err)
	}
	for _, r := range revs {
		k := key{r.AppID, ""}
		if byRoute {
			k.route = r.Route
		}
		i, ok := at[k]
		if !ok {
			rows = append(rows, UsageTotal{AppID: k.app, Route: k.route, RevenueAtomic: "0"})
			i = len(rows) - 1
			at[k] = i
		}
		rows[i].RevenueAtomic = AddAtomic(rows[i].RevenueAtomic, r.RevenueAtomic)
	}
	out := rows[:0]
	for _, r := range rows {
		if r.Requests > 0 || r.Paid > 0 || r.RevenueAtomic != "0" {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		if a.AppID != b.AppID {
			return a.AppID < b.AppID
		}
		return a.Route < b.Route
	})
	return out, nil
}
