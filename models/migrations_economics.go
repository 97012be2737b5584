package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 73: the operator's economics settings (economics_store.go): the Workers price list the
// cost estimates use and the platform fee on x402 revenue. One row (id 1); without it the
// defaults apply. Frozen copy of the struct, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 73, Name: "economics_settings", Up: func(tx *gorm.DB) error {
		type economicsSettings struct {
			ID                   uint  `gorm:"primaryKey"`
			MonthlyMinimumMicros int64 `gorm:"not null;default:5000000"`
			IncludedRequests     int64 `gorm:"not null;default:10000000"`
			PerMillionRequests   int64 `gorm:"not null;default:300000"`
			IncludedCPUMs        int64 `gorm:"column:included_cpu_ms;not null;default:30000000"`
			PerMillionCPUMs      int64 `gorm:"column:per_million_cpu_ms;not null;default:20000"`
			PlatformFeeBps       int64 `gorm:"not null;default:0"`
			UpdatedAt            time.Time
		}
		return tx.Table("economics_settings").Migrator().CreateTable(&economicsSettings{})
	}})
}
