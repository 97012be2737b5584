package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// The catalog is served from memory while its version is unchanged: every change that can alter
// what it lists — made through the store, or as raw SQL by another process — shows once the
// background reload it starts is done; the first query after the change does not wait for that
// load and gets the previous catalog.
func TestCatalogFollowsChanges(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		// A second store is another replica: its writes never pass through s.
		other := models.NewStore(db.Gorm)
		_, tn, err := s.SignUp(ctx, "cat@example.com", "h", "Cat", models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.CreateApp(ctx, tn, "cat-app", "Cat app")
		if err != nil {
			t.Fatal(err)
		}
		route := models.Route{AppID: a.ID, Method: "GET", Path: "/a", Access: models.AccessX402, Price: "$0.01", Amount: "10000",
			Network: "eip155:84532", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", Settle: "after", Description: "first"}
		if err := db.Gorm.Create(&route).Error; err != nil {
			t.Fatal(err)
		}
		list := func() []string {
			t.Helper()
			items, total, err := s.Catalog(ctx, models.CatalogQuery{Limit: 100})
			if err != nil || int(total) != len(items) {
				t.Fatalf("catalog: %d items, total %d, %v", len(items), total, err)
			}
			var out []string
			for _, e := range items {
				out = append(out, e.App.Slug+" "+e.Route.Path+" "+e.Route.Description)
			}
			return out
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if err := db.Gorm.Exec(q, args...).Error; err != nil {
				t.Fatal(err)
			}
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("unlisted, undeployed app listed: %v", got)
		}
		exec("UPDATE apps SET listed = ?, deployed_version_id = 1 WHERE id = ?", true, a.ID)
		prev := "[]"
		for _, step := range []struct {
			name   string
			change func()
			want   string
		}{
			{"listed", func() {}, "[cat-app /a first]"},
			{"route edited", func() { exec("UPDATE routes SET description = 'second' WHERE id = ?", route.ID) }, "[cat-app /a second]"},
			{"route added", func() {
				r := route
				r.ID, r.Path, r.Position = 0, "/b", 1
				oa, err := other.AppByID(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := other.EditRoutes(ctx, oa, func(cur []models.Route) ([]models.Route, error) { return append(cur, r), nil }); err != nil {
					t.Fatal(err)
				}
			}, "[cat-app /a second cat-app /b first]"},
			{"route deleted", func() { exec("DELETE FROM routes WHERE path = '/b'") }, "[cat-app /a second]"},
			{"unlisted", func() { exec("UPDATE apps SET listed = ? WHERE id = ?", false, a.ID) }, "[]"},
			{"listed again", func() { exec("UPDATE apps SET listed = ? WHERE id = ?", true, a.ID) }, "[cat-app /a second]"},
			{"tenant suspended", func() { exec("UPDATE tenants SET status = ? WHERE id = ?", "suspended", tn.ID) }, "[]"},
			{"tenant active", func() { exec("UPDATE tenants SET status = ? WHERE id = ?", models.TenantActive, tn.ID) }, "[cat-app /a second]"},
			{"taken down", func() { exec("UPDATE apps SET status = 'taken_down' WHERE id = ?", a.ID) }, "[]"},
			{"active", func() { exec("UPDATE apps SET status = ? WHERE id = ?", models.AppActive, a.ID) }, "[cat-app /a second]"},
			{"deleting", func() { exec("UPDATE apps SET sync_state = ? WHERE id = ?", models.SyncDeleting, a.ID) }, "[]"},
			{"in sync", func() { exec("UPDATE apps SET sync_state = ? WHERE id = ?", models.SyncInSync, a.ID) }, "[cat-app /a second]"},
			{"undeployed", func() { exec("UPDATE apps SET deployed_version_id = NULL WHERE id = ?", a.ID) }, "[]"},
		} {
			step.change()
			if got := fmt.Sprint(list()); got != prev {
				t.Fatalf("first query after %s: catalog %s, want the previous one, %s, while the new one loads", step.name, got, prev)
			}
			got := ""
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if got = fmt.Sprint(list()); got == step.want {
					break
				}
			}
			if got != step.want {
				t.Fatalf("after %s: catalog %s, want %s", step.name, got, step.want)
			}
			prev = step.want
		}
	})
}

// A caller refused by a route's per-caller limit (the edge's 429 rate_limited, quota_exhausted,
// spend_cap_reached) counts as a limit hit in the app's usage, like a plan limit; other refusals
// do not.
func TestIngestCountsCallerLimitHits(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Limited")
		app, err := s.CreateApp(ctx, tn, "limited", "L")
		if err != nil {
			t.Fatal(err)
		}
		hour := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		no := false
		var batch []models.TelemetryEvent
		for _, c := range []struct {
			status int
			code   string
		}{{429, "rate_limited"}, {429, "rate_limited"}, {429, "quota_exhausted"}, {429, "spend_cap_reached"}, {401, "api_key_invalid"}, {402, "payment_required"}} {
			batch = append(batch, models.TelemetryEvent{AppSlug: "limited", Route: "GET /x", Method: "GET", StatusCode: c.status,
				ErrorCode: c.code, TS: hour.Add(time.Minute), Served: &no})
		}
		if _, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Events: batch}); err != nil {
			t.Fatal(err)
		}
		rolls, err := s.UsageRollups(ctx, app.ID, hour, hour.Add(time.Hour))
		if err != nil || len(rolls) != 1 {
			t.Fatalf("rollups %+v, %v", rolls, err)
		}
		if r := rolls[0]; r.Requests != 6 || r.LimitHits != 4 || r.Errors != 5 {
			t.Errorf("rollup: %d requests, %d limit hits, %d errors; want 6, 4, 5", r.Requests, r.LimitHits, r.Errors)
		}
	})
}
