package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

// TestCSRFOriginAndFetchSite: an unsafe request with a valid token is still
// refused when the browser says it comes from elsewhere. "null" is what
// Chromium sends for a form on a no-referrer page; same-site is what a
// tenant's app on the portal's site (127.0.0.1:<edge> locally) looks like.
func TestCSRFOriginAndFetchSite(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("o@example.com", "O")
	cases := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no origin (not a browser)", nil, http.StatusOK},
		{"own origin", map[string]string{"Origin": p.URL}, http.StatusOK},
		{"own origin, upper case", map[string]string{"Origin": strings.ToUpper(p.URL)}, http.StatusOK},
		{"same-origin fetch", map[string]string{"Origin": p.URL, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"typed by the user", map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"origin null", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"origin null, same-site", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"tenant app on another port", map[string]string{"Origin": "http://127.0.0.1:8787"}, http.StatusForbidden},
		{"tenant app on a subdomain", map[string]string{"Origin": "http://evil.localhost:8787"}, http.StatusForbidden},
		{"same-site without origin", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"cross-site without origin", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"own origin but cross-site", map[string]string{"Origin": p.URL, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"origin with a path trick", map[string]string{"Origin": p.URL + ".evil.example"}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := count(t, p, &models.APIToken{})
			form := url.Values{"name": {"t"}, "_csrf": {b.csrf()}}
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"}
			for k, v := range c.hdr {
				h[k] = v
			}
			r := b.do("POST", "/settings/tokens", strings.NewReader(form.Encode()), h)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %.200s", r.Status, c.status, r.Body)
			}
			made := count(t, p, &models.APIToken{}) - before
			if (c.status == http.StatusOK) != (made == 1) {
				t.Fatalf("%d tokens made", made)
			}
			if c.status == http.StatusForbidden && !strings.Contains(r.Body, "another site") {
				t.Fatalf("the refusal does not say why: %.300s", r.Body)
			}
		})
	}
}

// TestCSRFPlantedCookie: a tenant's app on the portal's site can plant a
// claw_csrf cookie of its choosing (cookies ignore ports). Under the old
// double-submit scheme the planted value was a valid token; now a signed-in
// user's token is bound to the session, so neither the planted value nor a
// token the attacker got from the portal for its own cookie or its own
// session is accepted — even from a client that sends no Origin at all.
func TestCSRFPlantedCookie(t *testing.T) {
	p := startPortal(t)
	victim := p.browser(t)
	victim.signup("victim@example.com", "Victim")
	u, _ := url.Parse(p.URL)

	// The attacker's own anonymous visit and own account give it valid
	// pairs of (cookie, token) — for itself.
	attacker := p.browser(t)
	anonToken := attacker.csrf()
	anonCookie := cookie(attacker, u, "claw_csrf")
	attacker.signup("attacker@example.com", "Attacker")
	sessionToken := attacker.csrf()

	planted := strings.Repeat("A", 43)
	for _, c := range []struct{ name, cookie, token string }{
		{"planted value as token", planted, planted},
		{"attacker's anonymous pair", anonCookie, anonToken},
		{"attacker's session token", planted, sessionToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			victim.c.Jar.SetCookies(u, []*http.Cookie{{Name: "claw_csrf", Value: c.cookie, Path: "/"}})
			form := url.Values{"name": {"forged"}, "_csrf": {c.token}}
			r := victim.do("POST", "/settings/tokens", strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			if r.Status != http.StatusForbidden {
				t.Fatalf("forged post: %d, want 403", r.Status)
			}
			vu, _ := p.Store.UserByEmail(context.Background(), "victim@example.com")
			if toks, _ := p.Store.APITokens(context.Background(), vu.ID); len(toks) != 0 {
				t.Fatalf("the forged post created a token for the victim")
			}
		})
	}
	// The victim's own form still works with the cookie planted: its token
	// does not depend on that cookie.
	victim.tok = ""
	if r := victim.htmxPost("/settings/tokens", url.Values{"name": {"mine"}}); r.Status != http.StatusOK || !strings.Contains(r.Body, "new-token") {
		t.Fatalf("the victim's own post: %d %.200s", r.Status, r.Body)
	}
}

// TestCSRFTokenBoundToSession: a token is worth nothing after its session
// ends, and anonymous tokens are bound to the visitor's pre-session cookie.
func TestCSRFTokenBoundToSession(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	anon := b.csrf()
	b.signup("bound@example.com", "Bound")
	signedIn := b.csrf()
	if signedIn == anon {
		t.Fatal("the token did not change at login")
	}
	// Log out and back in: a new session, a new token; the old one is refused.
	if r := b.post("/logout", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.Status)
	}
	if r := b.login("bound@example.com", "a good long password"); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.Status)
	}
	if b.csrf() == signedIn {
		t.Fatal("a new session kept the old session's token")
	}
	form := url.Values{"name": {"stale"}, "_csrf": {signedIn}}
	if r := b.do("POST", "/settings/tokens", strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.Status != http.StatusForbidden {
		t.Fatalf("the old session's token: %d, want 403", r.Status)
	}
}
