package models

import "gorm.io/gorm"

// Version 83: per-plan caps on the per-caller limits a tenant may set on its routes (the largest
// rates and quotas, and whether quotas and spend caps are offered at all). Zero and false keep
// every existing plan as it was: the platform's bounds, everything offered.
func init() {
	register(Migration{Version: 83, Name: "plan_limit_caps", Up: func(tx *gorm.DB) error {
		type plan struct {
			MaxRatePerSecond int  `gorm:"not null;default:0"`
			MaxRatePerMinute int  `gorm:"not null;default:0"`
			MaxDailyQuota    int  `gorm:"not null;default:0"`
			MaxMonthlyQuota  int  `gorm:"not null;default:0"`
			QuotasOff        bool `gorm:"not null;default:false"`
			SpendCapsOff     bool `gorm:"not null;default:false"`
		}
		m := tx.Table("plans").Migrator()
		for _, f := range []string{"MaxRatePerSecond", "MaxRatePerMinute", "MaxDailyQuota", "MaxMonthlyQuota", "QuotasOff", "SpendCapsOff"} {
			if err := m.AddColumn(&plan{}, f); err != nil {
				return err
			}
		}
		return nil
	}})
}
