package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 40: raw telemetry events from the dispatcher, the payments ledger and hourly usage
// rollups. Frozen copies of the structs, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 40, Name: "telemetry", Up: func(tx *gorm.DB) error {
		type telemetryEvent struct {
			ID               uint   `gorm:"primaryKey"`
			AppID            *uint  `gorm:"index:idx_telemetry_events_app_ts,priority:1"`
			AppSlug          string `gorm:"size:64;not null;default:''"`
			TenantID         uint   `gorm:"not null;default:0"`
			WorkerName       string `gorm:"size:64;not null;default:''"`
			Route            string `gorm:"size:520;not null;default:''"`
			Method           string `gorm:"size:16;not null;default:''"`
			Host             string `gorm:"size:255;not null;default:''"`
			StatusCode       int    `gorm:"not null;default:0"`
			ErrorCode        string `gorm:"size:64;not null;default:''"`
			PaymentRequired  bool   `gorm:"not null;default:false"`
			PaymentSuccess   bool   `gorm:"not null;default:false"`
			Payer            string `gorm:"size:64;not null;default:''"`
			Nonce            string `gorm:"size:80;not null;default:''"`
			Amount           string `gorm:"size:80;not null;default:''"`
			Network          string `gorm:"size:64;not null;default:''"`
			Transaction      string `gorm:"size:100;not null;default:''"`
			VerifyResult     string `gorm:"size:100;not null;default:''"`
			SettlementResult string `gorm:"size:100;not null;default:''"`
			Simulated        bool   `gorm:"not null;default:false"`
			CPUMs            *float64
			Subrequests      *int
			DurationMs       int64     `gorm:"not null;default:0"`
			TS               time.Time `gorm:"column:ts;index:idx_telemetry_events_app_ts,priority:2;not null"`
			ReceivedAt       time.Time `gorm:"not null"`
		}
		type payment struct {
			ID               uint      `gorm:"primaryKey"`
			AppID            uint      `gorm:"index:idx_payments_app_at,priority:1;not null"`
			TenantID         uint      `gorm:"index;not null"`
			Route            string    `gorm:"size:520;not null;default:''"`
			Payer            string    `gorm:"size:64;not null;default:''"`
			Nonce            string    `gorm:"size:80;not null;default:''"`
			Amount           string    `gorm:"size:80;not null;default:''"`
			Network          string    `gorm:"size:64;not null;default:''"`
			Transaction      string    `gorm:"size:100;not null;default:''"`
			VerifyResult     string    `gorm:"size:100;not null;default:''"`
			SettlementResult string    `gorm:"size:100;not null;default:''"`
			Success          bool      `gorm:"not null;default:false"`
			Simulated        bool      `gorm:"not null;default:false"`
			At               time.Time `gorm:"index:idx_payments_app_at,priority:2;not null"`
		}
		type usageRollup struct {
			ID            uint      `gorm:"primaryKey"`
			AppID         uint      `gorm:"uniqueIndex:idx_usage_rollups_key,priority:1;not null"`
			Route         string    `gorm:"uniqueIndex:idx_usage_rollups_key,priority:2;size:520;not null;default:''"`
			Hour          time.Time `gorm:"uniqueIndex:idx_usage_rollups_key,priority:3;not null"`
			Requests      int64     `gorm:"not null;default:0"`
			Paid          int64     `gorm:"not null;default:0"`
			RevenueAtomic string    `gorm:"size:80;not null;default:'0'"`
			Errors        int64     `gorm:"not null;default:0"`
			CPUMs         float64   `gorm:"not null;default:0"`
			Subrequests   int64     `gorm:"not null;default:0"`
			LimitHits     int64     `gorm:"not null;default:0"`
			UpdatedAt     time.Time
		}
		for _, t := range []struct {
			name string
			v    any
		}{{"telemetry_events", &telemetryEvent{}}, {"payments", &payment{}}, {"usage_rollups", &usageRollup{}}} {
			if err := tx.Table(t.name).Migrator().CreateTable(t.v); err != nil {
				return err
			}
		}
		return nil
	}})
}
