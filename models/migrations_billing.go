package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 30: Stripe subscriptions and the webhook event dedupe table.
// Frozen copies of the structs, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 30, Name: "billing", Up: func(tx *gorm.DB) error {
		type subscription struct {
			ID                   uint   `gorm:"primaryKey"`
			TenantID             uint   `gorm:"index;not null"`
			StripeCustomerID     string `gorm:"size:255;index;not null;default:''"`
			StripeSubscriptionID string `gorm:"uniqueIndex;size:255;not null"`
			StripePriceID        string `gorm:"size:255;not null;default:''"`
			Status               string `gorm:"size:32;not null;default:''"`
			PlanKey              string `gorm:"size:32;not null;default:''"`
			CurrentPeriodEnd     *time.Time
			CancelAtPeriodEnd    bool `gorm:"not null;default:false"`
			PastDueSince         *time.Time
			LastEventAt          time.Time
			CreatedAt            time.Time
			UpdatedAt            time.Time
		}
		type stripeEvent struct {
			ID         string `gorm:"primaryKey;size:255"`
			Type       string `gorm:"size:100;not null"`
			Created    time.Time
			TenantID   *uint     `gorm:"index"`
			Outcome    string    `gorm:"size:64;not null;default:''"`
			ReceivedAt time.Time `gorm:"index"`
		}
		if err := tx.Table("subscriptions").Migrator().CreateTable(&subscription{}); err != nil {
			return err
		}
		return tx.Table("stripe_events").Migrator().CreateTable(&stripeEvent{})
	}})
}
