package web_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/PuerkitoBio/goquery"
)

// TestAdminTenantSearch: each kind of search and filter of /admin/tenants,
// through HTTP on SQLite and PostgreSQL, and the cursor links walk the list.
func TestAdminTenantSearch(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		p := startPortalOn(t, db)
		ctx := context.Background()
		st := p.Store
		tenant := func(name, email string) *models.Tenant {
			_, tn, err := st.SignUp(ctx, email, "x", name, models.RoleTenant)
			if err != nil {
				t.Fatal(err)
			}
			return tn
		}
		acme := tenant("Acme Widgets", "alice@northwind.test")
		weather, err := st.CreateApp(ctx, acme, "weather-api", "Weather Forecasts")
		if err != nil {
			t.Fatal(err)
		}
		const wallet = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
		if _, err := st.AddRoute(ctx, weather, models.Route{Path: "/forecast", Access: "x402", Price: "$0.01", Amount: "10000", Network: "eip155:84532", PayTo: wallet, Settle: "after"}); err != nil {
			t.Fatal(err)
		}
		beta := tenant("Beta Labs", "bob@contoso.test")
		gamma := tenant("Gamma", "carol@example.org")
		delta := tenant("Delta", "dave@example.org")
		deltaApp, err := st.CreateApp(ctx, delta, "delta-app", "Delta")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.Exec("UPDATE tenants SET plan_key = 'pro', status = 'suspended' WHERE id = ?", beta.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.Create(&models.Subscription{TenantID: gamma.ID, StripeSubscriptionID: "sub_g", Status: models.SubPastDue, PlanKey: "pro"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.Create(&models.Version{AppID: deltaApp.ID, Number: 1, MainModule: "w.js", Sources: map[string]string{"w.js": "x"}, Bundle: []byte("x"), BundleName: "w.js", SHA256: "x", ReviewState: models.ReviewPending}).Error; err != nil {
			t.Fatal(err)
		}
		hash, _ := models.HashPassword("admin password 123")
		if _, err := st.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil); err != nil {
			t.Fatal(err)
		}
		admin := p.browser(t)
		admin.login("root@example.com", "admin password 123")

		list := func(query string) (names []string, count string, doc *goquery.Document) {
			t.Helper()
			r := admin.get("/admin/tenants?" + query)
			if r.Status != 200 {
				t.Fatalf("%s: %d", query, r.Status)
			}
			doc = r.doc(t)
			doc.Find("#tenant-results tbody tr td:first-child a").Each(func(_ int, s *goquery.Selection) { names = append(names, s.Text()) })
			slices.Sort(names)
			return names, strings.TrimSpace(doc.Find("#tenant-count").Text()), doc
		}
		tests := []struct {
			name, query string
			want        []string
		}{
			{"all", "", []string{"Acme Widgets", "Beta Labs", "Delta", "Gamma"}},
			{"owner email", "q=northwind", []string{"Acme Widgets"}},
			{"tenant slug", "q=" + url.QueryEscape(beta.Slug[:6]), []string{"Beta Labs"}},
			{"app slug", "q=ATHER-A", []string{"Acme Widgets"}},
			{"app name", "q=forecasts", []string{"Acme Widgets"}},
			{"wallet", "q=" + strings.ToLower(wallet[10:30]), []string{"Acme Widgets"}},
			{"plan", "plan=pro", []string{"Beta Labs"}},
			{"status", "status=suspended", []string{"Beta Labs"}},
			{"flagged", "flagged=1", []string{"Delta"}},
			{"past due", "past_due=1", []string{"Gamma"}},
			{"search and filter", "q=example.org&past_due=1", []string{"Gamma"}},
			{"nothing", "q=nobody-at-all", nil},
			{"unknown status is no filter", "status=bogus", []string{"Acme Widgets", "Beta Labs", "Delta", "Gamma"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, count, _ := list(tt.query)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("%s: got %v, want %v", tt.query, got, tt.want)
				}
				if !strings.HasPrefix(count, strconv.Itoa(len(tt.want))+" ") {
					t.Fatalf("%s: count line %q for %d rows", tt.query, count, len(tt.want))
				}
			})
		}
		// The row says who owns the tenant and why it stands out.
		_, _, doc := list("q=dave")
		if row := doc.Find("#tenant-results tbody tr"); !strings.Contains(row.Text(), "dave@example.org") || !strings.Contains(row.Find(".pill.warn").Text(), "flagged") {
			t.Fatalf("delta's row: %q", row.Text())
		}
		// Search text is kept in the form and escaped.
		if _, _, doc := list("q=" + url.QueryEscape(`<b>"x`)); doc.Find("#tenant-q").AttrOr("value", "") != `<b>"x` {
			t.Fatal("the search box lost the text")
		}
		// 54 tenants match example.org: two pages by name; Next walks them, Previous comes back.
		var want []string = []string{"Delta", "Gamma"}
		for i := 0; i < 52; i++ {
			name := fmt.Sprintf("Zed %02d", i)
			tenant(name, fmt.Sprintf("z%d@example.org", i))
			want = append(want, name)
		}
		var seen, prevs []string
		next := "/admin/tenants?sort=name&q=example.org"
		for pages := 0; next != "" && pages < 5; pages++ {
			r := admin.get(next)
			if r.Status != 200 {
				t.Fatalf("%s: %d", next, r.Status)
			}
			d := r.doc(t)
			d.Find("#tenant-results tbody tr").Each(func(_ int, s *goquery.Selection) { seen = append(seen, s.Find("td:first-child a").Text()) })
			prevs = append(prevs, d.Find("a[rel=prev]").AttrOr("href", ""))
			next = d.Find("a[rel=next]").AttrOr("href", "")
		}
		if !slices.Equal(seen, want) || len(prevs) != 2 || prevs[0] != "" {
			t.Fatalf("pages by name: %v (prev links %q), want %v", seen, prevs, want)
		}
		back, count, _ := list(strings.TrimPrefix(prevs[1], "/admin/tenants?"))
		if len(back) != 50 || back[0] != "Delta" || count != "54 tenants match" {
			t.Fatalf("previous page: %d rows from %v, count %q", len(back), back[:1], count)
		}
		// HTMX asks for the results alone.
		r := admin.do("GET", "/admin/tenants?q=northwind", nil, map[string]string{"HX-Request": "true", "HX-Target": "tenant-results"})
		if r.Status != 200 || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Acme Widgets") {
			t.Fatalf("htmx: %d %.200s", r.Status, r.Body)
		}
	})
}
