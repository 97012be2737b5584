package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
)

// AppDocs is the public docs page of a listed app (/a/<slug>): what a consumer or an agent needs
// to call it. The same data renders as the app's llms.txt.
type AppDocs struct {
	Name, Slug, Description, IconURL string
	Tags                             []string
	BaseURL                          string // the app's edge URL, no trailing slash
	ReportURL                        string
	Routes                           []DocsRoute
}

// DocsRoute is one route as the docs show it.
type DocsRoute struct {
	Method, Path, Access, Description, MimeType string
	Price, Network                              string // x402 routes only
	URL                                         string // an example URL that matches the route
	InputExample, InputSchema, OutputExample    string // pretty JSON, "" when unset
	Curl, Fetch                                 string // copyable snippets
	Limits                                      []string
}

// NewAppDocs prepares the docs of app a, served at baseURL, from its routes in matching order.
func NewAppDocs(a models.App, routes []models.Route, baseURL string) AppDocs {
	d := AppDocs{Name: a.Name, Slug: a.Slug, Description: a.Description, IconURL: a.IconURL, Tags: a.TagList(),
		BaseURL: strings.TrimRight(baseURL, "/"), ReportURL: "/report?app=" + url.QueryEscape(a.Slug)}
	for _, r := range routes {
		d.Routes = append(d.Routes, docsRoute(r, d.BaseURL))
	}
	return d
}

func docsRoute(r models.Route, base string) DocsRoute {
	method := r.Method
	if method == "" {
		method = "GET"
	}
	dr := DocsRoute{Method: methodLabel(r.Method), Path: r.Path, Access: r.Access, Description: r.Description, MimeType: r.MimeType,
		InputExample: prettyJSONText(r.InputExample), InputSchema: prettyJSONText(r.InputSchema), OutputExample: prettyJSONText(r.OutputExample)}
	if r.Access == models.AccessX402 {
		dr.Price, dr.Network = routePrice(r), networkName(r.Network)
	}
	u := base + ExamplePath(r.Path)
	body := models.BodyMethod(method)
	if !body && r.InputExample != "" {
		var q map[string]string
		if json.Unmarshal([]byte(r.InputExample), &q) == nil && len(q) > 0 {
			keys := make([]string, 0, len(q))
			for k := range q {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			v := url.Values{}
			for _, k := range keys {
				v.Set(k, q[k])
			}
			u += "?" + v.Encode()
		}
	}
	dr.URL = u
	ctype := "application/json"
	switch r.BodyType {
	case "text":
		ctype = "text/plain"
	case "form-data":
		ctype = "application/x-www-form-urlencoded"
	}
	var curl strings.Builder
	curl.WriteString("curl -i")
	if method != "GET" {
		curl.WriteString(" -X " + method)
	}
	if r.Access == models.AccessAPIKey {
		curl.WriteString(` -H "X-API-Key: $API_KEY"`)
	}
	if body {
		ex := r.InputExample
		if ex == "" {
			ex = "{}"
		}
		curl.WriteString(" -H 'Content-Type: " + ctype + "' --data " + shellQuote(ex))
	}
	curl.WriteString(" " + shellQuote(u))
	dr.Curl = curl.String()
	if r.Access == models.AccessX402 {
		init := fmt.Sprintf("{ method: %q }", method)
		if body {
			ex := r.InputExample
			if ex == "" {
				ex = "{}"
			}
			init = fmt.Sprintf("{\n  method: %q,\n  headers: { \"Content-Type\": %q },\n  body: %s,\n}", method, ctype, jsString(ex))
		}
		dr.Fetch = fmt.Sprintf(`import { wrapFetchWithPaymentFromConfig } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm";
import { privateKeyToAccount } from "viem/accounts";

const account = privateKeyToAccount(process.env.PRIVATE_KEY);
const fetchWithPayment = wrapFetchWithPaymentFromConfig(fetch, {
  schemes: [{ network: %q, client: new ExactEvmScheme(account) }],
});
const res = await fetchWithPayment(%q, %s);
console.log(res.status, await res.text());
`, r.Network, u, init)
	}
	dr.Limits = LimitLines(r)
	return dr
}

// LimitLines says in words which per-caller limits apply to a route.
func LimitLines(r models.Route) []string {
	l := r.RouteLimits
	who := "client IP"
	switch r.Access {
	case models.AccessX402:
		who = "payer"
	case models.AccessAPIKey:
		who = "API key"
	}
	var out []string
	if l.RatePerSecond > 0 {
		s := fmt.Sprintf("%d requests per second per %s", l.RatePerSecond, who)
		if l.Burst > 0 {
			s += fmt.Sprintf(" (bursts up to %d)", l.Burst)
		}
		out = append(out, s)
	}
	if l.RatePerMinute > 0 {
		out = append(out, fmt.Sprintf("%d requests per minute per %s", l.RatePerMinute, who))
	}
	if l.DailyQuota > 0 {
		out = append(out, fmt.Sprintf("%d requests per API key per UTC day", l.DailyQuota))
	}
	if l.MonthlyQuota > 0 {
		out = append(out, fmt.Sprintf("%d requests per API key per calendar month (UTC)", l.MonthlyQuota))
	}
	if l.DailySpendCap != "" {
		dec := 6
		if n, ok := x402.NetworkByCAIP2(r.Network); ok {
			dec = n.Decimals
		}
		out = append(out, fmt.Sprintf("at most %s USDC spent per payer per UTC day", x402.FormatAmount(l.DailySpendCap, dec)))
	}
	if l.ChallengesPerMinute > 0 {
		out = append(out, fmt.Sprintf("%d unpaid 402 challenges per client IP per minute", l.ChallengesPerMinute))
	}
	return out
}

// ExamplePath turns a pattern into a path that matches it: a parameter becomes "1", a trailing
// wildcard nothing.
func ExamplePath(pattern string) string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		switch {
		case seg == "" || seg == "*":
			continue
		case strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]"):
			out = append(out, "1")
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

func prettyJSONText(s string) string {
	if s == "" {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// jsString writes s as a JavaScript string literal (JSON's escaping is valid JavaScript).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// LLMsText renders the docs as llms.txt (llmstxt.org: a Markdown file for language models).
func (d AppDocs) LLMsText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", oneLine(d.Name))
	if d.Description != "" {
		fmt.Fprintf(&b, "> %s\n\n", oneLine(d.Description))
	}
	fmt.Fprintf(&b, "Base URL: %s\n", d.BaseURL)
	if len(d.Tags) > 0 {
		fmt.Fprintf(&b, "Tags: %s\n", strings.Join(d.Tags, ", "))
	}
	b.WriteString("\nPaid routes (access x402) answer 402 Payment Required with an x402 v2 challenge in the PAYMENT-REQUIRED header; pay it in USDC with an x402 client such as @x402/fetch and retry with PAYMENT-SIGNATURE. API-key routes take the key in X-API-Key or Authorization: Bearer. A limited caller gets 429 with Retry-After.\n\n## Routes\n")
	for _, r := range d.Routes {
		fmt.Fprintf(&b, "\n### %s %s\n\n- Access: %s\n", r.Method, r.Path, r.Access)
		if r.Price != "" {
			fmt.Fprintf(&b, "- Price: %s per call on %s\n", r.Price, r.Network)
		}
		if r.Description != "" {
			fmt.Fprintf(&b, "- Description: %s\n", oneLine(r.Description))
		}
		if r.MimeType != "" {
			fmt.Fprintf(&b, "- Answers: %s\n", r.MimeType)
		}
		for _, l := range r.Limits {
			fmt.Fprintf(&b, "- Limit: %s\n", l)
		}
		fmt.Fprintf(&b, "- Example: `%s`\n", r.Curl)
		for _, x := range []struct{ title, body string }{{"Example request", r.InputExample}, {"Input JSON Schema", r.InputSchema}, {"Example response", r.OutputExample}} {
			if x.body != "" {
				fmt.Fprintf(&b, "\n%s:\n\n```json\n%s\n```\n", x.title, x.body)
			}
		}
	}
	return b.String()
}

// PlatformLLMsText renders the platform-wide llms.txt: the listed apps with their docs links.
func PlatformLLMsText(portalURL string, apps []models.App) string {
	var b strings.Builder
	b.WriteString("# 402claw\n\n> Paid HTTP APIs, charged per call in USDC with x402. Each app below has its own llms.txt with its routes, prices and examples.\n\n")
	b.WriteString("Catalog in the x402 bazaar format: " + portalURL + "/discovery/resources\n\n## Apps\n\n")
	for _, a := range apps {
		line := fmt.Sprintf("- [%s](%s/a/%s/llms.txt)", oneLine(a.Name), portalURL, a.Slug)
		if a.Description != "" {
			line += ": " + oneLine(a.Description)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// oneLine keeps tenant text on its line: a newline in a description must not start a Markdown
// heading of its own.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
