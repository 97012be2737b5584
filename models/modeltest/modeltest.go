// Package modeltest opens throwaway, migrated databases for tests: a SQLite
// file in t.TempDir() and, when CLAW_TEST_POSTGRES_URL is set, a fresh
// PostgreSQL schema that is dropped afterwards.
package modeltest

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"gorm.io/gorm"
)

// DB is one database under test.
type DB struct {
	Name string
	Gorm *gorm.DB
	URL  string // what CLAW_DATABASE_URL would be for a second process
}

// SQLite returns a migrated SQLite database in a temp dir.
func SQLite(t testing.TB) DB {
	t.Helper()
	path := t.TempDir() + "/test.db"
	db, err := models.Open(models.SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	if _, err := models.Migrate(db); err != nil {
		t.Fatal(err)
	}
	return DB{Name: "sqlite", Gorm: db, URL: "sqlite:" + path}
}

var warnOnce sync.Once

// PostgresURL returns CLAW_TEST_POSTGRES_URL, or "" after saying loudly that
// PostgreSQL is skipped.
func PostgresURL(t testing.TB) string {
	u := os.Getenv("CLAW_TEST_POSTGRES_URL")
	if u == "" {
		warnOnce.Do(func() {
			fmt.Fprintln(os.Stderr, "\n*** CLAW_TEST_POSTGRES_URL is not set: PostgreSQL store tests are SKIPPED (only SQLite ran) ***")
		})
	}
	return u
}

// Postgres returns a migrated database in a fresh schema, or skips.
func Postgres(t testing.TB) DB {
	t.Helper()
	base := PostgresURL(t)
	if base == "" {
		t.Skip("PostgreSQL skipped: CLAW_TEST_POSTGRES_URL is not set")
	}
	schema := fmt.Sprintf("t_%d_%s", time.Now().UnixNano(), strings.ToLower(models.NewSecret(4)))
	schema = strings.NewReplacer("-", "_").Replace(schema)
	admin, err := models.Open(models.Postgres, base)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := models.Open(models.Postgres, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
		admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`)
		if s, err := admin.DB(); err == nil {
			s.Close()
		}
	})
	if _, err := models.Migrate(db); err != nil {
		t.Fatal(err)
	}
	return DB{Name: "postgres", Gorm: db, URL: u.String()}
}

// Each runs f once per available database as subtests.
func Each(t *testing.T, f func(t *testing.T, db DB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}
