package models_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestBenchTenantSearch seeds 100,000 tenants (a user each), 300,000 apps
// and 100,000 priced routes, then times the admin tenant list's queries
// (SearchTenants: the page and its count) with one connection: p50 and p99
// of 200 runs each. It runs only with CLAW_BENCH=1; results in
// docs/benchmarks.md.
func TestBenchTenantSearch(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1")
	}
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		const tenants = 100_000
		start := time.Now()
		seedTenants(t, db, tenants)
		t.Logf("%s: seeded %d tenants, %d apps in %s", db.Name, tenants, 3*tenants, time.Since(start).Round(time.Second))
		if sqlDB, err := db.Gorm.DB(); err == nil {
			sqlDB.SetMaxOpenConns(1)
		}
		if err := db.Gorm.Exec("ANALYZE").Error; err != nil {
			t.Fatal(err)
		}
		st := models.NewStore(db.Gorm)
		ctx := context.Background()
		cases := []struct {
			name string
			q    models.TenantQuery
			want int // rows on the page
		}{
			{"first page, newest", models.TenantQuery{}, 50},
			{"first page, by name", models.TenantQuery{Sort: models.TenantSortName}, 50},
			{"email substring (1 tenant)", models.TenantQuery{Search: "owner-04217@"}, 1},
			{"app slug substring (1 tenant)", models.TenantQuery{Search: "shop-77031-b"}, 1},
			{"app name substring (10 tenants)", models.TenantQuery{Search: "Store 7703"}, 10},
			{"wallet substring (1 tenant)", models.TenantQuery{Search: fmt.Sprintf("%040x", 55555)[30:]}, 1},
			{"broad: every tenant matches", models.TenantQuery{Search: "example.org"}, 50},
			{"filter: plan pro", models.TenantQuery{Plan: "pro"}, 50},
			{"filter: past due", models.TenantQuery{PastDue: true}, 50},
			{"page 100 by cursor, newest", models.TenantQuery{}, 50},
		}
		for _, c := range cases {
			q := c.q
			q.Limit = 50
			if c.name == "page 100 by cursor, newest" {
				for i := 0; i < 99; i++ {
					p, err := st.SearchTenants(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					q.After = p.Next
				}
			}
			var ds []time.Duration
			for i := 0; i < 200; i++ {
				s := time.Now()
				p, err := st.SearchTenants(ctx, q)
				ds = append(ds, time.Since(s))
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Rows) != c.want {
					t.Fatalf("%s: %d rows, want %d", c.name, len(p.Rows), c.want)
				}
			}
			slices.Sort(ds)
			t.Logf("%s | %s | p50 %s | p99 %s", db.Name, c.name, ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)*99/100].Round(10*time.Microsecond))
		}
	})
}

// seedTenants writes n tenants named tenant-NNNNN with owner-NNNNN@example.org,
// three apps each (shop-NNNNN-a/b/c, "Store NNNNN"), a priced route on the
// first app paying a wallet derived from NNNNN; every tenth is on Pro and
// every hundredth past due.
func seedTenants(t *testing.T, db modeltest.DB, n int) {
	t.Helper()
	now := time.Now().UTC()
	const batch = 2000
	for i := 0; i < n; i += batch {
		ts := make([]models.Tenant, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			plan := "free"
			if j%10 == 0 {
				plan = "pro"
			}
			ts = append(ts, models.Tenant{Slug: fmt.Sprintf("tenant-%05d", j), Name: fmt.Sprintf("Tenant %d", j), PlanKey: plan, Status: "active", CreatedAt: now, UpdatedAt: now})
		}
		if err := db.Gorm.CreateInBatches(ts, 500).Error; err != nil {
			t.Fatal(err)
		}
		var us []models.User
		var as []models.App
		var subs []models.Subscription
		for k, tn := range ts {
			j := i + k
			id := tn.ID
			us = append(us, models.User{Email: fmt.Sprintf("owner-%05d@example.org", j), PasswordHash: "x", Role: "tenant", TenantID: &id, CreatedAt: now, UpdatedAt: now})
			for _, x := range []string{"a", "b", "c"} {
				slug := fmt.Sprintf("shop-%05d-%s", j, x)
				as = append(as, models.App{TenantID: id, Slug: slug, Name: fmt.Sprintf("Store %05d", j), ScriptName: slug, Status: "active", SyncState: "in_sync", CreatedAt: now, UpdatedAt: now})
			}
			if j%100 == 0 {
				subs = append(subs, models.Subscription{TenantID: id, StripeSubscriptionID: fmt.Sprintf("sub_%d", j), Status: models.SubPastDue, PlanKey: "pro", LastEventAt: now, CreatedAt: now, UpdatedAt: now})
			}
		}
		if err := db.Gorm.CreateInBatches(us, 500).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.CreateInBatches(as, 300).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.CreateInBatches(subs, 100).Error; err != nil {
			t.Fatal(err)
		}
		var rs []models.Route
		for k := 0; k < len(as); k += 3 {
			j := i + k/3
			rs = append(rs, models.Route{AppID: as[k].ID, Position: 0, Method: "GET", Path: "/", Access: "x402", Price: "$0.01", Amount: "10000", Network: "eip155:84532", PayTo: fmt.Sprintf("0x%040x", j), Settle: "after"})
		}
		if err := db.Gorm.CreateInBatches(rs, 500).Error; err != nil {
			t.Fatal(err)
		}
	}
}
