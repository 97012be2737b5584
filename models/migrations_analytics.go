package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 74: how far the portal has read each Workers Analytics Engine dataset
// (analytics_ingest.go): one row per dataset, the end of the last window ingested.
func init() {
	register(Migration{Version: 74, Name: "analytics_watermarks", Up: func(tx *gorm.DB) error {
		type analyticsWatermark struct {
			Dataset   string    `gorm:"primaryKey;size:64"`
			Through   time.Time `gorm:"not null"`
			RowCount  int64     `gorm:"not null;default:0"`
			Sampled   int64     `gorm:"not null;default:0"`
			UpdatedAt time.Time
		}
		return tx.Table("analytics_watermarks").Migrator().CreateTable(&analyticsWatermark{})
	}})
}
