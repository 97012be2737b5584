package models_test

import (
	"context"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// The read cache must never hide a write made in this process, whatever
// path the write takes (store method, plain gorm, raw SQL).
func TestReadCacheSeesEveryWrite(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		writes := []struct {
			name  string
			write func(cpu int) error
		}{
			{"gorm update", func(cpu int) error {
				return db.Gorm.Model(&models.Plan{}).Where("key = ?", "free").Update("cpu_ms", cpu).Error
			}},
			{"raw exec", func(cpu int) error { return db.Gorm.Exec("UPDATE plans SET cpu_ms = ? WHERE key = 'free'", cpu).Error }},
			{"save", func(cpu int) error {
				var p models.Plan
				db.Gorm.First(&p, "key = ?", "free")
				p.CPUMs = cpu
				return db.Gorm.Save(&p).Error
			}},
		}
		for i, w := range writes {
			if _, err := s.PlanByKey(ctx, "free"); err != nil { // warm the cache
				t.Fatal(err)
			}
			want := 100 + i
			if err := w.write(want); err != nil {
				t.Fatal(err)
			}
			p, _ := s.PlanByKey(ctx, "free")
			if p.CPUMs != want {
				t.Fatalf("%s: cached plan shows cpu %d, want %d", w.name, p.CPUMs, want)
			}
		}
		// Logging out is visible at once.
		u, _, _ := s.SignUp(ctx, "c@example.com", "h", "C", models.RoleTenant)
		pol := models.SessionPolicy{Idle: 3600e9, Absolute: 3600e9}
		tok, _ := s.CreateSession(ctx, u.ID, "", "", pol)
		if _, _, err := s.SessionUser(ctx, tok, pol); err != nil {
			t.Fatal(err)
		}
		s.DeleteSession(ctx, models.HashSecret(tok))
		if _, _, err := s.SessionUser(ctx, tok, pol); err == nil {
			t.Fatal("a deleted session is still served from the cache")
		}
	})
}
