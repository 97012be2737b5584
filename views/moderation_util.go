package views

import "github.com/402claw/402claw/models/scan"

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
