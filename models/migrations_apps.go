package models

import (
	"time"

	"gorm.io/gorm"
)

// Version 10: apps, versions, deployments, vars, routes, egress rules, consumer keys and the
// sync outbox. Frozen copies of the structs, as in migrations_foundation.go.
func init() {
	register(Migration{Version: 10, Name: "apps", Up: func(tx *gorm.DB) error {
		type app struct {
			ID                uint   `gorm:"primaryKey"`
			TenantID          uint   `gorm:"index;not null"`
			Slug              string `gorm:"uniqueIndex;size:32;not null"`
			Name              string `gorm:"size:100;not null"`
			ScriptName        string `gorm:"size:64;not null"`
			Status            string `gorm:"size:16;not null;default:active"`
			StatusReason      string `gorm:"size:500;not null;default:''"`
			KVEnabled         bool   `gorm:"not null;default:false"`
			KVNamespaceID     string `gorm:"size:64;not null;default:''"`
			DesiredVersionID  *uint
			DeployedVersionID *uint
			Generation        int64  `gorm:"not null;default:0"`
			SyncedGeneration  int64  `gorm:"not null;default:0"`
			SyncState         string `gorm:"size:16;not null;default:pending"`
			SyncError         string `gorm:"size:2000;not null;default:''"`
			ScriptFingerprint string `gorm:"size:64;not null;default:''"`
			CreatedAt         time.Time
			UpdatedAt         time.Time
		}
		type version struct {
			ID           uint   `gorm:"primaryKey"`
			AppID        uint   `gorm:"uniqueIndex:idx_versions_app_number;not null"`
			Number       int    `gorm:"uniqueIndex:idx_versions_app_number;not null"`
			MainModule   string `gorm:"size:200;not null"`
			Sources      string `gorm:"type:text;not null"`
			Bundle       []byte `gorm:"not null"`
			BundleName   string `gorm:"size:200;not null"`
			SHA256       string `gorm:"column:sha256;size:64;not null"`
			Size         int64  `gorm:"not null"`
			AuthorUserID uint   `gorm:"not null"`
			Message      string `gorm:"size:500;not null;default:''"`
			CreatedAt    time.Time
		}
		type deployment struct {
			ID         uint   `gorm:"primaryKey"`
			AppID      uint   `gorm:"index;not null"`
			VersionID  uint   `gorm:"not null"`
			Generation int64  `gorm:"not null"`
			Status     string `gorm:"size:16;not null;default:pending"`
			Error      string `gorm:"size:2000;not null;default:''"`
			CreatedAt  time.Time
			FinishedAt *time.Time
		}
		type varRow struct {
			ID         uint   `gorm:"primaryKey"`
			AppID      uint   `gorm:"uniqueIndex:idx_vars_app_name;not null"`
			Name       string `gorm:"uniqueIndex:idx_vars_app_name;size:64;not null"`
			Ciphertext []byte `gorm:"not null"`
			Secret     bool   `gorm:"not null;default:false"`
			UpdatedAt  time.Time
		}
		type route struct {
			ID          uint   `gorm:"primaryKey"`
			AppID       uint   `gorm:"index;not null"`
			Position    int    `gorm:"not null"`
			Method      string `gorm:"size:8;not null"`
			Path        string `gorm:"size:500;not null"`
			Access      string `gorm:"size:16;not null"`
			Price       string `gorm:"size:64;not null;default:''"`
			Amount      string `gorm:"size:80;not null;default:''"`
			Network     string `gorm:"size:64;not null;default:''"`
			PayTo       string `gorm:"size:64;not null;default:''"`
			Settle      string `gorm:"size:8;not null;default:after"`
			Description string `gorm:"size:500;not null;default:''"`
			MimeType    string `gorm:"size:100;not null;default:''"`
		}
		type egressRule struct {
			ID       uint   `gorm:"primaryKey"`
			AppID    uint   `gorm:"index;not null"`
			Position int    `gorm:"not null"`
			Pattern  string `gorm:"size:255;not null"`
		}
		type consumerKey struct {
			ID        uint   `gorm:"primaryKey"`
			AppID     uint   `gorm:"index;not null"`
			Name      string `gorm:"size:100;not null"`
			Prefix    string `gorm:"size:16;not null"`
			Hash      string `gorm:"uniqueIndex;size:64;not null"`
			CreatedAt time.Time
			RevokedAt *time.Time
		}
		type syncJob struct {
			ID          uint      `gorm:"primaryKey"`
			Kind        string    `gorm:"size:32;not null"`
			Target      string    `gorm:"uniqueIndex;size:100;not null"`
			AppID       *uint     `gorm:"index"`
			DesiredGen  int64     `gorm:"not null;default:0"`
			DoneGen     int64     `gorm:"not null;default:0"`
			Attempts    int       `gorm:"not null;default:0"`
			NextAt      time.Time `gorm:"index;not null"`
			LockedBy    string    `gorm:"size:100;not null;default:''"`
			LockedUntil *time.Time
			LastError   string `gorm:"size:2000;not null;default:''"`
			Permanent   bool   `gorm:"not null;default:false"`
			UpdatedAt   time.Time
		}
		for _, t := range []struct {
			name string
			v    any
		}{{"apps", &app{}}, {"versions", &version{}}, {"deployments", &deployment{}}, {"vars", &varRow{}},
			{"routes", &route{}}, {"egress_rules", &egressRule{}}, {"consumer_keys", &consumerKey{}}, {"sync_jobs", &syncJob{}}} {
			if err := tx.Table(t.name).Migrator().CreateTable(t.v); err != nil {
				return err
			}
		}
		return nil
	}})
}
