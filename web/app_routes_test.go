package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/PuerkitoBio/goquery"
)

const payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

func routeForm(kv ...string) []string {
	base := map[string]string{"method": "GET", "path": "/weather", "access": "x402", "price": "$0.01", "network": "eip155:84532", "pay_to": payTo, "settle": "after"}
	for i := 0; i+1 < len(kv); i += 2 {
		base[kv[i]] = kv[i+1]
	}
	var out []string
	for k, v := range base {
		out = append(out, k, v)
	}
	return out
}

func TestRouteFormValidation(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "val@example.com", "Val", "valapp")
	path := "/apps/" + a.Slug + "/routes"
	tests := []struct {
		name    string
		form    []string
		field   string
		message string
	}{
		{"bad price", routeForm("price", "cheap"), "price", "not an amount"},
		{"zero price", routeForm("price", "0.00"), "price", "zero"},
		{"too many decimals", routeForm("price", "0.0000001"), "price", "more decimal places"},
		{"bad pattern", routeForm("path", "/a/*/b"), "path", "* may only end"},
		{"wrong checksum", routeForm("pay_to", "0x209693bC6afc0C5328bA36FaF03C514EF312287C"), "pay_to", "checksum is wrong"},
		{"unknown network", routeForm("network", "eip155:1"), "network", "not supported"},
		{"bad access", routeForm("access", "free"), "access", "public, x402 or api_key"},
		{"no pay_to and no default wallet", routeForm("pay_to", ""), "pay_to", "no default payout wallet on Base Sepolia"},
		{"refusal time on an after route", routeForm("refuse_seconds", "60"), "refuse_seconds", "Only optimistic routes"},
		{"refusal time over 30 days", routeForm("settle", "optimistic", "refuse_seconds", "31d"), "refuse_seconds", "30 days"},
		{"refusal time not a duration", routeForm("settle", "optimistic", "refuse_seconds", "an hour"), "refuse_seconds", "seconds (3600)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.htmxForm(path, tt.form...)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			d := r.doc(t)
			errText := d.Find(fmt.Sprintf(`[name=%q]`, tt.field)).Parent().Find("small.err").Text()
			if !strings.Contains(errText, tt.message) {
				t.Errorf("error under %s = %q, want %q", tt.field, errText, tt.message)
			}
			if d.Find("table.routes-table tbody tr").Length() != 0 {
				t.Error("a refused route was stored")
			}
		})
	}
	// A plain form gets the whole page with 422.
	if r := b.post(path, formValues(routeForm("price", "-1"))); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "negative") {
		t.Errorf("plain form with a bad price: %d", r.Status)
	}
	if n := count(t, p, &models.Route{}); n != 0 {
		t.Fatalf("%d routes stored after refusals", n)
	}

	// Lower-case pay_to is stored in EIP-55; the amount in atomic units.
	r := b.htmxForm(path, routeForm("pay_to", strings.ToLower(payTo), "price", "0.5 USDC")...)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Route added") {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	rs, _ := p.Store.Routes(context.Background(), a.ID)
	if len(rs) != 1 || rs[0].PayTo != payTo || rs[0].Amount != "500000" || rs[0].Network != "eip155:84532" {
		t.Fatalf("stored %+v", rs)
	}
	if got := r.doc(t).Find("#route-" + fmt.Sprint(rs[0].ID) + " .price").Text(); got != "0.5 USDC" {
		t.Errorf("price shown as %q", got)
	}

	// Base mainnet is refused while no facilitator settles it (admin_facilitators_test.go).
	r = b.htmxForm(path, routeForm("path", "/main", "network", "eip155:8453")...)
	if !strings.Contains(r.Body, "No facilitator of this installation settles Base (eip155:8453)") {
		t.Errorf("mainnet choice not refused with the reason")
	}
}

func formValues(kv []string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = append(out[kv[i]], kv[i+1])
	}
	return out
}

func TestRouteTableEditsAndWriteThrough(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "ed@example.com", "Ed", "editapp")
	base := "/apps/" + a.Slug + "/routes"
	for _, f := range [][]string{
		routeForm("path", "/weather"),
		{"method", "", "path", "/api/*", "access", "public"},
		{"method", "GET", "path", "/api/users", "access", "api_key"},
		{"method", "GET", "path", "/weather", "access", "public"},
	} {
		if r := b.htmxForm(base, f...); r.Status != http.StatusOK || !strings.Contains(r.Body, "Route added") {
			t.Fatalf("add %v: %d %s", f, r.Status, r.Body)
		}
	}
	r := b.get(base)
	d := r.doc(t)
	warnings := d.Find(".route-warning").Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	if len(warnings) != 2 || !strings.Contains(warnings[0], "route 3 (GET /api/users) can never match: route 2 (/api/*)") ||
		!strings.Contains(warnings[1], "route 4 (GET /weather) is a duplicate of route 1") {
		t.Fatalf("warnings %q", warnings)
	}
	rs, _ := p.Store.Routes(context.Background(), a.ID)

	// Reorder: move /api/users above /api/* and its warning goes away.
	genBefore := mustApp(t, p, a.ID).Generation
	if r := b.htmxForm(fmt.Sprintf("%s/%d/move", base, rs[2].ID), "dir", "up"); r.Status != http.StatusOK {
		t.Fatalf("move: %d %s", r.Status, r.Body)
	}
	got, _ := p.Store.Routes(context.Background(), a.ID)
	if got[1].ID != rs[2].ID || got[2].ID != rs[1].ID {
		t.Fatalf("after move up: %v", routePaths(got))
	}
	if w := b.get(base).doc(t).Find(".route-warning").Length(); w != 1 {
		t.Errorf("after the reorder %d warnings, want 1 (the duplicate)", w)
	}
	// Inline edit: the edit form, then a save that keeps the row's place and id.
	if r := b.do("GET", base+fmt.Sprintf("?edit=%d", rs[3].ID), nil, map[string]string{"HX-Request": "true"}); !strings.Contains(r.Body, fmt.Sprintf(`action="%s/%d"`, base, rs[3].ID)) {
		t.Fatalf("edit form missing: %s", r.Body)
	}
	if r := b.htmxForm(fmt.Sprintf("%s/%d", base, rs[3].ID), "method", "POST", "path", "/report", "access", "public"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Route saved") {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	if r := b.htmxForm(fmt.Sprintf("%s/%d", base, rs[3].ID), "path", "/report", "access", "x402", "price", "0", "pay_to", payTo); !strings.Contains(r.Body, "zero") || !strings.Contains(r.Body, fmt.Sprintf(`action="%s/%d"`, base, rs[3].ID)) {
		t.Errorf("a refused edit does not keep the row's form open with the message")
	}
	if r := b.htmxForm(fmt.Sprintf("%s/%d/delete", base, rs[0].ID)); r.Status != http.StatusOK {
		t.Fatalf("delete: %d", r.Status)
	}
	got, _ = p.Store.Routes(context.Background(), a.ID)
	if routePaths(got) != "GET /api/users /api/* POST /report" || got[2].ID != rs[3].ID {
		t.Fatalf("after edit and delete: %s", routePaths(got))
	}

	// Every change raised the app's generation and its job in the same transaction.
	after := mustApp(t, p, a.ID)
	if after.Generation != genBefore+3 || jobOf(t, p, after).DesiredGen != after.Generation {
		t.Errorf("generation %d → %d, job desired %d", genBefore, after.Generation, jobOf(t, p, after).DesiredGen)
	}

	// The config document built from the stored state carries the resolved requirements.
	b.htmxForm(base, routeForm("path", "/paid", "price", "$0.002")...)
	st, err := p.Store.AppEdgeState(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := workers.BuildConfig(*st, st.App.Generation)
	if err != nil {
		t.Fatal(err)
	}
	last := doc.Routes[len(doc.Routes)-1]
	want := x402.Requirements{Scheme: "exact", Network: "eip155:84532", Amount: "2000", Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
		PayTo: payTo, MaxTimeoutSeconds: 60, Extra: map[string]string{"name": "USDC", "version": "2"}}
	if last.Path != "/paid" || last.Requirements == nil || fmt.Sprint(*last.Requirements) != fmt.Sprint(want) {
		t.Fatalf("config route %+v, requirements %+v", last, last.Requirements)
	}
}

func routePaths(rs []models.Route) string {
	var out []string
	for _, r := range rs {
		out = append(out, strings.TrimSpace(r.Method+" "+r.Path))
	}
	return strings.Join(out, " ")
}

func TestRoutePlanCap(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "cap@example.com", "Cap", "capapp")
	for i := 0; i < 10; i++ {
		if _, err := p.Store.AddRoute(context.Background(), a, models.Route{Path: fmt.Sprintf("/r%d", i), Access: "public", Settle: "after"}); err != nil {
			t.Fatal(err)
		}
	}
	r := b.htmxForm("/apps/"+a.Slug+"/routes", "path", "/eleven", "access", "public")
	if !strings.Contains(r.Body, "The Free plan allows 10 routes per app. The Pro plan allows more.") {
		t.Fatalf("over the cap: %d %s", r.Status, r.Body)
	}
	if n := count(t, p, &models.Route{}); n != 10 {
		t.Errorf("%d routes stored, want 10", n)
	}
}

func TestRoutePagesOfOtherTenants(t *testing.T) {
	p := startPortal(t)
	_, a := tenantApp(t, p, "owner@example.com", "Owner", "ownedapp")
	rt, err := p.Store.AddRoute(context.Background(), a, models.Route{Path: "/x", Access: "public", Settle: "after"})
	if err != nil {
		t.Fatal(err)
	}
	id := rt[0].ID
	intruder := p.browser(t)
	intruder.signup("intruder@example.com", "Intruder")
	for _, c := range []struct{ method, path string }{
		{"GET", "/apps/ownedapp/routes"},
		{"POST", "/apps/ownedapp/routes"},
		{"POST", fmt.Sprintf("/apps/ownedapp/routes/%d", id)},
		{"POST", fmt.Sprintf("/apps/ownedapp/routes/%d/delete", id)},
		{"POST", fmt.Sprintf("/apps/ownedapp/routes/%d/move", id)},
		{"POST", fmt.Sprintf("/apps/ownedapp/routes/%d/try", id)},
		{"GET", "/apps/ownedapp/access"},
		{"POST", "/apps/ownedapp/keys"},
		{"POST", "/apps/ownedapp/egress"},
		{"GET", "/apps/ownedapp/payments"},
	} {
		var r resp
		if c.method == "GET" {
			r = intruder.get(c.path)
		} else {
			r = intruder.htmxForm(c.path, "path", "/y", "dir", "up", "name", "k", "host", "a.example.com")
		}
		if r.Status != http.StatusNotFound {
			t.Errorf("%s %s by another tenant: %d, want 404", c.method, c.path, r.Status)
		}
	}
	if n := count(t, p, &models.Route{}); n != 1 {
		t.Errorf("routes changed by another tenant: %d", n)
	}
	if r := p.browser(t).get("/apps/ownedapp/routes"); r.Status != http.StatusSeeOther {
		t.Errorf("anonymous: %d, want a redirect to log in", r.Status)
	}
}

// fakeEdge is a paid route as the dispatcher serves it: 402 with a challenge, and with a
// payment the dev facilitator accepts, 200 with a receipt.
func fakeEdge(t *testing.T, want x402.Requirements) *httptest.Server {
	f, err := facilitator.New(facilitator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fac := httptest.NewServer(f)
	t.Cleanup(fac.Close)
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tryapp/users/1" || r.Method != "GET" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		sig := r.Header.Get(x402.HeaderPaymentSignature)
		if sig == "" {
			h, _ := x402.EncodeHeader(x402.PaymentRequired{X402Version: 2, Error: "Payment required", Accepts: []x402.Requirements{want}})
			w.Header().Set(x402.HeaderPaymentRequired, h)
			w.WriteHeader(http.StatusPaymentRequired)
			return
		}
		var pp x402.PaymentPayload
		if err := x402.DecodeHeader(sig, &pp); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reqBody := fmt.Sprintf(`{"x402Version":2,"paymentPayload":%s,"paymentRequirements":%s}`, mustJSON(pp), mustJSON(want))
		res, err := http.Post(fac.URL+"/settle", "application/json", strings.NewReader(reqBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		var sr x402.SettlementResponse
		if err := jsonDecode(res.Body, &sr); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		h, _ := x402.EncodeHeader(sr)
		w.Header().Set(x402.HeaderPaymentResponse, h)
		if !sr.Success {
			w.WriteHeader(http.StatusPaymentRequired)
			return
		}
		fmt.Fprint(w, `{"user":1,"paid":true}`)
	}))
	t.Cleanup(edge.Close)
	return edge
}

func TestTryIt(t *testing.T) {
	want, err := x402.Resolve("eip155:84532", "10000", payTo)
	if err != nil {
		t.Fatal(err)
	}
	edge := fakeEdge(t, want)
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprintf("local=%v", local), func(t *testing.T) {
			p := startPortal(t, withEdge(local, edge.URL))
			email := fmt.Sprintf("try%v@example.com", local)
			b, a := tenantApp(t, p, email, "Try "+fmt.Sprint(local), "tryapp")
			r := b.htmxForm("/apps/tryapp/routes", routeForm("path", "/users/:id")...)
			if r.Status != http.StatusOK {
				t.Fatal(r.Body)
			}
			rs, _ := p.Store.Routes(context.Background(), a.ID)
			start := time.Now()
			r = b.htmxForm(fmt.Sprintf("/apps/tryapp/routes/%d/try", rs[0].ID))
			if r.Status != http.StatusOK {
				t.Fatalf("try: %d %s", r.Status, r.Body)
			}
			t.Logf("try it took %s", time.Since(start))
			d := r.doc(t)
			steps := d.Find("ol.steps > li")
			if !strings.Contains(steps.Eq(0).Text(), "402") || !strings.Contains(steps.Eq(0).Find("pre.json").Text(), `"amount": "10000"`) {
				t.Fatalf("step 1 does not show the decoded challenge: %s", steps.Eq(0).Text())
			}
			if !local {
				if steps.Length() != 1 || !strings.Contains(d.Text(), "Paying needs a real wallet") {
					t.Fatalf("Cloudflare mode: %d steps, %s", steps.Length(), d.Text())
				}
				return
			}
			if steps.Length() != 4 {
				t.Fatalf("%d steps: %s", steps.Length(), d.Text())
			}
			if !strings.Contains(steps.Eq(1).Text(), facilitator.DevWalletAddress) || !strings.Contains(steps.Eq(1).Text(), "0.01 USDC") {
				t.Errorf("payment step: %s", steps.Eq(1).Text())
			}
			if !strings.Contains(steps.Eq(2).Text(), "200") || !strings.Contains(steps.Eq(2).Text(), `"paid":true`) {
				t.Errorf("paid step: %s", steps.Eq(2).Text())
			}
			receipt := steps.Eq(3).Text()
			if !strings.Contains(receipt, `"success": true`) || !strings.Contains(receipt, "Simulated, no chain") {
				t.Errorf("receipt step: %s", receipt)
			}
		})
	}
}

// The route form edits the discovery data and limits with the rest of the route: an edit keeps
// what the form shows, and a bad schema or limit is refused under its field with nothing stored.
func TestRouteFormDiscoveryAndLimits(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "disc@example.com", "Disc", "discapp")
	path := "/apps/" + a.Slug + "/routes"
	r := b.htmxForm(path, routeForm("input_example", `{"city":"Paris"}`, "input_schema", `{"type":"object","properties":{"city":{"type":"string"}}}`,
		"output_example", `{"temp": 21}`, "rate_per_second", "3", "burst", "6", "daily_spend_cap", "$1", "challenges_per_minute", "20")...)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Route added") {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	rs, _ := p.Store.Routes(context.Background(), a.ID)
	if len(rs) != 1 || rs[0].InputExample != `{"city":"Paris"}` || rs[0].OutputExample != `{"temp":21}` || rs[0].RatePerSecond != 3 ||
		rs[0].Burst != 6 || rs[0].DailySpendCap != "1000000" || rs[0].ChallengesPerMinute != 20 {
		t.Fatalf("stored %+v", rs)
	}
	id := rs[0].ID
	// The edit form shows them again, so saving it unchanged keeps them.
	d := b.get(fmt.Sprintf("%s?edit=%d", path, id)).doc(t)
	form := []string{}
	d.Find("tr.editing form input, tr.editing form textarea, tr.editing form select").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		if name == "_csrf" || name == "" {
			return
		}
		v, _ := s.Attr("value")
		switch goquery.NodeName(s) {
		case "textarea":
			v = s.Text()
		case "select":
			v, _ = s.Find("option[selected]").Attr("value")
		}
		form = append(form, name, v)
	})
	if r := b.htmxForm(fmt.Sprintf("%s/%d", path, id), form...); r.Status != http.StatusOK || !strings.Contains(r.Body, "Route saved") {
		t.Fatalf("save unchanged: %d %s", r.Status, r.Body)
	}
	if got, _ := p.Store.Routes(context.Background(), a.ID); got[0].RouteDiscovery != rs[0].RouteDiscovery || got[0].RouteLimits != rs[0].RouteLimits {
		t.Fatalf("an unchanged edit lost data: %+v %+v", got[0].RouteDiscovery, got[0].RouteLimits)
	}
	bad := []struct{ field, value, message string }{
		{"input_schema", "{\n  \"type\": \"object\",\n  \"properties\": {\"a\": {\"type\": 5}}\n}", "/properties/a/type"},
		{"input_schema", "{\n  \"type\": \"object\",,\n}", "line 2, column"},
		{"input_schema", `{"$ref":"https://evil.example/s.json"}`, "remote"},
		{"rate_per_second", "0", "above zero"},
		{"rate_per_minute", "99999999", "at most"},
		{"daily_quota", "5", "api_key routes only"},
	}
	for _, tt := range bad {
		r := b.htmxForm(fmt.Sprintf("%s/%d", path, id), routeForm(tt.field, tt.value)...)
		errText := r.doc(t).Find(fmt.Sprintf(`[name=%q]`, tt.field)).Parent().Find("small.err").Text()
		if !strings.Contains(errText, tt.message) {
			t.Errorf("%s=%q: error %q, want %q", tt.field, tt.value, errText, tt.message)
		}
	}
	if got, _ := p.Store.Routes(context.Background(), a.ID); got[0].RouteDiscovery != rs[0].RouteDiscovery || got[0].RouteLimits != rs[0].RouteLimits {
		t.Fatalf("a refused edit changed the route: %+v %+v", got[0].RouteDiscovery, got[0].RouteLimits)
	}
}
