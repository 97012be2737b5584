package models

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ReviewItem is a version in the review queue with its app and tenant.
type ReviewItem struct {
	Version Version // without bundle and sources
	App     App
	Tenant  Tenant
}

// ReviewQueue returns versions in a review state (pending by default), oldest first.
func (s *Store) ReviewQueue(ctx context.Context, state string, limit int) ([]ReviewItem, error) {
	if state == "" {
		state = ReviewPending
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var vs []Version
	q := s.db.WithContext(ctx).Select(versionListColumns).Where("review_state = ?", state)
	if state == ReviewPending {
		q = q.Order("created_at, id")
	} else {
		q = q.Order("reviewed_at DESC, id DESC")
	}
	if err := q.Limit(limit).Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list the review queue: %w", err)
	}
	return s.reviewItems(ctx, vs)
}

// PendingReviews counts the versions waiting for a decision.
func (s *Store) PendingReviews(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Version{}).Where("review_state = ?", ReviewPending).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: unable to count pending reviews: %w", err)
	}
	return n, nil
}

func (s *Store) reviewItems(ctx context.Context, vs []Version) ([]ReviewItem, error) {
	appIDs := make([]uint, 0, len(vs))
	for _, v := range vs {
		appIDs = append(appIDs, v.AppID)
	}
	var apps []App
	if len(appIDs) > 0 {
		if err := s.db.WithContext(ctx).Where("id IN ?", appIDs).Find(&apps).Error; err != nil {
			return nil, fmt.Errorf("store: unable to read apps of the review queue: %w", err)
		}
	}
	appByID := map[uint]App{}
	tenantIDs := []uint{}
	for _, a := range apps {
		appByID[a.ID] = a
		tenantIDs = append(tenantIDs, a.TenantID)
	}
	var tenants []Tenant
	if len(tenantIDs) > 0 {
		if err := s.db.WithContext(ctx).Where("id IN ?", tenantIDs).Find(&tenants).Error; err != nil {
			return nil, fmt.Errorf("store: unable to read tenants of the review queue: %w", err)
		}
	}
	tenantByID := map[uint]Tenant{}
	for _, t := range tenants {
		tenantByID[t.ID] = t
	}
	out := make([]ReviewItem, 0, len(vs))
	for _, v := range vs {
		a := appByID[v.AppID]
		out = append(out, ReviewItem{Version: v, App: a, Tenant: tenantByID[a.TenantID]})
	}
	return out, nil
}

// ReviewVersion returns one version with its sources (not its bundle), app and tenant.
func (s *Store) ReviewVersion(ctx context.Context, versionID uint) (*ReviewItem, error) {
	v, err := first[Version](s.db.WithContext(ctx).Omit("bundle"), fmt.Sprintf("read version %d", versionID), versionID)
	if err != nil {
		return nil, err
	}
	items, err := s.reviewItems(ctx, []Version{*v})
	if err != nil {
		return nil, err
	}
	return &items[0], nil
}

// LastApprovedVersion is the newest version of the app before number that a reviewer approved
// or that never needed review, with its sources; nil when there is none.
func (s *Store) LastApprovedVersion(ctx context.Context, appID uint, before int) (*Version, error) {
	var vs []Version
	err := s.db.WithContext(ctx).Omit("bundle").Where("app_id = ? AND number < ? AND review_state IN ?", appID, before, []string{ReviewNone, ReviewApproved}).
		Order("number DESC").Limit(1).Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to read the last approved version of app %d: %w", appID, err)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	return &vs[0], nil
}

// TenantReviewHistory is every version of the tenant's apps that went through review, newest first.
func (s *Store) TenantReviewHistory(ctx context.Context, tenantID uint, limit int) ([]ReviewItem, error) {
	var vs []Version
	cols := make([]string, len(versionListColumns))
	for i, c := range versionListColumns {
		cols[i] = "versions." + c
	}
	err := s.db.WithContext(ctx).Select(cols).Joins("JOIN apps ON apps.id = versions.app_id").
		Where("apps.tenant_id = ? AND versions.review_state <> ?", tenantID, ReviewNone).
		Order("versions.created_at DESC, versions.id DESC").Limit(limit).Find(&vs).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to read the review history of tenant %d: %w", tenantID, err)
	}
	return s.reviewItems(ctx, vs)
}

// DecideReview approves or rejects a version. from is the state the reviewer saw: when the
// version is no longer in it, nothing changes and the answer is ErrReviewChanged. A rejection
// needs a reason, which the tenant reads on its Versions tab.
func (s *Store) DecideReview(ctx context.Context, versionID uint, from string, approve bool, reason string, actor uint) (*Version, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case !approve && reason == "":
		return nil, fieldErr("reason", "Say why: the tenant reads the reason next to the version.")
	case !utf8.ValidString(reason) || len(reason) > 1000:
		return nil, fieldErr("reason", "Use at most 1,000 characters of text.")
	case from != ReviewPending && from != ReviewApproved && from != ReviewRejected && from != ReviewNone:
		return nil, fieldErr("from", "Unknown review state.")
	}
	to := ReviewRejected
	if approve {
		to = ReviewApproved
	}
	now := time.Now()
	res := s.db.WithContext(ctx).Model(&Version{}).Where("id = ? AND review_state = ?", versionID, from).
		Updates(map[string]any{"review_state": to, "review_reason": reason, "reviewed_by": actor, "reviewed_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("store: unable to record the review of version %d: %w", versionID, res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := s.db.WithContext(ctx).Model(&Version{}).Where("id = ?", versionID).Count(&n).Error; err != nil {
			return nil, fmt.Errorf("store: unable to read version %d: %w", versionID, err)
		}
		if n == 0 {
			return nil, ErrNotFound
		}
		return nil, ErrReviewChanged
	}
	it, err := s.ReviewVersion(ctx, versionID)
	if err != nil {
		return nil, err
	}
	return &it.Version, nil
}
