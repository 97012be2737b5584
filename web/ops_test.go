package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
)

func TestOpsEndpointsAndHeaders(t *testing.T) {
	p := startPortal(t, func(o *web.Options) {
		o.ReadyChecks = []web.ReadyCheck{{Name: "edge", Check: func(context.Context) error { return errors.New("edge API unreachable") }}}
	})
	b := p.browser(t)
	if r := b.get("/healthz"); r.Status != 200 || !strings.Contains(r.Body, `"ok"`) {
		t.Fatalf("healthz %d %s", r.Status, r.Body)
	}
	r := b.get("/readyz")
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "edge API unreachable") || !strings.Contains(r.Body, `"database":"ok"`) {
		t.Fatalf("readyz %d %s", r.Status, r.Body)
	}
	r = b.get("/login")
	for h, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "strict-origin-when-cross-origin",
	} {
		if !strings.Contains(r.Header.Get(h), want) {
			t.Errorf("%s = %q", h, r.Header.Get(h))
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %s", csp)
	}
	if doc := r.doc(t); doc.Find("script:not([src])").Length() != 0 || doc.Find("[style]").Length() != 0 {
		t.Errorf("page has inline script or style the CSP would block")
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no request id")
	}
	b.get("/nope")
	m := b.get("/metrics").Body
	for _, want := range []string{`claw_http_requests_total{method="GET",route="/login",status="200"}`, `route="unmatched",status="404"`, `claw_http_request_duration_seconds_bucket{method="GET",route="/healthz"`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSettingsPasswordAndTokens(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("pw@example.com", "Pw")
	other := p.browser(t)
	other.login("pw@example.com", "a good long password")

	// Wrong current password: nothing changes.
	r := b.htmxPost("/settings/password", url.Values{"current": {"wrong"}, "password": {"another long password"}})
	if r.Status != 200 || !strings.Contains(r.Body, "not your current password") {
		t.Fatalf("wrong current: %d %s", r.Status, r.Body)
	}
	r = b.htmxPost("/settings/password", url.Values{"current": {"a good long password"}, "password": {"another long password"}})
	if !strings.Contains(r.Body, "Password changed") {
		t.Fatalf("change: %s", r.Body)
	}
	if other.get("/dashboard").Status != http.StatusSeeOther {
		t.Fatal("the other session survived a password change")
	}
	if b.get("/dashboard").Status != 200 {
		t.Fatal("the changing session was logged out")
	}
	if r := p.browser(t).login("pw@example.com", "another long password"); r.Status != http.StatusSeeOther {
		t.Fatalf("new password does not log in: %d", r.Status)
	}

	// Token creation through htmx shows the secret once; the list never shows it.
	r = b.htmxPost("/settings/tokens", url.Values{"name": {"laptop"}})
	doc := r.doc(t)
	secret := strings.TrimSpace(doc.Find("#new-token").Text())
	if !strings.HasPrefix(secret, "claw_") {
		t.Fatalf("no secret shown: %s", r.Body)
	}
	if page := b.get("/settings").Body; strings.Contains(page, secret) {
		t.Fatal("the settings page shows the secret again")
	}
	if me := p.api(t, "GET", "/api/v1/me", secret, "", ""); me.Status != 200 {
		t.Fatalf("created token does not work: %d", me.Status)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("n", 101), "\xff"} {
		r := b.htmxPost("/settings/tokens", url.Values{"name": {bad}})
		if r.doc(t).Find(".flash.error").Length() != 1 {
			t.Errorf("bad name %q accepted", bad)
		}
	}
	var n int64
	p.DB.Gorm.Model(&models.APIToken{}).Count(&n)
	if n != 1 {
		t.Fatalf("%d tokens, want 1", n)
	}
}

func TestAdminTenantList(t *testing.T) {
	p := startPortal(t)
	ctx := context.Background()
	for i := 0; i < 120; i++ {
		name := "Zed"
		if i%2 == 0 {
			name = "Acme"
		}
		if _, _, err := p.Store.SignUp(ctx, fmt.Sprintf("u%d@example.com", i), "h", name, models.RoleTenant); err != nil {
			t.Fatal(err)
		}
	}
	hash, _ := models.HashPassword("admin password 123")
	p.Store.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil)
	b := p.browser(t)
	b.login("root@example.com", "admin password 123")
	// 120 tenants, 50 a page: the Next links walk 50, 50, 20 and stop.
	doc := b.get("/admin/tenants").doc(t)
	for i, want := range []int{50, 50, 20} {
		if rows := doc.Find("tbody tr").Length(); rows != want {
			t.Fatalf("page %d has %d rows, want %d", i+1, rows, want)
		}
		next, ok := doc.Find(`.pager a[rel="next"]`).Attr("href")
		if i == 2 {
			if ok {
				t.Fatalf("the last page links to a next page: %s", next)
			}
			if _, ok := doc.Find(`.pager a[rel="prev"]`).Attr("href"); !ok {
				t.Fatal("the last page has no Previous link")
			}
			break
		}
		if !ok {
			t.Fatalf("page %d has no Next link: %s", i+1, doc.Find(".pager").Text())
		}
		doc = b.get(next).doc(t)
	}
	var r resp
	r = b.get("/admin/tenants?q=zed")
	doc = r.doc(t)
	if txt := doc.Find("tbody").Text(); strings.Contains(txt, "Acme") || !strings.Contains(txt, "Zed") {
		t.Fatalf("search for zed shows %q", txt[:min(200, len(txt))])
	}
	if r := b.get("/admin/tenants?q=" + url.QueryEscape("%_\\")); r.Status != 200 || !strings.Contains(r.Body, "No tenants match") {
		t.Fatalf("wildcard search: %d", r.Status)
	}
}

func TestMetricsToken(t *testing.T) {
	p := startPortal(t, func(o *web.Options) { o.MetricsToken = "m3trics" })
	for _, c := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer m3trics", 200}} {
		r := p.api(t, "GET", "/metrics", "", "", "")
		if c.auth != "" {
			b := p.browser(t)
			r = b.do("GET", "/metrics", nil, map[string]string{"Authorization": c.auth})
		}
		if r.Status != c.status {
			t.Fatalf("metrics with %q: %d", c.auth, r.Status)
		}
	}
}
