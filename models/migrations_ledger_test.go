package models_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"gorm.io/gorm"
)

// unmigrated returns empty databases (SQLite, and PostgreSQL when configured) for tests of a
// migration step.
func unmigrated(t *testing.T) map[string]*gorm.DB {
	t.Helper()
	out := map[string]*gorm.DB{}
	db, err := models.Open(models.SQLite, t.TempDir()+"/m.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	out["sqlite"] = db
	base := modeltest.PostgresURL(t)
	if base == "" {
		return out
	}
	admin, err := models.Open(models.Postgres, base)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("m_%d", time.Now().UnixNano())
	if err := admin.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pg, err := models.Open(models.Postgres, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := pg.DB(); err == nil {
			s.Close()
		}
		admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`)
		if s, err := admin.DB(); err == nil {
			s.Close()
		}
	})
	out["postgres"] = pg
	return out
}

// Step 44 turns a flood's failed-payment rows into counters, keeps one row per settled
// (network, nonce) and from then on refuses a second one.
func TestMigration44LedgerDedupe(t *testing.T) {
	for name, db := range unmigrated(t) {
		t.Run(name, func(t *testing.T) {
			if err := models.MigrateTo(db, 40); err != nil {
				t.Fatal(err)
			}
			hour := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
			pay := func(route, nonce, verify, settle string, ok bool, at time.Time) map[string]any {
				return map[string]any{"app_id": 1, "tenant_id": 1, "route": route, "payer": "0xp", "nonce": nonce, "amount": "10000",
					"network": "eip155:84532", "transaction": "", "verify_result": verify, "settlement_result": settle, "success": ok, "simulated": false, "at": at}
			}
			rows := []map[string]any{
				pay("GET /a", "0xAA", "valid", "success", true, hour),
				pay("GET /a", "0xaa", "valid", "success", true, hour.Add(time.Minute)), // the same settlement ingested twice
				pay("GET /a", "", "valid", "success", true, hour),                      // an early event without a nonce
				pay("GET /a", "", "valid", "success", true, hour),
				pay("GET /a", "0xbb", "valid", "success", true, hour),
			}
			for i := 0; i < 30; i++ {
				rows = append(rows, pay("GET /a", "", "invalid_payment_header", "", false, hour.Add(time.Duration(i)*time.Second)))
			}
			rows = append(rows, pay("GET /a", "0xaa", "payment_already_used", "", false, hour), pay("GET /a", "0xcc", "valid", "not_settled_status_500", false, hour))
			for _, r := range rows {
				if err := db.Table("payments").Create(r).Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Table("usage_rollups").Create(map[string]any{"app_id": 1, "route": "GET /a", "hour": hour, "requests": 37, "paid": 5,
				"revenue_atomic": "50000", "errors": 0, "cpu_ms": 0, "subrequests": 0, "limit_hits": 0, "updated_at": hour}).Error; err != nil {
				t.Fatal(err)
			}

			if _, err := models.Migrate(db); err != nil {
				t.Fatal(err)
			}
			var left []models.Payment
			db.Order("id").Find(&left)
			var nonces []string
			for _, p := range left {
				if !p.Success {
					t.Errorf("a failed attempt is still a ledger row: %+v", p)
				}
				nonces = append(nonces, p.Nonce)
			}
			if got := strings.Join(nonces, ","); got != "0xaa,,,0xbb" {
				t.Errorf("ledger nonces %q, want 0xaa,,,0xbb (first of the duplicates kept, rows without a nonce untouched)", got)
			}
			var fails []models.PaymentFailureRollup
			db.Order("reason").Find(&fails)
			got := map[string]int64{}
			for _, f := range fails {
				got[f.Reason] = f.Attempts
				if !f.Hour.Equal(hour) || f.Route != "GET /a" || f.AppID != 1 {
					t.Errorf("failure row %+v", f)
				}
			}
			if len(got) != 3 || got["invalid_payment_header"] != 30 || got["payment_already_used"] != 1 || got["not_settled_status_500"] != 1 {
				t.Errorf("failures by reason %v", got)
			}
			var roll models.UsageRollup
			if err := db.First(&roll).Error; err != nil || roll.PaymentFailures != 32 || roll.Challenges != 0 || roll.Requests != 37 {
				t.Errorf("rollup after the step %+v, %v", roll, err)
			}
			// The index: a second row for a settled nonce is refused, ON CONFLICT makes it a no-op.
			if err := db.Table("payments").Create(pay("GET /a", "0xbb", "valid", "success", true, hour)).Error; err == nil {
				t.Error("a second ledger row for (eip155:84532, 0xbb) was accepted")
			}
		})
	}
}
