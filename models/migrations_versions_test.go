package models_test

import (
	"context"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestVersionsMainModuleMigration: versions stored with the bundler's output name as their main
// module get their own entry back, so the Code tab never opens empty.
func TestVersionsMainModuleMigration(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		u, tn, err := s.SignUp(ctx, "v@example.com", "h", "Versions", models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		app, err := s.CreateApp(ctx, tn, "versioned", "V")
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			sources map[string]string
			stored  string
			want    string
		}{
			{map[string]string{"index.js": "export default {}"}, "worker.js", "index.js"},
			{map[string]string{"my-api.ts": "export default {}"}, "worker.js", "my-api.ts"},
			{map[string]string{"lib/util.ts": "x", "index.ts": "y", "a.ts": "z"}, "worker.js", "index.ts"},
			{map[string]string{"b.js": "x", "a.js": "y"}, "worker.js", "a.js"},
			{map[string]string{"worker.js": "mine"}, "worker.js", "worker.js"},
			{map[string]string{"main.js": "x", "index.js": "y"}, "main.js", "main.js"},
		}
		var ids []uint
		for i, c := range cases {
			v, err := s.CreateVersion(ctx, app, u.ID, models.NewVersion{MainModule: c.stored, Sources: c.sources, Bundle: []byte{byte('a' + i)}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, v.ID)
		}
		for _, m := range models.Migrations() {
			if m.Name == "versions_main_module" {
				if err := m.Up(db.Gorm); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, c := range cases {
			v, err := s.VersionSources(ctx, app.ID, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			if v.MainModule != c.want || v.Sources[v.MainModule] == "" {
				t.Errorf("version with %v stored as %s: main module %q, want %q", c.sources, c.stored, v.MainModule, c.want)
			}
		}
	})
}
