package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// TestBrowserLogsLiveTail: with the Logs tab open in a real browser, the lines of a request that
// ends afterwards appear in the table without a reload (htmx polls the live fragment). The
// request's lines reach the portal as the local runtime sends them, a batch to /internal/telemetry
// (workers/runtime's end-to-end test covers workerd to that batch).
func TestBrowserLogsLiveTail(t *testing.T) {
	const ingest = "ingest-secret-live"
	ctx := browsertest.New(t)
	p := startPortal(t, withIngestToken(ingest))
	tenantApp(t, p, "live@example.com", "Live", "live-app")
	postLogs(t, p, ingest, logRec("live-app", "req-before", 200, "info:before the page"))
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			browsertest.Screenshot(t, ctx, "logs-live-failure")
			t.Fatal(err)
		}
	}
	must(chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.SendKeys(css(`input[name=email]`), "live@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
		chromedp.Navigate(p.URL+"/apps/live-app/logs"),
		chromedp.WaitVisible(css(`.log-table`)),
		chromedp.Evaluate[chromedp.Void](`window.__samePage = true; undefined`),
	))
	sent := time.Now()
	postLogs(t, p, ingest, logRec("live-app", "req-during", 500, "error:Uncaught Error: while the tab is open\n    at fetch (index.js:7:11)"))
	// The issue asks for the line within 2 s of the request; the wait allows that plus a margin
	// for a loaded machine and fails after it.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(css(`#log-rows tr.log-error`))); err != nil {
		browsertest.Screenshot(t, ctx, "logs-live-failure")
		t.Fatalf("the line did not appear without a reload: %v", err)
	}
	t.Logf("line shown %s after it was sent", time.Since(sent).Round(10*time.Millisecond))
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__samePage) + "|" + [...document.querySelectorAll("#log-rows tbody tr")].map((r) => r.textContent.replace(/\s+/g, " ")).join("|")`))
	must(err)
	parts := strings.Split(state, "|")
	if parts[0] != "true" {
		t.Fatal("the page was reloaded")
	}
	if len(parts) != 3 || !strings.Contains(parts[1], "while the tab is open") || !strings.Contains(parts[1], "req-during") || !strings.Contains(parts[2], "before the page") {
		t.Fatalf("rows, newest first: %q", parts[1:])
	}
	browsertest.Screenshot(t, ctx, "logs-live-tail")
}
