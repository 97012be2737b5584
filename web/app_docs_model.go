package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
)

// The docs page and llms.txt of a listed app are built here from its routes (views renders
// what this gives it).

// newAppDocs prepares the docs of app a, served at baseURL, from its routes in matching order.
func newAppDocs(a models.App, routes []models.Route, baseURL string) views.AppDocs {
	d := views.AppDocs{Name: a.Name, Slug: a.Slug, Description: a.Description, IconURL: a.IconURL, Tags: a.TagList(),
		BaseURL: strings.TrimRight(baseURL, "/"), ReportURL: "/report?app=" + url.QueryEscape(a.Slug)}
	for _, r := range routes {
		d.Routes = append(d.Routes, docsRoute(r, d.BaseURL))
	}
	return d
}

func docsRoute(r models.Route, base string) views.DocsRoute {
	method := r.Method
	if method == "" {
		method = "GET"
	}
	dr := views.DocsRoute{Method: anyMethod(r.Method), Path: r.Path, Access: r.Access, Description: r.Description, MimeType: r.MimeType,
		InputExample: prettyJSONText(r.InputExample), InputSchema: prettyJSONText(r.InputSchema), OutputExample: prettyJSONText(r.OutputExample)}
	if r.Access == models.AccessX402 {
		dr.Price, dr.Network = priceLabel(r.Amount, r.Network), networkName(r.Network)
	}
	u := base + examplePath(r.Path)
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
	dr.Limits = limitLines(r)
	return dr
}

// limitLines says in words which per-caller limits apply to a route.
func limitLines(r models.Route) []string {
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

// examplePath turns a pattern into a path that matches it: a parameter becomes "1", a trailing
// wildcard nothing.
func examplePath(pattern string) string {
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

// anyMethod names a route's method as the docs show it ("" matches any).
func anyMethod(m string) string {
	if m == "" {
		return "any"
	}
	return m
}
