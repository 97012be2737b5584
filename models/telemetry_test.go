package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

func TestAddAtomic(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"0", "0", "0"},
		{"10000", "1", "10001"},
		{"999999999999999999999999", "1", "1000000000000000000000000"},
		{"", "5", "5"},
		{"junk", "5", "5"},
		{"-3", "5", "5"},
		{"7", "1.5", "7"},
	}
	for _, tt := range tests {
		if got := models.AddAtomic(tt.a, tt.b); got != tt.want {
			t.Errorf("AddAtomic(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestIngestTelemetry(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Seller")
		app, err := s.CreateApp(ctx, tn, "seller", "S")
		if err != nil {
			t.Fatal(err)
		}
		hour := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		cpu := 1.5
		subs := 3
		paid := func(at time.Time, amount string, ok, sim bool) models.TelemetryEvent {
			e := models.TelemetryEvent{AppSlug: "seller", TenantID: 999, Route: "GET /weather", Method: "GET", StatusCode: 200,
				PaymentRequired: true, PaymentSuccess: ok, Payer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", Amount: amount,
				Network: "eip155:84532", VerifyResult: "valid", Simulated: sim, TS: at, CPUMs: &cpu, Subrequests: &subs}
			if ok {
				e.SettlementResult, e.Transaction = "success", "0xabc"
			} else {
				e.StatusCode, e.SettlementResult = 402, "invalid_exact_evm_nonce_already_used"
			}
			return e
		}
		batch := []models.TelemetryEvent{
			paid(hour.Add(time.Minute), "10000", true, true),
			paid(hour.Add(2*time.Minute), "10000", true, false),
			paid(hour.Add(3*time.Minute), "10000", false, true),
			{AppSlug: "seller", Route: "GET /weather", StatusCode: 402, PaymentRequired: true, ErrorCode: "payment_required", TS: hour.Add(4 * time.Minute)},
			{AppSlug: "seller", Route: "/free", StatusCode: 503, ErrorCode: "cpu_limit_exceeded", TS: hour.Add(70 * time.Minute)},
			{AppSlug: "ghost", Route: "/x", StatusCode: 200, TS: hour},
		}
		res, err := s.IngestTelemetry(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 6 || res.Payments != 3 || res.Rollups != 2 {
			t.Fatalf("result %+v", res)
		}
		// A second batch adds to the same hour's row.
		if _, err := s.IngestTelemetry(ctx, []models.TelemetryEvent{paid(hour.Add(30*time.Minute), "999999999999999999999", true, false)}); err != nil {
			t.Fatal(err)
		}

		var ev models.TelemetryEvent
		if err := db.Gorm.Where("app_slug = ?", "seller").Order("id").First(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.AppID == nil || *ev.AppID != app.ID || ev.TenantID != tn.ID {
			t.Errorf("event attributed to app %v tenant %d; want app %d tenant %d (not the event's claim)", ev.AppID, ev.TenantID, app.ID, tn.ID)
		}
		var ghost models.TelemetryEvent
		if err := db.Gorm.Where("app_slug = ?", "ghost").First(&ghost).Error; err != nil || ghost.AppID != nil {
			t.Errorf("event of an unknown app: %+v, %v", ghost, err)
		}

		rolls, err := s.UsageRollups(ctx, app.ID, hour, hour.Add(2*time.Hour))
		if err != nil || len(rolls) != 2 {
			t.Fatalf("rollups %+v, %v", rolls, err)
		}
		w := rolls[0]
		if w.Route == "/free" {
			w = rolls[1]
		}
		if w.Requests != 5 || w.Paid != 3 || w.Errors != 0 || w.RevenueAtomic != "1000000000000000019999" || w.CPUMs != 6 || w.Subrequests != 12 {
			t.Errorf("weather rollup %+v", w)
		}
		for _, r := range rolls {
			if r.Route == "/free" && (r.Errors != 1 || r.LimitHits != 1 || !r.Hour.Equal(hour.Add(time.Hour))) {
				t.Errorf("free rollup %+v", r)
			}
		}

		page, err := s.Payments(ctx, app.ID, 1, 2)
		if err != nil || page.Total != 4 || len(page.List) != 2 || page.Pages() != 2 {
			t.Fatalf("payments page %+v, %v", page, err)
		}
		if !page.List[0].At.Equal(hour.Add(30 * time.Minute)) {
			t.Errorf("newest first: got %s", page.List[0].At)
		}
		rev, err := s.RevenueByRoute(ctx, app.ID)
		if err != nil || len(rev) != 2 {
			t.Fatalf("revenue %+v, %v", rev, err)
		}
		if rev[0].Simulated || rev[0].Atomic != "1000000000000000009999" || rev[0].Payments != 2 {
			t.Errorf("real revenue %+v", rev[0])
		}
		if !rev[1].Simulated || rev[1].Atomic != "10000" || rev[1].Payments != 1 {
			t.Errorf("simulated revenue %+v (the failed settle must not count)", rev[1])
		}
	})
}
