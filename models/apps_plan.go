package models

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// pausedByPlan prefixes the status reason of apps a downgrade paused, so an
// upgrade can resume exactly those and never an app paused for another reason.
const pausedByPlan = "Over the limits of the "

// applyPlanCaps pauses (never deletes) the apps of a tenant that exceed
// plan — beyond its app count (newest first), with a deployed script larger
// than it allows, or with more routes — and resumes apps a previous
// downgrade paused that fit again. It runs inside the plan change's
// transaction and enqueues every app whose status changed.
func applyPlanCaps(ctx context.Context, tx *gorm.DB, tenantID uint, plan Plan) (paused []string, err error) {
	var apps []App
	if err := tx.WithContext(ctx).Where("tenant_id = ? AND sync_state <> ?", tenantID, SyncDeleting).Order("id").Find(&apps).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list apps of tenant %d: %w", tenantID, err)
	}
	for i, a := range apps {
		var why []string
		if i >= plan.MaxApps {
			why = append(why, fmt.Sprintf("%d apps allowed", plan.MaxApps))
		}
		if a.DesiredVersionID != nil {
			var size int64
			tx.WithContext(ctx).Raw(`SELECT size FROM versions WHERE id = ?`, *a.DesiredVersionID).Scan(&size)
			if size > plan.MaxScriptBytes {
				why = append(why, fmt.Sprintf("scripts up to %d bytes", plan.MaxScriptBytes))
			}
		}
		var routes int64
		tx.WithContext(ctx).Model(&Route{}).Where("app_id = ?", a.ID).Count(&routes)
		if routes > int64(plan.MaxRoutes) {
			why = append(why, fmt.Sprintf("%d routes per app", plan.MaxRoutes))
		}
		status, reason := a.Status, a.StatusReason
		switch {
		case len(why) > 0 && a.Status == AppActive:
			status = AppPaused
			reason = fmt.Sprintf("%s%s plan (%s). Delete apps, shrink the script or remove routes, or upgrade, to resume it.", pausedByPlan, plan.Name, strings.Join(why, ", "))
			paused = append(paused, a.Slug)
		case len(why) == 0 && a.Status == AppPaused && strings.HasPrefix(a.StatusReason, pausedByPlan):
			status, reason = AppActive, ""
		default:
			continue
		}
		if err := tx.WithContext(ctx).Model(&App{}).Where("id = ?", a.ID).Updates(map[string]any{"status": status, "status_reason": reason}).Error; err != nil {
			return nil, fmt.Errorf("store: unable to set status of app %s: %w", a.Slug, err)
		}
		if _, err := EnqueueApp(tx.WithContext(ctx), a.ID); err != nil {
			return nil, err
		}
	}
	return paused, nil
}

// TenantUsage is what a tenant uses against its plan: apps, the most routes
// on one app, and the largest script it runs or wants to run.
func (s *Store) TenantUsage(ctx context.Context, tenantID uint) (apps, routes int, scriptBytes int64, err error) {
	var as []App
	if err = s.db.WithContext(ctx).Where("tenant_id = ? AND sync_state <> ?", tenantID, SyncDeleting).Find(&as).Error; err != nil {
		return 0, 0, 0, fmt.Errorf("store: unable to read usage of tenant %d: %w", tenantID, err)
	}
	for _, a := range as {
		var n int64
		s.db.WithContext(ctx).Model(&Route{}).Where("app_id = ?", a.ID).Count(&n)
		routes = max(routes, int(n))
		if a.DesiredVersionID != nil {
			var size int64
			s.db.WithContext(ctx).Raw(`SELECT size FROM versions WHERE id = ?`, *a.DesiredVersionID).Scan(&size)
			scriptBytes = max(scriptBytes, size)
		}
	}
	return len(as), routes, scriptBytes, nil
}

// ResumeApps re-checks a tenant's apps against its plan and resumes the ones
// a downgrade paused that fit again (after the tenant deleted apps, routes or
// shrank a script). It returns the apps still paused.
func (s *Store) ResumeApps(ctx context.Context, tenantID uint) (stillPaused []string, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var t Tenant
		if err := lockForUpdate(tx).First(&t, tenantID).Error; err != nil {
			return fmt.Errorf("store: unable to read tenant %d: %w", tenantID, err)
		}
		var p Plan
		if err := tx.Where("key = ?", t.PlanKey).First(&p).Error; err != nil {
			return fmt.Errorf("store: unable to read plan %s: %w", t.PlanKey, err)
		}
		if _, err := applyPlanCaps(ctx, tx, tenantID, p); err != nil {
			return err
		}
		return tx.Model(&App{}).Where("tenant_id = ? AND status = ? AND sync_state <> ?", tenantID, AppPaused, SyncDeleting).Order("id").Pluck("slug", &stillPaused).Error
	})
	return stillPaused, err
}
