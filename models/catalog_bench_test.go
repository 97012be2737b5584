package models_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// BenchmarkCatalog pages through a catalog of 10,000 listed x402 routes (100 apps of 100 routes)
// the way GET /discovery/resources does, and reports the p99 of one page besides the mean.
// The budget is 20 ms p99 per page. The catalog is kept in memory while its version
// (catalog_versions) is unchanged; after-change edits a route before every page, so each page
// is the first after a change: it is answered from the previous catalog while the new one loads
// in the background (that load competes for the CPU with the pages that follow).
func BenchmarkCatalog(b *testing.B) {
	db := modeltest.SQLite(b)
	s := models.NewStore(db.Gorm)
	ctx := context.Background()
	hash, _ := models.HashPassword("a long password 1")
	_, tn, err := s.SignUp(ctx, "bench@example.com", hash, "Bench", models.RoleTenant)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		a, err := s.CreateApp(ctx, tn, fmt.Sprintf("bench-%03d", i), fmt.Sprintf("Bench %d", i))
		if err != nil {
			// The plan caps apps per tenant: raise it for the benchmark.
			db.Gorm.Exec("UPDATE plans SET max_apps = 1000, max_routes = 1000")
			if a, err = s.CreateApp(ctx, tn, fmt.Sprintf("bench-%03d", i), fmt.Sprintf("Bench %d", i)); err != nil {
				b.Fatal(err)
			}
		}
		rs := make([]models.Route, 100)
		for j := range rs {
			rs[j] = models.Route{AppID: a.ID, Position: j, Method: "GET", Path: fmt.Sprintf("/r%d", j), Access: models.AccessX402,
				Price: "$0.01", Amount: "10000", Network: "eip155:84532", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", Settle: "after",
				Description: fmt.Sprintf("Route %d of app %d", j, i)}
		}
		if err := db.Gorm.CreateInBatches(rs, 100).Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Gorm.Exec("UPDATE apps SET listed = ?, deployed_version_id = 1", true).Error; err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    models.CatalogQuery
	}{
		{"first-page", models.CatalogQuery{Limit: 100}},
		{"last-page", models.CatalogQuery{Limit: 100, Offset: 9900}},
		{"network-filter", models.CatalogQuery{Limit: 100, Offset: 5000, Network: "eip155:84532"}},
		{"text-query", models.CatalogQuery{Limit: 100, Text: "route 42 of"}},
		{"after-change", models.CatalogQuery{Limit: 100}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				if c.name == "after-change" {
					b.StopTimer()
					if err := db.Gorm.Exec("UPDATE routes SET description = ? WHERE id = 1", fmt.Sprintf("Route 0 of app 0, edit %d", i)).Error; err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				t0 := time.Now()
				items, total, err := s.Catalog(ctx, c.q)
				ds = append(ds, time.Since(t0))
				if err != nil || total == 0 || len(items) == 0 {
					b.Fatalf("%d items of %d: %v", len(items), total, err)
				}
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
