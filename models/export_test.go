package models

import (
	"time"

	"gorm.io/gorm"
)

// MigrateTo applies the steps up to and including version, as a database of an older binary
// would be: tests of a step fill it with that version's rows, then run Migrate.
func MigrateTo(db *gorm.DB, version int) error {
	if err := db.Migrator().AutoMigrate(&schemaMigration{}); err != nil {
		return err
	}
	for _, m := range Migrations() {
		if m.Version > version {
			break
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := m.Up(tx); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: time.Now().UTC()}).Error
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// RegisterForTest adds a step for one test; the returned func removes it.
func RegisterForTest(m Migration) func() {
	register(m)
	return func() {
		for i := range migrations {
			if migrations[i].Version == m.Version && migrations[i].Name == m.Name {
				migrations = append(migrations[:i], migrations[i+1:]...)
				return
			}
		}
	}
}
