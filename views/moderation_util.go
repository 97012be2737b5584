package views

import (
	"sort"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/scan"
)

// adminLinks are the admin area's sections: label, URL.
var adminLinks = [][2]string{
	{"Overview", "/admin/"},
	{"Tenants", "/admin/tenants"},
	{"Review queue", "/admin/review"},
	{"Rules", "/admin/rules"},
	{"Sync", "/admin/sync"},
	{"Plans", "/admin/plans"},
}

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
