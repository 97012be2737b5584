package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 80: the x402 facilitators the operator configures (facilitators.go). The credential
// (a bearer token or the JWT signing key) is sealed with the secret box; the last /supported
// answer is kept so the route editors know what each one settles before it is asked again.
// Frozen copy of the struct, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 80, Name: "facilitators", Up: func(tx *gorm.DB) error {
		type facilitator struct {
			ID         uint   `gorm:"primaryKey"`
			URL        string `gorm:"size:500;not null;uniqueIndex"`
			Networks   string `gorm:"size:500;not null;default:''"`
			AuthType   string `gorm:"size:8;not null;default:'none'"`
			KeyID      string `gorm:"size:300;not null;default:''"`
			Alg        string `gorm:"size:8;not null;default:''"`
			Secret     []byte
			Position   int    `gorm:"not null;default:0"`
			Supported  string `gorm:"type:text;not null;default:''"`
			CheckedAt  *time.Time
			CheckError string `gorm:"size:500;not null;default:''"`
			CreatedAt  time.Time
			UpdatedAt  time.Time
		}
		return tx.Table("facilitators").Migrator().CreateTable(&facilitator{})
	}})
}

// Version 81: a route's settlement mode may be "optimistic" (10 characters; the column was 8).
// SQLite does not enforce a varchar's length.
func init() {
	register(Migration{Version: 81, Name: "routes_settle_optimistic", Up: func(tx *gorm.DB) error {
		if tx.Dialector.Name() != "postgres" {
			return nil
		}
		return tx.Exec(`ALTER TABLE routes ALTER COLUMN settle TYPE varchar(16)`).Error
	}})
}
