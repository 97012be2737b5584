package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/402claw/402claw/models/x402"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PayoutWallet is a tenant's default payout address on one network. A priced route that names
// no wallet of its own (Route.PayToDefault) is paid to it.
type PayoutWallet struct {
	ID        uint   `gorm:"primaryKey"`
	TenantID  uint   `gorm:"not null;uniqueIndex:idx_payout_wallets_tenant_network"`
	Network   string `gorm:"size:64;not null;uniqueIndex:idx_payout_wallets_tenant_network"`
	Address   string `gorm:"size:64;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ValidatePayoutWallet checks a network and an address for a default payout wallet and returns
// them normalized (the address in EIP-55 form). The error is a *FieldError naming "network" or
// "address"; a mixed-case address whose checksum does not match is refused, since that is what
// a mistyped character looks like.
func ValidatePayoutWallet(network, address string) (x402.Network, string, error) {
	n, ok := x402.NetworkByCAIP2(strings.TrimSpace(network))
	if !ok {
		var names []string
		for _, n := range x402.Networks() {
			names = append(names, n.CAIP2+" ("+n.Name+")")
		}
		return x402.Network{}, "", fieldErr("network", fmt.Sprintf("Network %q is not supported; choose %s.", clipText(strings.TrimSpace(network)), strings.Join(names, " or ")))
	}
	if strings.TrimSpace(address) == "" {
		return n, "", fieldErr("address", "Enter the wallet address that receives the payments (0x…).")
	}
	addr, err := x402.NormalizeAddress(address)
	if errors.Is(err, x402.ErrAddressChecksum) {
		return n, "", fieldErr("address", "The address checksum is wrong: one character is probably mistyped. Paste the address exactly as your wallet shows it.")
	}
	if err != nil {
		return n, "", fieldErr("address", upperFirst(strings.TrimPrefix(err.Error(), x402.ErrInvalidAddress.Error()+": "))+".")
	}
	return n, addr, nil
}

// PayoutWallets returns a tenant's default payout wallets, by network.
func (s *Store) PayoutWallets(ctx context.Context, tenantID uint) ([]PayoutWallet, error) {
	var ws []PayoutWallet
	if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("network").Find(&ws).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list payout wallets of tenant %d: %w", tenantID, err)
	}
	return ws, nil
}

// WalletChange is what SetPayoutWallet did: the address before ("" for a first wallet) and the
// routes and apps now paid to the new one.
type WalletChange struct {
	Wallet   PayoutWallet
	Previous string
	Routes   int
	AppIDs   []uint
}

// SetPayoutWallet sets the tenant's default payout wallet on network (already validated by
// ValidatePayoutWallet) and, in the same transaction, rewrites pay_to on every route of the
// tenant's apps that follows the default on that network, raises those apps' sync jobs (the edge
// config carries pay_to) and writes the audit event. The caller has checked the password.
func (s *Store) SetPayoutWallet(ctx context.Context, tenantID uint, network, address string, actor *uint, ip string) (WalletChange, error) {
	var ch WalletChange
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old PayoutWallet
		err := lockForUpdate(tx).Where("tenant_id = ? AND network = ?", tenantID, network).Take(&old).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
		case err != nil:
			return fmt.Errorf("store: unable to read payout wallet of tenant %d on %s: %w", tenantID, network, err)
		default:
			ch.Previous = old.Address
		}
		w := PayoutWallet{TenantID: tenantID, Network: network, Address: address}
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "network"}},
			DoUpdates: clause.AssignmentColumns([]string{"address", "updated_at"}),
		}).Create(&w).Error; err != nil {
			return fmt.Errorf("store: unable to store payout wallet of tenant %d on %s: %w", tenantID, network, err)
		}
		if err := tx.Where("tenant_id = ? AND network = ?", tenantID, network).Take(&ch.Wallet).Error; err != nil {
			return fmt.Errorf("store: unable to read back payout wallet of tenant %d: %w", tenantID, err)
		}
		var appIDs []uint
		if err := tx.Raw(`SELECT DISTINCT routes.app_id FROM routes JOIN apps ON apps.id = routes.app_id
			WHERE apps.tenant_id = ? AND routes.pay_to_default = ? AND routes.network = ? AND routes.access = ? ORDER BY routes.app_id`,
			tenantID, true, network, AccessX402).Scan(&appIDs).Error; err != nil {
			return fmt.Errorf("store: unable to list apps following the payout wallet: %w", err)
		}
		for _, id := range appIDs {
			cur, err := lockedApp(tx, id)
			if err != nil {
				return err
			}
			res := tx.Model(&Route{}).Where("app_id = ? AND pay_to_default = ? AND network = ? AND access = ?", id, true, network, AccessX402).
				Update("pay_to", address)
			if res.Error != nil {
				return fmt.Errorf("store: unable to rewrite pay_to of app %d: %w", id, res.Error)
			}
			ch.Routes += int(res.RowsAffected)
			if cur.SyncState == SyncDeleting {
				continue // its removal is pending; nothing to write to the edge
			}
			if _, err := enqueueApp(tx, id, JobApp); err != nil {
				return err
			}
			ch.AppIDs = append(ch.AppIDs, id)
		}
		before := ch.Previous
		if before == "" {
			before = "none"
		}
		detail := fmt.Sprintf("%s: %s → %s; %d route(s) in %d app(s) follow it", network, before, address, ch.Routes, len(ch.AppIDs))
		e := AuditEvent{ActorUserID: actor, Action: "payout_wallet_changed", Target: fmt.Sprintf("tenant:%d", tenantID), Detail: detail, IP: ip}
		if err := tx.Create(&e).Error; err != nil {
			return fmt.Errorf("store: unable to write audit event payout_wallet_changed: %w", err)
		}
		return nil
	})
	if err != nil {
		return WalletChange{}, err
	}
	return ch, nil
}

// fillDefaultPayTo sets pay_to on the routes of next that follow the tenant's default payout
// wallet, inside EditRoutes' transaction. A route on a network without a default wallet is a
// *RouteError on pay_to.
func fillDefaultPayTo(tx *gorm.DB, tenantID uint, next []Route) error {
	var ws []PayoutWallet
	loaded := false
	for i := range next {
		r := &next[i]
		if r.Access != AccessX402 {
			r.PayToDefault = false
			continue
		}
		if !r.PayToDefault {
			continue
		}
		if !loaded {
			if err := tx.Where("tenant_id = ?", tenantID).Find(&ws).Error; err != nil {
				return fmt.Errorf("store: unable to read payout wallets of tenant %d: %w", tenantID, err)
			}
			loaded = true
		}
		r.PayTo = ""
		for _, w := range ws {
			if w.Network == r.Network {
				r.PayTo = w.Address
			}
		}
		if r.PayTo == "" {
			name := r.Network
			if n, ok := x402.NetworkByCAIP2(r.Network); ok {
				name = n.Name
			}
			return &RouteError{Index: i, Field: "pay_to", Message: "You have no default payout wallet on " + name +
				": enter the wallet address that receives this route's payments (0x…), or set a default in Settings → Payout wallets."}
		}
	}
	return nil
}
