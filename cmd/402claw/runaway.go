package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers/runtime"
)

// resumeCheckEvery is how often first CPU stops whose cooldown is over are resumed.
const resumeCheckEvery = 30 * time.Second

// reportRunaway is the runtime's OnRunaway: it hands the report to stopRunaways, which may
// start after the edge (a tenant's top level can stall the preload at start).
func (e *edge) reportRunaway(log *slog.Logger) func(runtime.Runaway) {
	return func(rw runtime.Runaway) {
		select {
		case e.runaways <- rw:
		default:
			log.Warn("a runaway report was dropped: too many at once", "script", rw.Script)
		}
	}
}

// stopRunaways stops the apps the local edge's watchdog names (models.StopRunaway) and
// resumes first stops whose cooldown is over, pushing each change to the edge at once, until
// ctx ends. Without a local edge there is nothing to do: Cloudflare enforces CPU limits.
func (e *edge) stopRunaways(ctx context.Context, store *models.Store, syncNow func(context.Context, string) error, log *slog.Logger) {
	if e.runaways == nil {
		return
	}
	push := func(a *models.App) {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := syncNow(sctx, a.JobTarget()); err != nil {
			log.Warn("sync attempt failed; the syncer retries", "app", a.Slug, "err", err)
		}
	}
	tick := time.NewTicker(resumeCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case rw := <-e.runaways:
			if rw.Script == "" {
				continue // the runtime logged the suspects; nobody is to blame
			}
			a, changed, err := store.StopRunaway(ctx, rw.Script, rw.CPU, rw.At)
			if errors.Is(err, models.ErrNotFound) {
				log.Warn("the watchdog named a script no app has", "script", rw.Script)
				continue
			}
			if err != nil {
				log.Error("unable to stop the app that ran away", "script", rw.Script, "err", err)
				continue
			}
			if !changed {
				continue
			}
			log.Warn("app stopped: a request of it stalled the local edge", "app", a.Slug, "tenant_id", a.TenantID, "reason", a.StatusReason)
			_ = store.Audit(ctx, nil, "app_cpu_stopped", "app:"+a.Slug, a.StatusReason, "")
			push(a)
		case now := <-tick.C:
			apps, err := store.ResumeCPUStops(ctx, now)
			if err != nil {
				log.Error("unable to resume apps whose CPU stop ended", "err", err)
			}
			for i := range apps {
				log.Info("app resumed: its CPU stop ended", "app", apps[i].Slug)
				push(&apps[i])
			}
		}
	}
}
