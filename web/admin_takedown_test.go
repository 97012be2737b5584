package web_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
)

// TestTakedownWritesThrough: app suspend puts the admin's reason into the config document;
// take down deletes the script (by tag) and the document at the edge, keeping the rows; restore
// uploads both again; the tenant-wide take down does the same for every app. Each asks first.
func TestTakedownWritesThrough(t *testing.T) {
	ep := startEdgePortal(t)
	ctx := context.Background()
	tok := apiTenant(t, ep.portal, "td@example.com", "TD")
	for _, slug := range []string{"td-one", "td-two"} {
		ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"`+slug+`","name":"x"}`)
		if r := ep.api(t, "POST", "/api/v1/apps/"+slug+"/versions", tok, "application/json", jsonVersion("index.js", map[string]string{"index.js": "export default { fetch() { return new Response('ok') } }"})); r.Status != 201 {
			t.Fatalf("version: %d %s", r.Status, r.Body)
		}
		if r := ep.api(t, "POST", "/api/v1/apps/"+slug+"/deployments", tok, "application/json", `{}`); r.Status != 202 {
			t.Fatalf("deploy: %d %s", r.Status, r.Body)
		}
	}
	hash, _ := models.HashPassword("admin password 123")
	ep.Store.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil)
	admin := ep.browser(t)
	admin.login("root@example.com", "admin password 123")
	tenant := mustUser(t, ep.portal, "td@example.com").Tenant

	edge := func(slug string) (script bool, status, reason string) {
		t.Helper()
		ep.settle(t, tenant.ID, slug)
		scripts, err := ep.CF.ListUserScripts(ctx, testNamespace)
		if err != nil {
			t.Fatal(err)
		}
		script = slices.ContainsFunc(scripts, func(s workers.ScriptInfo) bool { return s.Name == "app-"+slug })
		b, err := ep.CF.GetKV(ctx, ep.KVID, "app:"+slug)
		if errors.Is(err, workers.ErrNotFound) {
			return script, "", ""
		} else if err != nil {
			t.Fatal(err)
		}
		var d struct{ Status, Reason string }
		jsonDecode(strings.NewReader(string(b)), &d)
		return script, d.Status, d.Reason
	}
	if sc, st, _ := edge("td-one"); !sc || st != "active" {
		t.Fatalf("before: script %v, %s", sc, st)
	}
	app := "/admin/tenants/" + tenant.Slug + "/apps/td-one/"
	if r := admin.get(app + "suspend"); r.Status != 200 || r.doc(t).Find("#confirm form[action='"+app+"suspend']").Length() != 1 {
		t.Fatalf("confirm page: %d", r.Status)
	}
	if r := admin.post(app+"suspend", url.Values{"reason": {" "}, "confirm": {"yes"}}); r.Status != 422 || !strings.Contains(r.Body, "Say why") {
		t.Fatalf("no reason: %d", r.Status)
	}
	if r := admin.post(app+"suspend", url.Values{"reason": {"Spam relay"}, "confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("suspend: %d %.300s", r.Status, r.Body)
	}
	if sc, st, reason := edge("td-one"); !sc || st != "suspended" || reason != "Spam relay" {
		t.Fatalf("after suspend: %v %s %q", sc, st, reason)
	}
	if r := admin.post(app+"takedown", url.Values{"reason": {"Spam relay, confirmed"}}); r.Status != 200 {
		t.Fatalf("unconfirmed take down: %d", r.Status)
	}
	if r := admin.post(app+"takedown", url.Values{"reason": {"Spam relay, confirmed"}, "confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("take down: %d", r.Status)
	}
	if sc, st, _ := edge("td-one"); sc || st != "" {
		t.Fatalf("after take down the edge still holds script %v / document %q", sc, st)
	}
	if sc, _, _ := edge("td-two"); !sc {
		t.Fatal("the take down of one app deleted another")
	}
	// The tenant cannot deploy a taken-down app: the deployment would look successful while
	// the syncer deletes the script again.
	if r := ep.api(t, "POST", "/api/v1/apps/td-one/deployments", tok, "application/json", `{}`); r.Status != 409 || !strings.Contains(r.Body, "app_taken_down") || !strings.Contains(r.Body, "Spam relay, confirmed") {
		t.Fatalf("deploy of a taken-down app: %d %s", r.Status, r.Body)
	}
	if sc, st, _ := edge("td-one"); sc || st != "" {
		t.Fatalf("a refused deploy brought the taken-down app back: script %v / document %q", sc, st)
	}
	page := admin.get("/admin/tenants/" + tenant.Slug).Body
	if !strings.Contains(page, "taken down") || !strings.Contains(page, "Spam relay, confirmed") {
		t.Fatal("the tenant page does not show the take down")
	}
	if r := admin.post(app+"restore", url.Values{"confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("restore: %d", r.Status)
	}
	if sc, st, _ := edge("td-one"); !sc || st != "active" {
		t.Fatalf("after restore: %v %s", sc, st)
	}
	// Tenant-wide.
	all := "/admin/tenants/" + tenant.Slug + "/all-apps/"
	if r := admin.post(all+"takedown", url.Values{"reason": {"Fraud"}, "confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("tenant take down: %d", r.Status)
	}
	for _, slug := range []string{"td-one", "td-two"} {
		if sc, st, _ := edge(slug); sc || st != "" {
			t.Fatalf("%s after the tenant take down: %v %q", slug, sc, st)
		}
	}
	if r := admin.post(all+"restore", url.Values{"confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("tenant restore: %d", r.Status)
	}
	for _, slug := range []string{"td-one", "td-two"} {
		if sc, st, _ := edge(slug); !sc || st != "active" {
			t.Fatalf("%s after the tenant restore: %v %q", slug, sc, st)
		}
	}
	if r := admin.post(app+"explode", url.Values{"confirm": {"yes"}}); r.Status != 404 {
		t.Fatalf("unknown action: %d", r.Status)
	}
	assertAudited(t, ep.portal, "app_suspended", "app_taken_down", "app_restored", "tenant_taken_down", "tenant_apps_restored")
}
