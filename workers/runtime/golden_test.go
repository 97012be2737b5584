package runtime

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestConfigDocGoldenServed serves the portal's golden config document
// (workers/testdata/config_doc.json, written from BuildConfig by
// TestConfigDocGolden) in workerd: every route answers as its access says, and
// a priced route's 402 page names the network and the price the portal shows.
func TestConfigDocGoldenServed(t *testing.T) {
	e := edge(t)
	raw, err := os.ReadFile("../testdata/config_doc.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Key      string          `json:"key"`
		APIKey   string          `json:"api_key"`
		Document json.RawMessage `json:"document"`
		Routes   []struct {
			Method, Path, Access string
			NetworkName          string `json:"network_name"`
			Price                string `json:"price"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Slug, Script, Etag string }
	if err := json.Unmarshal(golden.Document, &doc); err != nil {
		t.Fatal(err)
	}
	e.edge.putScript(testNS, doc.Script, echoWorker, nil)
	e.edge.putKV(testConfigNS, golden.Key, golden.Document)
	paid := 0
	for _, r := range golden.Routes {
		path := "/" + doc.Slug + r.Path
		switch r.Access {
		case "public":
			if got := e.do(t, r.Method, "", path, nil); got.status != 200 || !strings.Contains(got.body, `"path":"`+r.Path+`"`) {
				t.Errorf("%s %s: %d %.200s", r.Method, path, got.status, got.body)
			}
		case "api_key":
			if got := e.do(t, r.Method, "", path, nil); got.status != 401 {
				t.Errorf("%s %s without a key: %d %.200s", r.Method, path, got.status, got.body)
			}
			if got := e.do(t, r.Method, "", path, map[string]string{"X-API-Key": golden.APIKey}); got.status != 200 {
				t.Errorf("%s %s with the live key: %d %.200s", r.Method, path, got.status, got.body)
			}
		case "x402":
			paid++
			got := e.do(t, r.Method, "", path, map[string]string{"Accept": "text/html"})
			if got.status != 402 || got.header.Get("Payment-Required") == "" {
				t.Fatalf("%s %s: %d %.200s", r.Method, path, got.status, got.body)
			}
			for _, want := range []string{"<strong>" + r.Price + " USDC</strong>", "<strong>" + r.NetworkName + "</strong>"} {
				if !strings.Contains(got.body, want) {
					t.Errorf("%s %s: the 402 page lacks %q:\n%s", r.Method, path, want, got.body)
				}
			}
		default:
			t.Errorf("route %s %s: access %q", r.Method, r.Path, r.Access)
		}
	}
	if paid < 2 {
		t.Fatalf("%d priced routes in the golden document", paid)
	}
}
