package models

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// --- consumer keys ---

// APIKeyPrefix starts every consumer API key, so secret scanners and people can tell
// them from portal tokens (claw_…).
const APIKeyPrefix = "ck_"

// APIKeys returns an app's consumer keys, revoked ones included, newest first.
func (s *Store) APIKeys(ctx context.Context, appID uint) ([]APIKey, error) {
	var ks []APIKey
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Find(&ks).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list consumer keys of app %d: %w", appID, err)
	}
	return ks, nil
}

// CreateAPIKey makes a key for the app's api_key routes and returns it with its secret,
// which is never stored: the row keeps the sha256 hex digest the dispatcher compares.
func (s *Store) CreateAPIKey(ctx context.Context, app *App, name string) (*APIKey, string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return nil, "", fieldErr("name", "Name the key after who will use it.")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, isControl):
		return nil, "", fieldErr("name", "Use at most 100 characters of plain text.")
	}
	secret := APIKeyPrefix + NewSecret(32)
	k := APIKey{Name: name, Prefix: secret[:len(APIKeyPrefix)+6], Hash: HashSecret(secret), CreatedAt: time.Now().UTC()}
	err := s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		k.AppID = cur.ID
		if err := tx.Create(&k).Error; err != nil {
			return fmt.Errorf("store: unable to create consumer key for app %d: %w", cur.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return &k, secret, nil
}

// RevokeAPIKey revokes key id of the app; an unknown or already revoked key is ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, app *App, id uint) error {
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		res := tx.Model(&APIKey{}).Where("app_id = ? AND id = ? AND revoked_at IS NULL", cur.ID, id).Update("revoked_at", time.Now().UTC())
		if res.Error != nil {
			return fmt.Errorf("store: unable to revoke consumer key %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}
