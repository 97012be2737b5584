package models_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestBenchUsage ingests a generated stream of events for one app, spread over the last 30
// days and 20 routes, in batches of 5,000 through Store.IngestTelemetry (the path the edge's
// posts and the Analytics Engine pull take: raw rows and hourly rollups in one transaction),
// then times the queries of the app's usage page with one connection: the 30-day daily series,
// the 7-day hourly series, the per-route breakdown and the first page of recent requests
// (p50 and p99 of 100 runs each). It runs only with CLAW_BENCH=1; CLAW_BENCH_USAGE_SPAN sets
// the spread (a Go duration, default 720h) and CLAW_BENCH_USAGE_EVENTS the stream's length
// (default 1,000,000). Results in docs/benchmarks.md.
func TestBenchUsage(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_USAGE_EVENTS")); err == nil && v > 0 {
		n = v
	}
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		st := models.NewStore(db.Gorm)
		_, tenant, err := st.SignUp(ctx, "bench@example.com", "h", "Bench", models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		app, err := st.CreateApp(ctx, tenant, "bench", "bench")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		span := 30 * 24 * time.Hour
		if v, err := time.ParseDuration(os.Getenv("CLAW_BENCH_USAGE_SPAN")); err == nil {
			span = v
		}
		served := true
		const batch = 5000
		start := time.Now()
		for i := 0; i < n; i += batch {
			evs := make([]models.TelemetryEvent, 0, batch)
			for j := i; j < i+batch && j < n; j++ {
				cpu, sub := float64(j%7)+0.5, j%3
				e := models.TelemetryEvent{AppID: &app.ID, AppSlug: "bench", TenantID: tenant.ID, Route: fmt.Sprintf("GET /r%02d", j%20),
					Method: "GET", StatusCode: 200, CPUMs: &cpu, Subrequests: &sub, DurationMs: int64(j % 50), Served: &served,
					TS: now.Add(-span + span/time.Duration(n)*time.Duration(j)), ReceivedAt: now}
				if j%10 == 0 {
					e.StatusCode, e.ErrorCode = 500, "worker_exception"
				}
				evs = append(evs, e)
			}
			if _, err := st.IngestTelemetry(ctx, models.TelemetryBatch{Events: evs}); err != nil {
				t.Fatal(err)
			}
		}
		took := time.Since(start)
		t.Logf("%s: ingested %d events in %s: %.0f events/s (raw rows and hourly rollups)", db.Name, n, took.Round(time.Millisecond), float64(n)/took.Seconds())

		if sqlDB, err := db.Gorm.DB(); err == nil {
			sqlDB.SetMaxOpenConns(1)
		}
		month := models.UsageQuery{AppIDs: []uint{app.ID}, From: now.Add(-span).Truncate(24 * time.Hour), To: now.Add(time.Hour), Granularity: models.Daily}
		week := models.UsageQuery{AppIDs: []uint{app.ID}, From: now.Add(-7 * 24 * time.Hour).Truncate(time.Hour), To: now.Add(time.Hour), Granularity: models.Hourly}
		rep, err := st.Usage(ctx, month)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total.Requests != int64(n) {
			t.Fatalf("the month's rollups hold %d requests, want %d", rep.Total.Requests, n)
		}
		for _, c := range []struct {
			name string
			run  func() error
		}{
			{"30-day daily series", func() error { _, err := st.Usage(ctx, month); return err }},
			{"7-day hourly series", func() error { _, err := st.Usage(ctx, week); return err }},
			{"per-route breakdown, 30 days", func() error { _, err := st.UsageBreakdown(ctx, month, true); return err }},
			{"recent requests, first page", func() error {
				_, _, err := st.RecentRequests(ctx, app.ID, models.RequestFilter{Limit: 50})
				return err
			}},
			{"recent requests, errors only", func() error {
				_, _, err := st.RecentRequests(ctx, app.ID, models.RequestFilter{Status: "5xx", Limit: 50})
				return err
			}},
		} {
			var ds []time.Duration
			for i := 0; i < 100; i++ {
				s := time.Now()
				if err := c.run(); err != nil {
					t.Fatal(err)
				}
				ds = append(ds, time.Since(s))
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			t.Logf("%s | %s | p50 %s | p99 %s", db.Name, c.name, ds[49].Round(10*time.Microsecond), ds[98].Round(10*time.Microsecond))
		}
	})
}
