package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// CPU stops. Locally workerd enforces no CPU limit and cannot end one request: a request that
// runs JavaScript without end stalls every app on the edge until the runtime's watchdog
// restarts workerd (workers/runtime/watchdog.go), and the watchdog names the app. StopRunaway
// pauses it, so that it cannot stall the edge again.
//
// A first stop ends by itself after CPUStopCooldown, or at once with Resume: a loop may hang on
// one rare input, and the app's other requests deserve service, as on Cloudflare, where only
// the offending request fails. A second stop within CPURepeatWindow waits for a deploy: the
// code loops, and only other code ends that.
const (
	// CPUStopReason starts the status reason of every CPU stop (and is how one is told apart
	// from a pause for the plan's limits).
	CPUStopReason   = "stopped: exceeded the plan's CPU limit"
	CPUStopCooldown = 5 * time.Minute
	CPURepeatWindow = 24 * time.Hour
)

// CPU stop errors.
var (
	ErrCPUStopNeedsDeploy = errors.New("this app ran away twice within 24 hours: deploy a fixed version to resume it")
	ErrNotCPUStop         = errors.New("this app is not stopped for exceeding the CPU limit")
)

// IsCPUStop reports whether the app is paused because it ran away.
func IsCPUStop(a *App) bool {
	return a.Status == AppPaused && strings.HasPrefix(a.StatusReason, CPUStopReason)
}

// StopRunaway pauses the live app whose script ran JavaScript for ran without yielding (0:
// unknown), as the local edge's watchdog saw at now, and enqueues its job. It returns the app
// and whether its status changed: an app already stopped stays as it is (the report comes
// from a workerd that ran before the stop reached the edge), and an app paused for another
// reason keeps that reason, its stop is only recorded (it counts for a repeat).
func (s *Store) StopRunaway(ctx context.Context, script string, ran time.Duration, now time.Time) (*App, bool, error) {
	now = now.UTC()
	var id uint
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := first[App](lockForUpdate(tx).Where("script_name = ? AND sync_state <> ?", script, SyncDeleting),
			fmt.Sprintf("read the app of script %s", script))
		if err != nil {
			return err
		}
		id = cur.ID
		if IsCPUStop(cur) {
			return nil
		}
		var p Plan
		if err := tx.Raw(`SELECT plans.* FROM plans JOIN tenants ON tenants.plan_key = plans.key WHERE tenants.id = ?`, cur.TenantID).Scan(&p).Error; err != nil {
			return fmt.Errorf("store: unable to read plan of tenant %d: %w", cur.TenantID, err)
		}
		repeat := cur.CPUStoppedAt != nil && now.Sub(*cur.CPUStoppedAt) < CPURepeatWindow
		up := map[string]any{"cpu_stopped_at": now}
		if cur.Status == AppActive {
			changed = true
			up["status"] = AppPaused
			up["status_reason"] = cpuStopReason(p, ran, repeat, now)
			if repeat {
				up["cpu_resume_at"] = nil
			} else {
				up["cpu_resume_at"] = now.Add(CPUStopCooldown)
			}
		}
		if err := tx.Model(&App{}).Where("id = ?", cur.ID).Updates(up).Error; err != nil {
			return fmt.Errorf("store: unable to stop app %s: %w", cur.Slug, err)
		}
		if !changed {
			return nil
		}
		_, err = EnqueueApp(tx, cur.ID)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	a, err := s.AppByID(ctx, id)
	return a, changed, err
}

func cpuStopReason(p Plan, ran time.Duration, repeat bool, now time.Time) string {
	limit := ""
	if p.Key != "" {
		limit = fmt.Sprintf("The %s plan allows %d ms of CPU per request; ", p.Name, p.CPUMs)
	}
	what := "a request ran JavaScript without yielding"
	if ran > 0 {
		what = fmt.Sprintf("a request ran JavaScript for %s without yielding", ran.Round(100*time.Millisecond))
	}
	what += " and stalled every app on the edge"
	if repeat {
		return fmt.Sprintf("%s again within 24 hours. %s%s. Deploy a fixed version to resume it.", CPUStopReason, limit, what)
	}
	return fmt.Sprintf("%s. %s%s. It resumes by itself at %s UTC, or use Resume now.", CPUStopReason, limit, what, now.Add(CPUStopCooldown).Format("15:04"))
}

// ResumeCPUStop ends a first CPU stop at once (the tenant's Resume); a repeat is
// ErrCPUStopNeedsDeploy. The app is then checked against its plan like any resumed app.
func (s *Store) ResumeCPUStop(ctx context.Context, app *App) error {
	if err := s.resumeCPUStop(ctx, app.ID, time.Time{}); err != nil {
		return err
	}
	fresh, err := s.AppByID(ctx, app.ID)
	if err != nil {
		return err
	}
	*app = *fresh
	return nil
}

// ResumeCPUStops ends the first CPU stops whose cooldown is over at now and returns the apps
// it resumed.
func (s *Store) ResumeCPUStops(ctx context.Context, now time.Time) ([]App, error) {
	now = now.UTC()
	var ids []uint
	if err := s.db.WithContext(ctx).Model(&App{}).Where("status = ? AND cpu_resume_at IS NOT NULL AND cpu_resume_at <= ? AND sync_state <> ?",
		AppPaused, now, SyncDeleting).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list stopped apps: %w", err)
	}
	var out []App
	for _, id := range ids {
		err := s.resumeCPUStop(ctx, id, now)
		if errors.Is(err, ErrNotCPUStop) || errors.Is(err, ErrCPUStopNeedsDeploy) {
			continue // changed meanwhile
		}
		if err != nil {
			return out, err
		}
		a, err := s.AppByID(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, *a)
	}
	return out, nil
}

// resumeCPUStop resumes a first CPU stop; with a non-zero due, only once its cooldown ended.
func (s *Store) resumeCPUStop(ctx context.Context, id uint, due time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := lockedApp(tx, id)
		if err != nil {
			return err
		}
		if !IsCPUStop(cur) || cur.SyncState == SyncDeleting {
			return ErrNotCPUStop
		}
		if cur.CPUResumeAt == nil || (!due.IsZero() && cur.CPUResumeAt.After(due)) {
			return ErrCPUStopNeedsDeploy
		}
		if err := endCPUStop(tx, cur); err != nil {
			return err
		}
		if _, err := EnqueueApp(tx, cur.ID); err != nil {
			return err
		}
		var p Plan
		if err := tx.Raw(`SELECT plans.* FROM plans JOIN tenants ON tenants.plan_key = plans.key WHERE tenants.id = ?`, cur.TenantID).Scan(&p).Error; err != nil {
			return fmt.Errorf("store: unable to read plan of tenant %d: %w", cur.TenantID, err)
		}
		if p.Key == "" {
			return nil
		}
		_, err = applyPlanCaps(ctx, tx, cur.TenantID, p)
		return err
	})
}

// endCPUStop makes a CPU-stopped app active again. A deploy calls it too: a repeat waits for
// one, and it ends a first stop early. The time of the stop stays: the next stop within
// CPURepeatWindow is a repeat.
func endCPUStop(tx *gorm.DB, cur *App) error {
	if !IsCPUStop(cur) {
		return nil
	}
	if err := tx.Model(&App{}).Where("id = ?", cur.ID).Updates(map[string]any{"status": AppActive, "status_reason": "", "cpu_resume_at": nil}).Error; err != nil {
		return fmt.Errorf("store: unable to resume app %s: %w", cur.Slug, err)
	}
	return nil
}
