package models

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
)

// App moderation states an admin sets (App.ModerationState).
const (
	ModerationNone      = ""
	ModerationSuspended = "suspended"  // the edge answers 403 with the reason
	ModerationTakenDown = "taken_down" // script and config document deleted at the edge: 404
)

// TakenDown reports whether an admin took the app down.
func (a *App) TakenDown() bool { return a.ModerationState == ModerationTakenDown }

// TakenDownError refuses a deploy of an app an admin took down: the deployment would look
// successful while the syncer deletes the script again.
type TakenDownError struct{ Reason string }

func (e *TakenDownError) Error() string {
	return "an admin took this app down (" + e.Reason + "); it cannot be deployed until an admin restores it"
}

func validModerationReason(state, reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case state != ModerationNone && state != ModerationSuspended && state != ModerationTakenDown:
		return "", fmt.Errorf("store: unknown moderation state %q", state)
	case state != ModerationNone && reason == "":
		return "", fieldErr("reason", "Say why: the tenant reads the reason, and a suspended app's callers get it in the 403.")
	case !utf8.ValidString(reason) || len(reason) > 500:
		return "", fieldErr("reason", "Use at most 500 characters of text.")
	case state == ModerationNone:
		reason = ""
	}
	return reason, nil
}

// SetAppModeration suspends, takes down or restores (state "") one app and raises its sync
// job in the same transaction, so the edge follows: the config document says suspended, or
// the syncer deletes the script by tag and the document, or uploads both again.
func (s *Store) SetAppModeration(ctx context.Context, appID uint, state, reason string) error {
	reason, err := validModerationReason(state, reason)
	if err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&App{}).Where("id = ? AND sync_state <> ?", appID, SyncDeleting).
			Updates(map[string]any{"moderation_state": state, "moderation_reason": reason})
		if res.Error != nil {
			return fmt.Errorf("store: unable to set the moderation state of app %d: %w", appID, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		_, err := enqueueApp(tx, appID, JobApp)
		return err
	})
}

// SetTenantAppsModeration takes down (state taken_down) or restores (state "") every app of a
// tenant at once, raising their jobs in the same transaction.
func (s *Store) SetTenantAppsModeration(ctx context.Context, tenantID uint, state, reason string) error {
	reason, err := validModerationReason(state, reason)
	if err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&App{}).Where("tenant_id = ? AND sync_state <> ?", tenantID, SyncDeleting).
			Updates(map[string]any{"moderation_state": state, "moderation_reason": reason}).Error; err != nil {
			return fmt.Errorf("store: unable to set the moderation state of tenant %d's apps: %w", tenantID, err)
		}
		return enqueueTenantApps(ctx, tx, tenantID)
	})
}
