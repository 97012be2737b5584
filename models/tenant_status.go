package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
)

// SetTenantStatus suspends (with a reason the tenant's consumers see in the
// 403) or reinstates a tenant, and raises the sync job of every app of the
// tenant in the same transaction so the edge follows.
func (s *Store) SetTenantStatus(ctx context.Context, tenantID uint, status, reason string) error {
	reason = strings.TrimSpace(reason)
	switch {
	case status != TenantActive && status != TenantSuspended:
		return fmt.Errorf("store: unknown tenant status %q", status)
	case status == TenantSuspended && reason == "":
		return fieldErr("reason", "Say why: the reason is shown to the tenant and in the 403 its APIs answer.")
	case !utf8.ValidString(reason) || len(reason) > 500:
		return fieldErr("reason", "Use at most 500 characters of text.")
	case status == TenantActive:
		reason = ""
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Tenant{}).Where("id = ?", tenantID).Updates(map[string]any{"status": status, "status_reason": reason})
		if res.Error != nil {
			return fmt.Errorf("store: unable to set status of tenant %d: %w", tenantID, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return enqueueTenantApps(ctx, tx, tenantID)
	})
}

// ErrNoTenant is returned for operations that need a tenant.
var ErrNoTenant = errors.New("no tenant")
