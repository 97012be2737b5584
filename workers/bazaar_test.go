package workers

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

const testPayTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

func discoveryRoute(t *testing.T, method, path string, d models.DiscoveryInput) models.Route {
	t.Helper()
	r, err := models.ValidateRoute(models.RouteInput{Method: method, Path: path, Access: models.AccessX402, Price: "$0.01", PayTo: testPayTo, Description: "Forecast", MimeType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	if r.RouteDiscovery, err = models.ValidateDiscovery(r.Method, d); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBazaarExtensionOfficialHelpers builds the config of listed routes, renders their 402 with
// the dispatcher's JavaScript and checks that the official @x402/extensions helpers accept it.
func TestBazaarExtensionOfficialHelpers(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node is not installed")
	}
	if _, err := os.Stat("../node_modules/@x402/extensions/package.json"); err != nil {
		t.Skip("SKIPPED: node_modules/@x402/extensions is missing (run npm ci)")
	}
	app, v, plan := testApp()
	app.Name = "Weather Pro"
	app.AppListing = models.AppListing{Description: "Forecasts", Tags: "weather,maps", IconURL: "https://example.com/icon.png", Listed: true}
	get := discoveryRoute(t, "GET", "/forecast", models.DiscoveryInput{InputExample: `{"city":"Paris"}`,
		InputSchema: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`, OutputExample: `{"temp":12.5,"sky":"grey"}`})
	post := discoveryRoute(t, "POST", "/search", models.DiscoveryInput{InputExample: `{"q":"rain"}`, OutputExample: `[{"id":1}]`})
	bare := discoveryRoute(t, "", "/any/*", models.DiscoveryInput{})
	doc, err := BuildConfig(models.EdgeState{App: app, Plan: plan, Version: &v, Routes: []models.Route{get, post, bare}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ method, key, example string }{
		{"GET", "queryParams", `{"city":"Paris"}`},
		{"POST", "body", `{"q":"rain"}`},
		{"GET", "", ""},
	} {
		cr, _ := json.Marshal(doc.Routes[i])
		cmd := exec.Command(node, "testdata/bazaar_check.mjs")
		cmd.Stdin = bytes.NewReader(cr)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, stderr.String())
		}
		var got struct {
			SameInBody bool `json:"sameInBody"`
			Validation struct {
				Valid  bool     `json:"valid"`
				Errors []string `json:"errors"`
			} `json:"validation"`
			Extracted *struct {
				DiscoveryInfo struct {
					Input map[string]json.RawMessage `json:"input"`
				} `json:"discoveryInfo"`
				ResourceURL string `json:"resourceUrl"`
				Method      string `json:"method"`
			} `json:"extracted"`
			Metadata map[string]any `json:"metadata"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if !got.SameInBody || !got.Validation.Valid || got.Extracted == nil {
			t.Fatalf("route %d: official helpers refused the extension: %s", i, out)
		}
		if m := string(got.Extracted.DiscoveryInfo.Input["method"]); m != `"`+want.method+`"` {
			t.Errorf("route %d: method %s, want %s", i, m, want.method)
		}
		if want.key != "" && string(got.Extracted.DiscoveryInfo.Input[want.key]) != want.example {
			t.Errorf("route %d: %s = %s, want %s", i, want.key, got.Extracted.DiscoveryInfo.Input[want.key], want.example)
		}
		if got.Metadata["serviceName"] != "Weather Pro" || got.Metadata["iconUrl"] != "https://example.com/icon.png" || len(got.Metadata["tags"].([]any)) != 2 {
			t.Errorf("route %d: service metadata after the official sanitizer: %v", i, got.Metadata)
		}
	}

	// An unlisted app with no discovery data advertises nothing; a name the spec would drop is
	// left out instead of sent.
	app.Listed, app.Name = false, "Météo"
	doc, err = BuildConfig(models.EdgeState{App: app, Plan: plan, Version: &v, Routes: []models.Route{bare, get}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Routes[0].Extensions != nil || doc.Routes[0].Resource.ServiceName != "" {
		t.Errorf("unlisted bare route: extensions %s, serviceName %q", doc.Routes[0].Extensions, doc.Routes[0].Resource.ServiceName)
	}
	if !strings.Contains(string(doc.Routes[1].Extensions), `"bazaar"`) {
		t.Errorf("a route with discovery data lost it when unlisted: %s", doc.Routes[1].Extensions)
	}
}
