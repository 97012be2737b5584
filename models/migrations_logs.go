package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 60: the log lines of tenants' requests (console output and uncaught exceptions), one
// row per line, read newest first per app. Version 61: the plan's log bounds. Frozen copies of
// the structs, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 60, Name: "app_logs", Up: func(tx *gorm.DB) error {
		type appLog struct {
			ID        uint      `gorm:"primaryKey"`
			AppID     uint      `gorm:"not null;index:idx_app_logs_app_id,priority:1;index:idx_app_logs_app_request,priority:1"`
			RequestID string    `gorm:"size:64;not null;default:'';index:idx_app_logs_app_request,priority:2"`
			TS        time.Time `gorm:"column:ts;not null;index:idx_app_logs_ts"`
			Level     string    `gorm:"size:8;not null;default:''"`
			Message   string    `gorm:"type:text;not null"`
			Bytes     int       `gorm:"not null;default:0"`
			Method    string    `gorm:"size:16;not null;default:''"`
			Path      string    `gorm:"size:520;not null;default:''"`
			Route     string    `gorm:"size:520;not null;default:''"`
			Status    int       `gorm:"not null;default:0"`
			Dropped   int       `gorm:"not null;default:0"`
		}
		return tx.Table("app_logs").Migrator().CreateTable(&appLog{})
	}})
	register(Migration{Version: 61, Name: "plan_log_bounds", Up: func(tx *gorm.DB) error {
		type plan struct {
			LogLinesPerRequest int   `gorm:"not null;default:200"`
			LogRetentionHours  int   `gorm:"not null;default:72"`
			LogMaxBytes        int64 `gorm:"not null;default:10485760"`
		}
		m := tx.Table("plans").Migrator()
		for _, f := range []string{"LogLinesPerRequest", "LogRetentionHours", "LogMaxBytes"} {
			if err := m.AddColumn(&plan{}, f); err != nil {
				return err
			}
		}
		return nil
	}})
}
