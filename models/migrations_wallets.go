package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 77: a tenant's default payout wallet per network (wallets.go). One row per tenant and
// network; routes that name no wallet of their own are paid to it. Frozen copy of the struct,
// as in migrations_foundation.go.
func init() {
	register(Migration{Version: 77, Name: "payout_wallets", Up: func(tx *gorm.DB) error {
		type payoutWallet struct {
			ID        uint   `gorm:"primaryKey"`
			TenantID  uint   `gorm:"not null;uniqueIndex:idx_payout_wallets_tenant_network"`
			Network   string `gorm:"size:64;not null;uniqueIndex:idx_payout_wallets_tenant_network"`
			Address   string `gorm:"size:64;not null"`
			CreatedAt time.Time
			UpdatedAt time.Time
		}
		return tx.Table("payout_wallets").Migrator().CreateTable(&payoutWallet{})
	}})
}

// Version 78: a route whose pay_to follows the tenant's default payout wallet of its network.
// pay_to keeps the address in force (the edge and every page read it), and a wallet change
// rewrites it on every such route in the same transaction.
func init() {
	register(Migration{Version: 78, Name: "routes_pay_to_default", Up: func(tx *gorm.DB) error {
		type route struct {
			PayToDefault bool `gorm:"not null;default:false"`
		}
		return tx.Table("routes").Migrator().AddColumn(&route{}, "PayToDefault")
	}})
}

// Version 79: an optimistic route's refusal time, in seconds, for a payer whose optimistic
// settlement failed (NULL follows the edge's CLAW_OPTIMISTIC_REFUSE; 0 refuses nobody).
func init() {
	register(Migration{Version: 79, Name: "routes_refuse_seconds", Up: func(tx *gorm.DB) error {
		type route struct {
			RefuseSeconds *int
		}
		return tx.Table("routes").Migrator().AddColumn(&route{}, "RefuseSeconds")
	}})
}
