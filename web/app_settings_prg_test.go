package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestSettingsFormsPRG: a failed plain form is answered in place (422) with its message in
// the card it belongs to and the GET address of its tab for the history; a good one
// redirects (303) and the page it lands on says what happened, once.
func TestSettingsFormsPRG(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "prg@example.com", "PRG Co", "prg")
	base := "/apps/" + a.Slug

	fails := []struct {
		name, path string
		form       url.Values
		card, msg  string // the card (CSS) holding the message, and the message
		notIn      string // a card that must not hold it
	}{
		{"delete with a wrong slug", base + "/delete", url.Values{"confirm": {"nope"}}, "section#delete", "To delete, type the slug prg exactly.", "section:has(form[action$='/rename'])"},
		{"rename to nothing", base + "/rename", url.Values{"name": {"   "}}, "section:has(form[action$='/rename'])", "", "section#delete"},
		{"listing with a bad icon", base + "/listing", url.Values{"icon_url": {"http://10.0.0.1/x.png"}}, "#listing", "", "section#delete"},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post(tc.path, tc.form)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %.300s", r.Status, r.Body)
			}
			d := r.doc(t)
			if u, _ := d.Find("body").Attr("data-replace-url"); u != base+"/settings" {
				t.Fatalf("data-replace-url %q, want %s/settings", u, base)
			}
			msg := strings.TrimSpace(d.Find(tc.card + " .err").First().Text())
			if msg == "" || (tc.msg != "" && msg != tc.msg) {
				t.Fatalf("message in %s: %q (want %q)", tc.card, msg, tc.msg)
			}
			if d.Find(tc.notIn+" .err").Length() != 0 {
				t.Fatalf("the message also shows in %s", tc.notIn)
			}
		})
	}
	// A GET never carries a replace address (it is already where it belongs).
	if _, ok := b.get(base + "/settings").doc(t).Find("body").Attr("data-replace-url"); ok {
		t.Fatal("a GET page asks to replace its address")
	}

	flash := func(d *goquery.Document) string { return strings.TrimSpace(d.Find("#flash .flash.ok").Text()) }
	oks := []struct {
		name, path string
		form       url.Values
		to, flash  string
	}{
		{"rename", base + "/rename", url.Values{"name": {"Renamed app"}}, base + "/settings", "Renamed to Renamed app."},
		{"KV on", base + "/kv", url.Values{"on": {"true"}}, base + "/settings", "KV store switched on"},
		{"KV off", base + "/kv", url.Values{"on": {"false"}}, base + "/settings", "KV store switched off"},
		{"listing", base + "/listing", url.Values{"description": {"A fine app"}}, base + "/settings#listing", "Listing saved"},
		{"delete", base + "/delete", url.Values{"confirm": {"prg"}}, "/apps", "is deleted"},
	}
	for _, tc := range oks {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post(tc.path, tc.form)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != tc.to {
				t.Fatalf("%d → %q, want 303 → %s: %.300s", r.Status, r.Header.Get("Location"), tc.to, r.Body)
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
}

// TestFlashCookieForged: a flash cookie this portal did not sign is dropped unread.
func TestFlashCookieForged(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("forge@example.com", "Forge Co")
	u, _ := url.Parse(p.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "claw_flash", Value: "WW91ciBhY2NvdW50IGlzIGxvY2tlZA.bad", Path: "/"}})
	if got := b.get("/dashboard").doc(t).Find("#flash").Text(); strings.TrimSpace(got) != "" {
		t.Fatalf("forged flash shown: %q", got)
	}
}

// TestPlainVarsEditable: a plain variable's value is on the Settings tab in an edit form that
// saves it; a secret's value never reaches the page.
func TestPlainVarsEditable(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "vars@example.com", "Vars Co", "varsapp")
	base := "/apps/" + a.Slug
	for _, f := range [][]string{{"name", "GREETING", "value", "hello there"}, {"name", "TOKEN", "value", "s3cr3t-value", "secret", "true"}} {
		if r := b.htmxForm(base+"/vars", f...); r.Status != http.StatusOK {
			t.Fatalf("set %s: %d %.300s", f[1], r.Status, r.Body)
		}
	}
	page := b.get(base + "/settings")
	if strings.Contains(page.Body, "s3cr3t-value") {
		t.Fatal("a secret's value is on the page")
	}
	in := page.doc(t).Find(`form.var-edit:has(input[name=name][value=GREETING]) input[name=value]`)
	if v, _ := in.Attr("value"); v != "hello there" {
		t.Fatalf("edit field of GREETING holds %q", v)
	}
	if page.doc(t).Find(`form.var-edit:has(input[name=name][value=TOKEN])`).Length() != 0 {
		t.Fatal("a secret has an edit form with its value")
	}
	// Editing sends the same form: the value changes, it stays plain.
	r := b.htmxForm(base+"/vars", "name", "GREETING", "value", "good morning")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "GREETING saved") {
		t.Fatalf("edit: %d %.300s", r.Status, r.Body)
	}
	if v, _ := r.doc(t).Find(`form.var-edit:has(input[name=name][value=GREETING]) input[name=value]`).Attr("value"); v != "good morning" {
		t.Fatalf("after the edit the field holds %q", v)
	}
}
