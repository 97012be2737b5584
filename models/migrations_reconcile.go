package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 55: the reconciler's reports, so /admin/sync can show what the last run found and
// why it held back (the safety valve on mass deletion). A frozen copy of the struct, as in
// migrations_foundation.go.
func init() {
	register(Migration{Version: 55, Name: "reconcile_reports", Up: func(tx *gorm.DB) error {
		type reconcileReport struct {
			ID                 uint      `gorm:"primaryKey"`
			StartedAt          time.Time `gorm:"index;not null"`
			DurationMs         int64     `gorm:"not null;default:0"`
			Checked            int       `gorm:"not null;default:0"`
			Pending            int       `gorm:"not null;default:0"`
			MissingScripts     int       `gorm:"not null;default:0"`
			WrongScripts       int       `gorm:"not null;default:0"`
			StrayScripts       int       `gorm:"not null;default:0"`
			KVFixed            int       `gorm:"not null;default:0"`
			KVStray            int       `gorm:"not null;default:0"`
			Errors             int       `gorm:"not null;default:0"`
			Listed             int       `gorm:"not null;default:0"`
			Reads              int       `gorm:"not null;default:0"`
			Ignored            int       `gorm:"not null;default:0"`
			ListShape          string    `gorm:"size:300;not null;default:''"`
			Blocked            bool      `gorm:"not null;default:false"`
			BlockedReason      string    `gorm:"size:1000;not null;default:''"`
			WouldDeleteScripts int       `gorm:"not null;default:0"`
			WouldDeleteDocs    int       `gorm:"not null;default:0"`
			DeleteLimit        int       `gorm:"not null;default:0"`
			Forced             bool      `gorm:"not null;default:false"`
			Error              string    `gorm:"size:2000;not null;default:''"`
		}
		return tx.Table("reconcile_reports").Migrator().CreateTable(&reconcileReport{})
	}})
}
