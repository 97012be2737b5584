// Package starters holds the code and settings a new app can start from ("New app" in the
// portal, the starter field of POST /api/v1/apps). Each starter works on its first deploy;
// tests deploy every one through the local edge and check the answer documented in Try.
package starters

import (
	"embed"
	"strings"

	"github.com/402claw/402claw/models"
)

//go:embed files/*.js
var files embed.FS

// Starter is a ready app: its code, routes, egress allowlist, vars and KV switch.
type Starter struct {
	Key         string
	Name        string
	Description string
	// Modules are the files by name; Main is the entry module.
	Modules map[string]string
	Main    string
	Routes  []models.RouteInput
	// NeedsPayTo: the routes are paid; pay_to comes from the tenant.
	NeedsPayTo bool
	Egress     []string
	Vars       []Var
	KV         bool
	// Try is what to call first and what it answers, for the page and the README.
	Try string
}

// Var is one of the app's environment variables.
type Var struct {
	Name, Value string
	Secret      bool
}

func source(name string) string {
	b, err := files.ReadFile("files/" + name)
	if err != nil {
		panic("starters: missing " + name)
	}
	return string(b)
}

// PaidPrice is what the paid starter's priced route costs.
const PaidPrice = "$0.001"

var all = []Starter{
	{
		Key: "json-api", Name: "JSON API", Description: "A few public JSON endpoints: hello, an item by id, an echo.",
		Modules: map[string]string{"index.js": source("json-api.js")}, Main: "index.js",
		Routes: []models.RouteInput{
			{Method: "GET", Path: "/", Access: models.AccessPublic, Description: "Says hello"},
			{Method: "GET", Path: "/items/:id", Access: models.AccessPublic, Description: "One item by id"},
			{Method: "POST", Path: "/echo", Access: models.AccessPublic, Description: "Returns the JSON body it got"},
		},
		Try: `GET /items/1 answers {"id":1,"name":"Teapot","price":12}`,
	},
	{
		Key: "paid-api", Name: "Paid API", Description: "One route priced at " + PaidPrice + " in USDC (x402), paid to your wallet; the rest free.",
		Modules: map[string]string{"index.js": source("paid-api.js")}, Main: "index.js",
		Routes: []models.RouteInput{
			{Method: "GET", Path: "/quote", Access: models.AccessX402, Price: PaidPrice, Description: "A random programming quote"},
			{Method: "GET", Path: "/", Access: models.AccessPublic, Description: "What is for sale"},
		},
		NeedsPayTo: true,
		Try:        `GET /quote answers 402 with the price; paid, {"quote":"…","paid":true}`,
	},
	{
		Key: "proxy", Name: "Proxy to an upstream API", Description: "Forwards GET /proxy/<path> to an allowlisted upstream with a secret Authorization header.",
		Modules: map[string]string{"index.js": source("proxy.js")}, Main: "index.js",
		Routes: []models.RouteInput{{Method: "GET", Path: "/proxy/*", Access: models.AccessPublic, Description: "Fetches the path from the upstream"}},
		Egress: []string{"httpbin.org"},
		Vars: []Var{
			{Name: "UPSTREAM_URL", Value: "https://httpbin.org"},
			{Name: "UPSTREAM_TOKEN", Value: "replace-me", Secret: true},
		},
		Try: `GET /proxy/json answers the upstream's /json (httpbin.org's sample slideshow)`,
	},
	{
		Key: "kv-counter", Name: "KV counter", Description: "A counter in the app's KV store: POST /hit adds one, GET / reads it.",
		Modules: map[string]string{"index.js": source("kv-counter.js")}, Main: "index.js",
		Routes: []models.RouteInput{
			{Method: "GET", Path: "/", Access: models.AccessPublic, Description: "Reads the counter"},
			{Method: "POST", Path: "/hit", Access: models.AccessPublic, Description: "Adds one"},
		},
		KV:  true,
		Try: `POST /hit answers {"count":1}, then GET / answers {"count":1}`,
	},
}

// All lists the starters in the order the portal offers them.
func All() []Starter { return all }

// Keys names every starter, for messages and the OpenAPI document.
func Keys() []string {
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.Key
	}
	return out
}

// ByKey finds a starter; "" and unknown keys are not found.
func ByKey(key string) (Starter, bool) {
	for _, s := range all {
		if s.Key == strings.TrimSpace(key) {
			return s, true
		}
	}
	return Starter{}, false
}

// RoutesFor returns the starter's routes with payTo filled in on the paid ones.
func (s Starter) RoutesFor(payTo string) []models.RouteInput {
	out := make([]models.RouteInput, len(s.Routes))
	for i, r := range s.Routes {
		if r.Access == models.AccessX402 {
			r.PayTo = payTo
		}
		out[i] = r
	}
	return out
}
