package models_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"gorm.io/gorm"
)

func TestMigrationsAreOrderedAndUnique(t *testing.T) {
	seen := map[int]bool{}
	prev := 0
	for _, m := range models.Migrations() {
		if seen[m.Version] {
			t.Fatalf("migration version %d registered twice", m.Version)
		}
		if m.Version <= prev {
			t.Fatalf("migration %d out of order", m.Version)
		}
		seen[m.Version], prev = true, m.Version
	}
}

func TestMigrateIsIdempotentAndCheckSchema(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		if err := models.CheckSchema(db.Gorm); err != nil {
			t.Fatalf("fresh migrated db: %v", err)
		}
		applied, err := models.Migrate(db.Gorm)
		if err != nil || len(applied) != 0 {
			t.Fatalf("second migrate applied %v, err %v", applied, err)
		}
		// Pretend the schema is one step behind: serve must refuse it.
		if err := db.Gorm.Exec("DELETE FROM schema_migrations WHERE version = ?", models.LatestVersion()).Error; err != nil {
			t.Fatal(err)
		}
		if err := models.CheckSchema(db.Gorm); !errors.Is(err, models.ErrSchemaOutdated) {
			t.Fatalf("CheckSchema on outdated db = %v", err)
		}
		plans, err := models.NewStore(db.Gorm).Plans(context.Background())
		if err != nil || len(plans) < 2 || plans[0].Key != "free" || plans[0].CPUMs != 50 || plans[0].SubRequests != 10 || plans[1].CPUMs != 200 || plans[1].SubRequests != 50 {
			t.Fatalf("seeded plans = %+v, %v", plans, err)
		}
	})
}

func TestSignUpAndSessions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		u, tn, err := s.SignUp(ctx, "a@example.com", "h", "Acme Corp", models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		if tn.Slug != "acme-corp" || *u.TenantID != tn.ID {
			t.Fatalf("slug %q tenant %v", tn.Slug, u.TenantID)
		}
		_, tn2, err := s.SignUp(ctx, "b@example.com", "h", "ACME corp!", models.RoleTenant)
		if err != nil || tn2.Slug != "acme-corp-2" {
			t.Fatalf("second tenant slug %v, %v", tn2, err)
		}
		if _, _, err := s.SignUp(ctx, "a@example.com", "h", "Other", models.RoleTenant); !errors.Is(err, models.ErrEmailTaken) {
			t.Fatalf("duplicate email: %v", err)
		}
		var n int64
		db.Gorm.Model(&models.Tenant{}).Count(&n)
		if n != 2 {
			t.Fatalf("a rejected sign-up left a tenant behind: %d tenants", n)
		}

		p := models.SessionPolicy{Idle: time.Hour, Absolute: 24 * time.Hour}
		tok, err := s.CreateSession(ctx, u.ID, "127.0.0.1", "test", p)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, err := s.SessionUser(ctx, tok, p); err != nil || got.ID != u.ID || got.Tenant == nil {
			t.Fatalf("SessionUser = %v, %v", got, err)
		}
		if _, _, err := s.SessionUser(ctx, tok+"x", p); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("forged session accepted: %v", err)
		}
		// Expire it by moving last_seen back past the idle limit.
		db.Gorm.Model(&models.Session{}).Where("id = ?", models.HashSecret(tok)).Update("last_seen_at", time.Now().Add(-2*time.Hour))
		if _, _, err := s.SessionUser(ctx, tok, p); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("idle session accepted: %v", err)
		}
	})
}

func TestSignUpRaceOneEmailOneWinner(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		s := models.NewStore(db.Gorm)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = s.SignUp(context.Background(), "race@example.com", "h", "Race", models.RoleTenant)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, models.ErrEmailTaken) {
				t.Errorf("unexpected error: %v", err)
			}
		}
		var tenants int64
		db.Gorm.Model(&models.Tenant{}).Count(&tenants)
		if ok != 1 || tenants != 1 {
			t.Fatalf("%d sign-ups succeeded, %d tenants exist; want 1 and 1", ok, tenants)
		}
	})
}

func TestAPITokens(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		u, _, _ := s.SignUp(ctx, "t@example.com", "h", "Tok", models.RoleTenant)
		v, _, _ := s.SignUp(ctx, "v@example.com", "h", "Vok", models.RoleTenant)
		tok, secret, err := s.CreateAPIToken(ctx, u.ID, "ci", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByAPIToken(ctx, secret); err != nil || got.ID != u.ID {
			t.Fatalf("UserByAPIToken = %v, %v", got, err)
		}
		if err := s.RevokeAPIToken(ctx, v.ID, tok.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("another user revoked the token: %v", err)
		}
		if err := s.RevokeAPIToken(ctx, u.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByAPIToken(ctx, secret); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("revoked token accepted: %v", err)
		}
	})
}

func TestPasswordHash(t *testing.T) {
	h, err := models.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hash, pw string
		want     bool
	}{
		{h, "correct horse battery", true},
		{h, "correct horse batterY", false},
		{h, "", false},
		{"", "x", false},
		{"$argon2id$v=19$m=0,t=0,p=0$$", "x", false},
		{"$bcrypt$junk", "x", false},
	} {
		if got := models.CheckPassword(c.hash, c.pw); got != c.want {
			t.Errorf("CheckPassword(%q, %q) = %v", c.hash, c.pw, got)
		}
	}
}

// Steps are written in parallel, so one may land with a version below a
// step that a running database already has. It must still be applied, and
// serve must refuse the database until it is.
func TestMigrateAppliesAStepBelowTheNewest(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		if models.LatestVersion() < 3 {
			t.Skip("needs a newest step above 2")
		}
		remove := models.RegisterForTest(models.Migration{Version: 2, Name: "late_step", Up: func(tx *gorm.DB) error {
			return tx.Exec("CREATE TABLE late_step_probe (id INTEGER PRIMARY KEY)").Error
		}})
		defer remove()
		if err := models.CheckSchema(db.Gorm); !errors.Is(err, models.ErrSchemaOutdated) || !strings.Contains(err.Error(), "[2]") {
			t.Fatalf("CheckSchema without step 2 = %v, want outdated naming [2]", err)
		}
		applied, err := models.Migrate(db.Gorm)
		if err != nil || len(applied) != 1 || applied[0] != 2 {
			t.Fatalf("Migrate applied %v, err %v; want [2]", applied, err)
		}
		if !db.Gorm.Migrator().HasTable("late_step_probe") {
			t.Fatal("step 2 did not run")
		}
		if err := models.CheckSchema(db.Gorm); err != nil {
			t.Fatalf("CheckSchema after Migrate = %v", err)
		}
		// A step this binary does not know means a newer binary migrated it.
		if err := db.Gorm.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, 'future', ?)", time.Now()).Error; err != nil {
			t.Fatal(err)
		}
		if err := models.CheckSchema(db.Gorm); err == nil || errors.Is(err, models.ErrSchemaOutdated) || !strings.Contains(err.Error(), "upgrade 402claw") {
			t.Fatalf("CheckSchema with an unknown step = %v", err)
		}
	})
}
