// Package models holds 402claw's data: gorm models, versioned migrations,
// store queries and the domain rules that do not need HTTP or Cloudflare.
package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the SQL flavour behind a *gorm.DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Sentinel errors returned by the store; handlers map them to messages.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("already exists")
	ErrForbidden = errors.New("forbidden")
)

// ParseDatabaseURL turns CLAW_DATABASE_URL into a dialect and a DSN.
// Empty means a SQLite file in the data directory; sqlite:PATH names the file.
func ParseDatabaseURL(raw, dataDir string) (Dialect, string, error) {
	switch {
	case raw == "":
		return SQLite, filepath.Join(dataDir, "402claw.db"), nil
	case strings.HasPrefix(raw, "sqlite:"):
		p := strings.TrimPrefix(raw, "sqlite:")
		p = strings.TrimPrefix(p, "//")
		if p == "" {
			return "", "", errors.New("sqlite: URL names no file (use sqlite:PATH)")
		}
		return SQLite, p, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return Postgres, raw, nil
	default:
		return "", "", errors.New("must be empty, sqlite:PATH or postgres://…")
	}
}

// Open connects to the database. SQLite uses a pure-Go driver (no cgo), WAL
// mode and a busy timeout so that the syncer and the web handlers can share it.
func Open(d Dialect, dsn string) (*gorm.DB, error) {
	cfg := &gorm.Config{Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }, TranslateError: true}
	switch d {
	case SQLite:
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("models: unable to create database directory: %w", err)
			}
		}
		full := dsn + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := gorm.Open(sqlite.Open(full), cfg)
		if err != nil {
			return nil, fmt.Errorf("models: unable to open sqlite %s: %w", dsn, err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		// One writer at a time is SQLite's rule; a small pool still lets readers run during WAL writes.
		sqlDB.SetMaxOpenConns(4)
		return db, nil
	case Postgres:
		db, err := gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("models: unable to open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		return db, nil
	}
	return nil, fmt.Errorf("models: unknown dialect %q", d)
}

// DialectOf reports which SQL flavour db speaks.
func DialectOf(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}
