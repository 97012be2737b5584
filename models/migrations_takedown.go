package models

import "gorm.io/gorm"

// Version 71: takedown. An admin can suspend an app (the edge answers 403 with the reason) or
// take it down (its script and config document are deleted at the edge, which then answers
// 404), independently of the owner's own pause; restoring clears both.
func init() {
	register(Migration{Version: 71, Name: "takedown", Up: func(tx *gorm.DB) error {
		type app struct {
			ModerationState  string `gorm:"size:16;not null;default:''"`
			ModerationReason string `gorm:"size:500;not null;default:''"`
		}
		m := tx.Table("apps").Migrator()
		for _, f := range []string{"ModerationState", "ModerationReason"} {
			if err := m.AddColumn(&app{}, f); err != nil {
				return err
			}
		}
		return nil
	}})
}
