package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// browserResolve reads a Location header as a browser does: tabs and
// newlines dropped, leading and trailing spaces and control characters
// trimmed, backslashes taken for slashes.
func browserResolve(t *testing.T, base, loc string) *url.URL {
	t.Helper()
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= 0x20 })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	b, _ := url.Parse(base)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q does not parse: %v", loc, err)
	}
	return b.ResolveReference(u)
}

// TestLoginNextStaysOnSite: ?next= after login only ever leads to a path on
// the portal, however the value is spelled.
func TestLoginNextStaysOnSite(t *testing.T) {
	p := startPortal(t)
	p.browser(t).signup("next@example.com", "Next")
	cases := []struct {
		next string // as the query parameter decodes
		want string // the path the browser lands on
	}{
		{"/apps", "/apps"},
		{"/apps/x/routes?tab=1#top", "/apps/x/routes"},
		{"", "/dashboard"},
		{"//evil.example", "/dashboard"},
		{`/\evil.example`, "/dashboard"},
		{`\\evil.example`, "/dashboard"},
		{"/\t/evil.example", "/dashboard"},
		{"\t//evil.example", "/dashboard"},
		{"/\n/evil.example", "/dashboard"},
		{" //evil.example", "/dashboard"},
		{"/\r\n/evil.example", "/dashboard"},
		{"https://evil.example", "/dashboard"},
		{"http:evil.example", "/dashboard"},
		{"javascript:alert(1)", "/dashboard"},
		{"/%2F%2Fevil.example", "/dashboard"},
		{"/%2f/evil.example", "/dashboard"},
		{"/\x00/evil.example", "/dashboard"},
		{"evil.example", "/dashboard"},
		{"/" + strings.Repeat("a", 600), "/dashboard"},
	}
	for _, c := range cases {
		t.Run(strings.ToValidUTF8(strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`).Replace(c.next), "?"), func(t *testing.T) {
			b := p.browser(t)
			// The login page keeps only a safe value in its form...
			page := b.get("/login?next=" + url.QueryEscape(c.next))
			kept, _ := page.doc(t).Find(`input[name=next]`).Attr("value")
			if kept != "" && browserResolve(t, p.URL, kept).Host != hostOf(t, p) {
				t.Fatalf("the login form carries next=%q", kept)
			}
			// ...and the login itself checks the posted value again.
			r := b.post("/login", url.Values{"email": {"next@example.com"}, "password": {"a good long password"}, "next": {c.next}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("login: %d", r.Status)
			}
			loc := r.Header.Get("Location")
			dest := browserResolve(t, p.URL, loc)
			if dest.Host != hostOf(t, p) || strings.ContainsAny(loc, "\t\r\n\x00\\") {
				t.Fatalf("Location %q leads to %s", loc, dest)
			}
			if dest.Path != c.want {
				t.Fatalf("landed on %q, want %q", dest.Path, c.want)
			}
		})
	}
}
