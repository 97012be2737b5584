package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestEverySuccessSaysSo: issue 16's silent successes. Every plain form that succeeds
// redirects (303, post/redirect/get) to the page it belongs to, and that page says what
// happened, once; the htmx variants of revokes say so in the fragment they swap in.
func TestEverySuccessSaysSo(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "said@example.com", "Said Co", "said")
	base := "/apps/" + a.Slug
	flash := func(d *goquery.Document) string { return strings.TrimSpace(d.Find("#flash .flash.ok").Text()) }
	// actionOf finds the action of the first form whose action matches suffix on page.
	actionOf := func(page, contains string) string {
		t.Helper()
		var found string
		b.get(page).doc(t).Find("form[action]").EachWithBreak(func(_ int, s *goquery.Selection) bool {
			if act, _ := s.Attr("action"); strings.Contains(act, contains) {
				found = act
				return false
			}
			return true
		})
		if found == "" {
			t.Fatalf("no form with %q on %s", contains, page)
		}
		return found
	}

	steps := []struct {
		name  string
		path  func() string
		form  url.Values
		to    string
		flash string
	}{
		{"new app", func() string { return "/apps" }, url.Values{"slug": {"second"}, "name": {"Second"}}, "/apps/second", "Second (second) is created"},
		{"variable saved", func() string { return base + "/vars" }, url.Values{"name": {"GREETING"}, "value": {"hi"}}, base + "/settings#vars", "GREETING saved"},
		{"variable deleted", func() string { return base + "/vars/GREETING/delete" }, url.Values{}, base + "/settings#vars", "GREETING deleted"},
		{"route added", func() string { return base + "/routes" }, url.Values{"method": {"GET"}, "path": {"/hello"}, "access": {"public"}}, base + "/routes", "Route"},
		{"egress host added", func() string { return base + "/egress" }, url.Values{"host": {"api.example.com"}}, base + "/access", "api.example.com allowed."},
		{"egress host removed", func() string { return actionOf(base+"/access", "/egress/") }, url.Values{}, base + "/access", "Removed."},
		{"API key revoked", func() string {
			b.post(base+"/keys", url.Values{"name": {"caller"}})
			return actionOf(base+"/access", "/revoke")
		}, url.Values{}, base + "/access", "Key revoked"},
		{"password changed", func() string { return "/settings/password" }, url.Values{"current": {"a good long password"}, "password": {"another good long password"}}, "/settings", "Password changed."},
		{"API token revoked", func() string {
			b.post("/settings/tokens", url.Values{"name": {"laptop"}})
			return actionOf("/settings", "/revoke")
		}, url.Values{}, "/settings", "Token revoked"},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post(tc.path(), tc.form)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != tc.to {
				t.Fatalf("%d → %q, want 303 → %s: %.400s", r.Status, r.Header.Get("Location"), tc.to, r.Body)
			}
			to, _, _ := strings.Cut(tc.to, "#")
			if got := flash(b.get(to).doc(t)); !strings.Contains(got, tc.flash) {
				t.Fatalf("flash %q, want it to contain %q", got, tc.flash)
			}
			if got := flash(b.get(to).doc(t)); got != "" {
				t.Fatalf("the flash shows twice: %q", got)
			}
		})
	}

	// htmx revokes swap their list and say so inside it.
	t.Run("htmx revokes", func(t *testing.T) {
		b.post("/settings/tokens", url.Values{"name": {"ci"}})
		r := b.htmxPost(actionOf("/settings", "/revoke"), url.Values{})
		if r.Status != http.StatusOK || !strings.Contains(r.doc(t).Find("#tokens .flash.ok").Text(), "Token revoked") {
			t.Fatalf("token revoke over htmx: %d %.400s", r.Status, r.Body)
		}
		b.post(base+"/keys", url.Values{"name": {"other"}})
		r = b.htmxPost(actionOf(base+"/access", "/revoke"), url.Values{})
		if r.Status != http.StatusOK || !strings.Contains(r.doc(t).Find(".flash.ok").Text(), "Key revoked") {
			t.Fatalf("key revoke over htmx: %d %.400s", r.Status, r.Body)
		}
	})
}
