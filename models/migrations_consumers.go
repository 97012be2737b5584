package models

import "gorm.io/gorm"

// Version 85: what consumers and agents see of an app (a description, tags and an icon for the
// docs page and the bazaar metadata, and whether it is listed in the public catalog), and per
// route the discovery examples and JSON Schema plus the per-caller limits the edge enforces.
func init() {
	register(Migration{Version: 85, Name: "consumer_discovery_and_limits", Up: func(tx *gorm.DB) error {
		type app struct {
			Description string `gorm:"size:1000;not null;default:''"`
			Tags        string `gorm:"size:200;not null;default:''"`
			IconURL     string `gorm:"size:2048;not null;default:''"`
			Listed      bool   `gorm:"not null;default:false"`
		}
		m := tx.Table("apps").Migrator()
		for _, f := range []string{"Description", "Tags", "IconURL", "Listed"} {
			if err := m.AddColumn(&app{}, f); err != nil {
				return err
			}
		}
		type route struct {
			BodyType            string `gorm:"size:16;not null;default:''"`
			InputExample        string `gorm:"type:text;not null;default:''"`
			InputSchema         string `gorm:"type:text;not null;default:''"`
			OutputExample       string `gorm:"type:text;not null;default:''"`
			RatePerSecond       int    `gorm:"not null;default:0"`
			RatePerMinute       int    `gorm:"not null;default:0"`
			Burst               int    `gorm:"not null;default:0"`
			DailyQuota          int    `gorm:"not null;default:0"`
			MonthlyQuota        int    `gorm:"not null;default:0"`
			DailySpendCap       string `gorm:"size:80;not null;default:''"`
			ChallengesPerMinute int    `gorm:"not null;default:0"`
		}
		m = tx.Table("routes").Migrator()
		for _, f := range []string{"BodyType", "InputExample", "InputSchema", "OutputExample", "RatePerSecond",
			"RatePerMinute", "Burst", "DailyQuota", "MonthlyQuota", "DailySpendCap", "ChallengesPerMinute"} {
			if err := m.AddColumn(&route{}, f); err != nil {
				return err
			}
		}
		return nil
	}})
}
