package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/PuerkitoBio/goquery"
)

// TestAdminEconomics: through the admin pages, a month's cost per tenant from its requests at the
// Workers price list, set against its subscription and the platform fee, with the numbers
// computed by hand; the price list is edited (a bad value refused beside its field) and the
// estimates follow it; the overview lists the tenant that loses money.
func TestAdminEconomics(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	db := w.p.DB.Gorm
	ua, _ := w.p.Store.UserByEmail(ctx, "a@example.com")
	ub, _ := w.p.Store.UserByEmail(ctx, "b@example.com")
	app, err := w.p.Store.AppBySlug(ctx, *ub.TenantID, "b-app")
	if err != nil {
		t.Fatal(err)
	}
	month := models.MonthStart(time.Now())
	for _, v := range []any{
		// B: 25M requests this month, 30 USDC of x402 revenue on Base, free plan.
		&models.UsageRollup{AppID: app.ID, Route: "GET /x", Hour: month, Requests: 25_000_000, RevenueAtomic: "0"},
		&models.RevenueRollup{AppID: app.ID, Route: "GET /x", Hour: month, Network: "eip155:8453", Payments: 30, RevenueAtomic: "30000000"},
		// Last month's traffic is not this month's cost.
		&models.UsageRollup{AppID: app.ID, Route: "GET /x", Hour: month.Add(-time.Hour), Requests: 500_000_000, RevenueAtomic: "0"},
		// A: no traffic, pays $20 a month for Pro.
		&models.Subscription{TenantID: *ua.TenantID, StripeSubscriptionID: "sub_a", Status: models.SubActive, PlanKey: "pro", LastEventAt: month},
	} {
		if err := db.Create(v).Error; err != nil {
			t.Fatal(err)
		}
	}
	slugA, slugB := ua.Tenant.Slug, ub.Tenant.Slug
	cell := func(d *goquery.Document, slug, col string) string {
		return strings.Fields(d.Find(`#economics tr[data-tenant="`+slug+`"] td[data-col="`+col+`"]`).Text() + " ")[0]
	}
	check := func(step string, want map[string][4]string, total string) {
		t.Helper()
		r := w.admin.get("/admin/economics")
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d", step, r.Status)
		}
		d := r.doc(t)
		for slug, c := range want {
			got := [4]string{cell(d, slug, "cost"), cell(d, slug, "subscription"), cell(d, slug, "fee"), cell(d, slug, "margin")}
			if got != c {
				t.Errorf("%s: %s cost, subscription, fee, margin = %v, want %v", step, slug, got, c)
			}
		}
		if first := d.Find("#economics tbody tr").First().AttrOr("data-tenant", ""); first != slugB {
			t.Errorf("%s: the first row is %q, want the loss-making %q", step, first, slugB)
		}
		if got := strings.TrimSpace(d.Find(`#economics-totals td[data-col="margin"]`).Text()); got != total {
			t.Errorf("%s: total margin %q, want %q", step, got, total)
		}
	}
	// Defaults: 25M requests, 10M included → 15M × $0.30 = $4.50 + the $5 minimum = $9.50, all B's.
	check("defaults", map[string][4]string{
		slugB: {"$9.50", "$0.00", "$0.00", "-$9.50"},
		slugA: {"$0.00", "$20.00", "$0.00", "$20.00"},
	}, "$10.50")
	home := w.admin.get("/admin/").doc(t)
	var cells []string
	home.Find(`#losses tr[data-tenant="` + slugB + `"]`).Children().Each(func(_ int, c *goquery.Selection) { cells = append(cells, strings.TrimSpace(c.Text())) })
	if got := strings.Join(cells, "|"); got != "Tenant B|$9.50|$0.00|$9.50" {
		t.Errorf("overview loss row: %q", got)
	}
	if home.Find(`#losses tr[data-tenant="`+slugA+`"]`).Length() != 0 {
		t.Error("the overview lists a tenant that makes money")
	}

	form := url.Values{"monthly_minimum": {"5"}, "included_requests": {"20,000,000"}, "per_million_requests": {"0.50"},
		"included_cpu_ms": {"30000000"}, "per_million_cpu_ms": {"0.02"}, "platform_fee": {"150"}}
	r := w.admin.post("/admin/economics", form)
	if r.Status != http.StatusUnprocessableEntity || r.doc(t).Find(`input[name=platform_fee][aria-invalid]`).Length() != 1 ||
		r.doc(t).Find(`input[name=per_million_requests]`).AttrOr("value", "") != "0.50" {
		t.Fatalf("a 150%% fee: %d", r.Status)
	}
	check("after a refused save", map[string][4]string{slugB: {"$9.50", "$0.00", "$0.00", "-$9.50"}}, "$10.50")

	// 20M included, then $0.50 per million: 5M × $0.50 = $2.50 + $5 = $7.50. A 10% fee on B's
	// $30 of x402 revenue is $3.00: B's margin is $3.00 - $7.50 = -$4.50.
	form.Set("platform_fee", "10")
	if r := w.admin.post("/admin/economics", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", r.Status, r.Body)
	}
	check("after the save", map[string][4]string{
		slugB: {"$7.50", "$0.00", "$3.00", "-$4.50"},
		slugA: {"$0.00", "$20.00", "$0.00", "$20.00"},
	}, "$15.50")
	d := w.admin.get("/admin/economics").doc(t)
	for name, want := range map[string]string{"included_requests": "20000000", "per_million_requests": "0.5", "platform_fee": "10"} {
		if got := d.Find(`#price-list input[name=`+name+`]`).AttrOr("value", ""); got != want {
			t.Errorf("the form shows %s = %q, want %q", name, got, want)
		}
	}
	// A tenant can neither see nor change the price list.
	form.Set("platform_fee", "50")
	if r := w.b.post("/admin/economics", form); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("a tenant saved the price list: %d", r.Status)
	}
	if got := w.admin.get("/admin/economics").doc(t).Find(`#price-list input[name=platform_fee]`).AttrOr("value", ""); got != "10" {
		t.Errorf("after a tenant's post the fee is %q", got)
	}
}
