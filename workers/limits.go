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
// A limit set above the plan's cap (the admin lowered the plan after the tenant set it; saving
// the plan re-syncs its tenants' apps) is sent at the cap: the edge never enforces more than the
// plan allows, whatever the route row still says.
func configLimits(r models.Route, caps models.LimitCaps) *ConfigLimits {
	l := r.RouteLimits
	if !l.Any() {
		return nil
	}
	clamp := func(v *int, max int) {
		if max > 0 && *v > max {
			*v = max
		}
	}
	clamp(&l.RatePerSecond, caps.RatePerSecond)
	clamp(&l.RatePerMinute, caps.RatePerMinute)
	clamp(&l.Burst, caps.Burst)
	clamp(&l.DailyQuota, caps.DailyQuota)
	clamp(&l.MonthlyQuota, caps.MonthlyQuota)
	clamp(&l.ChallengesPerMinute, caps.RatePerMinute)
	return &ConfigLimits{PerSecond: l.RatePerSecond, PerMinute: l.RatePerMinute, Burst: l.Burst, Daily: l.DailyQuota,
		Monthly: l.MonthlyQuota, DailySpend: l.DailySpendCap, ChallengesPerMinute: l.ChallengesPerMinute}
}
