package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
)

// TestPlanLimitCaps (issue 15): an admin caps the per-caller limits of a plan in the plan editor
// (the largest requests per minute, whether quotas are offered); a tenant on the plan who sets a
// limit over the cap gets 422 naming the field, from the route form and from the API, with
// nothing stored, and a limit within the cap is stored.
func TestPlanLimitCaps(t *testing.T) {
	p := startPortal(t, func(o *web.Options) {
		svc, err := billing.New(billing.Options{Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL,
			Demo: true, Grace: 72 * time.Hour, Usage: o.Store.TenantUsage})
		if err != nil {
			t.Fatal(err)
		}
		o.Billing = svc
	})
	b, a := tenantApp(t, p, "caps@example.com", "Caps", "capsapp")
	tok := apiToken(t, p, "caps@example.com")
	ctx := context.Background()
	hash, _ := models.HashPassword("admin password 123")
	if _, err := p.Store.CreateUser(ctx, "capsadmin@example.com", hash, models.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	admin := p.browser(t)
	if r := admin.login("capsadmin@example.com", "admin password 123"); r.Status != http.StatusSeeOther {
		t.Fatalf("admin login: %d", r.Status)
	}
	savePlan := func(kv ...string) resp {
		form := url.Values{"name": {"Free"}, "price": {"0"}, "cpu_ms": {"10"}, "sub_requests": {"50"}, "max_apps": {"3"},
			"max_routes": {"20"}, "max_script_kib": {"1024"}, "active": {"1"}, "log_lines": {"200"}, "log_retention_hours": {"72"},
			"log_max_mib": {"10"}, "spend_caps": {"1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				form.Del(kv[i])
			} else {
				form.Set(kv[i], kv[i+1])
			}
		}
		return admin.post("/admin/plans/free", form)
	}
	if r := savePlan("max_rate_per_minute", "70000"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Between 0") {
		t.Fatalf("a cap above the platform's bound: %d %.300s", r.Status, r.Body)
	}
	if r := savePlan("max_rate_per_minute", "100"); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", r.Status, r.Body)
	}
	d := admin.get("/admin/plans").doc(t)
	if v, _ := d.Find("#plan-free input[name=max_rate_per_minute]").Attr("value"); v != "100" {
		t.Errorf("editor shows max_rate_per_minute %q", v)
	}
	if _, on := d.Find("#plan-free input[name=quotas]").Attr("checked"); on {
		t.Errorf("editor shows quotas offered after they were withdrawn")
	}
	if pl, err := p.Store.PlanByKey(ctx, models.FreePlan); err != nil || pl.MaxRatePerMinute != 100 || !pl.QuotasOff || pl.SpendCapsOff {
		t.Fatalf("stored plan %+v, %v", pl, err)
	}

	path := "/apps/" + a.Slug + "/routes"
	formCases := []struct {
		name    string
		form    []string
		field   string
		message string
	}{
		{"rate over the plan's cap", routeForm("rate_per_minute", "101"), "rate_per_minute", "The Free plan allows at most 100."},
		{"challenges over the plan's cap", routeForm("challenges_per_minute", "500"), "challenges_per_minute", "at most 100"},
		{"quota on a plan without quotas", routeForm("access", "api_key", "daily_quota", "50"), "daily_quota", "does not include quotas"},
	}
	for _, tc := range formCases {
		form := url.Values{}
		for i := 0; i+1 < len(tc.form); i += 2 {
			form.Set(tc.form[i], tc.form[i+1])
		}
		r := b.post(path, form)
		errText := r.doc(t).Find(`[name="` + tc.field + `"]`).Parent().Find("small.err").Text()
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(errText, tc.message) {
			t.Errorf("route form, %s: %d, error %q, want %q", tc.name, r.Status, errText, tc.message)
		}
	}
	apiCases := []struct{ name, body, field string }{
		{"rate over the plan's cap", `[{"path":"/a","limits":{"rate_per_minute":101}}]`, "[0].rate_per_minute"},
		{"second route over the cap", `[{"path":"/a"},{"path":"/b","access":"api_key","limits":{"monthly_quota":10}}]`, "[1].monthly_quota"},
	}
	for _, tc := range apiCases {
		if r := p.api(t, "PUT", "/api/v1/apps/"+a.Slug+"/routes", tok, "application/json", tc.body); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, `"field":"`+tc.field+`"`) {
			t.Errorf("API, %s: %d %s", tc.name, r.Status, r.Body)
		}
	}
	if rs, _ := p.Store.Routes(ctx, a.ID); len(rs) != 0 {
		t.Fatalf("refused changes stored routes: %+v", rs)
	}

	// Within the cap: stored. Quotas offered again: a quota is accepted.
	if r := b.htmxForm(path, routeForm("rate_per_minute", "100")...); r.Status != http.StatusOK || !strings.Contains(r.Body, "Route added") {
		t.Fatalf("rate at the cap: %d %.300s", r.Status, r.Body)
	}
	if r := savePlan("max_rate_per_minute", "100", "quotas", "1"); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", r.Status, r.Body)
	}
	if r := p.api(t, "PUT", "/api/v1/apps/"+a.Slug+"/routes", tok, "application/json",
		`[{"path":"/a","access":"api_key","limits":{"rate_per_minute":100,"daily_quota":50}}]`); r.Status != http.StatusOK {
		t.Fatalf("quota once offered: %d %s", r.Status, r.Body)
	}
	if rs, _ := p.Store.Routes(ctx, a.ID); len(rs) != 1 || rs[0].RatePerMinute != 100 || rs[0].DailyQuota != 50 {
		t.Fatalf("stored %+v", rs)
	}
}
