package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 1: accounts, sessions, API tokens, plans and the audit log.
// The structs here are frozen copies: editing the live models must not change
// what an old step creates.
func init() {
	register(Migration{Version: 1, Name: "foundation", Up: func(tx *gorm.DB) error {
		type tenant struct {
			ID               uint   `gorm:"primaryKey"`
			Slug             string `gorm:"uniqueIndex;size:64;not null"`
			Name             string `gorm:"size:200;not null"`
			PlanKey          string `gorm:"size:32;not null;default:free"`
			Status           string `gorm:"size:16;not null;default:active"`
			StatusReason     string `gorm:"size:500;not null;default:''"`
			StripeCustomerID string `gorm:"size:64;index;not null;default:''"`
			CreatedAt        time.Time
			UpdatedAt        time.Time
		}
		type user struct {
			ID           uint   `gorm:"primaryKey"`
			Email        string `gorm:"uniqueIndex;size:254;not null"`
			PasswordHash string `gorm:"size:200;not null"`
			Role         string `gorm:"size:16;not null;default:tenant"`
			TenantID     *uint  `gorm:"index"`
			CreatedAt    time.Time
			UpdatedAt    time.Time
		}
		type session struct {
			ID         string `gorm:"primaryKey;size:64"`
			UserID     uint   `gorm:"index;not null"`
			IP         string `gorm:"size:64"`
			UserAgent  string `gorm:"size:300"`
			CreatedAt  time.Time
			LastSeenAt time.Time
			ExpiresAt  time.Time `gorm:"index"`
		}
		type apiToken struct {
			ID         uint   `gorm:"primaryKey"`
			UserID     uint   `gorm:"index;not null"`
			Name       string `gorm:"size:100;not null"`
			Prefix     string `gorm:"size:16;not null"`
			Hash       string `gorm:"uniqueIndex;size:64;not null"`
			CreatedAt  time.Time
			LastUsedAt *time.Time
			RevokedAt  *time.Time
		}
		type plan struct {
			Key               string `gorm:"primaryKey;size:32"`
			Name              string `gorm:"size:100;not null"`
			MonthlyPriceCents int64  `gorm:"not null;default:0"`
			StripePriceID     string `gorm:"size:100;not null;default:''"`
			CPUMs             int    `gorm:"not null"`
			SubRequests       int    `gorm:"not null"`
			MaxApps           int    `gorm:"not null"`
			MaxRoutes         int    `gorm:"not null"`
			MaxScriptBytes    int64  `gorm:"not null"`
			Active            bool   `gorm:"not null;default:true"`
			Sort              int    `gorm:"not null;default:0"`
			UpdatedAt         time.Time
		}
		type auditEvent struct {
			ID          uint      `gorm:"primaryKey"`
			ActorUserID *uint     `gorm:"index"`
			Action      string    `gorm:"size:64;not null;index"`
			Target      string    `gorm:"size:200;not null;default:''"`
			Detail      string    `gorm:"size:2000;not null;default:''"`
			IP          string    `gorm:"size:64;not null;default:''"`
			CreatedAt   time.Time `gorm:"index"`
		}
		for _, t := range []struct {
			name string
			v    any
		}{{"tenants", &tenant{}}, {"users", &user{}}, {"sessions", &session{}}, {"api_tokens", &apiToken{}}, {"plans", &plan{}}, {"audit_events", &auditEvent{}}} {
			if err := tx.Table(t.name).Migrator().CreateTable(t.v); err != nil {
				return err
			}
		}
		now := time.Now().UTC()
		plans := []plan{
			{Key: "free", Name: "Free", MonthlyPriceCents: 0, CPUMs: 50, SubRequests: 10, MaxApps: 3, MaxRoutes: 10, MaxScriptBytes: 1 << 20, Active: true, Sort: 0, UpdatedAt: now},
			{Key: "pro", Name: "Pro", MonthlyPriceCents: 2000, CPUMs: 200, SubRequests: 50, MaxApps: 50, MaxRoutes: 100, MaxScriptBytes: 10 << 20, Active: true, Sort: 1, UpdatedAt: now},
		}
		return tx.Table("plans").Create(&plans).Error
	}})
}
