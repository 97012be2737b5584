package views

import (
	"sort"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/scan"
)

// adminLinks are the admin area's sections: the Page.Nav key, label, URL. The plans page
// exists only when billing is configured (Page.PlansPage).
var adminLinks = [][3]string{
	{"admin", "Overview", "/admin/"},
	{"admin-tenants", "Tenants", "/admin/tenants"},
	{"admin-review", "Review queue", "/admin/review"},
	{"admin-reports", "Reports", "/admin/reports"},
	{"admin-rules", "Rules", "/admin/rules"},
	{"admin-audit", "Audit", "/admin/audit"},
	{"admin-sync", "Sync", "/admin/sync"},
	{"admin-plans", "Plans", "/admin/plans"},
	{"admin-facilitators", "Facilitators", "/admin/facilitators"},
	{"admin-economics", "Economics", "/admin/economics"},
}

// adminNavLinks are the sections this page's viewer can open.
func adminNavLinks(p Page) [][3]string {
	out := make([][3]string, 0, len(adminLinks))
	for _, l := range adminLinks {
		if l[0] == "admin-plans" && !p.PlansPage {
			continue
		}
		out = append(out, l)
	}
	return out
}

// InAdmin reports whether the page belongs to the admin area (its Nav key starts with admin).
func (p Page) InAdmin() bool { return p.User.IsAdmin() && strings.HasPrefix(p.Nav, "admin") }

// matchedRules names the rules among matches, each once, in order.
func matchedRules(ms []scan.Match) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range ms {
		if !seen[m.Rule] {
			seen[m.Rule] = true
			out = append(out, m.Rule)
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

func joinComma(s []string) string { return strings.Join(s, ", ") }

// planPolicy is the policy a plan's select shows ("" is off).
func planPolicy(p string) string {
	if p == "" {
		return models.PolicyOff
	}
	return p
}

// planPolicyOf is the review policy of the plan with that key ("off" when unknown).
func planPolicyOf(plans []models.Plan, key string) string {
	for _, p := range plans {
		if p.Key == key {
			return planPolicy(p.ReviewPolicy)
		}
	}
	return models.PolicyOff
}

// moderationReason is the reason an admin gave for suspending or taking down an app.
func moderationReason(a *models.App) string {
	if a.ModerationReason == "" {
		return "none given"
	}
	return a.ModerationReason
}
