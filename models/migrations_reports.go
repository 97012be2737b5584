package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 72: abuse reports from the public (POST /api/v1/reports and the /report form).
func init() {
	register(Migration{Version: 72, Name: "abuse_reports", Up: func(tx *gorm.DB) error {
		type abuseReport struct {
			ID        uint   `gorm:"primaryKey"`
			AppSlug   string `gorm:"size:32;not null;index"`
			AppID     *uint  `gorm:"index"`
			TenantID  *uint  `gorm:"index"`
			Category  string `gorm:"size:32;not null"`
			Message   string `gorm:"size:4000;not null"`
			Email     string `gorm:"size:254;not null;default:''"`
			IP        string `gorm:"size:64;not null;default:'';index"`
			State     string `gorm:"size:16;not null;default:'open';index"`
			DecidedBy *uint
			DecidedAt *time.Time
			Note      string    `gorm:"size:1000;not null;default:''"`
			CreatedAt time.Time `gorm:"index"`
		}
		return tx.Table("abuse_reports").Migrator().CreateTable(&abuseReport{})
	}})
}
