package workers

import "github.com/402claw/402claw/models"

// ConfigLimits are a route's per-caller limits as the dispatcher reads them (zero: off). The
// caller is the payer on x402 routes, the API key on api_key routes, the client IP otherwise.
type ConfigLimits struct {
	PerSecond           int    `json:"perSecond,omitempty"`
	PerMinute           int    `json:"perMinute,omitempty"`
	Burst               int    `json:"burst,omitempty"`
	Daily               int    `json:"daily,omitempty"`
	Monthly             int    `json:"monthly,omitempty"`
	DailySpend          string `json:"dailySpend,omitempty"`
	ChallengesPerMinute int    `json:"challengesPerMinute,omitempty"`
}

// configLimits is nil for a route without limits: the dispatcher then skips the check entirely.
func configLimits(r models.Route) *ConfigLimits {
	l := r.RouteLimits
	if !l.Any() {
		return nil
	}
	return &ConfigLimits{PerSecond: l.RatePerSecond, PerMinute: l.RatePerMinute, Burst: l.Burst, Daily: l.DailyQuota,
		Monthly: l.MonthlyQuota, DailySpend: l.DailySpendCap, ChallengesPerMinute: l.ChallengesPerMinute}
}
