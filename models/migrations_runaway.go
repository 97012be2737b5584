package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 47: apps remember when the local edge's watchdog stopped them for running away
// (apps_runaway.go), and when a first stop ends by itself.
func init() {
	register(Migration{Version: 47, Name: "apps_cpu_stops", Up: func(tx *gorm.DB) error {
		type app struct {
			CPUStoppedAt *time.Time
			CPUResumeAt  *time.Time
		}
		m := tx.Table("apps").Migrator()
		for _, f := range []string{"CPUStoppedAt", "CPUResumeAt"} {
			if err := m.AddColumn(&app{}, f); err != nil {
				return err
			}
		}
		return nil
	}})
}
