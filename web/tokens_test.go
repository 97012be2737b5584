package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

func TestTokenExpiry(t *testing.T) {
	p := startPortal(t)
	p.browser(t).signup("exp@example.com", "Exp")
	create := func(body string) resp {
		return p.api(t, "POST", "/api/v1/tokens", "", "application/json", body)
	}
	for _, bad := range []string{`0`, `-1`, `3651`, `"30"`, `1.5`} {
		r := create(`{"email":"exp@example.com","password":"a good long password","expires_in_days":` + bad + `}`)
		if r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest {
			t.Fatalf("expires_in_days %s: %d %s", bad, r.Status, r.Body)
		}
	}
	r := create(`{"email":"exp@example.com","password":"a good long password","expires_in_days":30}`)
	var out struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	if r.Status != http.StatusCreated || json.Unmarshal([]byte(r.Body), &out) != nil {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	exp, err := time.Parse(time.RFC3339, out.ExpiresAt)
	if err != nil || exp.Sub(time.Now()) < 29*24*time.Hour || exp.Sub(time.Now()) > 30*24*time.Hour+time.Minute {
		t.Fatalf("expires_at %q", out.ExpiresAt)
	}
	if me := p.api(t, "GET", "/api/v1/me", out.Token, "", ""); me.Status != http.StatusOK {
		t.Fatalf("a fresh token: %d", me.Status)
	}
	// A token without expiry has none in the answer.
	never := create(`{"email":"exp@example.com","password":"a good long password"}`)
	if never.Status != http.StatusCreated || strings.Contains(never.Body, "expires_at") {
		t.Fatalf("token without expiry: %d %s", never.Status, never.Body)
	}

	// Time passes: the token expires, the API says 401, the list says expired.
	if err := p.DB.Gorm.Model(&models.APIToken{}).Where("hash = ?", models.HashSecret(out.Token)).
		Update("expires_at", time.Now().Add(-time.Minute)).Error; err != nil {
		t.Fatal(err)
	}
	if me := p.api(t, "GET", "/api/v1/me", out.Token, "", ""); me.Status != http.StatusUnauthorized {
		t.Fatalf("an expired token: %d %s", me.Status, me.Body)
	}
	b := p.browser(t)
	if r := b.login("exp@example.com", "a good long password"); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.Status)
	}
	page := b.get("/settings").doc(t)
	if got := page.Find("#tokens td.token-expiry").First().Text(); !strings.HasPrefix(got, "never") && !strings.HasPrefix(got, "expired") {
		t.Fatalf("expiry column %q", got)
	}
	if !strings.Contains(page.Find("#tokens").Text(), "expired") {
		t.Fatalf("the list does not show the expired token")
	}

	// The settings form takes an expiry too.
	r = b.htmxPost("/settings/tokens", url.Values{"name": {"week"}, "expires": {"7"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "new-token") {
		t.Fatalf("form create: %d %.300s", r.Status, r.Body)
	}
	want := time.Now().UTC().Add(7 * 24 * time.Hour).Format("2006-01-02")
	if got := r.doc(t).Find("#tokens tbody tr").First().Find("td.token-expiry").Text(); !strings.HasPrefix(got, want) {
		t.Fatalf("new token's expiry %q, want %s…", got, want)
	}
	if r := b.htmxPost("/settings/tokens", url.Values{"name": {"bad"}, "expires": {"forever"}}); !strings.Contains(r.Body, "Choose when the token expires") {
		t.Fatalf("bad expiry: %d %.300s", r.Status, r.Body)
	}
}

// TestPasswordChangeRevokesTokens: a password changed because it leaked
// must not leave tokens minted with it working — unless the user ticks
// "keep my API tokens".
func TestPasswordChangeRevokesTokens(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("pw@example.com", "Pw")
	tok := apiToken(t, p, "pw@example.com")
	page := b.get("/settings").doc(t)
	if box := page.Find(`#password-form input[type=checkbox][name=keep_tokens]`); box.Length() != 1 || box.AttrOr("checked", "none") != "none" {
		t.Fatal("the password form lacks an unticked 'keep my API tokens' box")
	}
	if !strings.Contains(page.Find("#password-form").Text(), "revokes all your API tokens") {
		t.Fatal("the password form does not say that tokens are revoked")
	}

	// Kept: the token still works.
	r := b.htmxPost("/settings/password", url.Values{"current": {"a good long password"}, "password": {"another long password"}, "keep_tokens": {"on"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "still work") {
		t.Fatalf("change keeping tokens: %d %.300s", r.Status, r.Body)
	}
	if me := p.api(t, "GET", "/api/v1/me", tok, "", ""); me.Status != http.StatusOK {
		t.Fatalf("a kept token: %d", me.Status)
	}

	// Not kept (the default): revoked at once, and the list below the form is updated.
	r = b.htmxPost("/settings/password", url.Values{"current": {"another long password"}, "password": {"a third long password"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "revoked") {
		t.Fatalf("change: %d %.300s", r.Status, r.Body)
	}
	if oob := r.doc(t).Find(`#tokens[hx-swap-oob]`); oob.Length() != 1 || !strings.Contains(oob.Text(), "revoked") {
		t.Fatalf("the answer does not swap in the revoked token list: %.500s", r.Body)
	}
	if me := p.api(t, "GET", "/api/v1/me", tok, "", ""); me.Status != http.StatusUnauthorized {
		t.Fatalf("a token after the password change: %d", me.Status)
	}
	// Through the plain form as well.
	tok2 := func() string {
		r := p.api(t, "POST", "/api/v1/tokens", "", "application/json", `{"email":"pw@example.com","password":"a third long password"}`)
		var out struct{ Token string }
		json.Unmarshal([]byte(r.Body), &out)
		return out.Token
	}()
	if r := b.post("/settings/password", url.Values{"current": {"a third long password"}, "password": {"a fourth long password"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("plain form: %d", r.Status)
	}
	if me := p.api(t, "GET", "/api/v1/me", tok2, "", ""); me.Status != http.StatusUnauthorized {
		t.Fatalf("a token after the plain form's change: %d", me.Status)
	}
}
