package workers

import (
	"testing"

	"github.com/402claw/402claw/models"
)

// TestConfigLimitsFollowThePlan: the document carries a route's limits as set while they fit
// the plan, and at the plan's cap once an admin has lowered the plan below them.
func TestConfigLimitsFollowThePlan(t *testing.T) {
	set := models.RouteLimits{RatePerSecond: 50, RatePerMinute: 600, Burst: 20, DailyQuota: 5000, MonthlyQuota: 90000, ChallengesPerMinute: 300}
	for _, c := range []struct {
		name string
		plan models.Plan
		want ConfigLimits
	}{
		{"within the plan", models.Plan{Name: "Pro"},
			ConfigLimits{PerSecond: 50, PerMinute: 600, Burst: 20, Daily: 5000, Monthly: 90000, ChallengesPerMinute: 300}},
		{"plan lowered below them", models.Plan{Name: "Free", MaxRatePerSecond: 10, MaxRatePerMinute: 100, MaxDailyQuota: 1000, MaxMonthlyQuota: 20000},
			ConfigLimits{PerSecond: 10, PerMinute: 100, Burst: 20, Daily: 1000, Monthly: 20000, ChallengesPerMinute: 100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := models.EdgeState{
				App:     models.App{ID: 1, TenantID: 7, Slug: "shop", ScriptName: "app-shop", Status: models.AppActive},
				Tenant:  models.Tenant{ID: 7, Status: models.TenantActive},
				Plan:    c.plan,
				Version: &models.Version{SHA256: "v1"},
				Routes:  []models.Route{{Method: "GET", Path: "/limited", Access: models.AccessPublic, RouteLimits: set}},
			}
			built, err := BuildConfig(st, 1)
			if err != nil {
				t.Fatal(err)
			}
			got := built.Routes[0].Limits
			if got == nil || *got != c.want {
				t.Fatalf("limits %+v, want %+v", got, c.want)
			}
		})
	}
}
