package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditFilter narrows the audit list. Empty fields do not filter.
type AuditFilter struct {
	Actor  string    // the acting user's email (exact, case-insensitive); "system" for no user
	Action string    // exact action, e.g. tenant_suspended
	Tenant string    // tenant slug: rows about the tenant, its apps, or done by its users
	From   time.Time // inclusive
	To     time.Time // exclusive
	Before uint      // keyset cursor: rows with a smaller id
}

// AuditPage returns up to limit audit rows matching f, newest first, and the cursor of the
// next page (0 when there is none). It pages by id, so a deep page costs what the first does.
// An unknown actor or tenant matches nothing.
func (s *Store) AuditPage(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, uint, error) {
	q := s.db.WithContext(ctx).Model(&AuditEvent{})
	if a := strings.TrimSpace(strings.ToLower(f.Actor)); a != "" {
		if a == "system" {
			q = q.Where("actor_user_id IS NULL")
		} else {
			q = q.Where("actor_user_id IN (?)", s.db.Model(&User{}).Select("id").Where("LOWER(email) = ?", a))
		}
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if slug := strings.TrimSpace(strings.ToLower(f.Tenant)); slug != "" {
		t, err := s.TenantBySlug(ctx, slug)
		if err == ErrNotFound {
			return nil, 0, nil
		} else if err != nil {
			return nil, 0, err
		}
		targets := []string{"tenant:" + t.Slug}
		var slugs []string
		if err := s.db.WithContext(ctx).Model(&App{}).Where("tenant_id = ?", t.ID).Pluck("slug", &slugs).Error; err != nil {
			return nil, 0, fmt.Errorf("store: unable to list the apps of tenant %s: %w", slug, err)
		}
		for _, a := range slugs {
			targets = append(targets, "app:"+a)
		}
		q = q.Where("(target IN ? OR actor_user_id IN (?))", targets, s.db.Model(&User{}).Select("id").Where("tenant_id = ?", t.ID))
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To)
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var es []AuditEvent
	if err := q.Order("id DESC").Limit(limit + 1).Find(&es).Error; err != nil {
		return nil, 0, fmt.Errorf("store: unable to list audit events: %w", err)
	}
	var next uint
	if len(es) > limit {
		es = es[:limit]
		next = es[limit-1].ID
	}
	return es, next, nil
}

// AuditActions returns the distinct actions recorded, for the filter's choices.
func (s *Store) AuditActions(ctx context.Context) ([]string, error) {
	var as []string
	if err := s.db.WithContext(ctx).Model(&AuditEvent{}).Distinct("action").Order("action").Pluck("action", &as).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list audit actions: %w", err)
	}
	return as, nil
}
