package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

func TestValidateAppSlug(t *testing.T) {
	cases := []struct {
		slug string
		ok   bool
	}{
		{"hello", true},
		{"a1-b2", true},
		{"abc", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"ab", false},
		{"", false},
		{"1abc", false},
		{"-abc", false},
		{"abc-", false},
		{"a--b", false},
		{"Hello", false},
		{"héllo", false},
		{"a_b_c", false},
		{"api", false},
		{"www", false},
		{"admin", false},
		{"static", false},
	}
	for _, c := range cases {
		err := models.ValidateAppSlug(c.slug)
		if (err == nil) != c.ok {
			t.Errorf("ValidateAppSlug(%q) = %v, want ok=%v", c.slug, err, c.ok)
		}
		if err != nil {
			if _, ok := models.AsFieldError(err); !ok {
				t.Errorf("ValidateAppSlug(%q) error %T is not a FieldError", c.slug, err)
			}
		}
	}
}

func TestValidateVarName(t *testing.T) {
	for name, ok := range map[string]bool{"API_KEY": true, "_x": true, "a1": true, "KV": false, "1A": false, "A-B": false, "": false, strings.Repeat("A", 64): true, strings.Repeat("A", 65): false} {
		if err := models.ValidateVarName(name); (err == nil) != ok {
			t.Errorf("ValidateVarName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestSecretBox(t *testing.T) {
	dir := t.TempDir()
	key, err := models.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key mode %v, %v; want 0600", fi.Mode(), err)
	}
	again, err := models.LoadOrCreateKey(dir)
	if err != nil || string(again) != string(key) || len(key) != 32 {
		t.Fatalf("second load gave a different key (%v)", err)
	}
	sealed, err := models.SealSecret(key, []byte("s3cret"), []byte("app 1 A"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "s3cret") {
		t.Fatal("ciphertext holds the plaintext")
	}
	if got, err := models.OpenSecret(key, sealed, []byte("app 1 A")); err != nil || string(got) != "s3cret" {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	if _, err := models.OpenSecret(key, sealed, []byte("app 2 A")); err == nil {
		t.Error("a ciphertext moved to another var decrypted")
	}
	other, _ := models.ParseKey(strings.Repeat("ab", 32))
	if _, err := models.OpenSecret(other, sealed, []byte("app 1 A")); err == nil {
		t.Error("wrong key decrypted")
	}
	if _, err := models.ParseKey("short"); err == nil {
		t.Error("ParseKey accepted a short key")
	}
}

func newTenant(t *testing.T, s *models.Store, name string) *models.Tenant {
	t.Helper()
	_, tn, err := s.SignUp(context.Background(), strings.ToLower(strings.ReplaceAll(name, " ", ""))+"@example.com", "h", name, models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func job(t *testing.T, db modeltest.DB, app *models.App) models.SyncJob {
	t.Helper()
	var j models.SyncJob
	if err := db.Gorm.Where("target = ?", app.JobTarget()).First(&j).Error; err != nil {
		t.Fatal(err)
	}
	return j
}

func newVersion(body string) models.NewVersion {
	return models.NewVersion{MainModule: "index.js", Sources: map[string]string{"index.js": body}, Bundle: []byte(body), Message: "m"}
}

func TestAppLifecycle(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		acme, other := newTenant(t, s, "Acme"), newTenant(t, s, "Other")
		app, err := s.CreateApp(ctx, acme, "hello", "Hello")
		if err != nil {
			t.Fatal(err)
		}
		if app.ScriptName != "app-hello" || app.Generation != 1 {
			t.Fatalf("app = %+v", app)
		}
		if j := job(t, db, app); j.DesiredGen != 1 || j.DoneGen != 0 || j.Kind != models.JobApp {
			t.Fatalf("job after create = %+v", j)
		}
		if _, err := s.CreateApp(ctx, other, "hello", "X"); !errors.Is(err, models.ErrSlugTaken) {
			t.Errorf("duplicate slug: %v", err)
		}
		if _, err := s.CreateApp(ctx, acme, "admin", "X"); !errors.Is(err, models.ErrReservedSlug) {
			t.Errorf("reserved slug: %v", err)
		}
		if _, err := s.AppBySlug(ctx, other.ID, "hello"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("another tenant's app: %v", err)
		}

		v1, err := s.CreateVersion(ctx, app, 1, newVersion("export default {}"))
		if err != nil {
			t.Fatal(err)
		}
		v2, err := s.CreateVersion(ctx, app, 1, newVersion("export default {fetch(){}}"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("export default {fetch(){}}"))
		if v1.Number != 1 || v2.Number != 2 || v2.SHA256 != hex.EncodeToString(sum[:]) || v2.Size != 26 {
			t.Fatalf("versions %+v %+v", v1, v2)
		}
		list, err := s.Versions(ctx, app.ID)
		if err != nil || len(list) != 2 || list[0].ID != v2.ID || list[0].Bundle != nil {
			t.Fatalf("Versions = %+v, %v", list, err)
		}
		got, err := s.VersionByID(ctx, app.ID, v1.ID)
		if err != nil || string(got.Bundle) != "export default {}" || got.Sources["index.js"] != "export default {}" {
			t.Fatalf("VersionByID = %+v, %v", got, err)
		}

		d, err := s.Deploy(ctx, app, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d.VersionID != v2.ID || d.Status != models.DeployPending || d.Generation != app.Generation || *app.DesiredVersionID != v2.ID {
			t.Fatalf("deploy newest = %+v, app %+v", d, app)
		}
		if j := job(t, db, app); j.DesiredGen != app.Generation || app.Generation != 2 {
			t.Fatalf("job after deploy = %+v (app gen %d)", j, app.Generation)
		}
		otherApp, err := s.CreateApp(ctx, other, "other-app", "O")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deploy(ctx, otherApp, v1.ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deploying another tenant's version: %v", err)
		}
		if _, err := s.DeploymentByID(ctx, otherApp.ID, d.ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("reading another app's deployment: %v", err)
		}

		key, _ := models.ParseKey(strings.Repeat("11", 32))
		if err := s.SetVar(ctx, app, "TOKEN", "abc", true, key); err != nil {
			t.Fatal(err)
		}
		if err := s.SetVar(ctx, app, "TOKEN", "def", true, key); err != nil {
			t.Fatal(err)
		}
		if err := s.SetVar(ctx, app, "KV", "x", false, key); err == nil {
			t.Error("a var named KV was accepted")
		}
		vars, _ := s.Vars(ctx, app.ID)
		dec, err := models.DecryptVars(key, vars)
		if err != nil || len(dec) != 1 || dec[0].Value != "def" || !dec[0].Secret || strings.Contains(string(vars[0].Ciphertext), "def") {
			t.Fatalf("vars = %+v, %v", dec, err)
		}
		if app.Generation != 4 {
			t.Errorf("two var changes should bump the generation to 4, got %d", app.Generation)
		}
		if err := s.DeleteVar(ctx, app, "NOPE"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deleting a missing var: %v", err)
		}

		if err := s.DeleteApp(ctx, app); err != nil {
			t.Fatal(err)
		}
		if j := job(t, db, app); j.Kind != models.JobAppDelete || j.DesiredGen != 5 {
			t.Fatalf("job after delete = %+v", j)
		}
		if err := s.SetAppKV(ctx, app, true); !errors.Is(err, models.ErrAppBusy) {
			t.Errorf("change while deleting: %v", err)
		}
		if _, err := s.Deploy(ctx, app, 0); !errors.Is(err, models.ErrAppBusy) {
			t.Errorf("deploy while deleting: %v", err)
		}
	})
}

func TestPlanLimits(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Capped")
		// Free allows 3 apps; ten concurrent creates must not overshoot it.
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.CreateApp(ctx, tn, fmt.Sprintf("app-%d", i), "A")
			}()
		}
		wg.Wait()
		created := 0
		for _, err := range errs {
			var ple *models.PlanLimitError
			switch {
			case err == nil:
				created++
			case errors.As(err, &ple):
				if !errors.Is(err, models.ErrPlanLimit) || ple.BetterPlan != "Pro" || !strings.Contains(err.Error(), "Pro") {
					t.Errorf("limit error %q names no better plan", err)
				}
			default:
				t.Errorf("unexpected error %v", err)
			}
		}
		if created != 3 {
			t.Fatalf("created %d apps on the free plan, want 3", created)
		}
		apps, _ := s.Apps(ctx, tn.ID)
		big := make([]byte, 1<<20+1)
		_, err := s.CreateVersion(ctx, &apps[0], 1, models.NewVersion{MainModule: "index.js", Bundle: big})
		if !errors.Is(err, models.ErrPlanLimit) {
			t.Errorf("oversized bundle: %v", err)
		}
		if vs, _ := s.Versions(ctx, apps[0].ID); len(vs) != 0 {
			t.Errorf("an oversized version was stored")
		}
	})
}

func TestVersionReadsWithoutBundle(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Light")
		app, err := s.CreateApp(ctx, tn, "light-app", "Light")
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.CreateVersion(ctx, app, 1, newVersion("export default {}"))
		if err != nil {
			t.Fatal(err)
		}
		src, err := s.VersionSources(ctx, app.ID, v.ID)
		if err != nil || len(src.Bundle) != 0 || src.SHA256 != v.SHA256 || len(src.Sources) == 0 {
			t.Fatalf("VersionSources = %+v, %v", src, err)
		}
		if n, err := s.VersionNumber(ctx, app.ID, v.ID); err != nil || n != 1 {
			t.Fatalf("VersionNumber = %d, %v", n, err)
		}
		if _, err := s.VersionNumber(ctx, app.ID+1, v.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("another app's version: %v", err)
		}
		if _, err := s.VersionSources(ctx, app.ID+1, v.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("another app's sources: %v", err)
		}
	})
}
