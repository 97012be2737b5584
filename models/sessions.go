package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// NewSecret returns n random bytes, URL-safe base64 encoded.
func NewSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is the at-rest form of session ids and API tokens.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// SessionPolicy bounds a session's life.
type SessionPolicy struct {
	Idle     time.Duration
	Absolute time.Duration
}

// CreateSession starts a session for a user and returns the cookie value.
func (s *Store) CreateSession(ctx context.Context, userID uint, ip, userAgent string, p SessionPolicy) (string, error) {
	token := NewSecret(32)
	now := time.Now().UTC()
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	if len(ip) > 64 {
		ip = ip[:64]
	}
	sess := Session{ID: HashSecret(token), UserID: userID, IP: ip, UserAgent: userAgent, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(p.Absolute)}
	if err := s.db.WithContext(ctx).Create(&sess).Error; err != nil {
		return "", fmt.Errorf("store: unable to create session: %w", err)
	}
	return token, nil
}

// SessionUser returns the session for a cookie value and its user, if the
// session is alive under the policy. It refreshes last-seen at most once a
// minute so that page views do not each write a row.
func (s *Store) SessionUser(ctx context.Context, token string, p SessionPolicy) (*Session, *User, error) {
	if token == "" || len(token) > 100 {
		return nil, nil, ErrNotFound
	}
	type found struct {
		sess *Session
		user *User
	}
	id := HashSecret(token)
	f, err := cached(s.cache, "session:"+id, []string{"sessions", "users", "tenants"}, func() (found, error) {
		sess, err := first[Session](s.db.WithContext(ctx).Where("id = ?", id), "read session")
		if err != nil {
			return found{}, err
		}
		u, err := s.UserByID(ctx, sess.UserID)
		return found{sess, u}, err
	})
	if err != nil {
		return nil, nil, err
	}
	sess, u := *f.sess, f.user
	now := time.Now().UTC()
	if now.After(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > p.Idle {
		s.db.WithContext(ctx).Where("id = ?", sess.ID).Delete(&Session{})
		return nil, nil, ErrNotFound
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", sess.ID).Update("last_seen_at", now)
	}
	return &sess, u, nil
}

// DeleteSession ends one session (log out).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.db.WithContext(ctx).Where("id = ?", id).Delete(&Session{}).Error
}

// DeleteExpiredSessions removes dead sessions; run periodically.
func (s *Store) DeleteExpiredSessions(ctx context.Context, p SessionPolicy) (int64, error) {
	now := time.Now().UTC()
	res := s.db.WithContext(ctx).Where("expires_at < ? OR last_seen_at < ?", now, now.Add(-p.Idle)).Delete(&Session{})
	return res.RowsAffected, res.Error
}

// TokenPrefix is how API tokens start, so that secret scanners can find them.
const TokenPrefix = "claw_"

// MaxTokenDays bounds a token's lifetime when it has one.
const MaxTokenDays = 3650

// CreateAPIToken issues a token and returns its secret (shown once). A
// token with validFor > 0 stops working that long after now; 0 is never.
func (s *Store) CreateAPIToken(ctx context.Context, userID uint, name string, validFor time.Duration) (*APIToken, string, error) {
	secret := TokenPrefix + NewSecret(32)
	t := APIToken{UserID: userID, Name: name, Prefix: secret[:len(TokenPrefix)+6], Hash: HashSecret(secret)}
	if validFor > 0 {
		exp := time.Now().UTC().Add(validFor)
		t.ExpiresAt = &exp
	}
	if err := s.db.WithContext(ctx).Create(&t).Error; err != nil {
		return nil, "", fmt.Errorf("store: unable to create api token: %w", err)
	}
	return &t, secret, nil
}

// APITokens lists a user's tokens, newest first, revoked ones included.
func (s *Store) APITokens(ctx context.Context, userID uint) ([]APIToken, error) {
	return cached(s.cache, fmt.Sprintf("tokens:%d", userID), []string{"api_tokens"}, func() ([]APIToken, error) { return s.apiTokens(ctx, userID) })
}

func (s *Store) apiTokens(ctx context.Context, userID uint) ([]APIToken, error) {
	var ts []APIToken
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("id DESC").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list api tokens: %w", err)
	}
	return ts, nil
}

// RevokeAPIToken revokes a token of that user; another user's id is not found.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, tokenID uint) error {
	res := s.db.WithContext(ctx).Model(&APIToken{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL", tokenID, userID).Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return fmt.Errorf("store: unable to revoke api token: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// UserByAPIToken authenticates a bearer token.
func (s *Store) UserByAPIToken(ctx context.Context, secret string) (*User, error) {
	if len(secret) < len(TokenPrefix)+10 || len(secret) > 100 {
		return nil, ErrNotFound
	}
	hash := HashSecret(secret)
	type found struct {
		tok  APIToken
		user *User
	}
	f, err := cached(s.cache, "token:"+hash, []string{"api_tokens", "users", "tenants"}, func() (found, error) {
		t, err := first[APIToken](s.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", hash), "read api token")
		if err != nil {
			return found{}, err
		}
		u, err := s.UserByID(ctx, t.UserID)
		return found{*t, u}, err
	})
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if f.tok.Expired(now) {
		return nil, ErrNotFound
	}
	if f.tok.LastUsedAt == nil || now.Sub(*f.tok.LastUsedAt) > time.Minute {
		s.db.WithContext(ctx).Model(&APIToken{}).Where("id = ?", f.tok.ID).Update("last_used_at", now)
	}
	return f.user, nil
}
