package web_test

import (
	"context"
	"io"
	"log/slog"

	"encoding/json"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

// TestSuspendReachesTheEdge: an admin suspends a tenant with a reason; its
// app's config document says suspended with that reason; reinstating undoes it.
func TestSuspendReachesTheEdge(t *testing.T) {
	ep := startEdgePortal(t)
	ctx := context.Background()
	tok := apiTenant(t, ep.portal, "sus@example.com", "Sus")
	ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"sus-app","name":"Sus"}`)
	hash, _ := models.HashPassword("admin password 123")
	ep.Store.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil)
	admin := ep.browser(t)
	admin.login("root@example.com", "admin password 123")
	tenant := mustUser(t, ep.portal, "sus@example.com").Tenant

	doc := func() (status, reason string) {
		ep.settle(t, tenant.ID, "sus-app")
		b, err := ep.CF.GetKV(ctx, ep.KVID, "app:sus-app")
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Status, Reason string }
		json.Unmarshal(b, &d)
		return d.Status, d.Reason
	}
	if st, _ := doc(); st != "active" {
		t.Fatalf("before: %s", st)
	}
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/suspend", url.Values{"reason": {"  "}, "confirm": {"yes"}}); r.Status != 422 || !strings.Contains(r.Body, "Say why") {
		t.Fatalf("empty reason: %d", r.Status)
	}
	// Without the confirmation the answer is the question, and nothing changes.
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/suspend", url.Values{"reason": {"abuse report #7"}}); r.Status != 200 || r.doc(t).Find("#confirm input[name=reason]").AttrOr("value", "") != "abuse report #7" {
		t.Fatalf("unconfirmed suspend: %d", r.Status)
	}
	if st, _ := doc(); st != "active" {
		t.Fatalf("suspended without confirmation: %s", st)
	}
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/suspend", url.Values{"reason": {"abuse report #7"}, "confirm": {"yes"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	if st, reason := doc(); st != "suspended" || reason != "abuse report #7" {
		t.Fatalf("after suspend: %s %q", st, reason)
	}
	// The tenant sees why on the dashboard.
	tb := ep.browser(t)
	tb.login("sus@example.com", "a good long password")
	if page := tb.get("/dashboard").Body; !strings.Contains(page, "abuse report #7") {
		t.Fatal("the dashboard does not show the suspension reason")
	}
	// Tenants cannot suspend anyone.
	if r := tb.post("/admin/tenants/"+tenant.Slug+"/reinstate", nil); r.Status != 404 {
		t.Fatalf("a tenant reached the admin action: %d", r.Status)
	}
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/reinstate", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("reinstate: %d", r.Status)
	}
	if st, reason := doc(); st != "active" || reason != "" {
		t.Fatalf("after reinstate: %s %q", st, reason)
	}
	if r := admin.get("/admin/tenants/nope"); r.Status != 404 {
		t.Fatalf("unknown tenant: %d", r.Status)
	}
	if page := admin.get("/admin/tenants/" + tenant.Slug); !strings.Contains(page.Body, "sus-app") || !strings.Contains(page.Body, "sus@example.com") {
		t.Fatal("the tenant page lacks its apps or users")
	}
	events, _ := ep.Store.AuditEvents(ctx, 10)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if !strings.Contains(strings.Join(actions, ","), "tenant_suspended") || !strings.Contains(strings.Join(actions, ","), "tenant_reinstated") {
		t.Fatalf("audit log: %v", actions)
	}
}

// TestAdminPlanChangeReachesTheEdge: with billing off, an admin assigns Pro;
// every app's config document gets Pro's limits; a downgrade back to Free
// pauses the apps beyond Free's cap (never deletes them).
func TestAdminPlanChangeReachesTheEdge(t *testing.T) {
	ep := startEdgePortal(t, func(o *web.Options) {
		svc, err := billing.New(billing.Options{Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL,
			OnPlanChange: func(ctx context.Context, tx models.BillingTx, tenantID uint, _, _ string) error {
				return tx.EnqueueTenantApps(ctx, tenantID)
			},
			PauseExcess: func(ctx context.Context, tx models.BillingTx, tenantID uint, p models.Plan) ([]string, error) {
				return tx.ApplyPlanCaps(ctx, tenantID, p)
			}, Usage: o.Store.TenantUsage})
		if err != nil {
			t.Fatal(err)
		}
		o.Billing = svc
	})
	ctx := context.Background()
	tok := apiTenant(t, ep.portal, "plan@example.com", "Plan")
	tenant := mustUser(t, ep.portal, "plan@example.com").Tenant
	hash, _ := models.HashPassword("admin password 123")
	ep.Store.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil)
	admin := ep.browser(t)
	admin.login("root@example.com", "admin password 123")

	plan := func(slug string) (string, int, int, string) {
		ep.settle(t, tenant.ID, slug)
		b, _ := ep.CF.GetKV(ctx, ep.KVID, "app:"+slug)
		var d struct {
			Status string `json:"status"`
			Plan   struct {
				Key         string `json:"key"`
				CPUMs       int    `json:"cpuMs"`
				SubRequests int    `json:"subRequests"`
			} `json:"plan"`
		}
		json.Unmarshal(b, &d)
		return d.Plan.Key, d.Plan.CPUMs, d.Plan.SubRequests, d.Status
	}
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/plan", url.Values{"plan": {"pro"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("assign pro: %d %s", r.Status, r.Body)
	}
	for _, s := range []string{"one-app", "two-app", "three-app", "four-app"} {
		if r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"`+s+`"}`); r.Status != 201 {
			t.Fatalf("create %s on pro: %d %s", s, r.Status, r.Body)
		}
	}
	if k, cpu, sub, _ := plan("one-app"); k != "pro" || cpu != 200 || sub != 50 {
		t.Fatalf("pro limits at the edge: %s %d %d", k, cpu, sub)
	}
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/plan", url.Values{"plan": {"free"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("assign free: %d", r.Status)
	}
	if k, cpu, sub, st := plan("one-app"); k != "free" || cpu != 50 || sub != 10 || st != "active" {
		t.Fatalf("free limits at the edge: %s %d %d %s", k, cpu, sub, st)
	}
	if _, _, _, st := plan("four-app"); st != "paused" {
		t.Fatalf("the app beyond Free's 3 apps is %s, want paused", st)
	}
	if n := count(t, ep.portal, &models.App{}); n != 4 {
		t.Fatalf("a downgrade deleted apps: %d left", n)
	}
	// The tenant sees why and can resume once it fits: not before.
	tb := ep.browser(t)
	tb.login("plan@example.com", "a good long password")
	if page := tb.get("/apps/four-app").doc(t); !strings.Contains(page.Find("#paused").Text(), "Over the limits of the Free plan") {
		t.Fatalf("the paused app does not say why: %q", page.Find("#paused").Text())
	}
	if r := tb.post("/apps/four-app/resume", nil); r.Status != http.StatusConflict {
		t.Fatalf("resume while over the cap: %d", r.Status)
	}
	if r := ep.api(t, "DELETE", "/api/v1/apps/one-app", tok, "", ""); r.Status != 202 {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := tb.post("/apps/four-app/resume", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("resume after deleting an app: %d %s", r.Status, r.Body)
	}
	if _, _, _, st := plan("four-app"); st != "active" {
		t.Fatalf("after resuming the app is %s", st)
	}
	// A downgrade pauses again; upgrading resumes by itself.
	ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"five-app"}`)
	admin.post("/admin/tenants/"+tenant.Slug+"/plan", url.Values{"plan": {"pro"}})
	ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"six-app"}`)
	admin.post("/admin/tenants/"+tenant.Slug+"/plan", url.Values{"plan": {"free"}})
	if _, _, _, st := plan("six-app"); st != "paused" {
		t.Fatalf("six-app after the second downgrade: %s", st)
	}
	admin.post("/admin/tenants/"+tenant.Slug+"/plan", url.Values{"plan": {"pro"}})
	if _, _, _, st := plan("six-app"); st != "active" {
		t.Fatalf("after upgrading again the app is %s", st)
	}
}
