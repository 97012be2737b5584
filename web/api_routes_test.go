package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestAPIRoutesPut(t *testing.T) {
	p := startPortal(t)
	_, a := tenantApp(t, p, "api@example.com", "Api", "apiapp")
	tenantApp(t, p, "other@example.com", "Other", "otherapp")
	tok := apiToken(t, p, "api@example.com")
	good := `[{"method":"GET","path":"/weather","access":"x402","price":"$0.01","network":"eip155:84532","pay_to":"` + strings.ToLower(payTo) + `","settle":"before","description":"Forecast","mime_type":"application/json"},
		{"method":"","path":"/*","access":"public","price":"","network":"","pay_to":"","settle":"","description":""}]`
	tests := []struct {
		name, path, ctype, body string
		status                  int
		want                    string
	}{
		{"not json", "/api/v1/apps/apiapp/routes", "text/plain", good, 415, "unsupported_media_type"},
		{"unknown field", "/api/v1/apps/apiapp/routes", "application/json", `[{"path":"/a","cost":"1"}]`, 400, `Unknown field \"cost\"`},
		{"malformed", "/api/v1/apps/apiapp/routes", "application/json", `[{"path":`, 400, "bad_request"},
		{"object, not array", "/api/v1/apps/apiapp/routes", "application/json", `{"path":"/a"}`, 400, "bad_request"},
		{"zero price at index 1", "/api/v1/apps/apiapp/routes", "application/json", `[{"path":"/a"},{"path":"/b","access":"x402","price":"0","pay_to":"` + payTo + `"}]`, 422, `"field":"[1].price"`},
		{"bad checksum at index 0", "/api/v1/apps/apiapp/routes", "application/json", `[{"path":"/a","access":"x402","price":"1","pay_to":"0x209693bC6afc0C5328bA36FaF03C514EF312287C"}]`, 422, `"field":"[0].pay_to"`},
		{"bad pattern", "/api/v1/apps/apiapp/routes", "application/json", `[{"path":"/a/*/b"}]`, 422, `"field":"[0].path"`},
		{"unknown network", "/api/v1/apps/apiapp/routes", "application/json", `[{"path":"/a","access":"x402","price":"1","network":"solana","pay_to":"` + payTo + `"}]`, 422, `"field":"[0].network"`},
		{"another tenant's app", "/api/v1/apps/otherapp/routes", "application/json", good, 404, "not_found"},
		{"no such app", "/api/v1/apps/nope/routes", "application/json", good, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.api(t, "PUT", tt.path, tok, tt.ctype, tt.body)
			if r.Status != tt.status || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("%d %s; want %d with %s", r.Status, r.Body, tt.status, tt.want)
			}
		})
	}
	if n, _ := p.Store.Routes(context.Background(), a.ID); len(n) != 0 {
		t.Fatalf("refused PUTs stored %d routes", len(n))
	}
	if r := p.api(t, "PUT", "/api/v1/apps/apiapp/routes", "", "application/json", good); r.Status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.Status)
	}

	r := p.api(t, "PUT", "/api/v1/apps/apiapp/routes", tok, "application/json", good)
	if r.Status != http.StatusOK {
		t.Fatalf("good PUT: %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil || len(out) != 2 {
		t.Fatalf("answer %s: %v", r.Body, err)
	}
	w := out[0]
	if w["amount"] != "10000" || w["pay_to"] != payTo || w["asset"] != "0x036CbD53842c5426634e7929541eC2318f3dCF7e" ||
		w["eip712_name"] != "USDC" || w["settle"] != "before" || w["method"] != "GET" || w["mime_type"] != "application/json" {
		t.Errorf("route 0 = %v", w)
	}
	if out[1]["method"] != "*" || out[1]["amount"] != nil || out[1]["settle"] != "after" {
		t.Errorf("route 1 = %v", out[1])
	}
	app := mustApp(t, p, a.ID)
	if jobOf(t, p, app).DesiredGen != app.Generation {
		t.Error("the PUT did not raise the sync job with the app's generation")
	}

	// A replace is all or nothing: a bad second route leaves the stored list alone.
	r = p.api(t, "PUT", "/api/v1/apps/apiapp/routes", tok, "application/json", `[{"path":"/only"},{"path":"bad"}]`)
	if r.Status != 422 {
		t.Fatalf("bad replace: %d", r.Status)
	}
	if got := p.api(t, "GET", "/api/v1/apps/apiapp/routes", tok, "", ""); !strings.Contains(got.Body, `"/weather"`) || strings.Contains(got.Body, "/only") {
		t.Errorf("after a refused replace: %s", got.Body)
	}
	// Over the plan cap (free: 10).
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"path":"/x"},`, 11), ",") + "]"
	if r := p.api(t, "PUT", "/api/v1/apps/apiapp/routes", tok, "application/json", many); r.Status != 422 || !strings.Contains(r.Body, "plan_limit") || !strings.Contains(r.Body, "Pro") {
		t.Errorf("11 routes: %d %s", r.Status, r.Body)
	}
	if r := p.api(t, "PUT", "/api/v1/apps/apiapp/routes", tok, "application/json", `[]`); r.Status != 200 || strings.TrimSpace(r.Body) != "[]" {
		t.Errorf("empty list: %d %s", r.Status, r.Body)
	}
}

func TestAPIEgressPut(t *testing.T) {
	p := startPortal(t)
	_, a := tenantApp(t, p, "eg@example.com", "Eg", "egapp")
	tenantApp(t, p, "eg2@example.com", "Eg2", "egother")
	tok := apiToken(t, p, "eg@example.com")
	many := make([]string, 51)
	for i := range many {
		many[i] = `"h` + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `.example.com"`
	}
	tests := []struct {
		name, slug, ctype, body string
		status                  int
		want                    string
	}{
		{"ok", "egapp", "application/json", `{"allow":["API.example.com","*.example.org","api.example.com"]}`, 200, `{"allow":["api.example.com","*.example.org"]}`},
		{"form body", "egapp", "application/x-www-form-urlencoded", `allow=a.com`, 415, "unsupported_media_type"},
		{"unknown field", "egapp", "application/json", `{"allow":[],"deny":[]}`, 400, "unknown_field"},
		{"missing allow", "egapp", "application/json", `{}`, 422, `"field":"allow"`},
		{"port", "egapp", "application/json", `{"allow":["a.example.com","b.example.com:443"]}`, 422, `"field":"allow[1]"`},
		{"ip", "egapp", "application/json", `{"allow":["10.0.0.1"]}`, 422, "IP address"},
		{"star", "egapp", "application/json", `{"allow":["*"]}`, 422, "every host"},
		// The security review reached the emulated Cloudflare API and the portal with these.
		{"localhost", "egapp", "application/json", `{"allow":["localhost"]}`, 422, "not a public host name"},
		{"single label", "egapp", "application/json", `{"allow":["vm"]}`, 422, "not a public host name"},
		{"metadata server", "egapp", "application/json", `{"allow":["metadata.google.internal"]}`, 422, "local or internal"},
		{"numeric host", "egapp", "application/json", `{"allow":["2130706433"]}`, 422, "reads as an IP address"},
		{"too many", "egapp", "application/json", `{"allow":[` + strings.Join(many, ",") + `]}`, 422, "at most 50"},
		{"other tenant", "egother", "application/json", `{"allow":[]}`, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.api(t, "PUT", "/api/v1/apps/"+tt.slug+"/egress", tok, tt.ctype, tt.body)
			if r.Status != tt.status || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("%d %s; want %d with %s", r.Status, r.Body, tt.status, tt.want)
			}
		})
	}
	st, err := p.Store.AppEdgeState(context.Background(), a.ID)
	if err != nil || len(st.Egress) != 2 || st.Egress[0].Pattern != "api.example.com" {
		t.Fatalf("stored egress %+v, %v", st, err)
	}
	if r := p.api(t, "PUT", "/api/v1/apps/egapp/egress", tok, "application/json", `{"allow":[]}`); r.Status != 200 || !strings.Contains(r.Body, `"allow":[]`) {
		t.Errorf("deny all: %d %s", r.Status, r.Body)
	}
}

// The discovery data and per-caller limits of a route travel through the API both ways: what
// GET answers can be PUT back unchanged, and a PUT that leaves them out clears them.
func TestAPIRoutesDiscoveryAndLimitsRoundTrip(t *testing.T) {
	p := startPortal(t)
	_, a := tenantApp(t, p, "rt@example.com", "Rt", "rtapp")
	tok := apiToken(t, p, "rt@example.com")
	body := `[{"method":"GET","path":"/weather","access":"x402","price":"$0.01","pay_to":"` + payTo + `",
		"input_example":{"city":"Paris"},"input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
		"output_example":{"temp":21},"limits":{"rate_per_second":5,"burst":10,"rate_per_minute":100,"daily_spend_cap":"$2","challenges_per_minute":30}},
		{"method":"POST","path":"/keyed","access":"api_key","body_type":"json","input_example":{"q":"x"},"limits":{"daily_quota":100,"monthly_quota":1000}}]`
	r := p.api(t, "PUT", "/api/v1/apps/rtapp/routes", tok, "application/json", body)
	if r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	check := func(when string) {
		t.Helper()
		rs, err := p.Store.Routes(context.Background(), a.ID)
		if err != nil || len(rs) != 2 {
			t.Fatalf("%s: routes %v %v", when, rs, err)
		}
		w, k := rs[0], rs[1]
		if w.InputExample != `{"city":"Paris"}` || w.OutputExample != `{"temp":21}` || !strings.Contains(w.InputSchema, `"required":["city"]`) {
			t.Errorf("%s: discovery %+v", when, w.RouteDiscovery)
		}
		if w.RatePerSecond != 5 || w.Burst != 10 || w.RatePerMinute != 100 || w.DailySpendCap != "2000000" || w.ChallengesPerMinute != 30 {
			t.Errorf("%s: limits %+v", when, w.RouteLimits)
		}
		if k.BodyType != "json" || k.InputExample != `{"q":"x"}` || k.DailyQuota != 100 || k.MonthlyQuota != 1000 {
			t.Errorf("%s: keyed route %+v %+v", when, k.RouteDiscovery, k.RouteLimits)
		}
	}
	check("after PUT")
	got := p.api(t, "GET", "/api/v1/apps/rtapp/routes", tok, "", "")
	// The answer carries computed fields (id, amount, asset…) that a PUT does not take: strip
	// them the way a client editing the list would keep only the input fields.
	var list []map[string]any
	if err := json.Unmarshal([]byte(got.Body), &list); err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		for _, k := range []string{"id", "amount", "network_name", "asset", "eip712_name", "eip712_version", "warning"} {
			delete(m, k)
		}
	}
	back, _ := json.Marshal(list)
	if r := p.api(t, "PUT", "/api/v1/apps/rtapp/routes", tok, "application/json", string(back)); r.Status != http.StatusOK {
		t.Fatalf("PUT of the GET answer: %d %s", r.Status, r.Body)
	}
	check("after PUT of GET")

	bad := []struct{ name, body, field string }{
		{"zero limit", `[{"path":"/a","limits":{"rate_per_second":0}}]`, "[0].rate_per_second"},
		{"negative", `[{"path":"/a","limits":{"rate_per_minute":-1}}]`, "[0].rate_per_minute"},
		{"over cap", `[{"path":"/a","limits":{"rate_per_second":1000000}}]`, "[0].rate_per_second"},
		{"quota on public", `[{"path":"/a","limits":{"daily_quota":5}}]`, "[0].daily_quota"},
		{"remote ref", `[{"path":"/a","input_schema":{"$ref":"https://evil.example/s.json"}}]`, "[0].input_schema"},
		{"schema not an object", `[{"path":"/a","input_schema":{"type":"nope"}}]`, "[0].input_schema"},
		{"huge example", `[{"path":"/a","output_example":{"x":"` + strings.Repeat("a", 17<<10) + `"}}]`, "[0].output_example"},
	}
	for _, tt := range bad {
		if r := p.api(t, "PUT", "/api/v1/apps/rtapp/routes", tok, "application/json", tt.body); r.Status != 422 || !strings.Contains(r.Body, `"field":"`+tt.field+`"`) {
			t.Errorf("%s: %d %s", tt.name, r.Status, r.Body)
		}
	}
	check("after refused PUTs")
	// Leaving the fields out clears them (PUT replaces the whole list).
	if r := p.api(t, "PUT", "/api/v1/apps/rtapp/routes", tok, "application/json", `[{"method":"GET","path":"/weather"}]`); r.Status != 200 {
		t.Fatalf("plain PUT: %d %s", r.Status, r.Body)
	}
	if rs, _ := p.Store.Routes(context.Background(), a.ID); len(rs) != 1 || !rs[0].RouteDiscovery.Empty() || rs[0].RouteLimits.Any() {
		t.Errorf("plain PUT kept %+v", rs)
	}
}
