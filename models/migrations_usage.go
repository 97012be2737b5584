package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 75: what the hourly rollups did not keep yet — a latency sketch per row, errors by
// code and revenue per network. Frozen copies of the structs, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 75, Name: "usage_rollups_detail", Up: func(tx *gorm.DB) error {
		type errorRollup struct {
			ID        uint      `gorm:"primaryKey"`
			AppID     uint      `gorm:"uniqueIndex:idx_error_rollups_key,priority:1;not null"`
			Route     string    `gorm:"uniqueIndex:idx_error_rollups_key,priority:2;size:520;not null;default:''"`
			Hour      time.Time `gorm:"uniqueIndex:idx_error_rollups_key,priority:3;index;not null"`
			Code      string    `gorm:"uniqueIndex:idx_error_rollups_key,priority:4;size:64;not null;default:''"`
			Count     int64     `gorm:"not null;default:0"`
			UpdatedAt time.Time
		}
		type revenueRollup struct {
			ID            uint      `gorm:"primaryKey"`
			AppID         uint      `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:1;not null"`
			Route         string    `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:2;size:520;not null;default:''"`
			Hour          time.Time `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:3;index;not null"`
			Network       string    `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:4;size:64;not null;default:''"`
			Simulated     bool      `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:5;not null;default:false"`
			Payments      int64     `gorm:"not null;default:0"`
			RevenueAtomic string    `gorm:"size:80;not null;default:'0'"`
			UpdatedAt     time.Time
		}
		if err := tx.Table("error_rollups").Migrator().CreateTable(&errorRollup{}); err != nil {
			return err
		}
		if err := tx.Table("revenue_rollups").Migrator().CreateTable(&revenueRollup{}); err != nil {
			return err
		}
		if err := tx.Exec("ALTER TABLE usage_rollups ADD COLUMN latency TEXT NOT NULL DEFAULT ''").Error; err != nil {
			return err
		}
		// The rollup retention deletes by hour across apps.
		return tx.Exec("CREATE INDEX idx_usage_rollups_hour ON usage_rollups (hour)").Error
	}})
}
