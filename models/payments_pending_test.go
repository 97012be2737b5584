package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// A settlement the facilitator answered settlement_pending is a ledger row at once, unpaid and
// pending; the payment lock's later report finishes that row (settled, or failed for good) and
// the revenue counts then, once. An optimistic route's loss is an unpaid row with its reason.
func TestIngestPendingSettlementFinishesItsRow(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Pending")
		app, err := s.CreateApp(ctx, tn, "pending", "P")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Truncate(time.Second)
		rec := func(i int, unpaid bool, result string) models.Settlement {
			return models.Settlement{AppSlug: "pending", Route: "GET /paid", Payer: "0xabc", Nonce: fmt.Sprintf("0x%064x", i), Amount: "10000",
				Network: "eip155:84532", Transaction: "0xfeed", Unpaid: unpaid, Result: result, At: at}
		}
		row := func(i int) models.Payment {
			t.Helper()
			var p models.Payment
			if err := db.Gorm.Where("app_id = ? AND nonce = ?", app.ID, fmt.Sprintf("0x%064x", i)).First(&p).Error; err != nil {
				t.Fatal(err)
			}
			return p
		}
		revenue := func() string {
			t.Helper()
			var rs []models.UsageRollup
			if err := db.Gorm.Where("app_id = ?", app.ID).Find(&rs).Error; err != nil {
				t.Fatal(err)
			}
			sum := "0"
			for _, r := range rs {
				sum = models.AddAtomic(sum, r.RevenueAtomic)
			}
			return sum
		}
		for _, tc := range []struct {
			name       string
			reports    []models.Settlement
			wantResult string
			wantPaid   bool
		}{
			{"pending, then settled", []models.Settlement{rec(1, true, "settlement_pending"), rec(1, false, "")}, "success", true},
			{"pending twice, then settled", []models.Settlement{rec(2, true, "settlement_pending"), rec(2, true, "settlement_pending"), rec(2, false, "")}, "success", true},
			{"pending, then refused", []models.Settlement{rec(3, true, "settlement_pending"), rec(3, true, "insufficient_funds")}, "insufficient_funds", false},
			{"pending, never confirmed", []models.Settlement{rec(4, true, "settlement_pending")}, "settlement_pending", false},
			{"optimistic loss", []models.Settlement{rec(5, true, "optimistic_loss:insufficient_funds")}, "optimistic_loss:insufficient_funds", false},
			{"settled, then a stale pending report", []models.Settlement{rec(6, false, ""), rec(6, true, "settlement_pending")}, "success", true},
			{"a failure without a reason", []models.Settlement{rec(7, true, "")}, "settlement_failed", false},
		} {
			before := revenue()
			for _, r := range tc.reports {
				if _, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Settlements: []models.Settlement{r}}); err != nil {
					t.Fatal(err)
				}
			}
			i := 0
			fmt.Sscanf(tc.reports[0].Nonce, "0x%x", &i)
			p := row(i)
			if p.SettlementResult != tc.wantResult || p.Success != tc.wantPaid {
				t.Errorf("%s: row %q success=%v, want %q %v", tc.name, p.SettlementResult, p.Success, tc.wantResult, tc.wantPaid)
			}
			want := before
			if tc.wantPaid {
				want = models.AddAtomic(before, "10000")
			}
			if got := revenue(); got != want {
				t.Errorf("%s: revenue %s, want %s (counted once, and only when paid)", tc.name, got, want)
			}
		}
	})
}
