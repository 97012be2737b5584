package web_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

// TestAdminRulesEditor: a bad pattern is refused with its position and nothing typed is lost;
// a good rule is created, edited, disabled in place, deleted after a confirmation; each action
// is audited.
func TestAdminRulesEditor(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	form := url.Values{"name": {"my-rule"}, "kind": {"pattern"}, "pattern": {`(?i)evil(`}, "severity": {"high"}, "action": {"block"}, "message": {"No evil here."}, "enabled": {"1"}}
	r := w.admin.post("/admin/rules", form)
	if r.Status != 422 {
		t.Fatalf("bad pattern: %d %.300s", r.Status, r.Body)
	}
	d := r.doc(t)
	if msg := d.Find("#pattern-error").Text(); !strings.Contains(msg, "Invalid pattern") {
		t.Fatalf("no pattern error: %q", msg)
	}
	nf := d.Find("#new-rule")
	if v, _ := nf.Find("input[name=name]").Attr("value"); v != "my-rule" || nf.Find("textarea[name=pattern]").Text() != `(?i)evil(` ||
		nf.Find("select[name=action] option[selected]").AttrOr("value", "") != "block" || nf.Find("select[name=severity] option[selected]").AttrOr("value", "") != "high" {
		t.Fatalf("the form lost what was typed: %s", nf.Text())
	}
	form.Set("pattern", `(?i)evil\(`)
	if r := w.admin.post("/admin/rules", form); r.Status != 303 {
		t.Fatalf("create: %d %.300s", r.Status, r.Body)
	}
	if r := w.admin.post("/admin/rules", form); r.Status != 422 || !strings.Contains(r.Body, "already has this name") {
		t.Fatalf("duplicate: %d", r.Status)
	}
	var rule *models.ModerationRule
	rules, _ := w.p.Store.ModerationRules(ctx)
	for i := range rules {
		if rules[i].Name == "my-rule" {
			rule = &rules[i]
		}
	}
	if rule == nil || !rule.Enabled || rule.Action != "block" {
		t.Fatalf("rule not stored: %+v", rule)
	}
	list := w.admin.get("/admin/rules").doc(t)
	if list.Find(fmt.Sprintf("#rule-%d", rule.ID)).Length() != 1 {
		t.Fatal("the rule is not listed")
	}
	path := fmt.Sprintf("/admin/rules/%d", rule.ID)
	// Edit: a bad pattern keeps the edit; a good one saves.
	form.Set("pattern", `[`)
	form.Set("message", "Changed message")
	r = w.admin.post(path, form)
	if r.Status != 422 || r.doc(t).Find("input[name=message]").AttrOr("value", "") != "Changed message" {
		t.Fatalf("bad edit: %d", r.Status)
	}
	form.Set("pattern", `evil2\(`)
	form.Set("action", "flag")
	if r := w.admin.post(path, form); r.Status != 303 {
		t.Fatalf("edit: %d %.300s", r.Status, r.Body)
	}
	// Disable in place (htmx): the row comes back saying disabled.
	r = w.admin.htmxPost(path+"/toggle", url.Values{"enabled": {"0"}})
	if r.Status != 200 || !strings.Contains(r.Body, `<span class="pill">disabled</span>`) || !strings.Contains(r.Body, ">Enable</button>") {
		t.Fatalf("toggle: %d %s", r.Status, r.Body)
	}
	got, _ := w.p.Store.ModerationRuleByID(ctx, rule.ID)
	if got.Enabled || got.Pattern != `evil2\(` || got.Action != "flag" {
		t.Fatalf("stored after edit and toggle: %+v", got)
	}
	// Delete asks first; a POST without the confirmation goes back to the question.
	if c := w.admin.get(path + "/delete"); c.Status != 200 || c.doc(t).Find("#confirm input[name=confirm][value=yes]").Length() != 1 {
		t.Fatalf("confirm page: %d", c.Status)
	}
	if r := w.admin.post(path+"/delete", nil); r.Status != 303 || !strings.HasSuffix(r.Header.Get("Location"), "/delete") {
		t.Fatalf("unconfirmed delete: %d %s", r.Status, r.Header.Get("Location"))
	}
	if _, err := w.p.Store.ModerationRuleByID(ctx, rule.ID); err != nil {
		t.Fatal("deleted without confirmation")
	}
	if r := w.admin.post(path+"/delete", url.Values{"confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("delete: %d", r.Status)
	}
	if _, err := w.p.Store.ModerationRuleByID(ctx, rule.ID); err == nil {
		t.Fatal("not deleted")
	}
	assertAudited(t, w.p, "moderation_rule_created", "moderation_rule_updated", "moderation_rule_disabled", "moderation_rule_deleted")
}

func assertAudited(t *testing.T, p *portal, actions ...string) {
	t.Helper()
	events, _ := p.Store.AuditEvents(context.Background(), 500)
	have := map[string]bool{}
	for _, e := range events {
		if e.ActorUserID != nil {
			have[e.Action] = true
		}
	}
	for _, a := range actions {
		if !have[a] {
			t.Errorf("no audit row with an actor for %s", a)
		}
	}
}

// TestRescanAndPolicies: the re-scan button starts a background run whose progress the page
// polls until it is done, and the flagged live version lands in the review queue; the plan's
// and the tenant's review policies are set from their pages and hold new versions.
func TestRescanAndPolicies(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ua := mustUser(t, w.p, "a@example.com")
	app, err := w.p.Store.CreateApp(ctx, ua.Tenant, "live-app", "Live")
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.p.Store.CreateVersion(ctx, app, ua.ID, models.NewVersion{MainModule: "index.js",
		Sources: map[string]string{"index.js": "export default { fetch() { return new Response('zzmarker') } }"}, Bundle: []byte("x"), SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("x")))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.Store.Deploy(ctx, app, v.ID); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"name": {"zz-marker"}, "kind": {"pattern"}, "pattern": {`zzmarker`}, "severity": {"low"}, "action": {"flag"}, "enabled": {"1"}}
	if r := w.admin.post("/admin/rules", form); r.Status != 303 {
		t.Fatalf("rule: %d", r.Status)
	}
	if r := w.admin.post("/admin/rescan", nil); r.Status != 303 {
		t.Fatalf("rescan: %d", r.Status)
	}
	var card string
	for i := 0; i < 200; i++ {
		r := w.admin.get("/admin/rescan")
		card = r.doc(t).Find("#rescan-progress").Text()
		if strings.Contains(card, "finished") {
			if r.doc(t).Find("[hx-trigger]").Length() != 0 {
				t.Fatal("a finished re-scan still polls")
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(card, "finished") || !strings.Contains(card, "1 sent to review") {
		t.Fatalf("progress: %q", card)
	}
	if q := w.admin.get("/admin/review"); !strings.Contains(q.Body, "live-app") {
		t.Fatal("the re-scanned version is not in the queue")
	}
	// Policies.
	if r := w.admin.post("/admin/plans/free/review-policy", url.Values{"review_policy": {"sometimes"}}); r.Status != 422 {
		t.Fatalf("bad plan policy: %d", r.Status)
	}
	if r := w.admin.post("/admin/plans/nope/review-policy", url.Values{"review_policy": {"always"}}); r.Status != 404 {
		t.Fatalf("unknown plan: %d", r.Status)
	}
	tb := mustUser(t, w.p, "b@example.com").Tenant
	if r := w.admin.post("/admin/tenants/"+tb.Slug+"/review-policy", url.Values{"review_policy": {"always"}}); r.Status != 303 {
		t.Fatalf("tenant policy: %d %.200s", r.Status, r.Body)
	}
	page := w.admin.get("/admin/tenants/" + tb.Slug).doc(t)
	if page.Find("#review-policy option[selected]").AttrOr("value", "") != "always" {
		t.Fatal("the tenant page does not show the policy")
	}
	if r := w.p.api(t, "POST", "/api/v1/apps/b-app/versions", w.tokB, "application/json", jsonVersion("index.js", map[string]string{"index.js": "export default { fetch() { return new Response('ok') } }"})); r.Status != 201 || !strings.Contains(r.Body, `"pending"`) {
		t.Fatalf("a version under 'always' is not pending: %d %s", r.Status, r.Body)
	}
	if r := w.admin.post("/admin/plans/free/review-policy", url.Values{"review_policy": {"first"}}); r.Status != 303 {
		t.Fatalf("plan policy: %d", r.Status)
	}
	if sel := w.admin.get("/admin/rules").doc(t).Find("#plan-policies select[aria-label='Review policy of Free'] option[selected]").AttrOr("value", ""); sel != "first" {
		t.Fatalf("plan policy shown: %q", sel)
	}
	assertAudited(t, w.p, "moderation_rescan_started", "review_policy_changed")
}
