package web_test

import (
	"strings"
	"testing"
)

// TestLogsTab: the tab lists lines newest first, filters them, explains a bad filter, and its
// live fragment (polled every second by htmx) shows a line that arrived after the page.
func TestLogsTab(t *testing.T) {
	const ingest = "ingest-secret-tab"
	p := startPortal(t, withIngestToken(ingest))
	ba, _ := tenantApp(t, p, "ta@example.com", "Tab A", "tab-a")
	bb, _ := tenantApp(t, p, "tb@example.com", "Tab B", "tab-b")
	postLogs(t, p, ingest, logRec("tab-a", "first", 200, "info:first line"), logRec("tab-a", "second", 500, "error:Uncaught Error: boom\n    at fetch (index.js:3:9)"))

	page := ba.get("/apps/tab-a/logs")
	if page.Status != 200 {
		t.Fatalf("Logs tab: %d", page.Status)
	}
	d := page.doc(t)
	rows := d.Find(".log-table tbody tr")
	if rows.Length() != 2 || !strings.Contains(rows.First().Text(), "index.js:3:9") || !strings.Contains(rows.Last().Text(), "first line") {
		t.Fatalf("rows = %d: %q", rows.Length(), rows.Text())
	}
	if d.Find("#log-live[hx-get='/apps/tab-a/logs/live'][hx-trigger='every 1s']").Length() != 1 {
		t.Errorf("no live tail element")
	}
	if d.Find("nav a[href='/apps/tab-a/logs'], .tabs a[href='/apps/tab-a/logs']").Length() == 0 && !strings.Contains(page.Body, `href="/apps/tab-a/logs"`) {
		t.Errorf("no Logs tab link")
	}
	if r := ba.get("/apps/tab-a/logs?level=error"); strings.Contains(r.Body, "first line") || !strings.Contains(r.Body, "boom") {
		t.Errorf("level filter")
	}
	if r := ba.get("/apps/tab-a/logs?status=9"); !strings.Contains(r.Body, `id="log-problem"`) {
		t.Errorf("bad filter not explained")
	}
	// A line arrives after the page: the live fragment has it.
	postLogs(t, p, ingest, logRec("tab-a", "third", 200, "warn:arrived later"))
	live := ba.get("/apps/tab-a/logs/live")
	if live.Status != 200 || !strings.Contains(live.Body, "arrived later") || strings.Contains(live.Body, "<html") {
		t.Errorf("live fragment: %d %.300s", live.Status, live.Body)
	}
	// B never sees A's logs, by page or fragment.
	for _, path := range []string{"/apps/tab-a/logs", "/apps/tab-a/logs/live", "/apps/tab-a/logs?cursor=999"} {
		if r := bb.get(path); r.Status != 404 || strings.Contains(r.Body, "arrived later") {
			t.Errorf("B reads %s: %d", path, r.Status)
		}
	}
}
