package models

import "gorm.io/gorm"

// Version 90: sync-job targets get their own prefix. They were "app:<id>", the prefix the edge
// uses for config keys and script tags (by slug); they are now "sync:app:<id>" (AppJobTarget).
// Rows written before are renamed in place; a row renamed already is left alone, and
// concatenation with || works on SQLite and PostgreSQL alike.
func init() {
	register(Migration{Version: 90, Name: "sync_job_target_prefix", Up: func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE sync_jobs SET target = 'sync:' || target WHERE target LIKE 'app:%'`).Error
	}})
}
