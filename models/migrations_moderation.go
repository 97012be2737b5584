package models

import (
	"time"

	"github.com/402claw/402claw/models/scan"
	"gorm.io/gorm"
)

// Version 70: code moderation. Rules live in moderation_rules (seeded with the tested default
// set of models/scan as it stood when the migration ran); every version carries its review
// state, the scan's matches and the decision; plans and tenants say when a version needs an
// admin's approval before it can be deployed. Frozen copies of the structs, as in
// migrations_foundation.go.
func init() {
	register(Migration{Version: 70, Name: "moderation", Up: func(tx *gorm.DB) error {
		type moderationRule struct {
			ID        uint   `gorm:"primaryKey"`
			Name      string `gorm:"uniqueIndex;size:64;not null"`
			Kind      string `gorm:"size:16;not null"`
			Pattern   string `gorm:"type:text;not null"`
			Severity  string `gorm:"size:16;not null"`
			Action    string `gorm:"size:16;not null"`
			Message   string `gorm:"size:500;not null;default:''"`
			Enabled   bool   `gorm:"not null;default:true"`
			CreatedAt time.Time
			UpdatedAt time.Time
		}
		if err := tx.Table("moderation_rules").Migrator().CreateTable(&moderationRule{}); err != nil {
			return err
		}
		for _, r := range scan.Defaults() {
			row := moderationRule{Name: r.Name, Kind: r.Kind, Pattern: r.Pattern, Severity: r.Severity, Action: r.Action, Message: r.Message, Enabled: true}
			if err := tx.Table("moderation_rules").Create(&row).Error; err != nil {
				return err
			}
		}
		type version struct {
			ReviewState  string `gorm:"size:16;not null;default:''"`
			ReviewReason string `gorm:"size:1000;not null;default:''"`
			ReviewedBy   *uint
			ReviewedAt   *time.Time
			ScanMatches  string `gorm:"type:text;not null;default:''"`
		}
		m := tx.Table("versions").Migrator()
		for _, f := range []string{"ReviewState", "ReviewReason", "ReviewedBy", "ReviewedAt", "ScanMatches"} {
			if err := m.AddColumn(&version{}, f); err != nil {
				return err
			}
		}
		if err := tx.Exec(`CREATE INDEX idx_versions_review_state ON versions (review_state)`).Error; err != nil {
			return err
		}
		type policy struct {
			ReviewPolicy string `gorm:"size:16;not null;default:''"`
		}
		for _, table := range []string{"plans", "tenants"} {
			if err := tx.Table(table).Migrator().AddColumn(&policy{}, "ReviewPolicy"); err != nil {
				return err
			}
		}
		type rescan struct {
			ID         uint      `gorm:"primaryKey"`
			StartedAt  time.Time `gorm:"not null"`
			ActorID    *uint
			Total      int    `gorm:"not null;default:0"`
			Done       int    `gorm:"not null;default:0"`
			Flagged    int    `gorm:"not null;default:0"`
			Error      string `gorm:"size:2000;not null;default:''"`
			FinishedAt *time.Time
		}
		return tx.Table("moderation_rescans").Migrator().CreateTable(&rescan{})
	}})
}
