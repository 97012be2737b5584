package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Migration is one step of the schema. Steps are frozen once released: a new
// change is a new step, never an edit of an old one. Versions order the steps
// but are not a high-water mark: steps written in parallel may land with a
// version below one a database already has, so Migrate applies every step
// that schema_migrations does not list, and CheckSchema refuses a database
// that lacks any of them.
type Migration struct {
	Version int
	Name    string
	Up      func(tx *gorm.DB) error
}

var migrations []Migration

// register adds a step; files named migrations_*.go call it from init.
func register(m Migration) { migrations = append(migrations, m) }

// Migrations returns the steps in order.
func Migrations() []Migration {
	out := append([]Migration(nil), migrations...)
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// LatestVersion is the schema version this binary expects.
func LatestVersion() int {
	ms := Migrations()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

type schemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// SchemaVersion reads the highest applied version (0 on an empty database).
func SchemaVersion(db *gorm.DB) (int, error) {
	if !db.Migrator().HasTable(&schemaMigration{}) {
		return 0, nil
	}
	var v *int
	if err := db.Model(&schemaMigration{}).Select("MAX(version)").Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("models: unable to read schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// ErrSchemaOutdated is returned by CheckSchema when migrations are pending.
var ErrSchemaOutdated = errors.New("database schema is outdated")

// CheckSchema refuses a database that lacks a step of this binary or holds a
// step this binary does not know (a newer binary migrated it).
func CheckSchema(db *gorm.DB) error {
	done, err := appliedVersions(db)
	if err != nil {
		return err
	}
	known := map[int]bool{}
	var missing []int
	for _, m := range Migrations() {
		known[m.Version] = true
		if !done[m.Version] {
			missing = append(missing, m.Version)
		}
	}
	var unknown []int
	for v := range done {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	sort.Ints(unknown)
	switch {
	case len(unknown) > 0:
		return fmt.Errorf("database schema has steps %v that this binary does not know (it needs up to %d): upgrade 402claw", unknown, LatestVersion())
	case len(missing) > 0:
		return fmt.Errorf("%w: steps %v are not applied; run `402claw migrate`", ErrSchemaOutdated, missing)
	}
	return nil
}

// appliedVersions lists the steps schema_migrations records.
func appliedVersions(db *gorm.DB) (map[int]bool, error) {
	done := map[int]bool{}
	if !db.Migrator().HasTable(&schemaMigration{}) {
		return done, nil
	}
	var vs []int
	if err := db.Model(&schemaMigration{}).Pluck("version", &vs).Error; err != nil {
		return nil, fmt.Errorf("models: unable to read applied migrations: %w", err)
	}
	for _, v := range vs {
		done[v] = true
	}
	return done, nil
}

// Migrate applies every pending step, each in its own transaction, and
// returns the versions it applied. On PostgreSQL an advisory lock keeps two
// starting replicas from migrating at once.
func Migrate(db *gorm.DB) ([]int, error) {
	if err := db.Migrator().AutoMigrate(&schemaMigration{}); err != nil {
		return nil, fmt.Errorf("models: unable to create schema_migrations: %w", err)
	}
	if DialectOf(db) == Postgres {
		conn, err := db.DB()
		if err != nil {
			return nil, err
		}
		// A session-level lock needs one connection for lock and unlock.
		c, err := conn.Conn(bgctx())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		if _, err := c.ExecContext(bgctx(), "SELECT pg_advisory_lock(402402)"); err != nil {
			return nil, fmt.Errorf("models: unable to take the migration lock: %w", err)
		}
		defer c.ExecContext(bgctx(), "SELECT pg_advisory_unlock(402402)")
	}
	done, err := appliedVersions(db)
	if err != nil {
		return nil, err
	}
	var applied []int
	for _, m := range Migrations() {
		if done[m.Version] {
			continue
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := m.Up(tx); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: time.Now().UTC()}).Error
		})
		if err != nil {
			return applied, fmt.Errorf("models: migration %d (%s) failed: %w", m.Version, m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

func bgctx() context.Context { return context.Background() }
