package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
	"github.com/PuerkitoBio/goquery"
)

// TestAdminNavigation: an admin without a tenant sees the admin area's own navigation on
// every admin page, every link of it opens, and no link anywhere in its navigation answers
// 403 (the tenant pages); the overview's cards are numbers.
func TestAdminNavigation(t *testing.T) {
	w := newWorld(t)
	if r := w.p.api(t, "POST", "/api/v1/reports", "", "application/json", `{"app":"b-app","category":"spam","message":"Spam from this API all day."}`); r.Status != http.StatusCreated && r.Status != http.StatusAccepted && r.Status != http.StatusOK {
		t.Fatalf("report: %d %s", r.Status, r.Body)
	}
	home := w.admin.get("/admin/")
	if home.Status != http.StatusOK {
		t.Fatalf("/admin/: %d", home.Status)
	}
	d := home.doc(t)
	var sections []string
	d.Find("nav.subnav a").Each(func(_ int, a *goquery.Selection) {
		href, _ := a.Attr("href")
		sections = append(sections, href)
	})
	for _, want := range []string{"/admin/", "/admin/tenants", "/admin/review", "/admin/reports", "/admin/rules", "/admin/sync", "/admin/facilitators"} {
		if !contains(sections, want) {
			t.Errorf("admin navigation lacks %s: %v", want, sections)
		}
	}
	if contains(sections, "/admin/plans") {
		t.Errorf("admin navigation links the plans page, which does not exist without billing")
	}
	num := regexp.MustCompile(`^\d+$`)
	stats := map[string]string{}
	d.Find(".admin-stats .stat").Each(func(_ int, s *goquery.Selection) {
		n := strings.TrimSpace(s.Find(".num").Text())
		if !num.MatchString(n) {
			t.Errorf("overview card %q shows %q, not a number", s.Text(), n)
		}
		stats[strings.TrimSpace(s.Find(".num + span").Text())] = n
	})
	if stats["open abuse reports"] != "1" || stats["tenants"] != "2" || stats["apps"] != "1" {
		t.Errorf("overview counts %v, want 1 open report and 2 tenants", stats)
	}
	for _, href := range sections {
		r := w.admin.get(href)
		if r.Status != http.StatusOK {
			t.Errorf("%s as admin: %d", href, r.Status)
			continue
		}
		rd := r.doc(t)
		if rd.Find("nav.subnav a[aria-current=page]").Length() != 1 {
			t.Errorf("%s: the admin navigation marks %d current sections, want 1", href, rd.Find("nav.subnav a[aria-current=page]").Length())
		}
		rd.Find("header nav a").Each(func(_ int, a *goquery.Selection) {
			link, _ := a.Attr("href")
			if got := w.admin.get(link).Status; got == http.StatusForbidden || got == http.StatusNotFound {
				t.Errorf("%s: the navigation links %s, which answers the admin %d", href, link, got)
			}
		})
	}
	if r := w.admin.get("/admin/reports"); !strings.Contains(r.Body, "Spam from this API all day.") {
		t.Errorf("the open report is not on /admin/reports")
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestAdminAudit: the audit page names the actor of each row, filters by actor, action,
// tenant and date, pages by id, exports CSV with formula cells defused, and the tenant
// page shows the tenant's trail.
func TestAdminAudit(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ua := mustUser(t, w.p, "a@example.com")
	ub := mustUser(t, w.p, "b@example.com")
	for i := 0; i < 60; i++ {
		if err := w.p.Store.Audit(ctx, &ua.ID, "token_created", fmt.Sprintf("token:%d", i), "=HYPERLINK(\"x\")", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.p.Store.Audit(ctx, &ub.ID, "password_changed", "user:b@example.com", "", "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if r := w.admin.post("/admin/tenants/tenant-b/suspend", url.Values{"reason": {"abuse report 7"}, "confirm": {"yes"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	rows := func(r resp) []string {
		var out []string
		r.doc(t).Find("table.audit tbody tr").Each(func(_ int, tr *goquery.Selection) {
			var cells []string
			tr.Find("td").Each(func(_ int, td *goquery.Selection) { cells = append(cells, strings.TrimSpace(td.Text())) })
			out = append(out, strings.Join(cells[1:4], " | "))
		})
		return out
	}
	today := time.Now().UTC().Format("2006-01-02")
	cases := []struct {
		query   string
		want    int
		contain string
	}{
		{"", 50, "admin@example.com | tenant_suspended | tenant:tenant-b"},
		{"?actor=b@example.com", 2, "b@example.com | password_changed | user:b@example.com"},
		{"?actor=B@EXAMPLE.COM&action=password_changed", 1, "password_changed"},
		{"?action=tenant_suspended", 1, "admin@example.com | tenant_suspended"},
		{"?tenant=tenant-b", 3, "tenant_suspended"},
		{"?tenant=nobody", 0, ""},
		{"?from=" + today + "&to=" + today, 50, "tenant_suspended"},
		{"?from=2000-01-01&to=2000-01-02", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			r := w.admin.get("/admin/audit" + c.query)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d", r.Status)
			}
			got := rows(r)
			if len(got) != c.want {
				t.Fatalf("%d rows, want %d: %v", len(got), c.want, got)
			}
			if c.contain != "" && !strings.Contains(strings.Join(got, "\n"), c.contain) {
				t.Fatalf("no row contains %q: %v", c.contain, got)
			}
		})
	}
	// Page two follows the Older link and holds the rest, none twice.
	first := w.admin.get("/admin/audit?actor=a@example.com")
	older, ok := first.doc(t).Find("nav.pager a:contains('Older')").Attr("href")
	if !ok {
		t.Fatal("no Older link on a full page")
	}
	second := w.admin.get(older)
	if n := len(rows(first)) + len(rows(second)); n < 61 {
		t.Fatalf("two pages hold %d of A's rows, want all (60 tokens + signup + login)", n)
	}
	if _, ok := second.doc(t).Find("nav.pager a:contains('Older')").Attr("href"); ok {
		t.Fatalf("the last page links an older one")
	}
	// CSV: every matching row, the formula defused.
	csv := w.admin.get("/admin/audit.csv?action=token_created")
	if csv.Status != http.StatusOK || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", csv.Status, csv.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(csv.Body), "\n")
	if len(lines) < 61 || !strings.Contains(csv.Body, "a@example.com,token_created") {
		t.Fatalf("csv has %d lines: %.300s", len(lines), csv.Body)
	}
	if strings.Contains(csv.Body, ",=HYPERLINK") || !strings.Contains(csv.Body, "'=HYPERLINK") {
		t.Fatalf("a formula cell was not defused: %.300s", csv.Body)
	}
	// The tenant page shows its trail: the suspension and its users' events, not A's.
	page := w.admin.get("/admin/tenants/tenant-b")
	trail := page.doc(t).Find("#audit").Text()
	if !strings.Contains(trail, "tenant_suspended") || !strings.Contains(trail, "password_changed") || strings.Contains(trail, "token:5") {
		t.Fatalf("tenant B's trail: %s", trail)
	}
	// A tenant cannot read the audit.
	if r := w.a.get("/admin/audit.csv"); r.Status != http.StatusNotFound {
		t.Fatalf("tenant reading the audit csv: %d", r.Status)
	}
}

// TestTenantSeesModerationReason: after an admin suspends or takes down an app, every tab of
// the app shows the tenant what happened and the admin's reason.
func TestTenantSeesModerationReason(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct{ action, reason, says string }{
		{"suspend", "phishing kit, report 12", "An admin suspended this app"},
		{"takedown", "miner found in v3", "An admin took this app down"},
	} {
		if r := w.admin.post("/admin/tenants/tenant-b/apps/b-app/"+c.action, url.Values{"reason": {c.reason}, "confirm": {"yes"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d %.300s", c.action, r.Status, r.Body)
		}
		for _, tab := range []string{"", "/versions", "/settings"} {
			r := w.b.get("/apps/b-app" + tab)
			got := r.doc(t).Find("#moderation").Text()
			if r.Status != http.StatusOK || !strings.Contains(got, c.says) || !strings.Contains(got, c.reason) {
				t.Fatalf("%s, tab %q: %d %q", c.action, tab, r.Status, got)
			}
		}
	}
	if r := w.admin.post("/admin/tenants/tenant-b/apps/b-app/restore", url.Values{"confirm": {"yes"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("restore: %d", r.Status)
	}
	if r := w.b.get("/apps/b-app"); r.doc(t).Find("#moderation").Length() != 0 {
		t.Fatalf("the notice stays after restore")
	}
}

// TestAdminTenantBillingLine: the tenant page's billing line matches the billing mode; with
// demo billing and a subscription it shows the subscription, never "Billing is off".
func TestAdminTenantBillingLine(t *testing.T) {
	for _, demo := range []bool{false, true} {
		t.Run(fmt.Sprint("demo=", demo), func(t *testing.T) {
			p := startPortal(t, func(o *web.Options) {
				if !demo {
					return
				}
				svc, err := billing.New(billing.Options{Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL, Demo: true})
				if err != nil {
					t.Fatal(err)
				}
				o.Billing = svc
			})
			p.browser(t).signup("sub@example.com", "Sub")
			tenant := mustUser(t, p, "sub@example.com").Tenant
			since := time.Now().Add(-48 * time.Hour)
			if err := p.DB.Gorm.Create(&models.Subscription{TenantID: tenant.ID, StripeSubscriptionID: "sub_demo_1", Status: "past_due", PlanKey: "pro", PastDueSince: &since}).Error; err != nil {
				t.Fatal(err)
			}
			hash, _ := models.HashPassword("admin password 123")
			p.Store.CreateUser(context.Background(), "root@example.com", hash, models.RoleAdmin, nil)
			admin := p.browser(t)
			admin.login("root@example.com", "admin password 123")
			d := admin.get("/admin/tenants/" + tenant.Slug).doc(t)
			line, subs := d.Find("#billing-line").Text(), d.Find("#subscriptions").Text()
			if demo {
				if strings.Contains(line, "Billing is off") || !strings.Contains(line, "Demo billing") || !strings.Contains(subs, "sub_demo_1") || !strings.Contains(subs, "past due since") {
					t.Fatalf("demo billing: line %q, subscriptions %q", line, subs)
				}
			} else if !strings.Contains(line, "Billing is off") || subs != "" {
				t.Fatalf("billing off: line %q, subscriptions %q", line, subs)
			}
		})
	}
}
