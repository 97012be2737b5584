package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
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

// The per-app OpenAPI document is valid OpenAPI 3.1 (checked by libopenapi-validator) and
// carries each priced route's price in x-402.
func TestAppOpenAPI(t *testing.T) {
	p := startPortal(t)
	tn := catalogTenant(t, p, "oas@example.com")
	a := publishApp(t, p, tn, "oasapp", models.AppListing{Description: "Docs", Listed: true},
		"GET /forecast x402", "POST /keyed/:id api_key", "GET /files/* public")
	publishApp(t, p, tn, "oashidden", models.AppListing{}, "GET /x x402")
	ctx := context.Background()
	rs, _ := p.Store.Routes(ctx, a.ID)
	rs[0].RouteDiscovery.InputSchema = `{"type":"object","properties":{"city":{"type":"string","minLength":1}},"required":["city"]}`
	rs[0].RouteLimits = models.RouteLimits{RatePerSecond: 2}
	rs[1].RouteDiscovery = models.RouteDiscovery{BodyType: "json", InputExample: `{"q":"x"}`, InputSchema: `{"type":"object","properties":{"q":{"type":"string"}}}`}
	if _, err := p.Store.ReplaceRoutes(ctx, a, rs); err != nil {
		t.Fatal(err)
	}
	r := p.browser(t).get("/a/oasapp/openapi.json")
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	doc, err := libopenapi.NewDocument([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
	var d struct {
		Servers []struct{ URL string }
		Paths   map[string]map[string]struct {
			X402       map[string]any   `json:"x-402"`
			Parameters []map[string]any `json:"parameters"`
			Responses  map[string]any   `json:"responses"`
			Security   []any            `json:"security"`
		}
	}
	if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
		t.Fatal(err)
	}
	f := d.Paths["/forecast"]["get"]
	if f.X402["amount"] != "10000" || f.X402["network"] != "eip155:84532" || f.X402["payTo"] != catalogPayTo || f.X402["scheme"] != "exact" ||
		f.X402["asset"] != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" || f.X402["price"] != "0.01 USDC" {
		t.Errorf("x-402 = %v", f.X402)
	}
	if len(f.Parameters) != 1 || f.Parameters[0]["name"] != "city" || f.Parameters[0]["required"] != true || f.Parameters[0]["example"] != "Paris" {
		t.Errorf("query parameters %v", f.Parameters)
	}
	if f.Responses["402"] == nil || f.Responses["429"] == nil {
		t.Errorf("responses %v", f.Responses)
	}
	k := d.Paths["/keyed/{id}"]["post"]
	if k.X402 != nil || len(k.Security) != 1 || len(k.Parameters) != 1 || k.Parameters[0]["in"] != "path" {
		t.Errorf("api_key operation %+v", k)
	}
	if _, ok := d.Paths["/files/{rest}"]["get"]; !ok || len(d.Servers) != 1 || !strings.HasSuffix(d.Servers[0].URL, "/oasapp") {
		t.Errorf("paths %v servers %v", d.Paths, d.Servers)
	}
	if r := p.browser(t).get("/a/oashidden/openapi.json"); r.Status != 404 {
		t.Errorf("unlisted app: %d", r.Status)
	}
}
