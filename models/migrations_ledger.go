package models

import (
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Version 44: the payments ledger is settlements only, one row per (network, nonce); failed
// attempts become hourly counters per reason; ingest counts what it drops; raw events get an
// index on ts for the retention job. Frozen copies of the structs and of the reason rule, as in
// migrations_foundation.go.
//
// Rows that were failed attempts (success = false) move into payment_failure_rollups and
// usage_rollups.payment_failures and are deleted: one row per junk request is what this step
// removes. Duplicate settlements (a batch ingested twice) keep their first row.
func init() {
	register(Migration{Version: 44, Name: "ledger_dedupe_and_counters", Up: func(tx *gorm.DB) error {
		type paymentFailureRollup struct {
			ID        uint      `gorm:"primaryKey"`
			AppID     uint      `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:1;not null"`
			Route     string    `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:2;size:520;not null;default:''"`
			Hour      time.Time `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:3;not null"`
			Reason    string    `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:4;size:100;not null;default:''"`
			Attempts  int64     `gorm:"not null;default:0"`
			UpdatedAt time.Time
		}
		type telemetryCounter struct {
			ID        uint      `gorm:"primaryKey"`
			Hour      time.Time `gorm:"uniqueIndex:idx_telemetry_counters_key,priority:1;not null"`
			Name      string    `gorm:"uniqueIndex:idx_telemetry_counters_key,priority:2;size:64;not null"`
			Total     int64     `gorm:"not null;default:0"`
			UpdatedAt time.Time
		}
		if err := tx.Table("payment_failure_rollups").Migrator().CreateTable(&paymentFailureRollup{}); err != nil {
			return err
		}
		if err := tx.Table("telemetry_counters").Migrator().CreateTable(&telemetryCounter{}); err != nil {
			return err
		}
		for _, col := range []string{"payment_failures", "challenges"} {
			if err := tx.Exec("ALTER TABLE usage_rollups ADD COLUMN " + col + " BIGINT NOT NULL DEFAULT 0").Error; err != nil {
				return err
			}
		}

		type failed struct {
			ID               uint
			AppID            uint
			Route            string
			At               time.Time
			VerifyResult     string
			SettlementResult string
		}
		reason := func(f failed) string {
			switch {
			case f.VerifyResult != "" && f.VerifyResult != "valid":
				return f.VerifyResult
			case f.SettlementResult != "" && f.SettlementResult != "success":
				return f.SettlementResult
			}
			return "not_settled"
		}
		type fkey struct {
			app    uint
			route  string
			hour   int64
			reason string
		}
		fails := map[fkey]int64{}
		var batch []failed
		err := tx.Table("payments").Select("id", "app_id", "route", "at", "verify_result", "settlement_result").
			Where("success = ?", false).FindInBatches(&batch, 1000, func(*gorm.DB, int) error {
			for _, f := range batch {
				r := reason(f)
				if len(r) > 100 {
					r = r[:100]
				}
				fails[fkey{f.AppID, f.Route, f.At.UTC().Truncate(time.Hour).Unix(), r}]++
			}
			return nil
		}).Error
		if err != nil {
			return fmt.Errorf("reading failed payments: %w", err)
		}
		keys := make([]fkey, 0, len(fails))
		for k := range fails {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			if a.app != b.app {
				return a.app < b.app
			}
			if a.route != b.route {
				return a.route < b.route
			}
			if a.hour != b.hour {
				return a.hour < b.hour
			}
			return a.reason < b.reason
		})
		now := time.Now().UTC()
		perRollup := map[fkey]int64{} // reason left empty: the usage_rollups row
		for _, k := range keys {
			row := paymentFailureRollup{AppID: k.app, Route: k.route, Hour: time.Unix(k.hour, 0).UTC(), Reason: k.reason, Attempts: fails[k], UpdatedAt: now}
			if err := tx.Table("payment_failure_rollups").Create(&row).Error; err != nil {
				return err
			}
			perRollup[fkey{k.app, k.route, k.hour, ""}] += fails[k]
		}
		for k, n := range perRollup {
			if err := tx.Exec("UPDATE usage_rollups SET payment_failures = payment_failures + ? WHERE app_id = ? AND route = ? AND hour = ?",
				n, k.app, k.route, time.Unix(k.hour, 0).UTC()).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec("DELETE FROM payments WHERE success = ?", false).Error; err != nil {
			return err
		}

		// The ledger's key: nonces are hex, compared without case; a settlement without a nonce
		// (events of an early dispatcher) cannot be matched and stays as it is.
		if err := tx.Exec("UPDATE payments SET nonce = LOWER(nonce) WHERE nonce <> LOWER(nonce)").Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM payments WHERE nonce <> '' AND id NOT IN (SELECT MIN(id) FROM payments WHERE nonce <> '' GROUP BY network, nonce)").Error; err != nil {
			return err
		}
		if err := tx.Exec("CREATE UNIQUE INDEX idx_payments_network_nonce ON payments (network, nonce) WHERE nonce <> ''").Error; err != nil {
			return err
		}
		return tx.Exec("CREATE INDEX idx_telemetry_events_ts ON telemetry_events (ts)").Error
	}})
}
