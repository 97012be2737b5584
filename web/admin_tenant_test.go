package web_test

import (
	"context"
	"encoding/json"
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
		app, _ := ep.Store.AppBySlug(ctx, tenant.ID, "sus-app")
		ep.Syncer.RunJob(ctx, app.JobTarget())
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
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/suspend", url.Values{"reason": {"  "}}); r.Status != 422 || !strings.Contains(r.Body, "Say why") {
		t.Fatalf("empty reason: %d", r.Status)
	}
	if r := admin.post("/admin/tenants/"+tenant.Slug+"/suspend", url.Values{"reason": {"abuse report #7"}}); r.Status != http.StatusSeeOther {
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
