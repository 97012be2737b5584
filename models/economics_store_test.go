package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestEconomicsMonth: two tenants' month from their rollups, against an invoice and shares
// computed by hand from the default price list.
func TestEconomicsMonth(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		loser, payer := newTenant(t, s, "Loser"), newTenant(t, s, "Payer")
		la, err := s.CreateApp(ctx, loser, "loser-app", "L")
		if err != nil {
			t.Fatal(err)
		}
		pa, err := s.CreateApp(ctx, payer, "payer-app", "P")
		if err != nil {
			t.Fatal(err)
		}
		month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		h := func(d int) time.Time { return month.Add(time.Duration(d) * time.Hour) }
		mustCreate := func(v any) {
			if err := db.Gorm.Create(v).Error; err != nil {
				t.Fatal(err)
			}
		}
		// Loser: 25M requests over two routes, no CPU, free plan. Payer: 5M requests, 40M CPU ms.
		mustCreate(&models.UsageRollup{AppID: la.ID, Route: "GET /a", Hour: h(0), Requests: 20_000_000, RevenueAtomic: "0"})
		mustCreate(&models.UsageRollup{AppID: la.ID, Route: "GET /b", Hour: h(500), Requests: 5_000_000, RevenueAtomic: "0"})
		mustCreate(&models.UsageRollup{AppID: pa.ID, Route: "GET /p", Hour: h(3), Requests: 5_000_000, CPUMs: 40_000_000, RevenueAtomic: "0"})
		// Outside the month: counted nowhere.
		mustCreate(&models.UsageRollup{AppID: la.ID, Route: "GET /a", Hour: month.Add(-time.Hour), Requests: 99_000_000, RevenueAtomic: "0"})
		mustCreate(&models.UsageRollup{AppID: la.ID, Route: "GET /a", Hour: month.AddDate(0, 1, 0), Requests: 99_000_000, RevenueAtomic: "0"})
		// Payer's x402 revenue: 100 USDC on Base; 50 simulated USDC are no income.
		mustCreate(&models.RevenueRollup{AppID: pa.ID, Route: "GET /p", Hour: h(3), Network: "eip155:8453", Payments: 10, RevenueAtomic: "100000000"})
		mustCreate(&models.RevenueRollup{AppID: pa.ID, Route: "GET /p", Hour: h(4), Network: "eip155:84532", Simulated: true, Payments: 5, RevenueAtomic: "50000000"})
		// Payer pays for Pro ($20) with an active subscription; Loser's Pro trial pays nothing.
		mustCreate(&models.Subscription{TenantID: payer.ID, StripeSubscriptionID: "sub_payer", Status: models.SubActive, PlanKey: "pro", LastEventAt: month})
		mustCreate(&models.Subscription{TenantID: loser.ID, StripeSubscriptionID: "sub_loser", Status: models.SubTrialing, PlanKey: "pro", LastEventAt: month})

		set := models.DefaultEconomicsSettings()
		set.PlatformFeeBps = 250 // 2.5%
		if err := s.SaveEconomicsSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
		e, err := s.Economics(ctx, h(100))
		if err != nil {
			t.Fatal(err)
		}
		// 30M requests: 20M over × $0.30 = $6.00; 40M CPU ms: 10M over × $0.02 = $0.20; + $5.
		if e.Invoice != 11_200_000 || !e.Month.Equal(month) {
			t.Fatalf("invoice %d µ$ for %s, want 11,200,000 for %s", e.Invoice, e.Month, month)
		}
		// List-price weights: Loser 25 × 0.30 = $7.50; Payer 5 × 0.30 + 40 × 0.02 = $2.30.
		// Shares of $11.20: 8.571428… and 2.628571…; the leftover µ$ goes to the larger user.
		want := []models.TenantEconomics{
			{Slug: loser.Slug, Requests: 25_000_000, Cost: 8_571_429, Margin: -8_571_429},
			{Slug: payer.Slug, Requests: 5_000_000, CPUMs: 40_000_000, Cost: 2_628_571, Subscription: 20_000_000,
				X402Revenue: 100_000_000, PlatformFee: 2_500_000, Margin: 20_000_000 + 2_500_000 - 2_628_571},
		}
		if len(e.Tenants) != 2 {
			t.Fatalf("rows %+v", e.Tenants)
		}
		for i, w := range want {
			g := e.Tenants[i]
			if g.Slug != w.Slug || g.Requests != w.Requests || g.CPUMs != w.CPUMs || g.Cost != w.Cost || g.Subscription != w.Subscription ||
				g.X402Revenue != w.X402Revenue || g.PlatformFee != w.PlatformFee || g.Margin != w.Margin {
				t.Errorf("row %d: got %+v, want %+v", i, g, w)
			}
		}
		if e.Totals.Cost != e.Invoice || e.Losses != 1 || len(e.LossMaking()) != 1 || e.LossMaking()[0].Slug != loser.Slug {
			t.Errorf("totals %+v, losses %d", e.Totals, e.Losses)
		}
		// A month without usage: no invoice; the active subscription still pays.
		if e, err := s.Economics(ctx, month.AddDate(0, -3, 0)); err != nil || e.Invoice != 0 || len(e.Tenants) != 1 ||
			e.Tenants[0].Slug != payer.Slug || e.Tenants[0].Cost != 0 || e.Tenants[0].Margin != 20_000_000 {
			t.Errorf("an empty month: %+v %v", e, err)
		}
	})
}

func TestParseEconomics(t *testing.T) {
	good := models.EconomicsInput{MonthlyMinimum: "5.00", IncludedRequests: "10,000,000", PerMillionRequests: "$0.30",
		IncludedCPUMs: "30000000", PerMillionCPUMs: "0.02", PlatformFee: "2.5%"}
	e, err := models.ParseEconomics(good)
	if err != nil {
		t.Fatal(err)
	}
	want := models.DefaultEconomicsSettings()
	want.PlatformFeeBps = 250
	if e.Prices() != want.Prices() || e.PlatformFeeBps != 250 {
		t.Fatalf("parsed %+v", e)
	}
	bad := []struct {
		field string
		mut   func(*models.EconomicsInput)
	}{
		{"monthly_minimum", func(in *models.EconomicsInput) { in.MonthlyMinimum = "-5" }},
		{"monthly_minimum", func(in *models.EconomicsInput) { in.MonthlyMinimum = "" }},
		{"monthly_minimum", func(in *models.EconomicsInput) { in.MonthlyMinimum = "2000000" }},
		{"per_million_requests", func(in *models.EconomicsInput) { in.PerMillionRequests = "0.3000001" }},
		{"per_million_cpu_ms", func(in *models.EconomicsInput) { in.PerMillionCPUMs = "abc" }},
		{"included_requests", func(in *models.EconomicsInput) { in.IncludedRequests = "1.5" }},
		{"included_cpu_ms", func(in *models.EconomicsInput) { in.IncludedCPUMs = "-1" }},
		{"included_cpu_ms", func(in *models.EconomicsInput) { in.IncludedCPUMs = "9999999999999999" }},
		{"platform_fee", func(in *models.EconomicsInput) { in.PlatformFee = "100.01" }},
		{"platform_fee", func(in *models.EconomicsInput) { in.PlatformFee = "2.555" }},
	}
	for _, c := range bad {
		in := good
		c.mut(&in)
		_, err := models.ParseEconomics(in)
		if fe, ok := models.AsFieldError(err); !ok || fe.Field != c.field {
			t.Errorf("%+v: %v, want an error on %s", in, err, c.field)
		}
	}
	// The fee rounds half up to a micro-dollar: 2.5% of 1 µ$ is 0.025 → 0; of 20 µ$ is 0.5 → 1.
	for _, c := range []struct{ rev, want int64 }{{1, 0}, {20, 1}, {100_000_000, 2_500_000}, {0, 0}} {
		if got := e.PlatformFee(c.rev); got != c.want {
			t.Errorf("fee on %d: %d, want %d", c.rev, got, c.want)
		}
	}
}
