package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
)

// world is a portal with two tenants (A and B), an admin, and a browser and
// API token for each.
type world struct {
	p                  *portal
	anon, a, b, admin  *browser
	tokA, tokB, tokAdm string
	tokenOfB           uint
}

func newWorld(t *testing.T, mutate ...func(*web.Options)) *world {
	p := startPortal(t, mutate...)
	w := &world{p: p, anon: p.browser(t), a: p.browser(t), b: p.browser(t), admin: p.browser(t)}
	w.a.signup("a@example.com", "Tenant A")
	w.b.signup("b@example.com", "Tenant B")
	ctx := context.Background()
	hash, _ := models.HashPassword("admin password 123")
	adm, err := p.Store.CreateUser(ctx, "admin@example.com", hash, models.RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.admin.login("admin@example.com", "admin password 123"); r.Status != http.StatusSeeOther {
		t.Fatalf("admin login: %d", r.Status)
	}
	ua, _ := p.Store.UserByEmail(ctx, "a@example.com")
	ub, _ := p.Store.UserByEmail(ctx, "b@example.com")
	_, w.tokA, _ = p.Store.CreateAPIToken(ctx, ua.ID, "a", 0)
	_, w.tokB, _ = p.Store.CreateAPIToken(ctx, ub.ID, "b", 0)
	tb, _, _ := p.Store.CreateAPIToken(ctx, ub.ID, "b-spare", 0)
	w.tokenOfB = tb.ID
	_, w.tokAdm, _ = p.Store.CreateAPIToken(ctx, adm.ID, "adm", 0)
	// B owns an app; A and the admin must not reach it.
	if _, err := p.Store.CreateApp(ctx, ub.Tenant, "b-app", "B app"); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestAuthorizationMatrix: every route against every kind of caller, as one table, in a portal
// without billing and in one with (demo) billing, whose routes exist only there.
func TestAuthorizationMatrix(t *testing.T) {
	t.Run("billing off", func(t *testing.T) { authorizationMatrix(t, newWorld(t), false) })
	t.Run("billing on", func(t *testing.T) {
		authorizationMatrix(t, newWorld(t, func(o *web.Options) {
			svc, err := billing.New(billing.Options{Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL,
				Demo: true, Usage: o.Store.TenantUsage})
			if err != nil {
				t.Fatal(err)
			}
			o.Billing = svc
		}), true)
	})
}

func authorizationMatrix(t *testing.T, w *world, billingOn bool) {
	ctx := context.Background()
	// B's app has a version and a deployment, a route, an API key, an egress host and a
	// variable, so the rows naming them by id reach real rows: A must not touch them.
	ub := mustUser(t, w.p, "b@example.com")
	bApp, err := w.p.Store.AppBySlug(ctx, ub.Tenant.ID, "b-app")
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.p.Store.CreateVersion(ctx, bApp, ub.ID, models.NewVersion{MainModule: "index.js",
		Sources: map[string]string{"index.js": "export default {}"}, Bundle: []byte("export default {}"), Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := w.p.Store.Deploy(ctx, bApp, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := w.p.Store.AddRoute(ctx, bApp, models.Route{Method: "GET", Path: "/r", Access: models.AccessPublic})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := w.p.Store.CreateAPIKey(ctx, bApp, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.p.Store.AddEgress(ctx, bApp, "api.example.com"); err != nil {
		t.Fatal(err)
	}
	egress, err := w.p.Store.EgressRules(ctx, bApp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.p.Store.SetVar(ctx, bApp, "GREETING", "hi", false, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	bRoute := fmt.Sprintf("/apps/b-app/routes/%d", routes[0].ID)
	type expect struct{ anon, tenant, other, admin int }
	see, login, none, forbidden := http.StatusOK, http.StatusSeeOther, http.StatusNotFound, http.StatusForbidden
	saved := http.StatusSeeOther // a plain form that succeeds redirects (post/redirect/get)
	revokeB := fmt.Sprintf("/settings/tokens/%d/revoke", w.tokenOfB)
	// The "tenant" column is tenant A acting on B's data, "other" is B itself (the owner); for
	// the token revoke it is A trying B's token, which must not revoke it.
	type matrixRow struct {
		method, path string
		want         expect
	}
	unauth, bad, invalid, accepted := http.StatusUnauthorized, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusAccepted
	cases := []matrixRow{
		{"GET", "/", expect{see, see, see, see}},
		{"GET", "/signup", expect{see, login, login, login}},
		{"GET", "/login", expect{see, login, login, login}},
		{"GET", "/pricing-does-not-exist", expect{none, none, none, none}},
		{"GET", "/dashboard", expect{login, see, see, login}},
		{"GET", "/apps", expect{login, see, see, http.StatusForbidden}}, // admins without a tenant have no apps
		{"GET", "/usage", expect{login, see, see, forbidden}},
		{"GET", "/settings", expect{login, see, see, see}},
		{"POST", "/settings/tokens", expect{login, see, see, see}},
		{"POST", revokeB, expect{login, none, saved, none}},
		{"GET", "/admin/", expect{login, none, none, see}},
		{"GET", "/admin/tenants", expect{login, none, none, see}},
		{"GET", "/healthz", expect{see, see, see, see}},
		{"GET", "/favicon.ico", expect{see, see, see, see}},
		{"GET", "/favicon.svg", expect{see, see, see, see}},
		{"GET", "/docs", expect{see, see, see, see}},
		{"GET", "/readyz", expect{see, see, see, see}},
		{"GET", "/metrics", expect{see, see, see, see}},
		{"GET", "/api/v1/openapi.json", expect{see, see, see, see}},
		{"GET", "/discovery/resources", expect{see, see, see, see}},
		{"GET", "/api/v1/me", expect{http.StatusUnauthorized, see, see, see}},
		{"POST", "/api/v1/reports", expect{http.StatusBadRequest, http.StatusBadRequest, http.StatusBadRequest, http.StatusBadRequest}},
		// B's app: A gets 404 (no existence leak), the admin has no tenant (403).
		{"GET", "/apps/b-app", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/versions", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/settings", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/routes", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/access", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/payments", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/logs", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/usage", expect{login, none, see, forbidden}},
		{"GET", "/usage?app=b-app", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/logs?level=bogus&cursor=1", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/logs/live", expect{login, none, see, forbidden}},
		{"POST", "/apps/b-app/rename", expect{login, none, login, forbidden}},
		{"POST", "/apps/b-app/listing", expect{login, none, login, forbidden}},
		{"POST", "/apps/b-app/vars", expect{login, none, saved, forbidden}},
		{"POST", "/apps/b-app/keys", expect{login, none, see, forbidden}},
		{"POST", "/apps/b-app/egress", expect{login, none, http.StatusUnprocessableEntity, forbidden}},
		{"POST", "/apps/b-app/routes", expect{login, none, http.StatusUnprocessableEntity, forbidden}},
		{"POST", "/apps/b-app/deployments", expect{login, none, http.StatusBadRequest, forbidden}},
		{"POST", "/apps/b-app/check", expect{login, none, see, forbidden}},
		{"POST", "/apps/b-app/console", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/console/logs?request_id=0123456789abcdef0123456789abcdef", expect{login, none, see, forbidden}},
		{"GET", "/admin/sync", expect{login, none, none, see}},
		{"GET", "/admin/review", expect{login, none, none, see}},
		{"GET", "/admin/review/999999", expect{login, none, none, none}},
		{"POST", "/admin/review/999999/decision", expect{login, none, none, none}},
		{"GET", "/admin/rules", expect{login, none, none, see}},
		{"POST", "/admin/rules", expect{login, none, none, http.StatusUnprocessableEntity}},
		{"GET", "/admin/rules/999999", expect{login, none, none, none}},
		{"POST", "/admin/rules/999999", expect{login, none, none, none}},
		{"POST", "/admin/rules/999999/toggle", expect{login, none, none, none}},
		{"GET", "/admin/rules/999999/delete", expect{login, none, none, none}},
		{"POST", "/admin/rules/999999/delete", expect{login, none, none, none}},
		{"GET", "/admin/rescan", expect{login, none, none, see}},
		{"POST", "/admin/reports/999999/decision", expect{login, none, none, none}},
		{"GET", "/admin/reports", expect{login, none, none, see}},
		{"GET", "/admin/audit", expect{login, none, none, see}},
		{"GET", "/admin/audit?from=yesterday", expect{login, none, none, http.StatusBadRequest}},
		{"GET", "/admin/audit.csv", expect{login, none, none, see}},
		{"GET", "/admin/economics", expect{login, none, none, see}},
		{"GET", "/admin/economics?month=2026-13", expect{login, none, none, http.StatusBadRequest}},
		{"POST", "/admin/economics", expect{login, none, none, http.StatusUnprocessableEntity}},
		{"GET", "/admin/facilitators", expect{login, none, none, see}},
		{"GET", "/admin/facilitators/999999", expect{login, none, none, none}},
		{"POST", "/admin/facilitators", expect{login, none, none, http.StatusUnprocessableEntity}},
		{"POST", "/admin/facilitators/check", expect{login, none, none, login}}, // re-reads /supported, back to the list
		{"POST", "/admin/facilitators/999999", expect{login, none, none, none}},
		{"POST", "/admin/facilitators/999999/delete", expect{login, none, none, login}}, // nothing to delete: back to the list
		{"POST", "/admin/rescan", expect{login, none, none, login}},
		{"GET", "/admin/reports?state=dismissed", expect{login, none, none, see}},
		{"GET", "/report", expect{see, see, see, see}},
		{"POST", "/report", expect{http.StatusUnprocessableEntity, http.StatusUnprocessableEntity, http.StatusUnprocessableEntity, http.StatusUnprocessableEntity}},
		{"GET", "/admin/tenants/nope/suspend", expect{login, none, none, none}},
		{"POST", "/admin/tenants/nope/suspend", expect{login, none, none, none}},
		{"POST", "/admin/tenants/nope/reinstate", expect{login, none, none, none}},
		{"GET", "/admin/tenants/nope", expect{login, none, none, none}},
		{"GET", "/admin/tenants/nope/apps/b-app/takedown", expect{login, none, none, none}},
		{"POST", "/admin/tenants/nope/apps/b-app/takedown", expect{login, none, none, none}},
		{"GET", "/admin/tenants/nope/all-apps/takedown", expect{login, none, none, none}},
		{"POST", "/admin/tenants/nope/all-apps/takedown", expect{login, none, none, none}},
		{"POST", "/admin/plans/nope/review-policy", expect{login, none, none, none}},
		{"POST", "/admin/tenants/nope/review-policy", expect{login, none, none, none}},
		{"GET", "/api/v1/apps", expect{http.StatusUnauthorized, see, see, see}},
		{"GET", "/api/v1/apps/b-app", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/routes", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/usage", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/usage?granularity=day&from=2026-01-01&to=2026-02-01", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/payments", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/logs", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/logs?request_id=x&after=1", expect{http.StatusUnauthorized, none, see, forbidden}},
		{"DELETE", "/api/v1/apps/b-app/vars/NOPE", expect{http.StatusUnauthorized, none, none, forbidden}},
		{"POST", "/internal/telemetry", expect{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized}},
		{"GET", "/catalog", expect{see, see, see, see}},
		{"GET", "/llms.txt", expect{see, see, see, see}},
		{"GET", "/a/b-app", expect{none, none, none, none}},
		{"GET", "/a/b-app/llms.txt", expect{none, none, none, none}},
		{"GET", "/a/b-app/openapi.json", expect{none, none, none, none}},
		{"POST", "/api/v1/signup", expect{bad, bad, bad, bad}},
		{"POST", "/api/v1/tokens", expect{bad, bad, bad, bad}},
		{"POST", "/api/v1/apps", expect{unauth, bad, bad, forbidden}},
		{"PATCH", "/api/v1/apps/b-app", expect{unauth, none, bad, forbidden}},
		{"GET", "/api/v1/apps/b-app/versions", expect{unauth, none, see, forbidden}},
		{"POST", "/api/v1/apps/b-app/versions", expect{unauth, none, bad, forbidden}},
		{"POST", "/api/v1/apps/b-app/deployments", expect{unauth, none, accepted, forbidden}},
		{"GET", fmt.Sprintf("/api/v1/apps/b-app/deployments/%d", dep.ID), expect{unauth, none, see, forbidden}},
		{"GET", "/api/v1/apps/b-app/egress", expect{unauth, none, see, forbidden}},
		{"PUT", "/api/v1/apps/b-app/egress", expect{unauth, none, bad, forbidden}},
		{"GET", "/api/v1/apps/b-app/usage", expect{unauth, none, see, forbidden}},
		{"PUT", "/api/v1/apps/b-app/routes", expect{unauth, none, bad, forbidden}},
		{"PUT", "/api/v1/apps/b-app/vars/NOPE", expect{unauth, none, bad, forbidden}},
		{"POST", "/signup", expect{invalid, invalid, invalid, invalid}},
		{"POST", "/login", expect{unauth, unauth, unauth, unauth}},
		{"POST", "/apps", expect{login, invalid, invalid, forbidden}},
		{"POST", "/apps/b-app/versions", expect{login, none, invalid, forbidden}},
		{"GET", fmt.Sprintf("/apps/b-app/deployments/%d", dep.ID), expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/payments.csv", expect{login, none, see, forbidden}},
		{"GET", "/apps/b-app/usage.csv", expect{login, none, see, forbidden}},
		{"GET", "/usage.csv", expect{login, see, see, forbidden}},
		{"POST", "/apps/b-app/kv", expect{login, none, saved, forbidden}},
		{"POST", "/apps/b-app/resume", expect{login, none, saved, forbidden}},
		{"POST", bRoute, expect{login, none, invalid, forbidden}},
		{"POST", bRoute + "/move", expect{login, none, bad, forbidden}},
		{"POST", bRoute + "/try", expect{login, none, see, forbidden}},
		{"POST", "/settings/password", expect{login, invalid, invalid, invalid}},
		{"POST", "/settings/wallets", expect{login, invalid, invalid, forbidden}}, // no password sent; admins have no tenant
	}
	if !billingOn {
		cases = append(cases, matrixRow{"GET", "/billing", expect{login, see, see, see}}) // says billing is off
	} else {
		cases = append(cases, []matrixRow{
			{"GET", "/billing", expect{login, see, see, forbidden}}, // admins without a tenant have no plan
			{"GET", "/pricing", expect{see, see, see, see}},
			{"POST", "/billing/checkout", expect{login, saved, saved, forbidden}},
			{"POST", "/billing/portal", expect{login, saved, saved, forbidden}},
			{"GET", "/billing/demo-checkout", expect{login, see, see, forbidden}},
			{"POST", "/billing/demo-checkout", expect{login, invalid, invalid, forbidden}},
			{"POST", "/billing/demo-cancel", expect{login, http.StatusConflict, http.StatusConflict, forbidden}},
			{"GET", "/admin/plans", expect{login, none, none, see}},
			{"POST", "/admin/plans/nope", expect{login, none, none, none}},
			{"POST", "/admin/tenants/nope/plan", expect{login, none, none, invalid}},
			{"POST", "/stripe/webhook", expect{bad, bad, bad, bad}},
		}...)
	}
	// Rows that delete what they reach come last, and logging out last of all.
	cases = append(cases, []matrixRow{
		{"POST", fmt.Sprintf("/apps/b-app/keys/%d/revoke", key.ID), expect{login, none, saved, forbidden}},
		{"POST", fmt.Sprintf("/apps/b-app/egress/%d/delete", egress[0].ID), expect{login, none, saved, forbidden}},
		{"POST", "/apps/b-app/vars/GREETING/delete", expect{login, none, saved, forbidden}},
		{"POST", bRoute + "/delete", expect{login, none, saved, forbidden}},
		{"POST", "/apps/b-app/delete", expect{login, none, invalid, forbidden}},
		{"DELETE", "/api/v1/apps/b-app", expect{unauth, none, accepted, forbidden}},
		{"POST", "/logout", expect{login, login, login, login}},
	}...)
	// Every registered route has a row: a new URL cannot slip in without saying who may call it.
	t.Run("every route has a row", func(t *testing.T) {
		var rows []string
		for _, c := range cases {
			rows = append(rows, c.method+" "+strings.SplitN(c.path, "?", 2)[0])
		}
		for _, missing := range web.RoutesWithoutRow(w.p.App, rows) {
			t.Errorf("route %s has no row in the authorization matrix", missing)
		}
	})
	callers := []struct {
		name  string
		b     *browser
		token string
		pick  func(expect) int
	}{
		{"anonymous", w.anon, "", func(e expect) int { return e.anon }},
		{"tenant", w.a, w.tokA, func(e expect) int { return e.tenant }},
		{"other tenant", w.b, w.tokB, func(e expect) int { return e.other }},
		{"admin", w.admin, w.tokAdm, func(e expect) int { return e.admin }},
	}
	for _, c := range cases {
		for _, who := range callers {
			t.Run(c.method+" "+c.path+" as "+who.name, func(t *testing.T) {
				var r resp
				switch {
				case c.path == "/internal/telemetry":
					r = w.p.api(t, c.method, c.path, who.token, "application/json", `{"events":[]}`)
				case strings.HasPrefix(c.path, "/api/"):
					r = w.p.api(t, c.method, c.path, who.token, "", "")
				case c.method == "POST":
					r = who.b.post(c.path, url.Values{"name": {"matrix"}})
				default:
					r = who.b.get(c.path)
				}
				if want := who.pick(c.want); r.Status != want {
					t.Fatalf("status %d, want %d; body %.200s", r.Status, want, r.Body)
				}
				// Every page must work under the CSP: no inline script or style.
				if strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
					d := r.doc(t)
					if d.Find("script:not([src])").Length() > 0 || d.Find("[style]").Length() > 0 {
						t.Fatalf("page has inline script or style, which the CSP blocks")
					}
					ids := map[string]bool{}
					d.Find("[id]").Each(func(_ int, el *goquery.Selection) {
						id, _ := el.Attr("id")
						if ids[id] {
							t.Errorf("duplicate id %q on the page", id)
						}
						ids[id] = true
					})
				}
			})
		}
	}
	// A and the admin posted to B's revoke URL and got 404; B's own post revoked it.
	toks, _ := w.p.Store.APITokens(context.Background(), mustUser(t, w.p, "b@example.com").ID)
	for _, tk := range toks {
		if tk.ID == w.tokenOfB && tk.RevokedAt == nil {
			t.Fatalf("B's own revoke did not take effect")
		}
	}
}

func mustUser(t *testing.T, p *portal, email string) *models.User {
	u, err := p.Store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOtherTenantCannotRevoke checks the matrix's subtle row directly: A's
// request for B's token changes nothing.
func TestOtherTenantCannotRevoke(t *testing.T) {
	w := newWorld(t)
	r := w.a.htmxPost(fmt.Sprintf("/settings/tokens/%d/revoke", w.tokenOfB), nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "No such token") {
		t.Fatalf("A revoking B's token: %d %s", r.Status, r.Body)
	}
	if got := w.p.api(t, "GET", "/api/v1/me", w.tokB, "", ""); got.Status != http.StatusOK {
		t.Fatalf("B's token stopped working after A's attempt: %d", got.Status)
	}
}

func TestSignupPageBadInput(t *testing.T) {
	p := startPortal(t)
	existing := p.browser(t)
	existing.signup("taken@example.com", "Taken")
	// Long, but within the 4 KiB that sign-up forms may send (bodylimit_test.go covers more).
	long := strings.Repeat("a", 3000) + "@example.com"
	cases := []struct {
		name, email, password, tenant string
		status                        int
		field, msg                    string
	}{
		{"empty", "", "", "", 422, "email", "Enter your email"},
		{"huge email", long, "a good long password", "X", 422, "email", "too long"},
		{"malformed email", "not-an-email", "a good long password", "X", 422, "email", "does not look like"},
		{"non-utf8 email", "a\xff@example.com", "a good long password", "X", 422, "email", "UTF-8"},
		{"weak password", "w@example.com", "short", "X", 422, "password", "at least 10"},
		{"guessable password", "w@example.com", "password12", "X", 422, "password", "too easy"},
		{"non-utf8 tenant", "w@example.com", "a good long password", "\xfe\xff", 422, "tenant", "UTF-8"},
		{"tenant too long", "w@example.com", "a good long password", strings.Repeat("x", 101), 422, "tenant", "at most 100"},
		{"duplicate email", "TAKEN@example.com", "a good long password", "Other", 422, "email", "already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := count(t, p, &models.User{}) + count(t, p, &models.Tenant{})
			b := p.browser(t)
			r := b.post("/signup", url.Values{"email": {c.email}, "password": {c.password}, "tenant": {c.tenant}})
			if r.Status != c.status {
				t.Fatalf("status %d, want %d", r.Status, c.status)
			}
			if len(r.Body) > 100_000 {
				t.Fatalf("the page echoed the oversized input (%d bytes)", len(r.Body))
			}
			errText := r.doc(t).Find(fmt.Sprintf(`input[name=%s] ~ small.err`, c.field)).Text()
			if !strings.Contains(errText, c.msg) {
				t.Fatalf("field %s error %q, want it to contain %q", c.field, errText, c.msg)
			}
			if after := count(t, p, &models.User{}) + count(t, p, &models.Tenant{}); after != before {
				t.Fatalf("a rejected sign-up wrote rows: %d -> %d", before, after)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("c@example.com", "C")
	cases := []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"missing token", url.Values{"_csrf": {""}, "name": {"x"}}, nil},
		{"wrong token", url.Values{"_csrf": {strings.Repeat("x", 43)}, "name": {"x"}}, nil},
		{"foreign origin", url.Values{"name": {"x"}}, map[string]string{"Origin": "https://evil.example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := c.form["_csrf"]; !ok {
				c.form.Set("_csrf", b.csrf())
			}
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			for k, v := range c.hdr {
				h[k] = v
			}
			r := b.do("POST", "/settings/tokens", strings.NewReader(c.form.Encode()), h)
			if r.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", r.Status)
			}
			if n := count(t, p, &models.APIToken{}); n != 0 {
				t.Fatalf("a forged request created %d tokens", n)
			}
		})
	}
	// Logging in without the token is refused too (login CSRF).
	anon := p.browser(t)
	r := anon.do("POST", "/login", strings.NewReader("email=c%40example.com&password=a+good+long+password"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.Status != http.StatusForbidden {
		t.Fatalf("login without csrf: %d", r.Status)
	}
}

func TestLoginLogoutAndSessions(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("s@example.com", "S")
	u, _ := url.Parse(p.URL)
	firstSession := cookie(b, u, "claw_session")

	// One generic message for an unknown email and a wrong password.
	for _, c := range []struct{ email, pw string }{{"nobody@example.com", "whatever123"}, {"s@example.com", "wrong password!"}, {"\xff", "x"}} {
		anon := p.browser(t)
		r := anon.login(c.email, c.pw)
		if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong email or password.") {
			t.Fatalf("login %q: %d", c.email, r.Status)
		}
	}
	// Log out ends the session on the server: replaying the old cookie fails.
	if r := b.post("/logout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.Status)
	}
	replay := p.browser(t)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "claw_session", Value: firstSession}})
	if r := replay.get("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("old session cookie still valid after logout: %d", r.Status)
	}
	// A new login gets a new session id.
	if r := b.login("s@example.com", "a good long password"); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	if s := cookie(b, u, "claw_session"); s == "" || s == firstSession {
		t.Fatalf("session id not rotated on login")
	}
	if r := b.get("/dashboard"); r.Status != http.StatusOK {
		t.Fatalf("dashboard after login: %d", r.Status)
	}
	// A forged cookie is treated as anonymous.
	forged := p.browser(t)
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "claw_session", Value: models.NewSecret(32)}})
	if r := forged.get("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("forged session: %d", r.Status)
	}
	// An expired session (absolute limit passed) is refused.
	p.DB.Gorm.Model(&models.Session{}).Where("1=1").Update("expires_at", time.Now().Add(-time.Minute))
	if r := b.get("/dashboard"); r.Status != http.StatusSeeOther {
		t.Fatalf("expired session still valid: %d", r.Status)
	}
}

func cookie(b *browser, u *url.URL, name string) string {
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func TestCookieFlags(t *testing.T) {
	for _, c := range []struct {
		base   string
		secure bool
	}{{"http://portal.test", false}, {"https://portal.test", true}} {
		p := startPortal(t, func(o *web.Options) { o.BaseURL = c.base })
		b := p.browser(t)
		b.csrf()
		r := b.post("/signup", url.Values{"email": {"f@example.com"}, "password": {"a good long password"}, "tenant": {"F"}})
		// Under https the cookies carry the __Host- prefix, which browsers
		// honour only with Secure, Path=/ and no Domain: a tenant's app on a
		// sibling subdomain or plain http cannot plant or overwrite them.
		name := "claw_session="
		if c.secure {
			name = "__Host-claw_session="
		}
		var sc string
		for _, v := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, name) {
				sc = v
			}
		}
		if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "secure") != c.secure ||
			!strings.Contains(sc, "path=/") || strings.Contains(strings.ToLower(sc), "domain=") {
			t.Fatalf("%s: session cookie %q", c.base, sc)
		}
		for _, v := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "claw_") == c.secure {
				t.Fatalf("%s: cookie %q without the right prefix", c.base, v)
			}
		}
		if hsts := r.Header.Get("Strict-Transport-Security"); (hsts != "") != c.secure {
			t.Fatalf("%s: HSTS %q", c.base, hsts)
		}
	}
}

func TestRateLimit(t *testing.T) {
	p := startPortal(t, func(o *web.Options) { o.AuthRate = 3 })
	b := p.browser(t)
	for i := 0; i < 3; i++ {
		if r := b.login("x@example.com", "wrong password"); r.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	r := b.login("x@example.com", "wrong password")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: %d retry-after %q", r.Status, r.Header.Get("Retry-After"))
	}
	// Sign-up through the API shares the limit; nothing is written.
	api := p.api(t, "POST", "/api/v1/signup", "", "application/json", `{"email":"r@example.com","password":"a good long password","tenant":"R"}`)
	if api.Status != http.StatusTooManyRequests || count(t, p, &models.User{}) != 0 {
		t.Fatalf("api signup over the limit: %d", api.Status)
	}
}

func TestSignupClosed(t *testing.T) {
	p := startPortal(t, func(o *web.Options) { o.SignupOpen = false })
	b := p.browser(t)
	if r := b.get("/signup"); !strings.Contains(r.Body, "Sign-up is closed") {
		t.Fatalf("signup page does not say closed")
	}
	if r := b.post("/signup", url.Values{"email": {"z@example.com"}, "password": {"a good long password"}, "tenant": {"Z"}}); r.Status != http.StatusForbidden {
		t.Fatalf("closed signup post: %d", r.Status)
	}
	if r := p.api(t, "POST", "/api/v1/signup", "", "application/json", `{"email":"z@example.com","password":"a good long password","tenant":"Z"}`); r.Status != http.StatusForbidden {
		t.Fatalf("closed api signup: %d", r.Status)
	}
	if count(t, p, &models.User{}) != 0 {
		t.Fatal("closed sign-up wrote a user")
	}
}

// TestRateLimitBehindProxy: behind a trusted proxy the limit keys on the
// rightmost hop the proxy saw; a client rotating the header's left part
// (which it writes itself) keeps its one bucket. Clients of different
// addresses keep theirs.
func TestRateLimitBehindProxy(t *testing.T) {
	p := startPortal(t, func(o *web.Options) {
		o.AuthRate = 3
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	b := p.browser(t)
	b.csrf()
	attempt := func(xff string) int {
		form := url.Values{"email": {"x@example.com"}, "password": {"wrong password"}, "_csrf": {b.csrf()}}
		return b.do("POST", "/login", strings.NewReader(form.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": xff}).Status
	}
	for i := 0; i < 3; i++ {
		if s := attempt(fmt.Sprintf("10.%d.0.1, 203.0.113.7", i)); s != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	if s := attempt("10.99.0.1, 203.0.113.7"); s != http.StatusTooManyRequests {
		t.Fatalf("4th attempt with a rotated left hop: %d, want 429", s)
	}
	if s := attempt("203.0.113.8"); s != http.StatusUnauthorized {
		t.Fatalf("another client: %d, want its own bucket", s)
	}
}
