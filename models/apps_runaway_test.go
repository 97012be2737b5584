package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// The life of an app the local edge's watchdog stops: a first stop ends by itself after the
// cooldown (or with Resume), a second within 24 hours waits for a deploy.
func TestCPUStops(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		acme, other := newTenant(t, s, "Acme"), newTenant(t, s, "Other")
		app, err := s.CreateApp(ctx, acme, "loopy", "Loopy")
		if err != nil {
			t.Fatal(err)
		}
		bystander, err := s.CreateApp(ctx, other, "bystander", "Bystander")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateVersion(ctx, app, 1, newVersion("export default {fetch(){ while(true){} }}")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deploy(ctx, app, 0); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
		stop := func(at time.Duration) (bool, error) {
			_, changed, err := s.StopRunaway(ctx, "app-loopy", 1200*time.Millisecond, t0.Add(at))
			return changed, err
		}
		steps := []struct {
			name       string
			do         func() error
			wantErr    error
			status     string
			reason     []string // substrings of the status reason
			resumeAt   time.Duration
			noResumeAt bool
			synced     bool // a job for the edge was raised
		}{
			{name: "first stop", do: func() error { c, err := stop(0); return expectChanged(c, true, err) },
				status: models.AppPaused, reason: []string{models.CPUStopReason + ". The Free plan allows 50 ms of CPU per request; a request ran JavaScript for 1.2s without yielding", "resumes by itself at 14:05 UTC"},
				resumeAt: 5 * time.Minute, synced: true},
			{name: "reported again by the old workerd", do: func() error { c, err := stop(time.Second); return expectChanged(c, false, err) },
				status: models.AppPaused, reason: []string{"resumes by itself at 14:05 UTC"}, resumeAt: 5 * time.Minute},
			{name: "cooldown not over", do: func() error { return expectResumed(s.ResumeCPUStops(ctx, t0.Add(4*time.Minute))) },
				status: models.AppPaused, resumeAt: 5 * time.Minute},
			{name: "cooldown over", do: func() error {
				apps, err := s.ResumeCPUStops(ctx, t0.Add(5*time.Minute))
				return expectResumed(apps, err, "loopy")
			},
				status: models.AppActive, noResumeAt: true, synced: true},
			{name: "second stop within 24 hours", do: func() error { c, err := stop(time.Hour); return expectChanged(c, true, err) },
				status: models.AppPaused, reason: []string{models.CPUStopReason + " again within 24 hours", "Deploy a fixed version to resume it."},
				noResumeAt: true, synced: true},
			{name: "a repeat does not end by itself", do: func() error { return expectResumed(s.ResumeCPUStops(ctx, t0.Add(30*time.Hour))) },
				status: models.AppPaused, noResumeAt: true},
			{name: "nor with Resume", do: func() error { return s.ResumeCPUStop(ctx, app) }, wantErr: models.ErrCPUStopNeedsDeploy,
				status: models.AppPaused, noResumeAt: true},
			{name: "a deploy resumes it", do: func() error { _, err := s.Deploy(ctx, app, 0); return err },
				status: models.AppActive, noResumeAt: true, synced: true},
			{name: "a stop a day after the last is a first stop", do: func() error { c, err := stop(26 * time.Hour); return expectChanged(c, true, err) },
				status: models.AppPaused, reason: []string{"resumes by itself at 16:05 UTC"}, resumeAt: 26*time.Hour + 5*time.Minute, synced: true},
			{name: "Resume ends a first stop at once", do: func() error { return s.ResumeCPUStop(ctx, app) },
				status: models.AppActive, noResumeAt: true, synced: true},
			{name: "Resume of an app that is not stopped", do: func() error { return s.ResumeCPUStop(ctx, app) }, wantErr: models.ErrNotCPUStop,
				status: models.AppActive, noResumeAt: true},
			{name: "unknown script", do: func() error { _, _, err := s.StopRunaway(ctx, "app-nobody", 0, t0); return err }, wantErr: models.ErrNotFound,
				status: models.AppActive, noResumeAt: true},
		}
		for _, st := range steps {
			before := job(t, db, app).DesiredGen
			err := st.do()
			if st.wantErr != nil {
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("%s: error %v, want %v", st.name, err, st.wantErr)
				}
			} else if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			a, err := s.AppByID(ctx, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != st.status {
				t.Fatalf("%s: status %s (%s), want %s", st.name, a.Status, a.StatusReason, st.status)
			}
			for _, want := range st.reason {
				if !strings.Contains(a.StatusReason, want) {
					t.Errorf("%s: reason %q lacks %q", st.name, a.StatusReason, want)
				}
			}
			if st.status == models.AppActive && a.StatusReason != "" {
				t.Errorf("%s: active with reason %q", st.name, a.StatusReason)
			}
			switch {
			case st.noResumeAt && a.CPUResumeAt != nil:
				t.Errorf("%s: resumes by itself at %v", st.name, a.CPUResumeAt)
			case st.resumeAt != 0 && (a.CPUResumeAt == nil || !a.CPUResumeAt.Equal(t0.Add(st.resumeAt))):
				t.Errorf("%s: resume at %v, want %v", st.name, a.CPUResumeAt, t0.Add(st.resumeAt))
			}
			if synced := job(t, db, app).DesiredGen > before; synced != st.synced {
				t.Errorf("%s: job raised = %v, want %v", st.name, synced, st.synced)
			}
		}
		if b, err := s.AppByID(ctx, bystander.ID); err != nil || b.Status != models.AppActive || b.CPUStoppedAt != nil {
			t.Errorf("another tenant's app: %+v %v", b, err)
		}
	})
}

// An app a downgrade paused keeps that pause and its reason; its stop still counts.
func TestCPUStopOfAnAppPausedForItsPlan(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		acme := newTenant(t, s, "Acme")
		app, err := s.CreateApp(ctx, acme, "capped", "Capped")
		if err != nil {
			t.Fatal(err)
		}
		const reason = "Over the limits of the Free plan (1 apps allowed)."
		if err := db.Gorm.Model(&models.App{}).Where("id = ?", app.ID).Updates(map[string]any{"status": models.AppPaused, "status_reason": reason}).Error; err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		a, changed, err := s.StopRunaway(ctx, "app-capped", time.Second, now)
		if err != nil || changed || a.Status != models.AppPaused || a.StatusReason != reason || a.CPUStoppedAt == nil {
			t.Fatalf("stop of a paused app: %+v changed=%v %v", a, changed, err)
		}
		if err := s.ResumeCPUStop(ctx, a); !errors.Is(err, models.ErrNotCPUStop) {
			t.Errorf("Resume as a CPU stop: %v", err)
		}
	})
}

func expectChanged(got, want bool, err error) error {
	if err == nil && got != want {
		return errors.New("changed = " + map[bool]string{true: "true", false: "false"}[got])
	}
	return err
}

func expectResumed(apps []models.App, err error, want ...string) error {
	if err != nil {
		return err
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.Slug)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return errors.New("resumed " + strings.Join(got, ",") + ", want " + strings.Join(want, ","))
	}
	return nil
}
