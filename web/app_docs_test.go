package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

// The docs page, its llms.txt, the catalog page and the platform llms.txt show a listed app with
// public, api_key and x402 routes — and nothing of an unlisted one.
func TestAppDocsAndLLMs(t *testing.T) {
	p := startPortal(t)
	tn := catalogTenant(t, p, "docs@example.com")
	a := publishApp(t, p, tn, "weather", models.AppListing{Description: "Forecasts\n# not a heading", Tags: "weather,geo", Listed: true},
		"GET /forecast x402", "POST /keyed/:id api_key", "GET /health public")
	publishApp(t, p, tn, "hidden", models.AppListing{Description: "secret", Listed: false}, "GET /x x402")
	ctx := context.Background()
	rs, _ := p.Store.Routes(ctx, a.ID)
	rs[0].RouteLimits = models.RouteLimits{RatePerSecond: 2, Burst: 4, DailySpendCap: "1500000", ChallengesPerMinute: 30}
	rs[1].RouteLimits = models.RouteLimits{DailyQuota: 100}
	rs[1].RouteDiscovery = models.RouteDiscovery{BodyType: "json", InputExample: `{"q":"it's"}`}
	if _, err := p.Store.ReplaceRoutes(ctx, a, rs); err != nil {
		t.Fatal(err)
	}
	b := p.browser(t)

	r := b.get("/a/weather")
	if r.Status != http.StatusOK {
		t.Fatalf("docs page: %d %s", r.Status, r.Body)
	}
	d := r.doc(t)
	routes := d.Find("section.docs-route")
	if routes.Length() != 3 {
		t.Fatalf("%d routes on the page", routes.Length())
	}
	x := routes.Eq(0)
	for _, want := range []struct{ sel, text string }{
		{"h3", "GET /forecast"}, {"dd.access", "x402"}, {"dd.price", "0.01 USDC"}, {"dd.network", "Base Sepolia"},
		{"pre.example-request", `"city": "Paris"`}, {"pre.example-response", `"temp": 12`},
		{"pre.curl", "/weather/forecast?city=Paris'"}, {"pre.fetch", `network: "eip155:84532"`}, {"pre.fetch", "wrapFetchWithPaymentFromConfig"},
		{"ul.limits", "2 requests per second per payer (bursts up to 4)"}, {"ul.limits", "at most 1.5 USDC spent per payer per UTC day"},
		{"ul.limits", "30 unpaid 402 challenges per client IP per minute"},
	} {
		if got := x.Find(want.sel).Text(); !strings.Contains(got, want.text) {
			t.Errorf("x402 route %s = %q, want %q", want.sel, got, want.text)
		}
	}
	k := routes.Eq(1)
	if got := k.Find("pre.curl").Text(); !strings.Contains(got, `-X POST -H "X-API-Key: $API_KEY" -H 'Content-Type: application/json' --data '{"q":"it'\''s"}'`) || !strings.Contains(got, "/weather/keyed/1'") {
		t.Errorf("api_key curl = %q", got)
	}
	if k.Find("pre.fetch").Length() != 0 || !strings.Contains(k.Find("ul.limits").Text(), "100 requests per API key per UTC day") {
		t.Errorf("api_key route: %s", k.Text())
	}
	if got := routes.Eq(2).Find("dd.access").Text(); got != "public" {
		t.Errorf("public route access %q", got)
	}
	if href, _ := d.Find("p.report a").Attr("href"); href != "/report?app=weather" {
		t.Errorf("report link %q", href)
	}

	llms := b.get("/a/weather/llms.txt")
	if llms.Status != 200 || !strings.HasPrefix(llms.Body, "# Weather API\n\n> Forecasts # not a heading\n") ||
		!strings.Contains(llms.Body, "### GET /forecast\n\n- Access: x402\n- Price: 0.01 USDC per call on Base Sepolia\n") ||
		!strings.Contains(llms.Body, "- Limit: 100 requests per API key per UTC day") || !strings.Contains(llms.Body, "### POST /keyed/:id") ||
		!strings.Contains(llms.Body, "### GET /health\n\n- Access: public") {
		t.Errorf("llms.txt %d:\n%s", llms.Status, llms.Body)
	}
	for _, path := range []string{"/a/hidden", "/a/hidden/llms.txt", "/a/nope"} {
		if r := b.get(path); r.Status != http.StatusNotFound || strings.Contains(r.Body, "secret") {
			t.Errorf("%s: %d", path, r.Status)
		}
	}
	cat := b.get("/catalog")
	if cat.Status != 200 || cat.doc(t).Find(`ul.catalog-apps a[href="/a/weather"]`).Length() != 1 || strings.Contains(cat.Body, "/a/hidden") {
		t.Errorf("catalog %d: %s", cat.Status, cat.Body)
	}
	all := b.get("/llms.txt")
	if all.Status != 200 || !strings.Contains(all.Body, "- [Weather API](") || !strings.Contains(all.Body, "/a/weather/llms.txt): Forecasts # not a heading\n") || strings.Contains(all.Body, "hidden") {
		t.Errorf("platform llms.txt %d:\n%s", all.Status, all.Body)
	}
}
