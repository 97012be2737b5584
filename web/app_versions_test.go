package web_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestVersionsDefaultDiff: the Versions tab opens on what the last save changed (the newest
// version against the one before it) and names the author and message of both.
func TestVersionsDefaultDiff(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("diff@example.com", "Diff")
	if r := b.post("/apps", url.Values{"slug": {"diff-app"}, "name": {"Diff"}}); r.Status != 303 {
		t.Fatalf("create: %d", r.Status)
	}
	r := b.get("/apps/diff-app/versions")
	if doc := r.doc(t); doc.Find("h2:contains('Diff v')").Length() != 0 {
		t.Fatalf("a diff is shown without versions")
	}
	saves := []struct{ code, msg string }{
		{"export default { fetch() { return new Response('one') } }", "first cut"},
		{"export default { fetch() { return new Response('two') } }", "say two"},
		{"export default { fetch() { return new Response('three') } }", "say three"},
	}
	for i, s := range saves {
		if r := b.post("/apps/diff-app/versions", url.Values{"main_module": {"index.js"}, "code": {s.code}, "message": {s.msg}}); r.Status != 200 {
			t.Fatalf("save %d: %d", i+1, r.Status)
		}
		doc := b.get("/apps/diff-app/versions").doc(t)
		title := strings.TrimSpace(doc.Find("h2:contains('Diff v')").Text())
		if i == 0 {
			if title != "" {
				t.Fatalf("one version, yet a diff %q", title)
			}
			continue
		}
		if want := "Diff v" + strconv.Itoa(i) + " → v" + strconv.Itoa(i+1); title != want {
			t.Fatalf("default diff after save %d is %q, want %q", i+1, title, want)
		}
		meta := doc.Find(".diff-versions").Text()
		for _, want := range []string{saves[i-1].msg, s.msg, "diff@example.com"} {
			if !strings.Contains(meta, want) {
				t.Fatalf("the diff header lacks %q: %q", want, meta)
			}
		}
		diff := doc.Find("table.diff").Text()
		if !strings.Contains(diff, "'"+strings.Fields(s.msg)[1]+"'") {
			t.Fatalf("the diff does not show the new line: %q", diff)
		}
		if sel, _ := doc.Find("select[name=from] option[selected]").Attr("value"); sel == "" {
			t.Fatalf("the compare form does not preselect the versions shown")
		}
	}
	// An explicit choice still wins.
	doc := b.get("/apps/diff-app/versions").doc(t)
	ids := doc.Find("select[name=from] option").Map(func(_ int, s *goquery.Selection) string { v, _ := s.Attr("value"); return v })
	doc = b.get("/apps/diff-app/versions?from=" + ids[2] + "&to=" + ids[0]).doc(t)
	if title := strings.TrimSpace(doc.Find("h2:contains('Diff v')").Text()); title != "Diff v1 → v3" {
		t.Fatalf("explicit diff: %q", title)
	}
	if tbl := doc.Find("table.table").Text(); !strings.Contains(tbl, "diff@example.com") {
		t.Fatalf("the versions table does not name the author")
	}
}
