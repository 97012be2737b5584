package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/PuerkitoBio/goquery"
)

// EIP-55 test vectors (the EIP's own), so the checksums are real.
const (
	walletA = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	walletB = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
	walletC = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
	// walletA with the case of its last letter flipped: a typo the checksum catches.
	walletABadSum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
	goodPassword  = "a good long password"
)

// TestPayoutWallets: a tenant sets its default payout wallet per network in Settings (password
// required, EIP-55 checked, audited); priced routes without their own pay_to are paid to it, in
// the portal's answers and in the config document at the edge; changing the wallet moves those
// routes (and only those, and only this tenant's) at once.
func TestPayoutWallets(t *testing.T) {
	ep := startEdgePortal(t)
	ctx := context.Background()
	tok := apiTenant(t, ep.portal, "payout@example.com", "Payout")
	if r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"payout-app","name":"P"}`); r.Status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	user := mustUser(t, ep.portal, "payout@example.com")
	putRoutes := func(body string) resp {
		return ep.api(t, "PUT", "/api/v1/apps/payout-app/routes", tok, "application/json", body)
	}
	const follow = `{"method":"GET","path":"/paid","access":"x402","price":"$0.01"}`
	const own = `{"method":"GET","path":"/own","access":"x402","price":"$0.02","pay_to":"` + walletC + `"}`

	// Without a default wallet a route without pay_to is refused, naming the field.
	if r := putRoutes("[" + follow + "]"); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `"[0].pay_to"`) ||
		!strings.Contains(r.Body, "no default payout wallet on Base Sepolia") {
		t.Fatalf("route without pay_to and no default: %d %s", r.Status, r.Body)
	}

	b := ep.browser(t)
	if r := b.login("payout@example.com", goodPassword); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.Status)
	}
	wallets := func(tenantID uint) []models.PayoutWallet {
		t.Helper()
		ws, err := ep.Store.PayoutWallets(ctx, tenantID)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	audits := func(action string) []models.AuditEvent {
		t.Helper()
		var es []models.AuditEvent
		if err := ep.DB.Gorm.Where("action = ?", action).Order("id").Find(&es).Error; err != nil {
			t.Fatal(err)
		}
		return es
	}
	form := func(network, address, password string) url.Values {
		return url.Values{"network": {network}, "address": {address}, "current": {password}}
	}
	for _, tc := range []struct {
		name, field, msg string
		form             url.Values
	}{
		{"bad checksum", "address", "checksum is wrong", form("eip155:84532", walletABadSum, goodPassword)},
		{"wrong password", "current", "not your current password", form("eip155:84532", walletA, "not my password at all")},
		{"no password", "current", "not your current password", form("eip155:84532", walletA, "")},
		{"unknown network", "network", `Network "eip155:1" is not supported`, form("eip155:1", walletA, goodPassword)},
		{"no network", "network", "is not supported", form("", walletA, goodPassword)},
		{"short address", "address", "40 hex digits", form("eip155:84532", "0x5aAeb6053F3E94C9", goodPassword)},
		{"not hex", "address", "not a hex digit", form("eip155:84532", "0xZZAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", goodPassword)},
		{"zero address", "address", "burns", form("eip155:84532", "0x0000000000000000000000000000000000000000", goodPassword)},
		{"empty address", "address", "Enter the wallet address", form("eip155:84532", "  ", goodPassword)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/settings/wallets", tc.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "The payout wallet was not changed") {
				t.Fatalf("%d, want 422 saying nothing changed: %.400s", r.Status, r.Body)
			}
			doc := r.doc(t)
			sel := "#wallet-form [name=" + tc.field + "][aria-invalid]"
			if doc.Find(sel).Length() != 1 || !strings.Contains(doc.Find("#wallet-form").Text(), tc.msg) {
				t.Fatalf("field %s not marked with %q: %s", tc.field, tc.msg, doc.Find("#wallet-form").Text())
			}
			if ws := wallets(*user.TenantID); len(ws) != 0 {
				t.Fatalf("a refused change stored %+v", ws)
			}
		})
	}
	if n := len(audits("payout_wallet_refused")); n != 2 {
		t.Fatalf("%d payout_wallet_refused audit events, want 2 (the wrong and the missing password)", n)
	}
	if n := len(audits("payout_wallet_changed")); n != 0 {
		t.Fatalf("%d payout_wallet_changed audit events before any change", n)
	}

	// A lower-case address (no checksum to check) is stored in EIP-55 form, and audited.
	if r := b.post("/settings/wallets", form("eip155:84532", strings.ToLower(walletA), goodPassword)); r.Status != http.StatusSeeOther {
		t.Fatalf("set wallet: %d %.400s", r.Status, r.Body)
	}
	if ws := wallets(*user.TenantID); len(ws) != 1 || ws[0].Address != walletA || ws[0].Network != "eip155:84532" {
		t.Fatalf("wallets %+v", ws)
	}
	if es := audits("payout_wallet_changed"); len(es) != 1 || !strings.Contains(es[0].Detail, "none → "+walletA) || es[0].ActorUserID == nil || *es[0].ActorUserID != user.ID {
		t.Fatalf("audit %+v", es)
	}
	if page := b.get("/settings").doc(t); !strings.Contains(page.Find("#wallets table").Text(), walletA) {
		t.Fatalf("settings page does not list the wallet: %s", page.Find("#wallets").Text())
	}

	type routeJSON struct {
		Path         string `json:"path"`
		PayTo        string `json:"pay_to"`
		PayToDefault bool   `json:"pay_to_default"`
	}
	readRoutes := func(r resp) []routeJSON {
		t.Helper()
		var out []routeJSON
		if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &out) != nil {
			t.Fatalf("routes: %d %s", r.Status, r.Body)
		}
		return out
	}
	edgePayTo := func() map[string]string {
		t.Helper()
		ep.settle(t, *user.TenantID, "payout-app")
		raw, err := ep.CF.GetKV(ctx, ep.KVID, models.ConfigKey("payout-app"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Routes []struct {
				Path         string
				Requirements struct{ PayTo string }
			}
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range doc.Routes {
			out[r.Path] = r.Requirements.PayTo
		}
		return out
	}
	check := func(when, wantFollow string) {
		t.Helper()
		rs := readRoutes(ep.api(t, "GET", "/api/v1/apps/payout-app/routes", tok, "", ""))
		if len(rs) != 2 || rs[0].PayTo != wantFollow || !rs[0].PayToDefault || rs[1].PayTo != walletC || rs[1].PayToDefault {
			t.Fatalf("%s: routes %+v, want /paid → %s (default) and /own → %s", when, rs, wantFollow, walletC)
		}
		if got := edgePayTo(); got["/paid"] != wantFollow || got["/own"] != walletC {
			t.Fatalf("%s: the edge pays %v, want /paid → %s and /own → %s", when, got, wantFollow, walletC)
		}
	}
	readRoutes(putRoutes("[" + follow + "," + own + "]"))
	check("after the routes were saved", walletA)

	// Another tenant's wallet changes nothing here.
	apiTenant(t, ep.portal, "other-payout@example.com", "Other")
	ob := ep.browser(t)
	ob.login("other-payout@example.com", goodPassword)
	if r := ob.post("/settings/wallets", form("eip155:84532", walletB, goodPassword)); r.Status != http.StatusSeeOther {
		t.Fatalf("other tenant's wallet: %d", r.Status)
	}
	check("after another tenant set its wallet", walletA)

	// Changing the wallet moves the route that follows it, at the edge too; a wrong password
	// changes nothing.
	if r := b.post("/settings/wallets", form("eip155:84532", walletB, "wrong password here")); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("change with a wrong password: %d", r.Status)
	}
	check("after a refused change", walletA)
	r := b.post("/settings/wallets", form("eip155:84532", walletB, goodPassword))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("change wallet: %d %.300s", r.Status, r.Body)
	}
	if page := b.get("/settings").Body; !strings.Contains(page, "1 route(s) in 1 app(s) are now paid to it") {
		t.Fatalf("the flash does not say which routes moved: %.2000s", page)
	}
	check("after the change", walletB)
	if es := audits("payout_wallet_changed"); len(es) != 3 || !strings.Contains(es[2].Detail, walletA+" → "+walletB) || !strings.Contains(es[2].Detail, "1 route(s) in 1 app(s)") {
		t.Fatalf("audit of the change %+v", es)
	}

	// Round trip: the API's own answer PUT back keeps the route following the default.
	var raw []map[string]any
	json.Unmarshal([]byte(ep.api(t, "GET", "/api/v1/apps/payout-app/routes", tok, "", "").Body), &raw)
	for _, r := range raw {
		delete(r, "id")
		for _, k := range []string{"amount", "network_name", "asset", "eip712_name", "eip712_version", "warning"} {
			delete(r, k)
		}
	}
	body, _ := json.Marshal(raw)
	readRoutes(putRoutes(string(body)))
	if r := b.post("/settings/wallets", form("eip155:84532", walletA, goodPassword)); r.Status != http.StatusSeeOther {
		t.Fatalf("change back: %d", r.Status)
	}
	check("after a round trip and a change back", walletA)
}

// TestRouteRefusalTime: an optimistic route's own refusal time is set in the route form or the
// API, validated, shown back, and written to the edge's config document as refuse_s; a route
// without one carries none (the edge's CLAW_OPTIMISTIC_REFUSE applies).
func TestRouteRefusalTime(t *testing.T) {
	ep := startEdgePortal(t)
	ctx := context.Background()
	tok := apiTenant(t, ep.portal, "refuse@example.com", "Refuse")
	if r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"refuse-app","name":"R"}`); r.Status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	user := mustUser(t, ep.portal, "refuse@example.com")
	put := func(body string) resp {
		return ep.api(t, "PUT", "/api/v1/apps/refuse-app/routes", tok, "application/json", body)
	}
	route := func(settle, refuse string) string {
		r := `{"method":"GET","path":"/cheap","access":"x402","price":"$0.001","pay_to":"` + walletA + `","settle":"` + settle + `"`
		if refuse != "" {
			r += `,"refuse_seconds":` + refuse
		}
		return r + `}`
	}
	for _, tc := range []struct{ name, body, field string }{
		{"negative", "[" + route("optimistic", "-5") + "]", "[0].refuse_seconds"},
		{"over 30 days", "[" + route("optimistic", "2592001") + "]", "[0].refuse_seconds"},
		{"on an after route", `[{"path":"/free"},` + route("after", "60") + "]", "[1].refuse_seconds"},
	} {
		if r := put(tc.body); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s, want 422 naming %s", tc.name, r.Status, r.Body, tc.field)
		}
	}
	if r := put(`[` + route("optimistic", `"soon"`) + `]`); r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
		t.Errorf("a string refusal time: %d %s", r.Status, r.Body)
	}
	edgeRefuse := func() []any {
		t.Helper()
		ep.settle(t, *user.TenantID, "refuse-app")
		raw, err := ep.CF.GetKV(ctx, ep.KVID, models.ConfigKey("refuse-app"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Routes []map[string]any }
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		var out []any
		for _, r := range doc.Routes {
			out = append(out, r["refuse_s"])
		}
		return out
	}
	r := put(`[` + route("optimistic", "120") + `,{"method":"GET","path":"/other","access":"x402","price":"$0.001","pay_to":"` + walletA + `","settle":"optimistic"}]`)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"refuse_seconds":120`) || strings.Count(r.Body, "refuse_seconds") != 1 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	if got := edgeRefuse(); len(got) != 2 || got[0] != float64(120) || got[1] != nil {
		t.Fatalf("edge refuse_s %v, want [120 <none>]", got)
	}

	// The route form shows it, takes a duration and the table says it.
	b := ep.browser(t)
	b.login("refuse@example.com", goodPassword)
	rs, err := ep.Store.Routes(ctx, appID(t, ep, *user.TenantID, "refuse-app"))
	if err != nil || len(rs) != 2 {
		t.Fatalf("routes %v %v", rs, err)
	}
	page := b.get("/apps/refuse-app/routes?edit=" + itoa(rs[0].ID)).doc(t)
	if v := page.Find(`[name=refuse_seconds]`).FilterFunction(func(_ int, s *goquery.Selection) bool { return s.AttrOr("value", "") == "120" }).Length(); v != 1 {
		t.Fatalf("the edit form does not show the refusal time")
	}
	form := url.Values{"method": {"GET"}, "path": {"/cheap"}, "access": {"x402"}, "price": {"$0.001"}, "network": {"eip155:84532"},
		"pay_to": {walletA}, "settle": {"optimistic"}, "refuse_seconds": {"15m"}}
	if r := b.post("/apps/refuse-app/routes/"+itoa(rs[0].ID), form); r.Status != http.StatusSeeOther {
		t.Fatalf("form save: %d %.300s", r.Status, r.Body)
	}
	if got := edgeRefuse(); got[0] != float64(900) {
		t.Fatalf("edge refuse_s after the form %v, want 900", got)
	}
	if txt := b.get("/apps/refuse-app/routes").doc(t).Find("table").Text(); !strings.Contains(txt, "refuses for 15 min") {
		t.Fatalf("the table does not say the refusal time: %s", txt)
	}
}

func appID(t *testing.T, ep *edgePortal, tenantID uint, slug string) uint {
	t.Helper()
	a, err := ep.Store.AppBySlug(context.Background(), tenantID, slug)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}
