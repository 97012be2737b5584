package models_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// searchFixture is a small platform: each tenant is findable by one thing only.
type searchFixture struct {
	store *models.Store
	db    modeltest.DB
	slugs map[string]string // name -> slug
	apps  map[string]*models.App
}

const searchWallet = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

func newSearchFixture(t *testing.T, db modeltest.DB) *searchFixture {
	t.Helper()
	ctx := context.Background()
	f := &searchFixture{store: models.NewStore(db.Gorm), db: db, slugs: map[string]string{}, apps: map[string]*models.App{}}
	tenant := func(name, email string) *models.Tenant {
		_, tn, err := f.store.SignUp(ctx, email, "x", name, models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		f.slugs[name] = tn.Slug
		return tn
	}
	app := func(tn *models.Tenant, slug, name string) *models.App {
		a, err := f.store.CreateApp(ctx, tn, slug, name)
		if err != nil {
			t.Fatal(err)
		}
		f.apps[slug] = a
		return a
	}
	acme := tenant("Acme Widgets", "alice@northwind.test")
	weather := app(acme, "weather-api", "Weather Forecasts")
	if _, err := f.store.AddRoute(ctx, weather, models.Route{Path: "/forecast", Access: "x402", Price: "$0.01", Amount: "10000", Network: "eip155:84532", PayTo: searchWallet, Settle: "after"}); err != nil {
		t.Fatal(err)
	}
	beta := tenant("Beta Labs", "bob@contoso.test")
	app(beta, "geo-lookup", "Geo")
	gamma := tenant("Gamma", "carol@example.org")
	delta := tenant("Delta", "dave@example.org")
	review := app(delta, "delta-app", "Delta thing")
	tenant("Epsilon", "erin@example.org")
	tenant("Zeta 100%", "zed@example.org")
	// Beta: Pro and suspended. Gamma: past due. Delta: a version waits for review. Epsilon: an open report.
	mustExec(t, db, "UPDATE tenants SET plan_key = 'pro', status = 'suspended' WHERE id = ?", beta.ID)
	if err := db.Gorm.Create(&models.Subscription{TenantID: gamma.ID, StripeSubscriptionID: "sub_gamma", Status: models.SubPastDue, PlanKey: "pro"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Create(&models.Version{AppID: review.ID, Number: 1, MainModule: "w.js", Sources: map[string]string{"w.js": "x"}, Bundle: []byte("x"), BundleName: "w.js", SHA256: "x", ReviewState: models.ReviewPending}).Error; err != nil {
		t.Fatal(err)
	}
	eps, _ := f.store.TenantBySlug(ctx, f.slugs["Epsilon"])
	if err := db.Gorm.Create(&models.AbuseReport{AppSlug: "gone", TenantID: &eps.ID, Category: "spam", Message: "spam spam spam", State: models.ReportOpen}).Error; err != nil {
		t.Fatal(err)
	}
	// A dismissed report and an approved version flag nobody.
	if err := db.Gorm.Create(&models.AbuseReport{AppSlug: "weather-api", TenantID: &acme.ID, Category: "spam", Message: "not really spam", State: models.ReportDismissed}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Create(&models.Subscription{TenantID: acme.ID, StripeSubscriptionID: "sub_acme", Status: models.SubActive, PlanKey: "pro"}).Error; err != nil {
		t.Fatal(err)
	}
	// Admins belong to no tenant and are never a match.
	if _, err := f.store.CreateUser(ctx, "root@northwind.test", "x", models.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

func mustExec(t *testing.T, db modeltest.DB, sql string, args ...any) {
	t.Helper()
	if err := db.Gorm.Exec(sql, args...).Error; err != nil {
		t.Fatal(err)
	}
}

func (f *searchFixture) names(t *testing.T, q models.TenantQuery) []string {
	t.Helper()
	p, err := f.store.SearchTenants(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range p.Rows {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	if int(p.Total) != len(out) {
		t.Errorf("%+v: total %d for %d rows", q, p.Total, len(out))
	}
	return out
}

// TestSearchTenants: every kind of search and filter on both databases.
func TestSearchTenants(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		f := newSearchFixture(t, db)
		tests := []struct {
			name string
			q    models.TenantQuery
			want []string
		}{
			{"everyone", models.TenantQuery{}, []string{"Acme Widgets", "Beta Labs", "Delta", "Epsilon", "Gamma", "Zeta 100%"}},
			{"email substring", models.TenantQuery{Search: "northwind"}, []string{"Acme Widgets"}},
			{"email any case", models.TenantQuery{Search: "BOB@CONTOSO"}, []string{"Beta Labs"}},
			{"email domain shared", models.TenantQuery{Search: "@example.org"}, []string{"Delta", "Epsilon", "Gamma", "Zeta 100%"}},
			{"tenant slug substring", models.TenantQuery{Search: "me-wid"}, []string{"Acme Widgets"}},
			{"tenant name", models.TenantQuery{Search: "lab"}, []string{"Beta Labs"}},
			{"app slug substring", models.TenantQuery{Search: "ATHER-A"}, []string{"Acme Widgets"}},
			{"app name", models.TenantQuery{Search: "forecasts"}, []string{"Acme Widgets"}},
			{"app slug", models.TenantQuery{Search: "geo-look"}, []string{"Beta Labs"}},
			{"wallet, lower case part", models.TenantQuery{Search: "bc6afc0c5328"}, []string{"Acme Widgets"}},
			{"whole wallet", models.TenantQuery{Search: searchWallet}, []string{"Acme Widgets"}},
			{"short text scans", models.TenantQuery{Search: "ze"}, []string{"Zeta 100%"}},
			{"one character", models.TenantQuery{Search: "%"}, []string{"Zeta 100%"}},
			{"% is literal", models.TenantQuery{Search: "a%b"}, nil},
			{"_ is literal", models.TenantQuery{Search: "a_i"}, nil},
			{"quote in text", models.TenantQuery{Search: `ac"me`}, nil},
			{"no match", models.TenantQuery{Search: "nobody-here"}, nil},
			{"admin email is no tenant", models.TenantQuery{Search: "root@"}, nil},
			{"plan", models.TenantQuery{Plan: "pro"}, []string{"Beta Labs"}},
			{"status", models.TenantQuery{Status: models.TenantSuspended}, []string{"Beta Labs"}},
			{"active", models.TenantQuery{Status: models.TenantActive}, []string{"Acme Widgets", "Delta", "Epsilon", "Gamma", "Zeta 100%"}},
			{"flagged", models.TenantQuery{Flagged: true}, []string{"Delta", "Epsilon"}},
			{"past due", models.TenantQuery{PastDue: true}, []string{"Gamma"}},
			{"search and filter", models.TenantQuery{Search: "example.org", Flagged: true}, []string{"Delta", "Epsilon"}},
			{"search and plan", models.TenantQuery{Search: "example.org", Plan: "pro"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := f.names(t, tt.q); !slices.Equal(got, tt.want) {
					t.Fatalf("%+v: got %v, want %v", tt.q, got, tt.want)
				}
			})
		}
		p, err := f.store.SearchTenants(context.Background(), models.TenantQuery{Search: "acme"})
		if err != nil || len(p.Rows) != 1 {
			t.Fatal(err, p)
		}
		if r := p.Rows[0]; r.OwnerEmail != "alice@northwind.test" || r.Apps != 1 || r.Users != 1 || r.PastDue || r.Flagged {
			t.Fatalf("row: %+v", r)
		}
		for _, q := range []models.TenantQuery{{Search: "gamma"}, {Search: "delta"}} {
			p, _ := f.store.SearchTenants(context.Background(), q)
			if len(p.Rows) != 1 || p.Rows[0].PastDue != (q.Search == "gamma") || p.Rows[0].Flagged != (q.Search == "delta") {
				t.Fatalf("%s: %+v", q.Search, p.Rows)
			}
		}
	})
}

// TestSearchTenantsFollowsChanges: the indexes follow renames, new routes,
// deletes and raw updates with no store method's help.
func TestSearchTenantsFollowsChanges(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		f := newSearchFixture(t, db)
		ctx := context.Background()
		find := func(text string) []string { return f.names(t, models.TenantQuery{Search: text}) }
		geo := f.apps["geo-lookup"]
		if err := f.store.RenameApp(ctx, geo, "Cartography Service"); err != nil {
			t.Fatal(err)
		}
		if got := find("cartography"); !slices.Equal(got, []string{"Beta Labs"}) {
			t.Fatalf("after rename: %v", got)
		}
		other := "0x1111111111111111111111111111111111111111"
		if _, err := f.store.AddRoute(ctx, geo, models.Route{Path: "/geo", Access: "x402", Price: "$0.01", Amount: "10000", Network: "eip155:84532", PayTo: other, Settle: "after"}); err != nil {
			t.Fatal(err)
		}
		if got := find("0x11111111"); !slices.Equal(got, []string{"Beta Labs"}) {
			t.Fatalf("after a new route: %v", got)
		}
		routes, err := f.store.Routes(ctx, f.apps["weather-api"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.DeleteRoute(ctx, f.apps["weather-api"], routes[0].ID); err != nil {
			t.Fatal(err)
		}
		if got := find("bc6afc0c5328"); got != nil {
			t.Fatalf("a deleted route's wallet still matches: %v", got)
		}
		mustExec(t, db, "UPDATE users SET email = 'carol@fabrikam.test' WHERE email = 'carol@example.org'")
		if got, old := find("fabrikam"), find("carol@example"); !slices.Equal(got, []string{"Gamma"}) || old != nil {
			t.Fatalf("after an email change: %v, old %v", got, old)
		}
		mustExec(t, db, "DELETE FROM versions")
		mustExec(t, db, "DELETE FROM apps WHERE slug = 'delta-app'")
		if got := find("delta-app"); got != nil {
			t.Fatalf("a deleted app matches: %v", got)
		}
		mustExec(t, db, "UPDATE tenants SET name = 'Omega Corp' WHERE slug = ?", f.slugs["Epsilon"])
		if got := find("omega"); !slices.Equal(got, []string{"Omega Corp"}) {
			t.Fatalf("after a tenant rename: %v", got)
		}
	})
}

// TestSearchTenantsPages: every order pages forward to the end and back to
// the start by cursor, each tenant once, in order; a bad cursor is the first page.
func TestSearchTenantsPages(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		f := newSearchFixture(t, db)
		ctx := context.Background()
		// Two tenants share a name and a plan, so ties are ordered by id.
		for _, e := range []string{"x1@example.org", "x2@example.org"} {
			if _, _, err := f.store.SignUp(ctx, e, "x", "Delta", models.RoleTenant); err != nil {
				t.Fatal(err)
			}
		}
		var all []models.Tenant
		if err := db.Gorm.Order("id").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		key := func(t models.Tenant) string { return t.Name }
		want := map[string]func(a, b models.Tenant) int{
			models.TenantSortNewest: func(a, b models.Tenant) int { return int(b.ID) - int(a.ID) },
			models.TenantSortOldest: func(a, b models.Tenant) int { return int(a.ID) - int(b.ID) },
			models.TenantSortName: func(a, b models.Tenant) int {
				if c := strings.Compare(strings.ToLower(key(a)), strings.ToLower(key(b))); c != 0 {
					return c
				}
				return int(a.ID) - int(b.ID)
			},
			models.TenantSortPlan: func(a, b models.Tenant) int {
				if c := strings.Compare(a.PlanKey, b.PlanKey); c != 0 {
					return c
				}
				return int(b.ID) - int(a.ID)
			},
		}
		for _, sort := range models.TenantSorts {
			t.Run(sort, func(t *testing.T) {
				exp := slices.Clone(all)
				slices.SortFunc(exp, want[sort])
				var wantIDs []uint
				for _, e := range exp {
					wantIDs = append(wantIDs, e.ID)
				}
				var got []uint
				var pages []models.TenantPage
				q := models.TenantQuery{Sort: sort, Limit: 3}
				for i := 0; i < 10; i++ {
					p, err := f.store.SearchTenants(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if (i == 0) != (p.Prev == "") {
						t.Fatalf("page %d: prev %q", i, p.Prev)
					}
					pages = append(pages, p)
					for _, r := range p.Rows {
						got = append(got, r.ID)
					}
					if p.Next == "" {
						break
					}
					q.After = p.Next
				}
				if !slices.Equal(got, wantIDs) {
					t.Fatalf("forward: %v, want %v", got, wantIDs)
				}
				// Back from the last page: each page is the one seen going forward.
				q = models.TenantQuery{Sort: sort, Limit: 3, Before: pages[len(pages)-1].Prev}
				for i := len(pages) - 2; i >= 0; i-- {
					p, err := f.store.SearchTenants(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.EqualFunc(p.Rows, pages[i].Rows, func(a, b models.TenantRow) bool { return a.ID == b.ID }) {
						t.Fatalf("back to page %d: %v, want %v", i, p.Rows, pages[i].Rows)
					}
					if (i == 0) != (p.Prev == "") || p.Next == "" {
						t.Fatalf("back to page %d: prev %q next %q", i, p.Prev, p.Next)
					}
					q.Before = p.Prev
				}
			})
		}
		p, err := f.store.SearchTenants(ctx, models.TenantQuery{After: "not a cursor!", Limit: 3})
		if err != nil || len(p.Rows) != 3 || p.Rows[0].ID != all[len(all)-1].ID || p.Prev != "" {
			t.Fatalf("bad cursor: %v %+v", err, p)
		}
	})
}
