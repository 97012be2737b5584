package web_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

const catalogPayTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

// publishApp makes a deployed app of tenant with the routes given as "METHOD /path access", and
// the listing l.
func publishApp(t *testing.T, p *portal, tenant *models.Tenant, slug string, l models.AppListing, routes ...string) *models.App {
	t.Helper()
	ctx := context.Background()
	a, err := p.Store.CreateApp(ctx, tenant, slug, strings.ToUpper(slug[:1])+slug[1:]+" API")
	if err != nil {
		t.Fatal(err)
	}
	var rs []models.Route
	for _, spec := range routes {
		f := strings.Fields(spec)
		in := models.RouteInput{Method: f[0], Path: f[1], Access: f[2], Description: "Route " + f[1], MimeType: "application/json"}
		if f[2] == models.AccessX402 {
			in.Price, in.PayTo = "$0.01", catalogPayTo
		}
		r, err := models.ValidateRoute(in)
		if err != nil {
			t.Fatal(err)
		}
		if f[0] == "GET" {
			if r.RouteDiscovery, err = models.ValidateDiscovery("GET", models.DiscoveryInput{InputExample: `{"city":"Paris"}`, OutputExample: `{"temp":12}`}); err != nil {
				t.Fatal(err)
			}
		}
		rs = append(rs, r)
	}
	if _, err := p.Store.ReplaceRoutes(ctx, a, rs); err != nil {
		t.Fatal(err)
	}
	if err := p.Store.SetAppListing(ctx, a, l); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.Gorm.Exec("UPDATE apps SET deployed_version_id = 1 WHERE id = ?", a.ID).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

func catalogTenant(t *testing.T, p *portal, email string) *models.Tenant {
	t.Helper()
	hash, _ := models.HashPassword("a long password 1")
	_, tn, err := p.Store.SignUp(context.Background(), email, hash, "T "+email, models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

type catalogResp struct {
	X402Version int `json:"x402Version"`
	Items       []struct {
		Resource    string            `json:"resource"`
		URL         string            `json:"url"`
		Type        string            `json:"type"`
		ServiceName string            `json:"serviceName"`
		Tags        []string          `json:"tags"`
		Accepts     []json.RawMessage `json:"accepts"`
		Metadata    struct {
			App  string `json:"app"`
			Path string `json:"path"`
		} `json:"metadata"`
	} `json:"items"`
	Pagination struct {
		Limit, Offset, Total, RequestedLimit int
		Clamped                              bool
	} `json:"pagination"`
}

func TestDiscoveryResources(t *testing.T) {
	p := startPortal(t)
	ctx := context.Background()
	ta, tb := catalogTenant(t, p, "a@example.com"), catalogTenant(t, p, "b@example.com")
	publishApp(t, p, ta, "weather", models.AppListing{Listed: true, Tags: "weather,maps", Description: "Forecasts"},
		"GET /forecast x402", "POST /alerts x402", "GET /free public", "GET /keyed api_key")
	publishApp(t, p, ta, "hidden", models.AppListing{Listed: false}, "GET /secret x402")
	publishApp(t, p, tb, "banned", models.AppListing{Listed: true}, "GET /x x402")
	paused := publishApp(t, p, ta, "sleepy", models.AppListing{Listed: true}, "GET /zzz x402")
	if err := p.Store.SetTenantStatus(ctx, tb.ID, models.TenantSuspended, "abuse"); err != nil {
		t.Fatal(err)
	}
	if err := p.DB.Gorm.Exec("UPDATE apps SET status = ? WHERE id = ?", models.AppPaused, paused.ID).Error; err != nil {
		t.Fatal(err)
	}

	get := func(q string) catalogResp {
		t.Helper()
		r := p.browser(t).get("/discovery/resources" + q)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", q, r.Status, r.Body)
		}
		var c catalogResp
		if err := json.Unmarshal([]byte(r.Body), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	all := get("")
	if all.X402Version != 2 || all.Pagination.Total != 2 || len(all.Items) != 2 {
		t.Fatalf("catalog lists %d of %d items, want the 2 priced routes of the one listed public app: %+v", len(all.Items), all.Pagination.Total, all)
	}
	it := all.Items[0]
	if it.Metadata.App != "weather" || it.Metadata.Path != "/forecast" || it.Type != "http" || len(it.Accepts) != 1 ||
		it.ServiceName != "Weather API" || strings.Join(it.Tags, ",") != "weather,maps" || !strings.HasSuffix(it.Resource, "/weather/forecast") || it.URL != it.Resource {
		t.Errorf("first item: %+v", it)
	}
	for _, tc := range []struct {
		q     string
		total int
	}{
		{"?network=eip155:84532", 2}, {"?network=eip155:8453", 0}, {"?type=mcp", 0}, {"?type=http", 2},
		{"?query=alerts", 1}, {"?query=MAPS", 2}, {"?query=nothing-like-this", 0}, {"?query=%25", 0},
	} {
		if c := get(tc.q); c.Pagination.Total != tc.total || len(c.Items) != tc.total {
			t.Errorf("%s: %d items of %d, want %d", tc.q, len(c.Items), c.Pagination.Total, tc.total)
		}
	}
	if c := get("?limit=1&offset=1"); len(c.Items) != 1 || c.Items[0].Metadata.Path != "/alerts" || c.Pagination.Total != 2 {
		t.Errorf("page 2 of 1: %+v", c)
	}
	if c := get("?limit=500"); c.Pagination.Limit != 100 || !c.Pagination.Clamped || c.Pagination.RequestedLimit != 500 {
		t.Errorf("limit over 100 not clamped and said: %+v", c.Pagination)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?offset=-1"} {
		if r := p.browser(t).get("/discovery/resources" + q); r.Status != 400 || !strings.Contains(r.Body, `"code":"invalid_`) {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}

	// The official Bazaar client reads the same catalog.
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: the official Bazaar client did not run: node is not installed")
	}
	if _, err := os.Stat("../node_modules/@x402/extensions/package.json"); err != nil {
		t.Skip("SKIPPED: the official Bazaar client did not run: node_modules/@x402/extensions is missing (run npm ci)")
	}
	for _, params := range []string{`{"type":"http","limit":1}`, `{"network":"eip155:84532"}`} {
		out, err := exec.Command(node, "testdata/bazaar_client.mjs", p.URL, params).Output()
		if err != nil {
			t.Fatalf("node: %v", err)
		}
		var got struct {
			Error string      `json:"error"`
			Res   catalogResp `json:"res"`
			Valid []*bool     `json:"valid"`
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Error != "" {
			t.Fatalf("official client: %s %v", out, err)
		}
		want := 2
		if strings.Contains(params, `"limit":1`) {
			want = 1
		}
		if len(got.Res.Items) != want || got.Res.Pagination.Total != 2 {
			t.Errorf("%s: official client got %d items of %d", params, len(got.Res.Items), got.Res.Pagination.Total)
		}
		for i, v := range got.Valid {
			if v == nil || !*v {
				t.Errorf("%s: item %d's bazaar extension fails the official validator", params, i)
			}
		}
	}
}
