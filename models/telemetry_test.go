package models_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
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
		yes, no := true, false
		nonce := 0
		paid := func(at time.Time, amount string, ok, sim bool) models.TelemetryEvent {
			nonce++
			e := models.TelemetryEvent{AppSlug: "seller", TenantID: 999, Route: "GET /weather", Method: "GET", StatusCode: 200,
				Payer: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", Amount: amount, Nonce: fmt.Sprintf("0x%064x", nonce),
				Network: "eip155:84532", VerifyResult: "valid", Simulated: sim, TS: at, CPUMs: &cpu, Subrequests: &subs, Served: &yes}
			if ok {
				e.PaymentSuccess, e.SettlementResult, e.Transaction = true, "success", "0xabc"
			} else {
				e.StatusCode, e.PaymentRequired, e.SettlementResult = 402, true, "invalid_exact_evm_insufficient_balance"
			}
			return e
		}
		batch := []models.TelemetryEvent{
			paid(hour.Add(time.Minute), "10000", true, true),
			paid(hour.Add(2*time.Minute), "10000", true, false),
			// The tenant ran, then the settle failed: stored, and counted as a failure.
			paid(hour.Add(3*time.Minute), "10000", false, true),
			// Refused at the edge: counted, never stored.
			{AppSlug: "seller", Route: "GET /weather", StatusCode: 402, PaymentRequired: true, ErrorCode: "payment_required", TS: hour.Add(4 * time.Minute), Served: &no},
			{AppSlug: "seller", Route: "GET /weather", StatusCode: 402, PaymentRequired: true, ErrorCode: "invalid_payment_header", VerifyResult: "invalid_payment_header", TS: hour.Add(4 * time.Minute), Served: &no},
			{AppSlug: "seller", Route: "GET /weather", StatusCode: 402, PaymentRequired: true, ErrorCode: "payment_invalid", VerifyResult: "invalid_exact_evm_signature", Payer: "0x1", Nonce: "0x2", TS: hour.Add(5 * time.Minute), Served: &no},
			{AppSlug: "seller", Route: "/free", StatusCode: 503, ErrorCode: "cpu_limit_exceeded", TS: hour.Add(70 * time.Minute), Served: &yes},
			{AppSlug: "ghost", Route: "/x", StatusCode: 200, TS: hour, Served: &yes},
		}
		res, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Events: batch})
		if err != nil {
			t.Fatal(err)
		}
		if want := (models.IngestResult{Events: 4, Counted: 3, Dropped: 1, Payments: 2, Rollups: 2}); res != want {
			t.Fatalf("result %+v, want %+v", res, want)
		}
		// A second batch adds to the same hour's row.
		if _, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Events: []models.TelemetryEvent{paid(hour.Add(30*time.Minute), "999999999999999999999", true, false)}}); err != nil {
			t.Fatal(err)
		}

		var ev models.TelemetryEvent
		if err := db.Gorm.Where("app_slug = ?", "seller").Order("id").First(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.AppID == nil || *ev.AppID != app.ID || ev.TenantID != tn.ID {
			t.Errorf("event attributed to app %v tenant %d; want app %d tenant %d (not the event's claim)", ev.AppID, ev.TenantID, app.ID, tn.ID)
		}
		var stored, ghosts int64
		db.Gorm.Model(&models.TelemetryEvent{}).Count(&stored)
		db.Gorm.Model(&models.TelemetryEvent{}).Where("app_slug = ?", "ghost").Count(&ghosts)
		if stored != 5 || ghosts != 0 {
			t.Errorf("%d events stored (%d of the unknown app), want 5 and 0", stored, ghosts)
		}
		var ctr models.TelemetryCounter
		if err := db.Gorm.First(&ctr).Error; err != nil || ctr.Name != models.CounterUnknownApp || ctr.Total != 1 || !ctr.Hour.Equal(hour) {
			t.Errorf("unknown-app counter %+v, %v", ctr, err)
		}

		rolls, err := s.UsageRollups(ctx, app.ID, hour, hour.Add(2*time.Hour))
		if err != nil || len(rolls) != 2 {
			t.Fatalf("rollups %+v, %v", rolls, err)
		}
		w := rolls[0]
		if w.Route == "/free" {
			w = rolls[1]
		}
		if w.Requests != 7 || w.Paid != 3 || w.Errors != 0 || w.RevenueAtomic != "1000000000000000019999" || w.CPUMs != 6 || w.Subrequests != 12 ||
			w.PaymentFailures != 3 || w.Challenges != 1 {
			t.Errorf("weather rollup %+v", w)
		}
		for _, r := range rolls {
			if r.Route == "/free" && (r.Errors != 1 || r.LimitHits != 1 || !r.Hour.Equal(hour.Add(time.Hour))) {
				t.Errorf("free rollup %+v", r)
			}
		}
		var fails []models.PaymentFailureRollup
		db.Gorm.Order("reason").Find(&fails)
		got := map[string]int64{}
		for _, f := range fails {
			if f.AppID != app.ID || f.Route != "GET /weather" || !f.Hour.Equal(hour) {
				t.Errorf("failure row %+v", f)
			}
			got[f.Reason] = f.Attempts
		}
		if want := map[string]int64{"invalid_exact_evm_insufficient_balance": 1, "invalid_payment_header": 1, "invalid_exact_evm_signature": 1}; !maps.Equal(got, want) {
			t.Errorf("failures by reason %v, want %v", got, want)
		}

		page, err := s.Payments(ctx, app.ID, 1, 2)
		if err != nil || page.Total != 3 || len(page.List) != 2 || page.Pages() != 2 {
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

// A settlement reaches the portal twice as a rule: in the telemetry batch and from the
// PaymentLock's outbox, in either order, possibly at once. It is one ledger row and counts once
// in the rollup.
func TestIngestSettlementIsOneLedgerRow(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Dedupe")
		app, err := s.CreateApp(ctx, tn, "dedupe", "D")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Truncate(time.Second)
		yes := true
		event := func(nonce string) models.TelemetryEvent {
			return models.TelemetryEvent{AppSlug: "dedupe", Route: "GET /paid", StatusCode: 200, PaymentSuccess: true, SettlementResult: "success",
				VerifyResult: "valid", Payer: "0xabc", Nonce: nonce, Amount: "10000", Network: "eip155:84532", Transaction: "0xfeed", TS: at, Served: &yes}
		}
		record := func(nonce string) models.Settlement {
			return models.Settlement{AppSlug: "dedupe", Route: "GET /paid", Payer: "0xabc", Nonce: nonce, Amount: "10000", Network: "eip155:84532",
				Transaction: "0xfeed", At: at}
		}
		nonce := func(i int) string { return fmt.Sprintf("0x%064X", i) } // upper case: the key ignores case
		ingest := func(b models.TelemetryBatch) models.IngestResult {
			t.Helper()
			res, err := s.IngestTelemetry(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		// Event first, then the record, then both again (a retried batch).
		if r := ingest(models.TelemetryBatch{Events: []models.TelemetryEvent{event(nonce(1))}}); r.Payments != 1 || r.Events != 1 {
			t.Fatalf("event: %+v", r)
		}
		if r := ingest(models.TelemetryBatch{Settlements: []models.Settlement{record(strings.ToLower(nonce(1)))}}); r.Payments != 0 || r.Duplicates != 1 {
			t.Fatalf("its record: %+v", r)
		}
		// Record first (the event died with workerd), then the event after all.
		if r := ingest(models.TelemetryBatch{Settlements: []models.Settlement{record(nonce(2))}}); r.Payments != 1 {
			t.Fatalf("record: %+v", r)
		}
		if r := ingest(models.TelemetryBatch{Events: []models.TelemetryEvent{event(nonce(2))}}); r.Payments != 0 || r.Duplicates != 1 || r.Events != 1 {
			t.Fatalf("its event: %+v", r)
		}
		// Both in one batch, and the same record twice.
		if r := ingest(models.TelemetryBatch{Events: []models.TelemetryEvent{event(nonce(3))}, Settlements: []models.Settlement{record(nonce(3)), record(nonce(3))}}); r.Payments != 1 || r.Duplicates != 2 {
			t.Fatalf("one batch: %+v", r)
		}
		// Concurrent deliveries of one settlement.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := models.TelemetryBatch{Settlements: []models.Settlement{record(nonce(4))}}
				if i%2 == 0 {
					b = models.TelemetryBatch{Events: []models.TelemetryEvent{event(nonce(4))}}
				}
				if _, err := s.IngestTelemetry(ctx, b); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// The same nonce on another network is another payment.
		other := record(nonce(4))
		other.Network = "eip155:8453"
		if r := ingest(models.TelemetryBatch{Settlements: []models.Settlement{other}}); r.Payments != 1 {
			t.Fatalf("other network: %+v", r)
		}

		page, err := s.Payments(ctx, app.ID, 1, 50)
		if err != nil || page.Total != 5 {
			t.Fatalf("ledger: %d rows, want 5 (%v)", page.Total, err)
		}
		rolls, err := s.UsageRollups(ctx, app.ID, at.Truncate(time.Hour), at.Truncate(time.Hour).Add(time.Hour))
		if err != nil || len(rolls) != 1 {
			t.Fatalf("rollups %+v, %v", rolls, err)
		}
		if r := rolls[0]; r.Paid != 5 || r.RevenueAtomic != "50000" || r.Requests != 7 {
			t.Errorf("rollup %+v: want 5 paid, 50000 revenue (each settlement once), 7 requests (the events)", r)
		}
	})
}

// A flood of junk payments or made-up apps is a few counter rows, whatever its size.
func TestIngestFloodAddsNoRows(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Flood")
		app, err := s.CreateApp(ctx, tn, "flood", "F")
		if err != nil {
			t.Fatal(err)
		}
		tables := []any{&models.TelemetryEvent{}, &models.Payment{}, &models.UsageRollup{}, &models.PaymentFailureRollup{}, &models.TelemetryCounter{}}
		rows := func() []int64 {
			out := make([]int64, len(tables))
			for i, m := range tables {
				db.Gorm.Model(m).Count(&out[i])
			}
			return out
		}
		at := time.Now().UTC()
		no := false
		junk := func(i int) models.TelemetryEvent {
			// What the dispatcher reports for a junk PAYMENT-SIGNATURE, and for the
			// facilitator refusing a well-formed but forged one.
			if i%2 == 0 {
				return models.TelemetryEvent{AppSlug: "flood", Route: "GET /paid", StatusCode: 402, PaymentRequired: true, ErrorCode: "invalid_payment_header",
					VerifyResult: "invalid_payment_header", Amount: "10000", Network: "eip155:84532", TS: at, Served: &no}
			}
			return models.TelemetryEvent{AppSlug: "flood", Route: "GET /paid", StatusCode: 402, PaymentRequired: true, ErrorCode: "payment_invalid",
				VerifyResult: "invalid_exact_evm_signature", Payer: fmt.Sprintf("0x%040x", i), Nonce: fmt.Sprintf("0x%064x", i), Amount: "10000", Network: "eip155:84532", TS: at, Served: &no}
		}
		send := func(n int, mk func(int) models.TelemetryEvent) {
			for i := 0; i < n; i += 200 {
				var b []models.TelemetryEvent
				for j := i; j < min(n, i+200); j++ {
					b = append(b, mk(j))
				}
				if _, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Events: b}); err != nil {
					t.Fatal(err)
				}
			}
		}
		send(10, junk)
		send(10, func(i int) models.TelemetryEvent {
			return models.TelemetryEvent{AppSlug: fmt.Sprintf("nope-%d", i), StatusCode: 404, ErrorCode: "app_not_found", TS: at, Served: &no}
		})
		base := rows()
		send(2000, junk)
		send(2000, func(i int) models.TelemetryEvent {
			return models.TelemetryEvent{AppSlug: fmt.Sprintf("nope-%d", i), StatusCode: 404, ErrorCode: "app_not_found", TS: at, Served: &no}
		})
		if after := rows(); !slices.Equal(after, base) {
			t.Errorf("rows per table (events, payments, rollups, failures, counters) grew from %v to %v with the flood", base, after)
		}
		hour := at.Truncate(time.Hour)
		rolls, err := s.UsageRollups(ctx, app.ID, hour, hour.Add(time.Hour))
		if err != nil || len(rolls) != 1 || rolls[0].Requests != 2010 || rolls[0].PaymentFailures != 2010 || rolls[0].Paid != 0 {
			t.Fatalf("rollups %+v, %v", rolls, err)
		}
		var fails []models.PaymentFailureRollup
		db.Gorm.Order("reason").Find(&fails)
		if len(fails) != 2 || fails[0].Reason != "invalid_exact_evm_signature" || fails[0].Attempts != 1005 || fails[1].Reason != "invalid_payment_header" || fails[1].Attempts != 1005 {
			t.Errorf("failures %+v", fails)
		}
		var ctr models.TelemetryCounter
		if err := db.Gorm.Where("name = ?", models.CounterUnknownApp).First(&ctr).Error; err != nil || ctr.Total != 2010 {
			t.Errorf("unknown apps counted %+v, %v", ctr, err)
		}
	})
}

func TestDeleteTelemetryBefore(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Old")
		app, err := s.CreateApp(ctx, tn, "oldapp", "O")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		yes := true
		var evs []models.TelemetryEvent
		// 25 events a day old or older, 7 from the last hour: the ingest clamps timestamps to a day
		// back, so the old ones are written directly.
		for i := 0; i < 7; i++ {
			evs = append(evs, models.TelemetryEvent{AppSlug: "oldapp", Route: "/r", StatusCode: 200, TS: now.Add(-time.Duration(i) * time.Minute), Served: &yes,
				PaymentSuccess: i == 0, Nonce: "0x01", Network: "eip155:84532", Amount: "5"})
		}
		if _, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Events: evs}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 25; i++ {
			e := models.TelemetryEvent{AppID: &app.ID, AppSlug: "oldapp", Route: "/r", StatusCode: 200, TS: now.Add(-8*24*time.Hour - time.Duration(i)*time.Hour), ReceivedAt: now}
			if err := db.Gorm.Create(&e).Error; err != nil {
				t.Fatal(err)
			}
		}
		var batches []int64
		for {
			n, err := s.DeleteTelemetryBefore(ctx, now.Add(-7*24*time.Hour), 10)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, n)
			if n < 10 {
				break
			}
		}
		if !slices.Equal(batches, []int64{10, 10, 5}) {
			t.Fatalf("deleted %v, want 25 in batches of 10", batches)
		}
		var left int64
		db.Gorm.Model(&models.TelemetryEvent{}).Count(&left)
		if left != 7 {
			t.Errorf("%d events left, want the 7 recent ones", left)
		}
		page, _ := s.Payments(ctx, app.ID, 1, 10)
		rolls, _ := s.UsageRollups(ctx, app.ID, now.Add(-time.Hour), now.Add(time.Hour))
		if page.Total != 1 || len(rolls) == 0 {
			t.Errorf("retention touched the ledger (%d rows) or the rollups (%d)", page.Total, len(rolls))
		}
		if n, err := s.DeleteTelemetryBefore(ctx, now.Add(-7*24*time.Hour), 10); err != nil || n != 0 {
			t.Errorf("second run deleted %d, %v", n, err)
		}
	})
}
