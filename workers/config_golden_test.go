package workers

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite testdata/config_doc.json")

// ConfigDocGoldenPath is the config document shared with the dispatcher's node tests
// (workers/dispatcher/config_doc.test.js) and the runtime's (workers/runtime): written here
// from BuildConfig, read there by the code that serves it.
const configDocGoldenPath = "testdata/config_doc.json"

// goldenKey is the API key of the golden app's one live consumer key; the JS tests present it.
const goldenKey = "ck_golden_0123456789abcdef"

// goldenState is an app with one route of each kind: public, api_key, and x402 on every
// network of the table, with settlement modes, limits, a revoked and a live key, egress and KV.
func goldenState() models.EdgeState {
	app := models.App{ID: 7, TenantID: 3, Slug: "golden", ScriptName: models.ScriptName("golden"), Status: models.AppActive,
		KVEnabled: true, KVNamespaceID: "kv-golden"}
	app.Listed, app.Description = true, "A golden app"
	st := models.EdgeState{
		App: app, Tenant: models.Tenant{ID: 3, Status: models.TenantActive},
		Plan:    models.Plan{Key: "pro", CPUMs: 50, SubRequests: 50},
		Version: &models.Version{ID: 9, SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		Egress:  []models.EgressRule{{Pattern: "api.example.com"}},
	}
	revoked := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st.Keys = []models.APIKey{{Hash: models.HashSecret(goldenKey)}, {Hash: models.HashSecret("ck_revoked"), RevokedAt: &revoked}}
	st.Routes = []models.Route{
		{Method: "GET", Path: "/free", Access: models.AccessPublic},
		{Method: "GET", Path: "/keyed/:id", Access: models.AccessAPIKey, RouteLimits: models.RouteLimits{DailyQuota: 100}},
	}
	amounts := []string{"10000", "1500000", "1", "123456789"}
	settles := []string{models.SettleAfter, models.SettleBefore, models.SettleOptimistic, models.SettleAfter}
	for i, n := range x402.Networks() {
		st.Routes = append(st.Routes, models.Route{Method: "POST", Path: fmt.Sprintf("/paid/%d/*", n.ChainID), Access: models.AccessX402,
			Network: n.CAIP2, Amount: amounts[i%len(amounts)], PayTo: "0x000000000000000000000000000000000000dEaD",
			Settle: settles[i%len(settles)], Description: "Paid on " + n.Name, MimeType: "application/json",
			RouteLimits: models.RouteLimits{RatePerMinute: 60, DailySpendCap: "5000000"}})
	}
	// An optimistic route with its own refusal time (the other optimistic routes follow the
	// edge's OPTIMISTIC_REFUSE_S).
	refuse := 90
	st.Routes = append(st.Routes, models.Route{Method: "GET", Path: "/cheap", Access: models.AccessX402, Network: x402.DefaultNetwork,
		Amount: "100", PayTo: "0x000000000000000000000000000000000000dEaD", PayToDefault: true, Settle: models.SettleOptimistic, RefuseSeconds: &refuse,
		RouteLimits: models.RouteLimits{RatePerSecond: 5}})
	return st
}

// goldenRoute is what the dispatcher must make of one route of the golden document, in the
// portal's own words: the network name and price the portal's pages show.
type goldenRoute struct {
	Method      string `json:"method"`
	Path        string `json:"path"` // a request path the route matches
	Access      string `json:"access"`
	NetworkName string `json:"network_name,omitempty"`
	Price       string `json:"price,omitempty"` // x402.FormatAmount of the amount at the asset's decimals
	Settle      string `json:"settle,omitempty"`
	RefuseS     *int   `json:"refuse_s,omitempty"` // an optimistic route's own refusal time
}

// TestConfigDocGolden keeps testdata/config_doc.json equal to what BuildConfig makes of
// goldenState, with the facts the portal shows for each route. The dispatcher's node tests and
// the runtime's workerd test read the same file, so a change of the document on one side fails
// until the other follows.
func TestConfigDocGolden(t *testing.T) {
	st := goldenState()
	doc, err := BuildConfig(st, 42)
	if err != nil {
		t.Fatal(err)
	}
	var routes []goldenRoute
	for _, r := range st.Routes {
		g := goldenRoute{Method: r.Method, Path: r.Path, Access: r.Access}
		switch {
		case r.Path == "/keyed/:id":
			g.Path = "/keyed/42"
		case r.Access == models.AccessX402:
			n, ok := x402.NetworkByCAIP2(r.Network)
			if !ok {
				t.Fatalf("network %s", r.Network)
			}
			if r.Path != "/cheap" {
				g.Path = fmt.Sprintf("/paid/%d/item", n.ChainID)
			}
			g.NetworkName, g.Price, g.Settle, g.RefuseS = n.Name, x402.FormatAmount(r.Amount, n.Decimals), r.Settle, r.RefuseSeconds
		}
		routes = append(routes, g)
	}
	want, err := json.MarshalIndent(map[string]any{
		"about":    "Written by TestConfigDocGolden (workers/config_golden_test.go) from BuildConfig; read by workers/dispatcher/config_doc.test.js and workers/runtime. Do not edit: go test ./workers -run TestConfigDocGolden -update-config-doc",
		"key":      ConfigKey(st.App.Slug),
		"api_key":  goldenKey,
		"document": json.RawMessage(doc.Encode()),
		"routes":   routes,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateConfigDoc {
		if err := os.WriteFile(configDocGoldenPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(configDocGoldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale (go test ./workers -run TestConfigDocGolden -update-config-doc):\n got %s\nwant %s", configDocGoldenPath, got, want)
	}
	// Every priced route carries its display facts from the networks table.
	for _, r := range doc.Routes {
		if (r.Requirements == nil) != (r.Display == nil) {
			t.Errorf("route %s %s: requirements %v, display %v", r.Method, r.Path, r.Requirements, r.Display)
		}
	}
}
