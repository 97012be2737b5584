package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 48: API tokens may expire. NULL is "never", which every token
// issued before this step keeps.
func init() {
	register(Migration{Version: 48, Name: "api_token_expiry", Up: func(tx *gorm.DB) error {
		type apiToken struct {
			ExpiresAt *time.Time
		}
		return tx.Table("api_tokens").Migrator().AddColumn(&apiToken{}, "ExpiresAt")
	}})
}
