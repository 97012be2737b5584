package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

func TestAppListingForm(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("owner@example.com", "Owner")
	ctx := context.Background()
	u, _ := p.Store.UserByEmail(ctx, "owner@example.com")
	if _, err := p.Store.CreateApp(ctx, u.Tenant, "wx-app", "Weather"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		form     url.Values
		status   int
		message  string
		wantTags string
	}{
		{"icon on an IP", url.Values{"tags": {"a"}, "icon_url": {"https://10.0.0.1/i.png"}}, 422, "not an IP address", ""},
		{"icon with userinfo", url.Values{"icon_url": {"https://u:p@example.com/i.png"}}, 422, "user name", ""},
		{"tag with a control character", url.Values{"tags": {"ok, bad\x07tag"}}, 422, "control", ""},
		{"six tags", url.Values{"tags": {"a,b,c,d,e,f"}}, 422, "at most 5", ""},
		{"good", url.Values{"description": {"Forecasts"}, "tags": {"weather, maps"}, "icon_url": {"https://example.com/i.png"}, "listed": {"true"}}, 303, "", "weather,maps"},
	} {
		r := b.post("/apps/wx-app/listing", tc.form)
		if r.Status != tc.status || !strings.Contains(r.Body, tc.message) {
			t.Fatalf("%s: %d, want %d with %q; %.300s", tc.name, r.Status, tc.status, tc.message, r.Body)
		}
		a, err := p.Store.AppBySlug(ctx, u.Tenant.ID, "wx-app")
		if err != nil {
			t.Fatal(err)
		}
		if a.Tags != tc.wantTags || a.Listed != (tc.status == 303) {
			t.Errorf("%s: stored tags %q listed %v: a refused form must store nothing", tc.name, a.Tags, a.Listed)
		}
	}
	r := b.get("/apps/wx-app/settings")
	d := r.doc(t)
	if v, _ := d.Find("#listing-tags").Attr("value"); v != "weather,maps" {
		t.Errorf("settings tab shows tags %q", v)
	}
	if _, ok := d.Find(`input[name="listed"]`).Attr("checked"); !ok {
		t.Error("listed box not checked after saving")
	}
}
