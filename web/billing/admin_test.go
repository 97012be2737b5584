package billing

import (
	"testing"

	"github.com/402claw/402claw/models"
)

func TestParsePlanForm(t *testing.T) {
	good := map[string]string{"name": "Pro", "price": "19.99", "stripe_price_id": "price_1Abc", "cpu_ms": "200", "sub_requests": "50",
		"max_apps": "50", "max_routes": "100", "max_script_kib": "10240", "active": "1",
		"log_lines": "50", "log_retention_hours": "24", "log_max_mib": "5"}
	cases := []struct {
		name, key, field, value string
		bad                     string // the field that must be reported, "" for none
	}{
		{"valid", "pro", "", "", ""},
		{"whole dollars", "pro", "price", "20", ""},
		{"one decimal", "pro", "price", "$20.5", ""},
		{"three decimals", "pro", "price", "20.999", "price"},
		{"negative price", "pro", "price", "-5", "price"},
		{"free must stay free", "free", "price", "1", "price"},
		{"free may not be withdrawn", "free", "active", "", "name"},
		{"empty name", "pro", "name", "  ", "name"},
		{"bad price id", "pro", "stripe_price_id", "prod_123", "stripe_price_id"},
		{"empty price id is fine", "pro", "stripe_price_id", "", ""},
		{"cpu zero", "pro", "cpu_ms", "0", "cpu_ms"},
		{"cpu beyond Cloudflare", "pro", "cpu_ms", "300001", "cpu_ms"},
		{"subrequests not a number", "pro", "sub_requests", "many", "sub_requests"},
		{"script too large", "pro", "max_script_kib", "70000", "max_script_kib"},
		{"no log lines", "pro", "log_lines", "0", "log_lines"},
		{"more log lines than the edge captures", "pro", "log_lines", "1001", "log_lines"},
		{"logs kept forever", "pro", "log_retention_hours", "100000", "log_retention_hours"},
		{"log storage not a number", "pro", "log_max_mib", "lots", "log_max_mib"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := map[string]string{}
			for k, v := range good {
				vals[k] = v
			}
			if c.key == "free" {
				vals["price"] = "0"
			}
			if c.field != "" {
				vals[c.field] = c.value
			}
			p, errs := ParsePlanForm(models.Plan{Key: c.key}, func(k string) string { return vals[k] })
			if c.bad == "" {
				if len(errs) != 0 {
					t.Fatalf("errors %v", errs)
				}
				if p.CPUMs != 200 || p.MaxScriptBytes != 10<<20 || !p.Active || p.LogLinesPerRequest != 50 || p.LogRetentionHours != 24 || p.LogMaxBytes != 5<<20 {
					t.Fatalf("parsed %+v", p)
				}
				return
			}
			if errs[c.bad] == "" {
				t.Fatalf("no error for %s: %v", c.bad, errs)
			}
		})
	}
	p, _ := ParsePlanForm(models.Plan{Key: "pro"}, func(k string) string { return good[k] })
	if p.MonthlyPriceCents != 1999 {
		t.Fatalf("19.99 → %d cents", p.MonthlyPriceCents)
	}
}

func TestOverLimits(t *testing.T) {
	free := models.Plan{MaxApps: 3, MaxRoutes: 10, MaxScriptBytes: 1 << 20}
	if got := OverLimits(free, 3, 10, 1<<20); len(got) != 0 {
		t.Fatalf("at the limits = %v", got)
	}
	if got := OverLimits(free, 4, 11, 1<<20+1); len(got) != 3 {
		t.Fatalf("over every limit = %v", got)
	}
}
